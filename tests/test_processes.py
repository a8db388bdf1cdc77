"""Training in several processes: keras.distribution.DataParallel on JAX (issue 20, point 3).

Every test starts real processes on this machine (the CPU; JAX's gloo collectives between
processes), through the command line as a user would.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import keras
import numpy as np
import pandas as pd
import pytest

from cnnkit import runs
from cnnkit.launch import free_port

ROOT = Path(__file__).resolve().parent.parent


def run_cli(*arguments, timeout=600) -> subprocess.CompletedProcess:
    environment = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"}
    environment.pop("KERAS_BACKEND", None)  # the command line chooses JAX itself
    return subprocess.run([sys.executable, "-m", "cnnkit", *map(str, arguments)], capture_output=True, text=True,
                          env=environment, cwd=ROOT, timeout=timeout)  # fmt: skip


def error_lines(done) -> list[str]:
    return [line for line in done.stderr.splitlines() if line.startswith("error:")]


def test_two_processes_train_as_one_process_with_the_same_global_batch(tmp_path):
    common = ["train", "lenet5", "--dataset", "digits", "--epochs", 3, "--seed", 1]
    two = run_cli(*common, "--processes", 2, "--out", tmp_path / "two")
    assert two.returncode == 0, two.stderr[-3000:]
    one = run_cli(*common, "--coordinator", f"127.0.0.1:{free_port()}", "--num-processes", 1, "--process-id", 0,
                 "--out", tmp_path / "one")  # fmt: skip
    assert one.returncode == 0, one.stderr[-3000:]
    logs = {name: pd.read_csv(tmp_path / name / "history.csv") for name in ("one", "two")}
    assert logs["two"]["epoch"].tolist() == [0, 1, 2]  # written once, by process 0 alone
    for column in ("loss", "val_loss", "accuracy"):
        np.testing.assert_allclose(logs["two"][column], logs["one"][column], rtol=1e-4, err_msg=column)
    assert logs["two"]["loss"].iloc[-1] < logs["two"]["loss"].iloc[0]
    import cnnkit  # noqa: F401 (the custom layers)

    models = [keras.saving.load_model(tmp_path / name / "model.keras", safe_mode=True) for name in ("one", "two")]
    for a, b in zip(models[0].weights, models[1].weights, strict=True):
        np.testing.assert_allclose(keras.ops.convert_to_numpy(a), keras.ops.convert_to_numpy(b), atol=1e-5)
    metrics = {name: json.loads((tmp_path / name / "metrics.json").read_text()) for name in ("one", "two")}
    assert (metrics["one"]["processes"], metrics["two"]["processes"]) == (1, 2)
    assert metrics["two"]["backend"] == "jax" and not (tmp_path / "two" / "backup").exists()


def test_each_example_goes_to_exactly_one_process_per_epoch(tmp_path):
    coordinator = f"127.0.0.1:{free_port()}"
    workers = [subprocess.Popen([sys.executable, ROOT / "tests" / "process_worker.py", coordinator, str(rank), "2",
                                 tmp_path / f"{rank}.json"], cwd=ROOT, env={**os.environ, "PYTHONPATH": str(ROOT)},
                                stderr=subprocess.PIPE, text=True)  # fmt: skip
               for rank in (0, 1)]
    for worker in workers:
        assert worker.wait(timeout=300) == 0, worker.stderr.read()[-3000:]
    seen = [json.loads((tmp_path / f"{rank}.json").read_text()) for rank in (0, 1)]
    assert len(seen[0]) == len(seen[1]) == 48  # six global batches of 16, half of each
    assert not set(seen[0]) & set(seen[1])  # no example in both
    assert len(set(seen[0]) | set(seen[1])) == 96  # and all of them but the last partial batch (4)


def _children_of(launcher: int) -> dict[int, str]:
    """The processes started by ``launcher``: pid -> command line."""
    found = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                status = (entry / "status").read_text()
                parent = int(next(line for line in status.splitlines() if line.startswith("PPid:")).split()[1])
                if parent == launcher:
                    found[int(entry.name)] = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode()
            except (OSError, StopIteration, ValueError):
                continue
    return found


def test_a_killed_process_stops_the_others_in_one_line_and_the_run_resumes(tmp_path):
    out = tmp_path / "run"
    command = [sys.executable, "-m", "cnnkit", "train", "lenet5", "--epochs", "3", "--batch-size", "8",
               "--processes", "2", "--out", str(out)]  # fmt: skip
    environment = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"}
    environment.pop("KERAS_BACKEND", None)
    launcher = subprocess.Popen(command, cwd=ROOT, env=environment, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                                text=True)  # fmt: skip
    deadline = time.monotonic() + 300
    while runs.read_log(out / "history.csv") is None:  # until the first epoch is logged
        assert launcher.poll() is None and time.monotonic() < deadline, launcher.stderr.read()[-3000:]
        time.sleep(0.2)
    before = pd.read_csv(out / "history.csv")  # at least one epoch
    second = [pid for pid, line in _children_of(launcher.pid).items() if "--process-id 1 " in line + " "]
    assert len(second) == 1
    os.kill(second[0], signal.SIGKILL)  # mid-epoch: one epoch takes seconds here
    killed = time.monotonic()
    launcher.wait(timeout=120)
    stopped_within = time.monotonic() - killed
    print(f"the launcher stopped {stopped_within:.1f} s after the kill")  # the figure in the closing note
    errors = [line for line in launcher.stderr.read().splitlines() if line.startswith("error:")]
    assert launcher.returncode == 1 and stopped_within < 30
    assert any("process 1 of 2" in line and "run the same command again" in line for line in errors), errors
    assert not _children_of(launcher.pid)  # nothing left running
    done = subprocess.run(command, cwd=ROOT, env=environment, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-3000:]
    after = pd.read_csv(out / "history.csv").drop_duplicates("epoch", keep="last")
    assert after["epoch"].tolist() == list(range(3))
    kept = after.set_index("epoch").loc[before["epoch"], "loss"].to_numpy()
    np.testing.assert_array_equal(kept, before["loss"].to_numpy())  # resumed after them, not retrained


def test_a_wrong_address_a_busy_port_or_another_count_is_one_line(tmp_path):
    started = time.monotonic()
    alone = run_cli("train", "lenet5", "--dataset", "digits", "--coordinator", f"127.0.0.1:{free_port()}",
                   "--num-processes", 2, "--process-id", 1, "--join-timeout", 5, "--out", tmp_path / "a")  # fmt: skip
    assert alone.returncode == 1 and time.monotonic() - started < 90
    assert len(error_lines(alone)) == 1 and "could not join" in error_lines(alone)[0]
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        done = run_cli("train", "lenet5", "--dataset", "digits", "--coordinator", f"127.0.0.1:{port}",
                      "--num-processes", 1, "--process-id", 0, "--out", tmp_path / "b")  # fmt: skip
    assert done.returncode == 1 and error_lines(done) == [error_lines(done)[0]]
    assert f"cannot serve the job on port {port}" in error_lines(done)[0]
    coordinator = f"127.0.0.1:{free_port()}"
    environment = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"}
    pair = [subprocess.Popen([sys.executable, "-m", "cnnkit", "train", "lenet5", "--dataset", "digits",
                              "--coordinator", coordinator, "--num-processes", count, "--process-id", rank,
                              "--join-timeout", "5", "--out", str(tmp_path / "c")], cwd=ROOT, env=environment,
                             stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)  # fmt: skip
            for rank, count in (("0", "2"), ("1", "3"))]
    for process in pair:
        process.wait(timeout=120)
        lines = [line for line in process.stderr.read().splitlines() if line.startswith("error:")]
        assert process.returncode == 1 and len(lines) == 1, lines
    wrong = run_cli("train", "lenet5", "--processes", 2, "--backend", "torch", "--out", tmp_path / "d")
    assert wrong.returncode == 2 and "on JAX, not on torch" in error_lines(wrong)[0]


def test_several_processes_without_jax_installed_is_one_line(monkeypatch, capsys):
    import importlib.util

    from cnnkit import cli

    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec", lambda name, *rest: None if name == "jax" else real(name, *rest))
    assert cli.main(["train", "lenet5", "--processes", "2"]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "pip install 'cnnkit[jax]'" in err


@pytest.mark.parametrize(
    "arguments, message",
    [(["train", "nosuchmodel", "--processes", "2"], "Unknown model 'nosuchmodel'"),
     (["train", "lenet5", "--dataset", "nosuchset", "--processes", "2"], "Unknown dataset 'nosuchset'"),
     (["train", "lenet5", "-o", "depth=abc", "--processes", "2"], "depth"),
     (["train", "lenet5", "--processes", "999"], "--processes 999 asks for more processes than this machine's"),
     (["train", "lenet5", "--coordinator", "localhost", "--num-processes", "2", "--process-id", "0", "--out", "x"],
      "coordinator must be HOST:PORT"),
     (["train", "lenet5", "--coordinator", "localhost:99999", "--num-processes", "2", "--process-id", "0", "--out",
       "x"], "port from 1 to 65535"),
     (["train", "lenet5", "--coordinator", "localhost:1234", "--num-processes", "2", "--process-id", "5", "--out",
       "x"], "process_id must lie in 0..1 for a job of 2 process(es), got 5")],
    ids=["model", "dataset", "option", "too-many", "no-port", "bad-port", "process-id"],
)  # fmt: skip
def test_a_job_is_checked_in_the_parent_before_any_process_starts(arguments, message, monkeypatch, capsys):
    """`train nosuchmodel --processes 6` started six interpreters to reject a typo (issue 35, section 8)."""
    from cnnkit import cli, launch

    def started(*_args, **_kwargs):
        raise AssertionError("a process was started")

    monkeypatch.setattr(launch, "run_processes", started)
    monkeypatch.setattr(launch, "supervise", started)
    assert cli.main(arguments) == 2
    err = capsys.readouterr().err
    assert message in err and err.count("\n") == 1, err
