"""Run folders that survive faults: damaged backups, interrupted reports, two runs on one folder,
unusable output paths and losses that turn NaN (issue 9, items 1-5)."""

import json
import os
import signal
import subprocess
import sys
import textwrap
import time

import h5py
import keras
import numpy as np
import pandas as pd
import pytest

from cnnkit import cli, evaluation
from cnnkit.errors import FolderLockedError, OutputFolderError, TrainingDivergedError
from cnnkit.files import folder_lock, prepare_folder
from cnnkit.models import build
from cnnkit.seed import set_seed
from cnnkit.training import train
from tests.test_training import StopAtEpoch, small


class EpochsStarted(keras.callbacks.Callback):
    def __init__(self):
        super().__init__()
        self.started = []

    def on_epoch_begin(self, epoch, logs=None):
        self.started.append(epoch)


def crash_while_writing_the_backup(monkeypatch, at_save):
    """Make Keras' backup write crash midway through its ``at_save``-th weights file, leaving a
    truncated file behind, as a kill ~30 ms after an epoch's CSV row does."""
    original, calls = keras.Model.save_weights, []

    def save_weights(self, filepath, *args, **kwargs):
        calls.append(filepath)
        original(self, filepath, *args, **kwargs)
        if "backup" in str(filepath) and len([c for c in calls if "backup" in str(c)]) == at_save:
            with open(filepath, "r+b") as stream:
                stream.truncate(os.path.getsize(filepath) // 3)
            raise KeyboardInterrupt("killed while writing the backup")

    monkeypatch.setattr(keras.Model, "save_weights", save_weights)


def test_a_kill_during_the_backup_write_resumes_from_the_previous_epochs_copy(digits, tmp_path, monkeypatch):
    set_seed(0)
    with monkeypatch.context() as patch:
        crash_while_writing_the_backup(patch, at_save=3)  # during epoch 2's backup (0-based)
        with pytest.raises(KeyboardInterrupt):
            train(build("lenet5"), small(digits.train), small(digits.validation), epochs=4,
                  out_dir=tmp_path, verbose=0)  # fmt: skip
    backup = tmp_path / "backup"
    with pytest.raises(OSError):  # the latest backup really is unreadable
        h5py.File(backup / "latest.weights.h5", "r")
    started = EpochsStarted()
    with pytest.warns(UserWarning, match="resuming from the previous epoch's backup"):
        history = train(build("lenet5"), small(digits.train), small(digits.validation), epochs=4,
                        out_dir=tmp_path, callbacks=[started], verbose=0)  # fmt: skip
    assert started.started == [2, 3]  # epoch 2 again (its backup was lost), then 3
    assert list(history.index) == [0, 1, 2, 3] and (tmp_path / "run.json").exists()
    assert not backup.exists()


def test_a_backup_that_cannot_be_read_at_all_falls_back_to_the_best_checkpoint(digits, tmp_path):
    set_seed(0)
    with pytest.raises(KeyboardInterrupt):
        train(build("lenet5"), small(digits.train), small(digits.validation), epochs=4, out_dir=tmp_path,
              callbacks=[StopAtEpoch(3)], verbose=0)  # fmt: skip
    backup = tmp_path / "backup"
    for name in ("latest.weights.h5", "latest.weights.h5.bkp"):
        (backup / name).write_bytes(b"\x89HDF\r\n\x1a\n damaged")
    (backup / "training_metadata.json").write_text('{"epoch": ')
    logged = pd.read_csv(tmp_path / "history.csv")
    best_epoch = int(logged.loc[logged["val_loss"].idxmin(), "epoch"])
    best = keras.saving.load_model(tmp_path / "model.keras", safe_mode=True)
    started = EpochsStarted()
    model = build("lenet5")
    with pytest.warns(UserWarning, match="resuming from the best checkpoint model.keras"):
        history = train(model, small(digits.train), small(digits.validation), epochs=4, out_dir=tmp_path,
                        callbacks=[started], verbose=0)  # fmt: skip
    assert started.started == list(range(best_epoch + 1, 4))
    assert list(history.index) == [0, 1, 2, 3] and (tmp_path / "run.json").exists()
    if started.started:  # the resumed run started from the checkpoint's weights, not from scratch
        assert history.loc[best_epoch + 1, "loss"] < history.loc[0, "loss"]
    else:
        np.testing.assert_allclose(model.get_weights()[0], best.get_weights()[0])


def test_a_loss_that_turns_nan_stops_at_once_and_keeps_the_last_good_state(digits, tmp_path):
    set_seed(0)
    blow_up = keras.callbacks.LearningRateScheduler(lambda epoch, lr: 1e-3 if epoch < 2 else 1e30)
    model = build("lenet5", activation="relu")
    with pytest.raises(TrainingDivergedError, match=r"became (nan|inf) in epoch 3") as caught:
        train(model, small(digits.train, 8), small(digits.validation), epochs=5, out_dir=tmp_path,
              callbacks=[blow_up], verbose=0)  # fmt: skip
    assert "lower learning rate" in str(caught.value) and "model.keras" in str(caught.value)
    history = pd.read_csv(tmp_path / "history.csv")
    assert list(history["epoch"]) == [0, 1] and np.isfinite(history["loss"]).all()
    best = keras.saving.load_model(tmp_path / "model.keras", safe_mode=True)
    assert all(np.isfinite(w).all() for w in best.get_weights())
    assert not (tmp_path / "run.json").exists() and (tmp_path / "backup").is_dir()


def test_a_run_that_diverges_at_once_exits_nonzero_with_one_line(tmp_path, monkeypatch, capsys):
    import dataclasses

    load = cli.load_dataset

    def with_nan_pixels(*args, **kwargs):  # a dataset with NaN pixels makes the first loss NaN
        data = load(*args, **kwargs)
        return dataclasses.replace(data, train=data.train.map(lambda x, y: (x * float("nan"), y)))

    monkeypatch.setattr(cli, "load_dataset", with_nan_pixels)
    out = tmp_path / "run"
    code = cli.main(["train", "lenet5", "--dataset", "digits", "--epochs", "2", "--out", str(out)])
    err = capsys.readouterr().err
    assert code == 1 and "The training loss became" in err and "Traceback" not in err
    assert len(err.strip().splitlines()) == 1
    assert not (out / "metrics.json").exists() and not (out / "model.keras").exists()


@pytest.mark.parametrize("value", ["inf", "nan", "-1"])
def test_a_learning_rate_that_is_not_a_positive_finite_number_is_refused(value, capsys, tmp_path):
    with pytest.raises(SystemExit) as exit_:
        cli.main(["train", "lenet5", "--learning-rate", value, "--out", str(tmp_path / "run")])
    assert exit_.value.code == 2 and "expected a positive" in capsys.readouterr().err


def test_reports_interrupted_after_training_are_finished_by_the_same_command(tmp_path, monkeypatch, capsys):
    out = tmp_path / "run"
    argv = ["train", "lenet5", "--dataset", "digits", "--epochs", "1", "--out", str(out)]

    def killed(*args, **kwargs):
        raise KeyboardInterrupt("killed after run.json, before the reports")

    with monkeypatch.context() as patch:
        patch.setattr(evaluation, "evaluate_classifier", killed)
        with pytest.raises(KeyboardInterrupt):
            cli.main(argv)
    assert (out / "run.json").exists() and not (out / "metrics.json").exists()
    history_before = (out / "history.csv").read_text()
    model_before = (out / "model.keras").stat().st_mtime_ns
    capsys.readouterr()
    assert cli.main(argv) == 0
    assert "already finished; writing the missing reports" in capsys.readouterr().out
    assert {"metrics.json", "report.csv", "learning_curves.png", "confusion_matrix.png"} <= {
        p.name for p in out.iterdir()
    }
    assert (out / "history.csv").read_text() == history_before  # not trained again
    assert (out / "model.keras").stat().st_mtime_ns == model_before
    assert json.loads((out / "metrics.json").read_text())["epochs"] == 1
    # Now the run is finished: the same command refuses to touch it.
    assert cli.main(argv) == 1
    assert "already holds a finished run" in capsys.readouterr().err


def test_a_rerun_with_other_settings_is_refused_instead_of_mixed_in(tmp_path, monkeypatch, capsys):
    out = tmp_path / "run"
    with monkeypatch.context() as patch:
        patch.setattr(
            evaluation, "evaluate_classifier", lambda *a, **k: (_ for _ in ()).throw(KeyboardInterrupt)
        )
        with pytest.raises(KeyboardInterrupt):
            cli.main(["train", "lenet5", "--dataset", "digits", "--epochs", "1", "--out", str(out)])
    code = cli.main(["train", "lenet5_classic", "--dataset", "digits", "--epochs", "1", "--out", str(out)])
    assert code == 1 and "holds a run with other settings" in capsys.readouterr().err


HOLD_LOCK = textwrap.dedent(
    """
    import sys, time
    from cnnkit.files import folder_lock
    with folder_lock(sys.argv[1]):
        print("locked", flush=True)
        time.sleep(120)
    """
)


def test_a_second_run_on_a_busy_folder_is_refused_at_once_and_a_dead_owners_lock_is_not(
    tmp_path, monkeypatch, capsys
):
    out = tmp_path / "run"
    env = {**os.environ, "PYTHONPATH": os.getcwd()}
    owner = subprocess.Popen([sys.executable, "-c", HOLD_LOCK, str(out)], env=env, stdout=subprocess.PIPE,
                             text=True)  # fmt: skip
    try:
        assert owner.stdout.readline().strip() == "locked"
        loaded = []
        monkeypatch.setattr(cli, "load_dataset", lambda *a, **k: loaded.append(1))
        started = time.perf_counter()
        code = cli.main(["train", "lenet5", "--dataset", "digits", "--out", str(out)])
        err = capsys.readouterr().err
        assert code == 1 and f"is in use by process {owner.pid}" in err and "Traceback" not in err
        assert len(err.strip().splitlines()) == 1
        assert not loaded and time.perf_counter() - started < 5  # refused before loading any data
        with pytest.raises(FolderLockedError):  # the library's train() is refused the same way
            with folder_lock(out):
                pass
    finally:
        owner.send_signal(signal.SIGKILL)  # the owner dies without any clean-up
        owner.wait()
    with folder_lock(out) as locked:  # its lock died with it
        assert (locked / ".lock").read_text().startswith(f"process {os.getpid()} ")
    assert (out / ".lock").read_text() == ""  # released on leaving the block


def test_the_lock_is_reentrant_within_one_process(tmp_path):
    owner = f"process {os.getpid()}"
    with folder_lock(tmp_path / "run"):
        with folder_lock(tmp_path / "run"):  # the same process again: no deadlock, no error
            assert (tmp_path / "run" / ".lock").read_text().startswith(owner)
        # Leaving the inner block keeps the lock: the outer one still owns the folder.
        assert (tmp_path / "run" / ".lock").read_text().startswith(owner)
        other = subprocess.run([sys.executable, "-c", "import sys\nfrom cnnkit.files import folder_lock\n"
                                "with folder_lock(sys.argv[1]): pass", str(tmp_path / "run")],
                               capture_output=True, text=True, env={**os.environ, "PYTHONPATH": os.getcwd()})  # fmt: skip
        assert other.returncode != 0 and "FolderLockedError" in other.stderr
    assert (tmp_path / "run" / ".lock").read_text() == ""  # released with the outer block


def test_an_out_path_that_is_a_file_or_under_a_file_fails_before_loading_data(tmp_path, monkeypatch, capsys):
    monkeypatch.setattr(cli, "load_dataset", lambda *a, **k: pytest.fail("data loaded"))
    file = tmp_path / "file.txt"
    file.write_text("precious")
    for out, message in (
        (file, "is a file, not a folder"),
        (file / "run", f"lies under {file}, which is a file"),
    ):
        code = cli.main(["train", "lenet5", "--out", str(out)])
        err = capsys.readouterr().err
        assert code == 2 and message in err and "Traceback" not in err
    assert file.read_text() == "precious"


def test_an_out_folder_that_cannot_be_written_fails_before_loading_data(tmp_path, monkeypatch, capsys):
    monkeypatch.setattr(cli, "load_dataset", lambda *a, **k: pytest.fail("data loaded"))
    folder = tmp_path / "read-only"
    folder.mkdir()
    folder.chmod(0o500)
    if os.geteuid() == 0:  # root writes anywhere: let the write test meet the refusal a user would
        import tempfile

        def refuse(*args, **kwargs):
            raise PermissionError(13, "Permission denied")

        monkeypatch.setattr(tempfile, "mkstemp", refuse)
    try:
        code = cli.main(["train", "lenet5", "--out", str(folder / "run")])
        err = capsys.readouterr().err
        assert code == 2 and "Cannot write into the output folder" in err and "Permission denied" in err
        assert "Traceback" not in err
        with pytest.raises(OutputFolderError):
            prepare_folder(folder / "run")
    finally:
        folder.chmod(0o700)
