"""Evaluate classifiers: predictions, accuracy, confusion matrix, per-class report, and
cross-validation that keeps grouped samples (EEG segments of one trial) on one side.

The functions take a model and a ``tf.data`` pipeline of ``(images, labels)`` batches, or
arrays of labels, and use scikit-learn for the metrics and the folds.
"""

from __future__ import annotations

from dataclasses import dataclass

import keras
import numpy as np
import pandas as pd
import tensorflow as tf
from sklearn.metrics import accuracy_score, classification_report, confusion_matrix, f1_score
from sklearn.model_selection import StratifiedGroupKFold, StratifiedKFold
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler
from sklearn.svm import SVC

from cnnkit import backends
from cnnkit.models.losses import predicted_classes


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


def batch_limit(max_batches: int | None = None) -> int | None:
    """How many batches a pass over a dataset reads: ``max_batches`` when given, else Keras' own
    step limit when one is set (``keras.config.set_max_steps_per_epoch`` or
    ``KERAS_MAX_STEPS_PER_EPOCH``, which every ``fit``, ``evaluate`` and ``predict`` obeys), else
    ``None``: all of them."""
    if max_batches is not None:
        if max_batches < 1:
            raise ValueError(f"max_batches must be positive or None, got {max_batches}.")
        return max_batches
    return keras.config.max_steps_per_epoch() or None


def limited(dataset: tf.data.Dataset, max_batches: int | None = None) -> tf.data.Dataset:
    """``dataset`` as a pass over it reads it: every batch, or the first :func:`batch_limit` of them."""
    limit = batch_limit(max_batches)
    return dataset if limit is None else dataset.take(limit)


def predict(model: keras.Model, dataset: tf.data.Dataset, keep_images: bool = False,
            max_batches: int | None = None) -> Predictions:  # fmt: skip
    """Run ``model`` over every batch of ``dataset`` (or the first ``max_batches``, see
    :func:`batch_limit`).

    The predicted class is the largest output, or the smallest for models whose outputs
    are penalties (LeNet-5's Euclidean RBF layer).
    """
    labels, scores, images = [], [], []
    for batch_images, batch_labels in limited(dataset, max_batches):
        scores.append(backends.forward(model, batch_images))
        labels.append(np.asarray(batch_labels))
        if keep_images:
            images.append(np.asarray(batch_images))
    if not scores:
        raise ValueError("The dataset is empty: there is nothing to predict.")
    scores = np.concatenate(scores)
    return Predictions(
        y_true=np.concatenate(labels).astype("int64"),
        y_pred=predicted_classes(model, scores),
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


def evaluate_classifier(model, dataset, class_names, keep_images: bool = False,
                        max_batches: int | None = None) -> Evaluation:  # fmt: skip
    """Accuracy, confusion matrix and per-class report of ``model`` on ``dataset`` (or on its
    first ``max_batches`` batches, see :func:`batch_limit`)."""
    predictions = predict(model, dataset, keep_images=keep_images, max_batches=max_batches)
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


# --- cross-validation for grouped data (EEG: many segments per trial) ----------------------


def grouped_folds(groups, labels, n_splits: int = 10, seed: int = 0) -> list[tuple[np.ndarray, np.ndarray]]:
    """Stratified folds that keep every group whole: ``(train_indices, test_indices)`` pairs.

    With ``groups`` = trial ids, all segments of a trial land in the same fold, so no trial is
    seen in training and testing (no leakage). With ``groups`` = subject ids it becomes
    leave-subjects-out; ``n_splits`` = number of subjects gives leave-one-subject-out.
    """
    groups, labels = np.asarray(groups), np.asarray(labels)
    if len(np.unique(groups)) < n_splits:
        raise ValueError(f"{len(np.unique(groups))} groups cannot make {n_splits} folds.")
    splitter = StratifiedGroupKFold(n_splits=n_splits, shuffle=True, random_state=seed)
    return list(splitter.split(np.zeros(len(labels)), labels, groups))


def segment_folds(labels, n_splits: int = 10, seed: int = 0) -> list[tuple[np.ndarray, np.ndarray]]:
    """Stratified folds over individual samples, ignoring which trial they came from.

    This is the protocol of many published DEAP results. Segments of one trial end up on both
    sides, so the score measures recognizing the trial, not the emotion: it inflates accuracy.
    Use it only to show that effect next to :func:`grouped_folds`.
    """
    splitter = StratifiedKFold(n_splits=n_splits, shuffle=True, random_state=seed)
    return list(splitter.split(np.zeros(len(labels)), labels))


def cross_validate(fit_predict, x, y, folds) -> pd.DataFrame:
    """Score ``fit_predict(x_train, y_train, x_test) -> y_pred`` on every fold.

    Returns one row per fold: ``fold``, ``accuracy``, ``f1`` (macro), ``majority`` (accuracy of
    always predicting the training fold's most frequent class: the floor to beat). Every fold of
    ``folds`` runs (pass fewer to spend less).
    """
    x, y = np.asarray(x), np.asarray(y)
    rows = []
    for fold, (train, test) in enumerate(folds):
        predicted = np.asarray(fit_predict(x[train], y[train], x[test]))
        majority = np.bincount(y[train]).argmax()
        rows.append({
            "fold": fold,
            "accuracy": accuracy_score(y[test], predicted),
            "f1": f1_score(y[test], predicted, average="macro", zero_division=0),
            "majority": accuracy_score(y[test], np.full(len(test), majority)),
        })  # fmt: skip
    return pd.DataFrame(rows)


def keras_classifier(
    builder, epochs: int = 10, batch_size: int = 64, learning_rate: float = 1e-3, seed: int = 0
):
    """A ``fit_predict`` for :func:`cross_validate` that trains a fresh Keras model per fold.

    ``builder(input_shape, num_classes) -> keras.Model`` (e.g. ``lambda s, k: build("ccnn",
    input_shape=s, num_classes=k)``); labels are integers ``0..classes-1``.
    """
    from cnnkit.seed import set_seed
    from cnnkit.training import train

    def fit_predict(x_train, y_train, x_test):
        set_seed(seed, deterministic=False)
        classes = int(max(y_train.max(), 1)) + 1
        model = builder(x_train.shape[1:], classes)
        data = tf.data.Dataset.from_tensor_slices((x_train, y_train)).shuffle(len(x_train), seed=seed)
        train(model, data.batch(batch_size), epochs=epochs, learning_rate=learning_rate, verbose=0)
        # A direct call per chunk: predict() would trace a new function for every fold's model.
        chunks = np.array_split(x_test, max(1, -(-len(x_test) // 1024)))
        return np.concatenate([predicted_classes(model, model(chunk, training=False)) for chunk in chunks])

    return fit_predict


def svm_classifier(c: float = 1.0):
    """A ``fit_predict`` for :func:`cross_validate`: standardized features, RBF-kernel SVM."""

    def fit_predict(x_train, y_train, x_test):
        model = make_pipeline(StandardScaler(), SVC(kernel="rbf", C=c))
        model.fit(x_train.reshape(len(x_train), -1), y_train)
        return model.predict(x_test.reshape(len(x_test), -1))

    return fit_predict


# --- what each task kind's record names as its evaluation (cnnkit.tasks) ---------------------------


def evaluate_classification(model, dataset, class_names, scored=None):
    """A classifier on a test pipeline, as a run reports it: accuracy and loss, the per-class
    report and the confusion matrix (:class:`cnnkit.tasks.TaskEvaluation`)."""
    from cnnkit import plots
    from cnnkit.tasks import TaskEvaluation

    result = evaluate_classifier(model, dataset, class_names)
    loss = float(model.loss(result.predictions.y_true, result.predictions.scores)) if model.loss else float("nan")
    return TaskEvaluation(headline=result.accuracy, summary={"test_accuracy": result.accuracy, "test_loss": loss},
                          table=result.report, examples=int(len(result.predictions.y_true)),
                          figures={"confusion_matrix.png": plots.confusion_heatmap(result.confusion, class_names)})  # fmt: skip


def predict_masks(model, dataset, keep: int = 4):
    """``(y_true, y_pred, weights or None, examples)`` over a pipeline of ``(images, masks[,
    weights])`` batches: integer masks (n, height, width), and the first ``keep`` ``(image, truth,
    prediction)`` triples."""
    truths, predictions, weights, examples = [], [], [], []
    for batch in dataset:
        images, masks = np.asarray(batch[0]), np.asarray(batch[1])
        predicted = np.asarray(backends.forward(model, images)).argmax(axis=-1)
        truths.append(masks)
        predictions.append(predicted)
        if len(batch) > 2:
            weights.append(np.asarray(batch[2]))
        for image, truth, guess in zip(images, masks, predicted, strict=True):
            if len(examples) < keep:
                examples.append((image, truth, guess))
    if not truths:
        raise ValueError("The dataset is empty: there is nothing to predict.")
    return np.concatenate(truths), np.concatenate(predictions), (np.concatenate(weights) if weights else None), examples


def evaluate_segmentation(model, dataset, class_names, scored=None):
    """A segmentation network on a test pipeline: pixel accuracy, mean IoU and Dice over the classes
    ``scored``, IoU per class, the per-class table and masks drawn beside the truth."""
    from cnnkit import plots
    from cnnkit.segmentation import mask_report
    from cnnkit.tasks import TaskEvaluation

    truth, predicted, weights, examples = predict_masks(model, dataset)
    table, summary = mask_report(truth, predicted, class_names, weights=weights, scored=scored)
    summary = {f"test_{key}": value for key, value in summary.items()}
    summary["test_iou"] = {str(name): (None if np.isnan(v) else float(v)) for name, v in table["iou"].items()}
    return TaskEvaluation(headline=summary["test_mean_iou"], summary=summary, table=table, examples=int(len(truth)),
                          figures={"masks.png": plots.mask_examples(examples, class_names)})  # fmt: skip


def evaluate_separation(model, dataset, class_names, scored=None):
    """A separator on a test pipeline of ``(mixtures, sources)`` batches: per mixture the SI-SNR of the
    mixture itself and of the estimates under the best assignment of outputs to speakers, and their
    difference, SI-SNRi; the same for BSS Eval's SDR, and SDRi (:mod:`cnnkit.separation`); the means in
    the summary; the first mixture's spectrograms beside its true sources. Reads every batch, or as many
    as Keras' own step limit allows (:func:`limited`), as ``model.evaluate`` does."""
    import itertools

    from cnnkit import plots
    from cnnkit.data.speech import RATE
    from cnnkit.separation import sdr_scores, separation_scores
    from cnnkit.tasks import TaskEvaluation

    rows, example = [], None
    for mixtures, sources in limited(dataset):  # Keras' own step limit, as its evaluate obeys it (smoke mode)
        mixtures, sources = np.asarray(mixtures, "float64"), np.asarray(sources, "float64")
        estimates = np.asarray(backends.forward(model, mixtures.astype("float32")), "float64")
        best, baseline, order = separation_scores(estimates, sources, mixtures)
        sdr, mixture_sdr = sdr_scores(estimates, sources, mixtures)
        for b, m, d, md in zip(best, baseline, sdr, mixture_sdr, strict=True):
            rows.append({"si_snr": float(b), "mixture_si_snr": float(m), "si_snri": float(b - m),
                         "sdr": float(d), "mixture_sdr": float(md), "sdri": float(d - md)})  # fmt: skip
        if example is None:  # output e of the best permutation holds source permutation[e]
            permutation = list(itertools.permutations(range(sources.shape[1])))[int(order[0])]
            matched = np.empty_like(estimates[0])
            matched[list(permutation)] = estimates[0]
            example = (mixtures[0], sources[0], matched)
    if not rows:
        raise ValueError("The dataset is empty: there is nothing to separate.")
    table = pd.DataFrame(rows).rename_axis("mixture")
    columns = ("si_snri", "si_snr", "mixture_si_snr", "sdri", "sdr", "mixture_sdr")
    summary = {f"test_{key}": float(table[key].mean()) for key in columns}
    figure = plots.separation_spectrograms(*example, rate=RATE, names=class_names)
    return TaskEvaluation(headline=summary["test_si_snri"], summary=summary, table=table, examples=len(table),
                          figures={"spectrograms.png": figure})  # fmt: skip


def predict_tags(model, ids, mask) -> np.ndarray:
    """The label of every position, int ``(batch, positions)``: Viterbi's path for a CRF tagger
    (:class:`cnnkit.models.tagging.CRFTagger`), else the largest output per position."""
    if hasattr(model, "decode"):
        return np.asarray(model.decode(ids, mask))
    return np.asarray(backends.forward(model, ids)).argmax(axis=-1)


def evaluate_tagging(model, dataset, class_names, scored=None):
    """A tagger on a test pipeline of ``(ids, labels, mask)`` batches: F1, precision, recall and support
    per label and the macro F1 over the real positions (:func:`cnnkit.tagging.tag_scores`), the accuracy
    over them, and the confusion matrix of the labels. Reads every batch, or as many as Keras' own step
    limit allows (:func:`limited`), as ``model.evaluate`` does."""
    from cnnkit import plots
    from cnnkit.tagging import tag_scores
    from cnnkit.tasks import TaskEvaluation

    truths, guesses, masks = [], [], []
    for ids, labels, mask in limited(dataset):  # Keras' own step limit, as its evaluate obeys it (smoke mode)
        truths.append(np.asarray(labels))
        masks.append(np.asarray(mask))
        guesses.append(predict_tags(model, np.asarray(ids), masks[-1]))
    if not truths:
        raise ValueError("The dataset is empty: there is nothing to tag.")
    truth, guess, mask = np.concatenate(truths), np.concatenate(guesses), np.concatenate(masks)
    table, macro = tag_scores(truth, guess, mask, class_names)
    real = mask > 0
    summary = {"test_macro_f1": macro, "test_accuracy": float((truth[real] == guess[real]).mean()),
               "test_positions": int(real.sum())}  # fmt: skip
    confusion = confusion_matrix(truth[real], guess[real], labels=list(range(len(class_names))))
    return TaskEvaluation(headline=macro, summary=summary, table=table, examples=int(len(truth)),
                          figures={"confusion_matrix.png": plots.confusion_heatmap(confusion, class_names)})  # fmt: skip
