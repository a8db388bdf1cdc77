"""The run folder: what each file in it means, which state a folder is in, and how it is read.

``python -m cnnkit train`` (and :func:`cnnkit.training.train` with ``out_dir``) writes one
folder per run. Its files, and the state each one marks::

    new        nothing yet (or only the lock)
    started    settings.json (what defines the run), classes.json, SYNTHETIC.txt for synthetic data,
               backends.json (which Keras backend trains from which epoch)
    training   history.csv (one row per epoch), model.keras (the best model so far), backup/
    trained    run.json: training finished; train() will not overwrite it
    finished   metrics.json, written last by the CLI after report.csv and the two plots

A killed process leaves the folder in one of these states and the same command continues
from there (:func:`training_state`). A second process is kept out by the folder lock
(:func:`cnnkit.files.folder_lock`). An evaluation (``python -m cnnkit evaluate``) writes into a
new folder under ``RUN/evaluations/``, never into the run's own files (:func:`evaluation_folder`).

Reading a finished run: :func:`load_run` loads ``model.keras`` in Keras safe mode with its
class names and settings.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import time
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import keras
import numpy as np
import pandas as pd

from cnnkit.errors import RunExistsError, RunFolderError
from cnnkit.files import LOCK_NAME, folder_lock, write_json

# The files of a run folder (see the module docstring for the states they mark).
SETTINGS = "settings.json"
CLASSES = "classes.json"
SYNTHETIC_NOTICE = "SYNTHETIC.txt"
HISTORY = "history.csv"
MODEL = "model.keras"
BACKUP = "backup"
TRAINED = "run.json"
METRICS = "metrics.json"
REPORT = "report.csv"
LEARNING_CURVES = "learning_curves.png"
CONFUSION_MATRIX = "confusion_matrix.png"
EVALUATIONS = "evaluations"
BACKENDS = "backends.json"  # which Keras backend trained from which epoch, one entry per switch

# What a training run writes into its folder (an evaluation writes only reports and metrics.json).
TRAINING_RUN_FILES = (SETTINGS, HISTORY, MODEL, BACKUP, TRAINED, CLASSES, BACKENDS)
# A folder holding one of these is a run folder (an image folder never treats it as a class).
RUN_FOLDER_MARKERS = (LOCK_NAME, SETTINGS)

# The best model is the one with the lowest loss: validation loss when there is validation
# data, else training loss. One rule for saving (AtomicBestCheckpoint) and resuming (best_epoch).
BEST_MODE = "min"


def best_monitor(has_validation: bool) -> str:
    """The logged value that chooses the best model: ``val_loss``, or ``loss`` without validation."""
    return "val_loss" if has_validation else "loss"


def run_files(folder: str | os.PathLike) -> list[str]:
    """The names of :data:`TRAINING_RUN_FILES` present in ``folder``: empty when it holds no run."""
    folder = Path(folder)
    return [name for name in TRAINING_RUN_FILES if (folder / name).exists()]


def training_state(folder: str | os.PathLike) -> str:
    """``"new"``, ``"started"``, ``"training"``, ``"trained"`` or ``"finished"`` (module docstring)."""
    folder = Path(folder)
    if (folder / METRICS).is_file():
        return "finished"
    if (folder / TRAINED).exists():
        return "trained"
    present = run_files(folder)
    if any(name not in (SETTINGS, CLASSES, BACKENDS) for name in present):
        return "training"
    return "started" if present else "new"


def read_log(csv_path: Path) -> pd.DataFrame | None:
    """The CSV log indexed by epoch, or ``None`` when no epoch has been logged yet.

    An epoch logged just before a kill and repeated after the resume appears twice in the
    file; the later row is kept.
    """
    if not csv_path.is_file() or csv_path.stat().st_size == 0:
        return None
    frame = pd.read_csv(csv_path).drop_duplicates("epoch", keep="last")
    return frame.set_index("epoch").sort_index()


def record_backend(folder: Path, backend: str) -> None:
    """Note in ``folder/backends.json`` that ``backend`` trains from the next epoch on (the number of epochs
    logged so far), unless it is the backend that trained the epochs before: a run killed on TensorFlow
    and resumed on JAX keeps both, each with its epochs (:func:`backend_stretches`)."""
    logged = read_log(folder / HISTORY)
    start = 0 if logged is None else int(logged.index.max()) + 1
    path = folder / BACKENDS
    try:
        entries = json.loads(path.read_text()) if path.is_file() else []
    except ValueError:
        raise RunFolderError(f"{path} is damaged, so which backend trained which epochs is unknown; train into a "
                             "new folder (or delete the file to record only what trains from now on).") from None  # fmt: skip
    if entries and entries[-1]["backend"] == backend:
        return
    write_json(path, [*entries, {"backend": backend, "from_epoch": start}])


def backend_stretches(folder: Path, epochs: int) -> list[dict]:
    """Which backend trained which of the run's ``epochs`` epochs: ``[{"backend": "tensorflow", "epochs": [0,
    3]}, {"backend": "jax", "epochs": [4, 9]}]`` (0-based, both ends included), from ``backends.json``; a
    start that trained no epoch before the next one is left out."""
    path = folder / BACKENDS
    entries = json.loads(path.read_text()) if path.is_file() else []
    ends = [entry["from_epoch"] for entry in entries[1:]] + [epochs]
    return [{"backend": entry["backend"], "epochs": [entry["from_epoch"], end - 1]}
            for entry, end in zip(entries, ends, strict=True) if end > entry["from_epoch"]]  # fmt: skip


def training_history(folder: Path) -> pd.DataFrame:
    """The history DataFrame of a trained run folder (from its ``history.csv``)."""
    frame = read_log(folder / HISTORY)
    if frame is None:
        raise RunExistsError(f"{folder} has {TRAINED} but no {HISTORY}; choose another --out to train again.")
    return frame


def best_epoch(logged: pd.DataFrame, monitor: str, mode: str = BEST_MODE) -> tuple[int, float]:
    """``(epoch, value)`` of the best logged epoch: the lowest ``monitor`` for ``mode="min"``,
    the highest for ``"max"``. The one rule that saving and resuming share."""
    if mode not in ("min", "max"):
        raise ValueError(f"mode must be 'min' or 'max', got {mode!r}.")
    epoch = logged[monitor].idxmin() if mode == "min" else logged[monitor].idxmax()
    return int(epoch), float(logged.loc[epoch, monitor])


def checkpoint_bytes(model: keras.Model) -> int:
    """About how many bytes a run folder needs while training ``model``: four copies of the
    weights with Adam's two moments (the best ``model.keras`` and its replacement during an
    atomic write, the backup and its previous copy), plus 8 MB for the log and the reports."""
    try:
        weights = sum(int(np.prod(v.shape)) * np.dtype(v.dtype).itemsize for v in model.weights)
    except (TypeError, ValueError):  # a model that is not built yet has no weights to count
        weights = 0
    return 4 * 3 * weights + 8_000_000


def mark_trained(folder: Path, epochs: int) -> None:
    """Write ``run.json``: training in ``folder`` is finished (``epochs`` logged)."""
    write_json(folder / TRAINED, {"epochs": int(epochs), "finished": True})


# --- settings: what must match for a rerun to continue a folder --------------------------------


def fingerprint_data(dataset: str, data) -> str:
    """A fingerprint of the data a run trains on: for an image folder, every file's path, size
    and modification time (a file added, removed or replaced changes it); for DEAP, the subject
    files read; for a built-in dataset, its name (its files are checked by their own readers) and, for
    data made on this machine, what it was made from (``info.provenance``).
    ``data`` is a :class:`cnnkit.data.base.Dataset`."""
    digest = hashlib.sha256()
    digest.update(os.fsencode(dataset) + b"\n")
    digest.update(json.dumps(list(data.info.class_names)).encode() + b"\n")
    if data.info.provenance:  # data made on this machine from something that can change (Python's help topics)
        digest.update(json.dumps(data.info.provenance, sort_keys=True).encode() + b"\n")
    for path in data.info.files:
        stat = os.stat(path)
        digest.update(os.fsencode(os.path.relpath(path, dataset if Path(dataset).is_dir() else "."))
                      + f":{stat.st_size}:{stat.st_mtime_ns}\n".encode())  # fmt: skip
    return digest.hexdigest()[:16]


def check_settings(folder: Path, settings: dict) -> bool:
    """Compare ``settings`` with the run recorded in ``folder/settings.json``.

    Returns True when the folder must record them (no settings yet, or settings of a start
    that never trained: such a folder is reused). Raises :class:`RunExistsError` when the
    folder holds training with other settings or other data (the ``"data"`` entry), before
    anything in it is rewritten.
    """
    path = folder / SETTINGS
    if not path.is_file() or training_state(folder) in ("new", "started"):
        return True
    try:
        recorded = json.loads(path.read_text())
    except ValueError:
        recorded = None
    if recorded == settings:
        return False
    if not isinstance(recorded, dict):
        raise RunExistsError(f"{path} is damaged, so this run cannot be resumed safely; choose another --out.")
    if {k: v for k, v in recorded.items() if k != "data"} == {k: v for k, v in settings.items() if k != "data"}:
        raise RunExistsError(
            f"The data of the run in {folder} changed since it started (files added, removed or replaced, or "
            "other subjects); resuming would mix two datasets and could test on trained images. "
            "Train into a new --out."
        )
    raise RunExistsError(f"{folder} holds a run with other settings ({path}); choose another --out for this one.")


def remove_if_unused(created: list[Path]) -> None:
    """After a start that failed, remove the folders it created when they hold nothing else
    than the lock, so that a typo leaves no ``runs/`` folder (inside an image folder, say)."""
    for folder in created:  # the run folder first, then the parents made for it
        if not folder.is_dir():
            continue
        if any(path.name != LOCK_NAME for path in folder.iterdir()):
            return
        (folder / LOCK_NAME).unlink(missing_ok=True)
        folder.rmdir()


# --- reading a finished run ---------------------------------------------------------------------


@dataclass(frozen=True)
class Run:
    """A trained run: its folder, model, class names and the settings it was trained with."""

    folder: Path
    model: keras.Model
    class_names: tuple[str, ...]
    settings: dict

    @property
    def input_shape(self) -> tuple[int, int, int]:
        return tuple(self.model.input_shape[1:])


# What loading a damaged or hostile model.keras raises: a zip without config.json (KeyError),
# garbage weights (h5py's OSError), deep nesting (RecursionError), bad JSON or a layer that
# safe mode refuses (ValueError), a file that is not a zip (BadZipFile).
MODEL_FILE_ERRORS = (KeyError, OSError, RecursionError, ValueError, TypeError, EOFError, zipfile.BadZipFile)


def load_model_file(path, folder) -> keras.Model:
    """``keras.saving.load_model(path, safe_mode=True)``, with a damaged file reported in one
    line (:class:`RunFolderError`) instead of the loader's own traceback."""
    try:
        return keras.saving.load_model(path, safe_mode=True)
    except MODEL_FILE_ERRORS as error:
        detail = f"{type(error).__name__}: {str(error).splitlines()[0][:200]}" if str(error) else type(error).__name__
        raise RunFolderError(
            f"{MODEL} in {folder} is damaged or unsafe and cannot be loaded ({detail}); train the run "
            "again, or restore the file from a copy."
        ) from error


def outputs_class_scores(model: keras.Model) -> str | None:
    """``None`` when ``model`` outputs one score per class that can be turned into
    probabilities (a softmax, or LeNet-5's RBF penalties), per example or, for a segmentation
    network, per pixel; otherwise what is wrong."""
    from cnnkit.models.losses import predicts_penalties  # here: reading run files needs no model code

    shape = model.output_shape
    if isinstance(shape, list) or len(shape) < 2 or shape[-1] is None or shape[-1] < 2:
        return f"its output has shape {shape}, not one score per class for at least two classes"
    if predicts_penalties(model):
        return None
    last = model.layers[-1]
    activation = getattr(last, "activation", None)
    name = getattr(activation, "__name__", None)
    if isinstance(last, keras.layers.Softmax) or name == "softmax":
        return None
    return f"its last layer ({last.name}) has no softmax, so its outputs are not probabilities"


def separates(model: keras.Model) -> bool:
    """True for a separator: a ``(batch, samples)`` waveform in, ``(batch, speakers, samples)`` out."""
    shape, inputs = model.output_shape, getattr(model, "inputs", None)
    return (not isinstance(shape, list) and len(shape) == 3 and bool(inputs) and len(inputs[0].shape) == 2
            and "float" in str(inputs[0].dtype) and shape[-1] == inputs[0].shape[-1])  # fmt: skip


def read_class_names(folder: Path, outputs: int) -> tuple[str, ...]:
    """The class names in ``folder/classes.json``, checked against the model's ``outputs``;
    numbered names ``"0", "1", ...`` when the run has no ``classes.json``."""
    path = folder / CLASSES
    if not path.is_file():
        return tuple(str(i) for i in range(outputs))
    try:
        names = json.loads(path.read_text())["class_names"]
    except (ValueError, KeyError, TypeError, OSError) as error:
        raise RunFolderError(
            f"{path} is damaged ({type(error).__name__}: {error}); it must hold "
            '{"class_names": ["first", "second", ...]}, one name per model output.'
        ) from None
    if not isinstance(names, list) or not all(isinstance(name, str) for name in names):
        raise RunFolderError(f"{path} must list the class names as a JSON list of strings, not {names!r}.")
    if len(names) != outputs:
        raise RunFolderError(
            f"{path} names {len(names)} classes but the model in {folder} has {outputs} outputs; "
            "the two files come from different runs. Restore the run's own classes.json."
        )
    return tuple(names)


def write_class_names(folder: Path, class_names) -> None:
    """Write ``classes.json`` (read back by :func:`read_class_names`)."""
    write_json(folder / CLASSES, {"class_names": list(class_names)})


def load_run(folder) -> Run:
    """Load ``folder/model.keras`` (Keras safe mode) with ``classes.json`` and ``settings.json``.

    The model must output one probability per class (or LeNet-5's penalties), per example, pixel or
    position, or one waveform per speaker (a separator), and ``classes.json`` must name exactly that
    many classes (speakers); a damaged or mismatched run is
    refused with :class:`RunFolderError`, which names the file.
    """
    folder = Path(folder)
    path = folder / MODEL
    if not path.is_file():
        raise RunFolderError(f"{folder} holds no {MODEL}: give the folder of a finished training run.")
    model = load_model_file(path, folder)
    if separates(model):  # its "classes" are the speakers: one waveform each
        classes = read_class_names(folder, model.output_shape[1])
    else:
        problem = outputs_class_scores(model)
        if problem is not None:
            raise RunFolderError(f"The model in {folder} cannot classify, segment, tag or separate: {problem}.")
        classes = read_class_names(folder, model.output_shape[-1])
    settings_file = folder / SETTINGS
    try:
        settings = json.loads(settings_file.read_text()) if settings_file.is_file() else {}
    except ValueError:
        settings = {}
    return Run(folder, model, classes, settings if isinstance(settings, dict) else {})


# --- evaluations ------------------------------------------------------------------------------


def default_evaluation_folder(run_folder: Path, label: str) -> Path:
    """``RUN/evaluations/<label>-<time>``: where an evaluation goes unless told otherwise."""
    return Path(run_folder) / EVALUATIONS / f"{label}-{time.strftime('%Y%m%d-%H%M%S')}"


@contextlib.contextmanager
def evaluation_folder(folder: Path) -> Iterator[Path]:
    """Lock ``folder`` for an evaluation's files; a folder that already holds an evaluation
    or a training run is refused (:class:`RunExistsError`) before anything is written."""
    with folder_lock(folder):
        if (folder / METRICS).exists():
            raise RunExistsError(f"{folder} already holds an evaluation; choose another folder.")
        held = run_files(folder)
        if held:
            raise RunExistsError(
                f"{folder} holds a training run ({', '.join(held)}); writing an evaluation there would end it. "
                "Choose a new folder for the evaluation."
            )
        yield folder
