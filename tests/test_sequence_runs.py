"""Separation and tagging through the front doors (issue 33, section 4): ``train`` writes a normal run
folder for Conv-TasNet on the SYNTHETIC mixtures and for the tagger on the punctuation set; ``evaluate``
reproduces the test figures; ``predict`` writes one WAV file per speaker, or prints restored text."""

import json
import wave

import numpy as np
import pandas as pd
import pytest

from cnnkit import cli, tagging
from cnnkit.data import punctuation, speech
from cnnkit.data.wav_files import read_wav, write_wav
from cnnkit.tasks import TASKS, task_of

TINY_TASNET = ["-o", "filters=16", "-o", "bottleneck=8", "-o", "hidden=16", "-o", "skip=8", "-o", "blocks=2",
               "-o", "repeats=1"]  # fmt: skip


@pytest.fixture
def two_steps_per_epoch():
    """Keras' own debugging limit on the steps of every epoch: a short run, reset afterwards."""
    import keras

    keras.config.set_max_steps_per_epoch(2)
    yield
    keras.config.set_max_steps_per_epoch(None)


def test_the_tagger_trained_by_the_command_line_beats_both_baselines_and_restores_text(tmp_path, capsys):
    out = tmp_path / "tagger"
    assert cli.main(["train", "cnn_tagger", "--dataset", "pydoc_punctuation", "--epochs", "15", "--out", str(out)]) == 0
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["task"] == "tagging" and metrics["data_provenance"]["pydoc_data.topics"] == punctuation.corpus_facts()
    assert "best_val_macro_f1" in metrics and 0 < metrics["test_accuracy"] <= 1
    # the baselines, fitted on the same training split and scored on the same test split
    splits = punctuation.topic_splits()
    train, test = (punctuation.windows([p for _, p in splits[s]]) for s in ("train", "test"))
    baselines = [tagging.majority_by_context(train["ids"], train["labels"], train["mask"]),
                 tagging.ngram_logistic_regression(train["ids"], train["labels"], train["mask"])]  # fmt: skip
    floors = [tagging.tag_scores(test["labels"], b(test["ids"]), test["mask"], punctuation.LABELS)[1] for b in baselines]
    assert metrics["test_macro_f1"] > max(floors), (metrics["test_macro_f1"], floors)
    report = (out / "report.csv").read_text().splitlines()
    assert report[0] == ",precision,recall,f1,support" and report[1].startswith("lower,")
    assert (out / "confusion_matrix.png").is_file() and "Test macro F1" in capsys.readouterr().out

    assert cli.main(["evaluate", str(out), "--dataset", "pydoc_punctuation", "--out", str(tmp_path / "check")]) == 0
    evaluated = json.loads((tmp_path / "check" / "metrics.json").read_text())
    assert evaluated["macro_f1"] == pytest.approx(metrics["test_macro_f1"], abs=1e-9)
    assert "Macro F1" in capsys.readouterr().out

    text = tmp_path / "notes.txt"
    text.write_text("the model reads lowercase text without marks it puts them back")
    assert cli.main(["predict", str(out), str(text), "--csv", str(tmp_path / "restored.csv")]) == 0
    path, restored = capsys.readouterr().out.rstrip("\n").split("\t")
    assert path == str(text) and restored.lower().replace(".", "").replace(",", "") == text.read_text()
    (tmp_path / "latin1.txt").write_bytes("caf\xe9".encode("latin-1"))
    assert cli.main(["predict", str(out), str(tmp_path / "latin1.txt")]) == 2
    err = capsys.readouterr().err
    assert "latin1.txt: not UTF-8 text" in err and err.count("\n") == 1


def test_conv_tasnet_trained_by_the_command_line_evaluates_and_separates_wav_files(
    tmp_path, capsys, two_steps_per_epoch
):
    out = tmp_path / "tasnet"
    assert cli.main(["train", "conv_tasnet", "--dataset", "speech_synthetic", "--epochs", "1", *TINY_TASNET,
                     "--out", str(out)]) == 0  # fmt: skip
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["task"] == "separation" and metrics["synthetic"] and (out / "SYNTHETIC.txt").is_file()
    assert metrics["fitted_options"]["filters"] == 128 and metrics["settings"]["batch_size"] == 8
    assert metrics["test_si_snri"] == pytest.approx(metrics["test_si_snr"] - metrics["test_mixture_si_snr"])
    assert metrics["test_sdri"] == pytest.approx(metrics["test_sdr"] - metrics["test_mixture_sdr"])
    assert "espeakng-loader" in metrics["data_provenance"] and "best_val_si_snri" in metrics
    assert (out / "spectrograms.png").stat().st_size > 10_000
    assert json.loads((out / "classes.json").read_text())["class_names"] == ["speaker 1", "speaker 2"]
    assert "Test SI-SNR improvement (dB)" in capsys.readouterr().out

    assert cli.main(["evaluate", str(out), "--dataset", "speech_synthetic", "--out", str(tmp_path / "check")]) == 0
    evaluated = json.loads((tmp_path / "check" / "metrics.json").read_text())
    # Keras' step limit (two batches) holds for evaluation too: training's test report scored two batches of 8
    # mixtures, evaluate two of its batches of 128, which hold all 150
    trained, checked = (pd.read_csv(folder / "report.csv") for folder in (out, tmp_path / "check"))
    assert len(trained) == 16 and evaluated["examples"] == len(checked) == speech.MIXTURES["test"]
    # the same mixtures in the same order, spoken again: eSpeak NG varies by a few samples between calls
    # (cnnkit.data.speech), which moves single mixtures by up to a dB for this untrained network but their
    # mean over the 16 by a tenth (0.07 dB measured)
    for key in ("si_snri", "sdri"):
        assert checked[key][:16].mean() == pytest.approx(metrics[f"test_{key}"], abs=0.3), key
    capsys.readouterr()

    # one file shorter than the 4 s the model was built for (padded), one longer (the network rebuilt)
    rng = np.random.default_rng(0)
    inputs = tmp_path / "mixtures"
    inputs.mkdir()
    for name, seconds in (("short", 1.5), ("long", 5.0)):
        write_wav(inputs / f"{name}.wav", 0.3 * rng.standard_normal(int(seconds * speech.RATE)), speech.RATE)
    assert cli.main(["predict", str(out), str(inputs), "--sources", str(tmp_path / "sources")]) == 0
    printed = capsys.readouterr().out.strip().splitlines()
    assert len(printed) == 4 and all(line.count("\t") == 2 for line in printed)
    for name, seconds in (("short", 1.5), ("long", 5.0)):
        for speaker in ("speaker1", "speaker2"):
            written = read_wav(tmp_path / "sources" / f"{name}-{speaker}.wav", speech.RATE)
            assert len(written) == int(seconds * speech.RATE) and np.abs(written).max() > 0.1

    with wave.open(str(inputs / "other_rate.wav"), "wb") as other:
        other.setnchannels(1), other.setsampwidth(2), other.setframerate(16000), other.writeframes(b"\0\0" * 1600)
    assert cli.main(["predict", str(out), str(inputs / "other_rate.wav")]) == 2
    err = capsys.readouterr().err
    assert "recorded at 16000 Hz" in err and err.count("\n") == 1


def test_the_task_of_a_model_is_read_from_its_input_and_output():
    from cnnkit.models import build, get_spec

    assert task_of(build("cnn_tagger")) is TASKS["tagging"]
    assert task_of(build("conv_tasnet", **get_spec("conv_tasnet").small_build)) is TASKS["separation"]
    assert task_of(build("lenet5")) is TASKS["classification"]
    assert task_of(build("unet", **get_spec("unet").small_build)) is TASKS["segmentation"]


def test_the_sequence_sets_refuse_image_options_and_models_of_another_kind(capsys, tmp_path):
    from cnnkit.data import load_dataset

    with pytest.raises(ValueError, match="pad_to, augment apply to images, not to the waveforms of speech_synthetic"):
        load_dataset("speech_synthetic", pad_to=32, augment=lambda x, y: (x, y))
    assert cli.main(["train", "conv_tasnet", "--dataset", "pydoc_punctuation", "--out", str(tmp_path / "r")]) == 2
    err = capsys.readouterr().err
    assert "conv_tasnet predicts one waveform per speaker (separation), but pydoc_punctuation carries one label per " \
           "position" in err and "train it on libri2mix, speech_synthetic" in err and err.count("\n") == 1  # fmt: skip
    assert not (tmp_path / "r").exists()


def test_speech_mixtures_from_the_pools_are_the_sum_of_their_sources_at_the_planned_levels():
    audio = np.arange(1, 1001, dtype="float32") / 1000
    starts = np.array([0, 400, 1000])
    plan = speech.mixture_plan(starts, count=20, seed=0, samples=100)
    first_speaker = np.searchsorted(starts, plan["first"], side="right") - 1
    second_speaker = np.searchsorted(starts, plan["second"], side="right") - 1
    assert (first_speaker != second_speaker).all()  # two different speakers in every mixture
    assert (plan["first"] + 100 <= starts[first_speaker + 1]).all()  # a stretch never runs into the next pool
    assert (plan["second"] + 100 <= starts[second_speaker + 1]).all()
    assert ((20 * np.log10(plan["gain"]) >= -5) & (20 * np.log10(plan["gain"]) <= 5)).all()
    for (mixture, sources), first, second, gain in zip(speech.mixture_pipeline(audio, plan, 100).as_numpy_iterator(),
                                                       plan["first"], plan["second"], plan["gain"], strict=True):  # fmt: skip
        expected = np.stack([audio[first : first + 100], gain * audio[second : second + 100]])
        scale = 0.9 / np.abs(expected.sum(axis=0)).max()
        np.testing.assert_allclose(sources, expected * scale, rtol=1e-5)
        np.testing.assert_allclose(mixture, sources.sum(axis=0), rtol=1e-5)
