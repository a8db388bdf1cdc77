"""Train a Keras model with sensible defaults and a run folder that survives interruptions.

Typical use::

    with training_scope() as strategy:         # picks CPU / one GPU / several GPUs / TPU
        model = build("lenet5")
    history = train(model, data.train, data.validation, epochs=20, out_dir="runs/lenet5")

With ``out_dir`` the run writes (the folder's files and states: :mod:`cnnkit.runs`):

- ``model.keras``: the best model so far (lowest validation loss), saved atomically after each
  epoch that improves it (:class:`~cnnkit.callbacks.AtomicBestCheckpoint`);
- ``history.csv``: one row per finished epoch (Keras' ``CSVLogger``);
- ``backup/``: Keras' ``BackupAndRestore`` state (the last two epochs), removed when training
  ends. If the process is killed, calling ``train`` again with the same ``out_dir`` resumes
  from the last finished epoch, losing at most the epoch that was in progress. A backup
  damaged by a kill during its own write falls back to the previous epoch's copy, and when
  neither can be read, to the best checkpoint ``model.keras`` (with a warning;
  :class:`~cnnkit.callbacks.ResumableBackup`);
- ``.lock``: held while a process trains into the folder; a second process is refused at
  once (:func:`cnnkit.files.folder_lock`);
- ``run.json``: written last; its presence marks a finished run, which ``train`` will not
  overwrite.

Which devices train, and which worker writes the folder: :mod:`cnnkit.distribute`. A loss that
becomes NaN or infinite stops training at once with :class:`~cnnkit.errors.TrainingDivergedError`,
before the broken weights reach the checkpoint or the backup.
"""

from __future__ import annotations

import os
import shutil
import tempfile
import zipfile
from collections.abc import Sequence
from pathlib import Path

import keras
import pandas as pd
import tensorflow as tf

from cnnkit import runs
from cnnkit.callbacks import AtomicBestCheckpoint, EpochTimer, ResumableBackup, StopOnNonFiniteLoss
from cnnkit.distribute import is_chief, model_scope, wait_for_all
from cnnkit.errors import DiskFullError, RunDamagedError, RunExistsError
from cnnkit.files import folder_lock, is_disk_full, megabytes, remove_orphaned_temporaries, require_free_space


def default_loss_and_metrics(model: keras.Model):
    """The loss and metrics ``train`` compiles with when the model is not compiled yet: its task's
    (:func:`cnnkit.tasks.task_of`). Classifiers: sparse cross-entropy and accuracy, or for penalty
    outputs (LeNet-5's RBF layer) :class:`cnnkit.models.losses.LeNetRBFLoss` and an argmin accuracy; segmentation networks:
    sparse cross-entropy per pixel, pixel accuracy, mean IoU and mean Dice. Labels are integer class
    indices (per example, or per pixel)."""
    from cnnkit.tasks import task_of

    return task_of(model).loss_and_metrics(model)


def _resume_from_checkpoint(model: keras.Model, out: Path, logged: pd.DataFrame | None, monitor: str) -> int:
    """Load the best checkpoint's weights into ``model``; returns the epoch to continue from.

    Used when the backup is gone but ``model.keras`` and the CSV log are there. The optimizer
    state of the checkpoint is loaded too when it was saved; later epochs are trained again
    (their rows in the log are replaced).
    """
    checkpoint = out / runs.MODEL
    if logged is None or logged.empty or not checkpoint.is_file():
        return 0
    if model.optimizer is not None and not model.optimizer.built:
        model.optimizer.build(model.trainable_variables)
    try:
        model.load_weights(checkpoint)
    except (OSError, ValueError, KeyError, EOFError, zipfile.BadZipFile) as error:
        raise RunDamagedError(
            f"{checkpoint} is damaged ({type(error).__name__}) and the training backup in {out / runs.BACKUP} could "
            f"not be read either, so this run cannot resume: delete {out} (or choose another folder) and train "
            "again."
        ) from error
    return runs.best_epoch(logged, monitor, runs.BEST_MODE)[0] + 1


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
    early_stopping_monitor: str = "val_loss",
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
        early_stopping_patience: stop after this many epochs without a better value of
            ``early_stopping_monitor`` and restore the best weights; ``None`` trains all epochs.
        early_stopping_monitor: what early stopping watches, a column of the history
            (``"val_loss"``, ``"val_accuracy"``, ``"val_macro_f1"``, ...); Keras' ``EarlyStopping``
            reads from the metric whether higher is better (cnnkit's metrics say so too).
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
        with model_scope(model):
            model.compile(
                optimizer=optimizer or keras.optimizers.Adam(learning_rate),
                loss=loss or default_loss,
                metrics=list(metrics) if metrics is not None else default_metrics,
                jit_compile=jit_compile,
            )

    options = dict(epochs=epochs, early_stopping_patience=early_stopping_patience,
                   early_stopping_monitor=early_stopping_monitor, callbacks=callbacks, verbose=verbose)  # fmt: skip
    if out_dir is None:
        return _fit(model, train_data, validation_data, out=None, **options)
    out = Path(out_dir)
    if not is_chief(getattr(model, "distribute_strategy", None)):
        # Another process writes the folder; this one only reads it to resume from the same epoch.
        return _fit(model, train_data, validation_data, out=out, writes=False, **options)
    with folder_lock(out):
        if (out / runs.TRAINED).exists():
            raise RunExistsError(
                f"{out} already holds a finished run (run.json); choose another out_dir or "
                "delete that folder to train again."
            )
        remove_orphaned_temporaries(out)  # files a killed write left behind: nobody else writes here now
        require_free_space(out, runs.checkpoint_bytes(model), "training with its checkpoint and backups")
        return _fit(model, train_data, validation_data, out=out, **options)


def _fit(model, train_data, validation_data, *, out, epochs, early_stopping_patience, early_stopping_monitor,
         callbacks, verbose, writes: bool = True) -> pd.DataFrame:  # fmt: skip
    """``model.fit`` with cnnkit's callbacks; ``out`` is the (locked) run folder or ``None``.

    With ``writes=False`` (a process of a multi-process job other than process 0) the folder is
    only read: once process 0 has repaired it (:func:`~cnnkit.distribute.wait_for_all`), this
    process resumes from the same backup or checkpoint. Saving a model distributed over several
    processes is a collective step that every process must take, so this process saves the same
    checkpoints and backups at the same moments, into a private scratch folder removed at the end.
    """
    advice = f"{out / runs.MODEL} keeps the best model of the epochs before. " if out is not None else ""
    run_callbacks: list[keras.callbacks.Callback] = [EpochTimer(), StopOnNonFiniteLoss(advice)]
    csv_path = None
    initial_epoch = 0
    scratch = None
    if out is not None:
        if writes:
            backup = ResumableBackup(out / runs.BACKUP)
            resumable = backup.repair()
            wait_for_all("run folder repaired")  # the other processes of a multi-process job may read it now
        else:
            wait_for_all("run folder repaired")
            scratch = Path(tempfile.mkdtemp(prefix="cnnkit-process-"))
            resumable = (out / runs.BACKUP).is_dir()
            if resumable:
                shutil.copytree(out / runs.BACKUP, scratch / runs.BACKUP)
            backup = ResumableBackup(scratch / runs.BACKUP)
        # Every process resumes at the same point: loading weights into a model shared by several
        # processes is a collective step, so it comes after the wait in all of them.
        monitor = runs.best_monitor(has_validation=validation_data is not None)
        logged = runs.read_log(out / runs.HISTORY)
        best_so_far = None if logged is None or logged.empty else runs.best_epoch(logged, monitor, runs.BEST_MODE)[1]
        if not resumable:
            initial_epoch = _resume_from_checkpoint(model, out, logged, monitor)
        checkpoint = AtomicBestCheckpoint((out if writes else scratch) / runs.MODEL, monitor=monitor,
                                          mode=runs.BEST_MODE, initial_best=best_so_far)  # fmt: skip
        # Order matters when a kill lands between two callbacks: the checkpoint and the CSV
        # row come before the backup, so the epoch is at worst repeated (its row is then
        # deduplicated), never missing from the log while the backup counts it as done.
        if writes:
            csv_path = out / runs.HISTORY
            run_callbacks += [checkpoint, keras.callbacks.CSVLogger(str(csv_path), append=True), backup]
        else:
            run_callbacks += [checkpoint, backup]
    if early_stopping_patience is not None:
        run_callbacks.append(
            keras.callbacks.EarlyStopping(
                monitor=early_stopping_monitor, patience=early_stopping_patience, restore_best_weights=True
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
                f"about {megabytes(runs.checkpoint_bytes(model))}. Free some space and run the same command again: it "
                "resumes from the last finished epoch."
            ) from error
        finally:  # Keras closes the CSV log only when training ends normally
            for callback in run_callbacks:
                if isinstance(callback, keras.callbacks.CSVLogger) and callback.csv_file is not None:
                    callback.csv_file.close()
            if scratch is not None:
                shutil.rmtree(scratch, ignore_errors=True)
    frame = runs.read_log(csv_path) if csv_path is not None else None
    if frame is None:  # no out_dir (or not the writing process): the history lives in memory only
        frame = pd.DataFrame(history.history if history else {},
                             index=pd.Index(history.epoch if history else [], name="epoch"))  # fmt: skip
    if out is not None and writes:
        runs.mark_trained(out, len(frame))
    return frame
