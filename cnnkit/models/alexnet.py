"""AlexNet: the 2012 network as published, a small-image variant, and the textbook variant.

- ``alexnet``: Krizhevsky, Sutskever and Hinton (2012), "ImageNet classification with deep
  convolutional neural networks". 227x227x3 input (the paper says 224, but only 227 gives its
  55x55 conv1 maps). With 1,000 classes: 60,965,224 parameters with the paper's two GPU towers
  (``groups=2``: conv2, conv4 and conv5 see only their own tower's half of the channels) and
  62,378,344 as a single tower (``groups=1``).
- ``alexnet_small``: the same ideas at a quarter of the width for 28-32 px images.
- ``alexnet_textbook``: the single-tower form that textbooks (Dive into Deep Learning) train on
  Fashion-MNIST resized to 224x224x1.

The ablation switches ``lrn``, ``dropout`` and ``overlapping_pool`` turn off one idea at a time.

Initialization: ReLU layers start from He-normal weights (He et al., 2015), the standard for
ReLU networks. The paper's N(0, 0.01) weights with biases of 1 were tuned for 0-255 pixel values
and ImageNet; on [0, 1] images they leave these networks stuck at chance for epochs (measured on
the digits). Other activations keep Keras' Glorot-uniform default.
"""

from __future__ import annotations

import keras
from keras import layers

from cnnkit.models.layers import LocalResponseNormalization
from cnnkit.models.registry import Reported, register


def _initializer(activation: str) -> str:
    """He-normal weights for ReLU layers, Keras' Glorot-uniform default otherwise."""
    return "he_normal" if activation == "relu" else "glorot_uniform"


def _pool(name: str, overlapping: bool, padding: str = "valid"):
    """The paper's overlapping 3x3 / stride 2 max pooling, or the traditional 2x2 / stride 2."""
    size = 3 if overlapping else 2
    return layers.MaxPooling2D(size, strides=2, padding=padding, name=name)


def _head(x, num_classes: int, units: int, dropout: float, activation: str = "relu"):
    """FC6 -> dropout -> FC7 -> dropout -> FC8 (softmax)."""
    x = layers.Flatten(name="flatten")(x)
    for index in (6, 7):
        x = layers.Dense(units, activation=activation, kernel_initializer=_initializer(activation),
                         name=f"fc{index}")(x)  # fmt: skip
        if dropout:
            x = layers.Dropout(dropout, name=f"dropout{index}")(x)
    return layers.Dense(num_classes, activation="softmax", name="fc8", dtype="float32")(x)


def _check_dropout(dropout: float):
    if not 0 <= dropout < 1:
        raise ValueError(f"dropout must lie in [0, 1), got {dropout}.")


@register(
    summary="AlexNet as published (2012): 227x227x3, LRN, overlapping pooling, two towers",
    year=2012,
    parameters=60_965_224,
    min_size=67,
    paper="Krizhevsky, Sutskever & Hinton 2012, ImageNet classification with deep convolutional neural networks",
    reported=Reported(top1=59.3, top5=81.8, protocol="Krizhevsky et al. 2012, Table 2: 1 CNN, top-1 error 40.7%, top-5 18.2% (10 crops)"),
)
def alexnet(
    input_shape=(227, 227, 3),
    num_classes: int = 1000,
    groups: int = 2,
    lrn: bool = True,
    dropout: float = 0.5,
    overlapping_pool: bool = True,
    name: str | None = None,
) -> keras.Model:
    """AlexNet layer by layer, as in Section 3 and Figure 2 of the paper.

    =========  ================  ===========================================
    layer      output (227 in)   what it is
    =========  ================  ===========================================
    conv1      55x55x96          11x11 stride 4, ReLU, LRN
    pool1      27x27x96          max 3x3 stride 2 (overlapping)
    conv2      27x27x256         5x5 'same', ``groups`` towers, ReLU, LRN
    pool2      13x13x256
    conv3      13x13x384         3x3, reads both towers, ReLU
    conv4      13x13x384         3x3, ``groups`` towers, ReLU
    conv5      13x13x256         3x3, ``groups`` towers, ReLU
    pool5      6x6x256
    fc6, fc7   4096              ReLU, dropout 0.5
    fc8        num_classes       softmax
    =========  ================  ===========================================
    """
    if groups not in (1, 2):
        raise ValueError(f"groups must be 1 (one tower) or 2 (the paper's two towers), got {groups}.")
    _check_dropout(dropout)
    inputs = keras.Input(shape=input_shape, name="image")
    x = layers.Conv2D(96, 11, strides=4, activation="relu", kernel_initializer="he_normal", name="conv1")(
        inputs
    )
    if lrn:
        x = LocalResponseNormalization(name="lrn1")(x)
    x = _pool("pool1", overlapping_pool)(x)
    x = layers.Conv2D(
        256, 5, padding="same", groups=groups, activation="relu", kernel_initializer="he_normal", name="conv2"
    )(x)
    if lrn:
        x = LocalResponseNormalization(name="lrn2")(x)
    x = _pool("pool2", overlapping_pool)(x)
    x = layers.Conv2D(
        384, 3, padding="same", activation="relu", kernel_initializer="he_normal", name="conv3"
    )(x)
    x = layers.Conv2D(
        384, 3, padding="same", groups=groups, activation="relu", kernel_initializer="he_normal", name="conv4"
    )(x)
    x = layers.Conv2D(
        256, 3, padding="same", groups=groups, activation="relu", kernel_initializer="he_normal", name="conv5"
    )(x)
    x = _pool("pool5", overlapping_pool)(x)
    outputs = _head(x, num_classes, 4096, dropout)
    return keras.Model(inputs, outputs, name=name or ("alexnet" if groups == 2 else "alexnet_one_tower"))


@register(
    summary="AlexNet's ideas at a quarter width for 28-32 px images (MNIST, Fashion-MNIST, CIFAR-10)",
    year=2012,
    parameters=1_025_466,
    paper="Krizhevsky, Sutskever & Hinton 2012 (scaled down by cnnkit)",
)
def alexnet_small(
    input_shape=(28, 28, 1),
    num_classes: int = 10,
    lrn: bool = True,
    dropout: float = 0.5,
    overlapping_pool: bool = True,
    activation: str = "relu",
) -> keras.Model:
    """AlexNet scaled to small images: the same five convolutions, LRN, overlapping pooling,
    two dropout-regularized dense layers, with a quarter of the filters, an eighth of the
    dense units, 5x5 first kernels at stride 1, and 'same' pooling so 28 px halves cleanly.

    On 28x28x1 with 10 classes: conv1 28x28x24 -> pool1 14x14 -> conv2 14x14x64 -> pool2 7x7
    -> conv3 7x7x96 -> conv4 7x7x96 -> conv5 7x7x64 -> pool5 4x4x64 (1,024) -> fc6 512 ->
    fc7 512 -> fc8 10: 1,025,466 parameters, about 77% of them in the dense layers.
    ``activation`` swaps ReLU for another function (e.g. ``"tanh"``) in every hidden layer.
    """
    _check_dropout(dropout)
    keras.activations.get(activation)
    init = _initializer(activation)
    inputs = keras.Input(shape=input_shape, name="image")
    x = layers.Conv2D(24, 5, padding="same", activation=activation, kernel_initializer=init, name="conv1")(
        inputs
    )
    if lrn:
        x = LocalResponseNormalization(name="lrn1")(x)
    x = _pool("pool1", overlapping_pool, "same")(x)
    x = layers.Conv2D(64, 5, padding="same", activation=activation, kernel_initializer=init, name="conv2")(x)
    if lrn:
        x = LocalResponseNormalization(name="lrn2")(x)
    x = _pool("pool2", overlapping_pool, "same")(x)
    x = layers.Conv2D(96, 3, padding="same", activation=activation, kernel_initializer=init, name="conv3")(x)
    x = layers.Conv2D(96, 3, padding="same", activation=activation, kernel_initializer=init, name="conv4")(x)
    x = layers.Conv2D(64, 3, padding="same", activation=activation, kernel_initializer=init, name="conv5")(x)
    x = _pool("pool5", overlapping_pool, "same")(x)
    outputs = _head(x, num_classes, 512, dropout, activation)
    return keras.Model(inputs, outputs, name="alexnet_small")


@register(
    summary="AlexNet as textbooks train it on Fashion-MNIST: 224x224x1 (resized in the pipeline), one tower",
    fixed_input=True,
    fit_input="resize",
    year=2012,
    parameters=46_764_746,
    paper="Krizhevsky, Sutskever & Hinton 2012 (as d2l trains it on Fashion-MNIST)",
)
def alexnet_textbook(input_shape=(224, 224, 1), num_classes: int = 10, dropout: float = 0.5) -> keras.Model:
    """The single-tower AlexNet of Dive into Deep Learning, without LRN, on 224x224x1 images:
    ``alexnet(input_shape=(224, 224, 1), num_classes=10, groups=1, lrn=False)``.

    conv1 96 11x11/4 -> 54x54, pool 3/2 -> 26, conv2 256 5x5 'same', pool -> 12, conv3-5
    384/384/256 3x3 'same', pool -> 5x5x256 (6,400) -> 4096 -> 4096 -> ``num_classes``.
    The command line and ``load_dataset(..., resize_to=224)`` resize 28 px images lazily,
    batch by batch, so the 224x224 dataset never sits in memory.
    """
    return alexnet(input_shape, num_classes, groups=1, lrn=False, dropout=dropout, name="alexnet_textbook")
