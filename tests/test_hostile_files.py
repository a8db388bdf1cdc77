"""Hostile dataset files: decompression and allocation bombs, and allowed-but-wrong pickle
content (issue 9, items 6-8). Each must end in the reader's own error naming the file, within
seconds and a bounded amount of memory.

The bombs are built on the fly (small on disk) and read in a child process that imports only
NumPy and the reader, so that its peak resident memory (``VmHWM``, which starts afresh at ``exec``; ``ru_maxrss``
would carry over the test process's own peak) measures the refusal.
"""

import gzip
import io
import json
import pickle
import re
import struct
import subprocess
import sys
import tarfile
import textwrap
import zipfile

import numpy as np
import pytest

from cnnkit.data import deap, deap_format, image_files, load_arrays, safe_pickle
from cnnkit.errors import CorruptDatasetError
from tests import dataset_files

PEAK_LIMIT_MB = 250  # NumPy and the reader take about 40 MB; the bombs asked for 3-784 GB

READ_IN_CHILD = textwrap.dedent(
    """
    import json, sys, time
    from pathlib import Path
    from cnnkit.data import deap, image_files
    from cnnkit.errors import CorruptDatasetError
    reader, path = sys.argv[1], Path(sys.argv[2])
    started = time.perf_counter()
    try:
        if reader == "fashion_mnist":
            folder = path
            image_files.read_fashion_mnist({k: folder / f.relative_path.split("/")[1]
                                            for k, f in image_files.FASHION_MNIST_FILES.items()})
        else:
            {"deap": deap.read_subject, "mnist": image_files.read_mnist_npz,
             "cifar10": image_files.read_cifar10}[reader](path)
        message = None
    except CorruptDatasetError as error:
        message = str(error)
    status = Path("/proc/self/status").read_text().splitlines()
    peak_mb = next(int(line.split()[1]) for line in status if line.startswith("VmHWM:")) / 1024
    assert "tensorflow" not in sys.modules  # the measurement is the reader's alone
    print(json.dumps({"message": message, "seconds": time.perf_counter() - started, "peak_mb": peak_mb}))
    """
)


def read_in_child(reader, path):
    import os

    env = {**os.environ, "CNNKIT_LIGHT_IMPORT": "1"}  # a reader's process: no Keras in the measurement
    done = subprocess.run([sys.executable, "-c", READ_IN_CHILD, reader, str(path)], capture_output=True,
                          text=True, timeout=120, env=env)  # fmt: skip
    assert done.returncode == 0, done.stderr[-3000:]
    result = json.loads(done.stdout.strip().splitlines()[-1])
    print(f"{reader} {path.name}: refused in {result['seconds']:.2f} s, peak {result['peak_mb']:.0f} MB")
    return result


def assert_refused(result, path, *fragments):
    assert result["message"] is not None, "the bomb was accepted"
    assert str(path) in result["message"]
    for fragment in fragments:
        assert fragment in result["message"]
    assert result["seconds"] < 10 and result["peak_mb"] < PEAK_LIMIT_MB


# --- hand-written pickles ---------------------------------------------------------------


def global_(module, name):
    return f"c{module}\n{name}\n".encode()


def unicode_(text):
    raw = text.encode()
    return b"X" + struct.pack("<I", len(raw)) + raw


def object_array_bomb():
    """A 97-byte-class pickle: an ndarray placeholder filled with a (400,000,000,) object array."""
    dtype = global_("numpy", "dtype") + unicode_("O8") + b"\x89\x88\x87R"  # dtype('O8', False, True)
    dtype += b"(K\x03" + unicode_("|") + b"NNNJ\xff\xff\xff\xffJ\xff\xff\xff\xffK?tb"  # its state
    placeholder = global_("numpy.core.multiarray", "_reconstruct") + global_("numpy", "ndarray")
    placeholder += b"K\x00\x85" + unicode_("b") + b"\x87R"
    state = b"(K\x01J\x00\x84\xd7\x17\x85" + dtype + b"\x89]t"  # (1, (400000000,), dtype, False, [])
    return b"\x80\x02" + placeholder + state + b"b."


def direct_ndarray_call_bomb():
    """``numpy.ndarray((400000000,), 'O')`` called by the pickle itself."""
    return b"\x80\x02" + global_("numpy", "ndarray") + b"J\x00\x84\xd7\x17\x85" + unicode_("O") + b"\x86R."


def unknown_codec():
    return (
        b"\x80\x02" + global_("_codecs", "encode") + unicode_("abc") + unicode_("no-such-codec") + b"\x86R."
    )


def nested_dtype(depth=100_000):
    """A dtype whose state holds a subarray description nested ``depth`` tuples deep."""
    dtype = global_("numpy", "dtype") + unicode_("V8") + b"\x89\x88\x87R"
    nested = b"(" * depth + b"t" * depth
    return b"\x80\x02" + dtype + b"(K\x03" + unicode_("|") + nested + b"NNK\x08K\x01K\x00tb."


@pytest.mark.parametrize(
    ("name", "payload", "fragment"),
    [
        ("object_array", object_array_bomb(), "dtype"),
        ("direct_ndarray_call", direct_ndarray_call_bomb(), "numpy.ndarray"),
        ("unknown_codec", unknown_codec(), "no-such-codec"),
        ("nested_dtype", nested_dtype(), "nested dtype"),
        ("mixed_key_types", pickle.dumps({1: 2, "data": 3}, protocol=2), "expected a dict"),
        ("a_list", pickle.dumps([1, 2, 3], protocol=2), "expected a dict"),
        ("huge_float_array", b"", "more than this file may hold"),
    ],
)
def test_hostile_deap_files_are_refused_by_name_within_bounded_memory(tmp_path, name, payload, fragment):
    if name == "huge_float_array":  # a well-formed header for 40x40x8064x1000 doubles, 100 bytes of data
        placeholder = global_("numpy.core.multiarray", "_reconstruct") + global_("numpy", "ndarray")
        placeholder += b"K\x00\x85" + unicode_("b") + b"\x87R"
        dtype = global_("numpy", "dtype") + unicode_("f8") + b"\x89\x88\x87R"
        dtype += b"(K\x03" + unicode_("<") + b"NNNJ\xff\xff\xff\xffJ\xff\xff\xff\xffK\x00tb"
        shape = b"(K(K(M\x80\x1fM\xe8\x03t"
        payload = (
            b"\x80\x02" + placeholder + b"(K\x01" + shape + dtype + b"\x89" + unicode_("x" * 100) + b"tb."
        )
    path = tmp_path / "s01.dat"
    path.write_bytes(payload)
    result = read_in_child("deap", path)
    assert_refused(result, path, "not a valid DEAP file", fragment)


def test_a_code_running_pickle_still_runs_no_code(tmp_path):
    path = tmp_path / "s01.dat"
    path.write_bytes(pickle.dumps({"data": dataset_files.RunsCode()}, protocol=2))
    with pytest.raises(CorruptDatasetError, match="refused to load 'posix.system'"):
        deap.read_subject(path)


def test_a_deap_file_far_larger_than_the_real_ones_is_refused_before_reading(tmp_path):
    path = tmp_path / "s01.dat"
    with open(path, "wb") as stream:
        stream.truncate(deap_format.MAX_FILE_BYTES + 1)  # sparse: no disk space used
    with pytest.raises(CorruptDatasetError, match="far more than a DEAP subject file"):
        deap.read_subject(path)


def test_the_guarded_unpickler_still_reads_every_numpy_pickle_protocol():
    arrays = {"f": np.arange(12.0).reshape(3, 4), "u": np.arange(5, dtype=np.uint8), "s": np.float32(2.5)}
    for protocol in range(2, 6):
        loaded = safe_pickle.load(pickle.dumps(arrays, protocol=protocol))
        for key, value in arrays.items():
            np.testing.assert_array_equal(loaded[key], value)
            assert np.asarray(loaded[key]).dtype == np.asarray(value).dtype


# --- CIFAR-10 archives --------------------------------------------------------------------


def add_member(archive, name, raw=None, size=None, directory=False):
    info = tarfile.TarInfo(name)
    if directory:
        info.type = tarfile.DIRTYPE
        archive.addfile(info)
        return
    info.size = len(raw) if size is None else size
    archive.addfile(info, io.BytesIO(raw) if raw is not None else None)


def gzip_of_zeros(path, header: bytes, zero_bytes: int, trailer: bytes = b""):
    """Write a gzip file of ``header``, ``zero_bytes`` zeros and ``trailer``, streaming (a few MB on disk)."""
    with open(path, "wb") as raw, gzip.GzipFile(fileobj=raw, mode="wb", compresslevel=1) as stream:
        stream.write(header)
        chunk = bytes(1 << 24)
        for _ in range(zero_bytes // len(chunk)):
            stream.write(chunk)
        stream.write(bytes(zero_bytes % len(chunk)))
        stream.write(trailer)


def test_a_cifar_member_that_declares_gigabytes_is_refused_before_it_is_read(tmp_path):
    path = tmp_path / "cifar-10-python.tar.gz"
    header = tarfile.TarInfo("cifar-10-batches-py/data_batch_1")
    header.size = 3_800_000_000
    gzip_of_zeros(path, header.tobuf(format=tarfile.GNU_FORMAT), 1 << 26)  # the member's first 64 MB
    result = read_in_child("cifar10", path)
    assert_refused(result, path, "declares 3,800,000,000 bytes")


def test_a_cifar_archive_that_decompresses_far_beyond_the_real_one_is_refused(tmp_path):
    path = tmp_path / "cifar-10-python.tar.gz"
    with tarfile.open(path, "w:gz", compresslevel=1) as archive:
        for index in range(8):  # 8 x 30 MB of zeros: each member plausible, together too much
            add_member(archive, f"cifar-10-batches-py/junk_{index}", bytes(30 << 20))
    result = read_in_child("cifar10", path)
    assert_refused(result, path, "decompresses to far more")


@pytest.mark.parametrize(
    ("content", "fragment"),
    [
        (pickle.dumps([1, 2], protocol=2), "is not a dict"),
        (pickle.dumps(7, protocol=2), "is not a dict"),
        (pickle.dumps({b"data": np.zeros((2, 3072), np.uint8), b"labels": 5}, protocol=2), "labels are not"),
        (pickle.dumps({b"data": np.zeros((2, 3072), np.uint8), b"labels": [1.5, 2.0]}, protocol=2),
         "not whole numbers"),
        (pickle.dumps({b"data": np.zeros((2, 3072), np.uint8), b"labels": ["a", "b"]}, protocol=2),
         "labels are not"),
        (pickle.dumps({1: 2, b"data": 3}, protocol=2), "is not a dict with"),
    ],
)  # fmt: skip
def test_allowed_but_wrong_cifar_batches_are_named(tmp_path, content, fragment):
    path = tmp_path / "cifar-10-python.tar.gz"
    with tarfile.open(path, "w:gz") as archive:
        add_member(archive, "cifar-10-batches-py/data_batch_1", content)
    with pytest.raises(CorruptDatasetError, match=fragment) as caught:
        image_files.read_cifar10(path)
    assert str(path) in str(caught.value) and "data_batch_1" in str(caught.value)


def test_a_cifar_member_that_is_a_directory_is_named(tmp_path):
    path = tmp_path / "cifar-10-python.tar.gz"
    with tarfile.open(path, "w:gz") as archive:
        add_member(archive, "cifar-10-batches-py/data_batch_1", directory=True)
    with pytest.raises(CorruptDatasetError, match="data_batch_1 is not a regular file"):
        image_files.read_cifar10(path)


def test_a_cifar_archive_missing_batches_says_which(tmp_path):
    path = tmp_path / "cifar-10-python.tar.gz"
    batches = dataset_files.write_cifar10(tmp_path / "full.tar.gz")
    with tarfile.open(path, "w:gz") as archive:
        images, labels = batches["data_batch_1"]
        add_member(
            archive, "cifar-10-batches-py/data_batch_1", dataset_files.cifar_batch_bytes(images, labels)
        )
    with pytest.raises(CorruptDatasetError, match="lacks data_batch_2, data_batch_3"):
        image_files.read_cifar10(path)


# --- Fashion-MNIST IDX files ----------------------------------------------------------------


def write_fashion(folder, **replace):
    """The four Fashion-MNIST files (small), with some replaced by raw bytes or a writer."""
    dataset_files.write_fashion_mnist(folder)
    for name, content in replace.items():
        if callable(content):
            content(folder / name)
        else:
            (folder / name).write_bytes(content)
    return folder


def idx_header(*dims):
    return bytes([0, 0, 0x08, len(dims)]) + b"".join(d.to_bytes(4, "big") for d in dims)


def test_an_idx_file_that_decompresses_to_gigabytes_is_refused_after_the_declared_bytes(tmp_path):
    name = "train-images-idx3-ubyte.gz"
    folder = write_fashion(
        tmp_path / "fashion", **{name: lambda path: gzip_of_zeros(path, idx_header(200, 28, 28), 1 << 29)}
    )
    result = read_in_child("fashion_mnist", folder)
    assert_refused(result, folder / name, "more than 156800")


@pytest.mark.parametrize(
    ("header", "fragment"),
    [
        (idx_header(1_000_000_000, 28, 28) + bytes(100), "n <= 70,000"),
        (idx_header(200, 28, 29) + bytes(100), "expected (n, *(28, 28))"),
        (
            idx_header(0xFFFFFFFF, 0xFFFFFFFF, 0xFFFFFFFF, 0xFFFFFFFF) + bytes(100),
            "declares shape",
        ),  # np.prod overflows
        (idx_header(200, 28, 28) + bytes(100), "holds 100 data bytes but its header announces 156800"),
        (b"\x00\x00\x08\x03\x00\x00", "header is incomplete"),
        (b"\x00\x00\x0d\x03" + bytes(100), "IDX header for unsigned bytes"),
    ],
)
def test_idx_headers_that_lie_are_refused_by_name(tmp_path, header, fragment):
    name = "train-images-idx3-ubyte.gz"
    folder = write_fashion(tmp_path / "fashion", **{name: gzip.compress(header)})
    paths = {k: folder / f.relative_path.split("/")[1] for k, f in image_files.FASHION_MNIST_FILES.items()}
    with pytest.raises(CorruptDatasetError, match=re.escape(fragment)) as caught:
        image_files.read_fashion_mnist(paths)
    assert str(folder / name) in str(caught.value)


def test_fashion_labels_out_of_range_are_reported_against_the_labels_file(tmp_path):
    labels = np.full(200, 12, dtype=np.uint8)
    folder = write_fashion(tmp_path / "fashion",
                           **{"train-labels-idx1-ubyte.gz": gzip.compress(dataset_files.idx_bytes(labels))})  # fmt: skip
    paths = {k: folder / f.relative_path.split("/")[1] for k, f in image_files.FASHION_MNIST_FILES.items()}
    with pytest.raises(CorruptDatasetError, match="labels lie in 12..12") as caught:
        image_files.read_fashion_mnist(paths)
    assert "train-labels-idx1-ubyte.gz is unusable" in str(caught.value)


# --- mnist.npz --------------------------------------------------------------------------------


def npz_with_header(path, x_train_header: bytes):
    """An .npz whose x_train.npy is only a header (declaring what it likes) and 100 bytes."""
    good = io.BytesIO()
    dataset_files.write_mnist_npz(good)
    with zipfile.ZipFile(good) as source, zipfile.ZipFile(path, "w") as target:
        for name in source.namelist():
            target.writestr(name, x_train_header + bytes(100) if name == "x_train.npy" else source.read(name))


def npy_header(shape, descr="|u1"):
    text = repr({"descr": descr, "fortran_order": False, "shape": shape}).encode()
    text += b" " * (63 - (10 + len(text)) % 64) + b"\n"
    return b"\x93NUMPY\x01\x00" + struct.pack("<H", len(text)) + text


@pytest.mark.parametrize(
    ("shape", "descr", "fragment"),
    [
        ((1_000_000_000, 28, 28), "|u1", "n <= 70,000"),  # 784 GB declared
        ((60_000, 28, 28, 1000), "|u1", "declares shape"),
        ((60_000, 28, 28), "<f8", "expected uint8 images"),
    ],
)
def test_npz_headers_that_announce_too_much_are_refused_before_allocating(tmp_path, shape, descr, fragment):
    path = tmp_path / "mnist.npz"
    npz_with_header(path, npy_header(shape, descr))
    result = read_in_child("mnist", path)
    assert_refused(result, path, fragment)


def test_a_file_that_is_not_an_npz_gets_no_advice_about_allow_pickle(tmp_path):
    path = tmp_path / "mnist.npz"
    path.write_bytes(pickle.dumps({"x_train": 1}))
    with pytest.raises(CorruptDatasetError, match="not an .npz archive") as caught:
        image_files.read_mnist_npz(path)
    assert "allow_pickle" not in str(caught.value)


def test_fractional_labels_are_refused_not_truncated(tmp_path):
    x = np.zeros((200, 28, 28), np.uint8)
    np.savez(tmp_path / "mnist.npz", x_train=x, y_train=np.full(200, 2.5), x_test=x[:20], y_test=np.zeros(20))
    with pytest.raises(CorruptDatasetError, match="train labels are not whole numbers"):
        load_arrays("mnist", folder=tmp_path, download=False)
    np.savez(tmp_path / "mnist.npz", x_train=x, y_train=np.full(200, 2.0), x_test=x[:20], y_test=np.zeros(20))
    with pytest.warns(UserWarning, match="not the official file"):  # whole-number floats are fine
        assert (
            load_arrays("mnist", folder=tmp_path, download=False, validation_fraction=0.5)["y_train"] == 2
        ).all()


def test_an_lrn_layer_reused_on_another_channel_count_says_so():
    from cnnkit.models.layers import LocalResponseNormalization

    layer = LocalResponseNormalization()
    layer(np.ones((1, 4, 4, 8), "float32"))
    with pytest.raises(ValueError, match="expected axis -1 of input shape to have value 8"):
        layer(np.ones((1, 4, 4, 6), "float32"))


def test_a_fault_in_the_code_keeps_its_traceback_instead_of_blaming_the_file(tmp_path, monkeypatch):
    """READ_ERRORS turned TypeError, KeyError and AttributeError into "the file is damaged" (issue 35,
    section 1): a fault in the code must keep its traceback; only what a damaged file raises is caught."""
    import pytest

    from cnnkit.data import image_files, safe_pickle
    from tests.dataset_files import write_cifar10

    path = tmp_path / "cifar-10-python.tar.gz"
    write_cifar10(path, per_batch=4)

    def buggy(*_args, **_kwargs):
        raise TypeError("a bug, not a damaged file")

    monkeypatch.setattr(safe_pickle, "load", buggy)
    with pytest.raises(TypeError, match="a bug, not a damaged file"):
        image_files.read_cifar10(path)
