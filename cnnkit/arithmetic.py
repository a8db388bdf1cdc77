"""Convolution arithmetic you can check: output sizes, receptive fields, a per-layer table of
shapes, parameters and multiply-adds, the cost of one block, and gradient norms per layer.

Measured time lives apart, in :mod:`cnnkit.profiling`."""

from __future__ import annotations

import math

import keras
import numpy as np
import pandas as pd

from cnnkit.models.layers import (
    EuclideanRBF,
    MixedDepthwiseConv2D,
    PartiallyConnectedConv2D,
    TrainableSubsampling,
)


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
    if isinstance(layer, MixedDepthwiseConv2D):  # one depthwise convolution per channel group
        return sum(out_positions * width * k * k for k, width in zip(layer.kernel_sizes, layer.splits, strict=True))
    if isinstance(layer, keras.layers.SeparableConv2D):  # depthwise, then pointwise
        kh, kw = layer.kernel_size
        middle = in_shape[-1] * layer.depth_multiplier
        return out_positions * middle * (kh * kw + layer.filters)
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


def shape_trace(model: keras.Model, batch, layers=None) -> pd.DataFrame:
    """Run a real ``batch`` through ``model`` and report the output shape of each layer, as d2l
    does with ``for layer in net: X = layer(X)`` but for any functional model (branches included).

    ``layers``: names of the layers (or blocks' last layers) to report, in order; default every
    layer after the input. Returns a DataFrame with columns ``layer``, ``type`` and ``output
    shape`` (the batch dimension included, as computed, not as declared).
    """
    chosen = [layer for layer in model.layers if not isinstance(layer, keras.layers.InputLayer)]
    if layers is not None:
        by_name = {layer.name: layer for layer in model.layers}
        missing = [name for name in layers if name not in by_name]
        if missing:
            raise ValueError(f"{model.name} has no layer named {missing}; its layers: {list(by_name)}.")
        chosen = [by_name[name] for name in layers]
    probe = keras.Model(model.input, [layer.output for layer in chosen])
    outputs = keras.tree.flatten(probe(np.asarray(batch, dtype="float32"), training=False))
    return pd.DataFrame({"layer": [layer.name for layer in chosen],
                         "type": [type(layer).__name__ for layer in chosen],
                         "output shape": [tuple(int(d) for d in keras.ops.shape(out)) for out in outputs]})  # fmt: skip


def mult_adds(model: keras.Model) -> int:
    """Multiply-accumulate operations of one forward pass of one example, summed over the layers
    of :func:`layer_table` (grouped, depthwise, separable and mixed convolutions counted by
    their groups). Nested models are counted through their own layers."""
    total = 0
    for layer in model.layers:
        total += mult_adds(layer) if isinstance(layer, keras.Model) else _mult_adds(layer)
    return total


def receptive_fields(layers) -> pd.DataFrame:
    """How far each layer of a stack sees into the input.

    ``layers``: ``(name, kernel_size, stride)`` triples in order (convolutions and pooling).
    For each layer: ``receptive_field`` (input pixels one output unit depends on, per axis)
    and ``jump`` (input pixels between neighbouring outputs), from
    ``r_out = r_in + (kernel - 1) * jump_in`` and ``jump_out = jump_in * stride``.

    >>> receptive_fields([("conv", 3, 1), ("conv", 3, 1)])["receptive_field"].tolist()
    [3, 5]
    """
    field, jump, rows = 1, 1, []
    for name, kernel, stride in layers:
        if kernel < 1 or stride < 1:
            raise ValueError(f"{name}: kernel and stride must be positive, got {kernel} and {stride}.")
        field += (kernel - 1) * jump
        jump *= stride
        rows.append(
            {"layer": name, "kernel": kernel, "stride": stride, "receptive_field": field, "jump": jump}
        )
    return pd.DataFrame(rows)


def dense_vs_conv_parameters(input_shape, units: int, kernel_size: int) -> pd.DataFrame:
    """Parameters of a dense layer and of a convolution fed the same ``(h, w, c)`` input.

    Dense: ``h * w * c * units + units`` (every input to every unit). Convolution with
    ``units`` filters of ``kernel_size x kernel_size``: ``k * k * c * units + units``, shared
    over all positions. With ``kernel_size`` equal to the input size the two are the same
    layer (the classic 4x4x100 -> 512 example).
    """
    h, w, c = input_shape
    if kernel_size > min(h, w):
        raise ValueError(f"kernel_size {kernel_size} is larger than the {h}x{w} input.")
    dense = h * w * c * units + units
    conv = kernel_size * kernel_size * c * units + units
    out = conv_output_size(h, kernel_size), conv_output_size(w, kernel_size)
    return pd.DataFrame(
        [
            {"layer": f"dense {h}x{w}x{c} -> {units}", "parameters": dense, "outputs": units},
            {"layer": f"conv {kernel_size}x{kernel_size}, {units} filters", "parameters": conv,
             "outputs": out[0] * out[1] * units},
        ]
    ).set_index("layer")  # fmt: skip


def gradient_norms(model: keras.Model, images, labels) -> pd.DataFrame:
    """L2 norm of the loss gradient for every convolution and dense kernel, input to output.

    One batch ``images`` ``(b, h, w, c)`` with integer ``labels`` ``(b,)``, sparse categorical
    cross-entropy, training-mode forward pass. Plotted against depth it shows how the training
    signal changes on its way back to the input (vanishing, exploding, or level as in a
    residual network). Columns: ``layer``, ``depth`` (1-based position among the weight
    layers), ``gradient_norm``.
    """
    from cnnkit import backends

    kernels = [layer for layer in model.layers if isinstance(layer, keras.layers.Conv2D | keras.layers.Dense)]
    if not kernels:
        raise ValueError(f"{model.name} has no convolution or dense layer.")
    loss_fn = keras.losses.SparseCategoricalCrossentropy()
    targets = keras.ops.convert_to_tensor(np.asarray(labels))
    grads = backends.weight_gradients(model, lambda outputs: loss_fn(targets, outputs), images)
    position = {id(variable): i for i, variable in enumerate(model.trainable_variables)}
    return pd.DataFrame(
        {
            "layer": [layer.name for layer in kernels],
            "depth": range(1, len(kernels) + 1),
            "gradient_norm": [float(np.linalg.norm(grads[position[id(layer.kernel)]])) for layer in kernels],
        }
    )


def activation_std(model: keras.Model, images, layer_names, training: bool = True) -> pd.DataFrame:
    """Standard deviation of each named layer's output over one batch ``images`` ``(b, h, w, c)``.

    ``training=True`` runs batch norm on the batch's own statistics, as in the first step of
    training (at initialization the moving averages are 0 and 1 and would hide nothing; this
    is the forward pass the optimizer will see). Plotted against depth it shows whether a stack
    of blocks keeps its signal level or lets it grow (e.g. residual blocks without scaling).
    Columns: ``layer``, ``depth`` (1-based, in the order given), ``std``.
    """
    names = list(layer_names)
    if not names:
        raise ValueError("layer_names is empty: name the layers whose outputs to measure.")
    probe = keras.Model(model.inputs, [model.get_layer(name).output for name in names])
    outputs = keras.tree.flatten(probe(np.asarray(images, dtype="float32"), training=training))
    return pd.DataFrame({"layer": names, "depth": range(1, len(names) + 1),
                         "std": [float(np.std(keras.ops.convert_to_numpy(o))) for o in outputs]})  # fmt: skip


def block_cost(block, input_shape) -> dict:
    """Parameters and multiply-adds of one building block, for arithmetic you can check.

    ``block``: a function from a Keras tensor to a Keras tensor (e.g.
    ``lambda x: inception_module(x, 64, 96, 128, 16, 32, 32, name="3a")``), applied to a
    ``keras.Input(input_shape)``. Returns ``{"parameters", "conv_weights" (the kernels of
    the convolutions alone: no biases, no batch norm), "mult_adds" (per example),
    "output_shape"}``.
    """
    inputs = keras.Input(shape=tuple(input_shape))
    model = keras.Model(inputs, block(inputs))
    kernels = [layer for layer in model.layers if isinstance(layer, keras.layers.Conv2D | keras.layers.DepthwiseConv2D
                                                             | keras.layers.SeparableConv2D | MixedDepthwiseConv2D)]  # fmt: skip
    conv_weights = sum(int(np.prod(w.shape)) for layer in kernels for w in layer.weights if "bias" not in w.path)
    return {"parameters": model.count_params(), "conv_weights": conv_weights, "mult_adds": mult_adds(model),
            "output_shape": tuple(model.output.shape[1:])}  # fmt: skip
