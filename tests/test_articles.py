"""The rendered articles in docs/ (``python tools/articles.py``) stay the notebooks' articles: the same
code, a stated mode, date, machine and package versions, every figure on disk, and a README that links
each one (issue 21)."""

import re
import subprocess
import sys
from pathlib import Path

import nbformat
import pytest

pytestmark = pytest.mark.fast  # runs on both stacks (see pyproject.toml)

ROOT = Path(__file__).resolve().parent.parent
NOTEBOOKS = sorted((ROOT / "notebooks").glob("[0-9][0-9]_*.ipynb"))
SHOWN_SOURCE = re.compile(r"# cnnkit/\S+\.py, lines \d+-\d+\n")  # what cnnkit.source.show displays


def python_blocks(text: str) -> list[str]:
    return re.findall(r"^```python\n(.*?)\n```$", text, re.S | re.M)


def article_code(text: str, notebook) -> list[str]:
    """The article's code cells: its python blocks, less those that show cnnkit's source as an output
    and those written in the notebook's own prose (a snippet in a markdown cell)."""
    blocks = [block for block in python_blocks(text) if not SHOWN_SOURCE.match(block + "\n")]
    for cell in notebook.cells:
        if cell.cell_type == "markdown":
            for snippet in python_blocks(cell.source):
                blocks.remove(snippet)
    return blocks


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_each_article_has_its_notebooks_code_and_says_how_it_was_made(path):
    article = ROOT / "docs" / f"{path.stem}.md"
    assert article.exists(), f"no article for {path.name}: run python tools/articles.py {path.stem}"
    text = article.read_text(encoding="utf-8")
    notebook = nbformat.read(path, as_version=4)
    code = [cell.source for cell in notebook.cells if cell.cell_type == "code"]
    assert article_code(text, notebook) == code, f"{article.name} is out of date: run python tools/articles.py {path.stem}"
    header = re.search(r"\*\*Rendered in (quick|smoke|full) mode\*\* on (\d{4}-\d\d-\d\d) .* it ran in \*\*(\d+) s\*\*"
                       r"\.  \n> Machine: (.+)\.  \n> Packages: Python [\d.]+, tensorflow [\d.]+, keras [\d.]+", text)  # fmt: skip
    assert header, f"{article.name} does not say in which mode, when, where and with what it ran"
    for image in re.findall(r"!\[[^\]]*\]\(([^)]+)\)", text):  # every figure it shows is on disk
        assert (article.parent / image).is_file(), f"{article.name} shows {image}, which is missing"
    assert "colab-badge.svg" not in text  # an image on Google's servers; articles link to Colab in words


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_the_time_in_a_notebooks_header_is_the_time_its_article_took(path):
    """The header's "quick mode about N min" is what the quick-mode article measured (within its rounding)."""
    notebook = nbformat.read(path, as_version=4)
    claimed = int(re.search(r"quick mode about (\d+) min", notebook.cells[0].source).group(1))
    text = (ROOT / "docs" / f"{path.stem}.md").read_text(encoding="utf-8")
    mode, seconds = re.search(r"\*\*Rendered in (\w+) mode\*\*.* it ran in \*\*(\d+) s\*\*", text).groups()
    assert mode == "quick"  # until a GPU run renders them in full mode (bench/gpu_report.py)
    assert claimed == max(1, round(int(seconds) / 60)), f"{path.name}'s header says {claimed} min, its article {seconds} s"


def test_readme_links_every_article_and_the_site_command():
    readme = (ROOT / "README.md").read_text()
    for path in NOTEBOOKS:
        assert f"(docs/{path.stem}.md)" in readme
    assert "python tools/articles.py" in readme and "mkdocs build" in readme


def test_the_renderer_refuses_an_unknown_notebook_in_one_line():
    done = subprocess.run([sys.executable, str(ROOT / "tools" / "articles.py"), "09_nothing"], capture_output=True,
                          text=True, timeout=120, cwd=ROOT)  # fmt: skip
    assert done.returncode == 2 and "no notebook named 09_nothing" in done.stderr
