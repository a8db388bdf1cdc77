"""EEG features for emotion recognition: band power as differential entropy on a 9x9 scalp grid.

The pipeline of Yang et al. (2018), vectorized over trials, channels and segments:

1. band-pass every EEG channel into theta (4-8 Hz), alpha (8-14), beta (14-31) and gamma
   (31-45) with a zero-phase Butterworth filter (SciPy's ``sosfiltfilt``, second-order sections);
2. cut each filtered trial into non-overlapping segments (1 s = 128 samples by default) and take
   the differential entropy of each: for a Gaussian signal ``DE = 0.5 * ln(2 * pi * e * var)``;
3. subtract the mean DE of the 3 s pre-trial baseline's segments, per channel and band;
4. place the 32 channels on a 9x9 grid by their 10-20 positions (zeros where no electrode sits).
"""

from __future__ import annotations

import numpy as np
from scipy.signal import butter, sosfiltfilt

from cnnkit.data.deap import BASELINE_SECONDS, EEG_CHANNELS, SAMPLING_RATE

BANDS = {"theta": (4.0, 8.0), "alpha": (8.0, 14.0), "beta": (14.0, 31.0), "gamma": (31.0, 45.0)}
FILTER_ORDER = 4

# The 10-20 positions of DEAP's 32 electrodes on a 9x9 grid, row by row from the forehead
# (row 0) to the back of the head (row 8), left ear (column 0) to right ear (column 8); "-"
# marks a cell without an electrode.
GRID_LAYOUT = (
    ("-",   "-",   "-",   "Fp1", "-",   "Fp2", "-",   "-",   "-"),
    ("-",   "-",   "-",   "AF3", "-",   "AF4", "-",   "-",   "-"),
    ("F7",  "-",   "F3",  "-",   "Fz",  "-",   "F4",  "-",   "F8"),
    ("-",   "FC5", "-",   "FC1", "-",   "FC2", "-",   "FC6", "-"),
    ("T7",  "-",   "C3",  "-",   "Cz",  "-",   "C4",  "-",   "T8"),
    ("-",   "CP5", "-",   "CP1", "-",   "CP2", "-",   "CP6", "-"),
    ("P7",  "-",   "P3",  "-",   "Pz",  "-",   "P4",  "-",   "P8"),
    ("-",   "-",   "-",   "PO3", "-",   "PO4", "-",   "-",   "-"),
    ("-",   "-",   "-",   "O1",  "Oz",  "O2",  "-",   "-",   "-"),
)  # fmt: skip
GRID_POSITIONS = {name: (row, col) for row, cells in enumerate(GRID_LAYOUT)
                  for col, name in enumerate(cells) if name != "-"}  # fmt: skip


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


def de_features(eeg: np.ndarray, segment: int = SAMPLING_RATE, sampling_rate: float = SAMPLING_RATE,
                baseline_seconds: float = BASELINE_SECONDS) -> np.ndarray:  # fmt: skip
    """Baseline-corrected DE of every segment, channel and band.

    ``eeg``: ``(trials, channels, samples)`` with the baseline first (DEAP: 3 s + 60 s). Returns
    ``(trials, segments, channels, bands)`` float64, e.g. ``(40, 60, 32, 4)`` for DEAP with
    1 s segments; segments are non-overlapping, and the trial must split into whole segments.
    """
    trials, channels, samples = eeg.shape
    baseline = int(round(baseline_seconds * sampling_rate))
    if baseline % segment or (samples - baseline) % segment:
        raise ValueError(
            f"{samples} samples with a {baseline}-sample baseline do not split into "
            f"{segment}-sample segments."
        )
    features = np.empty((trials, (samples - baseline) // segment, channels, len(BANDS)))
    for b, band in enumerate(BANDS.values()):
        filtered = bandpass(eeg, band, sampling_rate)  # all trials and channels at once
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
