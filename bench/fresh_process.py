"""Run a benchmark's snippet in a fresh Python on one Keras backend (Keras reads its backend once per
process), and read back the one JSON line it prints. Shared by the benchmarks that compare backends."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def run(code: str, backend: str, *arguments) -> dict | str:
    """Run ``code`` in a fresh Python on ``backend``: its last JSON line, or the error's last line."""
    env = {**os.environ, "KERAS_BACKEND": backend, "PYTHONPATH": str(ROOT), "TF_CPP_MIN_LOG_LEVEL": "3"}
    done = subprocess.run(
        [sys.executable, "-c", code, *map(str, arguments)], capture_output=True, text=True, env=env
    )
    if done.returncode != 0:
        lines = done.stderr.strip().splitlines()
        return f"failed: {lines[-1] if lines else 'exit code ' + str(done.returncode)}"
    return json.loads(done.stdout.strip().splitlines()[-1])


def said(result, describe) -> str:
    """``describe(result)``, or the failure line when the run failed."""
    return result if isinstance(result, str) else describe(result)
