"""How well a predicted mask matches the true one: per-class IoU (Jaccard) and Dice, their means and
the pixel accuracy, from one confusion matrix; the same scores as Keras metrics for training, and
the soft Dice loss.

For one class c, with TP, FP, FN counted over pixels (or voxels)::

    IoU_c  = TP / (TP + FP + FN)          (scikit-learn's jaccard_score, average=None)
    Dice_c = 2 TP / (2 TP + FP + FN) = 2 IoU_c / (1 + IoU_c)

A class that is in neither the truth nor the prediction has no score (NaN here); the means leave it
out, as Keras' ``MeanIoU`` does. Pixel weights (the U-Net weight map, or 0 on unannotated voxels)
weight every count: a pixel of weight 0 is not scored at all.

Training a segmentation network needs no cross-entropy of its own: Keras'
``SparseCategoricalCrossentropy`` with a per-pixel ``sample_weight`` of shape (batch, height, width)
is the paper's pixel-weighted cross-entropy. :class:`PixelCrossEntropy` is that loss, with one
workaround for PyTorch (see there).
"""

from __future__ import annotations

import keras
import numpy as np
import pandas as pd
from keras import ops
from sklearn.metrics import confusion_matrix

from cnnkit.models.layers import PACKAGE


def _checked_masks(y_true, y_pred, num_classes: int, weights=None):
    y_true, y_pred = np.asarray(y_true), np.asarray(y_pred)
    if y_true.shape != y_pred.shape:
        raise ValueError(f"the true masks have shape {y_true.shape} but the predicted ones {y_pred.shape}.")
    for name, mask in (("true", y_true), ("predicted", y_pred)):
        if mask.size and (mask.min() < 0 or mask.max() >= num_classes):
            raise ValueError(f"the {name} masks hold classes {mask.min()}..{mask.max()}, outside 0..{num_classes - 1}.")
    if weights is not None:
        weights = np.broadcast_to(np.asarray(weights, dtype="float64"), y_true.shape)
        if (weights < 0).any():
            raise ValueError("pixel weights must not be negative.")
        weights = weights.ravel()
    return y_true.ravel(), y_pred.ravel(), weights


def mask_confusion(y_true, y_pred, num_classes: int, weights=None) -> np.ndarray:
    """The ``(num_classes, num_classes)`` confusion matrix of integer masks of any equal shape
    (rows: true class, columns: predicted), each pixel counted with its weight (default 1)."""
    y_true, y_pred, weights = _checked_masks(y_true, y_pred, num_classes, weights)
    return confusion_matrix(y_true, y_pred, labels=np.arange(num_classes), sample_weight=weights)


def class_scores(confusion, class_names=None) -> pd.DataFrame:
    """Per class, from a confusion matrix: ``iou``, ``dice`` (NaN for a class in neither truth nor
    prediction) and ``support`` (its weighted pixel count in the truth)."""
    confusion = np.asarray(confusion, dtype="float64")
    hits = np.diag(confusion)
    truth, predicted = confusion.sum(axis=1), confusion.sum(axis=0)
    union = truth + predicted - hits
    with np.errstate(invalid="ignore", divide="ignore"):
        iou = np.where(union > 0, hits / union, np.nan)
        dice = np.where(truth + predicted > 0, 2 * hits / (truth + predicted), np.nan)
    index = list(class_names) if class_names is not None else list(range(len(confusion)))
    return pd.DataFrame({"iou": iou, "dice": dice, "support": truth}, index=index)


def mask_report(y_true, y_pred, class_names, weights=None, scored=None) -> tuple[pd.DataFrame, dict]:
    """Per-class scores (:func:`class_scores`) and the summary ``{"pixel_accuracy", "mean_iou",
    "mean_dice"}`` over the classes ``scored`` (indices; default all: a task may leave the background
    out of its headline, see :mod:`cnnkit.tasks`)."""
    confusion = mask_confusion(y_true, y_pred, len(class_names), weights)
    table = class_scores(confusion, class_names)
    chosen = table.iloc[list(scored)] if scored is not None else table
    total = confusion.sum()
    summary = {
        "pixel_accuracy": float(np.trace(confusion) / total) if total else float("nan"),
        "mean_iou": float(chosen["iou"].mean()),
        "mean_dice": float(chosen["dice"].mean()),
    }
    return table, summary


# --- Keras metrics and losses ------------------------------------------------------------------


@keras.saving.register_keras_serializable(package=PACKAGE)
class MeanDice(keras.metrics.IoU):
    """Mean Dice over ``target_class_ids`` from Keras' IoU confusion matrix (Dice = 2 IoU / (1 + IoU)
    per class; classes in neither truth nor prediction left out, as ``MeanIoU`` does). Takes
    integer masks and softmax outputs (``sparse_y_pred=False``) like the other mask metrics."""

    def result(self):
        confusion = ops.cast(self.total_cm, "float32")
        hits = ops.diagonal(confusion)
        both = ops.sum(confusion, axis=0) + ops.sum(confusion, axis=1)
        dice = ops.divide(2.0 * hits, ops.maximum(both, 1e-9))
        valid = ops.cast(ops.greater(both, 1e-9), "float32")
        ids = ops.convert_to_tensor(self.target_class_ids, dtype="int32")
        dice, valid = ops.take(dice, ids), ops.take(valid, ids)
        return ops.sum(dice * valid) / ops.maximum(ops.sum(valid), 1e-9)


def mask_metrics(num_classes: int, scored=None) -> list:
    """Keras metrics for integer masks and softmax outputs: ``pixel_accuracy``, ``mean_iou`` and
    ``mean_dice`` over the classes ``scored`` (default all), with pixel weights when given."""
    scored = list(range(num_classes)) if scored is None else list(scored)
    return [
        keras.metrics.SparseCategoricalAccuracy(name="pixel_accuracy"),
        keras.metrics.IoU(num_classes, target_class_ids=scored, sparse_y_pred=False, name="mean_iou"),
        MeanDice(num_classes, target_class_ids=scored, sparse_y_pred=False, name="mean_dice"),
    ]


@keras.saving.register_keras_serializable(package=PACKAGE)
class PixelCrossEntropy(keras.losses.Loss):
    """Cross-entropy per pixel (or voxel): softmax outputs ``(batch, ..., classes)``, integer masks
    ``(batch, ...)`` in; one value per pixel out, so that a per-pixel ``sample_weight`` (the U-Net weight
    map, 0 on unannotated voxels) weighs each, as with ``keras.losses.SparseCategoricalCrossentropy``.

    It is that loss on TensorFlow and JAX. On PyTorch, Keras 3.15 moves the class axis of a
    ``(batch, height, width, classes)`` output to position 1 and hands the non-contiguous result to
    ``nll_loss``, whose backward pass then fails ("grad_input must be contiguous"); there the positions
    are flattened to ``(positions, classes)`` first and the losses reshaped back: the same numbers."""

    def __init__(self, name: str = "pixel_cross_entropy", **kwargs):
        super().__init__(name=name, **kwargs)

    def call(self, y_true, y_pred):
        if keras.backend.backend() != "torch":
            return keras.losses.sparse_categorical_crossentropy(y_true, y_pred)
        positions = ops.shape(y_pred)[:-1]
        flat = keras.losses.sparse_categorical_crossentropy(
            ops.reshape(y_true, (-1,)), ops.reshape(y_pred, (-1, ops.shape(y_pred)[-1]))
        )
        return ops.reshape(flat, positions)


@keras.saving.register_keras_serializable(package=PACKAGE)
class SoftDiceLoss(keras.losses.Loss):
    """1 minus the soft Dice of each example, averaged over the classes: with ``p`` the softmax
    outputs and ``y`` the one-hot mask, ``1 - mean_c (2 sum p_c y_c + s) / (sum p_c + sum y_c + s)``,
    sums over the pixels of one example, ``s = smooth``. Integer masks in; one value per example."""

    def __init__(self, smooth: float = 1.0, name: str = "soft_dice", **kwargs):
        super().__init__(name=name, **kwargs)
        self.smooth = float(smooth)

    def call(self, y_true, y_pred):
        classes = ops.shape(y_pred)[-1]
        onehot = ops.one_hot(ops.cast(y_true, "int32"), classes, dtype=y_pred.dtype)
        axes = tuple(range(1, len(y_pred.shape) - 1))
        overlap = ops.sum(onehot * y_pred, axis=axes)
        sizes = ops.sum(onehot, axis=axes) + ops.sum(y_pred, axis=axes)
        return 1.0 - ops.mean((2.0 * overlap + self.smooth) / (sizes + self.smooth), axis=-1)

    def get_config(self):
        return {**super().get_config(), "smooth": self.smooth}
