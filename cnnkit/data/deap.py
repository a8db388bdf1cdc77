"""DEAP (Koelstra et al., 2012): a safe reader for its preprocessed Python files. It only reads:
DEAP's facts are in :mod:`cnnkit.data.deap_format`, and the generator of synthetic files in
exactly the same format is :mod:`cnnkit.data.deap_synthetic`.

DEAP is licensed and is never shipped or downloaded: put ``s01.dat`` ... ``s32.dat`` (the
"data_preprocessed_python" release) into ``data/deap/``. Each file is a Python 2 pickle
(read with ``encoding="latin1"``) of a dict with

- ``data``: float ``(40 trials, 40 channels, 8064 samples)`` at 128 Hz: 3 s of pre-trial
  baseline, then 60 s of music video. The first 32 channels are EEG in the Geneva order of
  :data:`EEG_CHANNELS`; channels 33-40 are peripheral signals.
- ``labels``: float ``(40 trials, 4)``: valence, arousal, dominance, liking, rated 1-9.

The files are read with :mod:`cnnkit.data.safe_pickle`, which refuses anything but NumPy arrays,
and every file is validated (keys, shapes, dtype, finite values, label range).
"""

from __future__ import annotations

import pickle
from pathlib import Path

import numpy as np

from cnnkit.data import safe_pickle
from cnnkit.data.deap_format import (
    CHANNELS,
    MAX_ARRAY_BYTES,
    MAX_FILE_BYTES,
    RATINGS,
    SAMPLES,
    TRIALS,
)
from cnnkit.errors import CorruptDatasetError, DatasetNotFoundError


def _problem(path: Path, problem: str) -> CorruptDatasetError:
    return CorruptDatasetError(
        f"{path} is not a valid DEAP file: {problem}. Use the files of DEAP's "
        "'data_preprocessed_python' release (s01.dat ... s32.dat) unchanged."
    )


def read_subject(path) -> tuple[np.ndarray, np.ndarray]:
    """Read and validate one DEAP subject file.

    Returns ``(data, labels)``: float64 ``(40, 40, 8064)`` signals and float64 ``(40, 4)``
    ratings. Raises :class:`DatasetNotFoundError` for a missing file and
    :class:`CorruptDatasetError` (naming the file and the problem) for anything else wrong,
    including a pickle that asks to run code.
    """
    path = Path(path)
    if not path.is_file():
        raise DatasetNotFoundError(
            f"{path} does not exist. DEAP is licensed and not shipped: request it from its authors "
            "and put the preprocessed Python files (s01.dat ... s32.dat) into data/deap/."
        )
    size = path.stat().st_size
    if size > MAX_FILE_BYTES:
        raise _problem(path, f"it is {size:,} bytes, far more than a DEAP subject file (about 103 MB)")
    try:
        with open(path, "rb") as stream:
            # encoding="bytes": a Python 2 str stays bytes, so the 103 MB of samples are not decoded
            # to text and encoded back (the documented encoding="latin1" reads the same arrays).
            content = safe_pickle.load(stream, encoding="bytes", max_bytes=MAX_ARRAY_BYTES)
    except (pickle.UnpicklingError, OSError, EOFError) as error:
        raise _problem(path, f"it cannot be unpickled safely ({error})") from None
    if isinstance(content, dict):
        content = {key.decode("latin1") if isinstance(key, bytes) else key: value for key, value in content.items()}
    if not isinstance(content, dict) or not {"data", "labels"} <= set(content):
        keys = sorted(map(repr, content)) if isinstance(content, dict) else type(content).__name__
        raise _problem(path, f"expected a dict with 'data' and 'labels', found {keys}")
    data, labels = content["data"], content["labels"]
    for name, array, shape in (("data", data, (TRIALS, CHANNELS, SAMPLES)), ("labels", labels, (TRIALS, 4))):
        if not isinstance(array, np.ndarray) or array.shape != shape:
            found = array.shape if isinstance(array, np.ndarray) else type(array).__name__
            raise _problem(path, f"'{name}' has shape {found}, expected {shape}")
        if not np.issubdtype(array.dtype, np.floating):
            raise _problem(path, f"'{name}' has dtype {array.dtype}, expected floating point")
        if not np.isfinite(array).all():
            raise _problem(
                path, f"'{name}' contains {np.count_nonzero(~np.isfinite(array))} NaN or infinite values"
            )
    if labels.min() < 1 or labels.max() > 9:
        raise _problem(path, f"ratings lie in {labels.min():g}..{labels.max():g}, expected 1..9")
    return data.astype("float64", copy=False), labels.astype("float64", copy=False)


def subject_files(folder) -> list[Path]:
    """The ``sNN.dat`` files of a folder, sorted; a clear error when there are none."""
    files = sorted(Path(folder).glob("s[0-9][0-9].dat"))
    if not files:
        raise DatasetNotFoundError(
            f"No DEAP files (s01.dat ... s32.dat) in {folder}. Put DEAP's preprocessed Python files "
            "there, or create synthetic ones with cnnkit.data.deap.write_synthetic(folder)."
        )
    return files


def binary_labels(ratings: np.ndarray, rating: str = "valence") -> np.ndarray:
    """1 where the rating is high, 0 where low. High means rating > 5, as in Yang et al.'s code.

    ``ratings``: ``(..., 4)`` DEAP ratings; ``rating``: one of :data:`RATINGS`.
    The threshold differs between implementations: a rating of exactly 5 (the scale's midpoint)
    is *low* here and in the authors' code, but *high* in TorchEEG (``transforms.Binary(5.0)``
    tests ``>= 5``). Only trials rated exactly 5 change sides; count them
    (``(ratings == 5).sum()``) before comparing results across the two.
    """
    if rating not in RATINGS:
        raise ValueError(f"rating must be one of {RATINGS}, got {rating!r}.")
    return (ratings[..., RATINGS.index(rating)] > 5).astype("int64")


def quadrant_labels(ratings: np.ndarray) -> np.ndarray:
    """Valence-arousal quadrants: 0 HVHA, 1 HVLA, 2 LVHA, 3 LVLA (high means > 5)."""
    high_valence = binary_labels(ratings, "valence").astype(bool)
    high_arousal = binary_labels(ratings, "arousal").astype(bool)
    return np.select(
        [high_valence & high_arousal, high_valence & ~high_arousal, ~high_valence & high_arousal],
        [0, 1, 2],
        default=3,
    ).astype("int64")
