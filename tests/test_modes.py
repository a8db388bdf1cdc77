"""Run modes (cnnkit.modes): smoke mode cuts every loop of cnnkit to a few batches, one fold, one
seed, one repeat; full and quick mode cut nothing."""

import keras
import numpy as np
import pytest
import tensorflow as tf

from cnnkit import evaluation, inspect, modes, recipes
from cnnkit.errors import CnnkitError
from cnnkit.training import train


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
    assert modes.run_mode() == "full" and "full mode" in modes.describe()
    monkeypatch.setenv("CNNKIT_QUICK", "1")
    assert modes.run_mode() == "quick" and "quick mode" in modes.describe()
    monkeypatch.setenv("CNNKIT_SMOKE", "1")
    with pytest.raises(CnnkitError, match="both set"):
        modes.run_mode()
    monkeypatch.setenv("CNNKIT_QUICK", "0")
    assert modes.run_mode() == "smoke" and modes.describe().startswith("smoke mode (CNNKIT_SMOKE=1)")


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


@pytest.mark.parametrize("mode", ["smoke", "full"])
def test_training_and_prediction_are_cut_only_in_smoke_mode(mode, request):
    request.getfixturevalue(mode)
    counter = BatchCounter()
    history = train(tiny_model(), batches(10), batches(7), epochs=4, verbose=0, callbacks=[counter])
    predictions = evaluation.predict(tiny_model(), batches(9, size=5))
    if mode == "smoke":
        assert len(history) == 1 and counter.train_batches == modes.SMOKE_BATCHES
        assert counter.validation_batches == modes.SMOKE_BATCHES
        assert len(predictions.y_true) == modes.SMOKE_BATCHES * 5
    else:
        assert len(history) == 4 and counter.train_batches == 40 and counter.validation_batches == 28
        assert len(predictions.y_true) == 45


@pytest.mark.parametrize("mode", ["smoke", "full"])
def test_folds_seeds_and_repeats_are_cut_only_in_smoke_mode(mode, request, digits):
    request.getfixturevalue(mode)
    x, y = np.arange(40.0).reshape(20, 2), np.arange(20) % 2
    folds = evaluation.segment_folds(y, n_splits=4)
    scores = evaluation.cross_validate(lambda a, b, c: np.zeros(len(c), int), x, y, folds)
    runs = recipes.compare({"tiny": ("lenet5", {})}, digits, epochs=1, seeds=(0, 1), train_batches=1)
    assert len(scores) == (1 if mode == "smoke" else 4)
    assert list(runs["seed"]) == ([0] if mode == "smoke" else [0, 1])
    assert modes.repeats(range(5), keep=2) == ([0, 1] if mode == "smoke" else [0, 1, 2, 3, 4])


@pytest.mark.parametrize("mode", ["smoke", "full"])
def test_latency_times_one_pass_in_smoke_mode(mode, request, monkeypatch):
    request.getfixturevalue(mode)
    clock = iter(range(1000))  # each reading of the clock: one more second
    monkeypatch.setattr(inspect.time, "perf_counter", lambda: next(clock))
    inspect.inference_latency(tiny_model(), repeats=5)
    readings = next(clock)
    assert readings == (2 if mode == "smoke" else 10)  # two readings per timed pass
