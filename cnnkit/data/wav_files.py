"""WAV files in and out for speech separation: read with checks, write atomically.

:func:`read_wav` takes 16-bit PCM (the format of speech corpora; 8-bit, 24-bit and 32-bit integer PCM
too), mono or several channels averaged to mono, at exactly the rate the model was trained at, and
refuses in one line, naming the file: a file that is not WAV, a compressed or floating-point one, a
truncated one (fewer frames than its header declares), one longer than ``max_seconds``, and one at
another sample rate (resampling would change what the model hears; the message says how to convert).
Python's own ``wave`` module reads the header; nothing is decoded before the checks pass.
"""

from __future__ import annotations

import os
import wave
from pathlib import Path

import numpy as np

from cnnkit.errors import BadInputFileError
from cnnkit.files import atomic_path

MAX_SECONDS = 600.0


class BadWavFileError(BadInputFileError):
    """A WAV file that cannot be separated as it is (the message names the file and the problem)."""


def read_wav(path, rate: int, max_seconds: float = MAX_SECONDS) -> np.ndarray:
    """The samples of ``path`` as float32 ``(samples,)`` in [-1, 1], mono, checked (module docstring)."""
    path = Path(path)
    try:
        with wave.open(str(path), "rb") as opened:
            channels, width, found_rate, frames = (
                opened.getnchannels(),
                opened.getsampwidth(),
                opened.getframerate(),
                opened.getnframes(),
            )
            if found_rate != rate:
                raise BadWavFileError(
                    f"{path}: recorded at {found_rate} Hz, but the model separates {rate} Hz audio; "
                    f"convert it first (e.g. sox {path.name} -r {rate} out.wav)."
                )
            if frames > max_seconds * found_rate:
                raise BadWavFileError(
                    f"{path}: {frames / found_rate:,.0f} s long, above the limit of {max_seconds:,.0f} s; "
                    "cut it into shorter files."
                )
            data = opened.readframes(frames)
    except (wave.Error, EOFError) as error:
        raise BadWavFileError(
            f"{path}: not a PCM WAV file cnnkit reads ({error}); save it as 16-bit PCM WAV."
        ) from None
    except OSError as error:
        raise BadWavFileError(f"{path}: cannot be read ({error}).") from None
    expected = frames * channels * width
    if len(data) < expected:
        raise BadWavFileError(
            f"{path}: truncated, {len(data):,} bytes of samples where its header declares {expected:,}."
        )
    if width == 3:  # 24-bit: three little-endian bytes per sample, sign-extended
        raw = np.frombuffer(data, np.uint8).reshape(-1, 3).astype(np.int32)
        samples = ((raw[:, 0] | (raw[:, 1] << 8) | (raw[:, 2] << 16)) << 8 >> 8) / float(1 << 23)
    elif width == 1:  # 8-bit WAV is unsigned
        samples = (np.frombuffer(data, np.uint8).astype(np.float32) - 128.0) / 128.0
    else:
        kind = {2: np.int16, 4: np.int32}[width]
        samples = np.frombuffer(data, kind).astype(np.float64) / float(np.iinfo(kind).max + 1)
    samples = np.asarray(samples, "float32").reshape(-1, channels).mean(axis=1)
    return samples


def write_wav(path, samples, rate: int) -> Path:
    """``samples`` (float, ``(samples,)``) as a 16-bit PCM mono WAV at ``rate``, clipped to [-1, 1],
    written atomically (a reader never sees half a file)."""
    samples = np.clip(np.asarray(samples, "float64"), -1.0, 1.0)
    pcm = np.round(samples * 32767).astype("<i2")
    path = Path(path)
    with atomic_path(path) as temporary:
        with wave.open(os.fspath(temporary), "wb") as out:
            out.setnchannels(1)
            out.setsampwidth(2)
            out.setframerate(int(rate))
            out.writeframes(pcm.tobytes())
    return path
