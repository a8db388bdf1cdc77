"""Every notebook is committed clean and runs top to bottom in quick mode (CNNKIT_QUICK=1)."""

from pathlib import Path

import nbformat
import pytest
from nbclient import NotebookClient

NOTEBOOKS = sorted((Path(__file__).parent.parent / "notebooks").glob("[0-9][0-9]_*.ipynb"))


def test_the_notebooks_are_there():
    expected = {"00_cnn_fundamentals.ipynb", "01_lenet5.ipynb", "02_alexnet.ipynb", "03_resnet.ipynb",
                "04_eeg_deap_ccnn.ipynb", "05_eeg_cnn_rnn.ipynb", "06_transfer_learning.ipynb"}  # fmt: skip
    assert expected <= {path.name for path in NOTEBOOKS}


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_notebook_is_committed_without_outputs_and_has_the_standard_cells(path):
    notebook = nbformat.read(path, as_version=4)
    code = [cell for cell in notebook.cells if cell.cell_type == "code"]
    assert all(not cell.outputs and cell.execution_count is None for cell in code)
    assert notebook.cells[0].cell_type == "markdown" and notebook.cells[0].source.startswith("# ")
    assert "google.colab" in code[0].source  # the set-up cell installs cnnkit on Colab
    assert "list_logical_devices" in code[0].source  # ... and prints the devices found
    tagged = [cell for cell in code if "parameters" in cell.metadata.get("tags", [])]
    assert len(tagged) == 1 and "CNNKIT_QUICK" in tagged[0].source


@pytest.mark.notebook
@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_notebook_runs_in_quick_mode(path, monkeypatch):
    monkeypatch.setenv("CNNKIT_QUICK", "1")
    monkeypatch.delenv("MPLBACKEND", raising=False)  # let the kernel draw inline, as Jupyter does
    notebook = nbformat.read(path, as_version=4)
    client = NotebookClient(
        notebook, timeout=600, kernel_name="python3", resources={"metadata": {"path": str(path.parent)}}
    )
    client.execute()  # raises CellExecutionError, with the cell and traceback, on any failure
    code = [cell for cell in notebook.cells if cell.cell_type == "code"]
    assert not [o for cell in code for o in cell.outputs if o.output_type == "error"]
    drawing = [cell for cell in code if "plt.subplots" in cell.source or "plots." in cell.source]
    assert drawing, "a notebook without a single plot"
    for cell in drawing:  # every cell that draws showed its figure
        assert any("image/png" in o.get("data", {}) for o in cell.outputs), cell.source[:200]
