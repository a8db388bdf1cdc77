"""A real brain volume offline: the MNI152 template (ICBM 2009a, symmetric) with its grey- and
white-matter probability maps, the three files that ship inside the nilearn wheel
(``nilearn/datasets/data/mni_icbm152_{t1,gm,wm}_tal_nlin_sym_09a_converted.nii.gz``; nilearn's
``load_mni152_*_template`` read them from the installed package, no download).

The label rule, stated once (:func:`tissue_labels`): a voxel takes the tissue of highest probability
among background (``1 - p_grey - p_white``: cerebrospinal fluid, skull and air), grey matter and
white matter. Class 0 is ``"background"``, 1 ``"grey matter"``, 2 ``"white matter"``.

3D U-Net's semi-automated setting (Cicek et al. 2016, section 3): a few orthogonal slices of the volume
are annotated, the network trains with weight 1 on the annotated voxels and weight 0 everywhere else,
and it segments the whole volume; the score is the IoU on the voxels nobody annotated
(:func:`annotated_slices`, :func:`slice_weights`, :func:`sparse_slice_data`).

Axes: nilearn's arrays are (x, y, z) = (left-right, posterior-anterior, inferior-superior), which is the
(height, width, depth) order the 3D U-Net's input takes; volumes here are float32 ``(x, y, z)``.
"""

from __future__ import annotations

import numpy as np

TISSUES = ("background", "grey matter", "white matter")
SCORED = (
    1,
    2,
)  # the headline mean IoU is over grey and white matter, as the issue and the paper score tissue


def mni152_volumes(resolution_mm: int = 2) -> dict[str, np.ndarray]:
    """The template's ``"t1"`` intensities (scaled to [0, 1]) and the ``"grey"`` and ``"white"`` matter
    probabilities, float32 (x, y, z) arrays at ``resolution_mm`` (1 or 2: nilearn's resolutions; 2 mm
    is 99 x 117 x 95 voxels)."""
    if resolution_mm not in (1, 2):
        raise ValueError(
            f"resolution_mm must be 1 or 2 (the resolutions nilearn ships), got {resolution_mm!r}."
        )
    try:
        from nilearn import datasets
    except ImportError as error:  # a dependency of cnnkit; say how to get it rather than fail deep inside
        raise ImportError("the MNI152 brain volume needs nilearn: pip install nilearn") from error
    t1 = datasets.load_mni152_template(resolution=resolution_mm).get_fdata(dtype="float32")
    grey = datasets.load_mni152_gm_template(resolution=resolution_mm).get_fdata(dtype="float32")
    white = datasets.load_mni152_wm_template(resolution=resolution_mm).get_fdata(dtype="float32")
    return {"t1": t1 / max(float(t1.max()), 1e-6), "grey": grey, "white": white}


def tissue_labels(grey, white) -> np.ndarray:
    """The label volume, uint8 (x, y, z): the argmax of (1 - grey - white, grey, white) per voxel."""
    grey, white = np.asarray(grey, "float32"), np.asarray(white, "float32")
    background = np.clip(1.0 - grey - white, 0.0, 1.0)
    return np.argmax(np.stack([background, grey, white], axis=-1), axis=-1).astype("uint8")


def block_mean(volume, factor: int) -> np.ndarray:
    """``volume`` (x, y, z) averaged over ``factor``^3 blocks (a coarser voxel; the last partial block
    on each axis is dropped): shape ``(x // factor, y // factor, z // factor)``."""
    volume = np.asarray(volume, "float32")
    x, y, z = (size // factor for size in volume.shape)
    blocks = volume[: x * factor, : y * factor, : z * factor].reshape(x, factor, y, factor, z, factor)
    return blocks.mean(axis=(1, 3, 5))


def brain_volume(voxel_mm: int = 4, multiple: int = 4) -> dict[str, np.ndarray]:
    """The template at ``voxel_mm`` (a multiple of 2: the 2 mm files averaged over blocks), cropped to
    the box around the brain (grey or white matter) plus one voxel, and zero-padded so that every side
    is a multiple of ``multiple`` (a "same"-padded U-Net pooling ``log2(multiple)`` times needs that).

    Returns ``"image"`` float32 (x, y, z, 1) in [0, 1] and ``"labels"`` uint8 (x, y, z) by
    :func:`tissue_labels` on the averaged probabilities (at 4 mm: 40 x 48 x 40 voxels).
    """
    if voxel_mm < 2 or voxel_mm % 2:
        raise ValueError(f"voxel_mm must be an even number of millimetres (2, 4, 6, ...), got {voxel_mm!r}.")
    volumes = {name: block_mean(v, voxel_mm // 2) for name, v in mni152_volumes(2).items()}
    labels = tissue_labels(volumes["grey"], volumes["white"])
    inside = np.argwhere(labels > 0)
    low, high = np.maximum(inside.min(axis=0) - 1, 0), inside.max(axis=0) + 2
    box = tuple(slice(a, b) for a, b in zip(low, high, strict=True))
    image, labels = volumes["t1"][box], labels[box]
    padding = [(0, -size % multiple) for size in labels.shape]
    return {"image": np.pad(image, padding)[..., None], "labels": np.pad(labels, padding)}


def annotated_slices(labels, per_axis: int = 2) -> list[tuple[int, int]]:
    """``per_axis`` slices on each of the three axes, as ``(axis, index)``, evenly inside the brain's
    extent on that axis (at 1/3 and 2/3 of it for two): the orthogonal slices an annotator draws."""
    labels = np.asarray(labels)
    chosen = []
    for axis in range(3):
        other = tuple(a for a in range(3) if a != axis)
        occupied = np.flatnonzero((labels > 0).any(axis=other))
        first, last = int(occupied[0]), int(occupied[-1])
        for k in range(1, per_axis + 1):
            chosen.append((axis, int(round(first + k * (last - first) / (per_axis + 1)))))
    return chosen


def slice_weights(shape, slices) -> np.ndarray:
    """float32 weights of ``shape`` (x, y, z): 1 on the voxels of the annotated ``slices`` (from
    :func:`annotated_slices`), 0 elsewhere; the per-voxel ``sample_weight`` of the weighted loss."""
    weights = np.zeros(shape, "float32")
    for axis, index in slices:
        if not 0 <= index < shape[axis]:
            raise ValueError(f"slice {index} on axis {axis} is outside a volume of shape {tuple(shape)}.")
        weights[(slice(None),) * axis + (index,)] = 1.0
    return weights


def sparse_slice_data(volume: dict, slices, steps: int):
    """The training pipeline of the semi-automated setting: the one volume, ``steps`` times per epoch,
    as ``(image (1, x, y, z, 1), labels (1, x, y, z), weights (1, x, y, z))`` batches with weight 0
    on every voxel outside ``slices``."""
    import tensorflow as tf

    weights = slice_weights(volume["labels"].shape, slices)
    example = (volume["image"][None], volume["labels"][None].astype("int32"), weights[None])
    return tf.data.Dataset.from_tensors(example).repeat(steps)
