"""Attribution: what a trained CNN responds to, measured rather than guessed.

- :func:`saliency`: the gradient of a class score or of one unit with respect to the input
  pixels, with the backward rule through ReLUs of plain backpropagation, Zeiler and Fergus'
  *deconvnet* (2013) or *guided backpropagation* (Springenberg et al., 2015).
- :func:`grad_cam`: Grad-CAM (Selvaraju et al., 2017), where a class is found on the last
  feature maps.
- :func:`occlusion_map`: ZFNet's occlusion experiment, the class probability with a grey
  square slid over the image.
- :func:`top_activations` and :func:`receptive_field_box`: the image patches that excite one
  channel most, as in ZFNet's Figure 2.
- :func:`aliased_energy`: how much of a strided filter's response lies above the stride's
  Nyquist frequency (ZFNet's diagnosis of AlexNet's 11x11 stride-4 first layer).

Images are ``(batch, height, width, channels)`` float32 arrays, as the model takes them.
Batch normalization and dropout run in inference mode throughout. Deleting blocks (lesions)
is model surgery and lives in :mod:`cnnkit.lesions`.
"""

from __future__ import annotations

import keras
import numpy as np
import pandas as pd

from cnnkit import backends
from cnnkit.models.losses import class_evidence_sign, class_probabilities, predicted_classes

RULES = ("plain", "guided", "deconvnet")


def layer_named(model: keras.Model, name: str) -> keras.layers.Layer:
    """The layer of ``model`` called ``name``; an unknown name fails with the layer names listed."""
    names = [layer.name for layer in model.layers]
    if name not in names:
        raise ValueError(f"{model.name} has no layer {name!r}; its layers are {names}.")
    return model.get_layer(name)


def image_batch(images) -> np.ndarray:
    """``images`` as a float32 ``(batch, height, width, channels)`` array of finite values."""
    images = np.asarray(images, dtype="float32")
    if images.ndim != 4:
        raise ValueError(f"expected a batch of images (batch, height, width, channels), got shape {images.shape}; "
                         "add the batch axis with images[None] for a single image.")  # fmt: skip
    if not np.isfinite(images).all():
        raise ValueError("the images contain NaN or infinite values.")
    return images


def _is_softmax(activation) -> bool:
    return getattr(activation, "__name__", "") == "softmax"


def _score_model(
    model: keras.Model, layer_name: str | None = None
) -> tuple[keras.Model, keras.layers.Layer | None]:
    """A model returning ``[feature map of layer_name (if given), pre-softmax input]`` and the
    softmax Dense layer whose kernel turns that input into class scores (``None`` when the
    second output already is the score)."""
    last = model.layers[-1]
    extra = [] if layer_name is None else [layer_named(model, layer_name).output]
    if isinstance(last, keras.layers.Dense) and _is_softmax(last.activation):
        return keras.Model(model.input, [*extra, last.input]), last
    if isinstance(last, keras.layers.Activation) and _is_softmax(last.activation):
        return keras.Model(model.input, [*extra, last.input]), None
    return keras.Model(model.input, [*extra, model.output]), None


def _scores(dense, penultimate):
    """Class scores before the softmax (the paper's y^c for Grad-CAM)."""
    if dense is None:
        return penultimate
    scores = keras.ops.matmul(keras.ops.cast(penultimate, dense.kernel.dtype), dense.kernel)
    return scores + dense.bias if dense.use_bias else scores


def _class_indices(class_index, predicted: np.ndarray) -> np.ndarray:
    if class_index is None:
        return predicted
    indices = np.broadcast_to(np.asarray(class_index, dtype="int64"), predicted.shape)
    return indices.copy()


def _pick(scores, indices: np.ndarray):
    """``scores[i, indices[i]]`` for every image ``i``."""
    return keras.ops.take_along_axis(scores, keras.ops.convert_to_tensor(indices[:, None]), axis=1)[:, 0]


# --- Gradients through ReLUs: plain, deconvnet, guided -----------------------------------------


# keras.ops.custom_gradient runs on every backend; its backward function receives the incoming
# gradient positionally on TensorFlow and JAX, and as ``upstream=`` on PyTorch.


def guided_relu_gradient(x, upstream):
    """Guided backpropagation's rule at a ReLU (Springenberg et al. 2015): pass the backward
    signal ``upstream`` only where the forward input ``x`` *and* ``upstream`` are positive."""
    return upstream * keras.ops.cast(x > 0, upstream.dtype) * keras.ops.cast(upstream > 0, upstream.dtype)


def deconvnet_relu_gradient(x, upstream):
    """The deconvnet's rule at a ReLU (Zeiler & Fergus 2014): a ReLU applied to the backward
    signal, whatever the forward input ``x`` was (the true gradient passes where ``x > 0``)."""
    return keras.ops.relu(upstream)


@keras.ops.custom_gradient
def _guided_relu(x):
    """ReLU whose backward pass follows :func:`guided_relu_gradient`."""

    def backward(*args, upstream=None):
        return guided_relu_gradient(x, args[0] if upstream is None else upstream)

    return keras.ops.relu(x), backward


@keras.ops.custom_gradient
def _deconvnet_relu(x):
    """ReLU whose backward pass follows :func:`deconvnet_relu_gradient`."""

    def backward(*args, upstream=None):
        return deconvnet_relu_gradient(x, args[0] if upstream is None else upstream)

    return keras.ops.relu(x), backward


def _is_plain_relu(layer) -> bool:
    if isinstance(layer, keras.layers.ReLU):
        config = layer.get_config()
        return (
            config.get("max_value") is None
            and not config.get("negative_slope")
            and not config.get("threshold")
        )
    return getattr(getattr(layer, "activation", None), "__name__", "") == "relu"


def with_relu_rule(model: keras.Model, rule: str) -> keras.Model:
    """A copy of ``model`` (same weights) whose ReLUs back-propagate by ``rule``.

    ``"plain"`` returns ``model`` itself. ``"guided"`` and ``"deconvnet"`` replace every plain
    ReLU (fused into a layer as ``activation="relu"``, or an ``Activation``/``ReLU`` layer);
    capped or leaky ReLUs and other nonlinearities keep their ordinary gradient.
    """
    if rule not in RULES:
        raise ValueError(f"rule must be one of {RULES}, got {rule!r}.")
    if rule == "plain":
        return model
    relu = _guided_relu if rule == "guided" else _deconvnet_relu

    def clone(layer):
        if not _is_plain_relu(layer):
            return layer.__class__.from_config(layer.get_config())
        if isinstance(layer, keras.layers.ReLU | keras.layers.Activation):
            return keras.layers.Activation(relu, name=layer.name)
        config = layer.get_config()
        config["activation"] = relu
        return layer.__class__.from_config(config)

    copy = keras.models.clone_model(model, clone_function=clone)
    copy.set_weights(model.get_weights())
    return copy


def saliency(model: keras.Model, images, *, class_index=None, layer_name: str | None = None,
             channel: int | None = None, position=None, rule: str = "guided") -> np.ndarray:  # fmt: skip
    """The gradient of one target with respect to the input pixels, ``images.shape``.

    Target: without ``layer_name``, the pre-softmax score of ``class_index`` (an int, one per
    image, or ``None`` for the predicted class; for LeNet-5's RBF penalties, minus the penalty). With ``layer_name`` and ``channel``, that
    channel's activation at ``position`` ``(row, col)``, or summed over all positions when
    ``position`` is ``None`` (a ZFNet "projection" of one feature map).

    ``rule`` (see :func:`with_relu_rule`): ``"plain"`` is the true gradient; ``"deconvnet"``
    and ``"guided"`` keep only positive evidence and give the sharper pictures of the papers.
    """
    images = image_batch(images)
    network = with_relu_rule(model, rule)
    if layer_name is None:
        scorer, dense = _score_model(network)
        indices = _class_indices(class_index, predicted_classes(model, backends.forward(model, images)))
        sign = class_evidence_sign(model)

        def target(x):
            return sign * keras.ops.sum(_pick(_scores(dense, scorer(x, training=False)), indices))
    else:
        probe = keras.Model(network.input, layer_named(network, layer_name).output)
        if channel is None:
            raise ValueError("give the channel of layer_name to visualize.")

        def target(x):
            maps = probe(x, training=False)
            if position is None:
                return keras.ops.sum(maps[..., channel])
            return keras.ops.sum(maps[:, position[0], position[1], channel])

    return backends.gradient(target, images)[1]


def gradient_image(gradients) -> np.ndarray:
    """Gradients ``(..., h, w, c)`` scaled for display, as the papers show them: centred on
    grey 0.5 with 0.15 per standard deviation of each image, clipped to [0, 1]."""
    gradients = np.asarray(gradients, dtype="float32")
    axes = tuple(range(gradients.ndim - 3, gradients.ndim))
    centred = gradients - gradients.mean(axis=axes, keepdims=True)
    spread = centred.std(axis=axes, keepdims=True)
    return np.clip(0.5 + 0.15 * centred / np.maximum(spread, 1e-12), 0.0, 1.0)


# --- Grad-CAM -----------------------------------------------------------------------------------


def last_feature_map_layer(model: keras.Model) -> str:
    """The name of the last layer with a ``(batch, h, w, channels)`` output: Grad-CAM's default."""
    for layer in reversed(model.layers[1:]):
        try:
            shape = layer.output.shape
        except (AttributeError, ValueError):
            continue
        if len(shape) == 4 and not isinstance(layer, keras.layers.InputLayer):
            return layer.name
    raise ValueError(f"{model.name} has no layer with (batch, height, width, channels) output.")


def grad_cam(model: keras.Model, images, class_index=None, layer_name: str | None = None) -> np.ndarray:
    """Grad-CAM heat maps ``(batch, h', w')`` in [0, 1] at the feature-map size of ``layer_name``.

    Each channel ``k`` of the feature maps ``A`` gets the weight ``alpha_k``, the spatial mean of
    the gradient of the class score (before the softmax) with respect to ``A_k``; the map is
    ``ReLU(sum_k alpha_k A_k)``, divided by its maximum (an all-zero map stays zero).
    ``class_index``: an int, one per image, or ``None`` for the predicted class. ``layer_name``
    defaults to :func:`last_feature_map_layer`. Enlarge with :func:`resize_heatmaps`.
    """
    images = image_batch(images)
    layer_name = layer_name or last_feature_map_layer(model)
    if len(layer_named(model, layer_name).output.shape) != 4:
        raise ValueError(f"{layer_name} does not output feature maps (batch, h, w, channels).")
    scorer, dense = _score_model(model, layer_name)
    indices = _class_indices(class_index, predicted_classes(model, backends.forward(model, images)))
    # The gradient with respect to the feature maps: the network is cut at layer_name into the
    # part before (maps = front(images)) and the head after it, and the head is differentiated.
    maps = backends.forward(keras.Model(scorer.input, scorer.outputs[0]), images)
    head = _head(scorer, layer_name)
    sign = class_evidence_sign(model)  # a penalty is evidence against its class
    _, gradients = backends.gradient(
        lambda a: sign * keras.ops.sum(_pick(_scores(dense, head(a, training=False)), indices)), maps
    )
    weights = gradients.mean(axis=(1, 2), keepdims=True)  # alpha_k
    heat = np.maximum((weights * maps).sum(axis=-1), 0.0)
    peak = heat.max(axis=(1, 2), keepdims=True)
    return np.where(peak > 0, heat / np.where(peak > 0, peak, 1.0), 0.0).astype("float32")


def _head(scorer: keras.Model, layer_name: str) -> keras.Model:
    """The part of ``scorer`` after ``layer_name``: feature maps in, pre-softmax input out.
    Every path to the output must pass through that layer (a block's output does; a layer
    inside a residual block does not, its shortcut goes around it)."""
    try:
        return keras.Model(scorer.outputs[0], scorer.outputs[1])
    except ValueError as error:
        raise ValueError(
            f"Grad-CAM needs a layer that every path to the output passes through; the shortcut of a residual "
            f"block goes around {layer_name}. Choose a block's output (the default, last_feature_map_layer, is one)."
        ) from error


def resize_heatmaps(heatmaps, size) -> np.ndarray:
    """Heat maps ``(batch, h', w')`` resized bilinearly to ``size`` ``(height, width)``."""
    heatmaps = np.asarray(heatmaps, dtype="float32")[..., None]
    return keras.ops.convert_to_numpy(keras.ops.image.resize(heatmaps, size, interpolation="bilinear"))[..., 0]


# --- Occlusion ----------------------------------------------------------------------------------


def occlusion_map(model: keras.Model, image, class_index: int | None = None, patch: int = 8,
                  stride: int = 4, fill=None, batch_size: int = 64) -> np.ndarray:  # fmt: skip
    """ZFNet's occlusion experiment for one ``image`` ``(h, w, c)``: a ``patch`` x ``patch``
    square of ``fill`` (default: the image's mean per channel, a grey square) is slid over the
    image in steps of ``stride`` pixels, and the model's probability of ``class_index``
    (default: the class predicted for the intact image) is recorded at each placement.

    Returns ``(h, w)``: for every pixel, the mean probability over the placements that cover
    it; low where hiding the pixel hurts. Placements run to the edges (the last one is moved
    back inside), so every pixel is covered.
    """
    image = image_batch(np.asarray(image)[None])[0]
    height, width, channels = image.shape
    if not 1 <= patch <= min(height, width) or stride < 1:
        raise ValueError(
            f"patch must lie in 1..{min(height, width)} and stride be >= 1, got {patch} and {stride}."
        )
    if class_index is None:
        class_index = int(predicted_classes(model, backends.forward(model, image[None]))[0])
    fill = (
        image.mean(axis=(0, 1)) if fill is None else np.broadcast_to(np.asarray(fill, "float32"), (channels,))
    )

    def starts(size):
        return sorted(set(range(0, size - patch + 1, stride)) | {size - patch})

    corners = [(top, left) for top in starts(height) for left in starts(width)]
    probabilities = []
    for first in range(0, len(corners), batch_size):
        batch = np.repeat(image[None], len(corners[first : first + batch_size]), axis=0)
        for copy, (top, left) in zip(batch, corners[first : first + batch_size], strict=True):
            copy[top : top + patch, left : left + patch] = fill
        probabilities.append(class_probabilities(model, backends.forward(model, batch))[:, class_index])
    probabilities = np.concatenate(probabilities)
    total, count = np.zeros((height, width)), np.zeros((height, width))
    for probability, (top, left) in zip(probabilities, corners, strict=True):
        total[top : top + patch, left : left + patch] += probability
        count[top : top + patch, left : left + patch] += 1
    return (total / count).astype("float32")


# --- Top-activating patches and receptive fields -----------------------------------------------

_NEUTRAL = (keras.layers.BatchNormalization, keras.layers.Activation, keras.layers.ReLU, keras.layers.Dropout,
            keras.layers.LayerNormalization)  # fmt: skip


def _geometry(layer, input_size: tuple[int, int]):
    """``(kernel, stride, pad_before)`` per axis of a layer that maps pixels to pixels."""
    if isinstance(layer, keras.layers.ZeroPadding2D):
        return [(1, 1, pad[0]) for pad in layer.padding]
    if isinstance(layer, keras.layers.Cropping2D):
        return [(1, 1, -crop[0]) for crop in layer.cropping]
    kernel = getattr(layer, "kernel_size", None) or getattr(layer, "pool_size", None)
    strides = getattr(layer, "strides", None)
    if kernel is None or strides is None:
        return None
    if any(rate != 1 for rate in getattr(layer, "dilation_rate", (1, 1))):
        raise ValueError(f"{layer.name}: dilated convolutions are not supported.")
    out_size = tuple(layer.output.shape[1:3])
    geometry = []
    for size, out, k, s in zip(input_size, out_size, kernel, strides, strict=True):
        total = max((out - 1) * s + k - size, 0) if layer.padding == "same" else 0
        geometry.append((k, s, total // 2))
    return geometry


def receptive_field_box(model: keras.Model, layer_name: str, row: int, col: int) -> tuple[int, int, int, int]:
    """The input pixels that unit ``(row, col)`` of ``layer_name`` depends on, as
    ``(top, bottom, left, right)`` slice bounds (``image[top:bottom, left:right]``), clipped to
    the image. The layers from the input up to ``layer_name`` must form a chain (each layer
    fed by the one before it); branching networks raise a ValueError.
    """
    target = layer_named(model, layer_name)
    chain, previous = [], model.layers[0]
    for layer in model.layers[1:]:
        if layer.input is not previous.output:
            raise ValueError(
                f"{model.name} branches at {layer.name}: receptive_field_box needs a chain of layers."
            )
        chain.append(layer)
        previous = layer
        if layer is target:
            break
    intervals = [[row, row], [col, col]]
    for layer in reversed(chain):
        size = tuple(layer.input.shape[1:3])
        geometry = _geometry(layer, size)
        if geometry is None:
            if tuple(layer.output.shape[1:3]) != size and not isinstance(layer, _NEUTRAL):
                raise ValueError(f"{layer.name} ({type(layer).__name__}) changes the image size in a way "
                                 "receptive_field_box does not know.")  # fmt: skip
            continue
        for interval, (k, s, pad) in zip(intervals, geometry, strict=True):
            interval[0], interval[1] = interval[0] * s - pad, interval[1] * s - pad + k - 1
    height, width = model.input.shape[1:3]
    (top, bottom), (left, right) = intervals
    return max(top, 0), min(bottom, height - 1) + 1, max(left, 0), min(right, width - 1) + 1


def top_activations(model: keras.Model, layer_name: str, images, channels, k: int = 9,
                    batch_size: int = 256) -> pd.DataFrame:  # fmt: skip
    """For each of ``channels`` of ``layer_name``, the ``k`` images that excite it most (one
    position per image: its strongest), as ZFNet's Figure 2 chose them.

    Columns: ``channel``, ``rank`` (0 = strongest), ``image`` (index into ``images``), ``row``,
    ``col`` (the unit in the feature map), ``activation``.
    """
    images = image_batch(images)
    probe = keras.Model(model.input, layer_named(model, layer_name).output)
    maps = np.concatenate([backends.forward(probe, images[i:i + batch_size])[..., list(channels)]
                           for i in range(0, len(images), batch_size)])  # fmt: skip
    batch, height, width, count = maps.shape
    flat = maps.reshape(batch, height * width, count)
    best_position = flat.argmax(axis=1)  # (batch, channels)
    best_value = flat.max(axis=1)
    rows = []
    for column, channel in enumerate(channels):
        order = np.argsort(-best_value[:, column], kind="stable")[:k]
        for rank, index in enumerate(order):
            row, col = divmod(int(best_position[index, column]), width)
            rows.append({"channel": channel, "rank": rank, "image": int(index), "row": row, "col": col,
                         "activation": float(best_value[index, column])})  # fmt: skip
    return pd.DataFrame(rows)


def crop_patches(model: keras.Model, layer_name: str, images, table: pd.DataFrame) -> list[np.ndarray]:
    """The receptive-field patch of each row of :func:`top_activations` (``image``, ``row``,
    ``col``), cut from ``images``; patches at the border are smaller (clipped)."""
    patches = []
    for entry in table.itertuples():
        top, bottom, left, right = receptive_field_box(model, layer_name, entry.row, entry.col)
        patches.append(np.asarray(images[entry.image])[top:bottom, left:right])
    return patches


# --- Filters and aliasing -----------------------------------------------------------------------


def aliased_energy(kernel, stride: int, grid: int = 64) -> np.ndarray:
    """For each filter of a ``(kh, kw, in, filters)`` convolution kernel, the fraction of its
    spectral energy at frequencies the ``stride`` cannot represent: above the Nyquist frequency
    ``1 / (2 * stride)`` cycles per pixel along either axis. That energy folds back onto lower
    frequencies (aliasing) after the stride's subsampling. ``stride`` 1 gives 0.

    The kernel is zero-padded to ``grid`` x ``grid`` before the FFT; channels are summed.
    """
    kernel = np.asarray(kernel, dtype="float64")
    if kernel.ndim != 4 or kernel.shape[0] > grid or kernel.shape[1] > grid:
        raise ValueError(
            f"expected a (kh, kw, in, filters) kernel no larger than {grid}, got {kernel.shape}."
        )
    if stride < 1:
        raise ValueError(f"stride must be >= 1, got {stride}.")
    power = np.abs(np.fft.fft2(kernel, s=(grid, grid), axes=(0, 1))) ** 2  # (grid, grid, in, filters)
    power = power.sum(axis=2)
    frequency = np.abs(np.fft.fftfreq(grid))
    beyond = (frequency[:, None] > 0.5 / stride) | (frequency[None, :] > 0.5 / stride)
    total = power.sum(axis=(0, 1))
    return np.where(total > 0, power[beyond].sum(axis=0) / np.where(total > 0, total, 1.0), 0.0)
