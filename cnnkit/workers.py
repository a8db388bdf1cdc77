"""Work spread over worker processes, only where starting them is safe.

cnnkit's workers are *spawned* (a fresh interpreter each; forking a process that may run TensorFlow is
unsafe). A spawned worker first imports the main module again. In Jupyter, in ``python -m ...`` and in a
script whose work sits under ``if __name__ == "__main__":`` that is harmless; in a plain script
without that guard, which is what most people write first, each worker would run the whole script again
and Python stops it with ``RuntimeError`` (a ``BrokenProcessPool`` in the parent). :func:`map_in_workers`
looks at the main script first and, when the guard is missing, does the same work in this process.
"""

from __future__ import annotations

import ast
import multiprocessing
import sys
from concurrent.futures import ProcessPoolExecutor


def spawn_is_safe() -> bool:
    """True when spawned workers can import the main module without running its work: no main script
    (Jupyter, an interactive session), a module run with ``-m``, or a script whose top level has an
    ``if __name__ == "__main__":`` block."""
    main = sys.modules.get("__main__")
    path = getattr(main, "__file__", None)
    if main is None or path is None or getattr(main, "__spec__", None) is not None:
        return True
    try:
        with open(path, encoding="utf-8") as stream:
            tree = ast.parse(stream.read())
    except (OSError, SyntaxError, UnicodeDecodeError, ValueError):
        return False  # a main script we cannot read: do not bet on it
    return any(isinstance(node, ast.If) and _is_main_guard(node.test) for node in tree.body)


def _is_main_guard(test) -> bool:
    """``__name__ == "__main__"`` (either way round)."""
    if not (isinstance(test, ast.Compare) and len(test.ops) == 1 and isinstance(test.ops[0], ast.Eq)):
        return False
    sides = [test.left, test.comparators[0]]
    names = [side.id for side in sides if isinstance(side, ast.Name)]
    texts = [side.value for side in sides if isinstance(side, ast.Constant)]
    return names == ["__name__"] and texts == ["__main__"]


def map_in_workers(function, *iterables, workers: int):
    """``map(function, *iterables)`` as a generator of results in order, computed by up to ``workers``
    spawned processes when there is more than one item and :func:`spawn_is_safe`, else in this process
    (the same results). ``function`` must be importable by name (a module-level function, or a
    ``functools.partial`` of one)."""
    jobs = list(zip(*iterables, strict=True))
    if workers > 1 and len(jobs) > 1 and spawn_is_safe():
        context = multiprocessing.get_context("spawn")  # no fork of a process that may run TensorFlow
        with ProcessPoolExecutor(max_workers=min(workers, len(jobs)), mp_context=context) as pool:
            yield from pool.map(function, *zip(*jobs, strict=True))
    else:
        for job in jobs:
            yield function(*job)
