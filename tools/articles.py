"""Render the notebooks as articles: execute each one in a named mode and write it to ``docs/`` as
markdown, with its figures as PNG files and, at the top, the mode, the date, the machine, the
package versions and how long it ran. The articles are committed, so GitHub shows every notebook
with its results; ``mkdocs build`` turns ``docs/`` into a static site (``mkdocs.yml``).

    python tools/articles.py                         # every notebook, quick mode, TensorFlow
    python tools/articles.py --mode full 03_resnet   # one notebook in full mode (on a GPU)
    python tools/articles.py --backend jax

Run it whenever a notebook changes (``tests/test_articles.py`` fails when an article's code no
longer equals its notebook's). An article is replaced only once its notebook has run to the end:
a notebook that fails (a cell's error, a cell past ``--timeout``, a damaged ``.ipynb``) leaves its
previous article in place, the others are still rendered, and the command lists what failed at the
end and exits with status 1. Each article's figures go into a folder of their own render
(``NAME_files/<time>/``) and the markdown is replaced in one rename afterwards, so a kill at any
moment leaves an article whose figures are there.
"""

from __future__ import annotations

import argparse
import datetime
import os
import platform
import re
import shutil
import sys
import tempfile
import time
from importlib import metadata
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
os.environ["CNNKIT_LIGHT_IMPORT"] = "1"  # this process only writes files: no Keras here (the kernels have it)
from cnnkit.files import atomic_path  # noqa: E402

del os.environ["CNNKIT_LIGHT_IMPORT"]  # ... and the kernels it starts import cnnkit in full
NOTEBOOKS = ROOT / "notebooks"
DOCS = ROOT / "docs"
MODES = {"quick": {"CNNKIT_QUICK": "1"}, "smoke": {"CNNKIT_SMOKE": "1"}, "full": {}}
BACKEND_LINE = 'BACKEND = "tensorflow"'  # the set-up cell's one line that chooses the backend


class NotebookProblem(Exception):
    """A notebook that cannot be rendered as it is (not the failure of one of its cells)."""
PACKAGES = ("tensorflow", "keras", "jax", "torch", "numpy", "scikit-learn")
# The Colab badge is an image on Google's servers; offline (and in the site's test) it would be a
# broken image, so articles link to Colab in words.
BADGE = re.compile(r"\[!\[Open In Colab\]\([^)]*\)\]\(([^)]*)\)")


def versions() -> str:
    """``Python 3.11.7, tensorflow 2.21.0, keras 3.15.1, ...`` for the packages installed here."""
    found = [f"Python {platform.python_version()}"]
    for name in PACKAGES:
        try:
            found.append(f"{name} {metadata.version(name)}")
        except metadata.PackageNotFoundError:
            continue
    return ", ".join(found)


def machine() -> str:
    """The processor architecture, CPU count and GPUs (from ``nvidia-smi``, when there is one)."""
    gpus = ""
    if shutil.which("nvidia-smi"):
        import subprocess

        listed = subprocess.run(["nvidia-smi", "--query-gpu=name", "--format=csv,noheader"], capture_output=True,
                                text=True, check=False).stdout.split("\n")  # fmt: skip
        gpus = ", ".join(name.strip() for name in listed if name.strip())
    return f"{platform.machine()}, {os.cpu_count()} CPU cores, " + (f"GPU: {gpus}" if gpus else "no GPU")


def execute(path: Path, mode: str, backend: str, timeout: int):
    """Run the notebook at ``path`` top to bottom in ``mode`` on ``backend``; returns it with its outputs
    and the seconds it took. Raises nbclient's ``CellExecutionError`` (cell and traceback) on failure."""
    import nbformat
    from nbclient import NotebookClient

    notebook = nbformat.read(path, as_version=4)
    setup = next(cell for cell in notebook.cells if cell.cell_type == "code")
    if BACKEND_LINE not in setup.source:
        raise NotebookProblem(f"{path.name}: its set-up cell has no line {BACKEND_LINE!r} to choose the backend with.")
    setup.source = setup.source.replace(BACKEND_LINE, f'BACKEND = "{backend}"')
    # The kernel's environment: this one, with the mode's variable alone, and matplotlib left to draw inline.
    unset = ("CNNKIT_QUICK", "CNNKIT_SMOKE", "MPLBACKEND")
    env = {name: value for name, value in os.environ.items() if name not in unset} | MODES[mode]
    started = time.perf_counter()
    NotebookClient(notebook, timeout=timeout, kernel_name="python3",
                   resources={"metadata": {"path": str(path.parent)}}).execute(env=env)  # fmt: skip
    return notebook, time.perf_counter() - started


TIME = {  # the header's "Time:" line, one part per mode that measures it (smoke mode's time means nothing)
    "quick": re.compile(r"quick mode about \d+ min \([^)]*\)"),
    "full": re.compile(r"full mode (?:about \d+ min \([^)]*\)|not measured yet \([^)]*\))"),
}


def record_time(notebook, path: Path, mode: str, seconds: float, where: str) -> None:
    """Write the time this run took on the machine ``where`` into the header's "Time:" line, in the
    executed notebook (so its article shows it) and in the notebook's file (only that line changes):
    the time lives in one place."""
    import nbformat

    if mode not in TIME:
        return
    said = f"{mode} mode about {max(1, round(seconds / 60))} min ({where}, measured by tools/articles.py)"
    stored = nbformat.read(path, as_version=4)
    for cell in (notebook.cells[0], stored.cells[0]):
        if not TIME[mode].search(cell.source):
            raise NotebookProblem(f"{path.name}: its header has no '**Time:** quick mode about N min (...)' line to update.")
        cell.source = TIME[mode].sub(said, cell.source)
    with atomic_path(path) as temporary:
        nbformat.write(stored, temporary)


def article(notebook, name: str, mode: str, backend: str, seconds: float, where: str,
            render: str) -> tuple[str, dict[str, bytes]]:  # fmt: skip
    """The markdown of one executed notebook and its figures (path under the articles' folder -> PNG
    bytes), the figures in ``NAME_files/RENDER/`` (``render``: a name of this rendering, e.g. its time,
    so that :func:`write` can put them in place before the markdown that names them)."""
    from nbconvert import MarkdownExporter

    body, resources = MarkdownExporter().from_notebook_node(
        notebook, resources={"output_files_dir": f"{name}_files/{render}", "unique_key": name}
    )
    body = BADGE.sub(r"[Open this notebook in Colab](\1)", body)
    title, _, rest = body.partition("\n")
    command = "python tools/articles.py" + ("" if mode == "quick" else f" --mode {mode}") + (
        "" if backend == "tensorflow" else f" --backend {backend}") + f" {name}"  # fmt: skip
    header = (
        f"> **Rendered in {mode} mode** on {datetime.date.today().isoformat()} by `{command}` from "
        f"[notebooks/{name}.ipynb](https://github.com/cnnkit/cnnkit/blob/main/notebooks/{name}.ipynb), "
        f"Keras backend {backend}; it ran in **{seconds:.0f} s**.  \n"
        f"> Machine: {where}.  \n> Packages: {versions()}.\n"
    )
    return f"{title}\n\n{header}{rest}", dict(resources.get("outputs", {}))


def write(name: str, text: str, figures: dict[str, bytes], out: Path) -> None:
    """Put the new article in place of ``out/NAME.md``: its figures first, into their own new folder under
    ``out/NAME_files/`` (written beside it, then renamed in), then the markdown in one rename, then the
    previous renders' figures removed. At every moment ``NAME.md`` names figures that are there."""
    out.mkdir(parents=True, exist_ok=True)
    folders = {Path(relative).parent for relative in figures}
    if len(folders) > 1:
        raise ValueError(f"{name}'s figures lie in several folders: {sorted(map(str, folders))}")
    current = out / folders.pop() if figures else None
    if current is not None:
        current.parent.mkdir(parents=True, exist_ok=True)
        staging = Path(tempfile.mkdtemp(prefix=f".{current.name}.", dir=current.parent))
        try:
            for relative, data in figures.items():
                (staging / Path(relative).name).write_bytes(data)
            staging.rename(current)
        finally:
            shutil.rmtree(staging, ignore_errors=True)
    with atomic_path(out / f"{name}.md") as temporary:
        temporary.write_text(text, encoding="utf-8")
    every = out / f"{name}_files"  # the figures of earlier renders (and files of the older flat layout)
    for old in every.iterdir() if every.is_dir() else ():
        if old == current:
            continue
        if old.is_dir():
            shutil.rmtree(old)
        else:
            old.unlink()


def write_index(out: Path) -> None:
    """``out/index.md``: the site's first page, one line per article found in ``out``, with its mode."""
    lines = ["# cnnkit: the notebooks, run", "",
             "Each notebook of the series, executed top to bottom and rendered with everything it printed and",
             "drew, by `python tools/articles.py`. The line under each title says in which mode it ran (quick:",
             "small data and few epochs on a CPU; full: the configurations the notebooks describe), when, on",
             "which machine and with which packages. The notebooks themselves are in `notebooks/`; open them in",
             "Jupyter or Colab to run them yourself.", "",
             "| Article | Rendered in |", "| --- | --- |"]  # fmt: skip
    for path in sorted(out.glob("[0-9][0-9]_*.md")):
        text = path.read_text(encoding="utf-8")
        title = text.partition("\n")[0].lstrip("# ").strip()
        mode = re.search(r"\*\*Rendered in (\w+) mode\*\* on ([\d-]+)", text)
        rendered = f"{mode.group(1)} mode, {mode.group(2)}" if mode else "?"
        lines.append(f"| [{title}]({path.name}) | {rendered} |")
    with atomic_path(out / "index.md") as temporary:
        temporary.write_text("\n".join(lines) + "\n", encoding="utf-8")


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter)  # fmt: skip
    parser.add_argument("notebooks", nargs="*", help="notebook names (e.g. 01_lenet5); default: all of them")
    parser.add_argument("--mode", choices=sorted(MODES), default="quick")
    parser.add_argument("--backend", choices=("tensorflow", "jax", "torch"), default="tensorflow")
    parser.add_argument("--out", type=Path, default=DOCS, help="folder for the articles (default: docs/)")
    parser.add_argument("--timeout", type=int, default=3600, help="seconds allowed per cell")
    args = parser.parse_args(argv)
    paths = sorted(NOTEBOOKS.glob("[0-9][0-9]_*.ipynb"))
    if args.notebooks:
        wanted = {name.removesuffix(".ipynb") for name in args.notebooks}
        unknown = wanted - {path.stem for path in paths}
        if unknown:
            parser.error(f"no notebook named {', '.join(sorted(unknown))}; choose from {', '.join(p.stem for p in paths)}")
        paths = [path for path in paths if path.stem in wanted]
    failed, rendered, where = [], [], machine()
    for path in paths:
        print(f"{path.stem}: running in {args.mode} mode on {args.backend} ...", flush=True)
        try:
            notebook, seconds = execute(path, args.mode, args.backend, args.timeout)
            seconds = round(seconds)  # whole seconds, as the article prints them: the header's minutes too
            if args.out.resolve() == DOCS.resolve() and args.backend == "tensorflow":  # the articles of record
                record_time(notebook, path, args.mode, seconds, where)
        except Exception as error:  # one notebook's failure, whatever it is, must not stop the others
            print(f"{path.stem}: FAILED ({_what_failed(error)}); its article was left as it was.", file=sys.stderr)
            failed.append(path.stem)
            continue
        render = datetime.datetime.now().strftime("%Y%m%d-%H%M%S")
        text, figures = article(notebook, path.stem, args.mode, args.backend, seconds, where, render)
        write(path.stem, text, figures, args.out)
        rendered.append(path.stem)
        print(f"{path.stem}: {seconds:.0f} s, {len(figures)} figures -> {args.out / (path.stem + '.md')}", flush=True)
    write_index(args.out)
    print(f"rendered: {', '.join(rendered) or 'none'}; failed: {', '.join(failed) or 'none'}")
    return 1 if failed else 0


def _what_failed(error: Exception) -> str:
    """One notebook's failure for the summary: a cell's error with the tail of its traceback, a timeout,
    a damaged file or a notebook problem in one line; anything else with its traceback (a fault in
    this tool or the machine, not in the notebook)."""
    import traceback

    from nbclient.exceptions import CellExecutionError, CellTimeoutError, DeadKernelError
    from nbformat.reader import NotJSONError

    if isinstance(error, CellExecutionError):
        return f"a cell raised an error:\n{str(error)[-2000:]}"
    if isinstance(error, CellTimeoutError | DeadKernelError | NotJSONError | NotebookProblem):
        return f"{type(error).__name__}: {str(error).strip().splitlines()[0] if str(error).strip() else ''}"
    return "".join(traceback.format_exception(error))[-3000:]


if __name__ == "__main__":
    sys.exit(main())
