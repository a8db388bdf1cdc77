"""DEAP (Koelstra et al., 2012): a safe reader for its preprocessed Python files, and a
generator of synthetic files in exactly the same format.

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
from cnnkit.errors import CorruptDatasetError, DatasetNotFoundError
from cnnkit.files import atomic_path

SAMPLING_RATE = 128  # Hz
TRIALS, CHANNELS, SAMPLES = 40, 40, 8064
BASELINE_SECONDS = 3
RATINGS = ("valence", "arousal", "dominance", "liking")
EEG_CHANNELS = (
    "Fp1", "AF3", "F3", "F7", "FC5", "FC1", "C3", "T7", "CP5", "CP1", "P3", "P7", "PO3", "O1", "Oz", "Pz",
    "Fp2", "AF4", "Fz", "F4", "F8", "FC6", "FC2", "Cz", "C4", "T8", "CP6", "CP2", "P4", "P8", "PO4", "O2",
)  # fmt: skip
QUADRANTS = ("HVHA", "HVLA", "LVHA", "LVLA")
# A subject file holds 40x40x8064 float64 signals (103 MB) and 40x4 ratings; a file or its
# arrays may not be much larger (checked before reading / before allocating).
MAX_FILE_BYTES = 200 << 20
MAX_ARRAY_BYTES = TRIALS * CHANNELS * SAMPLES * 8 + TRIALS * 4 * 8
SYNTHETIC_MARKER = "SYNTHETIC.txt"


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
            content = safe_pickle.load(stream, encoding="latin1", max_bytes=MAX_ARRAY_BYTES)
    except (pickle.UnpicklingError, OSError, EOFError) as error:
        raise _problem(path, f"it cannot be unpickled safely ({error})") from None
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


def is_synthetic(folder) -> bool:
    """True when ``folder`` was written by :func:`write_synthetic` (it holds its marker file)."""
    return (Path(folder) / SYNTHETIC_MARKER).is_file()


def binary_labels(ratings: np.ndarray, rating: str = "valence") -> np.ndarray:
    """1 where the rating is high, 0 where low. High means rating > 5, as in Yang et al.'s code.

    ``ratings``: ``(..., 4)`` DEAP ratings; ``rating``: one of :data:`RATINGS`.
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


def synthetic_subject(seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """One SYNTHETIC subject in DEAP's shapes, from a stated random model (not real EEG).

    Ratings: valence and arousal uniform in 1-9, dominance and liking uniform too. Signals, in
    microvolts, per trial and channel: 1/f-like background noise; a 10 Hz alpha rhythm whose
    amplitude on the left frontal electrodes (Fp1, AF3, F3, F7, FC5, FC1) falls and on the right
    ones (Fp2, AF4, F4, F8, FC6, FC2) rises with valence (frontal alpha asymmetry); beta (20 Hz)
    and gamma (38 Hz) rhythms on all EEG channels that grow with arousal; eye-blink artifacts on
    Fp1/Fp2; the 3 s baseline carries no emotion effect. Channels 33-40 are noise.
    Returns ``(data, labels)``: float64 ``(40, 40, 8064)`` and ``(40, 4)``.
    """
    trials = TRIALS
    rng = np.random.default_rng(seed)
    labels = rng.uniform(1, 9, size=(trials, 4))
    valence = (labels[:, 0] - 5) / 4  # -1 .. 1
    arousal = (labels[:, 1] - 5) / 4
    time = np.arange(SAMPLES) / SAMPLING_RATE
    white = rng.normal(size=(trials, CHANNELS, SAMPLES))
    spectrum = np.fft.rfft(white, axis=-1)
    frequencies = np.fft.rfftfreq(SAMPLES, 1 / SAMPLING_RATE)
    data = np.fft.irfft(spectrum / np.sqrt(np.maximum(frequencies, 1.0)), n=SAMPLES, axis=-1) * 20
    emotion = (time >= BASELINE_SECONDS).astype(float)  # effects only after the baseline
    index = {name: i for i, name in enumerate(EEG_CHANNELS)}
    left = [index[c] for c in ("Fp1", "AF3", "F3", "F7", "FC5", "FC1")]
    right = [index[c] for c in ("Fp2", "AF4", "F4", "F8", "FC6", "FC2")]
    phases = rng.uniform(0, 2 * np.pi, size=(trials, CHANNELS, 3, 1))
    alpha = np.sin(2 * np.pi * 10 * time + phases[:, :, 0])
    data[:, :32] += 4 * alpha[:, :32]
    asymmetry = 3 * valence[:, None, None] * emotion
    data[:, left] -= asymmetry * alpha[:, left]
    data[:, right] += asymmetry * alpha[:, right]
    fast = np.sin(2 * np.pi * 20 * time + phases[:, :, 1]) + np.sin(2 * np.pi * 38 * time + phases[:, :, 2])
    data[:, :32] += (2 + 1.5 * arousal[:, None, None] * emotion) * fast[:, :32]
    for trial in range(trials):  # a few eye blinks per trial: 300 ms bumps on Fp1 and Fp2
        for start in rng.integers(0, SAMPLES - 40, size=rng.integers(2, 6)):
            bump = 80 * np.hanning(40)
            data[trial, [index["Fp1"], index["Fp2"]], start : start + 40] += bump
    return data, labels


def write_synthetic(folder, subjects: int = 2, seed: int = 0) -> list[Path]:
    """Write SYNTHETIC subjects ``s01.dat`` ... into ``folder`` in exactly DEAP's file format.

    The files are protocol-2 pickles of ``{"data", "labels"}`` like DEAP's, written atomically,
    plus a ``SYNTHETIC.txt`` marker so that notebooks and tools can say the data is synthetic.
    The signals come from :func:`synthetic_subject` (a stated random model, not real EEG).
    Subject ``k`` uses seed ``seed + k``. Returns the written paths.
    """
    if not 1 <= subjects <= 99:
        raise ValueError(f"subjects must lie in 1..99, got {subjects}.")
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    (folder / SYNTHETIC_MARKER).write_text(
        "These sNN.dat files are SYNTHETIC, written by cnnkit.data.deap.write_synthetic from a stated\n"
        "random model (see its docstring). They are not DEAP recordings.\n"
    )
    paths = []
    for subject in range(1, subjects + 1):
        data, labels = synthetic_subject(seed + subject)
        path = folder / f"s{subject:02d}.dat"
        with atomic_path(path) as temporary:
            temporary.write_bytes(pickle.dumps({"data": data, "labels": labels}, protocol=2))
        paths.append(path)
    return paths


def default_folder(subjects: int = 32, seed: int = 0) -> Path:
    """Where the notebooks read DEAP from.

    ``data/deap/`` (under :func:`cnnkit.files.data_dir`) when it holds at least ``subjects``
    real files; otherwise ``data/deap_synthetic/``, where :func:`write_synthetic` first writes
    ``subjects`` SYNTHETIC files if fewer are there.
    """
    from cnnkit.files import data_dir

    real = data_dir() / "deap"
    if len(list(real.glob("s[0-9][0-9].dat"))) >= subjects and not is_synthetic(real):
        return real
    folder = data_dir() / "deap_synthetic"
    if len(list(folder.glob("s[0-9][0-9].dat"))) < subjects:
        write_synthetic(folder, subjects=subjects, seed=seed)
    return folder


def source_banner(folder, subjects: int) -> str:
    """An HTML banner for a notebook: red "SYNTHETIC DATA" or green "Real DEAP recordings"."""
    if is_synthetic(folder):
        colour, text = (
            "#b00020",
            "SYNTHETIC DATA: these results come from generated signals, not from DEAP recordings.",
        )
    else:
        plural = "" if subjects == 1 else "s"
        colour, text = "#1b5e20", f"Real DEAP recordings: {subjects} subject{plural} from {folder}."
    style = f"padding:10px;border:3px solid {colour};color:{colour};font-size:1.2em;font-weight:bold"
    return f'<div style="{style}">{text}</div>'
