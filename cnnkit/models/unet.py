"""Dense prediction: U-Net, UNet++ and 3D U-Net. Every model here outputs one class distribution per
pixel (or voxel), ``(batch, height, width[, depth], classes)``, instead of one per image.

- **U-Net** (Ronneberger, Fischer and Brox 2015): a contracting path of two unpadded 3x3
  convolutions (ReLU) and a 2x2 max pool per level, 64 -> 1,024 channels; an expanding path of 2x2
  up-convolutions that halve the channels, each followed by the contracting path's map of that level,
  cropped to fit and concatenated, and two 3x3 convolutions; a 1x1 convolution to the classes.
  572x572 in, 388x388 out (the border lost to unpadded convolutions is why the paper tiles large
  images with mirrored context). ``padding="same"`` is the common modern form: output size = input.
- **UNet++** (Zhou, Siddiquee, Tajbakhsh and Liang 2018): the skip connections become nested, dense
  pathways; node X(i, j) (level i, j-th on its pathway) convolves the concatenation of every earlier
  node of its level and the up-convolved X(i+1, j-1). With deep supervision, each of X(0, 1..4) has a
  head, and the trained network can be pruned to the first L levels at inference (the "fast mode").
- **3D U-Net** (Cicek, Abdulkadir, Lienkamp, Brox and Ronneberger 2016): the same idea in volumes,
  3x3x3 convolutions with batch norm before each ReLU, channels doubled *before* each pooling
  (32-64, 64-128, 128-256, 256-512), 2x2x2 up-convolutions, 132x132x116 in, 44x44x28 out.

The size rule (:func:`unet_output_size`) is notebook 00's convolution arithmetic applied level by
level: an unpadded 3x3 convolution takes 2 pixels off a side, a 2x2 pool halves it, and every size
that reaches a pool must be even, or the up-convolutions could not give back the skip's size.
"""

from __future__ import annotations

import keras
import numpy as np
from keras import layers

from cnnkit.arithmetic import conv_output_size
from cnnkit.models.registry import register

UNET_PAPER = ("Ronneberger, Fischer & Brox (2015). U-Net: Convolutional Networks for Biomedical Image "
              "Segmentation. MICCAI 2015")  # fmt: skip
UNET_PLUS_PLUS_PAPER = ("Zhou, Siddiquee, Tajbakhsh & Liang (2018). UNet++: A Nested U-Net Architecture for "
                        "Medical Image Segmentation. DLMIA 2018")  # fmt: skip
UNET3D_PAPER = ("Cicek, Abdulkadir, Lienkamp, Brox & Ronneberger (2016). 3D U-Net: Learning Dense Volumetric "
                "Segmentation from Sparse Annotation. MICCAI 2016")  # fmt: skip


# --- The size rule -------------------------------------------------------------------------------


def unet_output_size(size: int, depth: int = 4, padding: str = "valid", convs: int = 2) -> int:
    """The output side of a U-Net with ``depth`` poolings for an input side of ``size`` pixels.

    Each level applies ``convs`` 3x3 convolutions (``padding`` "valid" or "same") and, on the way down,
    a 2x2 pool; on the way up a 2x2 up-convolution doubles the side. Raises ``ValueError`` when a size
    that reaches a pool is odd or when a convolution would leave nothing.
    """
    if padding not in ("valid", "same"):
        raise ValueError(f"padding must be 'valid' or 'same', got {padding!r}.")

    def convolved(side: int) -> int:
        for _ in range(convs):
            if side < 3 and padding == "valid":
                raise ValueError(f"a 3x3 convolution cannot be applied to a side of {side} pixels.")
            side = conv_output_size(side, 3, padding=padding)
        return side

    side = size
    for level in range(depth):
        side = convolved(side)
        if side % 2:
            raise ValueError(f"the map before pool {level + 1} has an odd side ({side}): the pool would drop a row.")
        side //= 2
    side = convolved(side)
    for _ in range(depth):
        side = convolved(2 * side)
    return side


def valid_unet_sizes(low: int, high: int, depth: int = 4, padding: str = "valid") -> list[int]:
    """Every input side in ``low..high`` that :func:`unet_output_size` accepts."""
    sizes = []
    for size in range(max(1, low), high + 1):
        try:
            unet_output_size(size, depth, padding)
        except ValueError:
            continue
        sizes.append(size)
    return sizes


def check_unet_size(size: int, depth: int = 4, padding: str = "valid") -> int:
    """:func:`unet_output_size`, or a ``ValueError`` that names the nearest valid input sides."""
    try:
        return unet_output_size(size, depth, padding)
    except ValueError as error:
        step = 2**depth
        near = valid_unet_sizes(size - 2 * step, size + 2 * step, depth, padding)
        below = [s for s in near if s < size][-1:]
        above = [s for s in near if s > size][:1]
        raise ValueError(
            f"A U-Net with {depth} poolings and {padding!r} padding cannot take a side of {size} pixels: {error} "
            f"The nearest sides it takes: {', '.join(map(str, below + above))}."
        ) from None


# --- Blocks ----------------------------------------------------------------------------------------


def _conv(ndim: int):
    return layers.Conv2D if ndim == 2 else layers.Conv3D


def conv_block(x, filters, name: str, *, padding: str = "valid", batch_norm: bool = False, ndim: int = 2):
    """Two 3x3 (3x3x3 when ``ndim=3``) convolutions, each followed by a ReLU; with ``batch_norm``,
    batch normalization between each convolution and its ReLU (3D U-Net). ``filters``: one number
    for both, or a pair (3D U-Net doubles the channels in the second)."""
    first, second = (filters, filters) if isinstance(filters, int) else filters
    for index, width in ((1, first), (2, second)):
        x = _conv(ndim)(width, 3, padding=padding, name=f"{name}_conv{index}")(x)
        if batch_norm:
            x = layers.BatchNormalization(name=f"{name}_bn{index}")(x)
        x = layers.ReLU(name=f"{name}_relu{index}")(x)
    return x


def center_crop(skip, target, name: str):
    """``skip`` cropped around its centre to the spatial size of ``target`` (U-Net's copy and crop:
    the contracting path's map is larger than the up-convolved one when the convolutions are unpadded)."""
    spatial = len(skip.shape) - 2
    crops = []
    for axis in range(1, spatial + 1):
        extra = skip.shape[axis] - target.shape[axis]
        if extra < 0:
            raise ValueError(f"{name}: the skip map ({skip.shape}) is smaller than the map it joins ({target.shape}).")
        crops.append((extra // 2, extra - extra // 2))
    if not any(sum(pair) for pair in crops):
        return skip
    crop = layers.Cropping2D if spatial == 2 else layers.Cropping3D
    return crop(tuple(crops), name=name)(skip)


def up_block(x, skip, filters, name: str, *, up_filters: int | None = None, padding: str = "valid",
             batch_norm: bool = False, ndim: int = 2):  # fmt: skip
    """A 2x2 (2x2x2) up-convolution with stride 2 to ``up_filters`` channels (default ``filters``),
    the skip map cropped to its size and concatenated, then :func:`conv_block` with ``filters``."""
    transpose = layers.Conv2DTranspose if ndim == 2 else layers.Conv3DTranspose
    x = transpose(up_filters or filters, 2, strides=2, name=f"{name}_up")(x)
    x = layers.Concatenate(name=f"{name}_concat")([center_crop(skip, x, f"{name}_crop"), x])
    return conv_block(x, filters, name, padding=padding, batch_norm=batch_norm, ndim=ndim)


def _head(x, num_classes: int, name: str, ndim: int = 2):
    """The 1x1 (1x1x1) convolution to one softmax per pixel, in float32 (mixed precision safe)."""
    return _conv(ndim)(num_classes, 1, activation="softmax", dtype="float32", name=name)(x)


def _check_input(input_shape, spatial: int, base_width: int, depth: int, padding: str) -> None:
    """Refuse a width or depth below 1 and any of the ``spatial`` input sides the size rule rejects."""
    if base_width < 1 or depth < 1:
        raise ValueError(f"base_width and depth must be at least 1, got {base_width} and {depth}.")
    for side in input_shape[:spatial]:
        check_unet_size(side, depth, padding)


def contracting_path(x, widths, *, padding: str = "valid", batch_norm: bool = False, ndim: int = 2):
    """For each level's ``widths`` entry (one number, or a pair as in :func:`conv_block`): a
    :func:`conv_block` named ``down<level>``, kept as that level's skip map, then a 2x2 (2x2x2) max
    pool. Returns ``(x, skips)``."""
    pool = layers.MaxPooling2D if ndim == 2 else layers.MaxPooling3D
    skips = []
    for level, width in enumerate(widths, start=1):
        x = conv_block(x, width, f"down{level}", padding=padding, batch_norm=batch_norm, ndim=ndim)
        skips.append(x)
        x = pool(2, name=f"down{level}_pool")(x)
    return x, skips


# --- U-Net -------------------------------------------------------------------------------------------


@register(summary="U-Net as published (unpadded, 572x572 in, 388x388 out), one class per pixel", year=2015,
          paper=UNET_PAPER, parameters=31_030_658, task="segmentation",
          small_build={"input_shape": (44, 44, 1), "base_width": 4, "depth": 2},
          fitted={"mnist_scenes": {"padding": "same", "base_width": 8},
                  "oxford_iiit_pet": {"padding": "same", "base_width": 32}, "PATH": {"padding": "same"}})  # fmt: skip
def unet(input_shape=(572, 572, 1), num_classes=2, padding="valid", base_width=64, depth=4, dropout=0.5):
    """U-Net (see the module docstring). ``base_width`` channels at the first level, doubled at each
    of ``depth`` poolings (64 -> 1,024 as published); ``padding="same"`` keeps the output at the input
    size. ``dropout``: the paper's drop-out at the end of the contracting path (no weights).

    Input ``(height, width, channels)``; output ``(height', width', num_classes)``, a softmax per
    pixel, with ``height'`` from :func:`unet_output_size` (388 for 572 unpadded).
    """
    _check_input(input_shape, 2, base_width, depth, padding)
    inputs = keras.Input(shape=input_shape, name="image")
    x, skips = contracting_path(inputs, [base_width * 2**level for level in range(depth)], padding=padding)
    x = conv_block(x, base_width * 2**depth, "bottom", padding=padding)
    if dropout:
        x = layers.Dropout(dropout, name="bottom_dropout")(x)
    for level in reversed(range(depth)):
        x = up_block(x, skips[level], base_width * 2**level, f"up{level + 1}", padding=padding)
    return keras.Model(inputs, _head(x, num_classes, "predictions"), name="unet")


# --- UNet++ ------------------------------------------------------------------------------------------


@register(summary="UNet++: nested, dense skip pathways, deep supervision and a pruned fast mode", year=2018,
          paper=UNET_PLUS_PLUS_PAPER, parameters=9_041_634, task="segmentation",
          small_build={"input_shape": (16, 16, 1), "base_width": 4, "depth": 2},
          fitted={"mnist_scenes": {"base_width": 16}})  # fmt: skip
def unet_plus_plus(input_shape=(96, 96, 1), num_classes=2, base_width=32, depth=4, deep_supervision=False):
    """UNet++ (see the module docstring) with the paper's widths (32 -> 512) and 'same' padding.

    Node ``x{i}_{j}``: level ``i`` (0 = full resolution), ``j``-th node of its pathway; ``x{i}_0`` is
    the encoder. ``deep_supervision=True``: one head per ``x0_{j}`` (``head_1`` ... ``head_{depth}``)
    and a model with that many outputs; :func:`unet_plus_plus_inference` averages them (the paper's
    accurate mode) or keeps the first ``L`` levels (the fast mode). Otherwise one head on
    ``x0_{depth}``. Input sides must be divisible by ``2**depth``.
    """
    _check_input(input_shape, 2, base_width, depth, "same")
    inputs = keras.Input(shape=input_shape, name="image")
    nodes = {}
    x = inputs
    for i in range(depth + 1):  # the encoder, X(i, 0)
        if i:
            x = layers.MaxPooling2D(2, name=f"x{i - 1}_0_pool")(x)
        x = nodes[i, 0] = conv_block(x, base_width * 2**i, f"x{i}_0", padding="same")
    for j in range(1, depth + 1):  # the nested pathways, X(i, j) for i + j <= depth
        for i in range(depth - j + 1):
            width = base_width * 2**i
            up = layers.Conv2DTranspose(width, 2, strides=2, name=f"x{i}_{j}_up")(nodes[i + 1, j - 1])
            joined = layers.Concatenate(name=f"x{i}_{j}_concat")([*(nodes[i, k] for k in range(j)), up])
            nodes[i, j] = conv_block(joined, width, f"x{i}_{j}", padding="same")
    if deep_supervision:
        heads = [_head(nodes[0, j], num_classes, f"head_{j}") for j in range(1, depth + 1)]
        return keras.Model(inputs, heads, name="unet_plus_plus")
    return keras.Model(inputs, _head(nodes[0, depth], num_classes, "predictions"), name="unet_plus_plus")


def unet_plus_plus_inference(model: keras.Model, mode: str = "accurate", level: int | None = None) -> keras.Model:
    """A one-output model from a deeply supervised UNet++: ``mode="accurate"`` averages every head;
    ``mode="fast"`` keeps ``head_{level}``, and so only the nodes it depends on (levels 0..level):
    the pruned network of the paper, with fewer parameters and less computation."""
    heads = [layer for layer in model.layers if layer.name.startswith("head_")]
    if not heads:
        raise ValueError(f"{model.name} has no deep-supervision heads; build it with deep_supervision=True.")
    if mode == "accurate":
        mean = layers.Average(name="predictions")([head.output for head in heads])
        return keras.Model(model.input, mean, name=f"{model.name}_accurate")
    if mode == "fast":
        if level is None or not 1 <= level <= len(heads):
            raise ValueError(f"the fast mode needs a level in 1..{len(heads)}, got {level!r}.")
        return keras.Model(model.input, model.get_layer(f"head_{level}").output, name=f"{model.name}_l{level}")
    raise ValueError(f"mode must be 'accurate' or 'fast', got {mode!r}.")


# --- 3D U-Net --------------------------------------------------------------------------------------


@register(summary="3D U-Net (3x3x3 convolutions with batch norm, 132x132x116 in, 44x44x28 out)", year=2016,
          paper=UNET3D_PAPER, parameters=19_080_195, takes="volumes", task="segmentation",
          small_build={"input_shape": (44, 44, 44, 1), "base_width": 2, "depth": 2})  # fmt: skip
def unet3d(input_shape=(132, 132, 116, 3), num_classes=3, padding="valid", base_width=32, depth=3):
    """3D U-Net (see the module docstring). Level ``l`` convolves to ``base_width * 2**l`` and then
    twice that (32-64, 64-128, 128-256, and 256-512 at the bottom as published); each up-convolution
    keeps its input's channels and the two convolutions after it take the level's doubled width.

    Input ``(height, width, depth, channels)``; output ``(h', w', d', num_classes)``, a softmax per
    voxel (44x44x28 for the published 132x132x116).
    """
    _check_input(input_shape, 3, base_width, depth, padding)
    inputs = keras.Input(shape=input_shape, name="volume")
    widths = [(base_width * 2**level, 2 * base_width * 2**level) for level in range(depth)]
    x, skips = contracting_path(inputs, widths, padding=padding, batch_norm=True, ndim=3)
    width = base_width * 2**depth
    x = conv_block(x, (width, 2 * width), "bottom", padding=padding, batch_norm=True, ndim=3)
    for level in reversed(range(depth)):
        width = 2 * base_width * 2**level
        x = up_block(x, skips[level], width, f"up{level + 1}", up_filters=x.shape[-1], padding=padding,
                     batch_norm=True, ndim=3)  # fmt: skip
    return keras.Model(inputs, _head(x, num_classes, "predictions", ndim=3), name="unet3d")


def paper_parameter_count_3d(model: keras.Model) -> int:
    """A 3D U-Net's parameters counted as Cicek et al. 2016 count them (19,069,955 for the published
    network, where Keras' ``count_params()`` says 19,080,195): every convolution weight and one offset
    per convolution channel (a bias, or batch norm's shift: the figure cannot tell which), the output
    convolution's bias, no bias on the up-convolutions, and nothing else of batch norm (neither a scale
    nor the moving statistics, which Caffe's BatchNorm layer holds without learning)."""
    total = 0
    for layer in model.layers:
        if isinstance(layer, layers.Conv3DTranspose):
            total += int(np.prod(layer.kernel.shape))
        elif isinstance(layer, layers.Conv3D):
            total += int(np.prod(layer.kernel.shape)) + int(layer.bias.shape[0])
    return total
