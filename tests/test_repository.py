"""The README's promises about the repository itself."""

import re
from pathlib import Path

ROOT = Path(__file__).parent.parent


def readme_commands():
    return re.findall(r"```bash\n(.+?)\n```", (ROOT / "README.md").read_text())


def test_readme_gives_exactly_two_set_up_commands():
    commands = readme_commands()
    assert commands == [
        "pip install -r requirements.txt && python -m cnnkit train lenet5",
        "pip install -r requirements-dev.txt && python -m pytest",
    ]


def test_ci_runs_exactly_the_readme_test_command():
    ci_lines = (ROOT / ".ci" / "run").read_text().splitlines()
    assert readme_commands()[1] in ci_lines


def test_data_folder_tracks_only_its_readme():
    ignore = (ROOT / ".gitignore").read_text().splitlines()
    assert "data/*" in ignore and "!data/README.md" in ignore


def test_readme_lists_every_notebook():
    readme = (ROOT / "README.md").read_text()
    for notebook in sorted((ROOT / "notebooks").glob("[0-9][0-9]_*.ipynb")):
        assert f"notebooks/{notebook.name}" in readme
