"""Evaluate a trained classifier: predictions, accuracy, confusion matrix, per-class report.

Every function takes a model and a ``tf.data`` pipeline of ``(images, labels)`` batches, or
arrays of true and predicted labels, and uses scikit-learn for the metrics.
"""

from __future__ import annotations

from dataclasses import dataclass

import keras
import numpy as np
import pandas as pd
import tensorflow as tf
from sklearn.metrics import accuracy_score, classification_report, confusion_matrix

from cnnkit.models.layers import predicts_penalties


@dataclass(frozen=True)
class Predictions:
    """One pass of a model over a dataset.

    Attributes:
        y_true: int ``(n,)`` true labels.
        y_pred: int ``(n,)`` predicted labels.
        scores: float ``(n, classes)`` model outputs (probabilities, or penalties for RBF).
        images: ``(n, h, w, c)`` inputs when requested, else ``None``.
    """

    y_true: np.ndarray
    y_pred: np.ndarray
    scores: np.ndarray
    images: np.ndarray | None = None


def predict(model: keras.Model, dataset: tf.data.Dataset, keep_images: bool = False) -> Predictions:
    """Run ``model`` over every batch of ``dataset``.

    The predicted class is the largest output, or the smallest for models whose outputs
    are penalties (LeNet-5's Euclidean RBF layer).
    """
    labels, scores, images = [], [], []
    for batch_images, batch_labels in dataset:
        scores.append(np.asarray(model(batch_images, training=False)))
        labels.append(np.asarray(batch_labels))
        if keep_images:
            images.append(np.asarray(batch_images))
    if not scores:
        raise ValueError("The dataset is empty: there is nothing to predict.")
    scores = np.concatenate(scores)
    pick = np.argmin if predicts_penalties(model) else np.argmax
    return Predictions(
        y_true=np.concatenate(labels).astype("int64"),
        y_pred=pick(scores, axis=1).astype("int64"),
        scores=scores,
        images=np.concatenate(images) if keep_images else None,
    )


def report_frame(y_true, y_pred, class_names) -> pd.DataFrame:
    """scikit-learn's classification report as a DataFrame.

    One row per class (precision, recall, f1-score, support) followed by the
    ``accuracy`` row (its value in the f1-score column, as in scikit-learn's text report),
    and the ``macro avg`` and ``weighted avg`` rows.
    """
    report = classification_report(
        y_true,
        y_pred,
        labels=list(range(len(class_names))),
        target_names=list(class_names),
        output_dict=True,
        zero_division=0,
    )
    accuracy = report.pop("accuracy")  # a single number; shown as sklearn's text report does
    frame = pd.DataFrame(report).T
    frame.loc["accuracy"] = [float("nan"), float("nan"), accuracy, len(y_true)]
    frame = frame.reindex([*class_names, "accuracy", "macro avg", "weighted avg"])
    frame["support"] = frame["support"].astype(int)
    return frame


@dataclass(frozen=True)
class Evaluation:
    """The headline metrics of a classifier on one dataset.

    Attributes:
        accuracy: fraction of correct predictions.
        confusion: ``(classes, classes)`` counts; rows are true labels, columns predictions.
        report: per-class precision / recall / F1 (see :func:`report_frame`).
        predictions: the underlying :class:`Predictions`.
    """

    accuracy: float
    confusion: np.ndarray
    report: pd.DataFrame
    predictions: Predictions


def evaluate_classifier(model, dataset, class_names, keep_images: bool = False) -> Evaluation:
    """Accuracy, confusion matrix and per-class report of ``model`` on ``dataset``."""
    predictions = predict(model, dataset, keep_images=keep_images)
    labels = list(range(len(class_names)))
    return Evaluation(
        accuracy=float(accuracy_score(predictions.y_true, predictions.y_pred)),
        confusion=confusion_matrix(predictions.y_true, predictions.y_pred, labels=labels),
        report=report_frame(predictions.y_true, predictions.y_pred, class_names),
        predictions=predictions,
    )


def misclassified(predictions: Predictions, limit: int | None = None) -> np.ndarray:
    """Indices of the wrongly predicted examples, the most confidently wrong first.

    Confidence is the winning output (largest probability, or smallest penalty, relative
    to the true class's). ``limit`` caps how many indices are returned.
    """
    wrong = np.flatnonzero(predictions.y_true != predictions.y_pred)
    rows = predictions.scores[wrong]
    margin = np.abs(
        rows[np.arange(len(wrong)), predictions.y_pred[wrong]]
        - rows[np.arange(len(wrong)), predictions.y_true[wrong]]
    )
    ordered = wrong[np.argsort(-margin, kind="stable")]
    return ordered if limit is None else ordered[:limit]
