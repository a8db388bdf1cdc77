"""Read pickled NumPy data without letting the file run code.

Some standard dataset files are Python pickles (CIFAR-10's batches, DEAP's ``sXX.dat``).
``pickle.load`` will call any function a file names, so a tampered file could run arbitrary
code. :func:`load` uses an unpickler that resolves only the handful of globals a pickled
NumPy array needs and refuses everything else with :class:`UnsafePickleError`.
"""

from __future__ import annotations

import io
import pickle
from typing import BinaryIO

# (module, name) pairs a pickled ndarray may reference. `numpy.core` is NumPy 1's spelling,
# `numpy._core` NumPy 2's. `_codecs.encode` only turns text into bytes: Python 3 uses it to
# store byte strings in protocol 2 pickles (the protocol of DEAP's and CIFAR's files).
ALLOWED_GLOBALS = frozenset(
    {
        ("numpy", "ndarray"),
        ("numpy", "dtype"),
        ("numpy.core.multiarray", "_reconstruct"),
        ("numpy._core.multiarray", "_reconstruct"),
        ("numpy.core.multiarray", "scalar"),
        ("numpy._core.multiarray", "scalar"),
        ("numpy.core.numeric", "_frombuffer"),  # protocol 5 pickles
        ("numpy._core.numeric", "_frombuffer"),
        ("_codecs", "encode"),
    }
)


class UnsafePickleError(pickle.UnpicklingError):
    """The pickle names a global that is not needed to rebuild NumPy arrays."""


class _NumpyOnlyUnpickler(pickle.Unpickler):
    def find_class(self, module, name):
        if (module, name) in ALLOWED_GLOBALS:
            return super().find_class(module, name)
        raise UnsafePickleError(
            f"refused to load '{module}.{name}': this file asks to run code that is not "
            "needed for NumPy arrays, so it is corrupted or malicious"
        )


def load(stream: BinaryIO | bytes, encoding: str = "ASCII"):
    """Unpickle ``stream`` (a binary file or bytes), allowing only NumPy array globals.

    ``encoding`` is passed to :class:`pickle.Unpickler` (``"latin1"`` or ``"bytes"`` for
    files written by Python 2). Raises :class:`UnsafePickleError` for anything else.
    """
    if isinstance(stream, bytes | bytearray):
        stream = io.BytesIO(stream)
    return _NumpyOnlyUnpickler(stream, encoding=encoding).load()
