"""One place for randomness: the same seed on CPU gives the same weights, batches and metrics."""

from __future__ import annotations

import keras
import tensorflow as tf


def set_seed(seed: int = 0, deterministic: bool = True) -> None:
    """Seed Python, NumPy, TensorFlow and Keras, and optionally make TF ops deterministic.

    With ``deterministic=True`` TensorFlow picks deterministic kernels
    (``tf.config.experimental.enable_op_determinism``), so two runs with the same seed on
    the same machine give identical metrics. On a GPU this can cost speed; pass ``False``
    there if bit-exact repeats do not matter. Determinism, once enabled, stays on for the
    rest of the process.
    """
    if not isinstance(seed, int) or seed < 0:
        raise ValueError(f"seed must be a non-negative integer, got {seed!r}.")
    keras.utils.set_random_seed(seed)
    if deterministic:
        tf.config.experimental.enable_op_determinism()
