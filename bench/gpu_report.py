"""Benchmark: every GPU measurement in one run, written as a markdown table with the device name.

Runs, each in its own process with a time limit, and records its wall time, its exit status and
the result lines it prints:

- LeNet-5 on MNIST (``python -m cnnkit train lenet5 --dataset mnist``);
- ``alexnet_small`` on Fashion-MNIST (``bench/alexnet_pipeline.py --full``);
- ResNet on CIFAR-10, time to 91% (ResNet-20) and to 94% (ResNet-56) (``bench/resnet_cifar.py --full``);
- the CCNN on 32 SYNTHETIC DEAP-format subjects (``python -m cnnkit train ccnn --dataset deap_synthetic``);
- LeNet-5 on MNIST again on JAX and on PyTorch (``--backend``), and ``bench/backends.py`` (every
  backend, TensorFlow with XLA, two JAX processes against one): the table's backend column;
- every notebook in full mode (``CNNKIT_QUICK`` and ``CNNKIT_SMOKE`` unset), executed top to bottom and
  rendered as its article in ``docs/`` by ``tools/articles.py --mode full`` (commit them).

The datasets are read from ``data/`` or downloaded once, so run it online (or with the files in
place). Anchors to compare with, from the d2l TensorFlow book on one V100 (Fashion-MNIST, 10
epochs): LeNet 54,891 examples/s; AlexNet at 224 px 5,029 examples/s and 88.1%; ResNet-18 at
96 px 5,138 examples/s and 91.2%; keras' CIFAR-10 ResNet-20 example: 92.16% after 200 epochs at
35 s/epoch on a GTX 1080 Ti.

    python bench/gpu_report.py                     # everything, table to bench/gpu_report.md
    python bench/gpu_report.py --only lenet5 ccnn  # some jobs
    python bench/gpu_report.py --list              # the jobs and their commands
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PYTHON = sys.executable


@dataclass
class Job:
    """One measurement: a command run from the repository root, and its time limit in seconds."""

    name: str
    command: list[str]
    limit: float
    environment: dict[str, str] = field(default_factory=dict)
    backend: str = "tensorflow"


def jobs(out: Path) -> list[Job]:
    """The jobs of the report; run folders go under ``out``."""
    train = [PYTHON, "-m", "cnnkit", "train"]
    found = [
        Job("lenet5", [*train, "lenet5", "--dataset", "mnist", "--out", str(out / "lenet5")], 900),
        Job("alexnet_small", [PYTHON, "bench/alexnet_pipeline.py", "--full"], 1800),
        Job("resnet_cifar", [PYTHON, "bench/resnet_cifar.py", "--full"], 3600),
        Job("ccnn", [*train, "ccnn", "--dataset", "deap_synthetic", "--subjects", "32", "--out", str(out / "ccnn")],
            3600),  # fmt: skip
        *(Job(f"lenet5_{backend}", [*train, "lenet5", "--dataset", "mnist", "--backend", backend, "--out",
                                    str(out / f"lenet5_{backend}")], 900, backend=backend)  # fmt: skip
          for backend in ("jax", "torch")),
        Job("backends", [PYTHON, "bench/backends.py"], 3600, backend="all"),
    ]
    for notebook in sorted((ROOT / "notebooks").glob("[0-9][0-9]_*.ipynb")):  # full-mode articles into docs/
        command = [PYTHON, "tools/articles.py", "--mode", "full", notebook.stem]
        found.append(Job(notebook.stem, command, 3600, {"CNNKIT_QUICK": "", "CNNKIT_SMOKE": ""}))
    return found


def device_name() -> str:
    """The accelerator TensorFlow sees (or the CPU), asked in a child process."""
    probe = ("import os; os.environ['TF_CPP_MIN_LOG_LEVEL'] = '3'; import tensorflow as tf; "
             "g = tf.config.list_physical_devices('GPU'); "
             "print(tf.config.experimental.get_device_details(g[0]).get('device_name', g[0].name) if g else 'CPU only')")  # fmt: skip
    done = subprocess.run([PYTHON, "-c", probe], capture_output=True, text=True, timeout=300)
    return done.stdout.strip().splitlines()[-1] if done.returncode == 0 and done.stdout.strip() else "unknown"


def run(job: Job) -> dict:
    """Run one job; returns its name, status (``ok``, ``failed (exit N)`` or ``timed out``),
    wall seconds and the result lines it printed (not the log lines of TensorFlow)."""
    environment = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3", **job.environment}
    environment = {key: value for key, value in environment.items() if value != ""}  # "" unsets
    started = time.perf_counter()
    try:
        done = subprocess.run(job.command, cwd=ROOT, env=environment, capture_output=True, text=True,
                              timeout=job.limit)  # fmt: skip
        status = "ok" if done.returncode == 0 else f"failed (exit {done.returncode})"
        output = done.stdout + ("" if done.returncode == 0 else done.stderr[-500:])
    except subprocess.TimeoutExpired as expired:
        status = f"timed out after {job.limit:.0f} s"
        output = expired.stdout.decode() if isinstance(expired.stdout, bytes) else (expired.stdout or "")
    lines = [line.strip() for line in output.splitlines() if line.strip() and not line.startswith(("I0000", "W0000"))]
    return {"job": job.name, "backend": job.backend, "status": status, "seconds": time.perf_counter() - started,
            "result": lines[-3:]}  # fmt: skip


def markdown(rows: list[dict], device: str) -> str:
    """The report: the device, then one table row per job."""
    cell = lambda text: text.replace("|", "\\|")  # noqa: E731
    table = [f"GPU report: {device}", "", "| job | backend | status | wall time | what it printed last |",
             "|---|---|---|---|---|"]  # fmt: skip
    for row in rows:
        printed = "<br>".join(cell(line) for line in row["result"]) or "-"
        table.append(f"| {row['job']} | {row['backend']} | {row['status']} | {row['seconds']:.0f} s | {printed} |")
    return "\n".join(table) + "\n"


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--only", nargs="+", help="run only these jobs")
    parser.add_argument("--list", action="store_true", help="list the jobs and exit")
    parser.add_argument("--report", type=Path, default=ROOT / "bench" / "gpu_report.md")
    arguments = parser.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="cnnkit-gpu-report-") as folder:
        selected = jobs(Path(folder))
        names = [job.name for job in selected]
        unknown = sorted(set(arguments.only or ()) - set(names))
        if unknown:
            parser.error(f"unknown job(s) {', '.join(unknown)}; the jobs are: {', '.join(names)}")
        selected = [job for job in selected if not arguments.only or job.name in arguments.only]
        if arguments.list:
            for job in selected:
                print(f"{job.name}: {' '.join(job.command)} (limit {job.limit:.0f} s)")
            return 0
        device = device_name()
        print(f"device: {device}", flush=True)
        rows = []
        for job in selected:
            rows.append(run(job))
            print(f"{job.name}: {rows[-1]['status']}, {rows[-1]['seconds']:.0f} s", flush=True)
            temporary = arguments.report.with_suffix(".md.tmp")  # written after each job: a kill keeps the rest
            temporary.write_text(markdown(rows, device))
            temporary.replace(arguments.report)
    print(f"report: {arguments.report}")
    return 0 if all(row["status"] == "ok" for row in rows) else 1


if __name__ == "__main__":
    sys.exit(main())
