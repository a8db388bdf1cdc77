"""Read pickled NumPy data without letting the file run code or exhaust memory.

Some standard dataset files are Python pickles (CIFAR-10's batches, DEAP's ``sXX.dat``).
``pickle.load`` will call any function a file names, so a tampered file could run arbitrary
code; and even NumPy's own functions can be told to allocate gigabytes by a 100-byte file
(an array whose header declares 400 million elements). :func:`load` therefore

- resolves only the handful of globals a pickled NumPy array needs (anything else raises
  :class:`UnsafePickleError`);
- checks each array's declared shape and dtype *before* NumPy allocates it: plain numeric
  dtypes only (no object or structured dtypes), data exactly as long as the shape says, and
  all arrays together within ``max_bytes``;
- turns every other failure of a damaged file (unknown codecs, wrong argument types,
  nesting too deep, ...) into :class:`pickle.UnpicklingError`, which readers report with
  the file's name.

It runs Python's pure-Python unpickler (``pickle._Unpickler``) so that these checks can sit
on the opcode that fills an array; the data itself is still read in one piece.
"""

from __future__ import annotations

import io
import math
import pickle
import struct
from typing import BinaryIO

import numpy as np

DEFAULT_MAX_BYTES = 1 << 30  # 1 GiB of array data per file unless the reader says otherwise


class UnsafePickleError(pickle.UnpicklingError):
    """The pickle names a global or builds an object that NumPy arrays do not need."""


def _plain_dtype(dtype) -> np.dtype:
    if not isinstance(dtype, np.dtype) or dtype.hasobject or dtype.fields is not None or dtype.subdtype:
        raise UnsafePickleError(f"refused an array of dtype {dtype!r}: only plain numeric dtypes are allowed")
    return dtype


def _encode(text, encoding="latin1"):
    if not isinstance(text, str) or encoding.replace("-", "").lower() != "latin1":
        raise UnsafePickleError(
            f"refused _codecs.encode with {encoding!r}: only latin1 byte strings are allowed"
        )
    return text.encode("latin1")


class _NdarrayName:
    """Stands for ``numpy.ndarray`` in a pickle: valid only as ``_reconstruct``'s first argument.

    Handing out the real class would let a pickle call ``ndarray((400_000_000,), "O")`` itself.
    """

    def __call__(self, *args, **kwargs):
        raise UnsafePickleError("refused a direct call of numpy.ndarray")


_NDARRAY = _NdarrayName()


def _reconstruct(subtype, shape, dtype):
    # NumPy pickles an empty placeholder here and fills it in BUILD; nothing else is allowed.
    if subtype is not _NDARRAY or not isinstance(shape, tuple) or shape != (0,):
        raise UnsafePickleError("refused an array placeholder that is not NumPy's empty (0,) ndarray")
    return np.ndarray.__new__(np.ndarray, (0,), "b")


def _scalar(dtype, data=None):
    _plain_dtype(dtype)
    if isinstance(data, str):  # written by Python 2, read with encoding="latin1"
        data = data.encode("latin1")
    if not isinstance(data, bytes) or len(data) != dtype.itemsize:
        raise UnsafePickleError(f"refused a {dtype} scalar whose data is not {dtype.itemsize} bytes")
    return np.frombuffer(data, dtype)[0]


def _frombuffer(buffer, dtype, shape, order):
    _plain_dtype(dtype)
    if math.prod(shape) * dtype.itemsize != memoryview(buffer).nbytes:
        raise UnsafePickleError(f"refused an array of shape {shape} whose buffer has another size")
    return np.frombuffer(buffer, dtype).reshape(shape, order=order)


def _dtype(spec, align=False, copy=True):
    if isinstance(spec, bytes):  # a Python 2 str read with encoding="bytes" (CIFAR-10's batches)
        spec = spec.decode("latin1")
    if not isinstance(spec, str):
        raise UnsafePickleError(f"refused a dtype built from {type(spec).__name__}")
    return np.dtype(spec, bool(align), bool(copy))


# (module, name) pairs a pickled ndarray may reference, each mapped to its guarded stand-in.
# `numpy.core` is NumPy 1's spelling, `numpy._core` NumPy 2's. `_codecs.encode` only turns text
# into bytes: Python 3 uses it to store byte strings in protocol 2 pickles (the protocol of
# DEAP's and CIFAR's files). `_frombuffer` serves protocol 5 pickles.
_GUARDED = {
    ("numpy", "ndarray"): _NDARRAY,
    ("numpy", "dtype"): _dtype,
    ("_codecs", "encode"): _encode,
}
for _module in ("numpy.core", "numpy._core"):
    _GUARDED[(f"{_module}.multiarray", "_reconstruct")] = _reconstruct
    _GUARDED[(f"{_module}.multiarray", "scalar")] = _scalar
    _GUARDED[(f"{_module}.numeric", "_frombuffer")] = _frombuffer


class _NumpyOnlyUnpickler(pickle._Unpickler):
    """Pure-Python unpickler with NumPy-only globals and size checks on every array."""

    dispatch = dict(pickle._Unpickler.dispatch)

    def __init__(self, stream, encoding, max_bytes):
        super().__init__(stream, encoding=encoding)
        self.bytes_left = max_bytes

    def find_class(self, module, name):
        try:
            return _GUARDED[(module, name)]
        except KeyError:
            raise UnsafePickleError(
                f"refused to load '{module}.{name}': this file asks to run code that is not "
                "needed for NumPy arrays, so it is corrupted or malicious"
            ) from None

    def load_build(self):
        instance, state = self.stack[-2], self.stack[-1]
        if isinstance(instance, np.ndarray):
            self._check_array_state(state)
        elif isinstance(instance, np.dtype):
            # (version, byte order, subarray, names, fields, itemsize, alignment, flags[, metadata])
            if not isinstance(state, tuple) or len(state) < 8 or any(item is not None for item in state[2:5]):
                raise UnsafePickleError("refused a structured or nested dtype: only plain dtypes are allowed")
        else:
            raise UnsafePickleError(
                f"refused to fill a {type(instance).__name__}: only NumPy arrays are built"
            )
        super().load_build()

    dispatch[pickle.BUILD[0]] = load_build

    def _check_array_state(self, state):
        # (version, shape, dtype, is_fortran, data), or the older form without the version.
        if not isinstance(state, tuple) or len(state) not in (4, 5):
            raise UnsafePickleError("refused an array whose state is not NumPy's")
        shape, dtype, _, data = state[-4:]
        if not isinstance(shape, tuple) or not all(isinstance(d, int) and d >= 0 for d in shape):
            raise UnsafePickleError(f"refused an array with the shape {shape!r}")
        size = math.prod(shape) * _plain_dtype(dtype).itemsize
        if size > self.bytes_left:
            raise UnsafePickleError(
                f"refused an array of shape {shape} and dtype {dtype} ({size:,} bytes): more than "
                "this file may hold"
            )
        if not isinstance(data, bytes | str) or len(data) != size:
            raise UnsafePickleError(
                f"refused an array of shape {shape} whose data is not {size:,} bytes long"
            )
        self.bytes_left -= size


def load(stream: BinaryIO | bytes, encoding: str = "ASCII", max_bytes: int = DEFAULT_MAX_BYTES):
    """Unpickle ``stream`` (a binary file or bytes), allowing only plain NumPy arrays.

    ``encoding`` is passed to the unpickler (``"latin1"`` or ``"bytes"`` for files written by
    Python 2). ``max_bytes`` caps the array data the file may create, checked before anything
    is allocated. Raises :class:`UnsafePickleError` for a refused construct and
    :class:`pickle.UnpicklingError` for any other damage.
    """
    if isinstance(stream, bytes | bytearray):
        stream = io.BytesIO(stream)
    try:
        return _NumpyOnlyUnpickler(stream, encoding, max_bytes).load()
    except pickle.UnpicklingError:
        raise
    except (Exception, RecursionError) as error:  # a damaged file fails in many ways
        raise pickle.UnpicklingError(f"{type(error).__name__}: {error}") from None


def dumps_python2(content) -> bytes:
    """:func:`dump_python2` into bytes."""
    stream = io.BytesIO()
    dump_python2(content, stream)
    return stream.getvalue()


def dump_python2(content, stream: BinaryIO) -> None:
    """Write ``content`` to ``stream`` pickled as Python 2's cPickle wrote DEAP's and CIFAR-10's
    files (protocol 2); array data goes to the stream as it is, without an extra copy.

    ``content``: dicts with str keys, lists, str, int, and NumPy arrays of plain numeric dtypes.
    Arrays name ``numpy.core.multiarray._reconstruct`` (NumPy 1's module; NumPy 2 still
    resolves it) and keep their bytes in a Python 2 ``str`` (opcode BINSTRING), which Python 3
    reads with ``encoding="latin1"`` (or ``"bytes"``, which also turns the keys into bytes).
    Python 3's own pickler cannot write that: it names NumPy 2's ``numpy._core``, which NumPy
    1.25 and older cannot import, and stores bytes through ``_codecs.encode``, half as large
    again. Used to write files in the exact format of the real ones (synthetic DEAP subjects,
    the tests' CIFAR-10 batches); :func:`load` reads them.
    """
    write = stream.write

    def text(value: str) -> None:  # SHORT_BINSTRING / BINSTRING: a Python 2 str
        raw = value.encode("latin1")
        write((b"U" + bytes([len(raw)]) if len(raw) < 256 else b"T" + struct.pack("<I", len(raw))) + raw)

    def integer(value: int) -> None:  # BININT1 / BININT2 / BININT
        if 0 <= value < 256:
            write(b"K" + bytes([value]))
        elif 0 <= value < 65536:
            write(b"M" + struct.pack("<H", value))
        else:
            write(b"J" + struct.pack("<i", value))

    def array(values: np.ndarray) -> None:
        dtype = _plain_dtype(values.dtype).newbyteorder("<")
        values = np.ascontiguousarray(values, dtype=dtype)
        write(b"cnumpy.core.multiarray\n_reconstruct\ncnumpy\nndarray\n")
        integer(0)
        write(b"\x85")
        text("b")
        write(b"\x87R(")
        integer(1)
        write(b"(")
        for size in values.shape:
            integer(size)
        write(b"tcnumpy\ndtype\n")
        text(dtype.str[1:])
        integer(0)
        integer(1)
        write(b"\x87R(")
        integer(3)
        text("|" if dtype.itemsize == 1 else "<")
        write(b"NNN")
        integer(-1)
        integer(-1)
        integer(0)
        write(b"tb\x89T" + struct.pack("<I", values.nbytes))
        write(memoryview(values).cast("B"))  # the array's own memory, not a copy
        write(b"tb")

    def value(item) -> None:
        if isinstance(item, np.ndarray):
            array(item)
        elif isinstance(item, bool) or not isinstance(item, int | str | list | dict):
            raise TypeError(f"dump_python2 writes dicts, lists, str, int and arrays, not {type(item).__name__}")
        elif isinstance(item, int):
            integer(item)
        elif isinstance(item, str):
            text(item)
        elif isinstance(item, list):
            write(b"](")
            for element in item:
                value(element)
            write(b"e")
        else:
            write(b"}(")
            for key, element in item.items():
                text(key)
                value(element)
            write(b"u")

    write(b"\x80\x02")
    value(content)
    write(b".")
