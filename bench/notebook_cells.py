"""Benchmark: where a notebook's time goes. Runs one notebook top to bottom as the test suite does (quick or
smoke mode, the backend a learner would pick, every framework on one thread as under ``-n 2``) and prints
each code cell's seconds, slowest first, with the cell's first line and its share of the run.

    python bench/notebook_cells.py 11_sequences                     # quick mode, TensorFlow
    python bench/notebook_cells.py 02_alexnet --backend jax
    python bench/notebook_cells.py 07_cnn_family --mode smoke       # smoke mode's files written first
"""

from __future__ import annotations

import argparse
import datetime
import os
import platform
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
from tests.test_notebooks import TENSORFLOW  # noqa: E402  (the set-up cell's backend line)
from tests.threads import ONE_THREAD  # noqa: E402


def cell_seconds(cell) -> float:
    """Seconds from the kernel starting a cell to its reply (nbclient records both times)."""
    timing = cell.metadata.get("execution", {})
    started, replied = timing.get("iopub.execute_input"), timing.get("shell.execute_reply")
    if not (started and replied):
        return 0.0
    parse = datetime.datetime.fromisoformat
    return (parse(replied.replace("Z", "+00:00")) - parse(started.replace("Z", "+00:00"))).total_seconds()


def main(argv=None) -> int:
    import nbformat
    from nbclient import NotebookClient

    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("notebook", help="a notebook's name without .ipynb, e.g. 11_sequences")
    parser.add_argument("--mode", choices=("quick", "smoke"), default="quick")
    parser.add_argument("--backend", choices=("tensorflow", "jax", "torch"), default="tensorflow")
    parser.add_argument("--top", type=int, default=12, help="how many cells to list (default 12)")
    arguments = parser.parse_args(argv)
    path = ROOT / "notebooks" / f"{arguments.notebook}.ipynb"
    scratch = Path(tempfile.mkdtemp(prefix="notebook-cells-"))
    os.environ.update(ONE_THREAD)
    os.environ.update(TF_CPP_MIN_LOG_LEVEL="2", CNNKIT_OFFLINE="1", CNNKIT_DATA=str(scratch / "data"))
    os.environ.pop("KERAS_BACKEND", None)
    os.environ.pop("CNNKIT_QUICK" if arguments.mode == "smoke" else "CNNKIT_SMOKE", None)
    os.environ["CNNKIT_SMOKE" if arguments.mode == "smoke" else "CNNKIT_QUICK"] = "1"
    if arguments.mode == "smoke":
        from tests.dataset_files import write_smoke_files

        write_smoke_files(scratch)
        os.environ["KERAS_HOME"] = str(scratch / "keras")
    notebook = nbformat.read(path, as_version=4)
    setup = next(cell for cell in notebook.cells if cell.cell_type == "code")
    setup.source = setup.source.replace(TENSORFLOW, f'BACKEND = "{arguments.backend}"')
    started = time.perf_counter()
    NotebookClient(notebook, timeout=1800, kernel_name="python3",
                   resources={"metadata": {"path": str(path.parent)}}).execute()  # fmt: skip
    total = time.perf_counter() - started
    cells = [(cell_seconds(cell), number, cell.source) for number, cell in
             enumerate((c for c in notebook.cells if c.cell_type == "code"), 1)]  # fmt: skip
    where = f"{platform.machine()}, {os.cpu_count()} CPU cores, one thread"
    run = f"{path.stem}, {arguments.mode} mode, {arguments.backend}"
    print(f"{where}; {run}: {total:.0f} s in all (kernel start included)")
    for seconds, number, source in sorted(cells, reverse=True)[: arguments.top]:
        first = next((line for line in source.splitlines() if line.strip() and not line.startswith("#")), "")
        print(f"{seconds:7.1f} s {seconds / total:6.1%}  cell {number:2d}: {first[:80]}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
