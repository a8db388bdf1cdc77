"""Wide Residual Networks (Zagoruyko and Komodakis, 2016): width instead of depth.

WRN-``d``-``k`` on CIFAR: a 3x3 convolution (16 channels), three groups of ``(d - 4) / 6``
pre-activation blocks (:func:`wide_block`: BN-ReLU-3x3 conv, optional dropout, BN-ReLU-3x3
conv) with ``16k``, ``32k`` and ``64k`` channels, BN-ReLU, global average pool, softmax. The
paper's WRN-28-10 (36.5M parameters) beat ResNet-1001 on CIFAR while training several times
faster: a few wide layers use a GPU better than many thin ones. Convolutions have no bias;
a 1x1 convolution is the shortcut where the shape changes.
"""

from __future__ import annotations

import keras
from keras import layers

from cnnkit.models.registry import register


def _bn_relu(x, name):
    x = layers.BatchNormalization(epsilon=1e-5, momentum=0.9, name=f"{name}_bn")(x)
    return layers.Activation("relu", name=f"{name}_relu")(x)


def wide_block(x, filters, stride=1, dropout=0.0, name="block"):
    """Pre-activation basic block of width ``filters``: BN-ReLU-conv3x3 (stride) [-dropout]
    -BN-ReLU-conv3x3, plus the input (a strided 1x1 convolution of the activated input when the
    shape changes)."""
    conv = lambda f, s, n: layers.Conv2D(f, 3, strides=s, padding="same", use_bias=False,  # noqa: E731
                                         kernel_initializer="he_normal", name=n)  # fmt: skip
    activated = _bn_relu(x, f"{name}_1")
    shortcut = x
    if stride != 1 or x.shape[-1] != filters:
        shortcut = layers.Conv2D(filters, 1, strides=stride, use_bias=False, kernel_initializer="he_normal",
                                 name=f"{name}_shortcut")(activated)  # fmt: skip
    y = conv(filters, stride, f"{name}_1_conv")(activated)
    if dropout:
        y = layers.Dropout(dropout, name=f"{name}_dropout")(y)
    y = conv(filters, 1, f"{name}_2_conv")(_bn_relu(y, f"{name}_2"))
    return layers.Add(name=f"{name}_add")([shortcut, y])


@register(
    summary="Wide ResNet (2016) for CIFAR, -o depth=28 -o width=10 (WRN-28-10)",
    year=2016,
    parameters=36_497_146,
    paper="Zagoruyko & Komodakis 2016, Wide residual networks",
)
def wrn_cifar(input_shape=(32, 32, 3), num_classes: int = 10, depth: int = 28, width: int = 10,
              dropout: float = 0.0) -> keras.Model:  # fmt: skip
    """WRN-``depth``-``width`` (see the module docstring); ``dropout`` between the convolutions
    of each block (the paper used 0.3 in some runs)."""
    if depth < 10 or (depth - 4) % 6:
        raise ValueError(f"WRN depth must be 6n + 4 with n >= 1 (10, 16, 22, 28, 40, ...), got {depth}.")
    n = (depth - 4) // 6
    inputs = keras.Input(shape=input_shape, name="image")
    x = layers.Conv2D(16, 3, padding="same", use_bias=False, kernel_initializer="he_normal", name="conv1")(
        inputs
    )
    for group, (filters, stride) in enumerate(((16 * width, 1), (32 * width, 2), (64 * width, 2)), start=2):
        for index in range(1, n + 1):
            x = wide_block(x, filters, stride if index == 1 else 1, dropout, name=f"conv{group}_block{index}")
    x = layers.GlobalAveragePooling2D(name="avg_pool")(_bn_relu(x, "final"))
    outputs = layers.Dense(num_classes, activation="softmax", name="predictions", dtype="float32")(x)
    return keras.Model(inputs, outputs, name=f"wrn_{depth}_{width}")
