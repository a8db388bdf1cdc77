"""Networks for phones: MobileNet (2017), MobileNetV2 (2018) and MixNet (2019).

- **MobileNet** (Howard et al.): a 3x3 convolution, then 13 depthwise separable blocks
  (3x3 depthwise -> BN -> ReLU6 -> 1x1 pointwise -> BN -> ReLU6). A separable block costs
  ``1/N + 1/k^2`` of a full convolution (N output channels, k x k kernel): about 1/8 to 1/9
  for 3x3 kernels. ``alpha`` thins every layer. Layer for layer keras.applications'
  MobileNet (4,253,864 parameters).
- **MobileNetV2** (Sandler et al.): *inverted residual* blocks (:func:`inverted_residual`):
  a 1x1 convolution expands the channels 6x, a 3x3 depthwise convolution filters them, and a
  linear 1x1 convolution projects back to a thin bottleneck; the shortcut joins the thin
  ends. Layer for layer keras.applications' MobileNetV2 (3,538,984 parameters).
- **MixNet** (Tan and Le): MobileNetV2-style blocks whose depthwise convolutions mix kernel
  sizes 3x3 to 11x11 in one layer (:class:`~cnnkit.models.layers.MixedDepthwiseConv2D`),
  with grouped 1x1 convolutions, squeeze-and-excitation and swish; the block tables are the
  paper's (as in timm's ``mixnet_s`` and ``mixnet_m``).

Images smaller than 64 pixels keep full resolution in the stem (stride 1 instead of 2), the
usual CIFAR adaptation, so a 32x32 image ends at 2x2 instead of 1x1.
"""

from __future__ import annotations

import keras
from keras import layers

from cnnkit.models.layers import MixedDepthwiseConv2D
from cnnkit.models.registry import Reported, register


def _stem_stride(input_shape) -> int:
    return 2 if min(input_shape[:2]) >= 64 else 1


def _classifier(x, num_classes, name="predictions"):
    return layers.Dense(num_classes, activation="softmax", name=name, dtype="float32")(x)


# --- MobileNet v1 ---------------------------------------------------------------------------


def depthwise_separable_block(x, filters, strides, block_id):
    """3x3 depthwise (stride ``strides``) -> BN -> ReLU6 -> 1x1 pointwise (``filters``) -> BN -> ReLU6.

    A stride-2 block pads one row and column at the bottom and right first, as
    keras.applications does.
    """
    if strides == 2:
        x = layers.ZeroPadding2D(((0, 1), (0, 1)), name=f"conv_pad_{block_id}")(x)
    x = layers.DepthwiseConv2D(3, strides=strides, padding="same" if strides == 1 else "valid",
                               use_bias=False, name=f"conv_dw_{block_id}")(x)  # fmt: skip
    x = layers.BatchNormalization(name=f"conv_dw_{block_id}_bn")(x)
    x = layers.ReLU(6.0, name=f"conv_dw_{block_id}_relu")(x)
    x = layers.Conv2D(filters, 1, use_bias=False, name=f"conv_pw_{block_id}")(x)
    x = layers.BatchNormalization(name=f"conv_pw_{block_id}_bn")(x)
    return layers.ReLU(6.0, name=f"conv_pw_{block_id}_relu")(x)


# (pointwise filters, stride) of blocks 1-13.
MOBILENET_BLOCKS = ((64, 1), (128, 2), (128, 1), (256, 2), (256, 1), (512, 2),
                    (512, 1), (512, 1), (512, 1), (512, 1), (512, 1), (1024, 2), (1024, 1))  # fmt: skip


@register(
    summary="MobileNet (2017): 13 depthwise separable blocks, 224x224x3, -o alpha=0.5",
    year=2017,
    parameters=4_253_864,
    min_size=32,
    paper="Howard et al. 2017, MobileNets: efficient convolutional neural networks for mobile vision applications",
    reported=Reported(top1=70.6, protocol="Howard et al. 2017, Table 8: 1.0 MobileNet-224"),
)
def mobilenet(input_shape=(224, 224, 3), num_classes: int = 1000, alpha: float = 1.0,
              dropout: float = 1e-3) -> keras.Model:  # fmt: skip
    """MobileNet v1 with width multiplier ``alpha``; the classifier is a 1x1 convolution on the
    pooled features, as in keras.applications."""
    inputs = keras.Input(shape=input_shape, name="image")
    x = layers.Conv2D(int(32 * alpha), 3, strides=_stem_stride(input_shape), padding="same", use_bias=False,
                      name="conv1")(inputs)  # fmt: skip
    x = layers.ReLU(6.0, name="conv1_relu")(layers.BatchNormalization(name="conv1_bn")(x))
    for block_id, (filters, strides) in enumerate(MOBILENET_BLOCKS, start=1):
        x = depthwise_separable_block(x, int(filters * alpha), strides, block_id)
    x = layers.GlobalAveragePooling2D(keepdims=True, name="avg_pool")(x)
    x = layers.Dropout(dropout, name="dropout")(x)
    x = layers.Conv2D(num_classes, 1, padding="same", name="conv_preds")(x)
    x = layers.Reshape((num_classes,), name="reshape")(x)
    outputs = layers.Activation("softmax", name="predictions", dtype="float32")(x)
    return keras.Model(inputs, outputs, name=f"mobilenet_{alpha:g}")


# --- MobileNetV2 ----------------------------------------------------------------------------


def make_divisible(value: float, divisor: int = 8) -> int:
    """Round ``value`` to the nearest multiple of ``divisor``, never more than 10% down."""
    rounded = max(divisor, int(value + divisor / 2) // divisor * divisor)
    return rounded + divisor if rounded < 0.9 * value else rounded


def inverted_residual(x, filters, strides, expansion, block_id, alpha=1.0):
    """MobileNetV2's block: 1x1 expand (``expansion`` x, BN, ReLU6) -> 3x3 depthwise (BN,
    ReLU6) -> 1x1 linear projection to ``filters`` (BN, no activation) -> add the input when
    the shapes agree. Block 0 has no expansion. Layer names as keras.applications'."""
    channels = x.shape[-1]
    filters = make_divisible(int(filters * alpha), 8)
    prefix = f"block_{block_id}_" if block_id else "expanded_conv_"
    inputs = x
    if block_id:
        x = layers.Conv2D(expansion * channels, 1, use_bias=False, name=prefix + "expand")(x)
        x = layers.BatchNormalization(epsilon=1e-3, momentum=0.999, name=prefix + "expand_BN")(x)
        x = layers.ReLU(6.0, name=prefix + "expand_relu")(x)
    # 'same' padding equals keras.applications' correct_pad + 'valid' for a stride-2 3x3 kernel.
    x = layers.DepthwiseConv2D(3, strides=strides, padding="same", use_bias=False, name=prefix + "depthwise")(
        x
    )
    x = layers.BatchNormalization(epsilon=1e-3, momentum=0.999, name=prefix + "depthwise_BN")(x)
    x = layers.ReLU(6.0, name=prefix + "depthwise_relu")(x)
    x = layers.Conv2D(filters, 1, use_bias=False, name=prefix + "project")(x)
    x = layers.BatchNormalization(epsilon=1e-3, momentum=0.999, name=prefix + "project_BN")(x)
    if strides == 1 and channels == filters:
        return layers.Add(name=prefix + "add")([inputs, x])
    return x


# (filters, stride, expansion) of blocks 0-16: the paper's Table 2, one row per block.
MOBILENET_V2_BLOCKS = (
    [(16, 1, 1)] + [(24, 2, 6), (24, 1, 6)] + [(32, 2, 6)] + [(32, 1, 6)] * 2 + [(64, 2, 6)] + [(64, 1, 6)] * 3
    + [(96, 1, 6)] * 3 + [(160, 2, 6)] + [(160, 1, 6)] * 2 + [(320, 1, 6)]
)  # fmt: skip


@register(
    summary="MobileNetV2 (2018): inverted residual blocks, 224x224x3, -o alpha=0.5",
    year=2018,
    parameters=3_538_984,
    min_size=32,
    paper="Sandler et al. 2018, MobileNetV2: inverted residuals and linear bottlenecks",
    reported=Reported(top1=72.0, protocol="Sandler et al. 2018, Table 4: MobileNetV2 1.0"),
)
def mobilenet_v2(input_shape=(224, 224, 3), num_classes: int = 1000, alpha: float = 1.0) -> keras.Model:
    """MobileNetV2 with width multiplier ``alpha`` (keras.applications' layer names)."""
    inputs = keras.Input(shape=input_shape, name="image")
    x = layers.Conv2D(make_divisible(32 * alpha, 8), 3, strides=_stem_stride(input_shape), padding="same",
                      use_bias=False, name="Conv1")(inputs)  # fmt: skip
    x = layers.BatchNormalization(epsilon=1e-3, momentum=0.999, name="bn_Conv1")(x)
    x = layers.ReLU(6.0, name="Conv1_relu")(x)
    for block_id, (filters, strides, expansion) in enumerate(MOBILENET_V2_BLOCKS):
        x = inverted_residual(x, filters, strides, expansion, block_id, alpha)
    x = layers.Conv2D(
        make_divisible(1280 * alpha, 8) if alpha > 1.0 else 1280, 1, use_bias=False, name="Conv_1"
    )(x)
    x = layers.BatchNormalization(epsilon=1e-3, momentum=0.999, name="Conv_1_bn")(x)
    x = layers.ReLU(6.0, name="out_relu")(x)
    x = layers.GlobalAveragePooling2D(name="avg_pool")(x)
    return keras.Model(inputs, _classifier(x, num_classes), name=f"mobilenet_v2_{alpha:g}")


# --- MixNet ---------------------------------------------------------------------------------


def _grouped_pointwise(x, filters, groups, name):
    """A 1x1 convolution split into ``groups`` (MixNet's "a1.1"/"p1.1": two groups)."""
    if groups > 1 and (x.shape[-1] % groups or filters % groups):
        raise ValueError(f"{name}: {x.shape[-1]} -> {filters} channels do not split into {groups} groups.")
    return layers.Conv2D(filters, 1, groups=groups, use_bias=False, name=name)(x)


def squeeze_excite(x, reduced, activation, name):
    """Squeeze-and-excitation: pool each channel, 1x1 down to ``reduced`` and back up, sigmoid
    gate, rescale the channels."""
    s = layers.GlobalAveragePooling2D(keepdims=True, name=f"{name}_squeeze")(x)
    s = layers.Conv2D(reduced, 1, activation=activation, name=f"{name}_reduce")(s)
    s = layers.Conv2D(x.shape[-1], 1, activation="sigmoid", name=f"{name}_expand")(s)
    return layers.Multiply(name=f"{name}_excite")([x, s])


def mixnet_block(x, filters, kernels, strides, expansion, activation, se_ratio=0.0, expand_groups=1,
                 project_groups=1, name="block"):  # fmt: skip
    """An inverted residual block with a mixed depthwise convolution.

    1x1 expand (``expand_groups`` groups; skipped when ``expansion`` is 1) -> BN -> act ->
    :class:`MixedDepthwiseConv2D` (``kernels``, ``strides``) -> BN -> act -> optional
    squeeze-and-excitation (``se_ratio`` of the *input* channels) -> 1x1 project
    (``project_groups`` groups) -> BN -> add the input when the shapes agree.
    """
    channels, inputs = x.shape[-1], x
    if expansion != 1:
        x = _grouped_pointwise(x, channels * expansion, expand_groups, f"{name}_expand")
        x = layers.Activation(activation, name=f"{name}_expand_act")(
            layers.BatchNormalization(name=f"{name}_expand_bn")(x)
        )
    x = MixedDepthwiseConv2D(kernels, strides=strides, name=f"{name}_mixdw")(x)
    x = layers.Activation(activation, name=f"{name}_mixdw_act")(
        layers.BatchNormalization(name=f"{name}_mixdw_bn")(x)
    )
    if se_ratio:
        x = squeeze_excite(x, max(1, int(channels * se_ratio)), activation, f"{name}_se")
    x = _grouped_pointwise(x, filters, project_groups, f"{name}_project")
    x = layers.BatchNormalization(name=f"{name}_project_bn")(x)
    if strides == 1 and channels == filters:
        x = layers.Add(name=f"{name}_add")([inputs, x])
    return x


# One row per block: (filters, kernel sizes, stride, expansion, activation, SE ratio, expand
# groups, project groups): timm's / the paper's tables for MixNet-S and MixNet-M.
def _rows(count, *row):
    return [row] * count


MIXNET_PAPER = "Tan & Le 2019, MixConv: mixed depthwise convolutional kernels"
MIXNET_BLOCKS = {
    "mixnet_s": (16, [
        (16, (3,), 1, 1, "relu", 0, 1, 1),
        (24, (3,), 2, 6, "relu", 0, 2, 2), (24, (3,), 1, 3, "relu", 0, 2, 2),
        (40, (3, 5, 7), 2, 6, "swish", 0.5, 1, 1), *_rows(3, 40, (3, 5), 1, 6, "swish", 0.5, 2, 2),
        (80, (3, 5, 7), 2, 6, "swish", 0.25, 1, 2), *_rows(2, 80, (3, 5), 1, 6, "swish", 0.25, 1, 2),
        (120, (3, 5, 7), 1, 6, "swish", 0.5, 2, 2), *_rows(2, 120, (3, 5, 7, 9), 1, 3, "swish", 0.5, 2, 2),
        (200, (3, 5, 7, 9, 11), 2, 6, "swish", 0.5, 1, 1), *_rows(2, 200, (3, 5, 7, 9), 1, 6, "swish", 0.5, 1, 2),
    ]),
    "mixnet_m": (24, [
        (24, (3,), 1, 1, "relu", 0, 1, 1),
        (32, (3, 5, 7), 2, 6, "relu", 0, 2, 2), (32, (3,), 1, 3, "relu", 0, 2, 2),
        (40, (3, 5, 7, 9), 2, 6, "swish", 0.5, 1, 1), *_rows(3, 40, (3, 5), 1, 6, "swish", 0.5, 2, 2),
        (80, (3, 5, 7), 2, 6, "swish", 0.25, 1, 1), *_rows(3, 80, (3, 5, 7, 9), 1, 6, "swish", 0.25, 2, 2),
        (120, (3,), 1, 6, "swish", 0.5, 1, 1), *_rows(3, 120, (3, 5, 7, 9), 1, 3, "swish", 0.5, 2, 2),
        (200, (3, 5, 7, 9), 2, 6, "swish", 0.5, 1, 1), *_rows(3, 200, (3, 5, 7, 9), 1, 6, "swish", 0.5, 1, 2),
    ]),
}  # fmt: skip


def mixnet(variant, input_shape=(224, 224, 3), num_classes: int = 1000, dropout: float = 0.2) -> keras.Model:
    """MixNet-S or -M: 3x3 stem (stride 2) -> the blocks of :data:`MIXNET_BLOCKS` -> 1x1 conv
    to 1536 -> global average pool -> dropout -> softmax."""
    stem, blocks = MIXNET_BLOCKS[variant]
    inputs = keras.Input(shape=input_shape, name="image")
    x = layers.Conv2D(
        stem, 3, strides=_stem_stride(input_shape), padding="same", use_bias=False, name="stem_conv"
    )(inputs)
    x = layers.Activation("relu", name="stem_act")(layers.BatchNormalization(name="stem_bn")(x))
    for index, (filters, kernels, strides, expansion, act, se, expand_groups, project_groups) in enumerate(
        blocks
    ):
        # The first block is a depthwise separable one: no expansion, and no SE.
        x = mixnet_block(x, filters, kernels, strides, expansion, act, se, expand_groups, project_groups,
                         name=f"block{index}")  # fmt: skip
    x = layers.Conv2D(1536, 1, use_bias=False, name="head_conv")(x)
    x = layers.Activation("relu", name="head_act")(layers.BatchNormalization(name="head_bn")(x))
    x = layers.GlobalAveragePooling2D(name="avg_pool")(x)
    x = layers.Dropout(dropout, name="dropout")(x)
    return keras.Model(inputs, _classifier(x, num_classes), name=variant)


# count_params() with 1,000 classes: 4,134,606 / 5,014,382 trainable (timm's counts; the paper
# rounds them to 4.1M / 5.0M) plus the batch-norm moving statistics.
@register(
    summary="MixNet-S (2019): mixed 3x3-11x11 depthwise kernels, SE, swish, 224x224x3",
    year=2019,
    paper=MIXNET_PAPER,
    reported=Reported(top1=75.8, top5=92.8, protocol="Tan & Le 2019, Table 2: MixNet-S"),
    parameters=4_166_798,
    min_size=32,
)
def mixnet_s(input_shape=(224, 224, 3), num_classes: int = 1000, dropout: float = 0.2) -> keras.Model:
    """MixNet-S: a 16-channel stem and the blocks of ``MIXNET_BLOCKS["mixnet_s"]`` (:func:`mixnet`)."""
    return mixnet("mixnet_s", input_shape, num_classes, dropout)


@register(
    summary="MixNet-M (2019): mixed 3x3-11x11 depthwise kernels, SE, swish, 224x224x3",
    year=2019,
    paper=MIXNET_PAPER,
    reported=Reported(top1=77.0, top5=93.3, protocol="Tan & Le 2019, Table 2: MixNet-M"),
    parameters=5_056_094,
    min_size=32,
)
def mixnet_m(input_shape=(224, 224, 3), num_classes: int = 1000, dropout: float = 0.2) -> keras.Model:
    """MixNet-M: a 24-channel stem and the blocks of ``MIXNET_BLOCKS["mixnet_m"]`` (:func:`mixnet`)."""
    return mixnet("mixnet_m", input_shape, num_classes, dropout)


# --- MixConv's kernel-size experiment at notebook scale --------------------------------------------


# (pointwise filters, stride) of a six-block MobileNet for 32x32 images.
SMALL_MOBILENET_BLOCKS = ((64, 1), (128, 2), (128, 1), (256, 2), (256, 1), (256, 1))


@register(
    summary="A small MobileNet whose depthwise kernels are chosen (MixConv's sweep), 32x32x3",
    year=2019,
    paper=MIXNET_PAPER,
    parameters=209_610,
    min_size=8,
)
def mobilenet_mixconv(input_shape=(32, 32, 3), num_classes: int = 10, kernel_sizes=(3,),
                      partition: str = "equal") -> keras.Model:  # fmt: skip
    """The experiment of MixConv's Figure 1 at notebook scale: a MobileNet (3x3 stem with 32
    filters, then the six depthwise separable blocks of :data:`SMALL_MOBILENET_BLOCKS`, global
    average pool, softmax) in which every depthwise convolution is a
    :class:`~cnnkit.models.layers.MixedDepthwiseConv2D` with ``kernel_sizes`` (one size: an
    ordinary depthwise convolution of that size) split ``partition`` ("equal" or "exponential").
    """
    inputs = keras.Input(shape=input_shape, name="image")
    x = layers.Conv2D(32, 3, padding="same", use_bias=False, name="stem_conv")(inputs)
    x = layers.ReLU(name="stem_relu")(layers.BatchNormalization(name="stem_bn")(x))
    for index, (filters, strides) in enumerate(SMALL_MOBILENET_BLOCKS, start=1):
        x = MixedDepthwiseConv2D(kernel_sizes, strides=strides, partition=partition, name=f"block{index}_dw")(x)
        x = layers.ReLU(name=f"block{index}_dw_relu")(layers.BatchNormalization(name=f"block{index}_dw_bn")(x))
        x = layers.Conv2D(filters, 1, use_bias=False, name=f"block{index}_pw")(x)
        x = layers.ReLU(name=f"block{index}_pw_relu")(layers.BatchNormalization(name=f"block{index}_pw_bn")(x))
    x = layers.GlobalAveragePooling2D(name="avg_pool")(x)
    return keras.Model(inputs, _classifier(x, num_classes), name="mobilenet_mixconv")
