"""ResNet (He, Zhang, Ren and Sun, 2015), structured like ``keras.applications``' resnet.py:
a block function, a stack function, a model function.

- ``resnet18`` ... ``resnet152``: the ImageNet family on 224x224x3. With 1,000 classes their
  trainable parameters equal the reference implementations' (torchvision): 11,689,512;
  21,797,672; 25,557,032; 44,549,160; 60,192,808. Batch-norm moving statistics are
  non-trainable and counted apart. ``stride_in`` places a bottleneck block's stride: on the 3x3
  convolution (``"3x3"``, the default: torchvision's "ResNet v1.5", slightly more accurate) or on
  the first 1x1 convolution (``"1x1"``: the original paper's Caffe model and keras.applications,
  whose ImageNet weights then load into this model; the tests check equal outputs). The count
  is the same either way.
- ``resnet_cifar`` (depth 6n+2: 20, 32, 44, 56, 110) with 16-32-64 filters and option A
  shortcuts, and ``plain_cifar``: the same network without shortcuts (the degradation
  experiment of the paper's Section 4.2).

Options: ``shortcut`` ``"A"`` (subsample and zero-pad the channels; no parameters) or ``"B"``
(1x1 projection + batch norm) where the shape changes; ``preact=True`` for pre-activation
blocks (ResNet v2, He et al. 2016); ``sync_batchnorm=True`` to share batch statistics across
devices under ``tf.distribute``. Convolutions followed by batch norm have no bias.
"""

from __future__ import annotations

import keras
from keras import layers, ops

from cnnkit.models.layers import PACKAGE
from cnnkit.models.registry import Reported, register

BN_EPSILON = 1e-5


@keras.saving.register_keras_serializable(package=PACKAGE)
class ZeroPadShortcut(keras.layers.Layer):
    """Option A shortcut: keep every ``stride``-th pixel and zero-pad the channels to ``filters``.

    Input ``(batch, h, w, c)``; output ``(batch, ceil(h / stride), ceil(w / stride), filters)``
    with the new channels split evenly before and after the old ones. No parameters.
    """

    def __init__(self, filters: int, stride: int = 2, **kwargs):
        super().__init__(**kwargs)
        self.filters, self.stride = int(filters), int(stride)

    def call(self, inputs):
        x = inputs[:, :: self.stride, :: self.stride, :]
        extra = self.filters - inputs.shape[-1]
        if extra < 0:
            raise ValueError(f"ZeroPadShortcut cannot shrink {inputs.shape[-1]} channels to {self.filters}.")
        return ops.pad(x, [[0, 0], [0, 0], [0, 0], [extra // 2, extra - extra // 2]])

    def compute_output_shape(self, input_shape):
        batch, height, width, _ = input_shape
        shrink = lambda size: None if size is None else -(-size // self.stride)  # noqa: E731
        return (batch, shrink(height), shrink(width), self.filters)

    def get_config(self):
        return {**super().get_config(), "filters": self.filters, "stride": self.stride}


def _bn(name: str, sync: bool):
    return layers.BatchNormalization(epsilon=BN_EPSILON, momentum=0.9, synchronized=sync, name=name)


def _conv(filters: int, kernel: int, stride: int, name: str):
    """A bias-free convolution (batch norm follows) with He initialization."""
    return layers.Conv2D(filters, kernel, strides=stride, padding="same", use_bias=False,
                         kernel_initializer="he_normal", name=name)  # fmt: skip


def _shortcut(x, source, filters: int, stride: int, kind: str, name: str, sync: bool):
    """The shortcut branch: identity, option A, option B, or ``None`` (plain network)."""
    if kind == "none":
        return None
    if stride == 1 and x.shape[-1] == filters:
        return x
    if kind == "A":
        return ZeroPadShortcut(filters, stride, name=f"{name}_0_pad")(x)
    shortcut = _conv(filters, 1, stride, f"{name}_0_conv")(source)
    return shortcut if source is not x else _bn(f"{name}_0_bn", sync)(shortcut)


def _finish(shortcut, residual, name: str, activate: bool):
    """Add the branches (if there is a shortcut) and, for post-activation blocks, apply ReLU."""
    x = residual if shortcut is None else layers.Add(name=f"{name}_add")([shortcut, residual])
    return (
        layers.Activation("relu", name=f"{name}_out")(x)
        if activate
        else layers.Identity(name=f"{name}_out")(x)
    )


def basic_block(x, filters, stride=1, shortcut="B", preact=False, sync=False, name="block"):
    """Two 3x3 convolutions; output channels ``filters``.

    Post-activation (v1): conv-BN-ReLU-conv-BN, add, ReLU. Pre-activation (v2): BN-ReLU-conv
    twice, add; a projection shortcut then reads the pre-activated input.
    """
    source = x
    if preact:
        source = layers.Activation("relu", name=f"{name}_preact_relu")(_bn(f"{name}_preact_bn", sync)(x))
    skip = _shortcut(x, source, filters, stride, shortcut, name, sync)
    y = _conv(filters, 3, stride, f"{name}_1_conv")(source)
    y = layers.Activation("relu", name=f"{name}_1_relu")(_bn(f"{name}_1_bn", sync)(y))
    y = _conv(filters, 3, 1, f"{name}_2_conv")(y)
    if not preact:
        y = _bn(f"{name}_2_bn", sync)(y)
    return _finish(skip, y, name, activate=not preact)


def bottleneck_block(x, filters, stride=1, shortcut="B", preact=False, sync=False, name="block",
                     stride_in="3x3"):  # fmt: skip
    """1x1 (``filters``) -> 3x3 (``filters``) -> 1x1 (``4 * filters``); output ``4 * filters``.

    ``stride_in``: ``"3x3"`` strides the 3x3 convolution (torchvision), ``"1x1"`` the first 1x1
    one (the paper's Caffe model, keras.applications).
    """
    if stride_in not in ("1x1", "3x3"):
        raise ValueError(f"stride_in must be '1x1' or '3x3', got {stride_in!r}.")
    source = x
    if preact:
        source = layers.Activation("relu", name=f"{name}_preact_relu")(_bn(f"{name}_preact_bn", sync)(x))
    skip = _shortcut(x, source, 4 * filters, stride, shortcut, name, sync)
    y = _conv(filters, 1, stride if stride_in == "1x1" else 1, f"{name}_1_conv")(source)
    y = layers.Activation("relu", name=f"{name}_1_relu")(_bn(f"{name}_1_bn", sync)(y))
    y = _conv(filters, 3, stride if stride_in == "3x3" else 1, f"{name}_2_conv")(y)
    y = layers.Activation("relu", name=f"{name}_2_relu")(_bn(f"{name}_2_bn", sync)(y))
    y = _conv(4 * filters, 1, 1, f"{name}_3_conv")(y)
    if not preact:
        y = _bn(f"{name}_3_bn", sync)(y)
    return _finish(skip, y, name, activate=not preact)


def stack(x, block, filters, blocks, stride, name, **options):
    """``blocks`` blocks; the first one changes the resolution (``stride``) and the width."""
    x = block(x, filters, stride, name=f"{name}_block1", **options)
    for index in range(2, blocks + 1):
        x = block(x, filters, 1, name=f"{name}_block{index}", **options)
    return x


def _check(shortcut, preact):
    if shortcut not in ("A", "B", "none"):
        raise ValueError(
            f"shortcut must be 'A' (zero padding), 'B' (projection) or 'none', got {shortcut!r}."
        )
    if preact and shortcut == "none":
        raise ValueError("preact=True needs shortcuts: a plain network has no residual blocks.")


def resnet_imagenet(blocks, block, name, *, input_shape=(224, 224, 3), num_classes=1000,
                    shortcut="B", preact=False, sync_batchnorm=False, stride_in="3x3") -> keras.Model:  # fmt: skip
    """The ImageNet ResNet: 7x7/2 stem, 3x3/2 max pool, four stages (64-128-256-512 filters,
    strides 1-2-2-2), global average pooling, dense softmax. Stage outputs on 224x224 input:
    ``conv2`` 56x56, ``conv3`` 28x28, ``conv4`` 14x14, ``conv5`` 7x7."""
    _check(shortcut, preact)
    options = dict(shortcut=shortcut, preact=preact, sync=sync_batchnorm)
    if block is bottleneck_block:
        options["stride_in"] = stride_in
    elif stride_in != "3x3":
        raise ValueError(f"stride_in applies to bottleneck blocks (ResNet-50 and deeper), not to {name}.")
    inputs = keras.Input(shape=input_shape, name="image")
    x = layers.ZeroPadding2D(3, name="conv1_pad")(inputs)
    x = layers.Conv2D(64, 7, strides=2, use_bias=False, kernel_initializer="he_normal", name="conv1_conv")(x)
    x = layers.Activation("relu", name="conv1_relu")(_bn("conv1_bn", sync_batchnorm)(x))
    x = layers.ZeroPadding2D(1, name="pool1_pad")(x)
    x = layers.MaxPooling2D(3, strides=2, name="pool1_pool")(x)
    for stage, (filters, count, stride) in enumerate(
        zip((64, 128, 256, 512), blocks, (1, 2, 2, 2), strict=True), start=2
    ):
        x = stack(x, block, filters, count, stride, name=f"conv{stage}", **options)
    if preact:
        x = layers.Activation("relu", name="post_relu")(_bn("post_bn", sync_batchnorm)(x))
    x = layers.GlobalAveragePooling2D(name="avg_pool")(x)
    outputs = layers.Dense(num_classes, activation="softmax", name="predictions", dtype="float32")(x)
    return keras.Model(inputs, outputs, name=name + ("_v2" if preact else ""))


PAPER = "He, Zhang, Ren & Sun 2016, Deep residual learning for image recognition"


@register(
    summary="ResNet-18 for 224x224x3 (basic blocks (2, 2, 2, 2))",
    year=2015,
    paper=PAPER,
    reported=Reported(top1=72.1, protocol="He et al. 2016, Table 2: 18 layers, 10 crops, top-1 error 27.88%"),
    parameters=11_699_112,
    min_size=32,
)
def resnet18(input_shape=(224, 224, 3), num_classes=1000, shortcut="B", preact=False, sync_batchnorm=False,
             stride_in="3x3") -> keras.Model:  # fmt: skip
    """ResNet-18: 2 + 2 + 2 + 2 basic blocks in the four stages of :func:`resnet_imagenet`."""
    return resnet_imagenet((2, 2, 2, 2), basic_block, "resnet18", input_shape=input_shape, num_classes=num_classes,
                           shortcut=shortcut, preact=preact, sync_batchnorm=sync_batchnorm, stride_in=stride_in)


@register(
    summary="ResNet-34 for 224x224x3 (basic blocks (3, 4, 6, 3))",
    year=2015,
    paper=PAPER,
    reported=Reported(top1=75.5, top5=92.5, protocol="He et al. 2016, Table 3: ResNet-34 B, 10 crops, top-1 error 24.52%, top-5 7.46%"),
    parameters=21_814_696,
    min_size=32,
)
def resnet34(input_shape=(224, 224, 3), num_classes=1000, shortcut="B", preact=False, sync_batchnorm=False,
             stride_in="3x3") -> keras.Model:  # fmt: skip
    """ResNet-34: 3 + 4 + 6 + 3 basic blocks in the four stages of :func:`resnet_imagenet`."""
    return resnet_imagenet((3, 4, 6, 3), basic_block, "resnet34", input_shape=input_shape, num_classes=num_classes,
                           shortcut=shortcut, preact=preact, sync_batchnorm=sync_batchnorm, stride_in=stride_in)


@register(
    summary="ResNet-50 for 224x224x3 (bottleneck blocks (3, 4, 6, 3))",
    year=2015,
    paper=PAPER,
    reported=Reported(top1=77.2, top5=93.3, protocol="He et al. 2016, Table 3: ResNet-50, 10 crops, top-1 error 22.85%, top-5 6.71%"),
    parameters=25_610_152,
    min_size=32,
)
def resnet50(input_shape=(224, 224, 3), num_classes=1000, shortcut="B", preact=False, sync_batchnorm=False,
             stride_in="3x3") -> keras.Model:  # fmt: skip
    """ResNet-50: 3 + 4 + 6 + 3 bottleneck blocks in the four stages of :func:`resnet_imagenet`."""
    return resnet_imagenet((3, 4, 6, 3), bottleneck_block, "resnet50", input_shape=input_shape, num_classes=num_classes,
                           shortcut=shortcut, preact=preact, sync_batchnorm=sync_batchnorm, stride_in=stride_in)


@register(
    summary="ResNet-101 for 224x224x3 (bottleneck blocks (3, 4, 23, 3))",
    year=2015,
    paper=PAPER,
    reported=Reported(top1=78.3, top5=94.0, protocol="He et al. 2016, Table 3: ResNet-101, 10 crops, top-1 error 21.75%, top-5 6.05%"),
    parameters=44_654_504,
    min_size=32,
)
def resnet101(input_shape=(224, 224, 3), num_classes=1000, shortcut="B", preact=False, sync_batchnorm=False,
              stride_in="3x3") -> keras.Model:  # fmt: skip
    """ResNet-101: 3 + 4 + 23 + 3 bottleneck blocks in the four stages of :func:`resnet_imagenet`."""
    return resnet_imagenet((3, 4, 23, 3), bottleneck_block, "resnet101", input_shape=input_shape, num_classes=num_classes,
                           shortcut=shortcut, preact=preact, sync_batchnorm=sync_batchnorm, stride_in=stride_in)


@register(
    summary="ResNet-152 for 224x224x3 (bottleneck blocks (3, 8, 36, 3))",
    year=2015,
    paper=PAPER,
    reported=Reported(top1=78.6, top5=94.3, protocol="He et al. 2016, Table 3: ResNet-152, 10 crops, top-1 error 21.43%, top-5 5.71%",
                      headline="ILSVRC 2015 classification winner: top-5 error 3.57% on the test set, an ensemble of 6 models of different depths (He et al. 2016, Table 5)"),
    parameters=60_344_232,
    min_size=32,
)
def resnet152(input_shape=(224, 224, 3), num_classes=1000, shortcut="B", preact=False, sync_batchnorm=False,
              stride_in="3x3") -> keras.Model:  # fmt: skip
    """ResNet-152: 3 + 8 + 36 + 3 bottleneck blocks in the four stages of :func:`resnet_imagenet`."""
    return resnet_imagenet((3, 8, 36, 3), bottleneck_block, "resnet152", input_shape=input_shape, num_classes=num_classes,
                           shortcut=shortcut, preact=preact, sync_batchnorm=sync_batchnorm, stride_in=stride_in)


def cifar_network(depth=20, input_shape=(32, 32, 3), num_classes=10, shortcut="A", preact=False,
                  sync_batchnorm=False, name="resnet_cifar") -> keras.Model:  # fmt: skip
    """The CIFAR-10 networks of the paper's Section 4.2: depth ``6n + 2``.

    3x3 conv (16) -> three stages of ``n`` basic blocks with 16, 32 and 64 filters (32x32,
    16x16, 8x8 maps) -> global average pooling -> dense softmax. ``shortcut="none"`` gives the
    plain network of the same depth.
    """
    if depth < 8 or (depth - 2) % 6:
        raise ValueError(f"depth must be 6n + 2 with n >= 1 (8, 14, 20, 32, 44, 56, 110, ...), got {depth}.")
    _check(shortcut, preact)
    n = (depth - 2) // 6
    options = dict(shortcut=shortcut, preact=preact, sync=sync_batchnorm)
    inputs = keras.Input(shape=input_shape, name="image")
    x = _conv(16, 3, 1, "conv1_conv")(inputs)
    if not preact:
        x = layers.Activation("relu", name="conv1_relu")(_bn("conv1_bn", sync_batchnorm)(x))
    for stage, (filters, stride) in enumerate(zip((16, 32, 64), (1, 2, 2), strict=True), start=2):
        x = stack(x, basic_block, filters, n, stride, name=f"conv{stage}", **options)
    if preact:
        x = layers.Activation("relu", name="post_relu")(_bn("post_bn", sync_batchnorm)(x))
    x = layers.GlobalAveragePooling2D(name="avg_pool")(x)
    outputs = layers.Dense(num_classes, activation="softmax", name="predictions", dtype="float32")(x)
    return keras.Model(inputs, outputs, name=f"{name}{depth}" + ("_v2" if preact else ""))


@register(
    summary="ResNet for CIFAR-10 (depth 6n+2, option A shortcuts), e.g. -o depth=56",
    year=2015,
    parameters=271_098,
    paper="He, Zhang, Ren & Sun 2016, Deep residual learning for image recognition, Section 4.2",
    fit_input="pad",
)
def resnet_cifar(input_shape=(32, 32, 3), num_classes=10, depth=20, **options) -> keras.Model:
    """ResNet-``depth`` for 32x32 images; see :func:`cifar_network`."""
    return cifar_network(depth, input_shape, num_classes, **options)


@register(
    summary="The same CIFAR network without shortcuts (degradation experiment)",
    year=2015,
    parameters=271_098,
    paper="He, Zhang, Ren & Sun 2016, Deep residual learning for image recognition, Section 4.2",
    fit_input="pad",
)
def plain_cifar(input_shape=(32, 32, 3), num_classes=10, depth=20, sync_batchnorm=False) -> keras.Model:
    """Plain-``depth``: :func:`cifar_network` with ``shortcut="none"``."""
    return cifar_network(depth, input_shape, num_classes, shortcut="none", sync_batchnorm=sync_batchnorm,
                         name="plain_cifar")  # fmt: skip
