"""Conv-TasNet (cnnkit.models.tasnet) and SI-SNR with permutation-invariant training
(cnnkit.separation): the paper's configuration and count, the receptive field, causality, the two
layer norms against NumPy, SI-SNR against hand-computed cases, and a loss that ignores speaker order."""

import keras
import numpy as np
import pytest

from cnnkit.models.tasnet import (
    PAPER_CONFIGURATION,
    PAPER_PARAMETERS,
    CumulativeLayerNorm,
    GlobalLayerNorm,
    conv_tasnet,
    paper_parameter_count,
    receptive_field,
    valid_length,
)
from cnnkit.separation import PermutationInvariantSiSnr, best_permutation_si_snr, si_snr, si_snr_improvement

SMALL = {
    "filters": 16,
    "length": 8,
    "bottleneck": 8,
    "hidden": 16,
    "skip": 8,
    "kernel": 3,
    "blocks": 3,
    "repeats": 2,
}


def test_the_papers_best_configuration_and_its_count():
    model = conv_tasnet()
    assert model.input_shape == (None, 32000) and model.output_shape == (None, 2, 32000)
    assert model.count_params() == 4_984_881  # Keras: the last block's unused residual convolution left out
    assert paper_parameter_count(model) == PAPER_PARAMETERS == 5_050_545  # Table I: 5.1M
    assert model.get_layer("encoder").strides == (8,) and model.get_layer("encoder").kernel_size == (16,)
    dilations = [model.get_layer(f"tcn1_{b}_depthwise").dilation_rate[0] for b in range(1, 9)]
    assert dilations == [1, 2, 4, 8, 16, 32, 64, 128] and PAPER_CONFIGURATION["blocks"] == 8
    assert (
        conv_tasnet(causal=True).count_params() == model.count_params()
    )  # cLN and gLN hold the same weights


def test_the_receptive_field_is_1_53_seconds_at_8_khz():
    assert receptive_field() == 12_256 and round(receptive_field() / 8000, 2) == 1.53
    assert receptive_field(length=4, kernel=3, blocks=1, repeats=1) == (3 - 1) * 2 + 4  # 3 frames of stride 2


def test_a_wrong_length_is_refused_with_the_nearest_valid_ones():
    with pytest.raises(ValueError, match="the nearest that are: 32000, 32008"):
        conv_tasnet(input_shape=(32003,))


def test_the_causal_form_never_looks_ahead_and_the_non_causal_does():
    rng = np.random.default_rng(0)
    wave = rng.normal(size=(1, 400)).astype("float32")
    later = wave.copy()
    later[:, 300:] += rng.normal(size=(1, 100)).astype("float32")  # change only the future
    for causal, moves in ((True, False), (False, True)):
        keras.utils.set_random_seed(0)
        model = conv_tasnet(input_shape=(400,), causal=causal, **SMALL)
        before, after = (keras.ops.convert_to_numpy(model(w)) for w in (wave, later))
        # samples before 292 come from frames that end before sample 300 (frame length 8, stride 4)
        changed = np.abs(before[..., :292] - after[..., :292]).max()
        assert (changed > 1e-6) == moves, (causal, changed)


def test_one_set_of_weights_separates_any_valid_length():
    """``input_shape=(None,)`` builds the same network: with the fixed build's weights it gives the same
    estimates at the fixed length, and separates longer mixtures of the lengths valid_length returns."""
    keras.utils.set_random_seed(0)
    fixed = conv_tasnet(input_shape=(400,), **SMALL)
    free = conv_tasnet(input_shape=(None,), **SMALL)
    assert free.count_params() == fixed.count_params() and free.output_shape == (None, 2, None)
    free.set_weights(fixed.get_weights())
    wave = np.random.default_rng(2).normal(size=(2, 400)).astype("float32")
    np.testing.assert_allclose(*(keras.ops.convert_to_numpy(m(wave)) for m in (free, fixed)), atol=1e-5)
    assert [valid_length(n, 8) for n in (8, 9, 400, 401)] == [8, 12, 400, 404]
    assert keras.ops.convert_to_numpy(free(np.zeros((1, valid_length(1001, 8)), "float32"))).shape == (1, 2, 1004)
    with pytest.raises(ValueError, match="even encoder length"):
        conv_tasnet(input_shape=(None,), length=15)


def test_the_layer_norms_against_numpy():
    x = np.random.default_rng(1).normal(2.0, 3.0, size=(2, 5, 4)).astype("float32")
    glob = keras.ops.convert_to_numpy(GlobalLayerNorm()(x))
    expected = (x - x.mean(axis=(1, 2), keepdims=True)) / np.sqrt(x.var(axis=(1, 2), keepdims=True) + 1e-8)
    np.testing.assert_allclose(glob, expected, atol=1e-4)
    cumulative = keras.ops.convert_to_numpy(CumulativeLayerNorm()(x))
    for t in range(5):
        seen = x[:, : t + 1]
        mean, var = seen.mean(axis=(1, 2), keepdims=True), seen.var(axis=(1, 2), keepdims=True)
        np.testing.assert_allclose(
            cumulative[:, t : t + 1], (x[:, t : t + 1] - mean) / np.sqrt(var + 1e-8), atol=1e-3
        )


def test_si_snr_of_hand_computed_cases():
    t = np.linspace(0, 1, 1000, endpoint=False)
    source = np.sin(2 * np.pi * 5 * t)
    noise = np.cos(2 * np.pi * 5 * t)  # orthogonal to the source, the same power
    cases = {
        "source + noise": (source + noise, 0.0),
        "source + noise / 10": (source + noise / 10, 20.0),
        "3 x (source + noise / 10)": (3 * (source + noise / 10), 20.0),
    }  # scale-invariant
    for name, (estimate, expected) in cases.items():
        value = float(keras.ops.convert_to_numpy(si_snr(estimate[None], source[None]))[0])
        assert value == pytest.approx(expected, abs=1e-3), name


def test_the_loss_does_not_care_which_output_holds_which_speaker():
    rng = np.random.default_rng(2)
    sources = rng.normal(size=(3, 2, 800)).astype("float32")
    estimates = sources + 0.1 * rng.normal(size=sources.shape).astype("float32")
    loss = PermutationInvariantSiSnr()
    straight = float(loss(sources, estimates))
    swapped = float(loss(sources, estimates[:, ::-1]))
    assert straight == pytest.approx(swapped, rel=1e-5) and straight < -15  # about 20 dB: a 0.1 noise
    _, chosen = best_permutation_si_snr(estimates[:, ::-1], sources)
    assert keras.ops.convert_to_numpy(chosen).tolist() == [1, 1, 1]  # the swap (1, 0) was the best assignment
    mixture = sources.sum(axis=1)
    improvement = si_snr_improvement(estimates, sources, mixture)
    assert improvement.shape == (3,) and (improvement > 15).all()  # from about 0 dB for the mixture to 20


def test_the_training_metric_equals_si_snr_improvement_when_the_mixture_is_the_sum_of_the_sources():
    from cnnkit.separation import SiSnrImprovement

    rng = np.random.default_rng(3)
    sources = rng.normal(size=(4, 2, 800)).astype("float32")
    estimates = (sources[:, ::-1] + 0.5 * rng.normal(size=sources.shape)).astype("float32")  # outputs swapped
    metric = SiSnrImprovement()
    metric.update_state(sources, estimates)
    expected = si_snr_improvement(estimates, sources, sources.sum(axis=1))
    assert float(metric.result()) == pytest.approx(expected.mean(), abs=1e-3)
    assert SiSnrImprovement.from_config(metric.get_config()).name == "si_snri"


def test_sdr_is_mir_evals_bss_eval_and_forgives_an_echo_that_si_snr_counts_as_noise():
    import warnings

    import mir_eval

    from cnnkit.separation import sdr_scores, separation_scores

    rng = np.random.default_rng(4)
    sources = rng.normal(size=(3, 2, 4000))
    estimates = sources[:, ::-1] + 0.3 * rng.normal(size=sources.shape)  # outputs swapped, some noise
    mixture = sources.sum(axis=1)
    sdr, mixture_sdr = sdr_scores(estimates, sources, mixture)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", FutureWarning)  # mir_eval 0.8 deprecates bss_eval_sources, unchanged
        for k in range(3):
            expected = mir_eval.separation.bss_eval_sources(sources[k], estimates[k])[0].mean()
            unseparated = mir_eval.separation.bss_eval_sources(sources[k], np.stack([mixture[k]] * 2))[0].mean()
            assert sdr[k] == pytest.approx(expected, abs=1e-3) and mixture_sdr[k] == pytest.approx(unseparated, abs=1e-3)
    # noise at 0.3: about 10 dB (11 measured); two voices at equal power: about 0 dB for the mixture, plus
    # what the filter's 512 taps fit of the other voice (1.1 dB measured)
    assert (sdr > 9).all() and ((mixture_sdr > 0) & (mixture_sdr < 2)).all()

    # each source with an echo: itself 3 samples later at half the amplitude. SI-SNR counts the echo as
    # noise, 10 log10(1 / 0.25) = 6 dB on white sources; SDR's 512-tap filter absorbs it
    echoed = np.stack([np.convolve(s, [1, 0, 0, 0.5])[:4000] for s in sources[0]])[None]
    si, _, _ = separation_scores(echoed, sources[:1], mixture[:1])
    echo_sdr, _ = sdr_scores(echoed, sources[:1], mixture[:1])
    assert si[0] == pytest.approx(6.0, abs=0.2) and echo_sdr[0] > 40
