"""Test set-up: no network, a private data folder, quiet TensorFlow, a non-interactive backend."""

import os
import tempfile

# Set before cnnkit or TensorFlow is imported by any test module.
os.environ["CNNKIT_OFFLINE"] = "1"  # no test may download anything
os.environ["CNNKIT_DATA"] = tempfile.mkdtemp(prefix="cnnkit-test-data-")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
os.environ["MPLBACKEND"] = "Agg"
if int(os.environ.get("PYTEST_XDIST_WORKER_COUNT", "1")) > 1:
    # Several test processes share the cores (`-n 2` on CI's two): each computes on one thread, and so do
    # the notebook kernels and subprocesses it starts (they inherit this environment); bench/thread_pairs.py
    # times a pair of notebooks side by side both ways. A variable already set wins.
    from tests.threads import ONE_THREAD

    for variable, value in ONE_THREAD.items():
        os.environ.setdefault(variable, value)

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


LONG_RUNS = ("notebook", "smoke")  # markers of the tests that execute a whole notebook (minutes each)


def pytest_collection_modifyitems(config, items):
    """The notebook runs first, the later (heavier) notebooks first: pytest-xdist hands tests out in this
    order, so the longest start while the short tests fill the other process around them, instead of one
    starting last and running alone at the end (issue 36). The order of everything else is kept."""

    def key(item):
        notebook = item.callspec.params.get("path") if hasattr(item, "callspec") else None
        if notebook is None or not any(item.get_closest_marker(marker) for marker in LONG_RUNS):
            return (1, 0)
        return (0, -int(notebook.stem[:2]))  # 11_sequences before 10_segmentation ...

    items.sort(key=key)  # stable: the other tests keep their collection order
