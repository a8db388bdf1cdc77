"""DEAP reader and synthetic files, and the differential-entropy features on the 9x9 grid."""

import pickle

import numpy as np
import pytest
from scipy.signal import welch

from cnnkit.data import deap, eeg_features
from cnnkit.errors import CorruptDatasetError, DatasetNotFoundError
from tests.dataset_files import RunsCode


@pytest.fixture(scope="module")
def synthetic_folder(tmp_path_factory):
    folder = tmp_path_factory.mktemp("deap")
    deap.write_synthetic(folder, subjects=2, seed=0)
    return folder


def test_reader_round_trips_the_generated_files(synthetic_folder):
    files = deap.subject_files(synthetic_folder)
    assert [f.name for f in files] == ["s01.dat", "s02.dat"]
    assert deap.is_synthetic(synthetic_folder)
    data, labels = deap.read_subject(files[1])
    expected_data, expected_labels = deap.synthetic_subject(seed=2)
    np.testing.assert_array_equal(data, expected_data)
    np.testing.assert_array_equal(labels, expected_labels)
    assert data.shape == (40, 40, 8064) and labels.shape == (40, 4)
    # The file is what DEAP ships: a protocol-2 pickle of {'data', 'labels'}, readable as latin-1.
    raw = files[0].read_bytes()
    assert raw[:2] == b"\x80\x02"
    assert set(pickle.loads(raw, encoding="latin1")) == {"data", "labels"}


def write(path, content):
    path.write_bytes(pickle.dumps(content, protocol=2))
    return path


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (
            {"data": np.zeros((40, 40, 8064)), "labels": np.full((40, 3), 5.0)},
            r"'labels' has shape \(40, 3\)",
        ),
        (
            {"data": np.zeros((40, 32, 8064)), "labels": np.full((40, 4), 5.0)},
            r"'data' has shape \(40, 32, 8064\)",
        ),
        ({"data": np.zeros((40, 40, 8064)), "labels": np.full((40, 4), 10.0)}, r"ratings lie in 10..10"),
        (
            {"data": np.zeros((40, 40, 8064), "int16"), "labels": np.full((40, 4), 5.0)},
            "'data' has dtype int16",
        ),
        ({"labels": np.full((40, 4), 5.0)}, "expected a dict with 'data' and 'labels'"),
    ],
)
def test_reader_names_the_file_and_the_problem(tmp_path, content, message):
    path = write(tmp_path / "s07.dat", content)
    with pytest.raises(CorruptDatasetError, match=f"s07.dat is not a valid DEAP file: {message}"):
        deap.read_subject(path)


def test_reader_refuses_nan_values(tmp_path):
    data = np.zeros((40, 40, 8064))
    data[3, 5, 100] = np.nan
    path = write(tmp_path / "s01.dat", {"data": data, "labels": np.full((40, 4), 5.0)})
    with pytest.raises(CorruptDatasetError, match="1 NaN or infinite values"):
        deap.read_subject(path)


def test_reader_refuses_a_pickle_that_would_run_code(tmp_path):
    path = write(tmp_path / "s01.dat", {"data": RunsCode(), "labels": None})
    with pytest.raises(CorruptDatasetError, match="cannot be unpickled safely .*refused to load"):
        deap.read_subject(path)


def test_missing_files_say_where_to_put_them(tmp_path):
    with pytest.raises(DatasetNotFoundError, match="data/deap"):
        deap.read_subject(tmp_path / "s01.dat")
    with pytest.raises(DatasetNotFoundError, match="write_synthetic"):
        deap.subject_files(tmp_path)


def test_labels_binary_and_quadrants():
    ratings = np.array([[7, 8, 1, 1], [6, 2, 1, 1], [3, 9, 1, 1], [5, 5, 1, 1]], float)
    np.testing.assert_array_equal(deap.binary_labels(ratings, "valence"), [1, 1, 0, 0])  # 5 is low
    np.testing.assert_array_equal(deap.binary_labels(ratings, "arousal"), [1, 0, 1, 0])
    np.testing.assert_array_equal(deap.quadrant_labels(ratings), [0, 1, 2, 3])
    with pytest.raises(ValueError, match="rating must be one of"):
        deap.binary_labels(ratings, "joy")


def test_differential_entropy_of_white_noise_matches_the_closed_form():
    rng = np.random.default_rng(0)
    for sigma in (0.5, 3.0, 20.0):
        # Long segments: the log of a sample variance is biased by about -1/n.
        noise = rng.normal(0, sigma, size=(50, 1024))
        closed_form = 0.5 * np.log(2 * np.pi * np.e * sigma**2)
        assert eeg_features.differential_entropy(noise).mean() == pytest.approx(closed_form, rel=0.01)
    with pytest.raises(ValueError, match="non-zero variance"):
        eeg_features.differential_entropy(np.ones((2, 128)))


@pytest.mark.parametrize("band", list(eeg_features.BANDS))
def test_band_pass_power_is_concentrated_in_its_band(band):
    noise = np.random.default_rng(1).normal(size=(8, 128 * 60))
    low, high = eeg_features.BANDS[band]
    frequencies, power = welch(eeg_features.bandpass(noise, (low, high)), fs=128, nperseg=512)
    inside = power[:, (frequencies >= low - 1) & (frequencies <= high + 1)].sum()
    assert inside / power.sum() > 0.9


def test_grid_positions_follow_the_10_20_system():
    positions = eeg_features.GRID_POSITIONS
    assert len(positions) == 32 and set(positions) == set(deap.EEG_CHANNELS)
    assert positions["Fp1"] == (0, 3) and positions["Fp2"] == (0, 5)
    assert positions["Cz"] == (4, 4) and positions["T7"] == (4, 0) and positions["T8"] == (4, 8)
    assert positions["Oz"] == (8, 4)
    features = np.arange(32 * 4, dtype=float).reshape(32, 4) + 1
    grid = eeg_features.to_grid(features)
    assert grid.shape == (9, 9, 4) and np.count_nonzero(grid[..., 0]) == 32
    np.testing.assert_array_equal(grid[4, 4], features[deap.EEG_CHANNELS.index("Cz")])


def test_vectorized_features_equal_the_loop_reference():
    data, _ = deap.synthetic_subject(seed=5)
    piece = data[:2, :3]  # two trials, three channels
    fast = eeg_features.de_features(piece, threads=1)
    slow = eeg_features.de_features_reference(piece)
    assert fast.shape == (2, 60, 3, 4)
    assert np.max(np.abs(fast - slow) / np.abs(slow).clip(1e-12)) < 1e-6
    np.testing.assert_array_equal(eeg_features.de_features(piece, threads=2), fast)  # blocks: same result
    np.testing.assert_array_equal(
        eeg_features.de_features(piece, threads=5), fast
    )  # more threads than channels


def test_features_carry_the_synthetic_effects():
    data, labels = deap.synthetic_subject(seed=3)
    features = eeg_features.de_features(data[:, :32])
    channel = {name: i for i, name in enumerate(deap.EEG_CHANNELS)}
    asymmetry = features[:, :, channel["F3"], 1].mean(1) - features[:, :, channel["F4"], 1].mean(1)
    assert np.corrcoef(asymmetry, labels[:, 0])[0, 1] < -0.8  # less left alpha with higher valence
    beta = features[:, :, :, 2].mean(axis=(1, 2))
    assert np.corrcoef(beta, labels[:, 1])[0, 1] > 0.8


def test_default_folder_falls_back_to_synthetic_files_and_says_so(tmp_path, monkeypatch):
    monkeypatch.setenv("CNNKIT_DATA", str(tmp_path))
    folder = deap.default_folder(subjects=1, seed=0)
    assert folder == tmp_path / "deap_synthetic" and deap.is_synthetic(folder)
    assert [p.name for p in deap.subject_files(folder)] == ["s01.dat"]
    assert "SYNTHETIC DATA" in deap.source_banner(folder, 1)
    real = tmp_path / "deap"
    real.mkdir()
    (folder / "s01.dat").rename(real / "s01.dat")  # a "real" folder: DEAP files without the marker
    assert deap.default_folder(subjects=1) == real
    assert "Real DEAP recordings: 1 subject from" in deap.source_banner(real, 1)
