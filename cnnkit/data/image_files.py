"""Readers for the standard image dataset files, with checksums, downloads and clear errors.

Each ``read_*`` function returns ``(x_train, y_train, x_test, y_test)``: images as ``uint8``
arrays ``(n, height, width, channels)`` and labels as ``int64`` arrays ``(n,)``.

The files are the ones ``keras.datasets`` uses, so a file downloaded by Keras can be copied
into the data folder (see ``data/README.md``):

==============  ===============================================================
dataset         file(s) in the data folder
==============  ===============================================================
mnist           ``mnist.npz``
fashion_mnist   ``fashion_mnist/{train,t10k}-{images-idx3,labels-idx1}-ubyte.gz``
cifar10         ``cifar-10-python.tar.gz`` or the extracted ``cifar-10-batches-py/``
==============  ===============================================================

A missing file is downloaded only when the caller allows it (and ``$CNNKIT_OFFLINE`` is not
set); the download is checked against the official checksum before it is used. A file that
is truncated or not in the expected format raises :class:`CorruptDatasetError`; a readable
file whose checksum differs from the official one is used with a warning.
"""

from __future__ import annotations

import gzip
import os
import pickle
import tarfile
import warnings
import zipfile
import zlib
from dataclasses import dataclass
from pathlib import Path

import keras
import numpy as np

from cnnkit.data import safe_pickle
from cnnkit.errors import CorruptDatasetError, DatasetNotFoundError
from cnnkit.files import file_hash, offline

KERAS_MIRROR = "https://storage.googleapis.com/tensorflow/tf-keras-datasets/"

# Errors that reading a damaged archive, gzip stream, zip file or pickle can raise.
READ_ERRORS = (
    OSError,
    EOFError,
    ValueError,
    KeyError,
    zipfile.BadZipFile,
    zlib.error,
    tarfile.TarError,
    pickle.UnpicklingError,
)


@dataclass(frozen=True)
class OfficialFile:
    """A dataset file: where it lives in the data folder, where to get it, its checksum."""

    relative_path: str
    url: str
    algorithm: str  # "sha256" or "md5"
    digest: str


MNIST_FILE = OfficialFile(
    "mnist.npz",
    KERAS_MIRROR + "mnist.npz",
    "sha256",
    "731c5ac602752760c8e48fbffcf8c3b850d9dc2a2aedcf2cc48468fc17b673d1",
)
# MD5 sums published by Zalando Research with Fashion-MNIST.
FASHION_MNIST_FILES = {
    key: OfficialFile(f"fashion_mnist/{name}", KERAS_MIRROR + name, "md5", digest)
    for key, name, digest in [
        ("x_train", "train-images-idx3-ubyte.gz", "8d4fb7e6c68d591d4c3dfef9ec88bf0d"),
        ("y_train", "train-labels-idx1-ubyte.gz", "25c81989df183df01b3e8a0aad5dffbe"),
        ("x_test", "t10k-images-idx3-ubyte.gz", "bef4ecab320f06d8554ea6380940ec79"),
        ("y_test", "t10k-labels-idx1-ubyte.gz", "bb300cfdad3c16e7a12a480ee83cd310"),
    ]
}
CIFAR10_ARCHIVE = OfficialFile(
    "cifar-10-python.tar.gz",
    "https://www.cs.toronto.edu/~kriz/cifar-10-python.tar.gz",
    "sha256",
    "6d958be074577803d12ecdefd02955f39262c83c16fe9348329d7fe0b5c001ce",
)
CIFAR10_FOLDER = "cifar-10-batches-py"
CIFAR10_BATCHES = [f"data_batch_{i}" for i in range(1, 6)] + ["test_batch"]


def _corrupt(path: Path, problem: str) -> CorruptDatasetError:
    return CorruptDatasetError(
        f"{path} is unusable: {problem}. Delete it and download it again, or replace it with "
        "the official file (see data/README.md)."
    )


def locate(official: OfficialFile, folder: Path, download: bool) -> tuple[Path, bool]:
    """Return ``(path, downloaded)`` for ``official`` inside ``folder``, downloading if allowed.

    Raises :class:`DatasetNotFoundError` naming the file and the folder when it is missing
    and may not (or could not) be downloaded.
    """
    path = folder / official.relative_path
    if path.is_file():
        return path, False
    if not download or offline():
        reason = "downloads are disabled ($CNNKIT_OFFLINE)" if offline() else "download=False"
        raise DatasetNotFoundError(
            f"{path.name} was not found in {path.parent} and {reason}. Put the official file "
            f"there (from {official.url}) or allow the download; the data folder can be moved "
            "with $CNNKIT_DATA."
        )
    return _download(official, path), True


def _download(official: OfficialFile, path: Path) -> Path:
    """Download to a ``.part`` file, check the checksum, then rename it into place."""
    partial = path.with_name(f".{path.name}.part")
    try:
        keras.utils.get_file(
            fname=partial.name,
            origin=official.url,
            file_hash=official.digest,
            hash_algorithm=official.algorithm,
            cache_dir=str(path.parent),
            cache_subdir="",
        )
    except Exception as error:  # network errors come in many types; report them all alike
        raise DatasetNotFoundError(
            f"Could not download {official.url} ({error}). If this machine is offline, put "
            f"the official {path.name} into {path.parent} by hand."
        ) from error
    if file_hash(partial, official.algorithm) != official.digest:
        partial.unlink(missing_ok=True)
        raise CorruptDatasetError(f"The download of {official.url} failed its checksum; try again.")
    os.replace(partial, path)
    return path


def warn_if_unofficial(path: Path, official: OfficialFile) -> None:
    """Warn when a readable file is not byte-for-byte the official one."""
    if file_hash(path, official.algorithm) != official.digest:
        warnings.warn(
            f"{path} is readable but is not the official file (its {official.algorithm} "
            "differs); using it as it is.",
            stacklevel=3,
        )


def check_images(path: Path, x, y, shape: tuple[int, ...], num_classes: int, split: str) -> None:
    """Check image and label arrays read from ``path``; raise CorruptDatasetError if wrong."""
    if x.dtype != np.uint8 or x.ndim != len(shape) + 1 or x.shape[1:] != shape:
        raise _corrupt(path, f"{split} images are {x.dtype} {x.shape}, expected uint8 (n, *{shape})")
    if y.ndim != 1 or len(y) != len(x):
        raise _corrupt(path, f"{split} has {len(x)} images but labels of shape {y.shape}")
    if len(x) == 0:
        raise _corrupt(path, f"{split} holds no images")
    if y.min() < 0 or y.max() >= num_classes:
        raise _corrupt(path, f"{split} labels lie in {y.min()}..{y.max()}, expected 0..{num_classes - 1}")


def read_mnist_npz(path: Path):
    """Read Keras' ``mnist.npz`` (keys x_train, y_train, x_test, y_test; 28x28 uint8)."""
    try:
        # Opened here so that the file is closed even when NumPy fails on a damaged archive.
        with open(path, "rb") as stream, np.load(stream, allow_pickle=False) as archive:
            arrays = {key: archive[key] for key in ("x_train", "y_train", "x_test", "y_test")}
    except KeyError as error:
        raise _corrupt(path, f"the archive lacks an array ({error.args[0]})") from None
    except READ_ERRORS as error:
        raise _corrupt(path, f"it cannot be read as an .npz archive ({error})") from None
    x_train, x_test = arrays["x_train"][..., None], arrays["x_test"][..., None]
    y_train, y_test = arrays["y_train"].astype("int64"), arrays["y_test"].astype("int64")
    check_images(path, x_train, y_train, (28, 28, 1), 10, "train")
    check_images(path, x_test, y_test, (28, 28, 1), 10, "test")
    return x_train, y_train, x_test, y_test


def read_idx_gz(path: Path) -> np.ndarray:
    """Read a gzip-compressed IDX file of unsigned bytes (the MNIST / Fashion-MNIST format).

    The header is ``0, 0, 0x08 (ubyte), ndim`` then ``ndim`` big-endian uint32 sizes; the
    file must hold exactly as many bytes as the sizes say.
    """
    try:
        with gzip.open(path, "rb") as stream:
            raw = stream.read()
    except READ_ERRORS as error:
        raise _corrupt(path, f"it cannot be decompressed ({error})") from None
    if len(raw) < 4 or raw[0] != 0 or raw[1] != 0 or raw[2] != 0x08:
        raise _corrupt(path, "it does not start with an IDX header for unsigned bytes")
    ndim = raw[3]
    header = 4 + 4 * ndim
    if ndim == 0 or len(raw) < header:
        raise _corrupt(path, "its IDX header is incomplete")
    dims = tuple(int.from_bytes(raw[4 + 4 * i : 8 + 4 * i], "big") for i in range(ndim))
    expected = header + int(np.prod(dims))
    if len(raw) != expected:
        raise _corrupt(path, f"it holds {len(raw)} bytes but its header announces {expected}")
    return np.frombuffer(raw, dtype=np.uint8, offset=header).reshape(dims)


def read_fashion_mnist(paths: dict[str, Path]):
    """Read the four Fashion-MNIST IDX files (keys x_train, y_train, x_test, y_test)."""
    arrays = {key: read_idx_gz(path) for key, path in paths.items()}
    x_train, x_test = arrays["x_train"][..., None], arrays["x_test"][..., None]
    y_train, y_test = arrays["y_train"].astype("int64"), arrays["y_test"].astype("int64")
    check_images(paths["x_train"], x_train, y_train, (28, 28, 1), 10, "train")
    check_images(paths["x_test"], x_test, y_test, (28, 28, 1), 10, "test")
    return x_train, y_train, x_test, y_test


def _read_cifar_batch(raw: bytes, source: Path, member: str):
    try:
        batch = safe_pickle.load(raw, encoding="bytes")
        data, labels = batch[b"data"], np.asarray(batch[b"labels"], dtype="int64")
    except READ_ERRORS as error:
        raise _corrupt(source, f"{member} cannot be read ({error})") from None
    if not isinstance(data, np.ndarray) or data.ndim != 2 or data.shape[1] != 3 * 32 * 32:
        raise _corrupt(source, f"{member} does not hold rows of 3x32x32 pixels")
    images = data.reshape(-1, 3, 32, 32).transpose(0, 2, 3, 1)  # CHW rows -> NHWC
    check_images(source, images, labels, (32, 32, 3), 10, member)
    return images, labels


def read_cifar10(path: Path):
    """Read CIFAR-10's Python version from the ``.tar.gz`` archive or its extracted folder.

    The batches are pickles; they are read with :mod:`cnnkit.data.safe_pickle`, straight
    from the archive (nothing is extracted).
    """
    batches = {}
    if path.is_dir():
        for member in CIFAR10_BATCHES:
            if not (path / member).is_file():
                raise _corrupt(path, f"the batch file {member} is missing")
            batches[member] = _read_cifar_batch((path / member).read_bytes(), path, member)
    else:
        try:
            with tarfile.open(path, "r:gz") as archive:
                for member in CIFAR10_BATCHES:
                    stream = archive.extractfile(f"{CIFAR10_FOLDER}/{member}")
                    batches[member] = _read_cifar_batch(stream.read(), path, member)
        except CorruptDatasetError:
            raise
        except READ_ERRORS as error:
            raise _corrupt(path, f"the archive cannot be read ({error})") from None
    x_train = np.concatenate([batches[m][0] for m in CIFAR10_BATCHES[:-1]])
    y_train = np.concatenate([batches[m][1] for m in CIFAR10_BATCHES[:-1]])
    x_test, y_test = batches["test_batch"]
    return x_train, y_train, x_test, y_test
