"""Look inside a model: a per-layer table and the convolution arithmetic behind it."""

from __future__ import annotations

import math

import keras
import numpy as np
import pandas as pd

from cnnkit.models.layers import EuclideanRBF, PartiallyConnectedConv2D, TrainableSubsampling


def conv_output_size(input_size: int, kernel_size: int, stride: int = 1, padding=0) -> int:
    """Output length of a convolution or pooling window along one axis.

    ``padding`` is the number of zeros added on *each* side, or ``"valid"`` (0) or
    ``"same"`` (Keras' rule: ``ceil(input_size / stride)``). For a number it is the classic
    formula ``floor((W - F + 2P) / S) + 1``.

    >>> conv_output_size(32, 5)            # LeNet-5's C1
    28
    >>> conv_output_size(227, 11, stride=4)  # AlexNet's conv1
    55
    """
    if stride < 1:
        raise ValueError(f"stride must be at least 1, got {stride}.")
    if kernel_size < 1 or input_size < 1:
        raise ValueError(f"sizes must be positive, got input {input_size}, kernel {kernel_size}.")
    if padding == "same":
        return math.ceil(input_size / stride)
    pad = 0 if padding == "valid" else int(padding)
    if pad < 0:
        raise ValueError(f"padding must be 'valid', 'same' or a number >= 0, got {padding!r}.")
    if kernel_size > input_size + 2 * pad:
        raise ValueError(
            f"a {kernel_size}-wide kernel does not fit a {input_size}-wide input with "
            f"padding {pad}: use a smaller kernel or more padding."
        )
    return (input_size - kernel_size + 2 * pad) // stride + 1


def _mult_adds(layer: keras.layers.Layer) -> int:
    """Multiply-accumulate operations of one layer for one example (0 when negligible)."""
    try:
        out_shape = tuple(layer.output.shape[1:])
        in_shape = tuple(layer.input.shape[1:])
    except (AttributeError, ValueError):
        return 0
    out_positions = int(np.prod(out_shape[:-1])) if len(out_shape) > 1 else 1
    if isinstance(layer, keras.layers.DepthwiseConv2D):
        kh, kw = layer.kernel_size
        return out_positions * out_shape[-1] * kh * kw
    if isinstance(layer, keras.layers.Conv2D | keras.layers.Conv1D):
        kernel_area = int(np.prod(layer.kernel_size))
        return out_positions * layer.filters * kernel_area * in_shape[-1] // layer.groups
    if isinstance(layer, PartiallyConnectedConv2D):
        return out_positions * layer.num_connections * int(np.prod(layer.kernel_size))
    if isinstance(layer, keras.layers.Dense):
        return out_positions * in_shape[-1] * layer.units
    if isinstance(layer, TrainableSubsampling):
        return int(np.prod(out_shape))
    if isinstance(layer, EuclideanRBF):
        return layer.units * in_shape[-1]
    return 0


def layer_table(model: keras.Model) -> pd.DataFrame:
    """One row per layer: name, type, output shape, parameters and multiply-adds.

    Columns: ``layer``, ``type``, ``output_shape`` (without the batch axis), ``params``
    (all weights), ``trainable``, ``non_trainable``, ``mult_adds`` (per example; convolutions
    and dense layers, the costs that dominate), ``params_share`` (fraction of all params).
    """
    rows = []
    for layer in model.layers:
        trainable = sum(int(np.prod(w.shape)) for w in layer.trainable_weights)
        non_trainable = sum(int(np.prod(w.shape)) for w in layer.non_trainable_weights)
        try:
            shape = tuple(layer.output.shape[1:])
        except (AttributeError, ValueError):
            shape = None
        rows.append(
            {
                "layer": layer.name,
                "type": type(layer).__name__,
                "output_shape": shape,
                "params": trainable + non_trainable,
                "trainable": trainable,
                "non_trainable": non_trainable,
                "mult_adds": _mult_adds(layer),
            }
        )
    table = pd.DataFrame(rows)
    total = table["params"].sum()
    table["params_share"] = table["params"] / total if total else 0.0
    return table
