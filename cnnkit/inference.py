"""Use a trained run: predict new images, evaluate on other data.

A run folder written by ``python -m cnnkit train`` (or by :func:`cnnkit.training.train` plus a
``classes.json``) holds everything needed::

    from cnnkit.inference import load_run, predict_files, evaluate_run
    run = load_run("runs/lenet5-mnist_sample-...")
    table = predict_files(run, ["digit.png", "more_digits/"], top=3)
    metrics = evaluate_run(run, "fashion_mnist")          # writes into a new folder

Images are brought to the model's input exactly as the training pipeline did (decoded,
resized bilinearly with antialiasing, scaled to [0, 1], gray or RGB as the model takes).
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass
from pathlib import Path

import keras
import numpy as np
import pandas as pd

from cnnkit.data import folders
from cnnkit.errors import CnnkitError, RunExistsError
from cnnkit.files import atomic_path, prepare_folder, write_json
from cnnkit.models.layers import predicts_penalties


class RunFolderError(CnnkitError, FileNotFoundError):
    """The folder is not a finished training run (no model.keras)."""


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


def load_run(folder) -> Run:
    """Load ``folder/model.keras`` (Keras safe mode) with ``classes.json`` and ``settings.json``."""
    folder = Path(folder)
    path = folder / "model.keras"
    if not path.is_file():
        raise RunFolderError(f"{folder} holds no model.keras: give the folder of a finished training run.")
    model = keras.saving.load_model(path, safe_mode=True)
    classes_file, settings_file = folder / "classes.json", folder / "settings.json"
    classes = json.loads(classes_file.read_text())["class_names"] if classes_file.is_file() else None
    classes = tuple(classes or (str(i) for i in range(model.output_shape[-1])))
    settings = json.loads(settings_file.read_text()) if settings_file.is_file() else {}
    return Run(folder, model, classes, settings)


def probabilities(model: keras.Model, scores: np.ndarray) -> np.ndarray:
    """Class probabilities from a model's outputs: softmax outputs as they are; LeNet-5's RBF
    penalties (smaller is better) through a softmax of their negatives."""
    if not predicts_penalties(model):
        return scores
    shifted = -scores - (-scores).max(axis=1, keepdims=True)
    return np.exp(shifted) / np.exp(shifted).sum(axis=1, keepdims=True)


def image_paths(sources) -> list[str]:
    """Expand files and folders (searched recursively) into image file paths, in order."""
    paths = []
    for source in map(Path, sources):
        if source.is_dir():
            paths += sorted(str(p) for p in source.rglob("*") if p.is_file() and folders.is_image_file(p))
        elif source.is_file():
            paths.append(str(source))
        else:
            raise folders.FolderDatasetError(f"{source} does not exist: give image files or folders of images.")
    if not paths:
        raise folders.FolderDatasetError(f"No image files ({', '.join(folders.IMAGE_SUFFIXES)}) in {sources}.")
    return paths


def predict_files(run: Run, sources, top: int = 1, batch_size: int = 32) -> pd.DataFrame:
    """Predict the class of every image in ``sources`` (files or folders).

    Every file is checked first (:func:`cnnkit.data.folders.check_image_files`). Returns one
    row per image and rank: ``path``, ``rank`` (1 = best), ``class``, ``probability``.
    """
    if top < 1:
        raise ValueError(f"top must be at least 1, got {top}.")
    paths = image_paths(sources)
    folders.check_image_files(paths)
    height, width, channels = run.input_shape
    dataset = folders.file_pipeline(paths, np.zeros(len(paths)), (height, width), channels, batch_size)
    scores = np.concatenate([np.asarray(run.model(x, training=False)) for x, _ in dataset])
    probs = probabilities(run.model, scores)
    top = min(top, probs.shape[1])
    order = np.argsort(-probs, axis=1)[:, :top]
    rows = [
        {"path": path, "rank": rank + 1, "class": run.class_names[k], "probability": float(probs[i, k])}
        for i, path in enumerate(paths)
        for rank, k in enumerate(order[i])
    ]
    return pd.DataFrame(rows)


def evaluate_run(run: Run, dataset: str, out_dir=None, batch_size: int = 128) -> dict:
    """Evaluate a run's model on ``dataset`` (a name or an image folder) and write
    ``metrics.json``, ``report.csv`` and ``confusion_matrix.png`` into ``out_dir`` (default
    ``RUN/evaluations/<dataset>-<time>``), a new folder: the run's own files are never touched.
    For an image folder the whole folder is evaluated; for a named dataset its test split.
    """
    from cnnkit import evaluation, plots
    from cnnkit.data import images

    name = Path(dataset).name if folders.is_folder_dataset(dataset) else dataset
    out = Path(out_dir) if out_dir is not None else run.folder / "evaluations" / f"{name}-{time.strftime('%Y%m%d-%H%M%S')}"
    if (out / "metrics.json").exists():
        raise RunExistsError(f"{out} already holds an evaluation; choose another folder.")
    prepare_folder(out)
    height, width, channels = run.input_shape
    if folders.is_folder_dataset(dataset):
        found = folders.scan_folder(dataset)
        folders.check_image_files(found.paths)
        class_names = found.class_names
        data = folders.file_pipeline(found.paths, found.labels, (height, width), channels, batch_size)
    else:
        loaded = images.load_dataset(dataset, batch_size=batch_size, **_fit_options(run, dataset))
        class_names, data = loaded.info.class_names, loaded.test
    if tuple(class_names) != tuple(run.class_names):
        raise CnnkitError(
            f"{dataset} has the classes {list(class_names)} but the model was trained on {list(run.class_names)}; "
            "evaluate on data with the same classes."
        )
    result = evaluation.evaluate_classifier(run.model, data, class_names)
    with atomic_path(out / "report.csv") as temporary:
        result.report.to_csv(temporary)
    plots.save_figure(plots.confusion_heatmap(result.confusion, class_names), out / "confusion_matrix.png")
    metrics = {"run": str(run.folder), "dataset": str(dataset), "accuracy": result.accuracy,
               "examples": int(len(result.predictions.y_true))}  # fmt: skip
    write_json(out / "metrics.json", metrics)
    return {**metrics, "folder": str(out)}


def _fit_options(run: Run, dataset: str) -> dict:
    """``load_dataset`` options that bring a named dataset to the run's model input."""
    from cnnkit.data import images

    if dataset not in images.NATIVE_SHAPES:
        from cnnkit.errors import UnknownNameError

        raise UnknownNameError(
            f"Unknown dataset {dataset!r}. Known datasets: {', '.join(images.list_datasets())}, or a folder."
        )
    native = images.NATIVE_SHAPES[dataset]
    target = run.input_shape
    options = {} if native[2] == target[2] else {"channels": target[2]}
    if native[:2] != target[:2]:
        model = run.settings.get("model")
        from cnnkit.models import get_spec

        pad = model is not None and get_spec(model).fit_input == "pad" and target[0] >= native[0]
        options.update({"pad_to": target[0]} if pad else {"resize_to": target[:2]})
    return options
