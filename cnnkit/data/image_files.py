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

Every reader checks the sizes a file *declares* (IDX headers, ``.npy`` headers inside the
``.npz``, tar member sizes, pickled array shapes) against the format's expected sizes before
it allocates or decompresses more than that, so a small hostile file (a "decompression
bomb") is refused within a bounded amount of memory and time.
"""

from __future__ import annotations

import gzip
import math
import os
import pickle
import tarfile
import warnings
import zipfile
import zlib
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from cnnkit.data import safe_pickle
from cnnkit.data.registry import DATASETS
from cnnkit.errors import CorruptDatasetError, DatasetNotFoundError
from cnnkit.files import file_hash, offline

KERAS_MIRROR = "https://storage.googleapis.com/tensorflow/tf-keras-datasets/"

# What reading a damaged archive, gzip stream, zip file or pickle raises, and nothing else: a TypeError,
# KeyError or AttributeError is a fault in the code, which keeps its traceback (a damaged pickle is turned
# into UnpicklingError by cnnkit.data.safe_pickle; a batch's contents are checked one by one after it).
READ_ERRORS = (
    OSError,
    EOFError,
    ValueError,
    zipfile.BadZipFile,
    zlib.error,
    tarfile.TarError,
    pickle.UnpicklingError,
)

# The most images a file may declare: the dataset's own size (its record's max_images), and for
# CIFAR-10 one batch. Anything larger is refused before it is read.
CIFAR_BATCH_IMAGES = 10_000  # CIFAR-10 stores its images in batches of 10,000 (a format fact)
CIFAR10_MAX_MEMBER_BYTES = 32 << 20  # one pickled batch of 10,000 images is 31,035,704 bytes
CIFAR10_MAX_ARCHIVE_BYTES = 200 << 20  # the whole archive decompresses to 186 MB


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
    import keras  # only for downloads: reading files needs NumPy alone

    partial = path.with_name(f".{path.name}.part")
    try:
        keras.utils.get_file(
            fname=partial.name,
            origin=official.url,
            file_hash=official.digest or None,  # no published digest: the caller checks the content
            hash_algorithm=official.algorithm,
            cache_dir=str(path.parent),
            cache_subdir="",
        )
    except Exception as error:  # network errors come in many types; report them all alike
        raise DatasetNotFoundError(
            f"Could not download {official.url} ({error}). If this machine is offline, put "
            f"the official {path.name} into {path.parent} by hand."
        ) from error
    if official.digest and file_hash(partial, official.algorithm) != official.digest:
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


def check_labels(path: Path, y, num_classes: int, split: str) -> np.ndarray:
    """Labels as int64 after checking they are whole numbers in ``0..num_classes-1``."""
    y = np.asarray(y)
    if y.ndim != 1 or not (np.issubdtype(y.dtype, np.integer) or np.issubdtype(y.dtype, np.floating)):
        raise _corrupt(path, f"{split} labels are {y.dtype} {y.shape}, expected a 1-d array of class indices")
    if len(y) and np.issubdtype(y.dtype, np.floating) and not (np.isfinite(y).all() and (y == np.round(y)).all()):
        raise _corrupt(path, f"{split} labels are not whole numbers (a fractional label is not a class)")
    if len(y) and (y.min() < 0 or y.max() >= num_classes):
        raise _corrupt(path, f"{split} labels lie in {y.min():g}..{y.max():g}, expected 0..{num_classes - 1}")
    return y.astype("int64")


def check_images(path: Path, x, y, shape: tuple[int, ...], num_classes: int, split: str, labels_path=None):
    """Check image and label arrays read from ``path`` (labels from ``labels_path``, default
    the same file); returns the labels as int64. Raises CorruptDatasetError naming the file."""
    labels_path = labels_path or path
    if x.dtype != np.uint8 or x.ndim != len(shape) + 1 or x.shape[1:] != shape:
        raise _corrupt(path, f"{split} images are {x.dtype} {x.shape}, expected uint8 (n, *{shape})")
    if len(x) == 0:
        raise _corrupt(path, f"{split} holds no images")
    y = check_labels(labels_path, y, num_classes, split)
    if len(y) != len(x):
        raise _corrupt(labels_path, f"{split} has {len(x)} images but {len(y)} labels")
    return y


NPZ_ARRAYS = {  # name -> (shape after the first axis, most rows)
    "x_train": ((28, 28), DATASETS["mnist"].max_images),
    "y_train": ((), DATASETS["mnist"].max_images),
    "x_test": ((28, 28), DATASETS["mnist"].max_images),
    "y_test": ((), DATASETS["mnist"].max_images),
}


def _check_npz_headers(path: Path) -> None:
    """Read the ``.npy`` header of each array in an ``.npz`` and check the declared shape and
    dtype before NumPy allocates anything (a 1 KB file may declare 784 GB)."""
    with zipfile.ZipFile(path) as archive:
        names = set(archive.namelist())
        for key, (shape, most) in NPZ_ARRAYS.items():
            if f"{key}.npy" not in names:
                raise _corrupt(path, f"the archive lacks an array ({key})")
            with archive.open(f"{key}.npy") as member:
                version = np.lib.format.read_magic(member)
                read_header = {(1, 0): np.lib.format.read_array_header_1_0,
                               (2, 0): np.lib.format.read_array_header_2_0}.get(version)  # fmt: skip
                if read_header is None:
                    raise _corrupt(path, f"{key} is in .npy format version {version}, expected 1.0 or 2.0")
                declared, _, dtype = read_header(member)
            if dtype.hasobject or dtype.fields is not None or (key.startswith("x") and dtype != np.uint8):
                expected = "uint8 images" if key.startswith("x") else "numbers"
                raise _corrupt(path, f"{key} has dtype {dtype}, expected {expected}")
            if len(declared) != 1 + len(shape) or tuple(declared[1:]) != shape or declared[0] > most:
                raise _corrupt(
                    path, f"{key} declares shape {declared}, expected (n, *{shape}) with n <= {most:,}"
                )


def read_mnist_npz(path: Path):
    """Read Keras' ``mnist.npz`` (keys x_train, y_train, x_test, y_test; 28x28 uint8)."""
    try:
        with open(path, "rb") as stream:
            if stream.read(4) != b"PK\x03\x04":
                raise _corrupt(path, "it is not an .npz archive (a zip file of .npy arrays)")
        _check_npz_headers(path)
        # Opened here so that the file is closed even when NumPy fails on a damaged archive.
        with open(path, "rb") as stream, np.load(stream, allow_pickle=False) as archive:
            arrays = {key: archive[key] for key in NPZ_ARRAYS}
    except READ_ERRORS as error:
        if isinstance(error, CorruptDatasetError):
            raise
        raise _corrupt(path, f"it cannot be read as an .npz archive ({type(error).__name__}: {error})") from None
    x_train, x_test = arrays["x_train"][..., None], arrays["x_test"][..., None]
    y_train = check_images(path, x_train, arrays["y_train"], (28, 28, 1), 10, "train")
    y_test = check_images(path, x_test, arrays["y_test"], (28, 28, 1), 10, "test")
    return x_train, y_train, x_test, y_test


def read_idx_gz(path: Path, item_shape: tuple[int, ...] = (), max_items: int = DATASETS["mnist"].max_images) -> np.ndarray:
    """Read a gzip-compressed IDX file of unsigned bytes (the MNIST / Fashion-MNIST format).

    The header is ``0, 0, 0x08 (ubyte), ndim`` then ``ndim`` big-endian uint32 sizes. It is
    read first and must declare ``(n, *item_shape)`` with ``n <= max_items``; then exactly
    the declared bytes are decompressed (never more), and the file must end there.
    """
    try:
        with gzip.open(path, "rb") as stream:
            start = stream.read(4)
            if len(start) < 4 or start[:3] != b"\x00\x00\x08":
                raise _corrupt(path, "it does not start with an IDX header for unsigned bytes")
            ndim = start[3]
            sizes = stream.read(4 * ndim)
            if ndim == 0 or len(sizes) < 4 * ndim:
                raise _corrupt(path, "its IDX header is incomplete")
            dims = tuple(int.from_bytes(sizes[4 * i : 4 * i + 4], "big") for i in range(ndim))
            if dims[1:] != tuple(item_shape) or dims[0] > max_items:
                raise _corrupt(
                    path, f"its header declares shape {dims}, expected (n, *{tuple(item_shape)}) with "
                    f"n <= {max_items:,}"
                )
            expected = math.prod(dims)
            raw = stream.read(expected)
            extra = stream.read(1)
    except CorruptDatasetError:
        raise
    except READ_ERRORS as error:
        raise _corrupt(path, f"it cannot be decompressed ({error})") from None
    if len(raw) != expected or extra:
        found = f"{len(raw)}" if not extra else f"more than {expected}"
        raise _corrupt(path, f"it holds {found} data bytes but its header announces {expected}")
    return np.frombuffer(raw, dtype=np.uint8).reshape(dims)


def read_fashion_mnist(paths: dict[str, Path]):
    """Read the four Fashion-MNIST IDX files (keys x_train, y_train, x_test, y_test)."""
    most = DATASETS["fashion_mnist"].max_images
    arrays = {
        key: read_idx_gz(path, (28, 28) if key.startswith("x") else (), most) for key, path in paths.items()
    }
    x_train, x_test = arrays["x_train"][..., None], arrays["x_test"][..., None]
    y_train = check_images(paths["x_train"], x_train, arrays["y_train"], (28, 28, 1), 10, "train",
                           labels_path=paths["y_train"])  # fmt: skip
    y_test = check_images(paths["x_test"], x_test, arrays["y_test"], (28, 28, 1), 10, "test",
                          labels_path=paths["y_test"])  # fmt: skip
    return x_train, y_train, x_test, y_test


def _read_cifar_batch(raw: bytes, source: Path, member: str):
    most = CIFAR_BATCH_IMAGES
    try:
        batch = safe_pickle.load(raw, encoding="bytes", max_bytes=most * 3072 * 8 + (1 << 20))
    except READ_ERRORS as error:
        raise _corrupt(source, f"{member} cannot be read ({error})") from None
    if not isinstance(batch, dict) or b"data" not in batch or b"labels" not in batch:
        raise _corrupt(source, f"{member} is not a dict with b'data' and b'labels'")
    data, labels = batch[b"data"], batch[b"labels"]
    if not isinstance(data, np.ndarray) or data.ndim != 2 or data.shape[1] != 3 * 32 * 32 or len(data) > most:
        raise _corrupt(source, f"{member} does not hold at most {most:,} rows of 3x32x32 pixels")
    if not isinstance(labels, list | np.ndarray) or not all(
        isinstance(v, int | np.integer | float | np.floating) for v in labels
    ):
        raise _corrupt(source, f"{member}'s labels are not a list of class indices")
    images = data.reshape(-1, 3, 32, 32).transpose(0, 2, 3, 1)  # CHW rows -> NHWC
    labels = check_images(source, images, np.asarray(labels, dtype="float64"), (32, 32, 3), 10, member)
    return images, labels


class _CappedReader:
    """A read-only stream that fails once more than ``limit`` bytes have been read from it."""

    def __init__(self, stream, limit: int, path: Path):
        self.stream, self.left, self.path = stream, limit, path

    def read(self, size=-1):
        chunk = self.stream.read(self.left + 1 if size is None or size < 0 else min(size, self.left + 1))
        self.left -= len(chunk)
        if self.left < 0:
            raise _corrupt(self.path, "it decompresses to far more than the CIFAR-10 archive does")
        return chunk


def read_cifar10(path: Path):
    """Read CIFAR-10's Python version from the ``.tar.gz`` archive or its extracted folder.

    The batches are pickles; they are read with :mod:`cnnkit.data.safe_pickle`, straight
    from the archive in one streaming pass (nothing is extracted), with caps on each
    member's size and on the whole decompressed stream.
    """
    batches = {}
    if path.is_dir():
        for member in CIFAR10_BATCHES:
            file = path / member
            if not file.is_file():
                raise _corrupt(path, f"the batch file {member} is missing")
            if file.stat().st_size > CIFAR10_MAX_MEMBER_BYTES:
                raise _corrupt(path, f"{member} is larger than a CIFAR-10 batch can be")
            batches[member] = _read_cifar_batch(file.read_bytes(), path, member)
    else:
        wanted = {f"{CIFAR10_FOLDER}/{member}": member for member in CIFAR10_BATCHES}
        try:
            with gzip.open(path, "rb") as gz:
                capped = _CappedReader(gz, CIFAR10_MAX_ARCHIVE_BYTES, path)
                with tarfile.open(fileobj=capped, mode="r|") as archive:
                    for info in archive:
                        member = wanted.get(info.name)
                        if member is None:
                            continue
                        if not info.isfile():
                            raise _corrupt(path, f"{info.name} is not a regular file")
                        if info.size > CIFAR10_MAX_MEMBER_BYTES:
                            raise _corrupt(path, f"{info.name} declares {info.size:,} bytes, more than a batch")
                        batches[member] = _read_cifar_batch(archive.extractfile(info).read(), path, member)
        except CorruptDatasetError:
            raise
        except READ_ERRORS as error:
            raise _corrupt(path, f"the archive cannot be read ({error})") from None
        missing = [member for member in CIFAR10_BATCHES if member not in batches]
        if missing:
            raise _corrupt(path, f"the archive lacks {', '.join(missing)}")
    x_train = np.concatenate([batches[m][0] for m in CIFAR10_BATCHES[:-1]])
    y_train = np.concatenate([batches[m][1] for m in CIFAR10_BATCHES[:-1]])
    x_test, y_test = batches["test_batch"]
    return x_train, y_train, x_test, y_test
