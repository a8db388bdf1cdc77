"""Your own images: class-per-subfolder folders, every bad file kind, predict and evaluate a run,
and the EEG mismatch error (issue 12, items 1, 2 and 5)."""

import json
import struct
import zlib

import numpy as np
import pandas as pd
import pytest
import tensorflow as tf
from PIL import Image

from cnnkit import cli
from cnnkit.data import load_dataset, samples
from cnnkit.data.folders import BadImageFilesError, FolderDatasetError, check_image_files, scan_folder
from cnnkit.inference import evaluate_run, load_run, predict_files


@pytest.fixture(scope="module")
def digit_folder(tmp_path_factory):
    # Real MNIST digits as PNG files; the classes named out of alphabetical order on purpose.
    return samples.write_digit_folder(tmp_path_factory.mktemp("images") / "digits", digits=(3, 1, 7), per_class=20)


def test_a_folder_loads_with_sorted_classes_a_stratified_fixed_split_and_its_own_image_size(digit_folder, capsys):
    data = load_dataset(str(digit_folder), batch_size=8, fractions=(0.6, 0.2, 0.2), seed=1)
    assert data.info.class_names == ("digit_1", "digit_3", "digit_7")  # alphabetical, as Keras does
    assert data.info.num_examples == {"train": 36, "validation": 12, "test": 12}
    assert data.info.input_shape == (28, 28, 1)  # all 28x28 grayscale: kept as they are
    assert "split (seed 1): train 60% (36), validation 20% (12), test 20% (12)" in capsys.readouterr().out
    labels = {split: np.concatenate([y.numpy() for _, y in getattr(data, split)]) for split in data.info.num_examples}
    for split, values in labels.items():  # stratified: each class in its share
        np.testing.assert_array_equal(np.bincount(values, minlength=3), [data.info.num_examples[split] // 3] * 3)
    images, _ = next(iter(data.test))
    assert images.dtype == tf.float32 and 0 <= float(tf.reduce_min(images)) and float(tf.reduce_max(images)) <= 1
    # The pipelines read files lazily: their source holds file names, not decoded images.
    assert data.test.element_spec[0].shape[1:] == (28, 28, 1)


def test_the_split_is_fixed_by_the_seed_and_resizing_and_channels_apply(digit_folder):
    def test_images(seed, **options):
        data = load_dataset(str(digit_folder), batch_size=64, seed=seed, **options)
        return np.concatenate([x.numpy() for x, _ in data.test])

    np.testing.assert_array_equal(test_images(0), test_images(0))
    assert not np.array_equal(test_images(0), test_images(5))
    assert test_images(0, resize_to=32, channels=3).shape[1:] == (32, 32, 3)


def test_folders_that_are_not_datasets_say_why(tmp_path):
    with pytest.raises(FolderDatasetError, match="is not a folder"):
        scan_folder(tmp_path / "missing")
    (tmp_path / "only").mkdir()
    with pytest.raises(FolderDatasetError, match="at least two"):
        scan_folder(tmp_path)
    (tmp_path / "empty").mkdir()
    with pytest.raises(FolderDatasetError, match="holds no images"):
        scan_folder(tmp_path)


def png_declaring(width, height):
    """A tiny valid-looking PNG whose header declares ``width`` x ``height`` pixels."""
    chunk = lambda kind, data: struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))  # noqa: E731
    header = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(b"\x00" * 64)) + chunk(b"IEND", b"")


def test_every_kind_of_bad_file_is_named_in_one_error(tmp_path, digit_folder):
    import shutil

    root = tmp_path / "mixed"
    shutil.copytree(digit_folder, root)
    good = (root / "digit_1" / "000.png").read_bytes()
    bad = {
        "empty.png": b"",
        "text.png": b"this is not an image",
        "truncated.png": good[: len(good) // 2],
        "bomb.png": png_declaring(20000, 20000),
    }
    for name, content in bad.items():
        (root / "digit_3" / name).write_bytes(content)
    Image.fromarray(np.zeros((8, 8, 3), np.uint8)).save(root / "digit_7" / "cut.jpg", quality=90)
    jpeg = (root / "digit_7" / "cut.jpg").read_bytes()
    (root / "digit_7" / "cut.jpg").write_bytes(jpeg[: len(jpeg) // 2])
    Image.fromarray(np.zeros((8, 8, 3), np.uint8)).save(root / "digit_7" / "tiff.png", format="TIFF")
    with pytest.raises(BadImageFilesError) as caught:
        load_dataset(str(root))
    message = str(caught.value)
    assert message.startswith("6 of 66 image files cannot be used")
    for name in bad:
        assert f"digit_3/{name}:" in message
    assert "bomb.png: above the pixel limit" in message and "400000000 pixels" in message
    assert "digit_7/cut.jpg: damaged or truncated" in message
    assert "digit_7/tiff.png: a TIFF image; TensorFlow reads PNG, JPEG, BMP and GIF" in message
    assert {path.split("/")[-1] for path, _ in caught.value.problems} == {*bad, "cut.jpg", "tiff.png"}


def test_more_than_twenty_bad_files_show_twenty_and_a_count(tmp_path):
    paths = []
    for index in range(25):
        path = tmp_path / f"{index:02d}.png"
        path.write_bytes(b"nope")
        paths.append(str(path))
    with pytest.raises(BadImageFilesError, match=r"(?s)25 of 25 image files.*\.\.\. and 5 more") as caught:
        check_image_files(paths)
    assert str(caught.value).count("not an image file") == 20


def test_a_bad_folder_on_the_command_line_is_one_clear_error_and_exit_2(tmp_path, digit_folder, capsys):
    import shutil

    root = tmp_path / "bad"
    shutil.copytree(digit_folder, root)
    (root / "digit_1" / "zero.png").write_bytes(b"")
    code = cli.main(["train", "lenet5", "--dataset", str(root), "--out", str(tmp_path / "run")])
    err = capsys.readouterr().err
    assert code == 2 and "zero.png: not an image file" in err and "Traceback" not in err


@pytest.fixture(scope="module")
def folder_run(tmp_path_factory, digit_folder):
    out = tmp_path_factory.mktemp("runs") / "run"
    code = cli.main(["train", "lenet5", "--dataset", str(digit_folder), "--epochs", "25", "--split", "0.6,0.2,0.2",
                     "-o", "activation=relu", "-o", "pooling=max", "--out", str(out)])  # fmt: skip
    assert code == 0
    return out


def test_a_folder_run_keeps_its_class_names_in_every_report(folder_run):
    assert json.loads((folder_run / "classes.json").read_text())["class_names"] == ["digit_1", "digit_3", "digit_7"]
    report = pd.read_csv(folder_run / "report.csv", index_col=0)
    assert {"digit_1", "digit_3", "digit_7"} <= set(report.index)
    metrics = json.loads((folder_run / "metrics.json").read_text())
    assert metrics["test_accuracy"] >= 0.75  # 3 well-separated digits, 36 training images


def test_predict_names_the_class_of_new_images_from_the_command_line(folder_run, digit_folder, tmp_path, capsys):
    capsys.readouterr()
    csv = tmp_path / "predictions.csv"
    code = cli.main(["predict", str(folder_run), str(digit_folder / "digit_7"), "--top", "2", "--csv", str(csv)])
    lines = capsys.readouterr().out.strip().splitlines()
    assert code == 0 and len(lines) == 2 * 20
    path, name, probability, rank = lines[0].split("\t")
    assert path.endswith("digit_7/000.png") and name in {"digit_1", "digit_3", "digit_7"} and rank == "(rank 1)"
    table = pd.read_csv(csv)
    assert list(table.columns) == ["path", "rank", "class", "probability"] and len(table) == 40
    best = table[table["rank"] == 1]
    assert (best["class"] == "digit_7").mean() >= 0.75  # training images, mostly right
    assert (table.groupby("path")["probability"].apply(lambda p: p.iloc[0] >= p.iloc[1])).all()


def test_predict_in_python_gives_probabilities_that_sum_to_one(folder_run, digit_folder):
    run = load_run(folder_run)
    table = predict_files(run, [digit_folder / "digit_1" / "000.png"], top=3)
    assert list(table["rank"]) == [1, 2, 3] and table["probability"].sum() == pytest.approx(1.0, abs=1e-5)


def test_evaluate_writes_a_new_folder_and_never_touches_the_run(folder_run, digit_folder, capsys):
    before = {p.name: p.stat().st_mtime_ns for p in folder_run.iterdir() if p.is_file()}
    code = cli.main(["evaluate", str(folder_run), "--dataset", str(digit_folder)])
    assert code == 0 and "Accuracy" in capsys.readouterr().out
    evaluations = list((folder_run / "evaluations").iterdir())
    assert len(evaluations) == 1
    # .lock: evaluate holds the folder's lock while it writes (as train does), released now
    assert {p.name for p in evaluations[0].iterdir()} == {"metrics.json", "report.csv", "confusion_matrix.png",
                                                          ".lock"}  # fmt: skip
    assert (evaluations[0] / ".lock").read_text() == ""
    assert json.loads((evaluations[0] / "metrics.json").read_text())["examples"] == 60
    assert before == {p.name: p.stat().st_mtime_ns for p in folder_run.iterdir() if p.is_file()}


def test_evaluate_on_a_named_dataset_with_the_same_classes(tmp_path):
    out = tmp_path / "run"
    assert cli.main(["train", "lenet5", "--dataset", "digits", "--epochs", "1", "--out", str(out)]) == 0
    metrics = evaluate_run(load_run(out), "mnist_sample", tmp_path / "eval")
    assert metrics["examples"] == 1000 and 0 <= metrics["accuracy"] <= 1
    with pytest.raises(Exception, match="already holds an evaluation"):
        evaluate_run(load_run(out), "mnist_sample", tmp_path / "eval")


def test_evaluate_refuses_data_with_other_classes(folder_run, capsys):
    code = cli.main(["evaluate", str(folder_run), "--dataset", "mnist_sample"])
    assert code == 1 and "has the classes" in capsys.readouterr().err


def test_predict_and_evaluate_need_a_run_folder(tmp_path, capsys):
    assert cli.main(["predict", str(tmp_path), str(tmp_path)]) == 2
    assert "holds no model.keras" in capsys.readouterr().err


@pytest.mark.parametrize("model", ["ccnn", "cnn1d_lstm", "eeg_mlp"])
def test_eeg_models_refuse_image_data_in_one_line(model, tmp_path, capsys):
    code = cli.main(["train", model, "--dataset", "digits", "--out", str(tmp_path / "run")])
    err = capsys.readouterr().err
    assert code == 2 and f"{model} takes" in err and "not images" in err and "Traceback" not in err
    assert len(err.strip().splitlines()) == 1 and not (tmp_path / "run").exists()
