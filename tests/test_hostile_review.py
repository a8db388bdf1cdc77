"""The faults of the third hostile review (issue 23), one test per defect, numbered as the issue.

Each test reproduces the defect first: it fails on the code before the fix (the check passed
files the decoder then refused, a resumed run took new images silently, ...) and passes now.
"""

import csv
import errno
import io
import json
import os
import shutil
import stat
import struct
import subprocess
import sys
import zipfile
from pathlib import Path

import h5py
import keras
import numpy as np
import pytest
from PIL import Image

from cnnkit import cli, runs
from cnnkit.data import deap, deap_synthetic, eeg_features, folders, load_dataset, registry
from cnnkit.data.folders import BadImageFilesError, check_image_files, scan_folder
from cnnkit.data.registry import get_dataset
from cnnkit.data.samples import write_digit_folder
from cnnkit.errors import CorruptDatasetError, DiskFullError, RunExistsError, RunFolderError
from cnnkit.files import folder_lock, printable, remove_orphaned_temporaries, write_json
from cnnkit.models import applications
from cnnkit.runs import load_run
from tests.test_training import StopAtEpoch


def run_cli(argv, capsys):
    """``(exit code, stdout, stderr)`` of one command-line call."""
    capsys.readouterr()
    code = cli.main([str(arg) for arg in argv])
    out, err = capsys.readouterr()
    return code, out, err


def one_clear_line(err: str) -> bool:
    return "Traceback" not in err and err.startswith("error: ")


@pytest.fixture(scope="module")
def two_digits(tmp_path_factory):
    """A small image folder: real MNIST 1s and 7s as PNG files, 20 of each."""
    return write_digit_folder(tmp_path_factory.mktemp("two") / "digits", digits=(1, 7), per_class=20)


def copy_of(folder: Path, where: Path) -> Path:
    return Path(shutil.copytree(folder, where))


# --- 1-3: the image check agrees with the decoder -------------------------------------------


def png_bytes(colour=(0, 200, 0)) -> bytes:
    stream = io.BytesIO()
    Image.new("RGB", (8, 8), colour).save(stream, format="PNG")
    return stream.getvalue()


def png_with_a_bad_idat_checksum() -> bytes:
    raw = bytearray(png_bytes())
    start = raw.index(b"IDAT")
    length = struct.unpack(">I", raw[start - 4 : start])[0]
    raw[start + 4 + length] ^= 0xFF  # first byte of the chunk's CRC
    return bytes(raw)


def test_1_files_that_pillow_reads_but_the_pipelines_decoder_refuses_are_named_by_the_check(tmp_path, capsys):
    folder = write_digit_folder(tmp_path / "data", digits=(1, 7), per_class=5)
    Image.new("1", (8, 8), 1).save(folder / "digit_1" / "one_bit.bmp")
    (folder / "digit_1" / "bad_crc.png").write_bytes(png_with_a_bad_idat_checksum())
    (folder / "digit_7" / "cut.png").write_bytes(png_bytes()[:-12])  # cut before IEND, as head -c -12
    for name in ("one_bit.bmp", "bad_crc.png", "cut.png"):
        path = next(folder.rglob(name))
        with Image.open(path) as image:
            image.load()  # Pillow reads every one of them
    with pytest.raises(BadImageFilesError) as caught:
        check_image_files(scan_folder(folder).paths)
    assert {Path(path).name for path, _ in caught.value.problems} == {"one_bit.bmp", "bad_crc.png", "cut.png"}
    assert all("the decoder that training uses refuses it" in reason for _, reason in caught.value.problems)
    code, _, err = run_cli(["train", "lenet5", "--dataset", folder, "--epochs", 1, "--out", tmp_path / "run"], capsys)
    assert code == 2 and one_clear_line(err) and "cut.png" in err and "bad_crc.png" in err


def test_2_a_palette_bmp_is_refused_by_name_not_read_as_gray_indices(tmp_path):
    path = tmp_path / "red.bmp"
    Image.new("RGB", (8, 8), (255, 0, 0)).convert("P", palette=Image.Palette.ADAPTIVE).save(path)
    with pytest.raises(BadImageFilesError, match="red.bmp: a BMP with a colour palette"):
        check_image_files([str(path)])
    gray = tmp_path / "gray.bmp"  # 8-bit gray BMP: its palette is the identity, decoded right
    Image.new("L", (8, 8), 200).save(gray)
    check_image_files([str(gray)])
    assert folders.load_image(str(gray), (8, 8), 3).numpy()[0, 0] == pytest.approx([200 / 255] * 3, abs=1e-6)


def test_3_every_frame_of_an_animation_counts_against_the_pixel_cap(tmp_path):
    path = tmp_path / "many_frames.gif"
    frames = [Image.new("P", (2000, 2000), i % 2) for i in range(20)]  # 4 M pixels each, 80 M in all
    frames[0].save(path, save_all=True, append_images=frames[1:])
    still = tmp_path / "one_frame.gif"
    frames[0].save(still)
    check_image_files([str(still)])  # one frame of 4 M pixels: under the 50 M cap
    with pytest.raises(BadImageFilesError, match="20 frames of 2000x2000 = 80,000,000 pixels"):
        check_image_files([str(path)])


# --- 4-5: nothing is skipped silently; any file name works -----------------------------------


def test_4_unreadable_subfolders_and_dangling_links_are_listed_in_the_check(tmp_path, monkeypatch, capsys):
    folder = write_digit_folder(tmp_path / "data", digits=(1, 7), per_class=5)
    locked = folder / "digit_1" / "more"
    locked.mkdir()
    Image.new("L", (8, 8)).save(locked / "a.png")
    (folder / "digit_7" / "gone.png").symlink_to(tmp_path / "nowhere.png")
    (folder / "digit_7" / "loop.png").symlink_to(folder / "digit_7" / "loop.png")
    real_scandir = os.scandir

    def scandir(path="."):  # as chmod 000 does for a user who is not root (the tests run as root)
        if os.fspath(path) == os.fspath(locked):
            raise PermissionError(errno.EACCES, "Permission denied", os.fspath(path))
        return real_scandir(path)

    monkeypatch.setattr(os, "scandir", scandir)
    found = scan_folder(folder)
    reasons = dict(found.problems)
    assert "a folder that cannot be read" in reasons[str(locked)]
    assert "leads to no file" in reasons[str(folder / "digit_7" / "gone.png")]
    assert "leads to no file" in reasons[str(folder / "digit_7" / "loop.png")]
    code, _, err = run_cli(["train", "lenet5", "--dataset", folder, "--out", tmp_path / "run"], capsys)
    assert code == 2 and one_clear_line(err) and "more: a folder that cannot be read" in err and "gone.png" in err


def test_5_file_and_folder_names_that_are_not_utf8_are_read_and_printed(tmp_path, two_digits, capsys):
    folder = copy_of(two_digits, tmp_path / "data")
    odd_class = folder / os.fsdecode(b"digit_\xe9")  # Latin-1 "digit_é", not UTF-8
    (folder / "digit_7").rename(odd_class)
    odd_file = odd_class / os.fsdecode(b"caf\xe9.png")
    (odd_class / "000.png").rename(odd_file)
    out = tmp_path / "run"
    code, _, err = run_cli(["train", "lenet5", "--dataset", folder, "--epochs", 1, "--out", out], capsys)
    assert code == 0, err
    assert json.loads((out / "classes.json").read_text())["class_names"][1] == os.fsdecode(b"digit_\xe9")
    code, printed, err = run_cli(["predict", out, odd_file], capsys)
    assert code == 0 and printed.startswith(printable(odd_file)) and "caf\\xe9.png" in printed


# --- 6-7: training from inside the folder; built-in names are not shadowed --------------------


def test_6_training_from_inside_the_image_folder_works_twice_and_skips_hidden_folders(
    tmp_path, two_digits, monkeypatch, capsys
):
    folder = copy_of(two_digits, tmp_path / "data")
    for hidden in (".ipynb_checkpoints", "__MACOSX", "digit_1/.ipynb_checkpoints"):
        (folder / hidden).mkdir()
        Image.new("L", (8, 8)).save(folder / hidden / "x.png")
    monkeypatch.chdir(folder)
    for _ in range(2):  # the second run meets runs/ from the first, full of PNG plots
        code, printed, err = run_cli(["train", "lenet5", "--dataset", ".", "--epochs", 1], capsys)
        assert code == 0, err
        assert "40 images in 2 classes ['digit_1', 'digit_7']" in printed
    assert len(list((folder / "runs").iterdir())) == 2
    assert all(json.loads((run / "classes.json").read_text())["class_names"] == ["digit_1", "digit_7"]
               for run in (folder / "runs").iterdir())  # fmt: skip


def test_6_a_failed_start_leaves_no_runs_folder_behind(tmp_path, monkeypatch, capsys):
    folder = tmp_path / "one_class"
    (folder / "cats").mkdir(parents=True)
    Image.new("L", (8, 8)).save(folder / "cats" / "a.png")
    monkeypatch.chdir(folder)
    code, _, err = run_cli(["train", "lenet5", "--dataset", "."], capsys)
    assert code == 2 and "1 class subfolder(s)" in err
    assert sorted(p.name for p in folder.iterdir()) == ["cats"]


@pytest.mark.parametrize("name", ["digits", "mnist_sample", "cifar10", "deap_synthetic"])
def test_7_a_folder_named_like_a_built_in_dataset_does_not_replace_it(name, tmp_path, monkeypatch):
    (tmp_path / name / "empty_class").mkdir(parents=True)
    monkeypatch.chdir(tmp_path)
    assert not registry.is_folder_dataset(name)
    assert registry.is_folder_dataset(f"./{name}") and registry.is_folder_dataset(f"{name}/")
    assert registry.is_folder_dataset("my_images") is False  # no such folder: a (wrong) dataset name
    (tmp_path / "my_images").mkdir()
    assert registry.is_folder_dataset("my_images")


@pytest.mark.parametrize("name", ["digits", "mnist_sample"])
def test_7_training_on_a_built_in_name_ignores_the_folder_of_that_name(name, tmp_path, monkeypatch, capsys):
    (tmp_path / name).mkdir()
    monkeypatch.chdir(tmp_path)
    code, printed, err = run_cli(["train", "lenet5", "--dataset", name, "--epochs", 1, "--out", "run"], capsys)
    assert code == 0, err
    assert json.loads(Path("run/metrics.json").read_text())["dataset"] == name
    assert json.loads(Path("run/classes.json").read_text())["class_names"] == [str(i) for i in range(10)]


# --- 8-11: a run is bound to its data and its settings ----------------------------------------


def kill_after_first_epoch(monkeypatch):
    """Make the next train() stop as a kill would, when its second epoch begins."""
    real_train = cli.train

    def train(*args, **kwargs):
        return real_train(*args, callbacks=[StopAtEpoch(1)], **kwargs)

    monkeypatch.setattr(cli, "train", train)


@pytest.mark.parametrize("change", ["more images", "a new class", "a replaced image"])
def test_8_a_resumed_run_refuses_data_that_changed(change, tmp_path, two_digits, monkeypatch, capsys):
    folder = copy_of(two_digits, tmp_path / "data")
    out = tmp_path / "run"
    argv = ["train", "lenet5", "--dataset", folder, "--epochs", 3, "--out", out]
    with monkeypatch.context() as patch:
        kill_after_first_epoch(patch)
        with pytest.raises(KeyboardInterrupt):
            cli.main([str(arg) for arg in argv])
    classes_before = (out / "classes.json").read_text()
    history_before = (out / "history.csv").read_text()
    if change == "more images":
        write_digit_folder(tmp_path / "extra", digits=(1,), per_class=30)
        for path in (tmp_path / "extra" / "digit_1").iterdir():
            shutil.copy(path, folder / "digit_1" / f"new_{path.name}")
    elif change == "a new class":
        write_digit_folder(folder, digits=(3,), per_class=20)
    else:
        (folder / "digit_7" / "000.png").write_bytes((folder / "digit_1" / "000.png").read_bytes())
    code, _, err = run_cli(argv, capsys)
    assert code == 1 and one_clear_line(err) and "changed since it started" in err and "new --out" in err
    assert (out / "classes.json").read_text() == classes_before  # nothing rewritten
    assert (out / "history.csv").read_text() == history_before
    unchanged = copy_of(two_digits, tmp_path / "same")  # the same files, resumed: accepted
    shutil.rmtree(out)
    argv[3] = unchanged
    with monkeypatch.context() as patch:
        kill_after_first_epoch(patch)
        with pytest.raises(KeyboardInterrupt):
            cli.main([str(arg) for arg in argv])
    code, _, err = run_cli(argv, capsys)
    assert code == 0, err


def test_8_other_subjects_are_other_settings(tmp_path):
    parser = cli.make_parser()
    out = tmp_path / "run"
    out.mkdir()
    (out / "history.csv").write_text("epoch,loss\n0,1.0\n")
    args = parser.parse_args(["train", "ccnn", "--dataset", "deap_synthetic", "--subjects", "1"])
    args.option = []
    write_json(out / "settings.json", cli.run_identity(args, get_dataset("deap_synthetic"), {"kind": "de_grid"}, "abc"))
    assert runs.check_settings(out, cli.run_identity(args, get_dataset("deap_synthetic"), {"kind": "de_grid"}, "abc")) is False
    args.subjects = 2
    with pytest.raises(RunExistsError, match="other settings"):
        runs.check_settings(out, cli.run_identity(args, get_dataset("deap_synthetic"), {"kind": "de_grid"}, "abc"))
    args.subjects = 1
    with pytest.raises(RunExistsError, match="changed since it started"):
        runs.check_settings(out, cli.run_identity(args, get_dataset("deap_synthetic"), {"kind": "de_grid"}, "abd"))


def test_9_a_failed_start_does_not_poison_the_out_folder(tmp_path, monkeypatch, capsys):
    out = tmp_path / "run"
    code, _, err = run_cli(["train", "lenet5", "--dataset", tmp_path / "typo", "--out", out], capsys)
    assert code == 2 and "is not a folder" in err
    use_keras_home(tmp_path / "keras", monkeypatch)
    argv = ["train", "mobilenet_v2_pretrained", "--dataset", "digits", "--epochs", 1, "--out", out]
    code, _, err = run_cli(argv, capsys)
    assert code == 1 and "not cached" in err
    assert not (out / "settings.json").exists()
    code, _, err = run_cli(["train", "lenet5", "--dataset", "digits", "--epochs", 1, "--out", out], capsys)
    assert code == 0, err


def test_9_a_folder_with_settings_but_no_training_is_reused(tmp_path, capsys):
    out = tmp_path / "run"
    out.mkdir()
    write_json(out / "settings.json", {"model": "lenet5_classic", "dataset": "svhn"})  # a start that never trained
    code, _, err = run_cli(["train", "lenet5", "--dataset", "digits", "--epochs", 1, "--out", out], capsys)
    assert code == 0, err
    assert json.loads((out / "settings.json").read_text())["model"] == "lenet5"


@pytest.fixture(scope="module")
def digits_run(tmp_path_factory):
    """A finished one-epoch LeNet-5 run on the digits (10 classes)."""
    out = tmp_path_factory.mktemp("digits_run") / "run"
    assert cli.main(["train", "lenet5", "--dataset", "digits", "--epochs", "1", "--out", str(out)]) == 0
    return out


def test_10_evaluate_refuses_an_out_that_holds_a_training_run_and_takes_the_lock(
    tmp_path, digits_run, monkeypatch, capsys
):
    unfinished = tmp_path / "unfinished"
    with monkeypatch.context() as patch:
        kill_after_first_epoch(patch)
        with pytest.raises(KeyboardInterrupt):
            cli.main(["train", "lenet5", "--dataset", "digits", "--epochs", "2", "--out", str(unfinished)])
    code, _, err = run_cli(["evaluate", digits_run, "--dataset", "digits", "--out", unfinished], capsys)
    assert code == 1 and one_clear_line(err) and "holds a training run" in err
    assert not (unfinished / "metrics.json").exists()
    code, _, err = run_cli(["train", "lenet5", "--dataset", "digits", "--epochs", "2", "--out", unfinished], capsys)
    assert code == 0, err  # it still resumes
    busy = tmp_path / "busy"
    holder = subprocess.Popen(
        [sys.executable, "-c", "import sys, time\nfrom cnnkit.files import folder_lock\n"
         "with folder_lock(sys.argv[1]):\n    print('locked', flush=True)\n    time.sleep(60)", str(busy)],
        env={**os.environ, "PYTHONPATH": os.getcwd()}, stdout=subprocess.PIPE, text=True,
    )  # fmt: skip
    try:
        assert holder.stdout.readline().strip() == "locked"
        code, _, err = run_cli(["evaluate", digits_run, "--dataset", "digits", "--out", busy], capsys)
        assert code == 1 and "is in use by process" in err
    finally:
        holder.kill()
        holder.wait()


def test_11_a_run_whose_checkpoint_and_backups_are_all_damaged_says_it_must_start_again(
    tmp_path, monkeypatch, capsys
):
    out = tmp_path / "run"
    argv = ["train", "lenet5", "--dataset", "digits", "--epochs", "3", "--out", str(out)]
    with monkeypatch.context() as patch:
        kill_after_first_epoch(patch)
        with pytest.raises(KeyboardInterrupt):
            cli.main(argv)
    for path in (out / "backup").glob("*.h5*"):
        path.write_bytes(b"\x89HDF\r\n\x1a\n damaged")
    (out / "model.keras").write_bytes(b"PK\x03\x04 damaged")
    with pytest.warns(UserWarning, match="cannot be read"):
        code, _, err = run_cli(argv, capsys)
    assert code == 1 and one_clear_line(err) and "model.keras is damaged" in err and "train again" in err


def test_11_temporary_files_left_by_a_killed_write_are_removed_when_the_run_resumes(tmp_path, capsys):
    out = tmp_path / "run"
    out.mkdir()
    orphans = [out / ".model-k3j9x_2a.keras", out / ".history-abcdefgh.csv", out / ".settings-0123abcd.json"]
    for orphan in orphans:
        orphan.write_bytes(b"x" * 8192)
    keep = [out / ".lock", out / "model.keras.notes"]
    keep[1].write_text("the user's own file")
    with folder_lock(out):
        removed = remove_orphaned_temporaries(out)
    assert sorted(removed) == sorted(orphans) and keep[1].exists()
    (out / ".model-zz9x_2ab.keras").write_bytes(b"x")
    code, _, err = run_cli(["train", "lenet5", "--dataset", "digits", "--epochs", 1, "--out", out], capsys)
    assert code == 0, err
    assert not [p for p in out.iterdir() if p.name.startswith(".") and p.name != ".lock"]


# --- 12-13: the model and its class names checked against each other --------------------------


def run_with(tmp_path, digits_run, classes=None, model=None) -> Path:
    """A copy of ``digits_run`` with another classes.json payload or another model."""
    folder = copy_of(digits_run, tmp_path / "copy")
    if classes is not None:
        (folder / "classes.json").write_text(classes)
    if model is not None:
        model.save(folder / "model.keras")
    return folder


def dense_model(outputs: int, activation="softmax") -> keras.Model:
    inputs = keras.Input((28, 28, 1))
    x = keras.layers.Flatten()(inputs)
    return keras.Model(inputs, keras.layers.Dense(outputs, activation=activation)(x))


@pytest.mark.parametrize(
    ("classes", "model", "message"),
    [
        ('{"class_names": ["a", "b"]}', None, "names 2 classes but the model"),
        ('{"class_names": ["a", "b", "c"]}', (2, "softmax"), "names 3 classes but the model"),
        ('{"class_names": ["only"]}', (2, "softmax"), "names 1 classes but the model"),
        ('{"class_names": "xy"}', (2, "softmax"), "as a JSON list of strings"),
        ('{"names": ["x", "y"]}', (2, "softmax"), "classes.json is damaged"),
        ('{"class_names": [1, 2]}', (2, "softmax"), "as a JSON list of strings"),
        ('{"class_names": ["x"]}', (1, None), "not one score per class"),
        ('{"class_names": ["x", "y"]}', (2, None), "has no softmax"),
    ],
)
def test_12_class_names_and_outputs_are_checked_when_the_run_opens(classes, model, message, tmp_path, digits_run,
                                                                    capsys):  # fmt: skip
    folder = run_with(tmp_path, digits_run, classes, dense_model(*model) if model else None)
    with pytest.raises(RunFolderError, match=message):
        load_run(folder)
    code, _, err = run_cli(["predict", folder, tmp_path / "copy" / "learning_curves.png"], capsys)
    assert code == 2 and one_clear_line(err) and message.split()[0] in err


def nested_config(depth: int) -> str:
    return '{"class_name": "Functional", "config": ' + '{"a": ' * depth + "1" + "}" * depth + "}"


def model_zip(tmp_path, files: dict) -> Path:
    path = tmp_path / "model.keras"
    with zipfile.ZipFile(path, "w") as archive:
        for name, content in files.items():
            archive.writestr(name, content)
    return path


@pytest.mark.parametrize("damage", ["no config.json", "garbage weights", "deeply nested config", "not a zip"])
def test_13_a_damaged_model_file_is_one_line_naming_the_run(damage, tmp_path, digits_run, capsys):
    folder = copy_of(digits_run, tmp_path / "copy")
    with zipfile.ZipFile(digits_run / "model.keras") as original:
        files = {name: original.read(name) for name in original.namelist()}
    if damage == "no config.json":
        del files["config.json"]
    elif damage == "garbage weights":
        files["model.weights.h5"] = b"\x89HDF\r\n\x1a\n" + b"garbage" * 100
    elif damage == "deeply nested config":
        files["config.json"] = nested_config(100_000)
    if damage == "not a zip":
        (folder / "model.keras").write_bytes(b"not a zip file at all")
    else:
        shutil.move(model_zip(tmp_path, files), folder / "model.keras")
    with pytest.raises(RunFolderError, match=f"model.keras in {folder} is damaged"):
        load_run(folder)
    code, _, err = run_cli(["evaluate", folder, "--dataset", "digits"], capsys)
    assert code == 2 and one_clear_line(err) and "is damaged" in err


# --- 14-18: output, disk and pipes -------------------------------------------------------------


def test_14_an_unwritable_csv_path_is_refused_before_predicting(tmp_path, digits_run, capsys):
    image = tmp_path / "seven.png"
    Image.new("L", (28, 28)).save(image)
    blocker = tmp_path / "a_file"
    blocker.write_text("x")
    for target, message in [(tmp_path, "is a folder"), (blocker / "out.csv", "which is a file"),
                            (tmp_path / "missing" / "out.csv", "does not exist")]:  # fmt: skip
        code, printed, err = run_cli(["predict", digits_run, image, "--csv", target], capsys)
        assert code == 2 and one_clear_line(err) and message in err and printed == ""


def test_15_class_names_with_tabs_and_newlines_stay_one_field(tmp_path, digits_run, capsys):
    names = [f"tab\t{i}" if i % 2 else f"new\nline {i}" for i in range(10)]  # whatever is predicted
    folder = run_with(tmp_path, digits_run, json.dumps({"class_names": names}))
    batch = next(iter(load_dataset("digits", batch_size=64).test))[0].numpy()
    paths = []
    for index in range(20):
        paths.append(tmp_path / f"{index}.png")
        Image.fromarray((batch[index, ..., 0] * 255).astype("uint8")).save(paths[-1])
    code, printed, err = run_cli(["predict", folder, *paths], capsys)
    rows = list(csv.reader(io.StringIO(printed), delimiter="\t"))
    assert code == 0 and len(rows) == 20 and all(len(row) == 3 for row in rows)
    assert {row[1] for row in rows} <= set(names)


def test_16_a_disk_too_small_for_the_run_is_refused_in_one_line_before_training(tmp_path, monkeypatch, capsys):
    real = shutil.disk_usage
    monkeypatch.setattr(shutil, "disk_usage", lambda path: real(path)._replace(free=1_000_000))
    code, _, err = run_cli(["train", "lenet5", "--dataset", "digits", "--out", tmp_path / "run"], capsys)
    assert code == 1 and one_clear_line(err) and "has 1.0 MB free but training" in err
    with pytest.raises(DiskFullError, match="writing 3 synthetic DEAP subject files needs about"):
        deap_synthetic.write_synthetic(tmp_path / "deap", subjects=3)
    assert not list((tmp_path / "deap").iterdir()) and not deap_synthetic.marker_path(tmp_path / "deap").exists()


def test_16_a_disk_that_fills_during_training_is_one_line_and_the_run_resumes(tmp_path, monkeypatch, capsys):
    out = tmp_path / "run"
    argv = ["train", "lenet5", "--dataset", "digits", "--epochs", "2", "--out", str(out)]
    real_save = keras.Model.save
    with monkeypatch.context() as patch:
        def full(self, filepath, *args, **kwargs):
            raise OSError(errno.ENOSPC, "No space left on device", str(filepath))

        patch.setattr(keras.Model, "save", full)
        code, _, err = run_cli(argv, capsys)
    assert code == 1 and one_clear_line(err) and "became full" in err and "run the same command again" in err
    assert keras.Model.save is real_save
    code, _, err = run_cli(argv, capsys)
    assert code == 0, err


@pytest.mark.parametrize("command", ["predict", "train"])
def test_17_a_pipe_closed_by_head_ends_quietly_and_training_finishes(command, tmp_path, digits_run):
    if command == "predict":
        images = tmp_path / "images"
        write_digit_folder(images, digits=(1, 7), per_class=100)
        argv = ["predict", str(digits_run), str(images), "--top", "10"]  # 2,000 lines: more than a pipe holds
    else:
        argv = ["train", "lenet5", "--dataset", "digits", "--epochs", "2", "--out", str(tmp_path / "run")]
    env = {**os.environ, "PYTHONPATH": os.getcwd()}
    shell = subprocess.run(f"{sys.executable} -m cnnkit {' '.join(argv)} | head -1; exit ${{PIPESTATUS[0]}}",
                           shell=True, executable="/bin/bash", capture_output=True, text=True, env=env)  # fmt: skip
    assert shell.returncode == 0 and len(shell.stdout.splitlines()) == 1
    assert "BrokenPipeError" not in shell.stderr and "Traceback" not in shell.stderr
    if command == "train":
        assert (tmp_path / "run" / "metrics.json").is_file()  # the run was not aborted


def test_18_files_written_atomically_get_the_mode_of_any_new_file(tmp_path):
    previous = os.umask(0o022)
    try:
        write_json(tmp_path / "a.json", {"a": 1})
        assert stat.S_IMODE((tmp_path / "a.json").stat().st_mode) == 0o644
        os.umask(0o002)
        write_json(tmp_path / "b.json", {"b": 1})
        assert stat.S_IMODE((tmp_path / "b.json").stat().st_mode) == 0o664
    finally:
        os.umask(previous)


# --- 19-21: transfer learning offline ----------------------------------------------------------


def write_weights(path: Path, damaged: bool = False) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    if damaged:
        path.write_bytes(b"\x89HDF\r\n\x1a\n" + b"\0" * 4000)  # a download killed after its first bytes
    else:
        with h5py.File(path, "w") as h5:
            h5.create_dataset("w", data=np.zeros(3))
    return path


def use_keras_home(folder: Path, monkeypatch) -> Path:
    """Make ``folder`` Keras' home for this test (Keras reads ``$KERAS_HOME`` once, at import:
    its module variable is what counts); returns its ``models`` folder."""
    folder.mkdir(parents=True, exist_ok=True)
    monkeypatch.setenv("KERAS_HOME", str(folder))
    monkeypatch.setattr("keras.src.backend.config._KERAS_DIR", str(folder))
    assert applications.keras_models_folder() == folder / "models"
    return folder / "models"


@pytest.mark.fast  # on Colab's Keras 3.13 and on the reference Keras
def test_19_the_weights_folder_is_the_one_keras_itself_uses(tmp_path, monkeypatch):
    """cnnkit computes Keras' cache folder by the public rule (issue 35, section 4: it imported
    keras.src.backend.config.keras_home); here it is compared with Keras' own private answer."""
    from keras.src.backend.config import keras_home  # only in the test: the reference to agree with

    assert applications.keras_models_folder() == Path(os.path.expanduser(keras_home())) / "models"
    source = (Path(applications.__file__)).read_text()
    assert "keras.src" not in source
    use_keras_home(tmp_path / "elsewhere", monkeypatch)  # the environment and Keras' variable moved together


@pytest.fixture
def keras_home(tmp_path, monkeypatch):
    """An empty Keras cache, and a get_file that fails the test if anything tries to download."""
    use_keras_home(tmp_path / "keras_home", monkeypatch)

    def no_download(*args, **kwargs):
        raise AssertionError(f"a download was attempted: {args} {kwargs}")

    monkeypatch.setattr(keras.utils, "get_file", no_download)
    monkeypatch.setattr("keras.src.utils.file_utils.get_file", no_download)
    return tmp_path / "keras_home" / "models"


def test_19_a_damaged_cached_weights_file_is_named_with_the_fix(keras_home):
    path = write_weights(keras_home / "resnet50_weights_tf_dim_ordering_tf_kernels_notop.h5", damaged=True)
    with pytest.raises(applications.WeightsUnavailableError, match=f"{path}, are damaged.*Delete that file"):
        applications.pretrained("resnet50", input_shape=(64, 64, 3))


def test_20_offline_the_exact_file_keras_would_load_is_checked_and_nothing_downloads(keras_home):
    from tests.dataset_files import write_keras_imagenet_weights

    write_keras_imagenet_weights(keras_home.parent)  # only the 224-pixel files are cached
    with pytest.raises(applications.WeightsUnavailableError, match=f"_96_no_top.h5\\) are not cached in {keras_home}"):
        applications.pretrained("mobilenet_v2", input_shape=(96, 96, 3))
    assert applications.imagenet_weights_file("mobilenet_v2", (100, 100, 3)).name.endswith("_224_no_top.h5")
    assert applications.imagenet_weights_file("efficientnet_b0", (224, 224, 3)).name == "efficientnetb0_notop.h5"
    # The cached 224-pixel file is handed to Keras by its path: it loads, and nothing is fetched.
    model = applications.pretrained("mobilenet_v2", input_shape=(224, 224, 3))
    cached = h5py.File(keras_home / "mobilenet_v2_weights_tf_dim_ordering_tf_kernels_1.0_224_no_top.h5", "r")
    with cached:
        first = cached["Conv1"]["Conv1"]["kernel"][()]
    np.testing.assert_array_equal(applications.find_backbone(model).get_layer("Conv1").get_weights()[0], first)
    damaged = write_weights(keras_home / "resnet50_weights_tf_dim_ordering_tf_kernels_notop.h5", damaged=True)
    with pytest.raises(applications.WeightsUnavailableError, match="are damaged"):  # Keras would re-download it
        applications.pretrained("resnet50", input_shape=(64, 64, 3))
    assert damaged.read_bytes().startswith(b"\x89HDF")


@pytest.mark.parametrize(("word", "expected"), [("no", False), ("false", False), ("0", False), ("yes", True),
                                                ("True", True), ("1", True)])  # fmt: skip
def test_21_boolean_options_are_parsed_strictly(word, expected):
    options = cli.typed_options("mobilenet_v2_pretrained", [cli._model_option(f"trainable={word}")])
    assert options == [("trainable", expected)]


def test_21_a_word_that_is_not_a_boolean_is_refused(tmp_path, capsys):
    argv = ["train", "mobilenet_v2_pretrained", "-o", "trainable=maybe", "-o", "weights=none", "--out", tmp_path / "r"]
    code, _, err = run_cli(argv, capsys)
    assert code == 2 and one_clear_line(err) and "trainable of mobilenet_v2_pretrained is true or false" in err


@pytest.mark.parametrize(("option", "message"), [("depth=abc", "depth of unet is a whole number"),
                                                  ("depth=2.5", "depth of unet is a whole number"),
                                                  ("base_width=true", "base_width of unet is a whole number")])  # fmt: skip
def test_21_a_number_option_given_a_word_is_refused_before_the_data_loads(tmp_path, capsys, option, message):
    """Issue 35, section 8: ``-o depth=abc`` printed Python's "'<' not supported between instances of 'str'
    and 'int'" from inside the builder, after the dataset had loaded."""
    argv = ["train", "unet", "--dataset", "mnist_scenes", "-o", option, "--out", tmp_path / "r"]
    code, _, err = run_cli(argv, capsys)
    assert code == 2 and one_clear_line(err) and message in err, err
    assert not (tmp_path / "r").exists()


def test_21_numbers_still_reach_the_builder():
    assert cli.typed_options("unet", [cli._model_option("depth=3"), cli._model_option("padding=same")]) == [
        ("depth", 3), ("padding", "same")]  # fmt: skip


# --- 22-23: EEG -----------------------------------------------------------------------------------


@pytest.mark.parametrize("kind", ["de_grid", "eeg_window"])
def test_22_deap_values_too_large_for_eeg_are_refused_by_file(kind, tmp_path, monkeypatch):
    from cnnkit.data import eeg, safe_pickle

    data, labels = deap_synthetic.synthetic_subject(seed=1)
    path = tmp_path / "deap" / "s01.dat"
    path.parent.mkdir()
    with open(path, "wb") as stream:
        safe_pickle.dump_python2({"labels": labels, "data": data * 1e300}, stream)  # finite, but not microvolts
    deap.read_subject(path)  # every value is finite: the reader alone cannot tell
    monkeypatch.setenv("CNNKIT_DATA", str(tmp_path))
    with pytest.raises(CorruptDatasetError, match="s01.dat gives .* NaN or infinite: its EEG reaches [0-9.e+]+, far beyond"):
        eeg.load_eeg_dataset("deap", kind, subjects=1)


def test_23_an_unreadable_feature_cache_is_recomputed_with_a_warning(tmp_path):
    folder = tmp_path / "deap"
    deap_synthetic.write_synthetic(folder, subjects=1, workers=1)
    features, ratings = eeg_features.preprocess_folder(folder, workers=1, progress=False)
    cached = eeg_features.cache_path(folder)
    good = cached.read_bytes()
    for damage in (good[: len(good) // 2], b"just some text", None):
        if damage is None:  # a readable archive without its signature
            with open(cached, "wb") as stream:
                np.savez(stream, features=features, ratings=ratings)
        else:
            cached.write_bytes(damage)
        with pytest.warns(UserWarning, match="cannot be read"):
            again, _ = eeg_features.preprocess_folder(folder, workers=1, progress=False)
        np.testing.assert_array_equal(again, features)


def test_22_a_run_resumed_on_another_backend_records_which_backend_trained_which_epochs(tmp_path):
    """A run killed on TensorFlow and resumed with --backend jax recorded only "backend": "jax" (issue 35, 8)."""
    import pandas as pd

    from cnnkit import runs

    runs.record_backend(tmp_path, "tensorflow")  # the first start: from epoch 0
    pd.DataFrame({"epoch": range(4), "loss": [1.0, 0.8, 0.7, 0.6]}).to_csv(tmp_path / runs.HISTORY, index=False)
    runs.record_backend(tmp_path, "tensorflow")  # killed after 4 epochs, resumed on the same backend
    runs.record_backend(tmp_path, "jax")  # killed again before an epoch was logged, resumed on JAX
    assert runs.backend_stretches(tmp_path, 10) == [{"backend": "tensorflow", "epochs": [0, 3]},
                                                    {"backend": "jax", "epochs": [4, 9]}]  # fmt: skip
    assert runs.training_state(tmp_path) == "training"  # the log says so; backends.json alone would not
    (tmp_path / runs.HISTORY).unlink()
    assert runs.training_state(tmp_path) == "started"  # a start that trained nothing yet


def test_19_mobilenet_v2_says_when_it_falls_back_to_the_224_pixel_weights(keras_home):
    """It silently picked the 224x224 weights for a 100x100 input (issue 35, section 3), where Keras warns."""
    import warnings

    with pytest.warns(UserWarning, match="at 100x100 it loads the 224x224 weights"):
        path = applications.imagenet_weights_file("mobilenet_v2", (100, 100, 3))
    assert path.name.endswith("_1.0_224_no_top.h5")
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # a size Keras has weights for: no warning
        assert applications.imagenet_weights_file("mobilenet_v2", (128, 128, 3)).name.endswith("_1.0_128_no_top.h5")
