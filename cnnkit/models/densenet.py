"""DenseNet (Huang, Liu, van der Maaten and Weinberger, 2016): every layer sees all earlier ones.

Inside a *dense block* (:func:`dense_block`) each layer adds ``growth_rate`` new channels and
concatenates them to everything before: after ``n`` layers a block has ``c0 + n k`` channels.
Layers stay thin (k = 32 on ImageNet, 12 on CIFAR) because features are reused instead of
relearned. Each layer is the "bottleneck" BN-ReLU-1x1 (4k) -BN-ReLU-3x3 (k); a *transition*
(:func:`transition`) between blocks halves the channels ("compression" 0.5) and the resolution.

- ``densenet121`` / ``169`` / ``201``: blocks of 6-12-24-16 / 6-12-32-32 / 6-12-48-32 layers,
  layer for layer keras.applications' (8,062,504 / 14,307,880 / 20,242,984 parameters), so
  its weights load into these models. Images below 64 pixels get the CIFAR stem (one 3x3
  convolution, no max pool).
- ``densenet_cifar``: DenseNet-BC for 32x32 images (Table 2 of the paper): depth ``L`` with
  three blocks of ``(L - 4) / 6`` layers each, a 3x3 stem of ``2k`` channels; ``depth=100,
  growth_rate=12`` has 0.8M parameters.
"""

from __future__ import annotations

import keras
from keras import layers

from cnnkit.models.registry import Reported, register

EPSILON = 1.001e-5  # keras.applications' batch-norm epsilon for DenseNet


def _bn_relu(x, name):
    return layers.Activation("relu", name=f"{name}_relu")(
        layers.BatchNormalization(epsilon=EPSILON, name=f"{name}_bn")(x)
    )


def dense_layer(x, growth_rate, name):
    """BN-ReLU-1x1 conv (``4 * growth_rate``) -BN-ReLU-3x3 conv (``growth_rate``), concatenated
    to the input: output channels = input channels + ``growth_rate``."""
    y = layers.BatchNormalization(epsilon=EPSILON, name=f"{name}_0_bn")(x)
    y = layers.Activation("relu", name=f"{name}_0_relu")(y)
    y = layers.Conv2D(4 * growth_rate, 1, use_bias=False, name=f"{name}_1_conv")(y)
    y = layers.BatchNormalization(epsilon=EPSILON, name=f"{name}_1_bn")(y)
    y = layers.Activation("relu", name=f"{name}_1_relu")(y)
    y = layers.Conv2D(growth_rate, 3, padding="same", use_bias=False, name=f"{name}_2_conv")(y)
    return layers.Concatenate(name=f"{name}_concat")([x, y])


def dense_block(x, layers_count, growth_rate, name):
    """``layers_count`` dense layers: adds ``layers_count * growth_rate`` channels."""
    for index in range(1, layers_count + 1):
        x = dense_layer(x, growth_rate, f"{name}_block{index}")
    return x


def transition(x, compression, name):
    """BN-ReLU-1x1 conv to ``compression`` of the channels, then a 2x2 average pool."""
    x = _bn_relu(x, name)
    x = layers.Conv2D(int(x.shape[-1] * compression), 1, use_bias=False, name=f"{name}_conv")(x)
    return layers.AveragePooling2D(2, strides=2, name=f"{name}_pool")(x)


def densenet(blocks, input_shape=(224, 224, 3), num_classes=1000, growth_rate=32, compression=0.5,
             stem_filters=64, name="densenet") -> keras.Model:  # fmt: skip
    """A DenseNet with dense blocks of ``blocks`` layers and transitions between them."""
    inputs = keras.Input(shape=input_shape, name="image")
    if min(input_shape[:2]) >= 64:  # ImageNet stem: 7x7/2 convolution, 3x3/2 max pool
        x = layers.ZeroPadding2D(3, name="conv1_pad")(inputs)
        x = layers.Conv2D(stem_filters, 7, strides=2, use_bias=False, name="conv1_conv")(x)
        x = _bn_relu(x, "conv1")
        x = layers.ZeroPadding2D(1, name="pool1_pad")(x)
        x = layers.MaxPooling2D(3, strides=2, name="pool1")(x)
    else:  # CIFAR stem: one 3x3 convolution at full resolution
        x = layers.Conv2D(stem_filters, 3, padding="same", use_bias=False, name="conv1_conv")(inputs)
    for index, count in enumerate(blocks, start=2):
        x = dense_block(x, count, growth_rate, f"conv{index}")
        if index < len(blocks) + 1:
            x = transition(x, compression, f"pool{index}")
    x = layers.Activation("relu", name="relu")(layers.BatchNormalization(epsilon=EPSILON, name="bn")(x))
    x = layers.GlobalAveragePooling2D(name="avg_pool")(x)
    outputs = layers.Dense(num_classes, activation="softmax", name="predictions", dtype="float32")(x)
    return keras.Model(inputs, outputs, name=name)


PAPER = "Huang, Liu, van der Maaten & Weinberger 2017, Densely connected convolutional networks"


@register(
    summary="DenseNet-121 (2016): dense blocks (6, 12, 24, 16), growth 32, 224x224x3",
    year=2016,
    paper=PAPER,
    reported=Reported(top1=75.0, top5=92.3, protocol="Huang et al. 2017, Table 3: single crop, top-1 error 25.02%, top-5 7.71%"),
    parameters=8_062_504,
    min_size=32,
)
def densenet121(input_shape=(224, 224, 3), num_classes=1000, growth_rate=32, compression=0.5,
                stem_filters=64) -> keras.Model:  # fmt: skip
    """DenseNet-121: dense blocks of 6, 12, 24, 16 layers (:func:`densenet`)."""
    return densenet((6, 12, 24, 16), input_shape, num_classes, growth_rate, compression, stem_filters, name="densenet121")


@register(
    summary="DenseNet-169 (2016): dense blocks (6, 12, 32, 32), growth 32, 224x224x3",
    year=2016,
    paper=PAPER,
    reported=Reported(top1=76.2, top5=93.2, protocol="Huang et al. 2017, Table 3: single crop, top-1 error 23.80%, top-5 6.85%"),
    parameters=14_307_880,
    min_size=32,
)
def densenet169(input_shape=(224, 224, 3), num_classes=1000, growth_rate=32, compression=0.5,
                stem_filters=64) -> keras.Model:  # fmt: skip
    """DenseNet-169: dense blocks of 6, 12, 32, 32 layers (:func:`densenet`)."""
    return densenet((6, 12, 32, 32), input_shape, num_classes, growth_rate, compression, stem_filters, name="densenet169")


@register(
    summary="DenseNet-201 (2016): dense blocks (6, 12, 48, 32), growth 32, 224x224x3",
    year=2016,
    paper=PAPER,
    reported=Reported(top1=77.4, top5=93.7, protocol="Huang et al. 2017, Table 3: single crop, top-1 error 22.58%, top-5 6.34%"),
    parameters=20_242_984,
    min_size=32,
)
def densenet201(input_shape=(224, 224, 3), num_classes=1000, growth_rate=32, compression=0.5,
                stem_filters=64) -> keras.Model:  # fmt: skip
    """DenseNet-201: dense blocks of 6, 12, 48, 32 layers (:func:`densenet`)."""
    return densenet((6, 12, 48, 32), input_shape, num_classes, growth_rate, compression, stem_filters, name="densenet201")


@register(
    summary="DenseNet-BC for CIFAR (2016), e.g. -o depth=100 -o growth_rate=12",
    year=2016,
    parameters=793_150,
    min_size=4,
    paper=PAPER,
)
def densenet_cifar(input_shape=(32, 32, 3), num_classes: int = 10, depth: int = 100,
                   growth_rate: int = 12) -> keras.Model:  # fmt: skip
    """DenseNet-BC-``depth``-``growth_rate``: three blocks of ``(depth - 4) / 6`` bottleneck
    layers, compression 0.5, a 3x3 stem with ``2 * growth_rate`` channels."""
    if depth < 10 or (depth - 4) % 6:
        raise ValueError(f"DenseNet-BC depth must be 6n + 4 with n >= 1 (40, 100, 190, ...), got {depth}.")
    n = (depth - 4) // 6
    return densenet((n, n, n), input_shape, num_classes, growth_rate, 0.5, 2 * growth_rate,
                    name=f"densenet_bc_{depth}_{growth_rate}")  # fmt: skip
