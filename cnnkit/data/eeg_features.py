"""EEG features for emotion recognition: band power as differential entropy on a 9x9 scalp grid.

The pipeline of Yang et al. (2018), vectorized over trials, channels and segments:

1. band-pass every EEG channel into theta (4-8 Hz), alpha (8-14), beta (14-31) and gamma
   (31-45) with a zero-phase Butterworth filter (SciPy's ``sosfiltfilt``, second-order sections);
2. cut each filtered trial into non-overlapping segments (1 s = 128 samples by default) and take
   the differential entropy of each: for a Gaussian signal ``DE = 0.5 * ln(2 * pi * e * var)``;
3. subtract the mean DE of the 3 s pre-trial baseline's segments, per channel and band;
4. place the 32 channels on a 9x9 grid by their 10-20 positions (zeros where no electrode sits).

:func:`preprocess_folder` runs it over every subject of a folder, two processes at a time, and
caches the result.
"""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from functools import partial
from pathlib import Path

import numpy as np
from scipy.signal import butter, decimate, sosfiltfilt

from cnnkit.data.deap import read_subject, subject_files
from cnnkit.data.deap_format import BANDS, BASELINE_SECONDS, EEG_CHANNELS, GRID_POSITIONS, SAMPLING_RATE
from cnnkit.files import atomic_path
from cnnkit.workers import map_in_workers

FILTER_ORDER = 4

def band_filter(band: tuple[float, float], sampling_rate: float = SAMPLING_RATE) -> np.ndarray:
    """Second-order sections of a Butterworth band-pass filter (order 4 per edge)."""
    low, high = band
    if not 0 < low < high < sampling_rate / 2:
        raise ValueError(f"band {band} must satisfy 0 < low < high < {sampling_rate / 2} Hz.")
    return butter(FILTER_ORDER, [low, high], btype="bandpass", fs=sampling_rate, output="sos")


def bandpass(signals: np.ndarray, band, sampling_rate: float = SAMPLING_RATE) -> np.ndarray:
    """Zero-phase band-pass along the last axis; any leading shape (e.g. trials x channels)."""
    return sosfiltfilt(band_filter(band, sampling_rate), signals, axis=-1)


def differential_entropy(segments: np.ndarray, axis: int = -1) -> np.ndarray:
    """DE of (assumed Gaussian) signals along ``axis``: ``0.5 * ln(2 * pi * e * variance)``."""
    variance = np.var(segments, axis=axis)
    if np.any(variance <= 0):
        raise ValueError("differential_entropy needs segments with non-zero variance (a flat channel?).")
    return 0.5 * np.log(2 * np.pi * np.e * variance)


def de_features(
    eeg: np.ndarray,
    segment: int = SAMPLING_RATE,
    sampling_rate: float = SAMPLING_RATE,
    baseline_seconds: float = BASELINE_SECONDS,
    threads: int = 2,
) -> np.ndarray:
    """Baseline-corrected DE of every segment, channel and band.

    ``eeg``: ``(trials, channels, samples)`` with the baseline first (DEAP: 3 s + 60 s). Returns
    ``(trials, segments, channels, bands)`` float64, e.g. ``(40, 60, 32, 4)`` for DEAP with
    1 s segments; segments are non-overlapping, and the trial must split into whole segments.
    ``threads``: the channels are split into this many contiguous blocks computed in parallel
    threads (SciPy's filter loop runs without Python's lock, so two cores give about 1.9x);
    the result is identical for any number of threads.
    """
    trials, channels, samples = eeg.shape
    baseline = int(round(baseline_seconds * sampling_rate))
    if baseline % segment or (samples - baseline) % segment:
        raise ValueError(
            f"{samples} samples with a {baseline}-sample baseline do not split into "
            f"{segment}-sample segments."
        )
    compute = partial(_de_block, segment=segment, sampling_rate=sampling_rate, baseline=baseline)
    blocks = np.array_split(np.arange(channels), max(1, min(threads, channels)))
    if len(blocks) == 1:
        return compute(eeg)
    with ThreadPoolExecutor(max_workers=len(blocks)) as pool:
        parts = list(pool.map(compute, [eeg[:, block[0] : block[-1] + 1] for block in blocks]))
    return np.concatenate(parts, axis=2)


def _de_block(eeg: np.ndarray, segment: int, sampling_rate: float, baseline: int) -> np.ndarray:
    """:func:`de_features` for one block of channels, vectorized over trials and segments."""
    trials, channels, _ = eeg.shape
    features = np.empty((trials, (eeg.shape[2] - baseline) // segment, channels, len(BANDS)))
    for b, band in enumerate(BANDS.values()):
        filtered = bandpass(eeg, band, sampling_rate)  # all trials and channels of the block at once
        de = differential_entropy(filtered.reshape(trials, channels, -1, segment))  # (trials, channels, segs)
        rest = de[:, :, baseline // segment :] - de[:, :, : baseline // segment].mean(axis=2, keepdims=True)
        features[..., b] = rest.transpose(0, 2, 1)
    return features


def to_grid(features: np.ndarray, channels=EEG_CHANNELS) -> np.ndarray:
    """Place ``(..., channels, bands)`` values on the 9x9 grid: ``(..., 9, 9, bands)``, zeros elsewhere."""
    if features.shape[-2] != len(channels):
        raise ValueError(f"expected {len(channels)} channels on axis -2, got shape {features.shape}.")
    grid = np.zeros((*features.shape[:-2], 9, 9, features.shape[-1]), dtype=features.dtype)
    for index, name in enumerate(channels):
        row, col = GRID_POSITIONS[name]
        grid[..., row, col, :] = features[..., index, :]
    return grid


def de_features_reference(eeg: np.ndarray, segment: int = SAMPLING_RATE, sampling_rate: float = SAMPLING_RATE,
                          baseline_seconds: float = BASELINE_SECONDS) -> np.ndarray:  # fmt: skip
    """The straightforward version of :func:`de_features`, one Python loop per trial, channel,
    band and segment. Same output; kept as the check and the benchmark's baseline."""
    trials, channels, samples = eeg.shape
    baseline = int(round(baseline_seconds * sampling_rate)) // segment
    segments = samples // segment
    features = np.empty((trials, segments - baseline, channels, len(BANDS)))
    for trial in range(trials):
        for channel in range(channels):
            for b, band in enumerate(BANDS.values()):
                filtered = sosfiltfilt(band_filter(band, sampling_rate), eeg[trial, channel])
                values = [
                    differential_entropy(filtered[s * segment : (s + 1) * segment]) for s in range(segments)
                ]
                reference = np.mean(values[:baseline])
                for s in range(baseline, segments):
                    features[trial, s - baseline, channel, b] = values[s] - reference
    return features


def subject_features(path, segment: int = SAMPLING_RATE) -> tuple[np.ndarray, np.ndarray]:
    """Read one DEAP file and compute its grid features.

    Returns ``(features, ratings)``: float32 ``(40, segments, 9, 9, 4)`` and ``(40, 4)``.
    """
    data, ratings = read_subject(path)
    # One thread per worker: preprocess_folder already runs one worker process per core.
    with np.errstate(over="ignore", invalid="ignore"):  # checked just below, by file
        features = to_grid(de_features(data[:, :32], segment, threads=1)).astype("float32")
    check_finite(features, path, "differential-entropy features", data[:, :32])
    return features, ratings


def check_finite(values: np.ndarray, path, what: str, signals: np.ndarray) -> None:
    """Refuse, naming the file, ``values`` computed from ``signals`` that are not all finite:
    DEAP's files hold microvolts, and values like 1e300 overflow the variance (NaN features
    would train a model with NaN weights under a finite-looking loss)."""
    if np.isfinite(values).all():
        return
    from cnnkit.errors import CorruptDatasetError

    bad = np.count_nonzero(~np.isfinite(values))
    raise CorruptDatasetError(
        f"{path} gives {bad:,} of {values.size:,} {what} that are NaN or infinite: its EEG reaches "
        f"{np.abs(signals).max():.3g}, far beyond the microvolts of DEAP's recordings. Replace the file with "
        "the original one from DEAP's 'data_preprocessed_python' release."
    )


def cache_path(folder, segment: int = SAMPLING_RATE) -> Path:
    """Where :func:`preprocess_folder` caches the features of ``folder``:
    ``<data folder>/cache/deap_features/<folder name>-<hash of its full path>-de_<segment>.npz``."""
    import hashlib

    from cnnkit.files import data_dir

    folder = Path(folder).resolve()
    key = hashlib.sha256(str(folder).encode()).hexdigest()[:12]
    return data_dir() / "cache" / "deap_features" / f"{folder.name}-{key}-de_{segment}.npz"


def preprocess_folder(folder, segment: int = SAMPLING_RATE, workers: int = 2, cache: bool = True,
                      progress: bool = True) -> tuple[np.ndarray, np.ndarray]:  # fmt: skip
    """Grid features of every subject in ``folder``, computed once and cached.

    Subjects are processed one at a time per worker process (``workers``; the results stream
    back in order), so memory stays at a few hundred MB per worker whatever the number of
    subjects. The result is saved atomically to :func:`cache_path` (under the data folder's
    ``cache/``, never inside ``folder``, which keeps only DEAP's own files) together with the
    file names, sizes and modification times it came from; a later call with the same files
    loads it instead of recomputing.

    Returns ``(features, ratings)``: float32 ``(subjects, 40, segments, 9, 9, 4)`` and
    float64 ``(subjects, 40, 4)``.
    """
    folder = Path(folder)
    files = subject_files(folder)
    signature = np.array([f"{f.name}:{f.stat().st_size}:{f.stat().st_mtime_ns}" for f in files])
    stored_at = cache_path(folder, segment)
    if cache and stored_at.is_file():
        cached = _read_cache(stored_at, signature)
        if cached is not None:
            return cached
    bar = None
    if progress:
        from keras.utils import Progbar  # only for the progress bar

        bar = Progbar(len(files), unit_name="subject")
    features, ratings = [], []
    work = partial(subject_features, segment=segment)
    # worker processes where that is safe (cnnkit.workers: not in a script without a __main__ guard)
    for index, (subject, labels) in enumerate(map_in_workers(work, files, workers=workers), start=1):
        features.append(subject)
        ratings.append(labels)
        if bar is not None:
            bar.update(index)
    features, ratings = np.stack(features), np.stack(ratings)
    if cache:
        stored_at.parent.mkdir(parents=True, exist_ok=True)
        with atomic_path(stored_at) as temporary, open(temporary, "wb") as stream:
            np.savez(stream, features=features, ratings=ratings, signature=signature)
    return features, ratings


def _read_cache(path: Path, signature: np.ndarray):
    """``(features, ratings)`` from a cache file made for ``signature``; ``None`` when it was made
    for other files, or cannot be read (truncated by a kill, replaced, missing an array), which
    is said in a warning: the features are then computed again and the cache rewritten."""
    import warnings
    import zipfile

    try:
        with np.load(path, allow_pickle=False) as stored:
            if not np.array_equal(stored["signature"], signature):
                return None
            features, ratings = stored["features"], stored["ratings"]
    except (OSError, ValueError, KeyError, EOFError, zipfile.BadZipFile) as error:
        warnings.warn(f"The feature cache {path} cannot be read ({type(error).__name__}: {error}); "
                      "computing the features again.", stacklevel=3)  # fmt: skip
        return None
    if features.ndim != 6 or ratings.shape != (*features.shape[:2], 4):
        warnings.warn(f"The feature cache {path} holds arrays of the wrong shape; computing the features again.",
                      stacklevel=3)  # fmt: skip
        return None
    return features, ratings


def eeg_windows(
    eeg: np.ndarray,
    window: int = SAMPLING_RATE,
    downsample: int = 1,
    sampling_rate: float = SAMPLING_RATE,
    baseline_seconds: float = BASELINE_SECONDS,
) -> np.ndarray:
    """Raw EEG cut into windows for the 1D-CNN + RNN models.

    Each channel is z-scored with the mean and standard deviation of all of the subject's
    trials (baseline dropped), then min-max scaled to [0, 1] the same way, optionally
    downsampled by ``downsample`` (low-pass filtered first, ``scipy.signal.decimate`` with a
    zero-phase FIR filter: keeping every n-th sample alone would fold everything above the new
    Nyquist frequency back into the signal, e.g. DEAP's gamma band, 31-45 Hz, into 19-33 Hz at
    64 Hz), and cut into non-overlapping windows of
    ``window`` samples (counted after downsampling). Normalizing over all trials, not trial by
    trial, keeps the differences between trials (a trial's stronger alpha, say) that carry the
    emotion. ``eeg``: ``(trials, channels, samples)`` of one subject. Returns float32
    ``(trials, windows, window, channels)``.
    """
    baseline = int(round(baseline_seconds * sampling_rate))
    if downsample < 1:
        raise ValueError(f"downsample must be a positive integer, got {downsample}.")
    signal = eeg[:, :, baseline:]
    if downsample > 1:
        signal = decimate(signal, downsample, ftype="fir", zero_phase=True, axis=-1)
    axes = (0, 2)  # over trials and time, per channel
    z = (signal - signal.mean(axis=axes, keepdims=True)) / signal.std(axis=axes, keepdims=True).clip(1e-12)
    low, high = z.min(axis=axes, keepdims=True), z.max(axis=axes, keepdims=True)
    scaled = (z - low) / (high - low).clip(1e-12)
    count = scaled.shape[-1] // window
    if count == 0:
        raise ValueError(f"a window of {window} samples is longer than the {scaled.shape[-1]}-sample trials.")
    windows = scaled[:, :, : count * window].reshape(*scaled.shape[:2], count, window)
    return windows.transpose(0, 2, 3, 1).astype("float32")
