"""Writers for small dataset files in the exact formats of the official ones (for the tests)."""

import gzip
import io
import pickle
import tarfile

import numpy as np


def images_and_labels(n, shape, seed=0, classes=10):
    rng = np.random.default_rng(seed)
    return rng.integers(0, 256, size=(n, *shape), dtype=np.uint8), rng.integers(0, classes, size=n)


def write_mnist_npz(path, n_train=200, n_test=20):
    x_train, y_train = images_and_labels(n_train, (28, 28), 1)
    x_test, y_test = images_and_labels(n_test, (28, 28), 2)
    np.savez(
        path, x_train=x_train, y_train=y_train.astype("uint8"), x_test=x_test, y_test=y_test.astype("uint8")
    )
    return x_train, y_train, x_test, y_test


def idx_bytes(array):
    """An IDX file: 0, 0, 0x08 (unsigned byte), ndim, then big-endian sizes and the data."""
    header = bytes([0, 0, 0x08, array.ndim]) + b"".join(int(d).to_bytes(4, "big") for d in array.shape)
    return header + array.astype(np.uint8).tobytes()


def write_fashion_mnist(folder, n_train=200, n_test=20):
    folder.mkdir(parents=True, exist_ok=True)
    x_train, y_train = images_and_labels(n_train, (28, 28), 3)
    x_test, y_test = images_and_labels(n_test, (28, 28), 4)
    for name, array in [
        ("train-images-idx3-ubyte.gz", x_train),
        ("train-labels-idx1-ubyte.gz", y_train),
        ("t10k-images-idx3-ubyte.gz", x_test),
        ("t10k-labels-idx1-ubyte.gz", y_test),
    ]:
        (folder / name).write_bytes(gzip.compress(idx_bytes(array)))
    return x_train, y_train, x_test, y_test


def cifar_batch_bytes(images, labels):
    """One CIFAR-10 Python batch: a protocol-2 pickle of {b'data': (n, 3072) CHW rows, b'labels': [...]}."""
    rows = images.transpose(0, 3, 1, 2).reshape(len(images), -1)
    batch = {b"batch_label": b"testing batch", b"data": rows, b"labels": [int(v) for v in labels]}
    return pickle.dumps(batch, protocol=2)


def write_cifar10(path, per_batch=40, as_folder=False):
    """Write cifar-10-python.tar.gz (or the extracted folder); returns the arrays."""
    batches = {}
    for index, name in enumerate([f"data_batch_{i}" for i in range(1, 6)] + ["test_batch"]):
        images, labels = images_and_labels(per_batch, (32, 32, 3), 10 + index)
        batches[name] = (images, labels)
    if as_folder:
        path.mkdir(parents=True)
        for name, (images, labels) in batches.items():
            (path / name).write_bytes(cifar_batch_bytes(images, labels))
    else:
        with tarfile.open(path, "w:gz") as archive:
            for name, (images, labels) in batches.items():
                raw = cifar_batch_bytes(images, labels)
                info = tarfile.TarInfo(f"cifar-10-batches-py/{name}")
                info.size = len(raw)
                archive.addfile(info, io.BytesIO(raw))
    return batches


class RunsCode:
    """Pickling this object produces a pickle that calls os.system when loaded."""

    def __reduce__(self):
        import os

        return (os.system, ("echo pwned",))
