"""Benchmark: the same training on TensorFlow, TensorFlow with XLA, JAX and PyTorch, in one run.

Each job runs in its own process (Keras reads its backend once per process) and prints one JSON
line; the table shows images per second of training (epochs after the first, so that tracing and
compilation are not counted) and the time from the start of ``fit`` to the first epoch whose
validation accuracy reaches the target:

- ``lenet5``: LeNet-5 on the MNIST sample (3,500 training images, batch 32, Adam 3e-3), up to
  20 epochs, target 95% validation accuracy;
- ``resnet20``: the CIFAR ResNet-20 on CIFAR-shaped inputs (scikit-learn's digits padded to
  32x32x3, batch 64, Adam 1e-3), 4 epochs, target 90%;
- ``ccnn``: the CCNN on DEAP-format differential-entropy grids (4 SYNTHETIC subjects, batch 128,
  Adam 1e-3), 10 epochs, target 80%;
- ``resnet20`` again as a job of two JAX processes against one (``python -m cnnkit train
  resnet_cifar --dataset digits --processes 2`` and the same as one process), wall time of the
  whole command.

    python bench/backends.py               # everything: a markdown table on standard output
    python bench/backends.py --only lenet5 # one job on every backend
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
BACKENDS = {"tensorflow": ("tensorflow", False), "tensorflow+XLA": ("tensorflow", True), "jax": ("jax", None),
            "torch": ("torch", None)}  # fmt: skip
JOBS = {
    "lenet5": dict(model="lenet5", dataset="mnist_sample", batch_size=32, learning_rate=3e-3, epochs=20, target=0.95),
    "resnet20": dict(model="resnet_cifar", dataset="digits", batch_size=64, learning_rate=1e-3, epochs=4, target=0.90,
                     load={"pad_to": 32, "channels": 3}),
    "ccnn": dict(model="ccnn", dataset="deap_synthetic", batch_size=128, learning_rate=1e-3, epochs=10, target=0.80,
                 load={"subjects": 4}),
}  # fmt: skip


def run_job(name: str, jit: bool | None) -> dict:
    """Train one job on the backend of this process; returns the measured figures."""
    import keras

    from cnnkit import load_dataset, set_seed
    from cnnkit.models import build

    job = JOBS[name]
    set_seed(0)
    data = load_dataset(job["dataset"], batch_size=job["batch_size"], **job.get("load", {}))
    model = build(job["model"], input_shape=data.info.input_shape, num_classes=data.info.num_classes)
    model.compile(optimizer=keras.optimizers.Adam(job["learning_rate"]), loss="sparse_categorical_crossentropy",
                  metrics=["accuracy"], jit_compile=jit if jit is not None else "auto")  # fmt: skip

    class Clock(keras.callbacks.Callback):
        def on_train_begin(self, logs=None):
            self.start, self.ends, self.reached = time.perf_counter(), [], None

        def on_epoch_end(self, epoch, logs=None):
            self.ends.append(time.perf_counter())
            if self.reached is None and logs.get("val_accuracy", 0) >= job["target"]:
                self.reached = self.ends[-1] - self.start

    clock = Clock()
    model.fit(data.train, validation_data=data.validation, epochs=job["epochs"], callbacks=[clock], verbose=0)
    later = clock.ends[-1] - clock.ends[0]
    return {"images_per_second": data.info.num_examples["train"] * (len(clock.ends) - 1) / later,
            "seconds_to_target": clock.reached, "first_epoch_seconds": clock.ends[0] - clock.start}  # fmt: skip


def in_process(backend: str, jit: bool | None, name: str) -> dict:
    environment = {**os.environ, "KERAS_BACKEND": backend, "TF_CPP_MIN_LOG_LEVEL": "3"}
    done = subprocess.run([sys.executable, __file__, "--job", name, "--jit", str(jit)], capture_output=True,
                          text=True, env=environment, cwd=ROOT, timeout=1800)  # fmt: skip
    lines = [line for line in done.stdout.splitlines() if line.startswith("{")]
    if done.returncode != 0 or not lines:
        return {"error": (done.stderr.strip().splitlines() or ["no output"])[-1][:120]}
    return json.loads(lines[-1])


def processes_job(count: int) -> float:
    """Wall seconds of ``train resnet_cifar --dataset digits --epochs 2`` as ``count`` JAX processes."""
    import tempfile

    from cnnkit.launch import free_port

    out = Path(tempfile.mkdtemp(prefix="cnnkit-bench-")) / "run"
    command = [sys.executable, "-m", "cnnkit", "train", "resnet_cifar", "--dataset", "digits", "--epochs", "2",
               "--batch-size", "64", "--out", str(out)]  # fmt: skip
    command += (["--processes", str(count)] if count > 1 else
                ["--coordinator", f"127.0.0.1:{free_port()}", "--num-processes", "1", "--process-id", "0"])  # fmt: skip
    started = time.perf_counter()
    subprocess.run(command, check=True, capture_output=True, cwd=ROOT, timeout=1800,
                   env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"})  # fmt: skip
    return time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--only", nargs="+", choices=list(JOBS) + ["processes"])
    parser.add_argument("--job", choices=list(JOBS), help=argparse.SUPPRESS)
    parser.add_argument("--jit", default="None", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.job:
        print(json.dumps(run_job(args.job, {"True": True, "False": False}.get(args.jit))))
        return
    jobs = args.only or list(JOBS) + ["processes"]
    print(f"Machine: {platform.machine()}, {os.cpu_count()} CPUs, Python {platform.python_version()}\n")
    print("| job | backend | images/s | to target (s) | first epoch (s) |\n|---|---|---|---|---|")
    for name in (job for job in jobs if job in JOBS):
        for label, (backend, jit) in BACKENDS.items():
            result = in_process(backend, jit, name)
            if "error" in result:
                print(f"| {name} | {label} | failed: {result['error']} | | |", flush=True)
                continue
            reached = f"{result['seconds_to_target']:.1f}" if result["seconds_to_target"] is not None else "not reached"
            print(f"| {name} (target {JOBS[name]['target']:.0%}) | {label} | {result['images_per_second']:,.0f} | "
                  f"{reached} | {result['first_epoch_seconds']:.1f} |", flush=True)  # fmt: skip
    if "processes" in jobs:
        one, two = processes_job(1), processes_job(2)
        print(f"\nresnet_cifar on digits, 2 epochs, batch 64, JAX: one process {one:.1f} s, two processes {two:.1f} s "
              f"(two / one = {two / one:.2f})")  # fmt: skip


if __name__ == "__main__":
    main()
