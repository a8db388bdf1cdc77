"""How much the notebooks run: full, quick or smoke mode. The only module that reads the mode.

Chosen by environment variables, so the same notebook serves a student on Colab and the tests:

- **full** (neither variable set): the configurations the notebooks describe: full datasets,
  the papers' models and epochs. What a user with a GPU runs.
- **quick** (``CNNKIT_QUICK=1``): the notebooks pick tiny data and few epochs themselves, so that
  each runs in a few minutes on two CPU cores; their printed results are real and their claims are
  tested at that configuration.
- **smoke** (``CNNKIT_SMOKE=1``): the *full* configuration (the same datasets at full size, the
  same models and every code path) with a cut budget, so that CI executes what a Colab user will
  run. The numbers a smoke run prints mean nothing; that it finishes is the test.

A notebook's parameters cell calls :func:`config` once and passes what it returns to cnnkit's
functions explicitly; nothing else in cnnkit reads these variables, so ``train(epochs=30)`` trains
30 epochs whatever the environment says. In smoke mode :func:`config` sets Keras' own debugging
budget, ``keras.config.set_max_epochs(1)`` and ``keras.config.set_max_steps_per_epoch(1)`` (what
``KERAS_MAX_EPOCHS=1 KERAS_MAX_STEPS_PER_EPOCH=1`` would do): every ``fit``, ``evaluate`` and
``predict`` runs one epoch of one batch, and so do cnnkit's own loops over batches
(:func:`cnnkit.evaluation.predict`, :func:`cnnkit.recipes.reestimate_batch_norm`), which stop where
Keras' loops stop. Every step runs eagerly there (:func:`cnnkit.backends.run_eagerly`). Repeated
steps (folds, seeds, subjects, timed passes) go through :meth:`Budget.repeats`.
"""

from __future__ import annotations

from dataclasses import dataclass

from cnnkit.errors import CnnkitError
from cnnkit.settings import flag

QUICK_VARIABLE, SMOKE_VARIABLE = "CNNKIT_QUICK", "CNNKIT_SMOKE"
# Batches per epoch, validation pass and prediction in smoke mode. One: a full-size batch on one CPU thread
# takes seconds, and smoke mode checks that the full configuration runs (data files, shapes, memory), which
# one batch shows; what only several batches exercise (metrics accumulated over batches, a pipeline read on)
# runs in the quick runs and the unit tests (issue 36).
SMOKE_BATCHES = 1
SMOKE_REPEATS = 1  # folds, seeds, subjects or timed passes in smoke mode


def run_mode() -> str:
    """``"full"``, ``"quick"`` (``CNNKIT_QUICK=1``) or ``"smoke"`` (``CNNKIT_SMOKE=1``)."""
    quick, smoke = flag(QUICK_VARIABLE), flag(SMOKE_VARIABLE)  # one rule for on/off (cnnkit.settings)
    if quick and smoke:
        raise CnnkitError(
            f"{QUICK_VARIABLE}=1 and {SMOKE_VARIABLE}=1 are both set: quick mode shrinks the configuration, "
            "smoke mode runs the full one on a cut budget. Unset one of them."
        )
    return "smoke" if smoke else "quick" if quick else "full"


@dataclass(frozen=True)
class Budget:
    """What a notebook may spend: its mode and, in smoke mode, the cuts.

    Attributes:
        mode: ``"full"``, ``"quick"`` or ``"smoke"``.
        max_batches: batches per epoch and per pass over a dataset (``None``: all of them).
        max_epochs: epochs per training run (``None``: as many as asked).
        max_repeats: folds, seeds, subjects or timed passes kept (``None``: all of them).
    """

    mode: str
    max_batches: int | None = None
    max_epochs: int | None = None
    max_repeats: int | None = None

    @property
    def quick(self) -> bool:
        return self.mode == "quick"

    @property
    def smoke(self) -> bool:
        return self.mode == "smoke"

    def repeats(self, items) -> list:
        """``items`` (folds, seeds, subjects, ...) as a list, or only the first ``max_repeats``:
        the code path of a repeated step runs, not every repetition."""
        items = list(items)
        return items if self.max_repeats is None else items[: self.max_repeats]

    def epochs(self, epochs: int) -> int:
        """``epochs``, or at most ``max_epochs``."""
        return epochs if self.max_epochs is None else min(epochs, self.max_epochs)

    def describe(self) -> str:
        """One line for a notebook's parameters cell: which mode runs and what it means."""
        if self.smoke:
            batches = f"{self.max_batches} batch{'es' if self.max_batches > 1 else ''}"
            return (f"smoke mode ({SMOKE_VARIABLE}=1): the full configuration on a cut budget (every "
                    f"training one epoch of {batches} run eagerly, one fold, one seed); "
                    "its numbers mean nothing")
        if self.quick:
            return f"quick mode ({QUICK_VARIABLE}=1): small data and few epochs, to run on a CPU in minutes"
        return "full mode: the configurations described in the text (a GPU is advised)"


def config(apply: bool = True) -> Budget:
    """The budget of this run (:func:`run_mode`), for a notebook's parameters cell.

    With ``apply`` (default), smoke mode also sets Keras' own limits,
    ``keras.config.set_max_epochs`` and ``keras.config.set_max_steps_per_epoch``, so that every
    training run and every pass over a dataset is cut without an argument at each call, and runs
    every step eagerly (:func:`cnnkit.backends.run_eagerly`): one batch does not repay tracing and
    compiling a step. The same layers run on the same shapes; the compiled path runs in quick mode.
    """
    mode = run_mode()
    if mode != "smoke":
        return Budget(mode)
    budget = Budget(mode, max_batches=SMOKE_BATCHES, max_epochs=1, max_repeats=SMOKE_REPEATS)
    if apply:
        import keras

        from cnnkit import backends

        keras.config.set_max_epochs(budget.max_epochs)
        keras.config.set_max_steps_per_epoch(budget.max_batches)
        backends.run_eagerly(True)
    return budget
