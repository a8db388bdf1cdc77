"""Every notebook runs its *full* configuration in smoke mode (``CNNKIT_SMOKE=1``, see
:mod:`cnnkit.modes`): MNIST, Fashion-MNIST and CIFAR-10 at their official sizes and formats,
the 3,670 flower photos, MobileNetV2's ImageNet weight files, ModelNet40's and Oxford-IIIT Pet's archives
(small meshes and photos in their layouts), LibriSpeech's two archives (ten and three speakers), EWT's
three CoNLL-U files and 32 SYNTHETIC DEAP subjects, all
written here (random content, nothing downloaded), with every training cut to one epoch of a
few batches. Run these alone with ``python -m pytest -m smoke``."""

import fcntl
import tempfile
import time
from pathlib import Path

import nbformat
import pytest
from nbclient import NotebookClient

from tests.dataset_files import write_smoke_files
from tests.test_notebooks import NOTEBOOKS


@pytest.fixture(scope="session")
def smoke_folders(tmp_path_factory, worker_id):
    """A data folder and a Keras home holding the official-format files full mode reads, written
    once for the whole run: the first test process to get here writes them (under a lock, into a
    scratch folder renamed into place when complete); the other waits for it and reads the same files."""
    base = tmp_path_factory.getbasetemp()
    shared = base if worker_id == "master" else base.parent  # xdist's workers share their base's parent
    root = shared / "smoke"
    with open(shared / "smoke.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)  # released when the file closes, or when its process dies
        if not root.exists():
            started = time.perf_counter()
            scratch = Path(tempfile.mkdtemp(prefix="smoke-", dir=shared))
            write_smoke_files(scratch)
            scratch.rename(root)
            print(f"smoke data written in {time.perf_counter() - started:.0f} s")
    return root / "data", root / "keras"


@pytest.mark.smoke
@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_notebook_runs_its_full_configuration_in_smoke_mode(path, smoke_folders, monkeypatch):
    data, keras_home = smoke_folders
    monkeypatch.setenv("CNNKIT_SMOKE", "1")
    monkeypatch.delenv("CNNKIT_QUICK", raising=False)
    monkeypatch.setenv("CNNKIT_DATA", str(data))
    monkeypatch.setenv("KERAS_HOME", str(keras_home))
    monkeypatch.delenv("MPLBACKEND", raising=False)
    notebook = nbformat.read(path, as_version=4)
    client = NotebookClient(
        notebook, timeout=600, kernel_name="python3", resources={"metadata": {"path": str(path.parent)}}
    )
    client.execute()  # raises CellExecutionError, with the cell and traceback, on any failure
    code = [cell for cell in notebook.cells if cell.cell_type == "code"]
    printed = "".join(o.get("text", "") for cell in code for o in cell.outputs if o.output_type == "stream")
    assert "smoke mode (CNNKIT_SMOKE=1)" in printed  # the parameters cell says which mode ran
    assert "quick mode (CNNKIT_QUICK=1)" not in printed  # the full configuration ran, not the quick one
