"""Benchmark: DEAP differential-entropy features, vectorized vs a straightforward loop, and all
32 subjects.

1. On one full DEAP-shaped subject (40 trials x 32 EEG channels x 8064 samples): the loop
   reference (:func:`de_features_reference`: per trial, channel and band, filter, then DE per
   segment) against :func:`de_features` with 1 and with 2 threads (both cores); prints the
   times, the speed-ups (target >= 10x) and the largest relative difference (target < 1e-6).
2. All 32 subjects through :func:`preprocess_folder` with 2 worker processes: prints the time
   to read the files alone, the total, the features part (target < 30 s once the files are
   read; the figure printed includes the reading), the peak memory of the processes (target
   < 2 GiB), and the time of a second, cached run.

Uses the real files in data/deap/ when all 32 are there, otherwise SYNTHETIC DEAP-format files
written to a temporary folder (about 3.3 GB; they are deleted at the end).

    python bench/deap_features.py
"""

import os
import platform
import resource
import shutil
import tempfile
import time
from pathlib import Path

import numpy as np

from cnnkit.data import deap, deap_synthetic, eeg_features
from cnnkit.files import data_dir


class TreeMemory:
    """Samples the summed resident memory of this process and its children every 0.1 s."""

    def __init__(self):
        import threading

        import psutil

        self.process, self.peak, self.stop = psutil.Process(), 0, threading.Event()
        self.thread = threading.Thread(target=self.sample, daemon=True)

    def sample(self):
        import psutil

        while not self.stop.is_set():
            total = 0
            for proc in [self.process, *self.process.children(recursive=True)]:
                try:
                    total += proc.memory_info().rss
                except psutil.Error:  # a worker that just ended
                    pass
            self.peak = max(self.peak, total)
            self.stop.wait(0.1)

    def __enter__(self):
        self.thread.start()
        return self

    def __exit__(self, *exc):
        self.stop.set()
        self.thread.join()


def peak_memory_gib():
    own = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    children = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    return own / 2**20, children / 2**20  # ru_maxrss is in KiB on Linux


def main():
    print(f"machine: {platform.machine()}, {os.cpu_count()} CPUs")
    real = data_dir() / "deap"
    temporary = None
    if len(list(real.glob("s[0-9][0-9].dat"))) == 32 and not deap_synthetic.is_synthetic(real):
        folder, kind = real, "DEAP"
    else:
        temporary = Path(tempfile.mkdtemp(prefix="cnnkit-deap-bench-"))
        folder, kind = temporary / "deap", "SYNTHETIC DEAP-format"  # its marker goes beside it
        started = time.perf_counter()
        deap_synthetic.write_synthetic(folder, subjects=32, seed=0)
        print(f"wrote 32 synthetic subjects in {time.perf_counter() - started:.0f} s")
    try:
        data, _ = deap.read_subject(folder / "s01.dat")
        eeg = data[:, :32]
        started = time.perf_counter()
        slow = eeg_features.de_features_reference(eeg)
        loop_seconds = time.perf_counter() - started
        eeg_features.de_features(eeg[:1])  # warm-up: first-touch memory and filter design
        for threads in (1, 2):
            started = time.perf_counter()
            fast = eeg_features.de_features(eeg, threads=threads)
            fast_seconds = time.perf_counter() - started
            error = np.max(np.abs(fast - slow) / np.abs(slow).clip(1e-12))
            print(f"one {kind} subject: loop {loop_seconds:.1f} s, vectorized with {threads} thread(s) "
                  f"{fast_seconds:.2f} s, speed-up {loop_seconds / fast_seconds:.1f}x (target 10x), "
                  f"max relative difference {error:.1e} (target 1e-6)")  # fmt: skip
        del data, eeg, slow, fast

        files = deap.subject_files(folder)
        started = time.perf_counter()
        for path in files:
            deap.read_subject(path)
        read_seconds = time.perf_counter() - started
        eeg_features.cache_path(folder).unlink(missing_ok=True)
        started = time.perf_counter()
        with TreeMemory() as tree:
            features, ratings = eeg_features.preprocess_folder(folder, workers=2, progress=True)
        total = time.perf_counter() - started
        started = time.perf_counter()
        eeg_features.preprocess_folder(folder, progress=False)
        cached = time.perf_counter() - started
        own, children = peak_memory_gib()
        print(f"all {len(files)} {kind} subjects -> features {features.shape}: {total:.1f} s with 2 workers, "
              "reading included (target: under 30 s for the features once the files are read)")  # fmt: skip
        print(f"reading the {len(files)} files alone, one process: {read_seconds:.1f} s")
        print(f"peak memory while preprocessing, all processes together: {tree.peak / 2**30:.2f} GiB "
              f"(target < 2 GiB); per process over the whole benchmark: main {own:.2f} GiB, "
              f"largest worker {children:.2f} GiB")  # fmt: skip
        print(f"second run from the cache: {cached:.2f} s")
    finally:
        if temporary is not None:
            eeg_features.cache_path(folder).unlink(missing_ok=True)
            shutil.rmtree(temporary, ignore_errors=True)


if __name__ == "__main__":
    main()
