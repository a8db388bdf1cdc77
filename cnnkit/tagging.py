"""Sequence labelling with a 1D CNN: the tagger, its CRF form, the two baselines and the scores.

- :func:`cnn_tagger`: character ids ``(batch, time)`` -> embeddings -> stacked 1D convolutions
  ("same" padding, optional dilation) -> a softmax per position ``(batch, time, labels)``. Padding
  positions (id 0) are left out of the loss and every score by a per-position ``sample_weight``.
- :class:`CRFTagger`: the same network's scores as a CRF's potentials, with a learned transition matrix;
  trained on the CRF's negative log-likelihood (:mod:`cnnkit.crf`) and decoded by Viterbi.
- Baselines: :func:`majority_by_context` (the most frequent label of each character context in
  training) and :func:`ngram_logistic_regression` (scikit-learn on the characters around each position).
- :func:`tag_scores`: F1 per label and macro F1 (scikit-learn) over the real positions.
"""

from __future__ import annotations

from collections import Counter, defaultdict

import keras
import numpy as np
import pandas as pd
from keras import layers, ops

from cnnkit.crf import crf_log_likelihood, viterbi_decode
from cnnkit.models.layers import PACKAGE


def receptive_field(kernel: int, dilations) -> int:
    """Positions one output sees through convolutions of ``kernel`` taps at the given dilations:
    ``1 + sum (kernel - 1) * d`` (notebook 00's rule with dilation)."""
    return 1 + sum((kernel - 1) * d for d in dilations)


def cnn_tagger(
    length=256,
    vocabulary=39,
    labels=6,
    embedding=32,
    width=64,
    kernel=3,
    dilations=(1, 2, 4, 8),
    scores_only=False,
):
    """The 1D CNN tagger: ``(batch, length)`` int ids in, ``(batch, length, labels)`` out (a softmax per
    position, or the raw scores with ``scores_only``, which :class:`CRFTagger` reads as potentials)."""
    ids = keras.Input(shape=(length,), dtype="int32", name="characters")
    x = layers.Embedding(vocabulary, embedding, name="embedding")(ids)
    for i, dilation in enumerate(dilations, start=1):
        x = layers.Conv1D(
            width, kernel, dilation_rate=dilation, padding="same", activation="relu", name=f"conv{i}"
        )(x)
    scores = layers.Dense(labels, activation=None if scores_only else "softmax", name="tags")(x)
    return keras.Model(ids, scores, name="cnn_tagger_scores" if scores_only else "cnn_tagger")


@keras.saving.register_keras_serializable(package=PACKAGE)
class CRFTagger(keras.Model):
    """A network of per-position scores (``encoder``, e.g. ``cnn_tagger(scores_only=True)``) under a
    linear-chain CRF. ``call`` returns the potentials; the loss is minus the mean CRF log-likelihood of
    the true tags, the real positions given by the ``sample_weight`` mask; :meth:`decode` runs Viterbi."""

    def __init__(self, encoder: keras.Model, **kwargs):
        super().__init__(**kwargs)
        self.encoder = encoder
        labels = encoder.output_shape[-1]
        self.transitions = self.add_weight(shape=(labels, labels), initializer="zeros", name="transitions")

    def call(self, inputs, training=False):
        return self.encoder(inputs, training=training)

    def compute_loss(self, x=None, y=None, y_pred=None, sample_weight=None, training=True):
        mask = sample_weight if sample_weight is not None else ops.ones(ops.shape(y)[:2])
        return -ops.mean(crf_log_likelihood(y_pred, y, self.transitions, mask))

    def decode(self, ids, mask) -> np.ndarray:
        """Viterbi's tags, int32 ``(batch, time)``, -1 on padding."""
        return viterbi_decode(self(ids, training=False), self.transitions, mask)

    def get_config(self):
        return {**super().get_config(), "encoder": keras.saving.serialize_keras_object(self.encoder)}

    @classmethod
    def from_config(cls, config):
        config["encoder"] = keras.saving.deserialize_keras_object(config["encoder"])
        return cls(**config)


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
