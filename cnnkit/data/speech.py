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


def speaker_pool(sentences, speaker, rng: np.random.Generator, seconds: float) -> np.ndarray:
    """At least ``seconds`` of one ``speaker`` reading ``sentences`` back to back, in a random order
    (again from the start when they run out): float32 ``(samples,)`` at :data:`RATE` Hz."""
    voice, pitch, rate = speaker
    parts, total, needed = [], 0, int(round(seconds * RATE))
    while total < needed:
        for index in rng.permutation(len(sentences)):
            parts.append(speak(sentences[index], voice, pitch, rate))
            total += len(parts[-1])
            if total >= needed:
                break
    return np.concatenate(parts)


def speaker_pools(sentences, speakers, seconds: float, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Every speaker's pool (:func:`speaker_pool`) back to back (:func:`back_to_back`)."""
    rng = np.random.default_rng(seed)
    return back_to_back([speaker_pool(sentences, speaker, rng, seconds) for speaker in speakers])


def back_to_back(pools) -> tuple[np.ndarray, np.ndarray]:
    """Speakers' pools of speech put one after another: ``(audio, starts)``, float32 ``(total samples,)``
    and int64 ``(speakers + 1,)``, speaker ``k`` being ``audio[starts[k]:starts[k + 1]]``."""
    return np.concatenate(pools), np.cumsum([0] + [len(pool) for pool in pools]).astype("int64")


def mixture_plan(starts, count: int, seed: int, samples: int) -> dict[str, np.ndarray]:
    """Which audio makes each of ``count`` mixtures: two different speakers of the pools ``starts``
    (:func:`speaker_pools`), a random ``samples``-long stretch of each (``first`` and ``second``, indices
    into the pools' audio) and the second's linear ``gain``, 10 ** (level / 20) for a relative level drawn
    in ``[-5, 5]`` dB."""
    rng = np.random.default_rng(seed)
    speakers = len(starts) - 1
    first, second, gain = [], [], []
    for _ in range(count):
        one, two = rng.choice(speakers, size=2, replace=False)
        for speaker, where in ((one, first), (two, second)):
            where.append(int(rng.integers(starts[speaker], starts[speaker + 1] - samples + 1)))
        gain.append(10 ** (rng.uniform(-5, 5) / 20))
    return {"first": np.asarray(first, "int64"), "second": np.asarray(second, "int64"),
            "gain": np.asarray(gain, "float32")}  # fmt: skip


def mixture_pipeline(audio, plan, samples: int, shuffle_seed: int | None = None):
    """A ``tf.data`` pipeline of ``(mixture, sources)`` examples, float32 ``(samples,)`` and ``(2,
    samples)``, one per row of ``plan`` (:func:`mixture_plan`): the two stretches, the second at its gain,
    summed, and the pair scaled so that the mixture's peak is 0.9 (so ``mixture == sources.sum(0)``).
    With ``shuffle_seed`` the rows come in another order every pass (the plan's three numbers per row are
    shuffled, not the mixed waveforms: no buffer of mixtures is held in memory)."""
    import tensorflow as tf

    audio = tf.constant(audio, dtype=tf.float32)

    def mix(first, second, gain):
        pair = tf.stack([audio[first : first + samples], gain * audio[second : second + samples]])
        mixture = tf.reduce_sum(pair, axis=0)
        scale = 0.9 / tf.maximum(tf.reduce_max(tf.abs(mixture)), 1e-6)
        return mixture * scale, pair * scale

    rows = tf.data.Dataset.from_tensor_slices((plan["first"], plan["second"], plan["gain"]))
    if shuffle_seed is not None:
        rows = rows.shuffle(len(plan["gain"]), seed=shuffle_seed, reshuffle_each_iteration=True)
    return rows.map(mix, num_parallel_calls=tf.data.AUTOTUNE, deterministic=True)


def make_mixtures(
    sentences, speakers, count: int, seed: int, seconds: float = SECONDS, pool_seconds: float = 12.0
) -> dict[str, np.ndarray]:
    """``count`` two-speaker mixtures as arrays: ``"mixtures"`` float32 ``(count, samples)`` and
    ``"sources"`` ``(count, 2, samples)`` with ``mixture = sources.sum(axis=1)``; two different speakers
    each, from pools of ``pool_seconds`` per speaker (:func:`mixture_pipeline`, gathered)."""
    samples = int(round(seconds * RATE))
    audio, starts = speaker_pools(sentences, speakers, max(pool_seconds, seconds), seed)
    pairs = list(mixture_pipeline(audio, mixture_plan(starts, count, seed, samples), samples).as_numpy_iterator())
    return {"mixtures": np.stack([m for m, _ in pairs]), "sources": np.stack([s for _, s in pairs])}


def mixture_splits(pools, counts, batch_size: int, seed: int, seconds: float = SECONDS) -> dict:
    """``{split: pipeline of (mixtures, sources) batches}`` for each split of ``counts`` (split -> how many
    mixtures), from that split's speaker ``pools`` (split -> ``(audio, starts)``, :func:`speaker_pools`'
    form): :func:`mixture_plan` drawn from ``seed`` plus the split's position, and the training split (the
    first) reshuffled every epoch. Used by the synthetic set and by :mod:`cnnkit.data.librimix`."""
    import tensorflow as tf

    samples = int(round(seconds * RATE))
    pipelines = {}
    for offset, split in enumerate(counts):
        audio, starts = pools[split]
        plan = mixture_plan(starts, counts[split], seed + offset, samples)
        data = mixture_pipeline(audio, plan, samples, shuffle_seed=seed if offset == 0 else None)
        pipelines[split] = data.batch(batch_size).prefetch(tf.data.AUTOTUNE)
    return pipelines


# --- the dataset (cnnkit.data.registry's speech_synthetic) -------------------------------------------

POOL_SECONDS = {"train": 150.0, "validation": 30.0, "test": 60.0}  # of speech per speaker
MIXTURES = {"train": 1000, "validation": 150, "test": 150}


def load_speech_dataset(name: str = "speech_synthetic", *, batch_size: int = 8, seed: int = 0):
    """The SYNTHETIC two-speaker mixtures as train / validation / test pipelines of ``(mixtures,
    sources)`` batches, float32 ``(batch, 32000)`` and ``(batch, 2, 32000)``: 4 s at 8 kHz.

    Training mixes the six training speakers reading the training topics' sentences, validation the
    same speakers reading other topics, test the two test speakers reading the test topics
    (:func:`cnnkit.data.punctuation.topic_splits`); :data:`POOL_SECONDS` of speech per speaker and
    :data:`MIXTURES` mixtures per split, drawn from ``seed``. The training split is reshuffled every
    epoch; generating it all takes a few seconds (eSpeak NG speaks about 700 times faster than real time
    on a 2-core CPU)."""
    from cnnkit.data.base import Dataset, DatasetInfo
    from cnnkit.data.punctuation import corpus_facts, topic_splits
    from cnnkit.data.registry import DATASETS

    spec = DATASETS[name]
    samples = int(round(SECONDS * RATE))
    topics = topic_splits(seed=seed)
    pools = {}
    for offset, split in enumerate(MIXTURES):
        sentences = sentences_of(paragraph for _, paragraph in topics[split])
        speakers = SPEAKERS["test" if split == "test" else "train"]
        pools[split] = speaker_pools(sentences, speakers, POOL_SECONDS[split], seed + offset)
    pipelines = mixture_splits(pools, MIXTURES, batch_size, seed)
    from importlib.metadata import version

    made_from = {"pydoc_data.topics": corpus_facts(), "espeakng-loader": version("espeakng-loader")}
    info = DatasetInfo(name=name, class_names=spec.class_names, input_shape=(samples,), num_examples=dict(MIXTURES),
                       synthetic=True, kind="waveforms", provenance=made_from)  # fmt: skip
    return Dataset(info=info, **pipelines)


def sentences_of(paragraphs, longest: int = 200) -> list[str]:
    """Sentences of at most ``longest`` characters from prose ``paragraphs`` (split after . ? !)."""
    import re

    found = []
    for paragraph in paragraphs:
        found += [s.strip() for s in re.split(r"(?<=[.?!])\s+", paragraph) if 20 <= len(s.strip()) <= longest]
    return found
