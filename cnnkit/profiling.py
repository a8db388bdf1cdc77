"""Measured cost on this machine: inference latency, and a table of models' size, arithmetic and
latency (notebook 07, ``bench/model_latency.py``)."""

from __future__ import annotations

import math
import time

import keras
import numpy as np
import pandas as pd

from cnnkit.arithmetic import mult_adds


def inference_latency(model: keras.Model, batch_size: int = 1, repeats: int = 3) -> float:
    """Median seconds of one inference-mode forward pass of a ``batch_size`` batch of zeros.

    The pass is compiled (:func:`cnnkit.backends.compiled_inference`: ``tf.function``,
    ``jax.jit``), traced and run once before the ``repeats`` timed passes, so tracing and
    first-call set-up are not counted. Measures this machine: CPU or GPU, whatever the backend
    places the model on.
    """
    from cnnkit import backends

    if batch_size < 1 or repeats < 1:
        raise ValueError(f"batch_size and repeats must be >= 1, got {batch_size} and {repeats}.")
    shape = tuple(model.input.shape[1:])
    if None in shape:
        raise ValueError(f"{model.name} has a variable input shape {shape}; build it with a fixed one.")
    forward = backends.compiled_inference(model)
    images = np.zeros((batch_size, *shape), dtype=model.input.dtype)
    keras.ops.convert_to_numpy(forward(images))  # trace and warm up
    times = []
    for _ in range(repeats):
        started = time.perf_counter()
        keras.ops.convert_to_numpy(forward(images))  # waits for the device
        times.append(time.perf_counter() - started)
    return float(np.median(times))


def cost_table(names, batch_sizes=(1, 32), repeats: int = 3, time_up_to: float | None = None) -> pd.DataFrame:
    """Cost of registry models at their default input: one row per name, indexed by model.

    Columns: ``year``, ``input`` (``"224x224x3"``), ``parameters``, ``mult_adds`` (per image,
    :func:`mult_adds`) and ``ms_batch_<b>`` for each of ``batch_sizes`` (milliseconds per
    batch, :func:`inference_latency`). ``time_up_to``: time only the models with at most this
    many multiply-adds (default: all); the others get NaN latencies. Each model is built,
    measured and released before the next.
    """
    from cnnkit.models import build, get_spec

    rows = []
    for name in names:
        spec, model = get_spec(name), build(name)
        row = {"model": name, "year": spec.year, "input": "x".join(str(s) for s in model.input.shape[1:]),
               "parameters": model.count_params(), "mult_adds": mult_adds(model)}  # fmt: skip
        timed = time_up_to is None or row["mult_adds"] <= time_up_to
        for batch_size in batch_sizes:
            seconds = inference_latency(model, batch_size, repeats) if timed else math.nan
            row[f"ms_batch_{batch_size}"] = 1000 * seconds
        rows.append(row)
        del model
        keras.backend.clear_session(free_memory=True)
    return pd.DataFrame(rows).set_index("model")
