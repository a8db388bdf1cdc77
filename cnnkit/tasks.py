"""One record per task kind: what differs between predicting one class per example, one class per
pixel, one waveform per speaker and one label per position. Training, the command line's run reports
and ``evaluate`` read it from here; there is no second training path.

=============== ======================== ============================= ===========================
task            target (per example)     loss, metrics (training)      report (test split)
=============== ======================== ============================= ===========================
classification  a class index            cross-entropy, accuracy       per-class precision/recall,
                                                                       confusion matrix
segmentation    a mask (height, width)   cross-entropy (per-pixel      per-class IoU and Dice,
                of class indices         weights if given), pixel      predicted masks beside
                                         accuracy, mean IoU, mean Dice the truth
separation      each speaker's waveform  minus SI-SNR under the best   SI-SNR and SI-SNRi per
                (speakers, samples)      assignment of outputs to      mixture, waveforms and
                                         speakers (PIT), SI-SNRi       spectrograms
tagging         a label per position     cross-entropy per position    F1 per label, macro F1
                (positions,), padding    (padding weighted 0),
                weighted 0               accuracy, macro F1
=============== ======================== ============================= ===========================

A model's task is what its output says (:func:`task_of`): one score vector per example, one per pixel,
one per position of a sequence of character ids, or one waveform per speaker.
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass
from pathlib import Path
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

    def write(self, out, notice: str | None = None) -> None:
        """``report.csv`` and the figures into the folder ``out`` (each file atomically), the one writer that
        a training run and an evaluation share; ``notice`` (e.g. that the data are SYNTHETIC) is written in
        red on every figure, above all its panels when it has several."""
        from cnnkit import plots
        from cnnkit.files import atomic_path
        from cnnkit.runs import REPORT

        with atomic_path(Path(out) / REPORT) as temporary:
            self.table.to_csv(temporary, errors="backslashreplace")
        for name, figure in self.figures.items():
            if notice and len(figure.axes) > 2:  # several panels with titles of their own: above them all
                figure.suptitle(notice, color="#b00020", y=1.04)
            elif notice:
                figure.axes[0].set_title(notice, color="#b00020")
            plots.save_figure(figure, Path(out) / name)


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
    headline_label: str
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


def _separation_loss_and_metrics(model, num_classes=None, scored=None):
    from cnnkit.separation import PermutationInvariantSiSnr, SiSnrImprovement

    return PermutationInvariantSiSnr(), [SiSnrImprovement()]


def _tagging_loss_and_metrics(model, num_classes=None, scored=None):
    from cnnkit.tagging import MacroF1

    classes = num_classes or model.output_shape[-1]
    return keras.losses.SparseCategoricalCrossentropy(), ["accuracy", MacroF1(classes)]


TASKS = {
    "classification": TaskSpec(name="classification", target="a class index per example", headline="accuracy",
                               headline_label="accuracy", loss_and_metrics=_classification_loss_and_metrics,
                               evaluator="cnnkit.evaluation:evaluate_classification"),
    "segmentation": TaskSpec(name="segmentation", target="a mask of class indices per example (height, width)",
                             headline="mean_iou", headline_label="mean IoU",
                             loss_and_metrics=_segmentation_loss_and_metrics,
                             evaluator="cnnkit.evaluation:evaluate_segmentation"),
    "separation": TaskSpec(name="separation", target="the waveform of every speaker (speakers, samples)",
                           headline="si_snri", headline_label="SI-SNR improvement (dB)",
                           loss_and_metrics=_separation_loss_and_metrics,
                           evaluator="cnnkit.evaluation:evaluate_separation"),
    "tagging": TaskSpec(name="tagging", target="a label per position (positions,); padding weighted 0",
                        headline="macro_f1", headline_label="macro F1", loss_and_metrics=_tagging_loss_and_metrics,
                        evaluator="cnnkit.evaluation:evaluate_tagging"),
}  # fmt: skip


def task_of(model: keras.Model) -> TaskSpec:
    """The task a model performs, read from its input and output: ``(batch, classes)`` out is
    classification, ``(batch, height, width[, depth], classes)`` segmentation; ``(batch, positions,
    labels)`` out of integer ids in is tagging, and ``(batch, speakers, samples)`` out of ``(batch,
    samples)`` in (a waveform per speaker, as long as the mixture) separation."""
    shape = model.output_shape
    if isinstance(shape, list):
        raise ValueError(f"{model.name} has {len(shape)} outputs; cnnkit trains and reports models with one "
                         "(for a deeply supervised UNet++, see cnnkit.models.unet.unet_plus_plus_inference).")  # fmt: skip
    if len(shape) == 2:
        return TASKS["classification"]
    if len(shape) > 3:
        return TASKS["segmentation"]
    from cnnkit.runs import separates

    if separates(model):
        return TASKS["separation"]
    inputs = model.inputs[0] if getattr(model, "inputs", None) else None
    if inputs is not None and "int" in str(inputs.dtype):
        return TASKS["tagging"]
    raise ValueError(f"{model.name}'s output {shape} is neither one waveform per speaker of its (batch, samples) "
                     "input nor one label per position of integer ids; cnnkit cannot tell its task.")  # fmt: skip


def scored_classes(num_classes: int, background: int | None) -> list[int] | None:
    """The classes a headline averages over: every class but the dataset's background, if any."""
    return None if background is None else [c for c in range(num_classes) if c != background]
