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


def _renderer(monkeypatch, notebooks):
    """tools/articles.py as a module, reading its notebooks from ``notebooks``."""
    import importlib.util

    spec = importlib.util.spec_from_file_location("articles_under_test", ROOT / "tools" / "articles.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    monkeypatch.setattr(module, "NOTEBOOKS", notebooks)
    return module


def test_a_damaged_or_timed_out_notebook_is_reported_and_the_others_still_render(tmp_path, monkeypatch, capsys):
    """The renderer stopped at the first notebook that failed other than by a cell's error (a truncated
    .ipynb: a NotJSONError traceback; a cell past --timeout), skipped the rest and index.md (issue 35, 8)."""
    import nbformat

    notebooks = tmp_path / "notebooks"
    notebooks.mkdir()
    good = nbformat.v4.new_notebook(cells=[nbformat.v4.new_markdown_cell("# 02 · A good one"),
                                           nbformat.v4.new_code_cell('BACKEND = "tensorflow"\nprint("ran")'),
                                           nbformat.v4.new_code_cell("import matplotlib.pyplot as plt\n"
                                                                     "plt.plot([1, 2]); plt.show()")])  # fmt: skip
    slow = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell('BACKEND = "tensorflow"\nimport time\n'
                                                                     "time.sleep(30)")])  # fmt: skip
    nbformat.write(good, notebooks / "02_good.ipynb")
    nbformat.write(slow, notebooks / "03_slow.ipynb")
    (notebooks / "01_truncated.ipynb").write_text('{"cells": [{"cell_type": "code", "sour')
    renderer = _renderer(monkeypatch, notebooks)
    out = tmp_path / "docs"
    assert renderer.main(["--out", str(out), "--timeout", "5"]) == 1
    captured = capsys.readouterr()
    assert "rendered: 02_good; failed: 01_truncated, 03_slow" in captured.out
    assert "01_truncated: FAILED (NotJSONError" in captured.err and "03_slow: FAILED (CellTimeoutError" in captured.err
    assert "Traceback" not in captured.err
    text = (out / "02_good.md").read_text()
    assert "[02 · A good one](02_good.md)" in (out / "index.md").read_text()
    # the figure lies in a folder of this render, which the markdown names
    (figure,) = (out / "02_good_files").glob("*/*.png")
    assert f"02_good_files/{figure.parent.name}/{figure.name}" in text


def test_an_article_is_swapped_in_so_that_its_figures_are_always_there(tmp_path, monkeypatch):
    renderer = _renderer(monkeypatch, tmp_path)
    out = tmp_path / "docs"
    renderer.write("04_x", "![](04_x_files/one/a.png)\n", {"04_x_files/one/a.png": b"first"}, out)
    (out / "04_x_files" / "flat.png").write_bytes(b"the older layout")

    def killed(*_args):  # the markdown's rename never happens: as if the process were killed there
        raise KeyboardInterrupt

    monkeypatch.setattr(renderer, "atomic_path", killed)
    with pytest.raises(KeyboardInterrupt):
        renderer.write("04_x", "![](04_x_files/two/a.png)\n", {"04_x_files/two/a.png": b"second"}, out)
    assert (out / "04_x.md").read_text() == "![](04_x_files/one/a.png)\n" and (out / "04_x_files/one/a.png").is_file()
    monkeypatch.undo()
    renderer = _renderer(monkeypatch, tmp_path)
    renderer.write("04_x", "![](04_x_files/three/a.png)\n", {"04_x_files/three/a.png": b"third"}, out)
    assert sorted(p.name for p in (out / "04_x_files").iterdir()) == ["three"]  # earlier renders removed
    assert (out / "04_x_files/three/a.png").read_bytes() == b"third"
