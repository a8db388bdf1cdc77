"""Sequence labelling: what the tagger (:mod:`cnnkit.models.tagging`) is measured against and by.

- Baselines: :func:`majority_by_context` (the most frequent label of each character context in
  training) and :func:`ngram_logistic_regression` (scikit-learn on the characters around each position).
- :func:`tag_scores`: F1 per label and macro F1 (scikit-learn) over the real positions;
  :class:`MacroF1`, the same macro F1 as a Keras metric for training.
"""

from __future__ import annotations

from collections import Counter, defaultdict

import keras
import numpy as np
import pandas as pd
from keras import ops

from cnnkit.models.layers import PACKAGE


def context_keys(ids: np.ndarray, before: int = 1, after: int = 1) -> np.ndarray:
    """Per position, the characters from ``before`` to ``after`` around it as one tuple-like key row
    ``(n, time, before + 1 + after)`` (0 beyond the ends)."""
    padded = np.pad(ids, ((0, 0), (before, after)))
    return np.stack([padded[:, k : k + ids.shape[1]] for k in range(before + 1 + after)], axis=-1)


def majority_by_context(train_ids, train_labels, train_mask, before: int = 1, after: int = 1):
    """The most frequent label of each character context (``before`` and ``after`` characters around)
    in training; a context never seen gets the most frequent label overall. Returns ``predict(ids)``."""
    keys = context_keys(train_ids, before, after)[train_mask > 0]
    counts: dict[tuple, Counter] = defaultdict(Counter)
    for key, label in zip(map(tuple, keys), train_labels[train_mask > 0], strict=True):
        counts[key][int(label)] += 1
    overall = Counter(train_labels[train_mask > 0].tolist()).most_common(1)[0][0]
    best = {key: counter.most_common(1)[0][0] for key, counter in counts.items()}

    def predict(ids):
        found = context_keys(ids, before, after)
        flat = [best.get(tuple(key), overall) for key in found.reshape(-1, found.shape[-1])]
        return np.asarray(flat, "int32").reshape(ids.shape)

    return predict


def ngram_logistic_regression(
    train_ids, train_labels, train_mask, before: int = 3, after: int = 3, seed: int = 0
):
    """scikit-learn's logistic regression on the characters at each offset from ``-before`` to ``after``
    (one-hot per offset: the character n-grams around the position). Returns ``predict(ids)``."""
    from sklearn.linear_model import LogisticRegression
    from sklearn.preprocessing import OneHotEncoder

    encoder = OneHotEncoder(handle_unknown="ignore")
    features = encoder.fit_transform(context_keys(train_ids, before, after)[train_mask > 0])
    model = LogisticRegression(max_iter=300, random_state=seed).fit(features, train_labels[train_mask > 0])

    def predict(ids):
        found = context_keys(ids, before, after).reshape(-1, before + 1 + after)
        return model.predict(encoder.transform(found)).astype("int32").reshape(ids.shape)

    return predict


def tag_scores(labels, predicted, mask, label_names) -> tuple[pd.DataFrame, float]:
    """F1, precision, recall and support per label over the positions where ``mask`` is 1, and the
    macro F1 (the unweighted mean over the labels that occur in the truth)."""
    from sklearn.metrics import precision_recall_fscore_support

    real = np.asarray(mask) > 0
    truth, guess = np.asarray(labels)[real], np.asarray(predicted)[real]
    present = sorted(set(truth.tolist()))
    precision, recall, f1, support = precision_recall_fscore_support(
        truth, guess, labels=present, zero_division=0
    )
    table = pd.DataFrame(
        {"precision": precision, "recall": recall, "f1": f1, "support": support},
        index=[label_names[k] for k in present],
    )
    return table, float(np.mean(f1))


@keras.saving.register_keras_serializable(package=PACKAGE)
class MacroF1(keras.metrics.IoU):
    """:func:`tag_scores`' macro F1 as a Keras metric: from Keras' confusion matrix over the positions
    (weighted by the ``sample_weight`` mask, so padding is not counted), F1 per label ``2 TP / (2 TP + FP +
    FN)``, averaged over the labels that occur in the truth. Integer labels and per-position scores in
    (the largest score is the prediction)."""

    def __init__(self, num_classes: int, name: str = "macro_f1", **kwargs):
        kwargs.setdefault("target_class_ids", list(range(num_classes)))
        kwargs.setdefault("sparse_y_pred", False)
        super().__init__(num_classes=num_classes, name=name, **kwargs)

    def result(self):
        confusion = ops.cast(self.total_cm, "float32")  # rows: true labels, columns: predicted
        hits, truth = ops.diagonal(confusion), ops.sum(confusion, axis=1)
        f1 = ops.divide(2.0 * hits, ops.maximum(truth + ops.sum(confusion, axis=0), 1e-9))
        present = ops.cast(ops.greater(truth, 0.0), "float32")
        return ops.sum(f1 * present) / ops.maximum(ops.sum(present), 1.0)
