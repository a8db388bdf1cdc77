"""Run modes (cnnkit.modes): the notebooks read the mode once and pass the budget on; smoke mode
cuts every training run and pass over a dataset through Keras' own limits, and repeated steps
through Budget.repeats; the library itself never reads the mode."""

import re
from pathlib import Path

import keras
import numpy as np
import pytest
import tensorflow as tf

import cnnkit
from cnnkit import backends, evaluation, modes, profiling, recipes
from cnnkit.errors import CnnkitError
from cnnkit.training import train


@pytest.fixture(autouse=True)
def keras_limits_restored():
    """Every test starts and ends without Keras' debugging limits, its steps compiled."""
    keras.config.set_max_epochs(None)
    keras.config.set_max_steps_per_epoch(None)
    backends.run_eagerly(False)
    yield
    keras.config.set_max_epochs(None)
    keras.config.set_max_steps_per_epoch(None)
    backends.run_eagerly(False)


@pytest.fixture
def smoke(monkeypatch):
    monkeypatch.delenv("CNNKIT_QUICK", raising=False)
    monkeypatch.setenv("CNNKIT_SMOKE", "1")


@pytest.fixture
def full(monkeypatch):
    monkeypatch.delenv("CNNKIT_QUICK", raising=False)
    monkeypatch.delenv("CNNKIT_SMOKE", raising=False)


def test_the_mode_comes_from_the_environment(monkeypatch):
    monkeypatch.delenv("CNNKIT_QUICK", raising=False)
    monkeypatch.delenv("CNNKIT_SMOKE", raising=False)
    assert modes.run_mode() == "full" and "full mode" in modes.config().describe()
    monkeypatch.setenv("CNNKIT_QUICK", "1")
    assert modes.run_mode() == "quick" and "quick mode" in modes.config().describe()
    monkeypatch.setenv("CNNKIT_SMOKE", "1")
    with pytest.raises(CnnkitError, match="both set"):
        modes.run_mode()
    monkeypatch.setenv("CNNKIT_QUICK", "0")
    assert modes.run_mode() == "smoke" and modes.config().describe().startswith("smoke mode (CNNKIT_SMOKE=1)")


@pytest.mark.parametrize("value", ["true", "Yes", " 1", "ON"])
def test_every_spelling_of_on_selects_the_mode_and_of_off_does_not(monkeypatch, value):
    monkeypatch.delenv("CNNKIT_SMOKE", raising=False)
    monkeypatch.setenv("CNNKIT_QUICK", value)
    assert modes.run_mode() == "quick"  # before cnnkit.settings, anything but "1" silently ran full mode
    monkeypatch.setenv("CNNKIT_QUICK", "false")
    assert modes.run_mode() == "full"


def test_a_setting_that_is_neither_on_nor_off_is_refused_in_one_line(monkeypatch):
    from cnnkit.files import offline
    from cnnkit.settings import SettingError

    monkeypatch.delenv("CNNKIT_SMOKE", raising=False)
    monkeypatch.setenv("CNNKIT_QUICK", "ture")
    with pytest.raises(SettingError) as caught:
        modes.run_mode()
    assert str(caught.value).startswith("CNNKIT_QUICK='ture' is neither on") and "\n" not in str(caught.value)
    monkeypatch.setenv("CNNKIT_OFFLINE", "on")
    assert offline()
    monkeypatch.setenv("CNNKIT_OFFLINE", "2")
    with pytest.raises(SettingError, match="CNNKIT_OFFLINE='2'"):
        offline()


def batches(count, size=4, seed=0):
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(count * size, 6)).astype("float32")
    y = (x[:, 0] > 0).astype("int32")
    return tf.data.Dataset.from_tensor_slices((x, y)).batch(size)


def tiny_model():
    inputs = keras.Input((6,))
    return keras.Model(inputs, keras.layers.Dense(2, activation="softmax")(inputs))


class BatchCounter(keras.callbacks.Callback):
    def __init__(self):
        super().__init__()
        self.train_batches, self.validation_batches = 0, 0

    def on_train_batch_end(self, batch, logs=None):
        self.train_batches += 1

    def on_test_batch_end(self, batch, logs=None):
        self.validation_batches += 1


def count_training_and_prediction():
    counter = BatchCounter()
    history = train(tiny_model(), batches(10), batches(7), epochs=4, verbose=0, callbacks=[counter])
    predictions = evaluation.predict(tiny_model(), batches(9, size=5))
    return len(history), counter.train_batches, counter.validation_batches, len(predictions.y_true)


@pytest.mark.parametrize("mode", ["smoke", "full"])
def test_the_notebooks_budget_cuts_training_and_prediction_only_in_smoke_mode(mode, request):
    request.getfixturevalue(mode)
    budget = modes.config()  # what a notebook's parameters cell does
    epochs, train_batches, validation_batches, predicted = count_training_and_prediction()
    if mode == "smoke":
        assert (budget.max_epochs, budget.max_batches) == (1, modes.SMOKE_BATCHES)
        assert keras.config.max_epochs() == 1 and keras.config.max_steps_per_epoch() == modes.SMOKE_BATCHES
        assert epochs == 1 and train_batches == modes.SMOKE_BATCHES
        assert validation_batches == modes.SMOKE_BATCHES
        assert predicted == modes.SMOKE_BATCHES * 5
        assert backends.runs_eagerly() and tf.config.functions_run_eagerly()  # no graph traced for one batch
    else:
        assert keras.config.max_epochs() is None and keras.config.max_steps_per_epoch() is None
        assert not backends.runs_eagerly()
        assert (epochs, train_batches, validation_batches, predicted) == (4, 40, 28, 45)


def test_the_library_never_reads_the_mode(smoke, digits, monkeypatch):
    # CNNKIT_SMOKE=1 is set, but no notebook asked for the budget: every call does what it says.
    epochs, train_batches, validation_batches, predicted = count_training_and_prediction()
    assert (epochs, train_batches, validation_batches, predicted) == (4, 40, 28, 45)
    x, y = np.arange(40.0).reshape(20, 2), np.arange(20) % 2
    folds = evaluation.segment_folds(y, n_splits=4)
    assert len(evaluation.cross_validate(lambda a, b, c: np.zeros(len(c), int), x, y, folds)) == 4
    runs = recipes.compare({"tiny": ("lenet5", {})}, digits, epochs=1, seeds=(0, 1), train_batches=1)
    assert list(runs["seed"]) == [0, 1]
    clock = iter(range(1000))  # each reading of the clock: one more second
    monkeypatch.setattr(profiling.time, "perf_counter", lambda: next(clock))
    profiling.inference_latency(tiny_model(), repeats=5)
    assert next(clock) == 10  # two readings per timed pass, five passes


def test_no_module_but_modes_reads_the_mode():
    package = Path(cnnkit.__file__).parent
    readers = []
    for path in sorted(package.rglob("*.py")):
        if path.name == "modes.py" and path.parent == package:
            continue
        text = path.read_text()
        if re.search(r"CNNKIT_(SMOKE|QUICK)|from cnnkit import .*\bmodes\b|cnnkit\.modes|import modes", text):
            readers.append(path.relative_to(package))
    assert readers == []


@pytest.mark.parametrize("mode", ["smoke", "full"])
def test_folds_seeds_and_passes_are_cut_by_the_budget_only_in_smoke_mode(mode, request, digits, monkeypatch):
    request.getfixturevalue(mode)
    budget = modes.config(apply=False)
    x, y = np.arange(40.0).reshape(20, 2), np.arange(20) % 2
    folds = evaluation.segment_folds(y, n_splits=4)
    scores = evaluation.cross_validate(lambda a, b, c: np.zeros(len(c), int), x, y, budget.repeats(folds))
    runs = recipes.compare({"tiny": ("lenet5", {})}, digits, epochs=1, seeds=budget.repeats((0, 1)), train_batches=1)
    assert len(scores) == (1 if mode == "smoke" else 4)
    assert list(runs["seed"]) == ([0] if mode == "smoke" else [0, 1])
    assert budget.repeats(range(5)) == ([0] if mode == "smoke" else [0, 1, 2, 3, 4])
    assert budget.epochs(20) == (1 if mode == "smoke" else 20)
    clock = iter(range(1000))
    monkeypatch.setattr(profiling.time, "perf_counter", lambda: next(clock))
    profiling.inference_latency(tiny_model(), repeats=len(budget.repeats(range(5))))
    assert next(clock) == (2 if mode == "smoke" else 10)  # two readings per timed pass


def test_precise_batch_norm_stops_where_keras_loops_stop(digits):
    model = cnnkit.build("resnet_cifar", depth=8, input_shape=(28, 28, 1), num_classes=10)
    assert recipes.reestimate_batch_norm(model, digits.train, batches=5) == 5
    keras.config.set_max_steps_per_epoch(2)
    assert recipes.reestimate_batch_norm(model, digits.train, batches=5) == 2
    assert evaluation.batch_limit(4) == 4 and evaluation.batch_limit() == 2
