"""A linear-chain conditional random field in ``keras.ops``: the likelihood of a tag sequence and the
best sequence (Viterbi), for the 1D CNN tagger of notebook 11.

A tagger gives per-position scores ("potentials") ``u[t, k]`` for tag ``k`` at position ``t``; the CRF
adds a learned score ``A[i, j]`` for tag ``j`` following tag ``i``. A whole sequence ``y`` scores

    s(y) = sum_t u[t, y_t] + sum_{t > 0} A[y_{t-1}, y_t]

and has probability ``exp(s(y)) / Z``, ``Z`` the sum of ``exp(s)`` over every tag sequence, computed by
the forward recursion ``alpha_t[j] = u[t, j] + logsumexp_i(alpha_{t-1}[i] + A[i, j])`` in ``T K^2``
steps instead of ``K^T``. Viterbi replaces the logsumexp by a max and remembers the argmax. Padding
positions (``mask`` 0, after the sequence's end) leave ``alpha`` unchanged and take no tag.

Shapes: potentials ``(batch, time, tags)``, tags and mask ``(batch, time)``, transitions
``(tags, tags)``; the mask is 1 on a prefix of each sequence (its real positions) and 0 after it.
"""

from __future__ import annotations

import numpy as np
from keras import ops


def _mask(mask, potentials):
    if mask is None:
        return ops.ones(ops.shape(potentials)[:2], dtype=potentials.dtype)
    return ops.cast(mask, potentials.dtype)


def sequence_score(potentials, tags, transitions, mask=None):
    """``s(y)`` of each example's ``tags`` over its real positions: ``(batch,)``."""
    potentials, transitions = ops.convert_to_tensor(potentials), ops.convert_to_tensor(transitions)
    tags = ops.cast(tags, "int32")
    mask = _mask(mask, potentials)
    classes = ops.shape(potentials)[-1]
    onehot = ops.one_hot(tags, classes, dtype=potentials.dtype)  # (batch, time, tags)
    unary = ops.sum(ops.sum(onehot * potentials, axis=-1) * mask, axis=-1)
    pair = ops.einsum("bti,ij,btj->bt", onehot[:, :-1], transitions, onehot[:, 1:])  # A[y_{t-1}, y_t]
    return unary + ops.sum(pair * mask[:, 1:], axis=-1)


def log_partition(potentials, transitions, mask=None):
    """``log Z`` of each example by the forward recursion: ``(batch,)``."""
    potentials, transitions = ops.convert_to_tensor(potentials), ops.convert_to_tensor(transitions)
    mask = _mask(mask, potentials)
    alpha = potentials[:, 0]
    for t in range(1, potentials.shape[1]):
        step = ops.logsumexp(alpha[:, :, None] + transitions[None], axis=1) + potentials[:, t]
        keep = mask[:, t : t + 1]
        alpha = keep * step + (1.0 - keep) * alpha  # a padding position leaves alpha as it was
    return ops.logsumexp(alpha, axis=-1)


def crf_log_likelihood(potentials, tags, transitions, mask=None):
    """``log p(tags | input) = s(tags) - log Z`` per example, ``(batch,)``; minus its mean is the loss."""
    return sequence_score(potentials, tags, transitions, mask) - log_partition(potentials, transitions, mask)


def viterbi_decode(potentials, transitions, mask=None) -> np.ndarray:
    """The highest-scoring tag sequence of each example, int32 ``(batch, time)`` (NumPy), with -1 on
    padding positions."""
    potentials = np.asarray(ops.convert_to_numpy(potentials), "float64")
    transitions = np.asarray(ops.convert_to_numpy(transitions), "float64")
    batch, time, _ = potentials.shape
    mask = (
        np.ones((batch, time), bool) if mask is None else np.asarray(ops.convert_to_numpy(mask)).astype(bool)
    )
    best = np.full((batch, time), -1, "int32")
    for b in range(batch):
        length = int(mask[b].sum())
        if length == 0:
            continue
        score = potentials[b, 0].copy()
        back = np.zeros((length, potentials.shape[2]), "int64")
        for t in range(1, length):
            candidates = score[:, None] + transitions  # (previous tag, tag)
            back[t] = candidates.argmax(axis=0)
            score = candidates.max(axis=0) + potentials[b, t]
        tag = int(score.argmax())
        for t in range(length - 1, -1, -1):
            best[b, t] = tag
            tag = int(back[t, tag])
    return best
