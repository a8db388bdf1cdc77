"""bench/gpu_report.py: every job run in its own process, its fate recorded, the table written."""

import importlib.util
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).parent.parent


@pytest.fixture()
def report_module(monkeypatch):
    spec = importlib.util.spec_from_file_location("gpu_report", ROOT / "bench" / "gpu_report.py")
    module = importlib.util.module_from_spec(spec)
    monkeypatch.setitem(sys.modules, "gpu_report", module)  # dataclasses look their module up
    spec.loader.exec_module(module)
    return module


def test_the_report_covers_every_benchmark_and_every_notebook_in_full_mode(report_module, tmp_path):
    jobs = {job.name: job for job in report_module.jobs(tmp_path)}
    notebooks = {path.stem for path in (ROOT / "notebooks").glob("[0-9][0-9]_*.ipynb")}
    assert {"lenet5", "alexnet_small", "resnet_cifar", "ccnn", "lenet5_jax", "lenet5_torch", "backends"} | notebooks == set(jobs)
    assert [jobs[name].backend for name in ("lenet5", "lenet5_jax", "lenet5_torch")] == ["tensorflow", "jax", "torch"]
    assert jobs["lenet5_torch"].command[-4:-2] == ["--backend", "torch"] and "bench/backends.py" in jobs["backends"].command
    assert "--full" in jobs["resnet_cifar"].command and "mnist" in jobs["lenet5"].command
    assert jobs["ccnn"].command[-4:-2] == ["--subjects", "32"]
    assert all(jobs[name].environment == {"CNNKIT_QUICK": "", "CNNKIT_SMOKE": ""} for name in notebooks)  # full mode
    assert all(jobs[name].command[1:] == ["tools/articles.py", "--mode", "full", name] for name in notebooks)


def test_each_outcome_is_recorded_and_the_table_written(report_module, tmp_path, monkeypatch, capsys):
    fake = [
        report_module.Job("fine", [sys.executable, "-c", "print('noise'); print('accuracy 0.99')"], 60),
        report_module.Job("broken", [sys.executable, "-c", "import sys; print('half | way'); sys.exit(3)"], 60),
        report_module.Job("slow", [sys.executable, "-c", "import time; time.sleep(30)"], 1),
        report_module.Job("quick_env", [sys.executable, "-c", "import os; print(os.environ.get('CNNKIT_QUICK', 'unset'))"],
                          60, {"CNNKIT_QUICK": ""}),
    ]  # fmt: skip
    monkeypatch.setattr(report_module, "jobs", lambda out: fake)
    monkeypatch.setattr(report_module, "device_name", lambda: "Test GPU 80GB")
    monkeypatch.setenv("CNNKIT_QUICK", "1")
    report = tmp_path / "report.md"
    assert report_module.main(["--report", str(report)]) == 1  # not all ok
    text = report.read_text()
    assert text.startswith("GPU report: Test GPU 80GB")
    rows = {line.split(" | ")[0][2:]: line for line in text.splitlines() if line.startswith("| ") and "---" not in line}
    assert "| tensorflow | ok |" in rows["fine"] and "noise<br>accuracy 0.99" in rows["fine"]
    assert "failed (exit 3)" in rows["broken"] and "half \\| way" in rows["broken"]
    assert "timed out after 1 s" in rows["slow"]
    assert rows["quick_env"].endswith("| unset |")  # the notebooks run in full mode
    assert not list(tmp_path.glob("*.tmp"))
    assert report_module.main(["--list", "--only", "fine"]) == 0 and "fine:" in capsys.readouterr().out
    with pytest.raises(SystemExit):
        report_module.main(["--only", "nonsense"])
