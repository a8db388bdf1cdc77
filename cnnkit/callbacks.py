"""The Keras callbacks that make a run folder survive faults.

- :class:`AtomicBestCheckpoint`: the best model so far, replaced atomically (a kill during the
  write never leaves a broken ``model.keras``);
- :class:`ResumableBackup`: Keras' ``BackupAndRestore`` with two copies, and :meth:`repair
  <ResumableBackup.repair>` for a backup that a kill damaged;
- :class:`StopOnNonFiniteLoss`: a NaN or infinite loss stops training before the broken
  weights reach the checkpoint or the backup;
- :class:`EpochTimer`: ``epoch_seconds`` in the epoch logs.
"""

from __future__ import annotations

import json
import math
import os
import shutil
import time
import warnings
from pathlib import Path

import keras

from cnnkit.errors import TrainingDivergedError
from cnnkit.files import atomic_path, read_hdf5_fully


class AtomicBestCheckpoint(keras.callbacks.Callback):
    """Save the whole model to ``filepath`` whenever ``monitor`` improves, atomically.

    ``mode``: ``"min"`` (a loss: lower is better) or ``"max"`` (an accuracy), said explicitly
    rather than guessed from the metric's name; a resumed run uses the same rule
    (:func:`cnnkit.runs.best_epoch`). Unlike writing in place, a crash during saving never leaves
    a broken ``.keras`` file: the model goes to a temporary file that then replaces the previous
    best.
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


def _readable_backup(weights: Path, metadata: Path) -> bool:
    """True when a BackupAndRestore weights file and its metadata can be read in full."""
    try:
        json.loads(metadata.read_text())["epoch"]
        read_hdf5_fully(weights)
        return True
    except Exception:  # a damaged file fails in many ways (OSError, KeyError, ValueError, ...)
        return False


class ResumableBackup(keras.callbacks.BackupAndRestore):
    """Keras' ``BackupAndRestore`` keeping the last two epochs (``double_checkpoint``), and able
    to repair what a kill left behind before training starts again.

    Keras writes the weights and then the metadata (its own file names, read from the parent's
    paths, never spelled here); with ``double_checkpoint`` it first copies both to ``*.bkp``.
    Keras itself falls back to the ``.bkp`` weights only when loading raises ``OSError``; a kill
    can also damage the metadata, or both copies. :meth:`repair` handles every case.

    """

    def __init__(self, backup_dir):
        super().__init__(str(backup_dir), double_checkpoint=True)

    def repair(self) -> bool:
        """Make the backup loadable, or remove it; True when a usable backup is left.

        A damaged latest copy is replaced by the previous epoch's (with a warning). When
        neither can be read the folder is removed with a warning, and the caller resumes from
        the best checkpoint instead (see :func:`cnnkit.training.train`).
        """
        folder = Path(self.backup_dir)
        if not folder.is_dir():
            return False
        latest = (Path(self._weights_path), Path(self._training_metadata_path))
        previous = (Path(self._prev_weights_path), Path(self._prev_training_metadata_path))
        if not latest[0].exists() and not previous[0].exists():
            shutil.rmtree(folder)  # killed before the first save finished: nothing to resume
            return False
        if _readable_backup(*latest):
            return True
        if _readable_backup(*previous):
            warnings.warn(
                f"{latest[0]} is damaged (the process was probably killed while writing it); "
                "resuming from the previous epoch's backup.",
                stacklevel=2,
            )
            for old, new in zip(previous, latest, strict=True):
                os.replace(old, new)
            return True
        warnings.warn(
            f"The training backup in {folder} cannot be read (damaged by a kill during its write?); "
            "removing it and resuming from the best checkpoint model.keras.",
            stacklevel=2,
        )
        shutil.rmtree(folder)
        return False
