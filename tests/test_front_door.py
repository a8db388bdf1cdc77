"""One front door for every dataset, and honest exits (issue 19, points 2 and 7)."""

import subprocess
import sys

import pytest

from cnnkit import cli, evaluation, load_dataset
from cnnkit.data import registry

pytestmark = pytest.mark.fast  # runs on both stacks (see pyproject.toml)

def test_the_datasets_command_lists_every_dataset_the_train_command_accepts(capsys, monkeypatch, tmp_path):
    done = subprocess.run([sys.executable, "-m", "cnnkit", "datasets"], capture_output=True, text=True)
    listed = [line.split()[0] for line in done.stdout.splitlines()]
    assert done.returncode == 0 and listed == [*registry.list_datasets(), "PATH", "PATH"]  # class and mask folders
    assert {"deap", "deap_synthetic", "mnist_sample", "cifar10"} <= set(listed)
    routed = []
    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr(cli, "_train_and_report", lambda args, *rest: routed.append(args.dataset) or {})
    for name in listed[:-2]:
        spec = registry.get_dataset(name)
        model = ({"segmentation": "unet", "separation": "conv_tasnet", "tagging": "cnn_tagger"}.get(spec.task)
                 or {"eeg": "ccnn", "points": "pointnet"}.get(spec.kind, "lenet5"))  # fmt: skip
        assert cli.main(["train", model, "--dataset", name, "--out", f"{name}-run"]) == 0, capsys.readouterr().err
    assert routed == listed[:-2]


def test_load_dataset_routes_eeg_too():
    data = load_dataset("deap_synthetic", subjects=2, batch_size=256)
    assert data.info.name == "SYNTHETIC deap_synthetic" and data.info.input_shape == (9, 9, 4)
    assert data.info.class_names == ("low valence", "high valence") and len(data.info.files) == 2
    images_batch, labels = next(iter(data.train))
    assert images_batch.shape[1:] == (9, 9, 4) and set(labels.numpy()) <= {0, 1}
    with pytest.raises(ValueError, match="pad_to apply to images"):
        load_dataset("deap_synthetic", subjects=2, pad_to=32)


def test_an_option_the_model_does_not_take_is_a_bad_argument(tmp_path, capsys):
    code = cli.main(["train", "lenet5", "-o", "colour=blue", "--out", str(tmp_path / "run")])
    err = capsys.readouterr().err
    assert code == 2 and err.startswith("error: -o colour=...: lenet5 takes no option 'colour'")
    assert "its options: activation, pooling" in err and "Traceback" not in err
    code = cli.main(["train", "resnet_cifar", "--dataset", "digits", "-o", "colour=blue", "--out", str(tmp_path / "r")])
    assert code == 2 and "resnet_cifar refuses the options {'colour': 'blue'}" in capsys.readouterr().err


def test_an_unexpected_error_keeps_its_traceback(tmp_path, monkeypatch):
    def broken(*args, **kwargs):
        raise ValueError("a bug inside the evaluation, not bad input")

    monkeypatch.setattr(evaluation, "evaluate_classifier", broken)
    with pytest.raises(ValueError, match="a bug inside the evaluation"):  # not turned into exit 2
        cli.main(["train", "lenet5", "--dataset", "digits", "--epochs", "1", "--out", str(tmp_path / "run")])
    monkeypatch.undo()

    def builder_bug(*args, **kwargs):
        raise TypeError("a builder that fails on its own defaults")

    monkeypatch.setattr(cli, "build", builder_bug)
    with pytest.raises(TypeError, match="on its own defaults"):
        cli.main(["train", "lenet5", "--dataset", "digits", "--epochs", "1", "--out", str(tmp_path / "run2")])
    script = ("import sys\nfrom cnnkit import cli\n"
              "cli.run_training = lambda args: (_ for _ in ()).throw(KeyError('internal'))\n"
              "sys.exit(cli.main(['train', 'lenet5']))\n")  # fmt: skip
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True)
    assert done.returncode == 1 and "Traceback" in done.stderr and "KeyError: 'internal'" in done.stderr


def test_a_type_error_inside_a_builder_given_options_is_a_fault_not_a_bad_option(tmp_path, monkeypatch):
    """With -o options, any ValueError or TypeError of the builder read as "refuses the options" (issue 35,
    section 1): a TypeError that is not Python's unexpected keyword keeps its traceback."""
    from cnnkit.models import resnet

    def broken(*_args, **_kwargs):
        raise TypeError("unsupported operand type(s): a bug in the builder")

    monkeypatch.setattr(resnet, "cifar_network", broken)
    with pytest.raises(TypeError, match="a bug in the builder"):
        cli.main(["train", "resnet_cifar", "--dataset", "digits", "-o", "shortcut=B", "--out", str(tmp_path / "r")])
