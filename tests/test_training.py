"""The training helper: compiling, histories, repeatability, checkpoints, resuming after a kill."""

import json
import os
import signal
import subprocess
import sys
import textwrap

import keras
import pandas as pd
import pytest

from cnnkit.data import load_dataset
from cnnkit.distribute import get_strategy, training_scope
from cnnkit.errors import RunExistsError
from cnnkit.models import build
from cnnkit.models.losses import LeNetRBFLoss
from cnnkit.seed import set_seed
from cnnkit.training import train


def small(dataset, batches=4):
    return dataset.take(batches)


def test_train_compiles_and_returns_the_history_as_a_dataframe(digits):
    set_seed(0)
    model = build("lenet5", activation="relu")
    history = train(model, small(digits.train), small(digits.validation), epochs=2, verbose=0)
    assert isinstance(history, pd.DataFrame)
    assert list(history.index) == [0, 1] and history.index.name == "epoch"
    assert {"loss", "accuracy", "val_loss", "val_accuracy"} <= set(history.columns)
    assert isinstance(model.loss, keras.losses.SparseCategoricalCrossentropy)


def test_rbf_models_get_the_paper_loss_and_an_argmin_accuracy(digits_32):
    set_seed(0)
    model = build("lenet5_classic")
    history = train(model, small(digits_32.train, 8), small(digits_32.validation), epochs=2, verbose=0)
    assert isinstance(model.loss, LeNetRBFLoss)
    assert history["loss"].iloc[-1] < history["loss"].iloc[0]
    # the accuracy Keras logs is the smallest penalty's class (argmin), counted again here from the outputs
    import numpy as np

    images, labels = zip(*small(digits_32.validation).as_numpy_iterator(), strict=True)
    penalties = model.predict(np.concatenate(images), verbose=0)
    expected = (penalties.argmin(axis=1) == np.concatenate(labels)).mean()
    assert history["val_accuracy"].iloc[-1] == pytest.approx(expected, abs=1e-6)


def test_the_same_seed_gives_the_same_metrics(digits):
    def run():
        set_seed(123)
        data = load_dataset("digits", batch_size=64, seed=123)
        model = build("lenet5", activation="relu")
        return train(model, small(data.train), small(data.validation), epochs=2, verbose=0)

    first, second = run(), run()
    assert (first["epoch_seconds"] > 0).all()  # wall time: the one column that may differ
    pd.testing.assert_frame_equal(first.drop(columns="epoch_seconds"), second.drop(columns="epoch_seconds"))


def test_out_dir_gets_checkpoint_log_and_finished_marker(digits, tmp_path):
    set_seed(0)
    model = build("lenet5", activation="relu")
    history = train(
        model, small(digits.train), small(digits.validation), epochs=3, out_dir=tmp_path, verbose=0
    )
    assert sorted(p.name for p in tmp_path.iterdir()) == [".lock", "history.csv", "model.keras", "run.json"]
    logged = pd.read_csv(tmp_path / "history.csv").set_index("epoch")
    pd.testing.assert_series_equal(logged["val_loss"], history["val_loss"], check_exact=False)
    best = keras.saving.load_model(tmp_path / "model.keras", safe_mode=True)
    best_loss = best.evaluate(small(digits.validation), verbose=0, return_dict=True)["loss"]
    assert best_loss == pytest.approx(history["val_loss"].min(), rel=1e-4)
    assert json.loads((tmp_path / "run.json").read_text())["epochs"] == 3
    # A finished run is never overwritten.
    with pytest.raises(RunExistsError, match="already holds a finished run"):
        train(build("lenet5"), small(digits.train), epochs=1, out_dir=tmp_path, verbose=0)


def test_a_compiled_model_refuses_compile_arguments(digits):
    model = build("lenet5")
    model.compile(optimizer="sgd", loss="sparse_categorical_crossentropy")
    with pytest.raises(ValueError, match="already compiled"):
        train(model, small(digits.train), epochs=1, loss="mse")


def test_early_stopping_needs_validation_data(digits):
    with pytest.raises(ValueError, match="needs validation_data"):
        train(build("lenet5"), small(digits.train), epochs=2, early_stopping_patience=1)
    with pytest.raises(ValueError, match="positive integer"):
        train(build("lenet5"), small(digits.train), epochs=0)


def test_early_stopping_stops_and_keeps_the_best_weights(digits):
    set_seed(0)
    model = build("lenet5", activation="relu")
    # A learning rate this large makes validation loss worse soon, so training stops early.
    history = train(model, small(digits.train), small(digits.validation), epochs=30,
                    learning_rate=0.5, early_stopping_patience=2, verbose=0)  # fmt: skip
    assert len(history) < 30
    final = model.evaluate(small(digits.validation), verbose=0, return_dict=True)["loss"]
    assert final == pytest.approx(history["val_loss"].min(), rel=1e-4)


def test_early_stopping_watches_the_metric_it_is_given_and_knows_which_way_is_better(digits, monkeypatch):
    watched = []

    class Recorded(keras.callbacks.EarlyStopping):
        def on_epoch_end(self, epoch, logs=None):
            super().on_epoch_end(epoch, logs)  # Keras decides the direction at the first epoch's end
            watched.append((self.monitor, self.monitor_op))

    monkeypatch.setattr(keras.callbacks, "EarlyStopping", Recorded)
    set_seed(0)
    train(build("lenet5"), small(digits.train), small(digits.validation), epochs=2, early_stopping_patience=1,
          early_stopping_monitor="val_accuracy", verbose=0)  # fmt: skip
    assert watched == [("val_accuracy", keras.ops.greater)] * 2
    # cnnkit's own metrics say that higher is better, as Keras' accuracy does: SI-SNRi (a Mean), and
    # macro F1 and Dice (built on Keras' IoU)
    from cnnkit.segmentation import MeanDice
    from cnnkit.separation import SiSnrImprovement
    from cnnkit.tagging import MacroF1

    assert all(m._direction == "up" for m in (SiSnrImprovement(), MacroF1(num_classes=3), MeanDice(num_classes=3, target_class_ids=[1, 2])))


def test_get_strategy_without_accelerators_is_the_default_strategy(monkeypatch):
    import tensorflow as tf

    for name in ("TF_CONFIG", "COLAB_TPU_ADDR", "TPU_NAME"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setattr("glob.glob", lambda pattern: [])
    assert get_strategy() is tf.distribute.get_strategy()


@pytest.mark.parametrize(
    ("env", "devices", "address"),
    [
        ({"COLAB_TPU_ADDR": "10.0.0.2:8470"}, [], "grpc://10.0.0.2:8470"),  # older Colab runtimes
        ({"TPU_NAME": "my-tpu"}, [], "my-tpu"),  # Cloud TPU
        ({}, ["/dev/accel0"], "local"),  # a TPU VM (today's Colab TPU runtimes)
    ],
)
def test_get_strategy_finds_a_tpu_without_any_network_lookup(env, devices, address, monkeypatch):
    import tensorflow as tf

    for name in ("TF_CONFIG", "COLAB_TPU_ADDR", "TPU_NAME"):
        monkeypatch.delenv(name, raising=False)
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    monkeypatch.setattr("glob.glob", lambda pattern: devices if pattern == "/dev/accel*" else [])
    calls = []
    monkeypatch.setattr(tf.distribute.cluster_resolver, "TPUClusterResolver", lambda tpu: calls.append(tpu) or "resolver")
    monkeypatch.setattr(tf.config, "experimental_connect_to_cluster", lambda r: calls.append(("connect", r)))
    monkeypatch.setattr(tf.tpu.experimental, "initialize_tpu_system", lambda r: calls.append(("init", r)))
    monkeypatch.setattr(tf.distribute, "TPUStrategy", lambda r: ("TPUStrategy", r))
    assert get_strategy() == ("TPUStrategy", "resolver")
    assert calls == [address, ("connect", "resolver"), ("init", "resolver")]


def test_get_strategy_reads_a_multi_worker_tf_config(monkeypatch):
    import json as json_

    import tensorflow as tf

    monkeypatch.delenv("COLAB_TPU_ADDR", raising=False)
    monkeypatch.delenv("TPU_NAME", raising=False)
    monkeypatch.setattr("glob.glob", lambda pattern: [])
    monkeypatch.setattr(tf.distribute, "MultiWorkerMirroredStrategy", lambda: "multi-worker")
    cluster = {"cluster": {"worker": ["127.0.0.1:12345", "127.0.0.1:12346"]}, "task": {"type": "worker", "index": 0}}
    monkeypatch.setenv("TF_CONFIG", json_.dumps(cluster))
    assert get_strategy() == "multi-worker"
    cluster["cluster"]["worker"] = cluster["cluster"]["worker"][:1]  # one worker: nothing to distribute
    monkeypatch.setenv("TF_CONFIG", json_.dumps(cluster))
    assert get_strategy() is tf.distribute.get_strategy()


def test_training_scope_picks_precision_and_restores_the_policy():
    before = keras.config.dtype_policy().name
    with training_scope(mixed_precision=True):
        model = build("lenet5")
    assert keras.config.dtype_policy().name == before
    assert model.get_layer("C1").dtype_policy.name == "mixed_float16"
    assert model.get_layer("OUTPUT").dtype_policy.name == "float32"  # outputs stay float32
    with training_scope():  # no GPU here: float32
        assert keras.config.dtype_policy().name == "float32"


class StopAtEpoch(keras.callbacks.Callback):
    """Interrupts training (as Ctrl-C would) when ``epoch`` begins."""

    def __init__(self, epoch):
        super().__init__()
        self.stop_epoch = epoch

    def on_epoch_begin(self, epoch, logs=None):
        if epoch == self.stop_epoch:
            raise KeyboardInterrupt


def test_a_resumed_run_keeps_the_best_model_from_before_the_interruption(digits, tmp_path):
    set_seed(0)
    train_data, validation_data = digits.train.take(20), small(digits.validation)
    with pytest.raises(KeyboardInterrupt):
        train(build("lenet5", activation="relu"), train_data, validation_data,
              epochs=5, out_dir=tmp_path, callbacks=[StopAtEpoch(3)], verbose=0)  # fmt: skip
    before = keras.saving.load_model(tmp_path / "model.keras", safe_mode=True)
    before_loss = before.evaluate(validation_data, verbose=0, return_dict=True)["loss"]
    # Resume on deliberately wrong labels: the two remaining epochs get worse.
    wrong_labels = train_data.map(lambda x, y: (x, (y + 1) % 10))
    history = train(build("lenet5", activation="relu"), wrong_labels, validation_data,
                    epochs=5, out_dir=tmp_path, verbose=0)  # fmt: skip
    assert list(history.index) == [0, 1, 2, 3, 4]
    assert history["val_loss"].iloc[3:].min() > history["val_loss"].iloc[:3].min()
    after = keras.saving.load_model(tmp_path / "model.keras", safe_mode=True)
    after_loss = after.evaluate(validation_data, verbose=0, return_dict=True)["loss"]
    assert after_loss == pytest.approx(before_loss, rel=1e-6)
    assert after_loss == pytest.approx(history["val_loss"].min(), rel=1e-4)


def test_a_run_interrupted_in_its_first_epoch_starts_again(digits, tmp_path):
    with pytest.raises(KeyboardInterrupt):
        train(build("lenet5"), small(digits.train), small(digits.validation), epochs=2,
              out_dir=tmp_path, callbacks=[StopAtEpoch(0)], verbose=0)  # fmt: skip
    history = train(build("lenet5"), small(digits.train), small(digits.validation), epochs=2,
                    out_dir=tmp_path, verbose=0)  # fmt: skip
    assert list(history.index) == [0, 1] and (tmp_path / "run.json").exists()


RESUMABLE_RUN = textwrap.dedent(
    """
    import os, sys
    import keras
    from cnnkit.data import load_dataset
    from cnnkit.models import build
    from cnnkit.seed import set_seed
    from cnnkit.training import train

    out, kill_at = sys.argv[1], int(sys.argv[2])

    class KillDuringEpoch(keras.callbacks.Callback):
        def on_epoch_begin(self, epoch, logs=None):
            self.epoch = epoch
            with open(os.path.join(out, "..", "epochs_started.txt"), "a") as log:
                log.write(f"{epoch}\\n")
        def on_train_batch_end(self, batch, logs=None):
            if self.epoch == kill_at and batch == 2:
                os.kill(os.getpid(), 9)  # SIGKILL: no clean-up, as when a machine dies

    set_seed(0)
    data = load_dataset("digits", batch_size=128)
    train(build("lenet5", activation="relu"), data.train.take(5), data.validation.take(2),
          epochs=4, out_dir=out, callbacks=[KillDuringEpoch()], verbose=0)
    """
)


def test_a_killed_run_resumes_and_loses_at_most_the_epoch_in_progress(tmp_path):
    script = tmp_path / "run.py"
    script.write_text(RESUMABLE_RUN)
    out = tmp_path / "run"
    env = {**os.environ, "PYTHONPATH": os.getcwd()}
    killed = subprocess.run([sys.executable, str(script), str(out), "2"], env=env, capture_output=True)
    assert killed.returncode == -signal.SIGKILL, killed.stderr.decode()[-2000:]
    assert (out / "backup").is_dir() and not (out / "run.json").exists()
    resumed = subprocess.run([sys.executable, str(script), str(out), "99"], env=env, capture_output=True)
    assert resumed.returncode == 0, resumed.stderr.decode()[-2000:]
    started = [int(line) for line in (tmp_path / "epochs_started.txt").read_text().split()]
    assert started == [0, 1, 2, 2, 3]  # epoch 2 was lost in the kill and run again; nothing else
    history = pd.read_csv(out / "history.csv")
    assert sorted(set(history["epoch"])) == [0, 1, 2, 3]
    assert not (out / "backup").exists() and (out / "run.json").exists()
    # model.keras is the best model over all epochs, before and after the kill.
    best = keras.saving.load_model(out / "model.keras", safe_mode=True)
    data = load_dataset("digits", batch_size=128)
    best_loss = best.evaluate(data.validation.take(2), verbose=0, return_dict=True)["loss"]
    assert best_loss == pytest.approx(history["val_loss"].min(), rel=1e-4)


def test_get_strategy_asks_for_multi_worker_set_up_before_tensorflow_is_used(monkeypatch):
    import json as json_

    import tensorflow as tf

    from cnnkit.errors import CnnkitError

    def too_late():
        raise RuntimeError("Collective ops must be configured at program startup")

    monkeypatch.delenv("COLAB_TPU_ADDR", raising=False)
    monkeypatch.delenv("TPU_NAME", raising=False)
    monkeypatch.setattr("glob.glob", lambda pattern: [])
    monkeypatch.setattr(tf.distribute, "MultiWorkerMirroredStrategy", too_late)
    cluster = {"cluster": {"worker": ["127.0.0.1:12345", "127.0.0.1:12346"]}, "task": {"type": "worker", "index": 1}}
    monkeypatch.setenv("TF_CONFIG", json_.dumps(cluster))
    with pytest.raises(CnnkitError, match="before loading data"):
        get_strategy()


class FakeResolver:
    def __init__(self, task_type, task_id, cluster):
        self.task_type, self.task_id, self._cluster = task_type, task_id, cluster

    def cluster_spec(self):
        from types import SimpleNamespace

        return SimpleNamespace(as_dict=lambda: self._cluster)


@pytest.mark.parametrize(
    ("task_type", "task_id", "cluster", "chief"),
    [
        ("worker", 0, {"worker": ["a", "b"]}, True),  # no chief task: worker 0 is the chief
        ("worker", 1, {"worker": ["a", "b"]}, False),
        ("chief", 0, {"chief": ["c"], "worker": ["a"]}, True),
        ("worker", 0, {"chief": ["c"], "worker": ["a"]}, False),
        ("evaluator", 0, {"worker": ["a", "b"], "evaluator": ["e"]}, False),
    ],
)
def test_is_chief_follows_tensorflows_convention(task_type, task_id, cluster, chief, monkeypatch):
    import tensorflow as tf

    from cnnkit.distribute import is_chief

    class FakeMultiWorker:
        cluster_resolver = FakeResolver(task_type, task_id, cluster)

    monkeypatch.setattr(tf.distribute, "MultiWorkerMirroredStrategy", FakeMultiWorker)
    assert is_chief(FakeMultiWorker()) is chief
    assert is_chief(tf.distribute.get_strategy()) is True  # one process: it writes


def test_a_non_chief_worker_trains_without_writing_the_run_folder(tmp_path, monkeypatch):
    import cnnkit.training

    data = load_dataset("digits", batch_size=32)
    set_seed(0)
    model = build("lenet5", input_shape=data.info.input_shape, num_classes=data.info.num_classes)
    monkeypatch.setattr(cnnkit.training, "is_chief", lambda strategy=None: False)
    history = train(model, small(data.train), small(data.validation), epochs=2, out_dir=tmp_path / "run", verbose=0)
    assert len(history) == 2 and not (tmp_path / "run").exists()
    monkeypatch.setattr(cnnkit.training, "is_chief", lambda strategy=None: True)
    train(build("lenet5", input_shape=data.info.input_shape, num_classes=data.info.num_classes),
          small(data.train), epochs=1, out_dir=tmp_path / "run", verbose=0)  # fmt: skip
    assert (tmp_path / "run" / "run.json").is_file()


def test_the_best_checkpoint_direction_is_said_not_guessed(tmp_path):
    from cnnkit.callbacks import AtomicBestCheckpoint
    from cnnkit.runs import best_epoch

    logged = pd.DataFrame({"val_accuracy": [0.5, 0.9, 0.7], "val_acc_penalty": [3.0, 1.0, 2.0]},
                          index=pd.Index([0, 1, 2], name="epoch"))  # fmt: skip
    assert best_epoch(logged, "val_accuracy", "max") == (1, 0.9)
    assert best_epoch(logged, "val_acc_penalty", "min") == (1, 1.0)  # "acc" in the name: still a minimum
    with pytest.raises(ValueError, match="'min' or 'max'"):
        AtomicBestCheckpoint(tmp_path / "m.keras", mode="best")
    model = keras.Sequential([keras.Input((2,)), keras.layers.Dense(2, activation="softmax")])
    for monitor, mode, values, saves in [("val_accuracy", "max", [0.5, 0.9, 0.7], 2),
                                         ("val_acc_penalty", "min", [3.0, 1.0, 2.0], 2),
                                         ("val_acc_penalty", "min", [1.0, 2.0, 3.0], 1)]:  # fmt: skip
        path = tmp_path / f"{monitor}-{mode}-{values[0]}.keras"
        checkpoint = AtomicBestCheckpoint(path, monitor=monitor, mode=mode)
        checkpoint.set_model(model)
        written = []
        for epoch, value in enumerate(values):
            before = path.stat().st_ino if path.exists() else None  # os.replace: a new inode per save
            checkpoint.on_epoch_end(epoch, {monitor: value})
            written.append(path.exists() and path.stat().st_ino != before)
        assert sum(written) == saves and checkpoint.best == best_epoch(
            pd.DataFrame({monitor: values}), monitor, mode)[1]
