"""The command line: a real (short) training run, and the bad-argument paths."""

import json
import subprocess
import sys

import keras
import pandas as pd
import pytest

from cnnkit.cli import main
from cnnkit.fitting import input_options
from cnnkit.models import list_models


def test_train_writes_the_whole_run_folder(tmp_path, capsys):
    out = tmp_path / "run"
    code = main(["train", "lenet5_classic", "--dataset", "digits", "--epochs", "2", "--out", str(out)])
    assert code == 0
    names = {p.name for p in out.iterdir()}
    assert {"model.keras", "history.csv", "metrics.json", "report.csv", "learning_curves.png",
            "confusion_matrix.png", "run.json", "settings.json", "classes.json", "backends.json", ".lock"} == names  # fmt: skip
    assert (out / ".lock").read_text() == ""  # released: no owner recorded
    metrics = json.loads((out / "metrics.json").read_text())
    history = pd.read_csv(out / "history.csv")
    assert len(history) == 2 and "val_accuracy" in history
    assert metrics["epochs"] == 2 and metrics["model"] == "lenet5_classic"
    assert metrics["settings"]["batch_size"] == 32 and metrics["task"] == "classification"  # the defaults
    # The reported accuracy is that of the saved model, recomputed here independently.
    from cnnkit.data import load_dataset

    data = load_dataset("digits", pad_to=32)
    model = keras.saving.load_model(out / "model.keras", safe_mode=True)
    recomputed = model.evaluate(data.test, verbose=0, return_dict=True)
    assert metrics["test_accuracy"] == pytest.approx(recomputed["accuracy"], abs=1e-6)
    assert metrics["test_loss"] == pytest.approx(recomputed["loss"], rel=1e-5)
    assert "Test accuracy" in capsys.readouterr().out


def test_models_command_lists_the_registry_through_python_m():
    done = subprocess.run([sys.executable, "-m", "cnnkit", "models"], capture_output=True, text=True)
    assert done.returncode == 0
    assert "lenet5_classic" in done.stdout and "lenet5 " in done.stdout
    rows = {line.split()[0]: line.split() for line in done.stdout.splitlines()[1:]}
    assert set(rows) == set(list_models())
    assert rows["vgg16"][1:5] == ["2014", "138,357,544", "224x224x3", "images"]
    assert rows["lenet5_classic"][3:5] == ["32x32x1", "fixed"] and rows["ccnn"][4] == "de_grid"


@pytest.mark.parametrize(
    ("argv", "code", "message"),
    [
        (
            ["train", "lenet7"],
            2,
            f"Unknown model 'lenet7'. Known models: {', '.join(list_models())}.",
        ),
        (["train", "lenet5", "--dataset", "svhn"], 2, "Unknown dataset 'svhn'"),
        (["train", "lenet5", "--epochs", "0"], 2, "expected a positive integer, got 0"),
        (["train", "lenet5", "--batch-size", "many"], 2, "expected a positive integer, got 'many'"),
        (["train", "ccnn", "--dataset", "deap_synthetic", "--subjects", "100"], 2,
         "DEAP recorded 32 people: expected 1 to 32, got 100"),
        (["train", "ccnn", "--dataset", "deap_synthetic", "--subjects", "-1"], 2, "expected a positive integer, got -1"),
        (
            ["train", "lenet5", "--epochs", "1", "-o", "pooling=median"],
            2,
            "pooling must be 'average' or 'max'",
        ),
        (["train", "lenet5", "-o", "novalue"], 2, "expected KEY=VALUE"),
        (["train", "lenet5_classic", "--dataset", "cifar10"], 1, "takes 1-channel images but cifar10 has 3"),
        (["train", "lenet5", "--dataset", "mnist"], 1, "mnist.npz was not found"),
        (["fly"], 2, "invalid choice"),
    ],
)
def test_bad_arguments_give_one_clear_line_and_a_nonzero_exit(argv, code, message, capsys, tmp_path):
    try:
        result = main([*argv, "--out", str(tmp_path / "run")] if argv[0] == "train" else argv)
    except SystemExit as exit_:  # argparse's own errors
        result = exit_.code
    err = capsys.readouterr().err
    assert result == code
    assert message in err
    assert "Traceback" not in err


def test_input_options_pad_mnist_sized_images_for_the_classic_lenet():
    assert input_options("lenet5_classic", "digits") == {"pad_to": 32}
    assert input_options("lenet5", "digits") == {}
    assert input_options("lenet5", "cifar10") == {}
    assert input_options("alexnet_textbook", "fashion_mnist") == {"resize_to": (224, 224)}


def test_the_main_job_reaches_its_stated_accuracy(tmp_path):
    """The README's main job, exactly (no --dataset: mnist_sample, 20 epochs), seed 0."""
    import importlib.util
    from pathlib import Path

    spec = importlib.util.spec_from_file_location("main_job", Path(__file__).parent.parent / "bench" / "main_job.py")
    bench = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(bench)
    out = tmp_path / "run"
    assert main(["train", "lenet5", "--out", str(out)]) == 0
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["dataset"] == "mnist_sample" and metrics["epochs"] == 20
    assert metrics["test_accuracy"] >= bench.TARGET_ACCURACY
