"""ResNeXt (Xie, Girshick, Dollar, Tu and He, 2016): cardinality, a third dimension beside depth
and width.

A ResNeXt block is a ResNet bottleneck whose 3x3 convolution is split into ``cardinality``
parallel groups (:func:`grouped_bottleneck`, one ``Conv2D(groups=...)``): 32 paths of width 4
("32x4d") have about the parameters of one path of width 64, and the paper found more paths
better than a wider or deeper network at equal cost. ``resnext50_32x4d`` follows torchvision:
ResNet-50's stages (3, 4, 6, 3 blocks) with the stride on the grouped 3x3 convolution, and
25,028,904 trainable parameters. Images below 64 pixels get a 3x3 stem without max pool.
"""

from __future__ import annotations

import keras
from keras import layers

from cnnkit.models.registry import Reported, register


def _bn(name):
    return layers.BatchNormalization(epsilon=1e-5, momentum=0.9, name=name)


def grouped_bottleneck(x, filters, stride=1, cardinality=32, base_width=4, name="block"):
    """1x1 (width) -> grouped 3x3 (width, ``cardinality`` groups, stride) -> 1x1 (4 ``filters``),
    each followed by BN (and ReLU but the last), added to the shortcut, then ReLU.

    ``width = filters * base_width / 64 * cardinality``: 128 for the first stage of 32x4d.
    The shortcut is a strided 1x1 projection + BN when the shape changes.
    """
    width = int(filters * base_width / 64) * cardinality
    out = 4 * filters
    shortcut = x
    if stride != 1 or x.shape[-1] != out:
        shortcut = layers.Conv2D(out, 1, strides=stride, use_bias=False, name=f"{name}_0_conv")(x)
        shortcut = _bn(f"{name}_0_bn")(shortcut)
    y = layers.Conv2D(width, 1, use_bias=False, name=f"{name}_1_conv")(x)
    y = layers.Activation("relu", name=f"{name}_1_relu")(_bn(f"{name}_1_bn")(y))
    y = layers.Conv2D(width, 3, strides=stride, padding="same", groups=cardinality, use_bias=False,
                      name=f"{name}_2_conv")(y)  # fmt: skip
    y = layers.Activation("relu", name=f"{name}_2_relu")(_bn(f"{name}_2_bn")(y))
    y = _bn(f"{name}_3_bn")(layers.Conv2D(out, 1, use_bias=False, name=f"{name}_3_conv")(y))
    return layers.Activation("relu", name=f"{name}_out")(layers.Add(name=f"{name}_add")([shortcut, y]))


@register(
    summary="ResNeXt-50 32x4d (2016): grouped bottlenecks, cardinality 32, 224x224x3",
    year=2016,
    parameters=25_097_128,
    min_size=32,
    paper="Xie, Girshick, Dollar, Tu & He 2017, Aggregated residual transformations for deep neural networks",
    reported=Reported(top1=77.8, protocol="Xie et al. 2017, Table 3: 224 single crop, top-1 error 22.2%",
                      headline="ResNeXt-101 32x48d, a far larger sibling pre-trained on 3.5 billion Instagram images with hashtags and fine-tuned on ImageNet: 85.4% top-1 (Mahajan et al. 2018)"),
)
def resnext50_32x4d(input_shape=(224, 224, 3), num_classes: int = 1000, cardinality: int = 32,
                    base_width: int = 4) -> keras.Model:  # fmt: skip
    """ResNeXt-50 (32x4d): ResNet-50's stem and stages with :func:`grouped_bottleneck` blocks."""
    inputs = keras.Input(shape=input_shape, name="image")
    if min(input_shape[:2]) >= 64:
        x = layers.ZeroPadding2D(3, name="conv1_pad")(inputs)
        x = layers.Conv2D(64, 7, strides=2, use_bias=False, name="conv1_conv")(x)
        x = layers.Activation("relu", name="conv1_relu")(_bn("conv1_bn")(x))
        x = layers.ZeroPadding2D(1, name="pool1_pad")(x)
        x = layers.MaxPooling2D(3, strides=2, name="pool1_pool")(x)
    else:
        x = layers.Conv2D(64, 3, padding="same", use_bias=False, name="conv1_conv")(inputs)
        x = layers.Activation("relu", name="conv1_relu")(_bn("conv1_bn")(x))
    for stage, (filters, blocks, stride) in enumerate(
        ((64, 3, 1), (128, 4, 2), (256, 6, 2), (512, 3, 2)), start=2
    ):
        for index in range(1, blocks + 1):
            x = grouped_bottleneck(x, filters, stride if index == 1 else 1, cardinality, base_width,
                                   name=f"conv{stage}_block{index}")  # fmt: skip
    x = layers.GlobalAveragePooling2D(name="avg_pool")(x)
    outputs = layers.Dense(num_classes, activation="softmax", name="predictions", dtype="float32")(x)
    return keras.Model(inputs, outputs, name=f"resnext50_{cardinality}x{base_width}d")
