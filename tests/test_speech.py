"""SYNTHETIC speech mixtures (cnnkit.data.speech): eSpeak NG from the espeakng-loader wheel speaks at
8 kHz, offline and deterministically; mixtures are the sum of their sources; the training and test
speakers are disjoint; without the optional extra the error says how to install it."""

import sys

import numpy as np
import pytest

from cnnkit.data import speech


def test_a_sentence_is_spoken_at_8_khz_for_as_long_each_time():
    wave = speech.speak("Conv-TasNet separates two voices.", "en+m3", 50, 170)
    again = speech.speak("Conv-TasNet separates two voices.", "en+m3", 50, 170)
    assert (
        wave.dtype == np.float32 and 1.0 < len(wave) / speech.RATE < 4.0 and 0.05 < np.abs(wave).max() <= 1.0
    )
    assert abs(len(again) - len(wave)) < 0.005 * len(
        wave
    )  # eSpeak varies by a few samples (module docstring)
    slower = speech.speak("Conv-TasNet separates two voices.", "en+m3", 50, 100)
    assert len(slower) > 1.3 * len(wave)  # fewer words per minute: longer
    with pytest.raises(ValueError, match="no voice 'xx-nowhere'"):
        speech.speak("hello", "xx-nowhere", 50, 150)


def test_every_speaker_speaks_and_the_splits_share_none():
    train, test = ({voice for voice, _, _ in speech.SPEAKERS[split]} for split in ("train", "test"))
    assert not train & test and len(train) == 6 and len(test) == 2
    for voice, pitch, rate in speech.SPEAKERS["train"] + speech.SPEAKERS["test"]:
        assert len(speech.speak("A short test sentence.", voice, pitch, rate)) > speech.RATE // 2


def test_mixtures_are_the_sum_of_two_sources_of_four_seconds():
    sentences = speech.sentences_of(
        ["First sentence here is long enough. Second sentence, also long enough!"]
    )
    assert sentences == ["First sentence here is long enough.", "Second sentence, also long enough!"]
    made = speech.make_mixtures(sentences, speech.SPEAKERS["test"], count=3, seed=0)
    mixtures, sources = made["mixtures"], made["sources"]
    assert mixtures.shape == (3, 32000) and sources.shape == (3, 2, 32000)
    np.testing.assert_allclose(mixtures, sources.sum(axis=1), atol=1e-6)
    assert np.abs(mixtures).max(axis=1) == pytest.approx(0.9, abs=1e-5)  # each mixture's peak
    assert (np.abs(sources).max(axis=2) > 0.01).all()  # both speakers are heard in every mixture


def test_without_the_extra_the_error_says_how_to_install_it(monkeypatch):
    monkeypatch.setattr(speech, "_ENGINE", {})
    monkeypatch.setitem(sys.modules, "espeakng_loader", None)  # an import of it now fails
    with pytest.raises(speech.SpeechEngineMissingError, match=r'pip install "cnnkit\[speech\]"'):
        speech.speak("hello", "en", 50, 150)
