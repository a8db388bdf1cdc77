"""pytest-xdist runs the suite only when every worker collected the same tests under the same
names. A parameter whose value changes with the clock (gzip bytes: their header holds the time)
named one test differently in each worker, and the README's test command stopped at collection.
Two collections, more than a second apart, must list the same test ids in the same order."""

import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).parent.parent


def collected_ids() -> list[str]:
    done = subprocess.run(
        [sys.executable, "-m", "pytest", "--collect-only", "-q", "-p", "no:xdist", "-p", "no:cacheprovider",
         "-o", "addopts=", "tests"],
        cwd=ROOT, capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-2000:]
    return [line for line in done.stdout.splitlines() if "::" in line]


def test_two_collections_a_second_apart_name_the_same_tests():
    first = collected_ids()
    time.sleep(1.1)  # gzip's header time has a resolution of one second
    second = collected_ids()
    assert len(first) > 700 and first == second, sorted(set(first) ^ set(second))[:5]
