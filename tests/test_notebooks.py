"""Every notebook is committed clean and runs top to bottom in quick mode (CNNKIT_QUICK=1), and
the results its prose interprets hold at that configuration (:data:`CLAIMS`)."""

import re
from pathlib import Path

import nbformat
import pytest
from nbclient import NotebookClient

NOTEBOOKS = sorted((Path(__file__).parent.parent / "notebooks").glob("[0-9][0-9]_*.ipynb"))


def test_the_notebooks_are_there():
    expected = {"00_cnn_fundamentals.ipynb", "01_lenet5.ipynb", "02_alexnet.ipynb", "03_resnet.ipynb",
                "04_eeg_deap_ccnn.ipynb", "05_eeg_cnn_rnn.ipynb", "06_transfer_learning.ipynb",
                "07_cnn_family.ipynb", "08_what_cnns_see.ipynb"}  # fmt: skip
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


def numbers(pattern: str, text: str) -> list[float]:
    """The numbers captured by ``pattern`` in the notebook's printed text (it must be there)."""
    found = re.search(pattern, text)
    assert found, f"the notebook no longer prints {pattern!r}"
    return [float(value) for value in found.groups()]


def lenet_claims(text):
    """01: "ReLU with max pooling learns much faster in the first epochs" than sigmoid + average."""
    for relu, sigmoid in re.findall(r"after 1 epoch: ReLU \+ max ([\d.]+), sigmoid \+ average ([\d.]+)", text):
        assert float(relu) > float(sigmoid) + 0.1
    assert "after 1 epoch: ReLU + max" in text


def alexnet_claims(text):
    """02: in quick mode ReLU gains nothing or next to nothing over tanh (at most one epoch)."""
    epochs = dict(re.findall(r"(relu|tanh): 25% training error at epoch (\d+)", text))
    assert set(epochs) == {"relu", "tanh"}, "one of the two never reached 25% training error"
    assert abs(int(epochs["relu"]) - int(epochs["tanh"])) <= 1


def eeg_ccnn_claims(text):
    """04: the random segment split scores higher than the grouped one, even with no emotion to find."""
    for method in ("SVM (RBF)", "CCNN"):
        random_split, grouped = numbers(re.escape(method) + r": random segment folds ([\d.]+), "
                                        r"trial-grouped folds ([\d.]+)", text)  # fmt: skip
        assert random_split > grouped
    # The control: with no emotion in the signals the random split still scores high, far above the
    # grouped folds, which stay within about two standard errors (2 x 0.079 over 40 trials) of chance.
    random_split, grouped, error = numbers(r"no emotion in the signals, SVM \(RBF\): random segment folds ([\d.]+), "
                                           r"trial-grouped folds ([\d.]+) \(chance 0.5, one standard error over 40 "
                                           r"trials ([\d.]+)\)", text)  # fmt: skip
    assert random_split > 0.8 and random_split - grouped > 0.2 and abs(grouped - 0.5) < 2 * error


def resnet_claims(text):
    """03: at depth 56 the plain network's gradient norms spread far wider than the ResNet's."""
    found = re.search(r"plain-56 ([\d,]+)x, ResNet-56 ([\d,]+)x", text)
    assert found, "the notebook no longer prints the gradient-norm spreads"
    plain, residual = (float(value.replace(",", "")) for value in found.groups())
    assert plain > 10 * residual  # "the spread grows many times wider"


def family_claims(text):
    """07: the arithmetic each section's prose states, as printed next to it."""
    assert "two 3x3: 73,728 (28% fewer)" in text and "receptive field of two 3x3: [3, 5]" in text
    assert "(128 M vs 303 M)" in text  # Table 1 of GoogLeNet: 128 M operations for module 3a
    assert numbers(r"ratio ([\d.]+) \(2/7 = ([\d.]+)\)", text) == [0.2857, 0.2857]
    counted, formula = numbers(r"= ([\d.]+)\nformula: .* = ([\d.]+)", text)
    assert counted == formula and 8 < 1 / counted < 9  # "about 8-9x cheaper"
    assert "[96, 128, 160, 192, 224, 256] = 64 + 32 l" in text
    vgg_macs, vgg_top1, mixnet_macs, ratio, mixnet_top1 = numbers(
        r"VGG-16: ([\d.]+) G multiply-adds for ([\d.]+)%; MixNet-M: ([\d.]+) G \((\d+)x less\) for ([\d.]+)%", text)
    assert ratio > 10 and mixnet_top1 > vgg_top1
    fewer, batch_1, batch_32 = numbers(r"ResNet-18: ([\d.]+)x fewer multiply-adds, ([\d.]+)x less time at batch 1, "
                                       r"([\d.]+)x at batch 32", text)  # fmt: skip
    assert batch_1 < fewer / 2 and batch_32 < fewer  # "latency falls much less than multiply-adds"


def what_cnns_see_claims(text):
    """08: aliasing at initialization, Grad-CAM on the strokes, and the lesion contrast."""
    alexnet_init, zfnet_init, alexnet_trained, zfnet_trained = numbers(
        r"at init: alexnet ([\d.]+), zfnet ([\d.]+); after training: alexnet ([\d.]+), zfnet ([\d.]+)", text)
    assert 0.85 < alexnet_init and 0.65 < zfnet_init < 0.85  # about 15/16 and 3/4
    assert abs(alexnet_trained - alexnet_init) < 0.05 and abs(zfnet_trained - zfnet_init) < 0.05  # "barely move"
    stroke, background = numbers(r"stroke pixels vs background: ([\d.]+) vs ([\d.]+)", text)
    assert stroke > background
    resnet_loss, plain_loss, resnet_last, plain_last = numbers(
        r"ResNet ([\d.]+), plain ([\d.]+); the ResNet's last block: ([\d.]+) without it, the plain network's: ([\d.]+)",
        text)  # fmt: skip
    assert plain_loss > resnet_loss + 0.1 and resnet_last > 0.5 and plain_last < 0.2


CLAIMS = {"01_lenet5": lenet_claims, "02_alexnet": alexnet_claims, "03_resnet": resnet_claims,
          "04_eeg_deap_ccnn": eeg_ccnn_claims, "07_cnn_family": family_claims, "08_what_cnns_see": what_cnns_see_claims}


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
    if path.stem in CLAIMS:
        printed = "".join(o.get("text", "") for cell in code for o in cell.outputs if o.output_type == "stream")
        CLAIMS[path.stem](printed)
