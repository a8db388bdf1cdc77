"""The one front door: ``load_dataset(name_or_path)`` routes every dataset of
:mod:`cnnkit.data.registry` to its loader: the built-in image sets (:mod:`cnnkit.data.images`),
a folder of your own images (:mod:`cnnkit.data.folders`) and DEAP's EEG (:mod:`cnnkit.data.eeg`)."""

from __future__ import annotations

import importlib
from pathlib import Path

from cnnkit.data import eeg, folders, images, mask_folders, points, scenes
from cnnkit.data.base import Dataset
from cnnkit.data.registry import get_dataset


def _given(standardize: bool, **options) -> list[str]:
    """The names of the image options that were set (not ``None``), then ``standardize`` if it was:
    what a loader that takes none of them names in its refusal."""
    return [key for key, value in options.items() if value is not None] + ["standardize"] * bool(standardize)


def load_dataset(
    name: str = "mnist_sample",
    *,
    batch_size: int = 128,
    pad_to: int | None = None,
    resize_to=None,
    channels: int | None = None,
    standardize: bool = False,
    augment=None,
    seed: int = 0,
    download: bool = True,
    folder: str | Path | None = None,
    validation_fraction: float = 0.1,
    fractions=(0.7, 0.15, 0.15),
    exclude=(),
    kind: str = "de_grid",
    subjects: int = 32,
    weight_map: bool = False,
) -> Dataset:
    """Load any dataset cnnkit knows, by name or path, as train / validation / test ``tf.data`` pipelines.

    Args:
        name: ``"mnist_sample"`` (offline default: 5,000 real MNIST digits), ``"digits"``
            (offline), ``"mnist"``, ``"fashion_mnist"`` or ``"cifar10"``; or the path of a
            folder of your own images with one subfolder per class
            (:func:`cnnkit.data.folders.load_folder`: every file is checked first, the split is
            stratified by ``fractions`` and ``seed``, ``resize_to`` and ``channels`` apply).
        batch_size: images per batch.
        pad_to: zero-pad to a centered square of this size (LeNet-5 pads 28 to 32).
        resize_to: resize to ``int`` or ``(height, width)``, lazily per batch (AlexNet: 224).
        channels: 3 to repeat a grayscale image into RGB, 1 to convert RGB to gray.
        standardize: subtract the training set's per-channel mean and divide by its
            standard deviation (computed on the [0, 1] images; stored in ``info.standardize``).
        augment: a map function over ``(images, labels)`` batches applied to the training
            split only, e.g. :func:`cnnkit.data.augment.random_shift`; for a point set
            (``"mnist_points"``, ``"solids_synthetic"``, ``"modelnet10"``, ``"modelnet40"``:
            :mod:`cnnkit.data.points`) True applies the set's own augmentation.
        seed: the training pipeline's shuffle seed (the splits themselves are fixed).
        download: allow downloading a missing file; a clear error otherwise.
        folder: the data folder (default ``$CNNKIT_DATA`` or the checkout's ``data/``).
        validation_fraction: share of the official training set held out for validation.
        fractions: train / validation / test shares of an image folder.
        exclude: subfolders of an image folder that are not classes (a run folder inside it).
        kind, subjects: for ``"deap"`` and ``"deap_synthetic"``
            (:func:`cnnkit.data.eeg.load_eeg_dataset`): ``"de_grid"`` (9x9x4 differential-entropy
            grids) or ``"eeg_window"`` (raw windows), and how many subjects.
        weight_map: for a segmentation set (``"mnist_scenes"``, :mod:`cnnkit.data.scenes`), batches
            of ``(images, masks, weights)`` with U-Net's weight map as a per-pixel sample weight.

    ``"speech_synthetic"`` (SYNTHETIC two-speaker mixtures, :func:`cnnkit.data.speech.load_speech_dataset`)
    and ``"pydoc_punctuation"`` (a label per character, :func:`cnnkit.data.punctuation.load_punctuation_dataset`)
    take ``batch_size`` and ``seed`` only; ``"libri2mix"`` (:mod:`cnnkit.data.librimix`) and ``"ud_ewt_pos"``
    (:mod:`cnnkit.data.treebank`) take ``folder`` and ``download`` too.

    A folder holding ``images/`` and ``masks/`` is a segmentation set of your own
    (:func:`cnnkit.data.mask_folders.load_mask_folder`: every pair checked, ``resize_to``,
    ``channels``, ``fractions`` and ``seed`` apply).

    Example:
        >>> data = load_dataset("digits", pad_to=32)
        >>> data.info.input_shape
        (32, 32, 1)
    """
    spec = get_dataset(name)  # an unknown name fails here, with the known ones
    if spec.kind in ("waveforms", "characters"):
        given = _given(standardize, pad_to=pad_to, resize_to=resize_to, channels=channels, augment=augment)
        if given or weight_map:
            raise ValueError(f"{', '.join(given + ['weight_map'] * weight_map)} apply to images, not to the {spec.kind} "
                             f"of {name}: load it with batch_size and seed only.")  # fmt: skip
        module, _, function = spec.reader.partition(":")
        files = {"folder": folder, "download": download} if spec.downloads else {}
        return getattr(importlib.import_module(module), function)(name, batch_size=batch_size, seed=seed, **files)
    if spec.task == "segmentation":
        folder_options = {"resize_to": resize_to, "channels": channels} if spec.kind != "folder" else {}
        given = _given(standardize, pad_to=pad_to, augment=augment, **folder_options)
        if given:
            raise ValueError(f"{', '.join(given)} are not available for the masks of {name} yet: load it without them.")
        if spec.kind == "folder":
            if weight_map:
                raise ValueError("weight_map needs each object's own label (as mnist_scenes has); a mask folder holds "
                                 "classes only: load it without weight_map.")  # fmt: skip
            return mask_folders.load_mask_folder(name, image_size=resize_to, channels=channels, fractions=fractions,
                                                 batch_size=batch_size, seed=seed)  # fmt: skip
        return scenes.load_scene_dataset(name, batch_size=batch_size, seed=seed, weight_map=weight_map,
                                         folder=folder, download=download)  # fmt: skip
    if spec.kind == "points":
        given = _given(standardize, pad_to=pad_to, resize_to=resize_to, channels=channels)
        if given:
            raise ValueError(f"{', '.join(given)} apply to images, not to the point clouds of {name}.")
        if augment is not None and not isinstance(augment, bool):
            raise ValueError(f"augment for the point clouds of {name} is True (the dataset's own augmentation: "
                             "turns about the up axis, scaling, jitter) or False.")  # fmt: skip
        return points.load_point_dataset(name, batch_size=batch_size, augment=bool(augment), seed=seed,
                                         download=download, folder=folder, validation_fraction=validation_fraction)  # fmt: skip
    if spec.kind == "eeg":
        given = _given(standardize, pad_to=pad_to, resize_to=resize_to, channels=channels, augment=augment)
        if given:
            raise ValueError(f"{', '.join(given)} apply to images, not to the EEG of {name}.")
        return eeg.load_eeg_dataset(name, kind, subjects=subjects, batch_size=batch_size, seed=seed)
    if spec.kind == "folder":
        if pad_to is not None or standardize:
            raise ValueError("pad_to and standardize apply to the built-in datasets, not to an image folder.")
        return folders.load_folder(name, image_size=resize_to, channels=channels, fractions=fractions,
                                   batch_size=batch_size, seed=seed, augment=augment, exclude=exclude)  # fmt: skip
    return images.load_builtin(name, batch_size=batch_size, pad_to=pad_to, resize_to=resize_to, channels=channels,
                               standardize=standardize, augment=augment, seed=seed, download=download,
                               folder=folder, validation_fraction=validation_fraction)  # fmt: skip
