"""How well separated sources match the true ones: scale-invariant SNR, permutation-invariant training,
and the improvements over the mixture that the Conv-TasNet paper reports.

For an estimate ŝ and the true source s (both made zero-mean over time)::

    s_target = (<ŝ, s> / ||s||^2) s        the part of the estimate along the source
    e_noise  = ŝ - s_target                 everything else
    SI-SNR   = 10 log10(||s_target||^2 / ||e_noise||^2)   in dB

Scaling the estimate does not change it (hence "scale-invariant"). A separator does not know which
output will hold which speaker, so utterance-level permutation-invariant training (PIT; Kolbæk et al.
2017) scores every assignment of outputs to speakers and keeps the best; the loss is minus the best
mean SI-SNR. SI-SNRi is the SI-SNR of the estimates minus that of the mixture itself taken as the
estimate of every source.

SDR, the other figure the paper reports, is BSS Eval's signal-to-distortion ratio (Vincent, Gribonval and
Févotte 2006): the estimate is split into the source passed through a 512-tap FIR filter (a distortion
that SDR forgives: an echo or a change of timbre costs nothing) and the rest. :func:`sdr_scores` takes it
from ``fast_bss_eval`` (Scheibler 2021), which computes what ``mir_eval.separation.bss_eval_sources``
does, faster (tests/test_tasnet.py checks the two agree); SDRi is, as for SI-SNR, the estimates' SDR
minus the mixture's.
"""

from __future__ import annotations

import itertools

import keras
import numpy as np
from keras import ops

from cnnkit.models.layers import PACKAGE

EPSILON = 1e-8


def si_snr(estimate, source):
    """SI-SNR in dB of ``estimate`` against ``source``, both ``(..., samples)``: one value per leading index
    (``keras.ops``: any backend, differentiable)."""
    estimate, source = ops.convert_to_tensor(estimate), ops.convert_to_tensor(source)
    estimate = estimate - ops.mean(estimate, axis=-1, keepdims=True)
    source = source - ops.mean(source, axis=-1, keepdims=True)
    scale = ops.sum(estimate * source, axis=-1, keepdims=True) / (
        ops.sum(source * source, axis=-1, keepdims=True) + EPSILON
    )
    target = scale * source
    noise = estimate - target
    ratio = (ops.sum(target * target, axis=-1) + EPSILON) / (ops.sum(noise * noise, axis=-1) + EPSILON)
    return 10.0 * ops.log(ratio) / np.log(10.0)


def best_permutation_si_snr(estimates, sources):
    """``(best mean SI-SNR, index of the best permutation)`` per example, for ``(batch, speakers, samples)``
    estimates and sources; permutation ``k`` is ``itertools.permutations(range(speakers))``'s k-th."""
    estimates, sources = ops.convert_to_tensor(estimates), ops.convert_to_tensor(sources)
    speakers = estimates.shape[1]
    pairwise = si_snr(ops.expand_dims(estimates, 2), ops.expand_dims(sources, 1))  # (batch, estimate, source)
    scores = []
    for order in itertools.permutations(range(speakers)):
        scores.append(ops.mean(ops.stack([pairwise[:, e, s] for e, s in enumerate(order)], axis=-1), axis=-1))
    scores = ops.stack(scores, axis=-1)  # (batch, permutations)
    return ops.max(scores, axis=-1), ops.argmax(scores, axis=-1)


@keras.saving.register_keras_serializable(package=PACKAGE)
class PermutationInvariantSiSnr(keras.losses.Loss):
    """Minus the best mean SI-SNR over the assignments of estimated to true speakers, per example:
    ``y_true`` and ``y_pred`` are ``(batch, speakers, samples)``."""

    def __init__(self, name: str = "pit_si_snr", **kwargs):
        super().__init__(name=name, **kwargs)

    def call(self, y_true, y_pred):
        best, _ = best_permutation_si_snr(y_pred, ops.cast(y_true, y_pred.dtype))
        return -best


def mixture_as_every_estimate(mixture, speakers: int) -> np.ndarray:
    """``(batch, samples)`` mixtures as ``(batch, speakers, samples)`` estimates, the same for every source:
    what the improvements (SI-SNRi, SDRi) measure from."""
    return np.repeat(mixture[:, None], speakers, axis=1)


def separation_scores(estimates, sources, mixture) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Per example (NumPy, float64): the best-permutation SI-SNR of ``estimates`` ``(batch, speakers,
    samples)``, the mean SI-SNR of the ``mixture`` ``(batch, samples)`` against each source, and the index of
    the best permutation (see :func:`best_permutation_si_snr`)."""
    estimates, sources, mixture = (np.asarray(a, "float64") for a in (estimates, sources, mixture))
    best, order = (ops.convert_to_numpy(t) for t in best_permutation_si_snr(estimates, sources))
    baseline = ops.convert_to_numpy(si_snr(mixture_as_every_estimate(mixture, sources.shape[1]), sources))
    return best, baseline.mean(axis=-1), order


SDR_FILTER_TAPS = 512  # BSS Eval v3's distortion filter, as mir_eval and the Conv-TasNet paper use it


def sdr_scores(estimates, sources, mixture) -> tuple[np.ndarray, np.ndarray]:
    """Per example (NumPy, float64): BSS Eval's SDR in dB of ``estimates`` ``(batch, speakers, samples)``
    averaged over the speakers, under the assignment of outputs to speakers with the best mean SDR; and
    the mean SDR of the ``mixture`` ``(batch, samples)`` taken as the estimate of every source."""
    import fast_bss_eval

    estimates, sources, mixture = (np.asarray(a, "float64") for a in (estimates, sources, mixture))
    separated = fast_bss_eval.sdr(sources, estimates, filter_length=SDR_FILTER_TAPS)
    unseparated = fast_bss_eval.sdr(sources, mixture_as_every_estimate(mixture, sources.shape[1]),
                                    filter_length=SDR_FILTER_TAPS)  # fmt: skip
    return separated.mean(axis=-1), unseparated.mean(axis=-1)


def si_snr_improvement(estimates, sources, mixture) -> np.ndarray:
    """SI-SNRi in dB per example (NumPy): the best-permutation SI-SNR of ``estimates`` ``(batch, speakers,
    samples)`` minus the mean SI-SNR of the ``mixture`` ``(batch, samples)`` against each source."""
    best, baseline, _ = separation_scores(estimates, sources, mixture)
    return best - baseline


@keras.saving.register_keras_serializable(package=PACKAGE)
class SiSnrImprovement(keras.metrics.Mean):
    """SI-SNRi in dB as a Keras metric, the mean over examples: the best-permutation SI-SNR of ``y_pred``
    minus that of the mixture, taken as ``y_true.sum(axis=1)``: the sources of a mixture add up to it, as
    in every mixture of :mod:`cnnkit.data.speech` (for other data, use :func:`si_snr_improvement` with the
    real mixture). ``y_true`` and ``y_pred`` are ``(batch, speakers, samples)``."""

    def __init__(self, name: str = "si_snri", **kwargs):
        super().__init__(name=name, **kwargs)
        self._direction = "up"  # higher is better: what Keras' EarlyStopping and checkpoints read

    def update_state(self, y_true, y_pred, sample_weight=None):
        y_true = ops.cast(y_true, y_pred.dtype)
        best, _ = best_permutation_si_snr(y_pred, y_true)
        mixture = ops.repeat(ops.sum(y_true, axis=1, keepdims=True), ops.shape(y_true)[1], axis=1)
        return super().update_state(best - ops.mean(si_snr(mixture, y_true), axis=-1), sample_weight)
