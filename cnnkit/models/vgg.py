"""VGG (Simonyan and Zisserman, 2014): stacks of 3x3 convolutions, five max pools, three dense layers.

Two 3x3 convolutions see a 5x5 window with 2 * 9 C^2 weights instead of 25 C^2, and add a
ReLU between them; three see 7x7. Table 1 of the paper, configurations A (11 weight
layers), B (13), D (16) and E (19)::

    vgg11  64 | 128 | 256 256 | 512 512 | 512 512
    vgg13  64 64 | 128 128 | 256 256 | 512 512 | 512 512
    vgg16  64 64 | 128 128 | 256 256 256 | 512 512 512 | 512 512 512
    vgg19  64 64 | 128 128 | 256 256 256 256 | 512 512 512 512 | 512 512 512 512

each ``|`` a 2x2 max pool, then ``flatten`` -> ``fc1`` 4096 -> ``fc2`` 4096 -> ``predictions``.
Layer names and order are keras.applications' (``block1_conv1`` ... ``predictions``), so its
VGG16 and VGG19 weights load into these models. Parameters on 224x224x3 with 1,000 classes:
132,863,336 / 133,047,848 / 138,357,544 / 143,667,240.

``batch_norm=True`` adds batch normalization after every convolution (the "VGG-BN" variants
that train from scratch without the paper's staged initialization). Any input of at least
32x32 works: a 32x32 CIFAR image leaves a 1x1x512 map for the dense layers.
"""

from __future__ import annotations

import keras
from keras import layers

from cnnkit.models.registry import Reported, register

WIDTHS = (64, 128, 256, 512, 512)
PAPER = "Simonyan & Zisserman 2015, Very deep convolutional networks for large-scale image recognition"


def vgg_block(x, filters: int, convs: int, name: str, batch_norm: bool = False):
    """``convs`` 3x3 'same' convolutions with ReLU (and batch norm), then a 2x2 max pool."""
    for index in range(1, convs + 1):
        conv_name = f"{name}_conv{index}"
        if batch_norm:
            x = layers.Conv2D(filters, 3, padding="same", use_bias=False, name=conv_name)(x)
            x = layers.BatchNormalization(name=f"{conv_name}_bn")(x)
            x = layers.Activation("relu", name=f"{conv_name}_relu")(x)
        else:
            x = layers.Conv2D(filters, 3, padding="same", activation="relu", name=conv_name)(x)
    return layers.MaxPooling2D(2, strides=2, name=f"{name}_pool")(x)


def vgg(convs_per_block, name: str, input_shape=(224, 224, 3), num_classes: int = 1000, batch_norm: bool = False,
        dropout: float = 0.5, fc_units: int = 4096, width: float = 1.0) -> keras.Model:  # fmt: skip
    """A VGG network with ``convs_per_block`` convolutions in each of its five blocks (64, 128, 256,
    512 and 512 filters); see the module docstring.

    ``dropout`` follows fc1 and fc2 during training, as in the paper (keras.applications has
    none; dropout has no weights, so the weights and the inference outputs are the same).
    ``fc_units``: width of fc1 and fc2; the CIFAR versions of VGG use 512 instead of the
    paper's 4,096, which on a 1x1x512 map would hold most of the parameters. ``width``
    scales every convolution's filters (0.25: 16-32-64-128-128), for small experiments.
    """
    if width <= 0:
        raise ValueError(f"width must be positive, got {width}.")
    inputs = keras.Input(shape=input_shape, name="image")
    x = inputs
    for block, (filters, convs) in enumerate(zip(WIDTHS, convs_per_block, strict=True), start=1):
        x = vgg_block(x, max(1, round(filters * width)), convs, f"block{block}", batch_norm)
    x = layers.Flatten(name="flatten")(x)
    for name in ("fc1", "fc2"):
        x = layers.Dense(fc_units, activation="relu", name=name)(x)
        x = layers.Dropout(dropout, name=f"{name}_dropout")(x)
    outputs = layers.Dense(num_classes, activation="softmax", name="predictions", dtype="float32")(x)
    return keras.Model(inputs, outputs, name=name + ("_bn" if batch_norm else ""))


@register(
    summary="VGG-11 (2014): 3x3 convolutions (1, 1, 2, 2, 2), 224x224x3",
    year=2014,
    paper=PAPER,
    reported=Reported(top1=70.4, top5=89.6, protocol="Simonyan & Zisserman 2015, Table 3: A, single scale 256, top-1 error 29.6%, top-5 10.4%",
                      headline="A-LRN, the same network with AlexNet's local response normalization: top-1 error 29.7%, top-5 10.5% (Simonyan & Zisserman 2015, Table 3), no better than A, so the deeper networks leave LRN out"),
    parameters=132_863_336,
    min_size=32,
)
def vgg11(input_shape=(224, 224, 3), num_classes: int = 1000, batch_norm: bool = False, dropout: float = 0.5,
          fc_units: int = 4096, width: float = 1.0) -> keras.Model:  # fmt: skip
    """VGG-11, configuration A of the paper's Table 1: 1 | 1 | 2 | 2 | 2 convolutions per block.
    The options are :func:`vgg`'s."""
    return vgg((1, 1, 2, 2, 2), "vgg11", input_shape, num_classes, batch_norm, dropout, fc_units, width)


@register(
    summary="VGG-13 (2014): 3x3 convolutions (2, 2, 2, 2, 2), 224x224x3",
    year=2014,
    paper=PAPER,
    reported=Reported(top1=71.3, top5=90.1, protocol="Simonyan & Zisserman 2015, Table 3: B, single scale 256, top-1 error 28.7%, top-5 9.9%"),
    parameters=133_047_848,
    min_size=32,
)
def vgg13(input_shape=(224, 224, 3), num_classes: int = 1000, batch_norm: bool = False, dropout: float = 0.5,
          fc_units: int = 4096, width: float = 1.0) -> keras.Model:  # fmt: skip
    """VGG-13, configuration B of the paper's Table 1: 2 | 2 | 2 | 2 | 2 convolutions per block.
    The options are :func:`vgg`'s."""
    return vgg((2, 2, 2, 2, 2), "vgg13", input_shape, num_classes, batch_norm, dropout, fc_units, width)


@register(
    summary="VGG-16 (2014): 3x3 convolutions (2, 2, 3, 3, 3), 224x224x3",
    year=2014,
    paper=PAPER,
    reported=Reported(top1=73.0, top5=91.2, protocol="Simonyan & Zisserman 2015, Table 3: D, single scale 256, top-1 error 27.0%, top-5 8.8%",
                      headline="ILSVRC 2014: second in classification (top-5 error 7.3% on the test set, 7 networks) and first in localization (25.3% error); 6.8% top-5 after the contest with 2 networks (Simonyan & Zisserman 2015, Table 7 and Appendix A)"),
    parameters=138_357_544,
    min_size=32,
)
def vgg16(input_shape=(224, 224, 3), num_classes: int = 1000, batch_norm: bool = False, dropout: float = 0.5,
          fc_units: int = 4096, width: float = 1.0) -> keras.Model:  # fmt: skip
    """VGG-16, configuration D of the paper's Table 1: 2 | 2 | 3 | 3 | 3 convolutions per block.
    The options are :func:`vgg`'s."""
    return vgg((2, 2, 3, 3, 3), "vgg16", input_shape, num_classes, batch_norm, dropout, fc_units, width)


@register(
    summary="VGG-19 (2014): 3x3 convolutions (2, 2, 4, 4, 4), 224x224x3",
    year=2014,
    paper=PAPER,
    reported=Reported(top1=72.7, top5=91.0, protocol="Simonyan & Zisserman 2015, Table 3: E, single scale 256, top-1 error 27.3%, top-5 9.0%"),
    parameters=143_667_240,
    min_size=32,
)
def vgg19(input_shape=(224, 224, 3), num_classes: int = 1000, batch_norm: bool = False, dropout: float = 0.5,
          fc_units: int = 4096, width: float = 1.0) -> keras.Model:  # fmt: skip
    """VGG-19, configuration E of the paper's Table 1: 2 | 2 | 4 | 4 | 4 convolutions per block.
    The options are :func:`vgg`'s."""
    return vgg((2, 2, 4, 4, 4), "vgg19", input_shape, num_classes, batch_norm, dropout, fc_units, width)
