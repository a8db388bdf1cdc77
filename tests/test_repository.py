"""The README's promises about the repository itself."""

import re
from pathlib import Path

import pytest

pytestmark = pytest.mark.fast  # runs on both stacks (see pyproject.toml)

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


def declared_requirements() -> set[str]:
    """The distributions ``pip install .`` installs directly (pyproject's dependencies, no extras)."""
    text = (ROOT / "pyproject.toml").read_text()
    block = re.search(r"^dependencies = \[(.*?)^\]", text, re.S | re.M).group(1)
    return {re.match(r"[A-Za-z0-9_.-]+", name).group(0).lower().replace("_", "-")
            for name in re.findall(r'"([^"]+)"', block)}  # fmt: skip


def test_what_the_notebooks_import_is_declared_by_the_package():
    """A learner installs cnnkit into a fresh environment (``pip install .`` plus a kernel): every
    module a notebook imports comes with it, and pandas' ``.style`` brings its jinja2 (issue 21)."""
    import ast
    import importlib.metadata
    import sys

    import nbformat

    providers = importlib.metadata.packages_distributions()
    declared = declared_requirements()
    for path in sorted((ROOT / "notebooks").glob("[0-9][0-9]_*.ipynb")):
        notebook = nbformat.read(path, as_version=4)
        source = "\n".join(cell.source for cell in notebook.cells if cell.cell_type == "code")
        modules = set()
        for node in ast.walk(ast.parse(source)):
            if isinstance(node, ast.Import):
                modules |= {alias.name.split(".")[0] for alias in node.names}
            elif isinstance(node, ast.ImportFrom) and node.level == 0:
                modules.add(node.module.split(".")[0])
        for module in sorted(modules - set(sys.stdlib_module_names) - {"cnnkit", "IPython"}):
            names = {name.lower().replace("_", "-") for name in providers.get(module, [module])}
            assert names & declared, f"{path.name} imports {module}, which pyproject.toml does not declare"
        if ".style" in source:
            assert "jinja2" in declared, f"{path.name} uses DataFrame.style, which needs jinja2"
