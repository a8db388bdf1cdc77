"""SYNTHETIC two-speaker speech mixtures made on this machine: eSpeak NG speaking sentences of Python's
own help topics, offline, for Conv-TasNet.

eSpeak NG (GPL-3.0) is a formant synthesizer; its library and voices ship inside the
``espeakng-loader`` wheel, an optional extra (``pip install "cnnkit[speech]"``) that cnnkit calls through
``ctypes`` and never bundles. A "speaker" is a voice variant with its own pitch and speaking rate
(:data:`SPEAKERS`); the training and test mixtures use disjoint speakers, and their sentences come from
disjoint help topics (:func:`cnnkit.data.punctuation.topic_splits`). Formant speech is far easier to
separate than recorded speech: two synthetic voices differ in pitch and timbre everywhere, have no
reverberation and no noise, and repeat the same rules for every word; figures measured on it say
nothing about real recordings, which is why the dataset's name says SYNTHETIC.

A mixture, as the LibriMix recipe builds them ("min" mode, 8 kHz): two sources of :data:`SECONDS` s,
each a speaker's sentences back to back, resampled from eSpeak's 22,050 Hz to 8 kHz (scipy's
polyphase ``resample_poly``), the second scaled to a random relative level in ``[-5, 5]`` dB, then the
pair scaled so that the mixture's peak is 0.9.

eSpeak NG does not say the same sentence twice to the sample: two calls differ by a few samples in
length and in their noise (seeding C's ``rand`` does not change that; measured here). The speakers,
sentences, offsets and levels are drawn from ``seed`` and so are the same every time; the waveforms
agree to within those few samples, and a set generated once and cached is read back unchanged.
"""

from __future__ import annotations

import ctypes
import os
import threading
from fractions import Fraction

import numpy as np

RATE = 8000  # Hz, as Conv-TasNet's WSJ0-2mix and Libri2Mix 8k
SECONDS = 4.0
# (eSpeak voice with variant, pitch 0-99, words per minute): six for training, two for testing
SPEAKERS = {
    "train": [
        ("en+m1", 35, 150),
        ("en+m3", 50, 170),
        ("en+m7", 25, 140),
        ("en+f2", 70, 160),
        ("en+f4", 80, 175),
        ("en-us+f1", 60, 150),
    ],
    "test": [("en-us+m2", 40, 160), ("en+f3", 75, 165)],
}
_SYNCHRONOUS, _RATE, _PITCH, _POSITION_CHARACTER, _UTF8 = 2, 1, 3, 1, 1  # speak_lib.h's enums
_LOCK = threading.Lock()  # eSpeak NG's state is global to the process
_ENGINE: dict = {}


class SpeechEngineMissingError(ImportError):
    """eSpeak NG is not installed (``pip install "cnnkit[speech]"``)."""


def _engine():
    """The loaded library and its sample rate, initialized once per process."""
    if not _ENGINE:
        try:
            import espeakng_loader
        except ImportError as error:
            raise SpeechEngineMissingError(
                "The synthetic speech mixtures need eSpeak NG: "
                'pip install "cnnkit[speech]" (espeakng-loader, GPL-3.0, an optional extra).'
            ) from error
        library = ctypes.CDLL(espeakng_loader.get_library_path())
        library.espeak_Initialize.restype = ctypes.c_int
        data = os.path.dirname(espeakng_loader.get_data_path())  # the folder that holds espeak-ng-data
        rate = library.espeak_Initialize(_SYNCHRONOUS, 0, data.encode(), 0)
        if rate <= 0:
            raise RuntimeError(f"eSpeak NG did not start (espeak_Initialize returned {rate}).")
        chunks: list = []
        callback_type = ctypes.CFUNCTYPE(
            ctypes.c_int, ctypes.POINTER(ctypes.c_short), ctypes.c_int, ctypes.c_void_p
        )

        def collect(wav, count, _events):
            if count > 0:
                chunks.append(np.ctypeslib.as_array(wav, shape=(count,)).copy())
            return 0

        callback = callback_type(collect)
        library.espeak_SetSynthCallback(callback)
        _ENGINE.update(
            library=library, rate=rate, chunks=chunks, callback=callback
        )  # keep the callback alive
    return _ENGINE


def speak(text: str, voice: str, pitch: int, words_per_minute: int) -> np.ndarray:
    """``text`` spoken by eSpeak NG's ``voice`` at ``pitch`` (0-99) and ``words_per_minute``: float32
    samples in [-1, 1] at :data:`RATE` Hz."""
    from scipy.signal import resample_poly

    with _LOCK:
        engine = _engine()
        library = engine["library"]
        if library.espeak_SetVoiceByName(voice.encode()) != 0:
            raise ValueError(f"eSpeak NG has no voice {voice!r}.")
        library.espeak_SetParameter(_RATE, int(words_per_minute), 0)
        library.espeak_SetParameter(_PITCH, int(pitch), 0)
        engine["chunks"].clear()
        encoded = text.encode("utf-8")
        library.espeak_Synth(encoded, len(encoded) + 1, 0, _POSITION_CHARACTER, 0, _UTF8, None, None)
        library.espeak_Synchronize()
        samples = np.concatenate(engine["chunks"]) if engine["chunks"] else np.zeros(0, np.int16)
        native = engine["rate"]
    ratio = Fraction(RATE, native)
    return resample_poly(samples.astype("float32") / 32768.0, ratio.numerator, ratio.denominator).astype(
        "float32"
    )


def source(sentences, speaker, rng: np.random.Generator, samples: int) -> np.ndarray:
    """``samples`` samples of one ``speaker`` reading ``sentences`` (drawn in a random order) back to
    back, from a random start: float32 ``(samples,)``."""
    voice, pitch, rate = speaker
    parts, total = [], 0
    for index in rng.permutation(len(sentences)):
        parts.append(speak(sentences[index], voice, pitch, rate))
        total += len(parts[-1])
        if total >= 2 * samples:
            break
    wave = np.concatenate(parts)
    if len(wave) < samples:
        wave = np.pad(wave, (0, samples - len(wave)))
    start = int(rng.integers(0, len(wave) - samples + 1))
    return wave[start : start + samples]


def make_mixtures(
    sentences, speakers, count: int, seed: int, seconds: float = SECONDS
) -> dict[str, np.ndarray]:
    """``count`` two-speaker mixtures: ``"mixtures"`` float32 ``(count, samples)`` and ``"sources"``
    ``(count, 2, samples)`` with ``mixture = sources.sum(axis=1)``; two different speakers each."""
    rng = np.random.default_rng(seed)
    samples = int(round(seconds * RATE))
    mixtures, sources = [], []
    for _ in range(count):
        first, second = rng.choice(len(speakers), size=2, replace=False)
        pair = np.stack(
            [
                source(sentences, speakers[first], rng, samples),
                source(sentences, speakers[second], rng, samples),
            ]
        )
        pair[1] *= 10 ** (rng.uniform(-5, 5) / 20)  # a relative level in [-5, 5] dB
        mixture = pair.sum(axis=0)
        scale = 0.9 / max(float(np.abs(mixture).max()), 1e-6)
        mixtures.append(mixture * scale)
        sources.append(pair * scale)
    return {"mixtures": np.asarray(mixtures, "float32"), "sources": np.asarray(sources, "float32")}


def sentences_of(paragraphs, longest: int = 200) -> list[str]:
    """Sentences of at most ``longest`` characters from prose ``paragraphs`` (split after . ? !)."""
    import re

    found = []
    for paragraph in paragraphs:
        found += [s.strip() for s in re.split(r"(?<=[.?!])\s+", paragraph) if 20 <= len(s.strip()) <= longest]
    return found
