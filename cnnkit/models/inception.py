"""The Inception family: GoogLeNet (2014), BN-Inception (2015), Inception-v3 (2015) and Xception (2016).

- **GoogLeNet / Inception-v1** (Szegedy et al. 2014, Table 1): nine *inception modules*, each
  running 1x1, 3x3 and 5x5 convolutions and a 3x3 max pool side by side and concatenating
  them; 1x1 "reduce" convolutions in front of the 3x3 and 5x5 ones keep the cost down, and
  global average pooling replaces AlexNet's huge dense layers. As published: no batch norm,
  convolutions with biases, LRN after the stem: 6,998,552 parameters with 1,000 classes
  (``aux_logits=True`` adds the two auxiliary classifiers used during training).
- **BN-Inception / Inception-v2** (Ioffe & Szegedy 2015): GoogLeNet with batch normalization
  after every convolution (the paper that introduced it) and each 5x5 convolution replaced by
  two 3x3 ones; 11,295,240 trainable parameters, as the released Caffe model has them.
- **Inception-v3** (Szegedy et al. 2015): batch norm everywhere, a 5x5 convolution as two
  3x3 ones, an n x n one as 1 x n then n x 1 (:func:`factorized_conv`), grid reductions by
  parallel stride-2 branches. Layer for layer keras.applications' InceptionV3
  (23,851,784 parameters), so its weights load into this model.
- **Xception** (Chollet 2016): Inception taken to the limit, every convolution a depthwise
  separable one (:func:`separable_block`), with residual connections. Layer for layer
  keras.applications' Xception (22,910,480 parameters).

Small images (below 64 pixels for GoogLeNet, 75 for Inception-v3) get the CIFAR stem that the
CIFAR versions of these networks use (Inception-v4 and Inception-ResNet: ``inception_resnet.py``): 3x3 convolutions without the early strides and pools,
so a 32x32 image still reaches the inception modules at 32x32.
"""

from __future__ import annotations

import keras
from keras import layers

from cnnkit.models.layers import LocalResponseNormalization
from cnnkit.models.registry import Reported, register


def softmax_classifier(x, num_classes, name="predictions"):
    return layers.Dense(num_classes, activation="softmax", name=name, dtype="float32")(x)


# --- GoogLeNet ------------------------------------------------------------------------------


def inception_module(x, f1, f3_reduce, f3, f5_reduce, f5, pool_proj, name):
    """GoogLeNet's module: four parallel branches concatenated along the channels.

    ``1x1 (f1)`` | ``1x1 (f3_reduce) -> 3x3 (f3)`` | ``1x1 (f5_reduce) -> 5x5 (f5)`` |
    ``3x3 max pool -> 1x1 (pool_proj)``; ReLU after every convolution, 'same' padding.
    Output ``(h, w, f1 + f3 + f5 + pool_proj)``.
    """
    conv = lambda filters, kernel, suffix, inp: layers.Conv2D(  # noqa: E731
        filters, kernel, padding="same", activation="relu", name=f"{name}_{suffix}"
    )(inp)
    branch1 = conv(f1, 1, "1x1", x)
    branch3 = conv(f3, 3, "3x3", conv(f3_reduce, 1, "3x3_reduce", x))
    branch5 = conv(f5, 5, "5x5", conv(f5_reduce, 1, "5x5_reduce", x))
    pooled = layers.MaxPooling2D(3, strides=1, padding="same", name=f"{name}_pool")(x)
    branch_pool = conv(pool_proj, 1, "pool_proj", pooled)
    return layers.Concatenate(name=f"{name}_output")([branch1, branch3, branch5, branch_pool])


# Table 1 of the paper: #1x1, #3x3 reduce, #3x3, #5x5 reduce, #5x5, pool proj.
GOOGLENET_MODULES = {
    "inception_3a": (64, 96, 128, 16, 32, 32),
    "inception_3b": (128, 128, 192, 32, 96, 64),
    "inception_4a": (192, 96, 208, 16, 48, 64),
    "inception_4b": (160, 112, 224, 24, 64, 64),
    "inception_4c": (128, 128, 256, 24, 64, 64),
    "inception_4d": (112, 144, 288, 32, 64, 64),
    "inception_4e": (256, 160, 320, 32, 128, 128),
    "inception_5a": (256, 160, 320, 32, 128, 128),
    "inception_5b": (384, 192, 384, 48, 128, 128),
}


def _auxiliary_head(x, num_classes, name):
    """The paper's auxiliary classifier: 5x5/3 average pool, 1x1 conv 128, fc 1024, dropout 0.7."""
    x = layers.AveragePooling2D(5, strides=3, padding="same", name=f"{name}_pool")(x)
    x = layers.Conv2D(128, 1, activation="relu", name=f"{name}_conv")(x)
    x = layers.Flatten(name=f"{name}_flatten")(x)
    x = layers.Dense(1024, activation="relu", name=f"{name}_fc")(x)
    x = layers.Dropout(0.7, name=f"{name}_dropout")(x)
    return softmax_classifier(x, num_classes, name=f"{name}_predictions")


@register(
    summary="GoogLeNet / Inception-v1 (2014) as published: 9 inception modules, 224x224x3",
    year=2014,
    parameters=6_998_552,
    min_size=16,
    paper="Szegedy et al. 2015, Going deeper with convolutions",
    reported=Reported(top1=71.0, top5=90.8, protocol="Szegedy et al. 2016 (Inception-v3), Table 3: GoogLeNet, 1 crop, top-1 error 29%, top-5 9.2%",
                      headline="ILSVRC 2014 classification winner: top-5 error 6.67% on the test set, 7 models with 144 crops each (Szegedy et al. 2015, Tables 2-3); 22 layers with parameters, '12x fewer parameters' than AlexNet"),
)
def googlenet(input_shape=(224, 224, 3), num_classes: int = 1000, aux_logits: bool = False,
              dropout: float = 0.4, width: float = 1.0) -> keras.Model:  # fmt: skip
    """GoogLeNet (Table 1 of the paper). Outputs on 224x224: stem 56x56x192 -> 3a, 3b 28x28 ->
    4a-4e 14x14 -> 5a, 5b 7x7x1024 -> global average pool -> dropout -> softmax.

    ``aux_logits=True`` returns three outputs ``[main, aux1 (after 4a), aux2 (after 4d)]``,
    which the paper weighted 1, 0.3 and 0.3 in the loss. Images smaller than 64 pixels get a
    single 3x3 convolution (192 filters) as stem, as in the CIFAR versions. ``width`` scales
    every convolution's filters (0.25 for a small GoogLeNet of the same shape).
    """
    if width <= 0:
        raise ValueError(f"width must be positive, got {width}.")
    scale = lambda filters: max(1, round(filters * width))  # noqa: E731
    inputs = keras.Input(shape=input_shape, name="image")
    if min(input_shape[:2]) >= 64:
        x = layers.Conv2D(scale(64), 7, strides=2, padding="same", activation="relu", name="conv1")(inputs)
        x = layers.MaxPooling2D(3, strides=2, padding="same", name="pool1")(x)
        x = LocalResponseNormalization(name="lrn1")(x)
        x = layers.Conv2D(scale(64), 1, activation="relu", name="conv2_reduce")(x)
        x = layers.Conv2D(scale(192), 3, padding="same", activation="relu", name="conv2")(x)
        x = LocalResponseNormalization(name="lrn2")(x)
        x = layers.MaxPooling2D(3, strides=2, padding="same", name="pool2")(x)
    else:
        x = layers.Conv2D(scale(192), 3, padding="same", activation="relu", name="conv1")(inputs)
    auxiliary = []
    for name, filters in GOOGLENET_MODULES.items():
        if name in ("inception_4a", "inception_5a"):  # a grid reduction before stages 4 and 5
            x = layers.MaxPooling2D(3, strides=2, padding="same", name=f"pool_before_{name[-2:]}")(x)
        x = inception_module(x, *map(scale, filters), name=name)
        if aux_logits and name in ("inception_4a", "inception_4d"):
            auxiliary.append(_auxiliary_head(x, num_classes, f"aux{len(auxiliary) + 1}"))
    x = layers.GlobalAveragePooling2D(name="avg_pool")(x)
    x = layers.Dropout(dropout, name="dropout")(x)
    outputs = softmax_classifier(x, num_classes)
    return keras.Model(inputs, [outputs, *auxiliary] if aux_logits else outputs, name="googlenet")


# --- BN-Inception / Inception-v2 -----------------------------------------------------------


def _conv_bias_bn(x, filters, kernel, strides, name, batch_norm):
    """Convolution with a bias -> (batch norm) -> ReLU, as the released Caffe BN-Inception."""
    x = layers.Conv2D(filters, kernel, strides=strides, padding="same", name=f"{name}_conv")(x)
    if batch_norm:
        x = layers.BatchNormalization(epsilon=1e-5, name=f"{name}_bn")(x)
    return layers.Activation("relu", name=name)(x)


def bn_inception_module(x, f1, f3_reduce, f3, d3_reduce, d3, pool, pool_proj, name, strides=1,
                        batch_norm=True):  # fmt: skip
    """BN-Inception's module (Ioffe & Szegedy 2015, Figure 5): GoogLeNet's with the 5x5 branch
    replaced by two 3x3 convolutions ("double 3x3", ``d3`` filters each) and batch norm after
    every convolution. ``1x1 (f1)`` | ``1x1 (f3_reduce) -> 3x3 (f3)`` | ``1x1 (d3_reduce) ->
    3x3 (d3) -> 3x3 (d3)`` | ``3x3 pool ("avg" or "max") -> 1x1 (pool_proj)``. With
    ``strides=2`` (modules 3c and 4e) the grid halves: no 1x1 branch, the last 3x3 of each branch
    strided, and the max-pooled input passed through as it is. Output ``(h / strides,
    w / strides, f1 + f3 + d3 + (pool_proj or the input's channels))``."""
    conv = lambda inp, filters, kernel, suffix, s=1: _conv_bias_bn(  # noqa: E731
        inp, filters, kernel, s, f"{name}_{suffix}", batch_norm
    )
    branches = [conv(x, f1, 1, "1x1")] if f1 else []
    branches.append(conv(conv(x, f3_reduce, 1, "3x3_reduce"), f3, 3, "3x3", strides))
    double = conv(conv(x, d3_reduce, 1, "double_3x3_reduce"), d3, 3, "double_3x3_1")
    branches.append(conv(double, d3, 3, "double_3x3_2", strides))
    pooling = layers.AveragePooling2D if pool == "avg" else layers.MaxPooling2D
    pooled = pooling(3, strides=strides, padding="same", name=f"{name}_pool")(x)
    branches.append(conv(pooled, pool_proj, 1, "pool_proj") if pool_proj else pooled)
    return layers.Concatenate(name=f"{name}_output")(branches)


# Figure 5 of the paper: #1x1, #3x3 reduce, #3x3, double #3x3 reduce, double #3x3, pool, pool proj
# (0 for none), stride. The figure prints 576 channels after 4c and 4d and 1024 after 4e; its
# own columns add up to 608, 608 and 1056, which is what the released model computes.
BN_INCEPTION_MODULES = {
    "inception_3a": (64, 64, 64, 64, 96, "avg", 32, 1),
    "inception_3b": (64, 64, 96, 64, 96, "avg", 64, 1),
    "inception_3c": (0, 128, 160, 64, 96, "max", 0, 2),
    "inception_4a": (224, 64, 96, 96, 128, "avg", 128, 1),
    "inception_4b": (192, 96, 128, 96, 128, "avg", 128, 1),
    "inception_4c": (160, 128, 160, 128, 160, "avg", 128, 1),
    "inception_4d": (96, 128, 192, 160, 192, "avg", 128, 1),
    "inception_4e": (0, 128, 192, 192, 256, "max", 0, 2),
    "inception_5a": (352, 192, 320, 160, 224, "avg", 128, 1),
    "inception_5b": (352, 192, 320, 192, 224, "max", 128, 1),
}


@register(
    summary="BN-Inception / Inception-v2 (2015): GoogLeNet with batch norm and double 3x3s, 224x224x3",
    year=2015,
    parameters=11_315_272,
    min_size=16,
    paper="Ioffe & Szegedy 2015, Batch normalization: accelerating deep network training by reducing internal covariate shift",
    reported=Reported(top1=74.8, top5=92.18, protocol="Ioffe & Szegedy 2015, Table 3: BN-Inception, single model, single crop at 224, top-1 error 25.2%, top-5 7.82%"),
)
def bn_inception(input_shape=(224, 224, 3), num_classes: int = 1000, batch_norm: bool = True,
                 width: float = 1.0, dropout: float = 0.0) -> keras.Model:  # fmt: skip
    """BN-Inception (Figure 5 of the batch-norm paper), as the released Caffe model counts it
    (convolutions keep their biases): 7x7/2 conv 64 -> 3x3/2 pool -> 1x1 64 -> 3x3 192 ->
    3x3/2 pool 28x28x192 -> 3a, 3b, 3c (stride 2) 14x14x576 -> 4a-4e (4e stride 2) 7x7x1056 ->
    5a, 5b 7x7x1024 -> global average pool -> softmax.

    ``batch_norm=False`` builds the same network without batch norm (the paper's "Inception"
    baseline, trained at a lower learning rate); ``width`` scales every convolution's filters
    (0.25 for a notebook-sized network) and images smaller than 64 pixels get a single 3x3
    convolution as stem, as the CIFAR versions of GoogLeNet do.
    """
    if width <= 0:
        raise ValueError(f"width must be positive, got {width}.")
    scale = lambda filters: max(1, round(filters * width)) if filters else 0  # noqa: E731
    inputs = keras.Input(shape=input_shape, name="image")
    if min(input_shape[:2]) >= 64:
        x = _conv_bias_bn(inputs, scale(64), 7, 2, "conv1", batch_norm)
        x = layers.MaxPooling2D(3, strides=2, padding="same", name="pool1")(x)
        x = _conv_bias_bn(x, scale(64), 1, 1, "conv2_reduce", batch_norm)
        x = _conv_bias_bn(x, scale(192), 3, 1, "conv2", batch_norm)
        x = layers.MaxPooling2D(3, strides=2, padding="same", name="pool2")(x)
    else:
        x = _conv_bias_bn(inputs, scale(192), 3, 1, "conv1", batch_norm)
    for name, (*filters, pool, proj, strides) in BN_INCEPTION_MODULES.items():
        x = bn_inception_module(x, *map(scale, filters), pool, scale(proj), name=name, strides=strides,
                                batch_norm=batch_norm)  # fmt: skip
    x = layers.GlobalAveragePooling2D(name="avg_pool")(x)
    if dropout:
        x = layers.Dropout(dropout, name="dropout")(x)
    return keras.Model(inputs, softmax_classifier(x, num_classes), name="bn_inception")


# --- Inception-v3 ---------------------------------------------------------------------------


def conv_bn(x, filters, kernel, strides=1, padding="same", name=None):
    """Convolution without bias -> batch norm (no scale, as keras.applications) -> ReLU."""
    kernel = (kernel, kernel) if isinstance(kernel, int) else kernel
    x = layers.Conv2D(filters, kernel, strides=strides, padding=padding, use_bias=False, name=f"{name}_conv")(
        x
    )
    x = layers.BatchNormalization(scale=False, name=f"{name}_bn")(x)
    return layers.Activation("relu", name=name)(x)


def factorized_conv(x, filters, n, name, first="1xn"):
    """An n x n convolution as two: 1 x n then n x 1 (``first="nx1"`` swaps the order).

    Same receptive field with ``2n`` instead of ``n^2`` weights per channel pair; with n = 7
    that is 14 instead of 49 (Inception-v3, Section 3.2).
    """
    filters = (filters, filters) if isinstance(filters, int) else filters
    shapes = [(1, n), (n, 1)] if first == "1xn" else [(n, 1), (1, n)]
    x = conv_bn(x, filters[0], shapes[0], name=f"{name}_a")
    return conv_bn(x, filters[1], shapes[1], name=f"{name}_b")


def pool_branch(x, filters, name):
    """A 3x3 average pool (stride 1, 'same') then a 1x1 :func:`conv_bn` to ``filters`` channels."""
    pooled = layers.AveragePooling2D(3, strides=1, padding="same", name=f"{name}_pool")(x)
    return conv_bn(pooled, filters, 1, name=f"{name}_pool_proj")


def inception_a(x, pool_filters, name):
    """35x35 module: 1x1 | 1x1 -> 5x5 | 1x1 -> 3x3 -> 3x3 (the factorized 5x5) | avg pool -> 1x1."""
    b1 = conv_bn(x, 64, 1, name=f"{name}_1x1")
    b5 = conv_bn(conv_bn(x, 48, 1, name=f"{name}_5x5_reduce"), 64, 5, name=f"{name}_5x5")
    b3 = conv_bn(x, 64, 1, name=f"{name}_3x3dbl_reduce")
    b3 = conv_bn(conv_bn(b3, 96, 3, name=f"{name}_3x3dbl_1"), 96, 3, name=f"{name}_3x3dbl_2")
    return layers.Concatenate(name=name)([b1, b5, b3, pool_branch(x, pool_filters, name)])


def reduction_a(x, name):
    """35 -> 17: a stride-2 3x3 | 1x1 -> 3x3 -> stride-2 3x3 | stride-2 max pool."""
    b3 = conv_bn(x, 384, 3, strides=2, padding="valid", name=f"{name}_3x3")
    bd = conv_bn(conv_bn(x, 64, 1, name=f"{name}_3x3dbl_reduce"), 96, 3, name=f"{name}_3x3dbl_1")
    bd = conv_bn(bd, 96, 3, strides=2, padding="valid", name=f"{name}_3x3dbl_2")
    pooled = layers.MaxPooling2D(3, strides=2, name=f"{name}_pool")(x)
    return layers.Concatenate(name=name)([b3, bd, pooled])


def inception_b(x, width, name):
    """17x17 module with 7x7 convolutions factorized into 1x7 and 7x1 (``width`` mid channels)."""
    b1 = conv_bn(x, 192, 1, name=f"{name}_1x1")
    b7 = factorized_conv(conv_bn(x, width, 1, name=f"{name}_7x7_reduce"), (width, 192), 7, f"{name}_7x7")
    bd = conv_bn(x, width, 1, name=f"{name}_7x7dbl_reduce")
    bd = factorized_conv(bd, width, 7, f"{name}_7x7dbl_1", first="nx1")
    bd = factorized_conv(bd, (width, 192), 7, f"{name}_7x7dbl_2", first="nx1")
    return layers.Concatenate(name=name)([b1, b7, bd, pool_branch(x, 192, name)])


def reduction_b(x, name):
    """17 -> 8: 1x1 -> stride-2 3x3 | 1x1 -> 1x7 -> 7x1 -> stride-2 3x3 | stride-2 max pool."""
    b3 = conv_bn(conv_bn(x, 192, 1, name=f"{name}_3x3_reduce"), 320, 3, strides=2, padding="valid",
                 name=f"{name}_3x3")  # fmt: skip
    b7 = factorized_conv(conv_bn(x, 192, 1, name=f"{name}_7x7x3_reduce"), 192, 7, f"{name}_7x7x3")
    b7 = conv_bn(b7, 192, 3, strides=2, padding="valid", name=f"{name}_7x7x3_3x3")
    pooled = layers.MaxPooling2D(3, strides=2, name=f"{name}_pool")(x)
    return layers.Concatenate(name=name)([b3, b7, pooled])


def inception_c(x, name):
    """8x8 module whose 3x3 convolutions split into parallel 1x3 and 3x1 (wider, not deeper)."""
    b1 = conv_bn(x, 320, 1, name=f"{name}_1x1")
    b3 = conv_bn(x, 384, 1, name=f"{name}_3x3_reduce")
    b3 = layers.Concatenate(name=f"{name}_3x3")(
        [conv_bn(b3, 384, (1, 3), name=f"{name}_3x3_1x3"), conv_bn(b3, 384, (3, 1), name=f"{name}_3x3_3x1")]
    )
    bd = conv_bn(conv_bn(x, 448, 1, name=f"{name}_3x3dbl_reduce"), 384, 3, name=f"{name}_3x3dbl")
    bd = layers.Concatenate(name=f"{name}_3x3dbl_split")(
        [
            conv_bn(bd, 384, (1, 3), name=f"{name}_3x3dbl_1x3"),
            conv_bn(bd, 384, (3, 1), name=f"{name}_3x3dbl_3x1"),
        ]
    )
    return layers.Concatenate(name=name)([b1, b3, bd, pool_branch(x, 192, name)])


def inception_v3_stem(x):
    """299x299x3 -> 35x35x192: 3x3/2 32 'valid', 3x3 32 'valid', 3x3 64, 3x3/2 max pool, 1x1 80,
    3x3 192 'valid', 3x3/2 max pool (also the start of Inception-ResNet-v2's released stem)."""
    x = conv_bn(x, 32, 3, strides=2, padding="valid", name="stem1")
    x = conv_bn(x, 32, 3, padding="valid", name="stem2")
    x = conv_bn(x, 64, 3, name="stem3")
    x = layers.MaxPooling2D(3, strides=2, name="stem_pool1")(x)
    x = conv_bn(x, 80, 1, padding="valid", name="stem4")
    x = conv_bn(x, 192, 3, padding="valid", name="stem5")
    return layers.MaxPooling2D(3, strides=2, name="stem_pool2")(x)


@register(
    summary="Inception-v3 (2015): factorized convolutions, batch norm, 299x299x3",
    year=2015,
    parameters=23_851_784,
    min_size=16,
    paper="Szegedy et al. 2016, Rethinking the Inception architecture for computer vision",
    reported=Reported(top1=78.8, top5=94.4, protocol="Szegedy et al. 2016, Table 3: Inception-v3 (BN-auxiliary), 1 crop, top-1 error 21.2%, top-5 5.6%"),
)
def inception_v3(input_shape=(299, 299, 3), num_classes: int = 1000) -> keras.Model:
    """Inception-v3 as keras.applications builds it: stem 35x35x192 -> 3 x :func:`inception_a`
    (mixed0-2) -> :func:`reduction_a` (mixed3) -> 4 x :func:`inception_b` (mixed4-7, widths
    128, 160, 160, 192) -> :func:`reduction_b` (mixed8) -> 2 x :func:`inception_c` (mixed9-10)
    -> 8x8x2048 -> global average pool -> softmax. Below 75 pixels the stem keeps the
    resolution (stride-1 'same' convolutions, no pooling)."""
    inputs = keras.Input(shape=input_shape, name="image")
    if min(input_shape[:2]) >= 75:
        x = inception_v3_stem(inputs)
    else:
        x = conv_bn(inputs, 32, 3, name="stem1")
        x = conv_bn(x, 32, 3, name="stem2")
        x = conv_bn(x, 64, 3, name="stem3")
        x = conv_bn(x, 80, 1, name="stem4")
        x = conv_bn(x, 192, 3, name="stem5")
    for index, pool_filters in enumerate((32, 64, 64)):
        x = inception_a(x, pool_filters, name=f"mixed{index}")
    x = reduction_a(x, name="mixed3")
    for index, width in enumerate((128, 160, 160, 192), start=4):
        x = inception_b(x, width, name=f"mixed{index}")
    x = reduction_b(x, name="mixed8")
    for index in (9, 10):
        x = inception_c(x, name=f"mixed{index}")
    x = layers.GlobalAveragePooling2D(name="avg_pool")(x)
    return keras.Model(inputs, softmax_classifier(x, num_classes), name="inception_v3")


# --- Xception -------------------------------------------------------------------------------


def separable_block(x, filters, name, activate_first=True):
    """(ReLU) -> 3x3 depthwise separable convolution (no bias) -> batch norm.

    A separable convolution is a 3x3 depthwise convolution (one filter per channel) followed
    by a 1x1 pointwise one that mixes channels: ``9 C + C F`` weights instead of ``9 C F``.
    """
    if activate_first:
        x = layers.Activation("relu", name=f"{name}_act")(x)
    x = layers.SeparableConv2D(filters, 3, padding="same", use_bias=False, name=name)(x)
    return layers.BatchNormalization(name=f"{name}_bn")(x)


def _xception_down(x, filters, name, activate_first=True):
    """Two separable blocks and a stride-2 max pool, plus a strided 1x1 projection shortcut."""
    residual = layers.Conv2D(filters[-1], 1, strides=2, padding="same", use_bias=False,
                             name=f"{name}_shortcut")(x)  # fmt: skip
    residual = layers.BatchNormalization(name=f"{name}_shortcut_bn")(residual)
    x = separable_block(x, filters[0], f"{name}_sepconv1", activate_first)
    x = separable_block(x, filters[-1], f"{name}_sepconv2")
    x = layers.MaxPooling2D(3, strides=2, padding="same", name=f"{name}_pool")(x)
    return layers.Add(name=f"{name}_add")([x, residual])


@register(
    summary="Xception (2016): depthwise separable convolutions with shortcuts, 299x299x3",
    year=2016,
    parameters=22_910_480,
    min_size=32,
    paper="Chollet 2017, Xception: deep learning with depthwise separable convolutions",
    reported=Reported(top1=79.0, top5=94.5, protocol="Chollet 2017, Table 1: single crop, top-1 0.790, top-5 0.945"),
)
def xception(input_shape=(299, 299, 3), num_classes: int = 1000) -> keras.Model:
    """Xception as keras.applications builds it: entry flow (two convolutions, three
    down-sampling blocks 128-256-728), middle flow (8 residual blocks of three 728-wide
    separable convolutions), exit flow (728-1024 down-sampling block, 1536 and 2048 separable
    convolutions), global average pool, softmax."""
    inputs = keras.Input(shape=input_shape, name="image")
    x = layers.Conv2D(32, 3, strides=2, use_bias=False, name="block1_conv1")(inputs)
    x = layers.Activation("relu", name="block1_conv1_act")(
        layers.BatchNormalization(name="block1_conv1_bn")(x)
    )
    x = layers.Conv2D(64, 3, use_bias=False, name="block1_conv2")(x)
    x = layers.Activation("relu", name="block1_conv2_act")(
        layers.BatchNormalization(name="block1_conv2_bn")(x)
    )
    x = _xception_down(x, (128,), "block2", activate_first=False)
    x = _xception_down(x, (256,), "block3")
    x = _xception_down(x, (728,), "block4")
    for block in range(5, 13):
        residual = x
        for index in (1, 2, 3):
            x = separable_block(x, 728, f"block{block}_sepconv{index}")
        x = layers.Add(name=f"block{block}_add")([x, residual])
    x = _xception_down(x, (728, 1024), "block13")
    for index, filters in ((1, 1536), (2, 2048)):
        x = separable_block(x, filters, f"block14_sepconv{index}", activate_first=False)
        x = layers.Activation("relu", name=f"block14_sepconv{index}_act")(x)
    x = layers.GlobalAveragePooling2D(name="avg_pool")(x)
    return keras.Model(inputs, softmax_classifier(x, num_classes), name="xception")
