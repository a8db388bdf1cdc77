"""Worker processes only where spawning them is safe (cnnkit.workers, issue 35, section 6): a plain script
without ``if __name__ == "__main__":`` loads the synthetic EEG set in its own process, where it died with
RuntimeError / BrokenProcessPool, and the SYNTHETIC marker is written after the files, not before."""

import os
import subprocess
import sys
import textwrap
import types
from pathlib import Path

import pytest

from cnnkit import workers

ROOT = Path(__file__).resolve().parent.parent


@pytest.mark.parametrize(
    "source, safe",
    [("import cnnkit\ncnnkit.load_dataset('deap_synthetic')\n", False),
     ("def main():\n    pass\n\nif __name__ == '__main__':\n    main()\n", True),
     ("if '__main__' == __name__:\n    pass\n", True),
     ("if __name__ != '__main__':\n    pass\n", False),
     ("def f(:\n", False)],
    ids=["no-guard", "guard", "guard-reversed", "not-a-guard", "unreadable"],
)  # fmt: skip
def test_spawn_is_safe_reads_the_main_scripts_guard(source, safe, tmp_path, monkeypatch):
    script = tmp_path / "script.py"
    script.write_text(source)
    main = types.ModuleType("__main__")
    main.__file__, main.__spec__ = str(script), None
    monkeypatch.setitem(sys.modules, "__main__", main)
    assert workers.spawn_is_safe() is safe
    notebook = types.ModuleType("__main__")  # Jupyter's main module has no file
    monkeypatch.setitem(sys.modules, "__main__", notebook)
    assert workers.spawn_is_safe()


def test_a_plain_script_without_a_main_guard_loads_the_synthetic_eeg(tmp_path):
    script = tmp_path / "beginner.py"
    script.write_text(textwrap.dedent(
        """
        from cnnkit.data import load_dataset

        data = load_dataset("deap_synthetic", subjects=2)
        print("train windows:", data.info.num_examples["train"])
        """
    ))  # fmt: skip
    env = {**os.environ, "CNNKIT_DATA": str(tmp_path / "data"), "PYTHONPATH": str(ROOT), "TF_CPP_MIN_LOG_LEVEL": "3"}
    done = subprocess.run([sys.executable, str(script)], capture_output=True, text=True, env=env, timeout=600,
                          cwd=tmp_path)  # fmt: skip
    assert done.returncode == 0, done.stderr[-3000:]
    assert "train windows:" in done.stdout
    folder = tmp_path / "data" / "deap_synthetic"
    assert sorted(p.name for p in folder.glob("s*.dat")) == ["s01.dat", "s02.dat"]
    marker = folder.parent / "deap_synthetic.SYNTHETIC.txt"
    assert marker.stat().st_mtime_ns >= max(p.stat().st_mtime_ns for p in folder.glob("s*.dat"))
