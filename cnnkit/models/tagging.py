"""Sequence labelling with a 1D CNN: the tagger and its CRF form.

- :func:`cnn_tagger`: character ids ``(batch, positions)`` -> embeddings -> stacked 1D convolutions
  ("same" padding, optional dilation) -> a softmax per position ``(batch, positions, labels)``. Padding
  positions (id 0) are left out of the loss and every score by a per-position ``sample_weight``.
- :class:`CRFTagger`: the same network's scores as a CRF's potentials, with a learned transition matrix;
  trained on the CRF's negative log-likelihood (:mod:`cnnkit.crf`) and decoded by Viterbi.

The baselines and the scores (F1 per label, macro F1) are in :mod:`cnnkit.tagging`.
"""

from __future__ import annotations

import keras
import numpy as np
from keras import layers, ops

from cnnkit.crf import crf_log_likelihood, viterbi_decode
from cnnkit.models.layers import PACKAGE
from cnnkit.models.registry import register

PAPER = ("Collobert, Weston, Bottou, Karlen, Kavukcuoglu & Kuksa (2011). Natural Language Processing (Almost) "
         "from Scratch. JMLR 12")  # fmt: skip


def receptive_field(kernel: int, dilations) -> int:
    """Positions one output sees through convolutions of ``kernel`` taps at the given dilations:
    ``1 + sum (kernel - 1) * d`` (notebook 00's rule with dilation)."""
    return 1 + sum((kernel - 1) * d for d in dilations)


# The characters of ud_ewt_pos (cnnkit.data.treebank): printable ASCII, padding and unknown.
TREEBANK_VOCABULARY = 97


@register(summary="1D CNN tagger: character embeddings, dilated convolutions, a label per position", year=2011,
          paper=PAPER, parameters=44_902, takes="characters", task="tagging",
          fitted={"ud_ewt_pos": {"vocabulary": TREEBANK_VOCABULARY}})  # fmt: skip
def cnn_tagger(
    input_shape=(256,),
    num_classes=6,
    vocabulary=39,
    embedding=32,
    width=64,
    kernel=3,
    dilations=(1, 2, 4, 8),
    scores_only=False,
):
    """The 1D CNN tagger: ``(batch, positions)`` int ids in (``input_shape = (positions,)``; 0 pads),
    ``(batch, positions, num_classes)`` out: a softmax per position, or the raw scores with
    ``scores_only``, which :class:`CRFTagger` reads as potentials. ``vocabulary``: the number of ids
    (39: :mod:`cnnkit.data.punctuation`'s 37 characters, padding and unknown)."""
    (length,) = input_shape
    ids = keras.Input(shape=(length,), dtype="int32", name="characters")
    x = layers.Embedding(vocabulary, embedding, name="embedding")(ids)
    for i, dilation in enumerate(dilations, start=1):
        x = layers.Conv1D(
            width, kernel, dilation_rate=dilation, padding="same", activation="relu", name=f"conv{i}"
        )(x)
    scores = layers.Dense(num_classes, activation=None if scores_only else "softmax", name="tags")(x)
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
