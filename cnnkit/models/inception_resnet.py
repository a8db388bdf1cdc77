"""Inception-v4 and Inception-ResNet (Szegedy, Ioffe, Vanhoucke and Alemi 2016, one paper).

The paper asks whether residual connections (He et al. 2015) help Inception networks, and
answers with three networks built from the same kinds of blocks:

- **Inception-v4** (Figures 3-9): a deeper, more uniform Inception-v3 with **no residual
  connections** at all: stem (Figure 3) -> 4 x Inception-A -> Reduction-A -> 7 x Inception-B
  -> Reduction-B -> 3 x Inception-C -> average pool -> dropout (keep 0.8) -> softmax.
- **Inception-ResNet-v1** (Figures 7, 10-14): each Inception block is the residual branch of
  a residual block, ``x + scale * branch(x)``, where a 1x1 convolution *without* activation
  (or batch norm) brings the branch back to ``x``'s channels; about Inception-v3's cost.
- **Inception-ResNet-v2**: wider blocks at about Inception-v4's cost. Built here layer for
  layer as Google released it (TF-slim, the same as ``keras.applications.InceptionResNetV2``):
  its stem is Inception-v3's with a 35x35 inception module on top (320 channels), and it has
  10 / 20 / 10 residual blocks (the paper's Figure 15 draws 5 / 10 / 5), so its weights are
  Keras' and its outputs equal Keras' (tests/test_family.py).

Two things the blocks are often said to be and are not: a 1x1 convolution in front of a 3x3
one is a *bottleneck* (fewer channels into the expensive convolution), not a depthwise
separable convolution (which filters every channel on its own, see
:func:`cnnkit.models.inception.separable_block`); and Inception-v4 is not "v3 plus residual
connections": those are the Inception-ResNets.

Convolutions are :func:`cnnkit.models.inception.conv_bn` (no bias, batch norm without a
learned scale, ReLU), as in TF-slim, whose checkpoints these networks' weights come from.
Below 75 pixels the stems' 'valid' convolutions and pools would leave nothing; the builders
refuse such inputs (``min_size=75``, as keras.applications does).
"""

from __future__ import annotations

import keras
from keras import layers

from cnnkit.models.inception import conv_bn, inception_v3_stem, pool_branch, softmax_classifier
from cnnkit.models.layers import ScaledResidual
from cnnkit.models.registry import Reported, register

PAPER = "Szegedy, Ioffe, Vanhoucke & Alemi 2017, Inception-v4, Inception-ResNet and the impact of residual connections on learning"


def _max_pool(x, name):
    return layers.MaxPooling2D(3, strides=2, padding="valid", name=name)(x)


# --- Inception-v4 ------------------------------------------------------------------------------


def inception_v4_stem(x, name="stem"):
    """Figure 3: 299x299x3 -> 35x35x384. Three convolutions (149, 147, 147 pixels), then three
    places where a stride-2 pool and a convolution run side by side and are concatenated
    (73x73x160, 71x71x192 after a 7x7 factorized as 7x1 and 1x7, 35x35x384)."""
    x = conv_bn(x, 32, 3, strides=2, padding="valid", name=f"{name}_conv1")
    x = conv_bn(x, 32, 3, padding="valid", name=f"{name}_conv2")
    x = conv_bn(x, 64, 3, name=f"{name}_conv3")
    x = layers.Concatenate(name=f"{name}_mixed1")(
        [_max_pool(x, f"{name}_mixed1_pool"), conv_bn(x, 96, 3, strides=2, padding="valid", name=f"{name}_mixed1_conv")]
    )
    short = conv_bn(conv_bn(x, 64, 1, name=f"{name}_mixed2_a1"), 96, 3, padding="valid", name=f"{name}_mixed2_a2")
    long = conv_bn(x, 64, 1, name=f"{name}_mixed2_b1")
    long = conv_bn(long, 64, (1, 7), name=f"{name}_mixed2_b2")
    long = conv_bn(long, 64, (7, 1), name=f"{name}_mixed2_b3")
    long = conv_bn(long, 96, 3, padding="valid", name=f"{name}_mixed2_b4")
    x = layers.Concatenate(name=f"{name}_mixed2")([short, long])
    return layers.Concatenate(name=name)(
        [conv_bn(x, 192, 3, strides=2, padding="valid", name=f"{name}_mixed3_conv"), _max_pool(x, f"{name}_mixed3_pool")]
    )


def inception_v4_a(x, name):
    """Figure 4, on the 35x35 grid: 1x1 96 | 1x1 64 -> 3x3 96 | 1x1 64 -> 3x3 96 -> 3x3 96 |
    average pool -> 1x1 96. Output 35x35x384."""
    b1 = conv_bn(x, 96, 1, name=f"{name}_1x1")
    b3 = conv_bn(conv_bn(x, 64, 1, name=f"{name}_3x3_reduce"), 96, 3, name=f"{name}_3x3")
    bd = conv_bn(x, 64, 1, name=f"{name}_3x3dbl_reduce")
    bd = conv_bn(conv_bn(bd, 96, 3, name=f"{name}_3x3dbl_1"), 96, 3, name=f"{name}_3x3dbl_2")
    return layers.Concatenate(name=name)([b1, b3, bd, pool_branch(x, 96, name)])


def reduction_a(x, k, l, m, n, name):  # noqa: E741  (the paper's names, Table 1)
    """Figure 7, 35x35 -> 17x17: a stride-2 3x3 convolution (n filters) | 1x1 (k) -> 3x3 (l)
    -> stride-2 3x3 (m) | stride-2 max pool. Table 1's (k, l, m, n): Inception-v4
    (192, 224, 256, 384), Inception-ResNet-v1 (192, 192, 256, 384), -v2 (256, 256, 384, 384)."""
    b3 = conv_bn(x, n, 3, strides=2, padding="valid", name=f"{name}_3x3")
    bd = conv_bn(conv_bn(x, k, 1, name=f"{name}_3x3dbl_reduce"), l, 3, name=f"{name}_3x3dbl_1")
    bd = conv_bn(bd, m, 3, strides=2, padding="valid", name=f"{name}_3x3dbl_2")
    return layers.Concatenate(name=name)([b3, bd, _max_pool(x, f"{name}_pool")])


def inception_v4_b(x, name):
    """Figure 5, on the 17x17 grid, 7x7 convolutions factorized into 1x7 and 7x1:
    1x1 384 | 1x1 192 -> 1x7 224 -> 7x1 256 | 1x1 192 -> 7x1 192 -> 1x7 224 -> 7x1 224 -> 1x7 256 |
    average pool -> 1x1 128. Output 17x17x1024."""
    b1 = conv_bn(x, 384, 1, name=f"{name}_1x1")
    b7 = conv_bn(x, 192, 1, name=f"{name}_7x7_reduce")
    b7 = conv_bn(conv_bn(b7, 224, (1, 7), name=f"{name}_7x7_1"), 256, (7, 1), name=f"{name}_7x7_2")
    bd = conv_bn(x, 192, 1, name=f"{name}_7x7dbl_reduce")
    for index, (filters, kernel) in enumerate([(192, (7, 1)), (224, (1, 7)), (224, (7, 1)), (256, (1, 7))], 1):
        bd = conv_bn(bd, filters, kernel, name=f"{name}_7x7dbl_{index}")
    return layers.Concatenate(name=name)([b1, b7, bd, pool_branch(x, 128, name)])


def inception_v4_reduction_b(x, name):
    """Figure 8, 17x17 -> 8x8: 1x1 192 -> stride-2 3x3 192 | 1x1 256 -> 1x7 256 -> 7x1 320 ->
    stride-2 3x3 320 | stride-2 max pool. Output 8x8x1536."""
    b3 = conv_bn(conv_bn(x, 192, 1, name=f"{name}_3x3_reduce"), 192, 3, strides=2, padding="valid",
                 name=f"{name}_3x3")  # fmt: skip
    b7 = conv_bn(x, 256, 1, name=f"{name}_7x7_reduce")
    b7 = conv_bn(conv_bn(b7, 256, (1, 7), name=f"{name}_7x7_1"), 320, (7, 1), name=f"{name}_7x7_2")
    b7 = conv_bn(b7, 320, 3, strides=2, padding="valid", name=f"{name}_7x7_3x3")
    return layers.Concatenate(name=name)([b3, b7, _max_pool(x, f"{name}_pool")])


def _split_1x3_3x1(x, filters, name):
    """Parallel 1x3 and 3x1 convolutions, concatenated (wider, not deeper)."""
    return layers.Concatenate(name=name)(
        [conv_bn(x, filters, (1, 3), name=f"{name}_1x3"), conv_bn(x, filters, (3, 1), name=f"{name}_3x1")]
    )


def inception_v4_c(x, name):
    """Figure 6, on the 8x8 grid: 1x1 256 | 1x1 384 -> (1x3 256, 3x1 256) | 1x1 384 -> 3x1 448
    -> 1x3 512 -> (1x3 256, 3x1 256) | average pool -> 1x1 256. Output 8x8x1536. (The 3x1 before
    the 1x3 in the third branch follows the released code; the figure draws them the other way
    round, which has the same cost.)"""
    b1 = conv_bn(x, 256, 1, name=f"{name}_1x1")
    b3 = _split_1x3_3x1(conv_bn(x, 384, 1, name=f"{name}_3x3_reduce"), 256, f"{name}_3x3")
    bd = conv_bn(x, 384, 1, name=f"{name}_3x3dbl_reduce")
    bd = conv_bn(conv_bn(bd, 448, (3, 1), name=f"{name}_3x3dbl_1"), 512, (1, 3), name=f"{name}_3x3dbl_2")
    bd = _split_1x3_3x1(bd, 256, f"{name}_3x3dbl")
    return layers.Concatenate(name=name)([b1, b3, bd, pool_branch(x, 256, name)])


def _head(x, num_classes, dropout):
    x = layers.GlobalAveragePooling2D(name="avg_pool")(x)
    x = layers.Dropout(dropout, name="dropout")(x)
    return softmax_classifier(x, num_classes)


@register(
    summary="Inception-v4 (2016): uniform Inception blocks, no residual connections, 299x299x3",
    year=2016,
    parameters=42_711_400,
    min_size=75,
    paper=PAPER,
    reported=Reported(top1=80.0, top5=95.0, protocol="Szegedy et al. 2017, Table 2: single model, single crop, top-1 error 20.0%, top-5 5.0%"),
)
def inception_v4(input_shape=(299, 299, 3), num_classes: int = 1000, dropout: float = 0.2) -> keras.Model:
    """Inception-v4 (Figure 9): :func:`inception_v4_stem` 35x35x384 -> 4 x :func:`inception_v4_a`
    -> :func:`reduction_a` (192, 224, 256, 384) 17x17x1024 -> 7 x :func:`inception_v4_b` ->
    :func:`inception_v4_reduction_b` 8x8x1536 -> 3 x :func:`inception_v4_c` -> global average
    pool -> dropout (the paper keeps 0.8) -> softmax."""
    inputs = keras.Input(shape=input_shape, name="image")
    x = inception_v4_stem(inputs)
    for index in range(1, 5):
        x = inception_v4_a(x, name=f"inception_a{index}")
    x = reduction_a(x, 192, 224, 256, 384, name="reduction_a")
    for index in range(1, 8):
        x = inception_v4_b(x, name=f"inception_b{index}")
    x = inception_v4_reduction_b(x, name="reduction_b")
    for index in range(1, 4):
        x = inception_v4_c(x, name=f"inception_c{index}")
    return keras.Model(inputs, _head(x, num_classes, dropout), name="inception_v4")


# --- Inception-ResNet ----------------------------------------------------------------------------


def inception_resnet_block(x, branches, scale, name, activation="relu"):
    """The residual Inception block (Figures 10-13, 16-19): the ``branches`` (tensors computed
    from ``x``) are concatenated, a 1x1 convolution with a bias and no activation or batch norm
    brings them back to ``x``'s channels, and :class:`ScaledResidual` adds ``scale`` times that
    to ``x``; then ``activation`` (None for the last block of Inception-ResNet-v2).
    Output: ``x``'s shape."""
    mixed = layers.Concatenate(name=f"{name}_mixed")(branches)
    residual = layers.Conv2D(x.shape[-1], 1, use_bias=True, name=f"{name}_conv")(mixed)
    x = ScaledResidual(scale, name=f"{name}_add")([x, residual])
    return x if activation is None else layers.Activation(activation, name=f"{name}_ac")(x)


def inception_resnet_a(x, widths, scale, name, activation="relu"):
    """The 35x35 residual block (Figure 10 for v1, 16 for v2): 1x1 | 1x1 -> 3x3 | 1x1 -> 3x3 ->
    3x3, with ``widths = (w1, (w2, w3), (w4, w5, w6))``: v1 (32, (32, 32), (32, 32, 32)),
    v2 (32, (32, 32), (32, 48, 64))."""
    w1, (r3, f3), (rd, d1, d2) = widths
    b1 = conv_bn(x, w1, 1, name=f"{name}_1x1")
    b3 = conv_bn(conv_bn(x, r3, 1, name=f"{name}_3x3_reduce"), f3, 3, name=f"{name}_3x3")
    bd = conv_bn(x, rd, 1, name=f"{name}_3x3dbl_reduce")
    bd = conv_bn(conv_bn(bd, d1, 3, name=f"{name}_3x3dbl_1"), d2, 3, name=f"{name}_3x3dbl_2")
    return inception_resnet_block(x, [b1, b3, bd], scale, name, activation)


def inception_resnet_b(x, widths, scale, name, activation="relu"):
    """The 17x17 residual block (Figure 11 for v1, 17 for v2): 1x1 | 1x1 -> 1x7 -> 7x1, with
    ``widths = (w1, (r, a, b))``: v1 (128, (128, 128, 128)), v2 (192, (128, 160, 192))."""
    w1, (reduce, first, second) = widths
    b1 = conv_bn(x, w1, 1, name=f"{name}_1x1")
    b7 = conv_bn(x, reduce, 1, name=f"{name}_7x7_reduce")
    b7 = conv_bn(conv_bn(b7, first, (1, 7), name=f"{name}_1x7"), second, (7, 1), name=f"{name}_7x1")
    return inception_resnet_block(x, [b1, b7], scale, name, activation)


def inception_resnet_c(x, widths, scale, name, activation="relu"):
    """The 8x8 residual block (Figure 13 for v1, 19 for v2): 1x1 | 1x1 -> 1x3 -> 3x1, with
    ``widths = (w1, (r, a, b))``: v1 (192, (192, 192, 192)), v2 (192, (192, 224, 256))."""
    w1, (reduce, first, second) = widths
    b1 = conv_bn(x, w1, 1, name=f"{name}_1x1")
    b3 = conv_bn(x, reduce, 1, name=f"{name}_3x3_reduce")
    b3 = conv_bn(conv_bn(b3, first, (1, 3), name=f"{name}_1x3"), second, (3, 1), name=f"{name}_3x1")
    return inception_resnet_block(x, [b1, b3], scale, name, activation)


def inception_resnet_reduction_b(x, widths, name):
    """17x17 -> 8x8 (Figure 12 for v1, 18 for v2): 1x1 -> stride-2 3x3 | 1x1 -> stride-2 3x3 |
    1x1 -> 3x3 -> stride-2 3x3 | stride-2 max pool, with ``widths`` the three convolution
    branches: v1 ((256, 384), (256, 256), (256, 256, 256)), v2 ((256, 384), (256, 288),
    (256, 288, 320))."""
    (ra, a), (rb, b), (rc, c1, c2) = widths
    ba = conv_bn(conv_bn(x, ra, 1, name=f"{name}_a_reduce"), a, 3, strides=2, padding="valid", name=f"{name}_a")
    bb = conv_bn(conv_bn(x, rb, 1, name=f"{name}_b_reduce"), b, 3, strides=2, padding="valid", name=f"{name}_b")
    bc = conv_bn(conv_bn(x, rc, 1, name=f"{name}_c_reduce"), c1, 3, name=f"{name}_c_1")
    bc = conv_bn(bc, c2, 3, strides=2, padding="valid", name=f"{name}_c_2")
    return layers.Concatenate(name=name)([ba, bb, bc, _max_pool(x, f"{name}_pool")])


def inception_resnet_v1_stem(x, name="stem"):
    """Figure 14: 299x299x3 -> 35x35x256 in a plain stack: 3x3/2 32 'valid', 3x3 32 'valid',
    3x3 64, 3x3/2 max pool, 1x1 80, 3x3 192 'valid', 3x3/2 256 'valid'."""
    x = conv_bn(x, 32, 3, strides=2, padding="valid", name=f"{name}_conv1")
    x = conv_bn(x, 32, 3, padding="valid", name=f"{name}_conv2")
    x = conv_bn(x, 64, 3, name=f"{name}_conv3")
    x = _max_pool(x, f"{name}_pool")
    x = conv_bn(x, 80, 1, name=f"{name}_conv4")
    x = conv_bn(x, 192, 3, padding="valid", name=f"{name}_conv5")
    return conv_bn(x, 256, 3, strides=2, padding="valid", name=name)


@register(
    summary="Inception-ResNet-v1 (2016): residual Inception blocks at Inception-v3's cost, 299x299x3",
    year=2016,
    parameters=22_769_848,
    min_size=75,
    paper=PAPER,
    reported=Reported(top1=78.7, top5=94.5, protocol="Szegedy et al. 2017, Table 2: single model, single crop, top-1 error 21.3%, top-5 5.5%"),
)
def inception_resnet_v1(input_shape=(299, 299, 3), num_classes: int = 1000, dropout: float = 0.2,
                        scales=(0.17, 0.10, 0.20)) -> keras.Model:  # fmt: skip
    """Inception-ResNet-v1 as the paper draws it (Figure 15, with Figures 7 and 10-14):
    :func:`inception_resnet_v1_stem` 35x35x256 -> 5 x :func:`inception_resnet_a` ->
    :func:`reduction_a` (192, 192, 256, 384) 17x17x896 -> 10 x :func:`inception_resnet_b` ->
    :func:`inception_resnet_reduction_b` 8x8x1792 -> 5 x :func:`inception_resnet_c` -> global
    average pool -> dropout -> softmax. ``scales`` multiply the residuals of the A, B and C
    blocks (the released code's 0.17, 0.10, 0.20; ``(1, 1, 1)`` is the unscaled network)."""
    scale_a, scale_b, scale_c = scales
    inputs = keras.Input(shape=input_shape, name="image")
    x = inception_resnet_v1_stem(inputs)
    for index in range(1, 6):
        x = inception_resnet_a(x, (32, (32, 32), (32, 32, 32)), scale_a, name=f"block35_{index}")
    x = reduction_a(x, 192, 192, 256, 384, name="reduction_a")
    for index in range(1, 11):
        x = inception_resnet_b(x, (128, (128, 128, 128)), scale_b, name=f"block17_{index}")
    x = inception_resnet_reduction_b(x, ((256, 384), (256, 256), (256, 256, 256)), name="reduction_b")
    for index in range(1, 6):
        x = inception_resnet_c(x, (192, (192, 192, 192)), scale_c, name=f"block8_{index}")
    return keras.Model(inputs, _head(x, num_classes, dropout), name="inception_resnet_v1")


def inception_resnet_v2_stem(x, name="stem"):
    """The released code's stem (not the paper's Figure 3): :func:`inception_v3_stem` to 35x35x192,
    then an inception module (1x1 96 | 1x1 48 -> 5x5 64 | 1x1 64 -> 3x3 96 -> 3x3 96 |
    average pool -> 1x1 64) to 35x35x320."""
    x = inception_v3_stem(x)
    b1 = conv_bn(x, 96, 1, name=f"{name}_mixed_1x1")
    b5 = conv_bn(conv_bn(x, 48, 1, name=f"{name}_mixed_5x5_reduce"), 64, 5, name=f"{name}_mixed_5x5")
    bd = conv_bn(x, 64, 1, name=f"{name}_mixed_3x3dbl_reduce")
    bd = conv_bn(conv_bn(bd, 96, 3, name=f"{name}_mixed_3x3dbl_1"), 96, 3, name=f"{name}_mixed_3x3dbl_2")
    return layers.Concatenate(name=name)([b1, b5, bd, pool_branch(x, 64, f"{name}_mixed")])


@register(
    summary="Inception-ResNet-v2 (2016): wider residual Inception blocks, = keras.applications, 299x299x3",
    year=2016,
    parameters=55_873_736,
    min_size=75,
    paper=PAPER,
    reported=Reported(top1=80.1, top5=95.1, protocol="Szegedy et al. 2017, Table 2: single model, single crop, top-1 error 19.9%, top-5 4.9%"),
)
def inception_resnet_v2(input_shape=(299, 299, 3), num_classes: int = 1000, dropout: float = 0.2,
                        scales=(0.17, 0.10, 0.20)) -> keras.Model:  # fmt: skip
    """Inception-ResNet-v2 layer for layer as ``keras.applications.InceptionResNetV2``:
    :func:`inception_resnet_v2_stem` 35x35x320 -> 10 x :func:`inception_resnet_a` ->
    :func:`reduction_a` (256, 256, 384, 384) 17x17x1088 -> 20 x :func:`inception_resnet_b` ->
    :func:`inception_resnet_reduction_b` 8x8x2080 -> 10 x :func:`inception_resnet_c` (the last
    unscaled and without ReLU) -> 1x1 convolution to 1536 -> global average pool -> dropout
    (no weights; Keras leaves it out) -> softmax. ``scales`` as in :func:`inception_resnet_v1`."""
    scale_a, scale_b, scale_c = scales
    inputs = keras.Input(shape=input_shape, name="image")
    x = inception_resnet_v2_stem(inputs)
    for index in range(1, 11):
        x = inception_resnet_a(x, (32, (32, 32), (32, 48, 64)), scale_a, name=f"block35_{index}")
    x = reduction_a(x, 256, 256, 384, 384, name="reduction_a")
    for index in range(1, 21):
        x = inception_resnet_b(x, (192, (128, 160, 192)), scale_b, name=f"block17_{index}")
    x = inception_resnet_reduction_b(x, ((256, 384), (256, 288), (256, 288, 320)), name="reduction_b")
    for index in range(1, 11):
        last = index == 10
        x = inception_resnet_c(x, (192, (192, 224, 256)), 1.0 if last else scale_c, name=f"block8_{index}",
                               activation=None if last else "relu")  # fmt: skip
    x = conv_bn(x, 1536, 1, name="conv_7b")
    return keras.Model(inputs, _head(x, num_classes, dropout), name="inception_resnet_v2")
