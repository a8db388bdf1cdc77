"""SYNTHETIC subjects in exactly DEAP's file format, from a stated random model (not real EEG),
so that the reader, the features and the EEG notebooks run and are tested without DEAP's licensed
files. Everything this module writes says SYNTHETIC: a marker beside the folder
(:func:`marker_path`), the datasets' ``info.synthetic``, and the notebooks' banner
(:func:`source_banner`).
"""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np

from cnnkit.data import safe_pickle
from cnnkit.data.deap_format import (
    BANDS,
    BASELINE_SECONDS,
    CHANNELS,
    EEG_CHANNELS,
    GRID_POSITIONS,
    SAMPLES,
    SAMPLING_RATE,
    TRIALS,
)
from cnnkit.files import atomic_path, require_free_space
from cnnkit.workers import map_in_workers

SYNTHETIC_MARKER = "SYNTHETIC.txt"
SUBJECT_FILE_BYTES = 103_220_747  # one synthetic subject, as write_synthetic writes it

# The synthetic model (see synthetic_subject). Calibrated so that an RBF SVM on the
# baseline-corrected DE grids scores like methods on real DEAP: trial-grouped 10-fold accuracy
# near 0.56 (CALIBRATION_TARGETS), random segment folds near 0.92.
SYNTHETIC_VERSION = 2  # bump when the model changes: older generated folders are rewritten
SYNTHETIC_BAND_MICROVOLTS = {"theta": 6.0, "alpha": 8.0, "beta": 4.0, "gamma": 2.0}  # source amplitude per band
SYNTHETIC_SOURCES = 6  # cortical sources per band, mixed into the 32 electrodes
SOURCE_WIDTH = 2.0  # spread of a source on the 9x9 grid (Gaussian sd, in grid cells)
EMOTION_EFFECT = 0.3  # log-amplitude change at the ends of the rating scale (1 or 9)
VIDEO_EFFECT = 0.3  # sd of each trial's own log-amplitude offsets ("fingerprint"), not emotion
FLUCTUATION = 0.6  # sd of the log-amplitude wobble, a new value every 0.75 s
MUSCLE_BURST_RATE = 0.1  # chance that a given second of a trial holds a muscle artefact
# What the calibration aims for, with the published figures it follows (valence, per subject,
# RBF SVM on DE grids, 10 folds); tests/test_deap.py checks them on a few subjects.
CALIBRATION_TARGETS = {
    "trial-grouped folds": (0.52, 0.65),  # LibEER, trial split: 51.5-57.7% for every method
    "random segment folds": (0.85, 0.96),  # segment-level protocols of the papers: 86-93%
}


def synthetic_subject(seed: int = 0, emotion_effect: float = EMOTION_EFFECT) -> tuple[np.ndarray, np.ndarray]:
    """One SYNTHETIC subject in DEAP's shapes, from a stated random model (not real EEG).

    The model is built to be as hard as real DEAP, not easier:

    - **Volume conduction.** Each band (theta, alpha, beta, gamma) comes from
      :data:`SYNTHETIC_SOURCES` cortical sources; each electrode sees a smooth mixture of them
      (Gaussian falloff over the 9x9 grid), so neighbouring electrodes are strongly correlated,
      as on a real scalp. Sensor noise (1/f) and peripheral channels 33-40 are independent.
    - **A weak emotion effect** (:data:`EMOTION_EFFECT`, a log-amplitude change at the ends of
      the 1-9 scale): frontal alpha asymmetry (less alpha on the left, more on the right with
      higher valence), temporal gamma rising with valence, beta and gamma rising with arousal.
    - **Per-trial fingerprints stronger than it** (:data:`VIDEO_EFFECT`): every trial's sources
      get their own random log-amplitude offsets during the video (what the video shows, the
      electrodes' state that minute), unrelated to the ratings.
    - **Non-stationarity**: the log-amplitude of every source wobbles (:data:`FLUCTUATION`, a new
      value every 0.75 s), and muscle bursts hit random seconds (:data:`MUSCLE_BURST_RATE`).
    - The 3 s baseline carries neither the emotion nor the fingerprint.

    Calibration (:data:`CALIBRATION_TARGETS`, tested): an RBF SVM on the baseline-corrected DE
    grids scores near 0.56 with trial-grouped folds (LibEER's trial split on real DEAP:
    51.5-57.7% valence for every method) and near 0.92 with random segment folds (papers'
    segment-level protocols: 86-93%): the random split recognizes trials, not emotions.
    Ratings are uniform in 1-9, so "high" and "low" are balanced.
    ``emotion_effect=0`` gives signals that carry no emotion at all (a null model).

    Returns ``(data, labels)``: float64 ``(40, 40, 8064)`` in microvolts and ``(40, 4)``.
    """
    trials, samples, sources = TRIALS, SAMPLES, SYNTHETIC_SOURCES
    rng = np.random.default_rng(seed)
    labels = rng.uniform(1, 9, size=(trials, 4))
    valence, arousal = (labels[:, 0] - 5) / 4, (labels[:, 1] - 5) / 4  # -1 .. 1
    during_video = (np.arange(samples) >= BASELINE_SECONDS * SAMPLING_RATE).astype("float32")
    frequencies = np.fft.rfftfreq(samples, 1 / SAMPLING_RATE)

    # Sources 0-3 sit at the left and right frontal and temporal regions, the others anywhere.
    anchors = np.array([[2.0, 2.0], [2.0, 6.0], [4.0, 0.0], [4.0, 8.0]])
    centres = np.concatenate([anchors, rng.uniform(0, 8, size=(sources - len(anchors), 2))])
    positions = np.array([GRID_POSITIONS[name] for name in EEG_CHANNELS], float)
    distance2 = ((positions[:, None, :] - centres[None]) ** 2).sum(-1)
    mixing = np.exp(-distance2 / (2 * SOURCE_WIDTH**2))  # (32 electrodes, sources)
    mixing /= np.sqrt((mixing**2).sum(axis=1, keepdims=True))

    band = {name: index for index, name in enumerate(BANDS)}  # the last axis of the offsets, by name
    emotion = np.zeros((trials, sources, len(BANDS)))  # log-amplitude offsets: (trial, source, band)
    emotion[:, 0, band["alpha"]] -= emotion_effect * valence  # left frontal alpha
    emotion[:, 1, band["alpha"]] += emotion_effect * valence  # right frontal alpha
    emotion[:, 2:4, band["gamma"]] += emotion_effect * valence[:, None]  # temporal gamma (sources 2 and 3)
    for name in ("beta", "gamma"):  # beta and gamma everywhere
        emotion[:, :, band[name]] += emotion_effect * arousal[:, None]
    fingerprint = rng.normal(0, VIDEO_EFFECT, size=(trials, sources, len(BANDS)))
    block = 96  # 0.75 s
    eeg = np.zeros((trials, len(EEG_CHANNELS), samples), "float32")
    for index, (name, (low, high)) in enumerate(BANDS.items()):
        microvolts = SYNTHETIC_BAND_MICROVOLTS[name]
        inside = (frequencies >= low) & (frequencies < high)
        white = rng.standard_normal(size=(trials, sources, samples), dtype="float32")
        narrow = np.fft.irfft(np.fft.rfft(white, axis=-1) * inside, n=samples, axis=-1)
        narrow *= np.sqrt(samples / inside.sum())  # unit variance
        wobble = np.repeat(rng.normal(0, FLUCTUATION, size=(trials, sources, samples // block)), block, axis=-1)
        offsets = (fingerprint + emotion)[..., index, None]
        amplitude = microvolts * np.exp(during_video * offsets + wobble)
        eeg += np.einsum("es,tsn->ten", mixing, (amplitude * narrow).astype("float32"))

    noise = np.fft.rfft(rng.standard_normal(size=(trials, CHANNELS, samples), dtype="float32"), axis=-1)
    data = np.fft.irfft(noise / np.sqrt(np.maximum(frequencies, 1.0)), n=samples, axis=-1) * 5.0
    data[:, : len(EEG_CHANNELS)] += eeg
    seconds = samples // SAMPLING_RATE
    for trial, count in enumerate(rng.binomial(seconds, MUSCLE_BURST_RATE, size=trials)):
        for start in rng.integers(0, samples - SAMPLING_RATE, size=count):  # 1 s of muscle noise on 8 electrodes
            electrodes = rng.choice(len(EEG_CHANNELS), size=8, replace=False)
            data[trial, electrodes, start : start + SAMPLING_RATE] += rng.normal(0, 15, size=(8, SAMPLING_RATE))
    return data, labels


def marker_path(folder) -> Path:
    """Where :func:`write_synthetic` marks ``folder`` as synthetic: ``<folder>.SYNTHETIC.txt``
    beside it, not inside (a reader that loads every file of the folder, as TorchEEG's
    does, must find only ``sNN.dat`` files there)."""
    folder = Path(folder)
    return folder.parent / f"{folder.name}.{SYNTHETIC_MARKER}"


def is_synthetic(folder) -> bool:
    """True when ``folder`` was written by :func:`write_synthetic` (its marker sits beside it)."""
    return marker_path(folder).is_file()


def synthetic_version(folder) -> int | None:
    """The :data:`SYNTHETIC_VERSION` that wrote ``folder`` (``None``: not synthetic)."""
    if not is_synthetic(folder):
        return None
    found = re.search(r"model version (\d+)", marker_path(folder).read_text())
    return int(found.group(1)) if found else 1


def write_synthetic(folder, subjects: int = 2, seed: int = 0, workers: int = 2) -> list[Path]:
    """Write SYNTHETIC subjects ``s01.dat`` ... into ``folder`` in exactly DEAP's file format.

    Each file is a Python-2-style protocol-2 pickle of ``{"data", "labels"}``
    (:func:`cnnkit.data.safe_pickle.dump_python2`), readable with ``pickle.load(f, encoding="latin1")`` under NumPy
    1.x and 2.x, 103.2 MB like DEAP's, written atomically. The folder holds nothing else; the
    marker ``<folder>.SYNTHETIC.txt`` beside it says that the files are synthetic and which
    model version wrote them. Signals from :func:`synthetic_subject`; subject ``k`` uses seed
    ``seed + k`` (the same files for any number of ``workers``, the processes that write them).
    Returns the written paths.
    """
    if not 1 <= subjects <= 99:
        raise ValueError(f"subjects must lie in 1..99, got {subjects}.")
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    paths = [folder / f"s{subject:02d}.dat" for subject in range(1, subjects + 1)]
    replaced = sum(path.stat().st_size for path in paths if path.is_file())
    in_flight = min(workers, subjects) * SUBJECT_FILE_BYTES  # each worker's file exists twice until renamed
    require_free_space(folder, subjects * SUBJECT_FILE_BYTES - replaced + in_flight,
                       f"writing {subjects} synthetic DEAP subject files")  # fmt: skip
    (folder / SYNTHETIC_MARKER).unlink(missing_ok=True)  # where cnnkit before version 2 put it,
    marker_path(folder).unlink(missing_ok=True)  # written again last, once every file is there
    for old_cache in folder.glob("de_features_*.npz"):  # ... and its feature cache
        old_cache.unlink()
    # worker processes where that is safe (cnnkit.workers: not in a script without a __main__ guard)
    list(map_in_workers(_write_subject, paths, [seed + subject for subject in range(1, subjects + 1)],
                        workers=workers))  # fmt: skip
    with atomic_path(marker_path(folder)) as temporary:
        temporary.write_text(
            f"The sNN.dat files in {folder.name}/ are SYNTHETIC, written by cnnkit.data.deap_synthetic.write_synthetic\n"
            f"(model version {SYNTHETIC_VERSION}, seed {seed}) from a stated random model (see the docstring\n"
            "of cnnkit.data.deap_synthetic.synthetic_subject). They are not DEAP recordings.\n"
        )
    return paths


def _write_subject(path: Path, seed: int) -> None:
    """One synthetic subject file, written atomically (a worker of :func:`write_synthetic`)."""
    data, labels = synthetic_subject(seed)
    with atomic_path(path) as temporary, open(temporary, "wb") as stream:
        safe_pickle.dump_python2({"labels": labels, "data": data}, stream)


def ensure_synthetic(folder, subjects: int, seed: int = 0) -> Path:
    """``folder`` with at least ``subjects`` synthetic files of the current model version,
    (re)written when fewer are there or an older model wrote them."""
    folder = Path(folder)
    current = synthetic_version(folder) == SYNTHETIC_VERSION
    if not current or len(list(folder.glob("s[0-9][0-9].dat"))) < subjects:
        write_synthetic(folder, subjects=subjects, seed=seed)
    return folder


def default_folder(subjects: int = 32, seed: int = 0) -> Path:
    """Where the notebooks read DEAP from.

    ``data/deap/`` (under :func:`cnnkit.files.data_dir`) when it holds at least ``subjects``
    real files; otherwise ``data/deap_synthetic/``, where :func:`write_synthetic` first writes
    ``subjects`` SYNTHETIC files if fewer (or older ones) are there.
    """
    from cnnkit.files import data_dir

    real = data_dir() / "deap"
    if len(list(real.glob("s[0-9][0-9].dat"))) >= subjects and not is_synthetic(real):
        return real
    return ensure_synthetic(data_dir() / "deap_synthetic", subjects, seed)


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
