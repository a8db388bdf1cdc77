"""Train a Keras model with sensible defaults and a run folder that survives interruptions.

Typical use::

    with training_scope() as strategy:         # picks CPU / one GPU / several GPUs / TPU
        model = build("lenet5")
    history = train(model, data.train, data.validation, epochs=20, out_dir="runs/lenet5")

With ``out_dir`` the run writes, atomically where it matters:

- ``model.keras``: the best model so far (lowest validation loss), saved after each epoch
  that improves it;
- ``history.csv``: one row per finished epoch (Keras' ``CSVLogger``);
- ``backup/``: Keras' ``BackupAndRestore`` state (the last two epochs), removed when training
  ends. If the process is killed, calling ``train`` again with the same ``out_dir`` resumes
  from the last finished epoch, losing at most the epoch that was in progress. A backup
  damaged by a kill during its own write falls back to the previous epoch's copy, and when
  neither can be read, to the best checkpoint ``model.keras`` (with a warning);
- ``.lock``: held while a process trains into the folder; a second process is refused at
  once (:func:`cnnkit.files.folder_lock`);
- ``run.json``: written last; its presence marks a finished run, which ``train`` will not
  overwrite.

Under ``MultiWorkerMirroredStrategy`` (several machines, :func:`get_strategy`) only the chief
(task ``chief``, or ``worker`` 0 when there is no chief) writes the run folder; the other
workers train without one (:func:`is_chief`). Keras 3's ``fit`` itself does not yet run under
that strategy (keras-team/keras#20585: it fails averaging the first distributed batch, and with
that step bypassed, inside the training step), so multi-machine training waits for that fix.

A loss that becomes NaN or infinite stops training at once with
:class:`~cnnkit.errors.TrainingDivergedError`, before the broken weights reach the checkpoint
or the backup.
"""

from __future__ import annotations

import contextlib
import glob
import json
import math
import os
import shutil
import time
import warnings
import zipfile
from collections.abc import Iterator, Sequence
from pathlib import Path

import keras
import numpy as np
import pandas as pd
import tensorflow as tf

from cnnkit.errors import CnnkitError, DiskFullError, RunDamagedError, RunExistsError, TrainingDivergedError
from cnnkit.files import (
    atomic_path,
    folder_lock,
    is_disk_full,
    megabytes,
    read_hdf5_fully,
    remove_orphaned_temporaries,
    require_free_space,
    write_json,
)
from cnnkit.models.losses import LeNetRBFLoss, penalty_accuracy_metric, predicts_penalties


def _tpu_address() -> str | None:
    """Where a TPU is, without any network look-up: ``"local"`` on a TPU VM (today's Colab TPU
    runtimes, with ``/dev/accel*`` devices), the address in ``COLAB_TPU_ADDR`` (older Colab
    runtimes) or ``TPU_NAME`` (Cloud TPU), else ``None``."""
    if os.environ.get("COLAB_TPU_ADDR"):
        return "grpc://" + os.environ["COLAB_TPU_ADDR"]
    if os.environ.get("TPU_NAME"):
        return os.environ["TPU_NAME"]
    if glob.glob("/dev/accel*"):
        return "local"
    return None


def get_strategy() -> tf.distribute.Strategy:
    """The ``tf.distribute`` strategy that fits this machine.

    A ``TF_CONFIG`` describing several workers gives ``MultiWorkerMirroredStrategy``; a TPU
    (see :func:`_tpu_address`) gives ``TPUStrategy``; two or more GPUs give
    ``MirroredStrategy``; otherwise the default strategy (one GPU, or the CPU).
    """
    address = _tpu_address()
    if os.environ.get("TF_CONFIG") and address is None:
        cluster = json.loads(os.environ["TF_CONFIG"]).get("cluster", {})
        if sum(len(tasks) for tasks in cluster.values()) > 1:
            try:
                return tf.distribute.MultiWorkerMirroredStrategy()
            except RuntimeError as error:
                if "program startup" not in str(error):
                    raise
                raise CnnkitError(
                    "TF_CONFIG asks for several workers, but TensorFlow was already in use in this process: "
                    "call get_strategy() (or enter training_scope()) before loading data or building models."
                ) from None
    if address is not None:
        resolver = tf.distribute.cluster_resolver.TPUClusterResolver(tpu=address)
        tf.config.experimental_connect_to_cluster(resolver)
        tf.tpu.experimental.initialize_tpu_system(resolver)
        return tf.distribute.TPUStrategy(resolver)
    if len(tf.config.list_logical_devices("GPU")) > 1:
        return tf.distribute.MirroredStrategy()
    return tf.distribute.get_strategy()


def is_chief(strategy: tf.distribute.Strategy | None = None) -> bool:
    """False only in a non-chief worker of a multi-worker strategy: the process that must not
    write the run folder. The chief is task ``chief``, or ``worker`` 0 when the cluster has no
    chief (TensorFlow's convention). ``strategy`` defaults to the current one."""
    strategy = strategy or tf.distribute.get_strategy()
    if not isinstance(strategy, tf.distribute.MultiWorkerMirroredStrategy):
        return True
    resolver = strategy.cluster_resolver
    if resolver.task_type in (None, "chief"):
        return True
    has_chief = "chief" in resolver.cluster_spec().as_dict()
    return resolver.task_type == "worker" and resolver.task_id == 0 and not has_chief


@contextlib.contextmanager
def training_scope(
    mixed_precision: bool | None = None, strategy: tf.distribute.Strategy | None = None
) -> Iterator[tf.distribute.Strategy]:
    """Build your model inside this block so that it trains on the right devices.

    Yields the strategy (see :func:`get_strategy`, or pass your own). ``mixed_precision``:
    ``True`` builds the model with float16 compute and float32 weights (``mixed_float16``),
    ``False`` keeps float32, ``None`` (default) uses mixed precision only when a GPU is
    present. The global dtype policy is restored on leaving the block; the model keeps its
    own. Output layers of cnnkit's builders always compute in float32.
    """
    strategy = strategy or get_strategy()
    if mixed_precision is None:
        mixed_precision = bool(tf.config.list_logical_devices("GPU"))
    previous = keras.config.dtype_policy()
    keras.config.set_dtype_policy("mixed_float16" if mixed_precision else "float32")
    try:
        with strategy.scope():
            yield strategy
    finally:
        keras.config.set_dtype_policy(previous)


def default_loss_and_metrics(model: keras.Model):
    """The loss and metrics ``train`` compiles with when the model is not compiled yet.

    Penalty outputs (LeNet-5's RBF layer) use :class:`LeNetRBFLoss` and an argmin accuracy;
    probability outputs use sparse categorical cross-entropy and accuracy. Labels are
    integer class indices in both cases.
    """
    if predicts_penalties(model):
        return LeNetRBFLoss(), [penalty_accuracy_metric()]
    return keras.losses.SparseCategoricalCrossentropy(), ["accuracy"]


def best_epoch(logged: pd.DataFrame, monitor: str, mode: str) -> tuple[int, float]:
    """``(epoch, value)`` of the best logged epoch: the lowest ``monitor`` for ``mode="min"``,
    the highest for ``"max"``. The one rule that saving and resuming share."""
    if mode not in ("min", "max"):
        raise ValueError(f"mode must be 'min' or 'max', got {mode!r}.")
    epoch = logged[monitor].idxmin() if mode == "min" else logged[monitor].idxmax()
    return int(epoch), float(logged.loc[epoch, monitor])


class AtomicBestCheckpoint(keras.callbacks.Callback):
    """Save the whole model to ``filepath`` whenever ``monitor`` improves, atomically.

    ``mode``: ``"min"`` (a loss: lower is better) or ``"max"`` (an accuracy), said explicitly
    rather than guessed from the metric's name; a resumed run uses the same rule
    (:func:`best_epoch`). Unlike writing in place, a crash during saving never leaves a broken
    ``.keras`` file: the model goes to a temporary file that then replaces the previous best.
    """

    def __init__(self, filepath, monitor: str = "val_loss", mode: str = "min", initial_best: float | None = None):
        super().__init__()
        if mode not in ("min", "max"):
            raise ValueError(f"mode must be 'min' or 'max', got {mode!r}.")
        self.filepath = Path(filepath)
        self.monitor = monitor
        self.mode = mode
        self.best = initial_best  # a resumed run passes the best value logged before the stop

    def on_epoch_end(self, epoch, logs=None):
        value = (logs or {}).get(self.monitor)
        if value is None or not math.isfinite(value):  # a NaN model is never "the best"
            return
        better = self.best is None or (value > self.best if self.mode == "max" else value < self.best)
        if better:
            self.best = value
            with atomic_path(self.filepath) as temporary:
                self.model.save(temporary)


class EpochTimer(keras.callbacks.Callback):
    """Adds ``epoch_seconds`` (wall time of the epoch, validation included) to the epoch logs."""

    def on_epoch_begin(self, epoch, logs=None):
        self.started = time.perf_counter()

    def on_epoch_end(self, epoch, logs=None):
        if logs is not None:
            logs["epoch_seconds"] = time.perf_counter() - self.started


class StopOnNonFiniteLoss(keras.callbacks.Callback):
    """Raise :class:`TrainingDivergedError` as soon as a batch's loss is NaN or infinite.

    Raising (rather than Keras' graceful stop) ends ``fit`` before ``on_epoch_end``, so the
    diverged epoch never reaches the CSV log, the best checkpoint or the backup: the run folder
    keeps the state of the last good epoch.
    """

    def __init__(self, advice: str = ""):
        super().__init__()
        self.advice = advice
        self.epoch = 0

    def on_epoch_begin(self, epoch, logs=None):
        self.epoch = epoch

    def on_train_batch_end(self, batch, logs=None):
        loss = (logs or {}).get("loss")
        if loss is not None and not math.isfinite(float(loss)):
            raise TrainingDivergedError(
                f"The training loss became {float(loss)} in epoch {self.epoch + 1} (batch {batch + 1}), "
                f"so training stopped before saving those weights. {self.advice}"
                "Try a lower learning rate, or check the data for NaN or infinite values."
            )


BACKUP_FILES = ("latest.weights.h5", "training_metadata.json")  # Keras' names in backup/


def _readable_backup(weights: Path, metadata: Path) -> bool:
    """True when a BackupAndRestore weights file and its metadata can be read in full."""
    try:
        json.loads(metadata.read_text())["epoch"]
        read_hdf5_fully(weights)
        return True
    except Exception:  # a damaged file fails in many ways (OSError, KeyError, ValueError, ...)
        return False


def recover_backup(backup: Path) -> bool:
    """Make ``backup/`` loadable after a kill, or remove it; True when a usable backup is left.

    Keras writes ``latest.weights.h5`` and then ``training_metadata.json``; with
    ``double_checkpoint`` it first copies both to ``*.bkp``. A kill in the middle of either
    write leaves a damaged file: the previous epoch's copy replaces it. When neither copy can
    be read the folder is removed with a warning, and training resumes from the best
    checkpoint instead (see :func:`train`).
    """
    if not backup.is_dir():
        return False
    latest = [backup / name for name in BACKUP_FILES]
    previous = [backup / f"{name}.bkp" for name in BACKUP_FILES]
    if not latest[0].exists() and not previous[0].exists():
        shutil.rmtree(backup)  # killed before the first save finished: nothing to resume
        return False
    if _readable_backup(*latest):
        return True
    if _readable_backup(*previous):
        warnings.warn(
            f"{latest[0]} is damaged (the process was probably killed while writing it); "
            "resuming from the previous epoch's backup.",
            stacklevel=3,
        )
        for old, new in zip(previous, latest, strict=True):
            os.replace(old, new)
        return True
    warnings.warn(
        f"The training backup in {backup} cannot be read (damaged by a kill during its write?); "
        "removing it and resuming from the best checkpoint model.keras.",
        stacklevel=3,
    )
    shutil.rmtree(backup)
    return False


def _resume_from_checkpoint(model: keras.Model, out: Path, logged: pd.DataFrame | None, monitor: str,
                            mode: str) -> int:  # fmt: skip
    """Load the best checkpoint's weights into ``model``; returns the epoch to continue from.

    Used when the backup is gone but ``model.keras`` and the CSV log are there. The optimizer
    state of the checkpoint is loaded too when it was saved; later epochs are trained again
    (their rows in the log are replaced).
    """
    checkpoint = out / "model.keras"
    if logged is None or logged.empty or not checkpoint.is_file():
        return 0
    if model.optimizer is not None and not model.optimizer.built:
        model.optimizer.build(model.trainable_variables)
    try:
        model.load_weights(checkpoint)
    except (OSError, ValueError, KeyError, EOFError, zipfile.BadZipFile) as error:
        raise RunDamagedError(
            f"{checkpoint} is damaged ({type(error).__name__}) and the training backup in {out / 'backup'} could "
            f"not be read either, so this run cannot resume: delete {out} (or choose another folder) and train "
            "again."
        ) from error
    return best_epoch(logged, monitor, mode)[0] + 1


def read_log(csv_path: Path) -> pd.DataFrame | None:
    """The CSV log indexed by epoch, or ``None`` when no epoch has been logged yet.

    An epoch logged just before a kill and repeated after the resume appears twice in the
    file; the later row is kept.
    """
    if not csv_path.is_file() or csv_path.stat().st_size == 0:
        return None
    frame = pd.read_csv(csv_path).drop_duplicates("epoch", keep="last")
    return frame.set_index("epoch").sort_index()


def train(
    model: keras.Model,
    train_data: tf.data.Dataset,
    validation_data: tf.data.Dataset | None = None,
    *,
    epochs: int = 10,
    learning_rate: float = 1e-3,
    optimizer: keras.optimizers.Optimizer | str | None = None,
    loss=None,
    metrics: Sequence | None = None,
    out_dir: str | os.PathLike | None = None,
    early_stopping_patience: int | None = None,
    callbacks: Sequence[keras.callbacks.Callback] = (),
    jit_compile: bool | str = "auto",
    verbose: int | str = "auto",
) -> pd.DataFrame:
    """Train ``model`` and return its history as a DataFrame (one row per epoch).

    Args:
        model: a Keras model. If it is not compiled yet it is compiled with Adam at
            ``learning_rate`` and :func:`default_loss_and_metrics` (or ``optimizer``,
            ``loss`` and ``metrics`` when given). Build it inside :func:`training_scope` to
            use several GPUs, a TPU or mixed precision.
        train_data, validation_data: ``tf.data`` pipelines of ``(images, labels)`` batches.
        epochs: total number of epochs (a resumed run continues up to this number). Keras' own
            debugging limits (``KERAS_MAX_EPOCHS``, ``KERAS_MAX_STEPS_PER_EPOCH``) apply as in
            any ``fit``; nothing else shortens the run.
        out_dir: folder for the checkpoint, the CSV log and the resumable backup (see the
            module docstring). ``None`` keeps everything in memory, and so does a non-chief
            worker of a multi-worker run (:func:`is_chief`).
        early_stopping_patience: stop after this many epochs without a better validation
            loss and restore the best weights; ``None`` trains all epochs.
        callbacks: extra Keras callbacks.
        jit_compile: compile the training step with XLA (``True``), not (``False``), or let
            Keras decide (``"auto"``); used when ``train`` compiles the model.
        verbose: passed to ``model.fit`` (``"auto"`` shows a progress bar).

    Returns:
        DataFrame indexed by ``epoch`` (0-based) with columns such as ``loss``,
        ``accuracy``, ``val_loss``, ``val_accuracy``, ``learning_rate`` and
        ``epoch_seconds`` (wall time of each epoch).
    """
    if not isinstance(epochs, int) or epochs < 1:
        raise ValueError(f"epochs must be a positive integer, got {epochs!r}.")
    if early_stopping_patience is not None and validation_data is None:
        raise ValueError("early_stopping_patience needs validation_data to watch.")

    if model.compiled and (optimizer is not None or loss is not None or metrics is not None):
        raise ValueError(
            "The model is already compiled, so optimizer, loss and metrics would be ignored: "
            "pass them to model.compile() instead, or pass an uncompiled model."
        )
    if not model.compiled:
        default_loss, default_metrics = default_loss_and_metrics(model)
        with model.distribute_strategy.scope():
            model.compile(
                optimizer=optimizer or keras.optimizers.Adam(learning_rate),
                loss=loss or default_loss,
                metrics=list(metrics) if metrics is not None else default_metrics,
                jit_compile=jit_compile,
            )

    options = dict(epochs=epochs, early_stopping_patience=early_stopping_patience, callbacks=callbacks,
                   verbose=verbose)  # fmt: skip
    if out_dir is None or not is_chief(model.distribute_strategy):
        return _fit(model, train_data, validation_data, out=None, **options)
    out = Path(out_dir)
    with folder_lock(out):
        if (out / "run.json").exists():
            raise RunExistsError(
                f"{out} already holds a finished run (run.json); choose another out_dir or "
                "delete that folder to train again."
            )
        remove_orphaned_temporaries(out)  # files a killed write left behind: nobody else writes here now
        require_free_space(out, checkpoint_bytes(model), "training with its checkpoint and backups")
        return _fit(model, train_data, validation_data, out=out, **options)


def checkpoint_bytes(model: keras.Model) -> int:
    """About how many bytes a run folder needs while training ``model``: four copies of the
    weights with Adam's two moments (the best ``model.keras`` and its replacement during an
    atomic write, the backup and its previous copy), plus 8 MB for the log and the reports."""
    try:
        weights = sum(int(np.prod(v.shape)) * np.dtype(v.dtype).itemsize for v in model.weights)
    except (TypeError, ValueError):  # a model that is not built yet has no weights to count
        weights = 0
    return 4 * 3 * weights + 8_000_000


def _fit(model, train_data, validation_data, *, out, epochs, early_stopping_patience, callbacks,
         verbose) -> pd.DataFrame:  # fmt: skip
    """``model.fit`` with cnnkit's callbacks; ``out`` is the (locked) run folder or ``None``."""
    advice = f"{out / 'model.keras'} keeps the best model of the epochs before. " if out is not None else ""
    run_callbacks: list[keras.callbacks.Callback] = [EpochTimer(), StopOnNonFiniteLoss(advice)]
    csv_path = None
    initial_epoch = 0
    if out is not None:
        csv_path = out / "history.csv"
        monitor, mode = ("val_loss" if validation_data is not None else "loss"), "min"  # the best model: lowest loss
        logged = read_log(csv_path)
        best_so_far = None if logged is None or logged.empty else best_epoch(logged, monitor, mode)[1]
        if not recover_backup(out / "backup"):
            initial_epoch = _resume_from_checkpoint(model, out, logged, monitor, mode)
        # Order matters when a kill lands between two callbacks: the checkpoint and the CSV
        # row come before the backup, so the epoch is at worst repeated (its row is then
        # deduplicated), never missing from the log while the backup counts it as done.
        run_callbacks += [
            AtomicBestCheckpoint(out / "model.keras", monitor=monitor, mode=mode, initial_best=best_so_far),
            keras.callbacks.CSVLogger(str(csv_path), append=True),
            keras.callbacks.BackupAndRestore(str(out / "backup"), double_checkpoint=True),
        ]
    if early_stopping_patience is not None:
        run_callbacks.append(
            keras.callbacks.EarlyStopping(
                monitor="val_loss", patience=early_stopping_patience, restore_best_weights=True
            )
        )
    history = None
    if initial_epoch < epochs:
        try:
            history = model.fit(
                train_data,
                validation_data=validation_data,
                epochs=epochs,
                initial_epoch=initial_epoch,
                callbacks=run_callbacks + list(callbacks),
                shuffle=False,  # the pipelines shuffle themselves
                verbose=verbose,
            )
        except Exception as error:
            if out is None or not is_disk_full(error):
                raise
            raise DiskFullError(
                f"The disk holding {out} became full while training wrote its checkpoint or backup; the run needs "
                f"about {megabytes(checkpoint_bytes(model))}. Free some space and run the same command again: it "
                "resumes from the last finished epoch."
            ) from error
        finally:  # Keras closes the CSV log only when training ends normally
            for callback in run_callbacks:
                if isinstance(callback, keras.callbacks.CSVLogger) and callback.csv_file is not None:
                    callback.csv_file.close()
    frame = read_log(csv_path) if csv_path is not None else None
    if frame is None:  # no out_dir: the history lives in memory only
        frame = pd.DataFrame(history.history, index=pd.Index(history.epoch, name="epoch"))
    if out is not None:
        write_json(out / "run.json", {"epochs": int(len(frame)), "finished": True})
    return frame
