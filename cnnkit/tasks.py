"""One record per task kind: what differs between predicting one class per example and one class
per pixel. Training, the command line's run reports and ``evaluate`` read it from here; there is no
second training path.

=============== ======================== ============================= ===========================
task            target (per example)     loss, metrics (training)      report (test split)
=============== ======================== ============================= ===========================
classification  a class index            cross-entropy, accuracy       per-class precision/recall,
                                                                       confusion matrix
segmentation    a mask (height, width)   cross-entropy (per-pixel      per-class IoU and Dice,
                of class indices         weights if given), pixel      predicted masks beside
                                         accuracy, mean IoU, mean Dice the truth
=============== ======================== ============================= ===========================

A model's task is what its output says: one score vector per example, or one per pixel.
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass
from typing import Callable

import keras
import pandas as pd

from cnnkit.segmentation import PixelCrossEntropy, mask_metrics


@dataclass
class TaskEvaluation:
    """A trained model on a test split: ``headline`` (the figure a run is reported by, under the
    record's ``headline`` name), ``summary`` (every figure, for ``metrics.json``), ``table`` (one row
    per class, ``report.csv``) and ``figures`` (file name -> matplotlib figure)."""

    headline: float
    summary: dict
    table: pd.DataFrame
    figures: dict
    examples: int


@dataclass(frozen=True, kw_only=True)
class TaskSpec:
    """What one task kind needs. ``headline``: the metric a run is reported by (``test_<headline>``
    and ``best_val_<headline>`` in ``metrics.json``); ``target``: what a label is;
    ``loss_and_metrics(model, num_classes, scored)``: for compiling; ``evaluate(model, dataset,
    class_names, scored)``: a :class:`TaskEvaluation`, by the function ``evaluator`` names. ``scored``: the class indices the headline
    averages over (a segmentation set leaves its background out), or ``None`` for all."""

    name: str
    target: str
    headline: str
    loss_and_metrics: Callable
    evaluator: str

    def evaluate(self, model, dataset, class_names, scored=None) -> TaskEvaluation:
        """Run the task's evaluation (``evaluator``, a ``"module:function"`` named rather than
        imported, so that training can read this record without importing evaluation)."""
        module, _, function = self.evaluator.partition(":")
        return getattr(importlib.import_module(module), function)(model, dataset, class_names, scored)


# --- loss and metrics ----------------------------------------------------------------------------


def _classification_loss_and_metrics(model, num_classes=None, scored=None):
    from cnnkit.models.losses import LeNetRBFLoss, penalty_accuracy_metric, predicts_penalties

    if predicts_penalties(model):
        return LeNetRBFLoss(), [penalty_accuracy_metric()]
    return keras.losses.SparseCategoricalCrossentropy(), ["accuracy"]


def _segmentation_loss_and_metrics(model, num_classes=None, scored=None):
    classes = num_classes or model.output_shape[-1]
    return PixelCrossEntropy(), mask_metrics(classes, scored)


TASKS = {
    "classification": TaskSpec(name="classification", target="a class index per example", headline="accuracy",
                               loss_and_metrics=_classification_loss_and_metrics,
                               evaluator="cnnkit.evaluation:evaluate_classification"),
    "segmentation": TaskSpec(name="segmentation", target="a mask of class indices per example (height, width)",
                             headline="mean_iou", loss_and_metrics=_segmentation_loss_and_metrics,
                             evaluator="cnnkit.evaluation:evaluate_segmentation"),
}  # fmt: skip


def task_of(model: keras.Model) -> TaskSpec:
    """The task a model performs, read from its output: ``(batch, classes)`` is classification,
    ``(batch, height, width[, depth], classes)`` segmentation."""
    shape = model.output_shape
    if isinstance(shape, list):
        raise ValueError(f"{model.name} has {len(shape)} outputs; cnnkit trains and reports models with one "
                         "(for a deeply supervised UNet++, see cnnkit.models.unet.unet_plus_plus_inference).")  # fmt: skip
    return TASKS["classification" if len(shape) == 2 else "segmentation"]


def scored_classes(num_classes: int, background: int | None) -> list[int] | None:
    """The classes a headline averages over: every class but the dataset's background, if any."""
    return None if background is None else [c for c in range(num_classes) if c != background]
