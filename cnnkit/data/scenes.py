"""Digit scenes: canvases holding up to three real digits, labelled per pixel (M2NIST's idea, built
offline from the real MNIST digits of ``mnist_sample``).

Each scene is a 64x64 gray canvas with one to three digits pasted at seeded positions. A pixel
belongs to a digit where that digit's ink is at least half bright (128 of 255); its class is
``1 + digit`` (``"0"`` is class 1, ..., ``"9"`` class 10), everything else is class 0,
``"background"``. Digits never share an inked pixel, so every pixel has one true class; in about
half of the scenes with two or more digits the second is pasted right beside the first, one or two
pixels from it, so that touching digits are common (where U-Net's weight map matters).

The scenes of each split are made only from that split's digits (``mnist_sample``'s fixed 3,500 /
500 / 1,000), so no digit image is seen in training and again at test time. The generation is
deterministic: the same seed gives the same scenes on every machine.
"""

from __future__ import annotations

import numpy as np

from cnnkit.data.masks import unet_weight_map
from cnnkit.data.registry import SCENE_CLASSES

SIDE = 64
INK = 128  # a digit's pixel counts as the digit from this brightness (of 255)
SCENES = {"train": 3000, "validation": 300, "test": 600}


def _ink_columns(digit: np.ndarray) -> tuple[int, int]:
    columns = np.flatnonzero((digit >= INK).any(axis=0))
    return int(columns[0]), int(columns[-1])


def compose_scene(digits, labels, rng: np.random.Generator, side: int = SIDE, touching: bool = False):
    """One scene from ``digits`` (k, 28, 28) uint8 with their ``labels`` (k,): returns ``image``
    (side, side) uint8, ``classes`` (side, side) uint8 (0 background, 1 + digit) and ``objects``
    (side, side) uint8 (0 background, 1..k one id per pasted digit). Digits whose ink would overlap
    ink already on the canvas are placed elsewhere (up to 100 tries, then left out). With
    ``touching``, the second digit is first tried one or two pixels to the right of the first."""
    image = np.zeros((side, side), np.uint8)
    classes = np.zeros((side, side), np.uint8)
    objects = np.zeros((side, side), np.uint8)
    size = digits.shape[1]
    placed = []
    for index, (digit, label) in enumerate(zip(digits, labels, strict=True)):
        ink = digit >= INK
        candidates = []
        if touching and index == 1 and placed:
            top, left, previous = placed[0]
            gap = int(rng.integers(1, 3))
            start = left + _ink_columns(previous)[1] + 1 + gap - _ink_columns(digit)[0]
            candidates.append((int(np.clip(top + rng.integers(-3, 4), 0, side - size)), start))
        candidates += [(int(rng.integers(0, side - size + 1)), int(rng.integers(0, side - size + 1)))
                       for _ in range(100)]  # fmt: skip
        for top, left in candidates:
            if not 0 <= left <= side - size:
                continue
            window = (slice(top, top + size), slice(left, left + size))
            if (objects[window][ink] > 0).any():
                continue
            image[window] = np.maximum(image[window], digit)
            classes[window][ink] = 1 + int(label)
            objects[window][ink] = len(placed) + 1
            placed.append((top, left, digit))
            break
    return image, classes, objects


def make_scenes(digits, labels, count: int, seed: int, max_digits: int = 3, side: int = SIDE) -> dict:
    """``count`` scenes drawn from ``digits`` (n, 28, 28) uint8 and ``labels`` (n,): ``images``
    (count, side, side, 1) uint8, ``masks`` (count, side, side) uint8 of classes, ``objects`` (count,
    side, side) uint8 of digit ids, and ``sources`` (count, max_digits) int, the indices of the
    digits used (-1 where a scene has fewer)."""
    digits, labels = np.asarray(digits), np.asarray(labels)
    if digits.ndim == 4:
        digits = digits[..., 0]
    if len(digits) < max_digits:
        raise ValueError(f"{len(digits)} digits cannot fill scenes of up to {max_digits} digits.")
    rng = np.random.default_rng(seed)
    out = {"images": np.zeros((count, side, side, 1), np.uint8), "masks": np.zeros((count, side, side), np.uint8),
           "objects": np.zeros((count, side, side), np.uint8), "sources": np.full((count, max_digits), -1)}  # fmt: skip
    for n in range(count):
        chosen = rng.choice(len(digits), size=int(rng.integers(1, max_digits + 1)), replace=False)
        image, classes, objects = compose_scene(digits[chosen], labels[chosen], rng, side,
                                                touching=len(chosen) > 1 and rng.uniform() < 0.5)  # fmt: skip
        out["images"][n, ..., 0], out["masks"][n], out["objects"][n] = image, classes, objects
        placed = chosen[np.unique(objects[objects > 0]) - 1]  # a digit that found no room is not a source
        out["sources"][n, : len(placed)] = placed
    return out


def touching_pairs(objects, within: int = 2) -> int:
    """How many pairs of digits in one scene's ``objects`` (side, side) come within ``within``
    pixels of each other (Chebyshev distance between inked pixels)."""
    from scipy import ndimage

    ids = [i for i in np.unique(objects) if i]
    square = np.ones((3, 3), bool)  # one step in any of the eight directions: Chebyshev distance
    grown = {i: ndimage.binary_dilation(objects == i, structure=square, iterations=within) for i in ids}
    return sum(bool((grown[a] & (objects == b)).any()) for k, a in enumerate(ids) for b in ids[k + 1 :])


def mnist_scene_splits(seed: int = 0) -> dict[str, dict]:
    """The three splits of ``mnist_scenes`` (sizes :data:`SCENES`), each from its own split of
    ``mnist_sample``; per split the arrays of :func:`make_scenes`."""
    from cnnkit.data.images import load_arrays

    arrays = load_arrays("mnist_sample")
    return {split: make_scenes(arrays[f"x_{split}"], arrays[f"y_{split}"], count, seed=seed + offset)
            for offset, (split, count) in enumerate(SCENES.items())}  # fmt: skip


def load_scene_dataset(name: str, *, batch_size: int = 32, seed: int = 0, weight_map: bool = False, folder=None,
                       download: bool = True):  # fmt: skip
    """A segmentation set (``mnist_scenes``, ``oxford_iiit_pet``: the record's reader gives its splits)
    as train / validation / test pipelines of ``(images, masks)`` batches, or
    ``(images, masks, weights)`` with ``weight_map`` (U-Net's, :func:`scene_weight_maps`, which Keras
    takes as a per-pixel ``sample_weight``): images float32 in [0, 1], (batch, 64, 64, 1) for the scenes
    and (batch, 128, 128, 3) for the pets, masks int32 (batch, height, width), weights float32 (batch,
    height, width). ``seed`` shuffles the training split; ``folder`` and ``download`` are for a set
    downloaded once."""
    import importlib
    import inspect

    import tensorflow as tf

    from cnnkit.data.base import Dataset, DatasetInfo
    from cnnkit.data.registry import DATASETS

    spec = DATASETS[name]
    module, _, function = spec.reader.partition(":")
    reader = getattr(importlib.import_module(module), function)
    if "download" in inspect.signature(reader).parameters:  # a set downloaded once (oxford_iiit_pet)
        splits = reader(folder=folder, download=download)
    else:  # generated offline (mnist_scenes)
        splits = reader()
    if weight_map and "objects" not in splits["train"]:
        raise ValueError(f"weight_map needs each object's own label, which {name} does not have (mnist_scenes "
                         "has): load it without weight_map.")  # fmt: skip

    def pipeline(split):
        arrays = splits[split]
        parts = [arrays["images"].astype("float32") / 255.0, arrays["masks"].astype("int32")]
        if weight_map:
            parts.append(scene_weight_maps(arrays["masks"], arrays["objects"], len(spec.class_names)))
        data = tf.data.Dataset.from_tensor_slices(tuple(parts))
        if split == "train":
            data = data.shuffle(len(parts[0]), seed=seed, reshuffle_each_iteration=True)
        return data.batch(batch_size).prefetch(tf.data.AUTOTUNE)

    info = DatasetInfo(name=name, class_names=spec.class_names, input_shape=tuple(splits["train"]["images"].shape[1:]),
                       num_examples={split: len(splits[split]["images"]) for split in splits}, kind="images")  # fmt: skip
    return Dataset(train=pipeline("train"), validation=pipeline("validation"), test=pipeline("test"), info=info)


def scene_weight_maps(masks, objects, num_classes: int = len(SCENE_CLASSES)) -> np.ndarray:
    """U-Net's weight map (:func:`cnnkit.data.masks.unet_weight_map`) of every scene, float32."""
    return np.stack([unet_weight_map(m, o, num_classes) for m, o in zip(masks, objects, strict=True)])
