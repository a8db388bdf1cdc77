"""Benchmark: two notebooks in quick mode side by side, as the test suite's two processes run them,
with every process on one thread (tests/threads.py, what tests/conftest.py sets under ``-n 2``) and
with the frameworks' default threads. Prints the wall-clock seconds of each pair and their ratio.

    python bench/thread_pairs.py                        # 01 on JAX beside 03 on TensorFlow
    python bench/thread_pairs.py 00_cnn_fundamentals:tensorflow 06_transfer_learning:jax
"""

from __future__ import annotations

import argparse
import os
import platform
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
from tests.threads import ONE_THREAD  # noqa: E402

RUN_ONE = """
import sys, nbformat
from nbclient import NotebookClient
path, backend = sys.argv[1:]
notebook = nbformat.read(path, as_version=4)
setup = next(cell for cell in notebook.cells if cell.cell_type == "code")
setup.source = setup.source.replace('BACKEND = "tensorflow"', f'BACKEND = "{backend}"')
folder = {"metadata": {"path": path.rsplit("/", 1)[0]}}
NotebookClient(notebook, timeout=1800, kernel_name="python3", resources=folder).execute()
"""


def run_pair(pair: list[tuple[str, str]], environment: dict) -> float:
    """Seconds until both notebooks of ``pair`` (``(name, backend)``) have run, started together."""
    started = time.perf_counter()
    commands = [[sys.executable, "-c", RUN_ONE, str(ROOT / "notebooks" / f"{name}.ipynb"), backend]
                for name, backend in pair]  # fmt: skip
    quiet = {"stdout": subprocess.DEVNULL, "stderr": subprocess.DEVNULL}
    processes = [subprocess.Popen(command, env=environment, **quiet) for command in commands]
    codes = [process.wait() for process in processes]
    if any(codes):
        raise SystemExit(f"a notebook failed (exit codes {codes}); run it alone to see why")
    return time.perf_counter() - started


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("pair", nargs="*", default=["01_lenet5:jax", "03_resnet:tensorflow"],
                        help="two NOTEBOOK:BACKEND (default: 01_lenet5:jax 03_resnet:tensorflow)")
    arguments = parser.parse_args(argv)
    pair = [tuple(item.split(":")) for item in arguments.pair]
    base = {**os.environ, "CNNKIT_QUICK": "1", "CNNKIT_DATA": tempfile.mkdtemp(), "TF_CPP_MIN_LOG_LEVEL": "3"}
    for variable in ONE_THREAD:
        base.pop(variable, None)
    print(f"{platform.machine()}, {os.cpu_count()} CPU cores; pair: {' beside '.join(map(':'.join, pair))}")
    default = run_pair(pair, base)
    print(f"default threads: {default:.0f} s")
    one = run_pair(pair, {**base, **ONE_THREAD})
    print(f"one thread each: {one:.0f} s")
    print(f"ratio default / one thread: {default / one:.2f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
