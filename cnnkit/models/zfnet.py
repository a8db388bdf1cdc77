"""ZFNet (Zeiler and Fergus, 2013): AlexNet's layout with a smaller, finer first layer.

Visualizing AlexNet's first layer showed aliasing from its 11x11 stride-4 filters and dead
filters; the paper's Figure 3 network uses 7x7 stride-2 filters instead, and a 5x5 stride-2
second layer, in one tower::

    layer   output (224 in)   what it is
    conv1   110x110x96        7x7 stride 2 (1 pixel of zero padding), ReLU
    pool1   55x55x96          max 3x3 stride 2, then contrast normalization (LRN)
    conv2   26x26x256         5x5 stride 2, ReLU
    pool2   13x13x256         max 3x3 stride 2, LRN
    conv3   13x13x384         3x3, ReLU
    conv4   13x13x384         3x3, ReLU
    conv5   13x13x256         3x3, ReLU
    pool5   6x6x256           max 3x3 stride 2
    fc6, fc7  4096            ReLU, dropout 0.5
    fc8     num_classes       softmax

62,357,608 parameters with 1,000 classes. The feature map sizes (110, 55, 26, 13, 13, 13, 6)
are the paper's; they fix the input at 224x224x3, so other image sizes are resized to it.
"""

from __future__ import annotations

import keras
from keras import layers

from cnnkit.models.layers import LocalResponseNormalization
from cnnkit.models.registry import Reported, register


@register(
    summary="ZFNet (2013): AlexNet with 7x7/2 first filters, 224x224x3, one tower",
    fixed_input=True,
    fit_input="resize",
    year=2013,
    parameters=62_357_608,
    paper="Zeiler & Fergus 2014, Visualizing and understanding convolutional networks",
    reported=Reported(top1=61.6, top5=83.5, protocol="Zeiler & Fergus 2014, Table 2: 1 convnet as in Fig. 3, top-1 error 38.4%, top-5 16.5%"),
)
def zfnet(
    input_shape=(224, 224, 3), num_classes: int = 1000, dropout: float = 0.5, lrn: bool = True
) -> keras.Model:
    """ZFNet layer by layer (see the module docstring). ``lrn=False`` drops the normalization."""
    relu = dict(activation="relu", kernel_initializer="he_normal")
    inputs = keras.Input(shape=input_shape, name="image")
    x = layers.ZeroPadding2D(1, name="conv1_pad")(inputs)
    x = layers.Conv2D(96, 7, strides=2, name="conv1", **relu)(x)
    x = layers.MaxPooling2D(3, strides=2, padding="same", name="pool1")(x)
    if lrn:
        x = LocalResponseNormalization(name="lrn1")(x)
    x = layers.Conv2D(256, 5, strides=2, name="conv2", **relu)(x)
    x = layers.MaxPooling2D(3, strides=2, padding="same", name="pool2")(x)
    if lrn:
        x = LocalResponseNormalization(name="lrn2")(x)
    x = layers.Conv2D(384, 3, padding="same", name="conv3", **relu)(x)
    x = layers.Conv2D(384, 3, padding="same", name="conv4", **relu)(x)
    x = layers.Conv2D(256, 3, padding="same", name="conv5", **relu)(x)
    x = layers.MaxPooling2D(3, strides=2, name="pool5")(x)
    x = layers.Flatten(name="flatten")(x)
    for name in ("fc6", "fc7"):
        x = layers.Dense(4096, name=name, **relu)(x)
        x = layers.Dropout(dropout, name=f"{name}_dropout")(x)
    outputs = layers.Dense(num_classes, activation="softmax", name="fc8", dtype="float32")(x)
    return keras.Model(inputs, outputs, name="zfnet")
