"""Segment a whole volume from a few annotated slices (3D U-Net's semi-automated setting) and the 2D
U-Net slice by slice beside it.

The recipe, as this module runs it on the brain volume of :mod:`cnnkit.data.brain`:

1. the annotated voxels get weight 1 and every other voxel weight 0 (:func:`cnnkit.data.brain.slice_weights`);
2. the network trains on random crops of the volume (``crop`` voxels a side, flipped left-right at
   random): one volume is a single example, and a "same"-padded network whose receptive field spans
   the whole volume would otherwise learn where each voxel sits rather than what it looks like;
3. the learning rate decays to zero along a cosine, so that batch normalization's moving statistics
   end up describing the final weights;
4. the same weights, in the same network built at the volume's size (a fully convolutional network
   takes any size: :func:`same_network_at`), segment the whole volume;
5. the score is the IoU per tissue on the voxels nobody annotated (:func:`score_unannotated`).

The 2D network trains on crops of the annotated slices themselves (all three orientations, every
voxel of them annotated) and segments the volume one axial slice (the last axis) at a time.
"""

from __future__ import annotations

from dataclasses import dataclass

import keras
import numpy as np
import pandas as pd

from cnnkit.backends import forward
from cnnkit.data.brain import SCORED, TISSUES, slice_weights
from cnnkit.segmentation import PixelCrossEntropy, mask_report


def random_crops(images, labels, weights, *, crop: int, batch_size: int, steps: int, seed: int):
    """A ``tf.data`` pipeline of ``steps`` batches of random ``crop``-sided crops (every spatial axis),
    each flipped along the first axis with probability 1/2: ``(images (batch, crop, ..., channels),
    labels (batch, crop, ...) int32, weights (batch, crop, ...) float32)``.

    ``images`` is a list of arrays ``(*spatial, channels)`` (one volume, or several slices of different
    sizes), ``labels`` and ``weights`` the matching ``spatial`` arrays; each crop comes from one of them
    chosen at random. Every spatial side must be at least ``crop``.
    """
    import tensorflow as tf

    for image in images:
        if min(image.shape[:-1]) < crop:
            raise ValueError(f"a crop of {crop} does not fit an array of spatial shape {image.shape[:-1]}.")
    ndim = images[0].ndim - 1
    channels = images[0].shape[-1]

    def batches():
        rng = np.random.default_rng(seed)
        for _ in range(steps):
            parts = ([], [], [])
            for _ in range(batch_size):
                which = int(rng.integers(len(images)))
                start = [int(rng.integers(0, size - crop + 1)) for size in labels[which].shape]
                window = tuple(slice(s, s + crop) for s in start)
                flip = slice(None, None, -1 if rng.random() < 0.5 else 1)
                for part, array in zip(parts, (images[which], labels[which], weights[which]), strict=True):
                    part.append(array[window][flip])
            yield tuple(np.stack(part) for part in parts)

    cube = (batch_size,) + (crop,) * ndim
    signature = (
        tf.TensorSpec(cube + (channels,), tf.float32),
        tf.TensorSpec(cube, tf.int32),
        tf.TensorSpec(cube, tf.float32),
    )
    data = tf.data.Dataset.from_generator(batches, output_signature=signature)
    return data.apply(tf.data.experimental.assert_cardinality(steps))  # so Keras knows an epoch's length


def cosine_adam(learning_rate: float, steps: int) -> keras.optimizers.Optimizer:
    """Adam whose learning rate falls from ``learning_rate`` to 0 along a cosine over ``steps`` steps."""
    return keras.optimizers.Adam(keras.optimizers.schedules.CosineDecay(learning_rate, decay_steps=steps))


def same_network_at(model: keras.Model, input_shape) -> keras.Model:
    """The functional ``model`` rebuilt for ``input_shape`` (without the batch axis) with the same
    weights: a fully convolutional network's weights do not depend on the size of its input."""
    config = model.get_config()
    for layer in config["layers"]:
        if layer["class_name"] == "InputLayer":
            layer["config"]["batch_shape"] = (None, *input_shape)
    resized = keras.Model.from_config(config)
    resized.set_weights(model.get_weights())
    return resized


def score_unannotated(labels, predicted, weights) -> tuple[pd.DataFrame, dict]:
    """Per-tissue IoU and Dice (:func:`cnnkit.segmentation.mask_report`) over the voxels of weight 0,
    and the summary with ``mean_iou`` over grey and white matter."""
    return mask_report(labels, predicted, TISSUES, weights=(np.asarray(weights) == 0), scored=SCORED)


@dataclass
class SliceRun:
    """One network trained from the annotated slices: its whole-volume ``prediction`` (x, y, z) uint8,
    the per-tissue ``scores`` and ``summary`` on the unannotated voxels, ``seconds`` of training."""

    name: str
    prediction: np.ndarray
    scores: pd.DataFrame
    summary: dict
    seconds: float
    parameters: int


def _fit(model, data, steps: int, learning_rate: float) -> float:
    import time

    from cnnkit.training import train

    started = time.perf_counter()
    train(
        model,
        data,
        epochs=1,
        optimizer=cosine_adam(learning_rate, steps),
        loss=PixelCrossEntropy(),
        metrics=[],
        verbose=0,
    )
    return time.perf_counter() - started


def train_3d_from_slices(
    model: keras.Model,
    volume: dict,
    slices,
    *,
    steps: int,
    crop: int = 24,
    batch_size: int = 2,
    learning_rate: float = 3e-3,
    seed: int = 0,
) -> SliceRun:
    """Train the 3D ``model`` (built for ``crop``-sided cubes) on the annotated ``slices`` of ``volume``
    (:func:`cnnkit.data.brain.brain_volume`) for ``steps`` steps, then segment the whole volume."""
    weights = slice_weights(volume["labels"].shape, slices)
    data = random_crops(
        [volume["image"]],
        [volume["labels"].astype("int32")],
        [weights],
        crop=crop,
        batch_size=batch_size,
        steps=steps,
        seed=seed,
    )
    seconds = _fit(model, data, steps, learning_rate)
    whole = same_network_at(model, volume["image"].shape)
    scores = forward(whole, volume["image"][None])[0]
    prediction = np.argmax(scores, axis=-1).astype("uint8")
    table, summary = score_unannotated(volume["labels"], prediction, weights)
    return SliceRun(model.name, prediction, table, summary, seconds, model.count_params())


def annotated_planes(volume: dict, slices) -> tuple[list, list]:
    """The annotated ``slices`` as 2D examples: images ``(a, b, 1)`` and labels ``(a, b)``, where ``(a, b)``
    are the volume's two other axes."""
    images = [np.take(volume["image"], index, axis=axis) for axis, index in slices]
    labels = [np.take(volume["labels"], index, axis=axis).astype("int32") for axis, index in slices]
    return images, labels


def train_2d_from_slices(
    model: keras.Model,
    volume: dict,
    slices,
    *,
    steps: int,
    crop: int = 24,
    batch_size: int = 8,
    learning_rate: float = 3e-3,
    seed: int = 0,
) -> SliceRun:
    """Train the 2D ``model`` (built for ``crop``-sided squares) on the annotated ``slices`` themselves,
    then segment ``volume`` one slice of its last axis at a time; scored on the same unannotated voxels."""
    images, labels = annotated_planes(volume, slices)
    data = random_crops(
        images,
        labels,
        [np.ones(m.shape, "float32") for m in labels],
        crop=crop,
        batch_size=batch_size,
        steps=steps,
        seed=seed,
    )
    seconds = _fit(model, data, steps, learning_rate)
    image = volume["image"]
    whole = same_network_at(model, image.shape[:2] + image.shape[3:])
    planes = np.moveaxis(image, 2, 0)  # (z, x, y, 1): one axial slice per example
    scores = np.concatenate([forward(whole, planes[i : i + 8]) for i in range(0, len(planes), 8)])
    prediction = np.moveaxis(np.argmax(scores, axis=-1), 0, 2).astype("uint8")
    weights = slice_weights(volume["labels"].shape, slices)
    table, summary = score_unannotated(volume["labels"], prediction, weights)
    return SliceRun(model.name, prediction, table, summary, seconds, model.count_params())
