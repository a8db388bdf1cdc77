"""How much the notebooks (and cnnkit's loops) run: full, quick or smoke mode.

Chosen by environment variables, so the same notebook serves a student on Colab and the tests:

- **full** (neither variable set): the configurations the notebooks describe: full datasets,
  the papers' models and epochs. What a user with a GPU runs.
- **quick** (``CNNKIT_QUICK=1``): the notebooks pick tiny data and few epochs themselves, so that
  each runs in a few minutes on two CPU cores; their printed results are real and their claims are
  tested at that configuration.
- **smoke** (``CNNKIT_SMOKE=1``): the *full* configuration (the same datasets at full size, the
  same models and every code path) with a cut budget, so that CI executes what a Colab user will
  run. cnnkit itself cuts the budget: :func:`cnnkit.train` runs one epoch of at most
  :data:`SMOKE_BATCHES` batches (validation too), :func:`cnnkit.evaluation.predict` reads at most
  :data:`SMOKE_BATCHES` batches, :func:`cnnkit.evaluation.cross_validate` runs one fold,
  :func:`cnnkit.recipes.compare` one seed, :func:`cnnkit.inspect.inference_latency` one timed pass,
  and notebooks pass their repeated loops (subjects, seeds) through :func:`repeats`. The numbers a
  smoke run prints mean nothing; that it finishes is the test.
"""

from __future__ import annotations

import os

from cnnkit.errors import CnnkitError

QUICK_VARIABLE, SMOKE_VARIABLE = "CNNKIT_QUICK", "CNNKIT_SMOKE"
SMOKE_BATCHES = 3  # batches per training epoch, validation pass and evaluation in smoke mode
MODES = ("full", "quick", "smoke")


def run_mode() -> str:
    """``"full"``, ``"quick"`` (``CNNKIT_QUICK=1``) or ``"smoke"`` (``CNNKIT_SMOKE=1``)."""
    quick = os.environ.get(QUICK_VARIABLE, "") == "1"
    smoke = os.environ.get(SMOKE_VARIABLE, "") == "1"
    if quick and smoke:
        raise CnnkitError(
            f"{QUICK_VARIABLE}=1 and {SMOKE_VARIABLE}=1 are both set: quick mode shrinks the configuration, "
            "smoke mode runs the full one on a cut budget. Unset one of them."
        )
    return "smoke" if smoke else "quick" if quick else "full"


def is_smoke() -> bool:
    """True in smoke mode (``CNNKIT_SMOKE=1``)."""
    return run_mode() == "smoke"


def cut(dataset, batches: int = SMOKE_BATCHES):
    """``dataset`` (a batched ``tf.data.Dataset``) as it is, or its first ``batches`` batches in
    smoke mode."""
    return dataset.take(batches) if dataset is not None and is_smoke() else dataset


def smoke_epochs(epochs: int) -> int:
    """``epochs``, or 1 in smoke mode."""
    return min(epochs, 1) if is_smoke() else epochs


def repeats(items, keep: int = 1) -> list:
    """``items`` (folds, seeds, subjects, ...) as a list, or only the first ``keep`` of them in
    smoke mode: the code path of a repeated step runs, not every repetition."""
    items = list(items)
    return items[:keep] if is_smoke() else items


def describe() -> str:
    """One line for a notebook's parameters cell: which mode runs and what it means."""
    mode = run_mode()
    if mode == "smoke":
        return (f"smoke mode ({SMOKE_VARIABLE}=1): the full configuration on a cut budget (every training one "
                f"epoch of at most {SMOKE_BATCHES} batches, one fold, one seed); its numbers mean nothing")  # fmt: skip
    if mode == "quick":
        return f"quick mode ({QUICK_VARIABLE}=1): small data and few epochs, to run on a CPU in minutes"
    return "full mode: the configurations described in the text (a GPU is advised)"
