"""Model surgery for the lesion experiments of Veit, Wilber and Belongie (2016): delete a block
of a trained network at test time and measure what is left.

- :func:`bypass`: a model with the layers of one block removed (weights shared, nothing copied).
- :func:`blocks`: the blocks of a cnnkit ResNet or plain network that keep their input's shape.
- :func:`lesion_study`: test accuracy with each block deleted in turn.

Images are ``(batch, height, width, channels)`` float32 arrays; inference mode throughout.
"""

from __future__ import annotations

import keras
import numpy as np
import pandas as pd

from cnnkit import backends
from cnnkit.attribution import image_batch, layer_named


def bypass(model: keras.Model, first: str, last: str) -> keras.Model:
    """``model`` with the layers from ``first`` to ``last`` deleted: the tensor that entered
    layer ``first`` goes straight to wherever the output of layer ``last`` went. Weights are
    shared with ``model`` (nothing is copied). The piece must have one input and one output of
    the same shape, and nothing outside it may use what it computes (e.g. a residual block
    from its first convolution to its ``_out`` activation, or a block of a plain network).
    """
    start, end = layer_named(model, first).input, layer_named(model, last).output
    if tuple(start.shape) != tuple(end.shape):
        raise ValueError(f"cannot delete {first}..{last}: it maps {tuple(start.shape)} to {tuple(end.shape)}; "
                         "only blocks that keep the shape can be bypassed.")  # fmt: skip
    head = keras.Model(model.input, start, name=f"{model.name}_head")
    tail = keras.Model(end, model.output, name=f"{model.name}_tail")
    inputs = keras.Input(shape=model.input.shape[1:], name="image")
    return keras.Model(inputs, tail(head(inputs)), name=f"{model.name}_without_{first}_to_{last}")


def blocks(model: keras.Model) -> list[str]:
    """The blocks of a cnnkit ResNet or plain network (``conv2_block1``, ...) that keep their
    input's shape, so :func:`lesion_study` can delete them; the down-sampling blocks are left out."""
    layers = {layer.name: layer for layer in model.layers}
    found = []
    for name, layer in layers.items():
        block = name[: -len("_out")]
        first = layers.get(f"{block}_1_conv")
        if name.endswith("_out") and "_block" in name and first is not None:
            if tuple(first.input.shape) == tuple(layer.output.shape):
                found.append(block)
    return found


def lesion_study(model: keras.Model, images, labels, block_names=None, batch_size: int = 256) -> pd.DataFrame:
    """Test accuracy of ``model`` with each block deleted in turn (:func:`bypass` from
    ``<block>_1_conv`` to ``<block>_out``).

    ``block_names`` defaults to :func:`blocks`. Columns: ``deleted`` (``"none"`` first, the
    intact model), ``accuracy`` on ``images`` ``(n, h, w, c)`` with integer ``labels`` ``(n,)``.
    """
    images, labels = image_batch(images), np.asarray(labels)
    if len(images) != len(labels):
        raise ValueError(f"{len(images)} images but {len(labels)} labels.")

    def accuracy(network):
        predicted = np.concatenate([np.argmax(backends.forward(network, images[i:i + batch_size]), -1)
                                    for i in range(0, len(images), batch_size)])  # fmt: skip
        return float(np.mean(predicted == labels))

    rows = [{"deleted": "none", "accuracy": accuracy(model)}]
    for name in block_names if block_names is not None else blocks(model):
        rows.append({"deleted": name, "accuracy": accuracy(bypass(model, f"{name}_1_conv", f"{name}_out"))})
    return pd.DataFrame(rows)
