"""DEAP reader and synthetic files, and the differential-entropy features on the 9x9 grid."""

import pickle

import numpy as np
import pytest
from scipy.signal import welch

from cnnkit import evaluation
from cnnkit.data import deap, deap_format, deap_synthetic, eeg_features
from cnnkit.errors import CorruptDatasetError, DatasetNotFoundError
from tests.dataset_files import RunsCode


@pytest.fixture(scope="module")
def synthetic_folder(tmp_path_factory):
    folder = tmp_path_factory.mktemp("deap")
    deap_synthetic.write_synthetic(folder, subjects=2, seed=0)
    return folder


def test_reader_round_trips_the_generated_files(synthetic_folder):
    files = deap.subject_files(synthetic_folder)
    assert [f.name for f in files] == ["s01.dat", "s02.dat"]
    assert deap_synthetic.is_synthetic(synthetic_folder)
    data, labels = deap.read_subject(files[1])
    expected_data, expected_labels = deap_synthetic.synthetic_subject(seed=2)
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
    assert "TorchEEG" in deap.binary_labels.__doc__ and ">= 5" in deap.binary_labels.__doc__
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


@pytest.mark.parametrize("band", list(deap_format.BANDS))
def test_band_pass_power_is_concentrated_in_its_band(band):
    noise = np.random.default_rng(1).normal(size=(8, 128 * 60))
    low, high = deap_format.BANDS[band]
    frequencies, power = welch(eeg_features.bandpass(noise, (low, high)), fs=128, nperseg=512)
    inside = power[:, (frequencies >= low - 1) & (frequencies <= high + 1)].sum()
    assert inside / power.sum() > 0.9


def test_grid_positions_follow_the_10_20_system():
    positions = deap_format.GRID_POSITIONS
    assert len(positions) == 32 and set(positions) == set(deap_format.EEG_CHANNELS)
    assert positions["Fp1"] == (0, 3) and positions["Fp2"] == (0, 5)
    assert positions["Cz"] == (4, 4) and positions["T7"] == (4, 0) and positions["T8"] == (4, 8)
    assert positions["Oz"] == (8, 4)
    features = np.arange(32 * 4, dtype=float).reshape(32, 4) + 1
    grid = eeg_features.to_grid(features)
    assert grid.shape == (9, 9, 4) and np.count_nonzero(grid[..., 0]) == 32
    np.testing.assert_array_equal(grid[4, 4], features[deap_format.EEG_CHANNELS.index("Cz")])


def test_vectorized_features_equal_the_loop_reference():
    data, _ = deap_synthetic.synthetic_subject(seed=5)
    piece = data[:2, :3]  # two trials, three channels
    fast = eeg_features.de_features(piece, threads=1)
    slow = eeg_features.de_features_reference(piece)
    assert fast.shape == (2, 60, 3, 4)
    assert np.max(np.abs(fast - slow) / np.abs(slow).clip(1e-12)) < 1e-6
    np.testing.assert_array_equal(eeg_features.de_features(piece, threads=2), fast)  # blocks: same result
    np.testing.assert_array_equal(
        eeg_features.de_features(piece, threads=5), fast
    )  # more threads than channels


@pytest.fixture(scope="module")
def calibration_subjects():
    """Grid features and ratings of three synthetic subjects (seeds 101-103)."""
    subjects = [deap_synthetic.synthetic_subject(seed=101 + k) for k in range(3)]
    return [(eeg_features.to_grid(eeg_features.de_features(data[:, :32])).astype("float32"), ratings)
            for data, ratings in subjects]  # fmt: skip


def test_features_carry_the_synthetic_effects(calibration_subjects):
    channel = {name: i for i, name in enumerate(deap_format.EEG_CHANNELS)}
    f3, f4 = deap_format.GRID_POSITIONS["F3"], deap_format.GRID_POSITIONS["F4"]
    grids = np.concatenate([grid.mean(axis=1) for grid, _ in calibration_subjects])  # (120 trials, 9, 9, 4)
    ratings = np.concatenate([r for _, r in calibration_subjects])
    asymmetry = grids[:, f3[0], f3[1], 1] - grids[:, f4[0], f4[1], 1]  # left minus right frontal alpha
    assert np.corrcoef(asymmetry, ratings[:, 0])[0, 1] < -0.2  # less left alpha with higher valence
    beta = grids[..., 2].sum(axis=(1, 2)) / 32
    assert np.corrcoef(beta, ratings[:, 1])[0, 1] > 0.4  # more beta with higher arousal
    # Volume conduction: neighbouring electrodes agree, distant ones do not.
    data, _ = deap_synthetic.synthetic_subject(seed=101)
    alpha = eeg_features.de_features(data[:5, :32])[..., 1].reshape(-1, 32)
    correlation = np.corrcoef(alpha.T)
    assert correlation[channel["F3"], channel["FC1"]] > 0.7
    assert abs(correlation[channel["F3"], channel["O2"]]) < 0.3


def test_the_synthetic_data_is_as_hard_as_real_deap(calibration_subjects):
    """The calibration targets of :func:`deap_synthetic.synthetic_subject`: an RBF SVM, 10 folds per subject,
    near LibEER's trial-split figures with trial-grouped folds and near the papers' segment-level
    figures with random segment folds; with no emotion in the signals, grouped folds sit at chance."""
    svm = evaluation.svm_classifier()
    trials = np.repeat(np.arange(40), 60)
    scores = {"trial-grouped folds": [], "random segment folds": []}
    for grids, ratings in calibration_subjects:
        x, y = grids.reshape(-1, 9, 9, 4), np.repeat(deap.binary_labels(ratings), 60)
        for protocol, folds in (("trial-grouped folds", evaluation.grouped_folds(trials, y, n_splits=10)),
                                ("random segment folds", evaluation.segment_folds(y, n_splits=10))):  # fmt: skip
            scores[protocol].append(evaluation.cross_validate(svm, x, y, folds)["accuracy"].mean())
    for protocol, (low, high) in deap_synthetic.CALIBRATION_TARGETS.items():
        assert low <= np.mean(scores[protocol]) <= high, (protocol, scores[protocol])
    data, ratings = deap_synthetic.synthetic_subject(seed=101, emotion_effect=0)
    x = eeg_features.to_grid(eeg_features.de_features(data[:, :32])).reshape(-1, 9, 9, 4)
    y = np.repeat(deap.binary_labels(ratings), 60)
    null = evaluation.cross_validate(svm, x, y, evaluation.grouped_folds(trials, y, n_splits=10))
    assert null["accuracy"].mean() < 0.56 < np.mean(scores["trial-grouped folds"]) + 0.02


def numpy1_load(raw: bytes):
    """``pickle.loads(raw, encoding="latin1")`` as under NumPy 1.25 and older, where ``numpy._core``
    does not exist (1.26 added it as an alias): NumPy 1's module names resolve, NumPy 2's fail as
    they do there. (Checked by hand with NumPy 1.24.4: the generated files load, and Python 3's
    own pickle of an array fails with "No module named 'numpy._core'".)"""

    class NumPy1Unpickler(pickle.Unpickler):
        def find_class(self, module, name):
            if module.startswith("numpy._core"):
                raise ModuleNotFoundError(f"No module named {module!r} (NumPy 1.x)")
            if module.startswith("numpy.core"):
                module = module.replace("numpy.core", "numpy._core", 1)  # where NumPy 2 keeps them
            return super().find_class(module, name)

    import io

    return NumPy1Unpickler(io.BytesIO(raw), encoding="latin1").load()


def test_synthetic_files_are_readable_as_deap_documents_them(synthetic_folder):
    """DEAP's readme: ``pickle.load(f, encoding="latin1")``. The files must load that way under
    NumPy 1.x (Python-2-style names and strings), be the real files' size, and the folder must
    hold only ``sNN.dat`` files (TorchEEG reads every file in it)."""
    import pickletools

    raw = (synthetic_folder / "s01.dat").read_bytes()
    expected_data, expected_labels = deap_synthetic.synthetic_subject(seed=1)
    content = numpy1_load(raw)
    np.testing.assert_array_equal(content["data"], expected_data)
    np.testing.assert_array_equal(content["labels"], expected_labels)
    assert 103_219_200 < len(raw) < 103_300_000  # 40x40x8064 float64 plus a little framing
    opcodes = [(op.name, arg) for op, arg, _ in pickletools.genops(raw)]
    assert {arg for name, arg in opcodes if name == "GLOBAL"} == {
        "numpy.core.multiarray _reconstruct", "numpy ndarray", "numpy dtype"}  # fmt: skip
    assert [name for name, arg in opcodes if isinstance(arg, bytes | str) and len(arg) > 1000] == ["BINSTRING"] * 2
    # What Python 3 writes by itself fails there: the test can tell the two apart.
    with pytest.raises(ModuleNotFoundError, match="NumPy 1.x"):
        numpy1_load(pickle.dumps({"data": expected_data[:1], "labels": expected_labels}, protocol=2))
    assert sorted(p.name for p in synthetic_folder.iterdir()) == ["s01.dat", "s02.dat"]
    assert deap_synthetic.marker_path(synthetic_folder).read_text().startswith("The sNN.dat files in")


def test_the_feature_cache_lives_outside_the_folder(synthetic_folder):
    features, ratings = eeg_features.preprocess_folder(synthetic_folder, workers=1, progress=False)
    assert features.shape == (2, 40, 60, 9, 9, 4) and ratings.shape == (2, 40, 4)
    cached = eeg_features.cache_path(synthetic_folder)
    assert cached.is_file() and synthetic_folder not in cached.parents
    assert sorted(p.name for p in synthetic_folder.iterdir()) == ["s01.dat", "s02.dat"]
    again, _ = eeg_features.preprocess_folder(synthetic_folder, progress=False)
    np.testing.assert_array_equal(again, features)


def test_an_older_synthetic_folder_is_rewritten_with_the_current_model(tmp_path):
    folder = tmp_path / "deap_synthetic"
    deap_synthetic.write_synthetic(folder, subjects=1)
    deap_synthetic.marker_path(folder).write_text("SYNTHETIC, model version 1\n")
    (folder / "SYNTHETIC.txt").write_text("old marker inside the folder")
    (folder / "de_features_128.npz").write_bytes(b"old cache")
    assert deap_synthetic.synthetic_version(folder) == 1
    deap_synthetic.ensure_synthetic(folder, subjects=1)
    assert deap_synthetic.synthetic_version(folder) == deap_synthetic.SYNTHETIC_VERSION
    assert [p.name for p in folder.iterdir()] == ["s01.dat"]


def test_default_folder_falls_back_to_synthetic_files_and_says_so(tmp_path, monkeypatch):
    monkeypatch.setenv("CNNKIT_DATA", str(tmp_path))
    folder = deap_synthetic.default_folder(subjects=1, seed=0)
    assert folder == tmp_path / "deap_synthetic" and deap_synthetic.is_synthetic(folder)
    assert [p.name for p in deap.subject_files(folder)] == ["s01.dat"]
    assert "SYNTHETIC DATA" in deap_synthetic.source_banner(folder, 1)
    real = tmp_path / "deap"
    real.mkdir()
    (folder / "s01.dat").rename(real / "s01.dat")  # a "real" folder: DEAP files without the marker
    assert deap_synthetic.default_folder(subjects=1) == real
    assert "Real DEAP recordings: 1 subject from" in deap_synthetic.source_banner(real, 1)
