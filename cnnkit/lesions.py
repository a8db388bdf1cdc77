"""Model surgery for the lesion experiments of Veit, Wilber and Belongie (2016): delete a block
of a trained network at test time and measure what is left.

- :func:`bypass`: a model with the layers of one block removed (weights shared, nothing copied).
- :func:`blocks`: the blocks of a cnnkit ResNet or plain network that keep their input's shape.
- :func:`lesion_study`: test accuracy with each block deleted in turn.
- :func:`recompose`: the network with its blocks in another order, or some of them left out;
  :func:`multi_lesion_study` (several blocks deleted at once) and :func:`reorder_study`
  (blocks swapped) measure what that costs.
- :func:`path_lengths` and :func:`gradient_by_path_length`: the paper's "unraveled view". A
  residual network of ``n`` blocks is a collection of ``2^n`` paths (each block either taken or
  skipped), whose lengths follow a binomial distribution; the gradient a path carries shrinks
  with its length, so the training signal comes from the short paths.

Images are ``(batch, height, width, channels)`` float32 arrays; inference mode throughout.
"""

from __future__ import annotations

import keras
import numpy as np
import pandas as pd
from keras import ops
from scipy import special, stats

from cnnkit import backends
from cnnkit.attribution import image_batch, layer_named
from cnnkit.models.losses import predicted_classes


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


def first_layer(model: keras.Model, block: str) -> str:
    """The layer that receives ``block``'s input: ``<block>_preact_bn`` in a pre-activation
    block, else ``<block>_1_conv``."""
    names = {layer.name for layer in model.layers}
    return f"{block}_preact_bn" if f"{block}_preact_bn" in names else f"{block}_1_conv"


def blocks(model: keras.Model) -> list[str]:
    """The blocks of a cnnkit ResNet or plain network (``conv2_block1``, ...) that keep their
    input's shape, so :func:`lesion_study` can delete them; the down-sampling blocks are left out."""
    return [block for block in all_blocks(model) if tuple(model.get_layer(first_layer(model, block)).input.shape)
            == tuple(model.get_layer(f"{block}_out").output.shape)]  # fmt: skip


def lesion_study(model: keras.Model, images, labels, block_names=None, batch_size: int = 256) -> pd.DataFrame:
    """Test accuracy of ``model`` with each block deleted in turn (:func:`bypass` from
    the block's first layer (:func:`first_layer`) to ``<block>_out``).

    ``block_names`` defaults to :func:`blocks`. Columns: ``deleted`` (``"none"`` first, the
    intact model), ``accuracy`` on ``images`` ``(n, h, w, c)`` with integer ``labels`` ``(n,)``.
    """
    images, labels = _checked(images, labels)
    rows = [{"deleted": "none", "accuracy": _accuracy(model, images, labels, batch_size)}]
    for name in block_names if block_names is not None else blocks(model):
        lesioned = bypass(model, first_layer(model, name), f"{name}_out")
        rows.append({"deleted": name, "accuracy": _accuracy(lesioned, images, labels, batch_size)})
    return pd.DataFrame(rows)


def all_blocks(model: keras.Model) -> list[str]:
    """Every block of a cnnkit ResNet or plain network in order (``conv2_block1``, ...), the
    down-sampling ones included: the pieces :func:`recompose` puts together."""
    names = {layer.name for layer in model.layers}
    return [name[: -len("_out")] for name in (layer.name for layer in model.layers)
            if name.endswith("_out") and "_block" in name and f"{name[: -len('_out')]}_1_conv" in names]  # fmt: skip


def recompose(model: keras.Model, order) -> keras.Model:
    """``model`` with its blocks run in ``order`` (names from :func:`all_blocks`; leaving a
    block out deletes it, listing one twice repeats it). The stem before the first block and the
    head after the last are kept; weights are shared (nothing is copied). Every block must
    receive the shape it was built for: a block that keeps its shape can go anywhere in its
    stage, a down-sampling block only where the grid it expects arrives.
    """
    every = all_blocks(model)
    unknown = [name for name in order if name not in every]
    if unknown:
        raise ValueError(f"{model.name} has no block {unknown[0]!r}; its blocks are {every}.")
    start = lambda name: layer_named(model, first_layer(model, name)).input  # noqa: E731
    end = lambda name: layer_named(model, f"{name}_out").output  # noqa: E731
    stem = keras.Model(model.input, start(every[0]), name=f"{model.name}_stem")
    head = keras.Model(end(every[-1]), model.output, name=f"{model.name}_head")
    inputs = keras.Input(shape=model.input.shape[1:], name="image")
    x = stem(inputs)
    for name in order:
        if tuple(x.shape[1:]) != tuple(start(name).shape[1:]):
            raise ValueError(f"{name} expects {tuple(start(name).shape[1:])} but would receive {tuple(x.shape[1:])} "
                             "in this order; move only blocks that keep their shape, within their stage.")  # fmt: skip
        x = keras.Model(start(name), end(name), name=name)(x)
    if tuple(x.shape[1:]) != tuple(end(every[-1]).shape[1:]):
        raise ValueError(f"the head expects {tuple(end(every[-1]).shape[1:])} but this order ends with "
                         f"{tuple(x.shape[1:])}: keep the down-sampling blocks.")  # fmt: skip
    return keras.Model(inputs, head(x), name=f"{model.name}_recomposed")


def _checked(images, labels) -> tuple[np.ndarray, np.ndarray]:
    images, labels = image_batch(images), np.asarray(labels)
    if len(images) != len(labels):
        raise ValueError(f"{len(images)} images but {len(labels)} labels.")
    return images, labels


def _accuracy(network, images, labels, batch_size=256) -> float:
    predicted = np.concatenate([predicted_classes(network, backends.forward(network, images[i:i + batch_size]))
                                for i in range(0, len(images), batch_size)])  # fmt: skip
    return float(np.mean(predicted == labels))


def multi_lesion_study(model: keras.Model, images, labels, counts, trials: int = 5, seed: int = 0) -> pd.DataFrame:
    """Test accuracy with ``k`` blocks deleted at once, for each ``k`` of ``counts``: ``trials``
    random sets of ``k`` of the :func:`blocks` that keep their shape (all distinct sets when there
    are fewer). Veit et al., Figure 5: a ResNet's error rises smoothly with the number deleted.
    Columns: ``deleted_count``, ``deleted`` (names joined by ``+``; ``"none"`` for k = 0),
    ``accuracy``."""
    images, labels = _checked(images, labels)
    deletable, every = blocks(model), all_blocks(model)
    rng = np.random.default_rng(seed)
    rows = []
    for k in counts:
        if not 0 <= k <= len(deletable):
            raise ValueError(f"cannot delete {k} blocks: {model.name} has {len(deletable)} that keep their shape.")
        chosen = set()
        for _ in range(trials * 10):
            chosen.add(tuple(sorted(rng.choice(len(deletable), size=k, replace=False))))
            if len(chosen) == trials:
                break
        for subset in sorted(chosen):
            names = [deletable[i] for i in subset]
            network = recompose(model, [b for b in every if b not in names])
            rows.append({"deleted_count": k, "deleted": "+".join(names) or "none",
                         "accuracy": _accuracy(network, images, labels)})  # fmt: skip
    return pd.DataFrame(rows)


def reorder_study(model: keras.Model, images, labels, swaps, trials: int = 5, seed: int = 0) -> pd.DataFrame:
    """Test accuracy with the blocks reordered: for each count of ``swaps``, ``trials`` orders
    made by that many random swaps of two blocks of the same stage that keep their shape (Veit
    et al., Figure 6). Columns: ``swaps``, ``order`` (block names joined by ``>``),
    ``displaced`` (blocks not at their own place), ``accuracy``."""
    images, labels = _checked(images, labels)
    every, movable = all_blocks(model), set(blocks(model))
    stage = lambda name: name.split("_block")[0]  # noqa: E731
    pairs = [(a, b) for i, a in enumerate(every) for b in every[i + 1:]
             if a in movable and b in movable and stage(a) == stage(b)]  # fmt: skip
    if not pairs:
        raise ValueError(f"{model.name} has no two blocks of one stage that keep their shape: nothing to swap.")
    rng = np.random.default_rng(seed)
    rows = []
    for count in swaps:
        for _ in range(trials if count else 1):
            order = list(every)
            for index in rng.integers(0, len(pairs), size=count):
                a, b = pairs[index]
                i, j = order.index(a), order.index(b)
                order[i], order[j] = order[j], order[i]
            rows.append({"swaps": count, "order": ">".join(order),
                         "displaced": sum(a != b for a, b in zip(order, every, strict=True)),
                         "accuracy": _accuracy(recompose(model, order), images, labels)})  # fmt: skip
    return pd.DataFrame(rows)


def path_lengths(n: int) -> pd.DataFrame:
    """The paths through ``n`` residual blocks by length: ``C(n, k)`` paths pass through ``k``
    residual branches (and skip the other ``n - k``), ``2^n`` in all; the share of length ``k``
    is Binomial(n, 1/2) (Veit et al., Section 4 and Figure 6a). Columns: ``length``, ``paths``,
    ``share``."""
    if n < 1:
        raise ValueError(f"n must be at least 1, got {n}.")
    lengths = np.arange(n + 1)
    return pd.DataFrame({"length": lengths, "paths": [special.comb(n, k, exact=True) for k in lengths],
                         "share": stats.binom.pmf(lengths, n, 0.5)})  # fmt: skip


@keras.saving.register_keras_serializable(package="cnnkit")
class PathGate(keras.layers.Layer):
    """``shortcut + residual`` whose backward pass takes one branch only: the residual branch
    when ``through_residual`` is 1, the shortcut when 0 (the forward value is unchanged). Set
    ``through_residual`` on every block to let the gradient follow one path
    (:func:`gradient_by_path_length`)."""

    def build(self, input_shape):
        self.through_residual = self.add_weight(shape=(), initializer="ones", trainable=False,
                                                name="through_residual")  # fmt: skip

    def call(self, inputs):
        shortcut, residual = inputs
        m = ops.cast(self.through_residual, residual.dtype)
        frozen = ops.stop_gradient
        return (m * residual + (1 - m) * frozen(residual)) + ((1 - m) * shortcut + m * frozen(shortcut))

    def compute_output_shape(self, input_shape):
        return input_shape[0]


def gradient_by_path_length(model: keras.Model, images, labels, samples: int = 4, seed: int = 0) -> pd.DataFrame:
    """The gradient that paths of each length carry back to the input, measured as Veit et
    al. did (Section 6): the batch goes forward through the whole network; on the way back, for
    ``k`` randomly chosen residual blocks the gradient goes only through the residual branch
    and for the others only through the shortcut. The norm of the input gradient (cross-entropy
    of ``images`` ``(b, h, w, c)`` with integer ``labels``, averaged over ``samples`` draws per
    length) measures what one path of length ``k`` contributes.

    Columns: ``length`` (0 to the number of residual additions ``n``), ``gradient`` (mean input
    gradient norm per image), ``paths`` (``C(n, k)``) and ``total`` (``paths * gradient``: how
    much of the training signal paths of that length carry altogether, the paper's Figure 6c).
    """
    images, labels = _checked(images, labels)
    names = {layer.name for layer in model.layers}
    additions = [f"{name}_add" for name in blocks(model) if f"{name}_add" in names]
    if not additions:
        raise ValueError(f"{model.name} has no residual block that keeps its shape: it has one path only.")
    gates = {}

    def gate_or_same(layer):
        if layer.name in additions:
            gates[layer.name] = PathGate(name=layer.name)
            return gates[layer.name]
        return layer

    gated = keras.models.clone_model(model, clone_function=gate_or_same)
    loss = keras.losses.SparseCategoricalCrossentropy(reduction="sum")
    targets = ops.convert_to_tensor(labels)
    rng = np.random.default_rng(seed)
    n = len(additions)
    rows = []
    for k in range(n + 1):
        norms = []
        for _ in range(samples):
            taken = set(rng.choice(n, size=k, replace=False))
            for index, name in enumerate(additions):
                gates[name].through_residual.assign(1.0 if index in taken else 0.0)
            _, grads = backends.gradient(lambda x: loss(targets, gated(x, training=False)), images)
            norms.append(float(np.mean(np.linalg.norm(grads.reshape(len(images), -1), axis=1))))
        rows.append({"length": k, "gradient": float(np.mean(norms))})
    table = pd.DataFrame(rows).merge(path_lengths(n)[["length", "paths"]], on="length")
    table["total"] = table["paths"] * table["gradient"]
    return table
