"""Adding a model is one function; adding a built-in dataset is one record (issue 19, "done when").

Each test adds a throwaway entry the way a contributor would, and checks that everything a user
touches sees it (build, the registry's lists, the command line, load_dataset) with no other
change; the entry is removed afterwards.
"""

import keras
import pytest

from cnnkit import cli, load_dataset
from cnnkit.data import registry as data_registry
from cnnkit.models import build, get_spec, list_models, registry

pytestmark = pytest.mark.fast  # runs on both stacks (see pyproject.toml)

@pytest.fixture
def throwaway_model():
    @registry.register(summary="two convolutions and a softmax (a throwaway example)", year=2026)
    def tiny_cnn(input_shape=(28, 28, 1), num_classes=10):
        """A throwaway model: conv 8, conv 16, global average pooling, softmax."""
        inputs = keras.Input(input_shape)
        x = keras.layers.Conv2D(8, 3, activation="relu")(inputs)
        x = keras.layers.Conv2D(16, 3, activation="relu")(x)
        x = keras.layers.GlobalAveragePooling2D()(x)
        return keras.Model(inputs, keras.layers.Dense(num_classes, activation="softmax")(x), name="tiny_cnn")

    yield "tiny_cnn"
    registry._REGISTRY.pop("tiny_cnn")


def test_a_new_model_is_one_registered_function(throwaway_model, capsys):
    assert throwaway_model in list_models("tiny*") and get_spec(throwaway_model).year == 2026
    model = build(throwaway_model, input_shape=(28, 28, 1), num_classes=10)
    assert model.count_params() == 8 * 9 + 8 + 16 * 8 * 9 + 16 + 16 * 10 + 10
    capsys.readouterr()
    assert cli.main(["models"]) == 0
    assert any(line.startswith("tiny_cnn ") for line in capsys.readouterr().out.splitlines())


@pytest.fixture
def throwaway_dataset(monkeypatch):
    record = data_registry.DatasetSpec(
        name="digits_again", summary="scikit-learn's digits once more (a throwaway example)",
        class_names=data_registry.DIGITS, native_shape=(28, 28, 1), default_epochs=3, max_images=1_797,
        reader="cnnkit.data.images:digits_splits",
    )  # fmt: skip
    monkeypatch.setitem(data_registry.DATASETS, record.name, record)
    return record.name


def test_a_new_dataset_is_one_record(throwaway_dataset, capsys, tmp_path, monkeypatch):
    assert throwaway_dataset in data_registry.list_datasets()
    data = load_dataset(throwaway_dataset, batch_size=64)
    assert data.info.num_examples["test"] == 270 and data.info.class_names == data_registry.DIGITS
    capsys.readouterr()
    assert cli.main(["datasets"]) == 0
    assert any(line.startswith("digits_again ") for line in capsys.readouterr().out.splitlines())
    monkeypatch.chdir(tmp_path)
    assert cli.main(["train", "lenet5", "--dataset", throwaway_dataset, "--out", "run"]) == 0
    assert (tmp_path / "run" / "metrics.json").is_file()


def test_every_image_record_names_a_reader_that_exists():
    import importlib

    for name, spec in data_registry.DATASETS.items():
        if spec.kind in ("images", "points", "waveforms", "characters"):  # these name their readers (or loaders)
            module, _, function = spec.reader.partition(":")
            assert callable(getattr(importlib.import_module(module), function)), name
        else:
            assert spec.reader is None, name  # EEG is read by cnnkit.data.eeg, folders by cnnkit.data.folders
