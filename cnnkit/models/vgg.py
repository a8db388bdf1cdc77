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

from functools import partial

import keras
from keras import layers

from cnnkit.models.registry import register

CONFIGS = {
    "vgg11": (1, 1, 2, 2, 2),
    "vgg13": (2, 2, 2, 2, 2),
    "vgg16": (2, 2, 3, 3, 3),
    "vgg19": (2, 2, 4, 4, 4),
}
WIDTHS = (64, 128, 256, 512, 512)
PARAMETERS = {"vgg11": 132_863_336, "vgg13": 133_047_848, "vgg16": 138_357_544, "vgg19": 143_667_240}


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


def vgg(config: str, input_shape=(224, 224, 3), num_classes: int = 1000, batch_norm: bool = False,
        dropout: float = 0.5, fc_units: int = 4096, width: float = 1.0) -> keras.Model:  # fmt: skip
    """VGG configuration ``config`` (a key of :data:`CONFIGS`); see the module docstring.

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
    for block, (filters, convs) in enumerate(zip(WIDTHS, CONFIGS[config], strict=True), start=1):
        x = vgg_block(x, max(1, round(filters * width)), convs, f"block{block}", batch_norm)
    x = layers.Flatten(name="flatten")(x)
    for name in ("fc1", "fc2"):
        x = layers.Dense(fc_units, activation="relu", name=name)(x)
        x = layers.Dropout(dropout, name=f"{name}_dropout")(x)
    outputs = layers.Dense(num_classes, activation="softmax", name="predictions", dtype="float32")(x)
    return keras.Model(inputs, outputs, name=config + ("_bn" if batch_norm else ""))


for _name, _count in PARAMETERS.items():
    register(_name, summary=f"VGG-{_name[3:]} (2014): 3x3 convolutions {CONFIGS[_name]}, 224x224x3",
             year=2014, parameters=_count, min_size=32)(partial(vgg, _name))  # fmt: skip
