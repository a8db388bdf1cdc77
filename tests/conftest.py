"""Test set-up: no network, a private data folder, quiet TensorFlow, a non-interactive backend."""

import os
import tempfile

# Set before cnnkit or TensorFlow is imported by any test module.
os.environ["CNNKIT_OFFLINE"] = "1"  # no test may download anything
os.environ["CNNKIT_DATA"] = tempfile.mkdtemp(prefix="cnnkit-test-data-")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
os.environ["MPLBACKEND"] = "Agg"

import pytest  # noqa: E402


@pytest.fixture(scope="session")
def digits():
    """The bundled digits dataset with small batches (loaded once per test session)."""
    from cnnkit.data import load_dataset

    return load_dataset("digits", batch_size=64)


@pytest.fixture(scope="session")
def digits_32():
    """The digits padded to 32x32, as lenet5_classic takes them."""
    from cnnkit.data import load_dataset

    return load_dataset("digits", batch_size=64, pad_to=32)
