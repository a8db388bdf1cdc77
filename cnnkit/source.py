"""Show cnnkit's own code on a notebook's page: the notebooks teach a network by displaying the
function that builds it, the very code that ``cnnkit.build`` runs, so the page and the library
cannot disagree (the series' one way of putting code on the page; see the README).

    from cnnkit import source
    from cnnkit.models import lenet
    source.show(lenet.lenet5)

In Jupyter and Colab the code appears as a highlighted block under a line naming its file and
lines; outside a notebook it is printed.
"""

from __future__ import annotations

import inspect
import textwrap
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def text(obj) -> str:
    """``obj``'s source (a function, class or method of cnnkit) under a comment naming where it
    lives, e.g. ``# cnnkit/models/lenet.py, lines 121-160``."""
    lines, first = inspect.getsourcelines(obj)
    path = Path(inspect.getsourcefile(obj)).resolve()
    where = path.relative_to(ROOT).as_posix() if path.is_relative_to(ROOT) else path.name
    code = textwrap.dedent("".join(lines)).rstrip()
    return f"# {where}, lines {first}-{first + len(lines) - 1}\n{code}"


def show(*objects) -> None:
    """Display the source of each of ``objects`` (see :func:`text`) as a Python code block."""
    blocks = "\n\n".join(text(obj) for obj in objects)
    try:
        from IPython import get_ipython
        from IPython.display import Markdown, display
    except ImportError:  # plain Python without IPython
        get_ipython = None
    if get_ipython is None or get_ipython() is None:  # not in a notebook
        print(blocks)
    else:
        display(Markdown(f"```python\n{blocks}\n```"))
