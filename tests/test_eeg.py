"""EEG models and grouped cross-validation on synthetic DEAP-format data."""

import keras
import numpy as np
import pytest

from cnnkit import evaluation
from cnnkit.data import deap, deap_format, deap_synthetic, eeg_features
from cnnkit.models import build


def test_ccnn_has_the_published_parameter_count_and_shapes():
    model = build("ccnn")
    assert model.count_params() == 6_233_602
    assert [tuple(model.get_layer(f"conv{i}").output.shape[1:]) for i in range(1, 5)] == [
        (9, 9, 64), (9, 9, 128), (9, 9, 256), (9, 9, 64)
    ]  # fmt: skip
    assert tuple(model.get_layer("flatten").output.shape[1:]) == (5184,)
    assert build("ccnn", activation="selu").get_layer("conv2").activation.__name__ == "selu"
    with pytest.raises(ValueError, match="'relu' or 'selu'"):
        build("ccnn", activation="tanh")


def test_ccnn_with_the_authors_1x1_fourth_convolution():
    authors = build("ccnn", fourth_kernel=1)
    assert authors.get_layer("conv4").kernel.shape == (1, 1, 256, 64)
    assert build("ccnn").count_params() - authors.count_params() == (16 - 1) * 256 * 64 == 245_760
    assert authors.count_params() == 5_987_842
    with pytest.raises(ValueError, match="4 \\(TorchEEG\\) or 1"):
        build("ccnn", fourth_kernel=3)


def test_ccnn_pads_its_4x4_convolutions_as_pytorch_padding_same_does():
    """PyTorch's ``padding="same"`` (TorchEEG's CCNN) pads an even kernel's extra row and column
    at the bottom and right: 1 before, 2 after for 4x4. The CCNN's own conv1 must equal that
    explicit padding followed by a 'valid' cross-correlation, computed here in NumPy."""
    model = build("ccnn")
    conv = model.get_layer("conv1")
    kernel, bias = conv.get_weights()
    x = np.random.default_rng(0).normal(size=(1, 9, 9, 4)).astype("float32")
    padded = np.pad(x[0], ((1, 2), (1, 2), (0, 0)))
    expected = np.empty((9, 9, kernel.shape[-1]), "float32")
    for i in range(9):
        for j in range(9):
            expected[i, j] = np.tensordot(padded[i : i + 4, j : j + 4], kernel, axes=3) + bias
    got = keras.Model(model.inputs, conv.output)(x).numpy()[0]
    np.testing.assert_allclose(got, np.maximum(expected, 0), rtol=1e-5, atol=1e-5)  # conv1 ends in ReLU
    # The other choice (2 before, 1 after) gives different numbers: the test can tell them apart.
    shifted = np.pad(x[0], ((2, 1), (2, 1), (0, 0)))
    other = np.tensordot(shifted[0:4, 0:4], kernel, axes=3) + bias
    assert not np.allclose(np.maximum(other, 0), got[0, 0], atol=1e-3)


def test_downsampled_windows_are_low_pass_filtered_not_aliased():
    """At 64 Hz a 40 Hz wave (DEAP's gamma band) would fold to 24 Hz if every second sample were kept."""
    rate, seconds = 128, 63  # DEAP: 3 s of baseline, 60 s of trial
    t = np.arange(rate * seconds) / rate
    eeg = np.sin(2 * np.pi * 10 * t) + np.sin(2 * np.pi * 40 * t)  # alpha and gamma, equal amplitude
    windows = eeg_features.eeg_windows(np.tile(eeg, (2, 1, 1)), window=64, downsample=2)
    assert windows.shape == (2, 60, 64, 1)
    signal = windows[0, 10:50, :, 0].reshape(-1)  # 40 s at 64 Hz, away from the ends
    power = np.abs(np.fft.rfft(signal - signal.mean())) ** 2
    frequencies = np.fft.rfftfreq(len(signal), d=1 / 64)
    at = lambda f: power[np.argmin(np.abs(frequencies - f))]  # noqa: E731
    assert at(24) < 1e-3 * at(10)  # the alias of 40 Hz is gone; plain decimation leaves it as strong as 10 Hz
    with pytest.raises(ValueError, match="downsample must be a positive integer"):
        eeg_features.eeg_windows(np.tile(eeg, (2, 1, 1)), downsample=0)


def test_recurrent_models_take_eeg_windows():
    data, ratings = deap_synthetic.synthetic_subject(seed=1)
    windows = eeg_features.eeg_windows(data[:4, :32])
    assert windows.shape == (4, 60, 128, 32)
    # Scaled per channel over all trials: each channel spans exactly [0, 1] across the trials,
    # so a trial with a stronger signal keeps a wider range than a weaker one.
    np.testing.assert_allclose(windows.min(axis=(0, 1, 2)), 0, atol=1e-6)
    np.testing.assert_allclose(windows.max(axis=(0, 1, 2)), 1, atol=1e-6)
    assert windows.dtype == np.float32
    for name in ("cnn1d_lstm", "cnn1d_gru"):
        model = build(name)
        assert model.output_shape == (None, 4)
        assert model.predict(windows[0, :3], verbose=0).shape == (3, 4)
    # (valence, arousal) -> quadrant; "high" means a rating above 5, so 5 itself is low.
    ratings = np.array([[7, 7, 1, 1], [7, 3, 1, 1], [3, 7, 1, 1], [3, 3, 1, 1], [5, 5.01, 1, 1], [5.01, 5, 1, 1]])
    np.testing.assert_array_equal(deap.quadrant_labels(ratings), [0, 1, 2, 3, 2, 1])
    assert [deap_format.QUADRANTS[q] for q in deap.quadrant_labels(ratings[:4])] == ["HVHA", "HVLA", "LVHA", "LVLA"]


def test_grouped_folds_never_share_a_trial():
    trials = np.repeat(np.arange(40), 60)
    labels = np.repeat(np.arange(40) % 2, 60)
    folds = evaluation.grouped_folds(trials, labels, n_splits=10)
    assert len(folds) == 10
    seen = np.concatenate([test for _, test in folds])
    assert sorted(seen) == list(range(len(trials)))  # every segment tested exactly once
    for train, test in folds:
        assert not set(trials[train]) & set(trials[test])
    leaky = evaluation.segment_folds(labels, n_splits=10)
    assert any(set(trials[train]) & set(trials[test]) for train, test in leaky)  # the leak it demonstrates
    with pytest.raises(ValueError, match="cannot make 10 folds"):
        evaluation.grouped_folds(np.arange(5), np.zeros(5), n_splits=10)


def test_ccnn_learns_the_synthetic_trials():
    """On random segment folds (one fold of four, 3 epochs) the CCNN recognizes trials it has seen
    well above chance: it trains. (That trial-grouped folds score far lower is asserted for the
    SVM in test_deap.py and for both in notebook 04's claims.)"""
    data, ratings = deap_synthetic.synthetic_subject(seed=4)
    x = eeg_features.to_grid(eeg_features.de_features(data[:, :32])).astype("float32").reshape(-1, 9, 9, 4)
    labels = np.repeat(deap.binary_labels(ratings, "valence"), 60)
    classifier = evaluation.keras_classifier(lambda shape, k: build("ccnn", input_shape=shape, num_classes=k), epochs=3)
    scores = evaluation.cross_validate(classifier, x, labels, evaluation.segment_folds(labels, n_splits=4)[:1])
    assert list(scores.columns) == ["fold", "accuracy", "f1", "majority"]
    assert scores["accuracy"].mean() > 0.8 > scores["majority"].mean() + 0.2
    assert build("ccnn").get_layer("fc").activation.__name__ == "selu"  # the authors' code and TorchEEG agree


def test_deap_trains_through_the_command_line_with_a_trial_split_and_says_synthetic(tmp_path, capsys):
    import json

    from cnnkit import cli
    from cnnkit.data import eeg

    out = tmp_path / "run"
    code = cli.main(["train", "ccnn", "--dataset", "deap_synthetic", "--subjects", "1", "--epochs", "1",
                     "--out", str(out)])  # fmt: skip
    assert code == 0
    assert (out / "SYNTHETIC.txt").exists() and json.loads((out / "metrics.json").read_text())["synthetic"]
    assert json.loads((out / "classes.json").read_text())["class_names"] == ["low valence", "high valence"]
    arrays, synthetic = eeg.eeg_arrays("deap_synthetic", "de_grid", subjects=1)
    assert synthetic and arrays["train"][0].shape[1:] == (9, 9, 4)
    assert sum(len(y) for _, y in arrays.values()) == 40 * 60  # 40 trials x 60 one-second segments
    # Trial-grouped: each split holds whole trials (60 segments each).
    assert all(len(y) % 60 == 0 for _, y in arrays.values())
    # Random windows: the same 2,400 segments, split one by one, so each trial's segments straddle the split.
    randomly, _ = eeg.eeg_arrays("deap_synthetic", "de_grid", subjects=1, split="random_windows")
    assert sum(len(y) for _, y in randomly.values()) == 40 * 60 and len(randomly["train"][1]) == 1680
    train_rows = {row.tobytes() for row in randomly["train"][0].reshape(1680, -1)}
    test_rows = {row.tobytes() for row in randomly["test"][0].reshape(len(randomly["test"][0]), -1)}
    assert not train_rows & test_rows  # no segment twice ...
    grouped_test = {row.tobytes() for row in arrays["test"][0].reshape(len(arrays["test"][0]), -1)}
    assert 0 < len(grouped_test & train_rows) < len(grouped_test)  # ... but test trials' segments are in training
    with pytest.raises(ValueError, match="split must be one of trial, random_windows"):
        eeg.eeg_arrays("deap_synthetic", "de_grid", subjects=1, split="by_mood")


def test_deap_without_the_licensed_files_says_where_to_put_them(tmp_path, capsys):
    from cnnkit import cli

    code = cli.main(["train", "ccnn", "--dataset", "deap", "--out", str(tmp_path / "run")])
    err = capsys.readouterr().err
    assert code == 1 and "/deap holds 0 real DEAP subject files" in err and "the dataset deap_synthetic" in err
    assert "Traceback" not in err


def test_an_image_model_refuses_eeg_data_in_one_line(tmp_path, capsys):
    from cnnkit import cli

    code = cli.main(["train", "lenet5", "--dataset", "deap_synthetic", "--out", str(tmp_path / "run")])
    err = capsys.readouterr().err
    assert code == 2 and "lenet5 takes images, but deap_synthetic holds EEG" in err


def test_trial_split_keeps_every_trial_on_one_side_and_stratifies():
    from cnnkit.data.eeg import trial_split

    labels = np.array([0, 1] * 20)
    split = trial_split(labels, seed=3)
    together = np.concatenate(list(split.values()))
    assert sorted(together) == list(range(40))
    assert [len(split[s]) for s in ("train", "validation", "test")] == [28, 6, 6]
    assert all(abs(labels[index].mean() - 0.5) <= 0.17 for index in split.values())


@pytest.mark.parametrize("subjects", [0, -1, 33, 2.5, True])
def test_a_subject_count_outside_deaps_32_is_refused_before_anything_is_read_or_written(subjects, tmp_path,
                                                                                        monkeypatch):  # fmt: skip
    """-1 used to drop the last subject silently (a slice), 100 failed deep in the generator (issue 35, 8)."""
    from cnnkit.data.eeg import load_eeg_dataset

    monkeypatch.setenv("CNNKIT_DATA", str(tmp_path))
    with pytest.raises(ValueError, match=r"subjects must be a whole number from 1 to 32 \(DEAP recorded 32 people\)"):
        load_eeg_dataset("deap_synthetic", subjects=subjects)
    assert not any(tmp_path.iterdir())  # nothing written
