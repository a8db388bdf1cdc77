"""The CNN family after AlexNet (issue 13): published parameter counts, outputs equal to
keras.applications' twins under copied weights, small-image builds, and every block's shapes
and gradients."""

import keras
import numpy as np
import pytest
import tensorflow as tf
from keras import layers

from cnnkit.arithmetic import layer_table, mult_adds
from cnnkit.models import build, get_spec, list_models
from cnnkit.models.densenet import dense_block, transition
from cnnkit.models.inception import bn_inception_module, factorized_conv, inception_module, separable_block
from cnnkit.models.inception_resnet import (
    inception_resnet_a,
    inception_resnet_b,
    inception_resnet_c,
    reduction_a,
)
from cnnkit.models.layers import MixedDepthwiseConv2D, ScaledResidual, split_channels
from cnnkit.models.mobilenet import inverted_residual, make_divisible
from cnnkit.models.resnext import grouped_bottleneck
from cnnkit.models.wrn import wide_block


def trainable_count(model):
    return sum(int(np.prod(w.shape)) for w in model.trainable_weights)


# Published counts: (count_params() or trainable, value, source).
PUBLISHED = {
    "zfnet": ("all", 62_357_608),  # Zeiler and Fergus 2013, Fig. 3
    "vgg11": ("all", 132_863_336),  # Simonyan and Zisserman, Tables 1-2
    "vgg13": ("all", 133_047_848),
    "vgg16": ("all", 138_357_544),  # = keras.applications.VGG16
    "vgg19": ("all", 143_667_240),
    "googlenet": ("all", 6_998_552),  # Szegedy et al. 2014, Table 1, as published
    "inception_v3": ("all", 23_851_784),  # keras.applications
    "xception": ("all", 22_910_480),
    "mobilenet": ("all", 4_253_864),
    "mobilenet_v2": ("all", 3_538_984),
    "densenet121": ("all", 8_062_504),
    "densenet169": ("all", 14_307_880),
    "densenet201": ("all", 20_242_984),
    "resnext50_32x4d": ("trainable", 25_028_904),  # torchvision
    "wrn_cifar": ("trainable", 36_479_194),  # WRN-28-10
    "mixnet_s": ("trainable", 4_134_606),  # timm; the paper rounds to 4.1M
    "mixnet_m": ("trainable", 5_014_382),  # timm; the paper: 5.0M
    "inception_resnet_v2": ("all", 55_873_736),  # keras.applications
    "nasnet_mobile": ("all", 5_326_716),
    "nasnet_large": ("all", 88_949_818),  # keras.applications; Zoph et al. 2018, Table 2: 88.9M
    "bn_inception": ("trainable", 11_295_240),  # the released Caffe model (Cadene's pretrainedmodels port)
}


@pytest.mark.parametrize("name", list_models())
def test_every_model_builds_with_the_count_the_registry_lists_and_the_published_one(name):
    spec = get_spec(name)
    model = build(name, **({"weights": None} if spec.pretrained else {}))
    assert not model.compiled and model.input_shape[1:] == spec.input_shape
    assert model.count_params() == spec.parameters  # what `python -m cnnkit models` prints
    if name in PUBLISHED:
        kind, value = PUBLISHED[name]
        assert (model.count_params() if kind == "all" else trainable_count(model)) == value


def pytorch_style_count(model):
    """Trainable weights as PyTorch counts them: its BatchNorm2d always has a scale per channel
    (ones in the ports of TF-slim's checkpoints), which TF-slim's and Keras' ``scale=False``
    batch norm leaves out; so add one weight per channel of every batch norm without a scale."""
    unscaled = sum(layer.moving_mean.shape[0] for layer in model.layers
                   if isinstance(layer, layers.BatchNormalization) and not layer.scale)  # fmt: skip
    return trainable_count(model) + unscaled


# Counted with timm 1.0.31 (timm.create_model(name, pretrained=False), 1,000 classes, the sum of
# parameters().numel()); its inception_v4 and inception_resnet_v2 are Cadene's ports of TF-slim.
TIMM_COUNTS = {"inception_v4": 42_679_816, "inception_resnet_v2": 55_843_464, "nasnet_large": 88_753_150}


@pytest.mark.parametrize("name", TIMM_COUNTS)
def test_counts_equal_timms_under_its_batch_norm_convention(name):
    assert pytorch_style_count(build(name)) == TIMM_COUNTS[name]


# facenet-pytorch 2.6.0's InceptionResnetV1 (a port of David Sandberg's TF-slim model, which
# follows the paper's Figures 7 and 10-14), block by block: sum(p.numel() for p in block.parameters())
# of conv2d_1a..conv2d_4b, repeat_1[0], mixed_6a, repeat_2[0], mixed_7a, repeat_3[0]. Its network
# differs in its repeats (a sixth 8x8 block without ReLU) and head (a 512-d face embedding), so
# the whole network is checked as the paper stacks these blocks: 5 / 10 / 5 and a softmax.
FACENET_BLOCKS = {"stem": 615_552, "block35_1": 77_440, "reduction_a": 1_710_080, "block17_1": 690_048,
                  "reduction_b": 3_346_176, "block8_1": 1_600_768}  # fmt: skip


def test_inception_resnet_v1_is_the_papers_stack_of_facenet_pytorchs_blocks():
    model = build("inception_resnet_v1")
    for prefix, expected in FACENET_BLOCKS.items():
        part = [layer for layer in model.layers if layer.name == prefix or layer.name.startswith(f"{prefix}_")]
        weights = sum(int(np.prod(w.shape)) for layer in part for w in layer.trainable_weights)  # the PyTorch way
        unscaled = sum(layer.moving_mean.shape[0] for layer in part
                       if isinstance(layer, layers.BatchNormalization) and not layer.scale)  # fmt: skip
        assert weights + unscaled == expected, prefix
    repeats = {"stem": 1, "block35_1": 5, "reduction_a": 1, "block17_1": 10, "reduction_b": 1, "block8_1": 5}
    classifier = 1792 * 1000 + 1000
    assert pytorch_style_count(model) == sum(FACENET_BLOCKS[k] * n for k, n in repeats.items()) + classifier


@pytest.mark.parametrize(
    ("name", "stages"),
    [  # the grids and channels the papers print between stages
        ("inception_v4", {"stem": (35, 35, 384), "inception_a4": (35, 35, 384), "reduction_a": (17, 17, 1024),
                          "inception_b7": (17, 17, 1024), "reduction_b": (8, 8, 1536), "inception_c3": (8, 8, 1536)}),
        ("inception_resnet_v1", {"stem": (35, 35, 256), "reduction_a": (17, 17, 896), "reduction_b": (8, 8, 1792)}),
        ("inception_resnet_v2", {"stem": (35, 35, 320), "reduction_a": (17, 17, 1088), "reduction_b": (8, 8, 2080),
                                 "conv_7b": (8, 8, 1536)}),
        # Ioffe & Szegedy, Figure 5 (whose 4c, 4d and 4e rows print 576, 576, 1024: their columns add to these)
        ("bn_inception", {"pool2": (28, 28, 192), "inception_3b_output": (28, 28, 320),
                          "inception_3c_output": (14, 14, 576), "inception_4c_output": (14, 14, 608),
                          "inception_4e_output": (7, 7, 1056), "inception_5b_output": (7, 7, 1024)}),
    ],
)  # fmt: skip
def test_stage_shapes_are_the_papers(name, stages):
    model = build(name)
    assert {layer: tuple(model.get_layer(layer).output.shape[1:]) for layer in stages} == stages


def test_inception_v4_has_no_residual_connections_and_the_inception_resnets_do():
    def additions(name):
        return sum(isinstance(layer, layers.Add | ScaledResidual) for layer in build(name).layers)

    assert additions("inception_v4") == 0
    assert additions("inception_resnet_v1") == 5 + 10 + 5
    assert additions("inception_resnet_v2") == 10 + 20 + 10


def test_bn_inception_without_batch_norm_is_the_same_network_less_its_batch_norm():
    with_bn, without = build("bn_inception"), build("bn_inception", batch_norm=False)
    norms = [layer for layer in with_bn.layers if isinstance(layer, layers.BatchNormalization)]
    assert not any(isinstance(layer, layers.BatchNormalization) for layer in without.layers)
    assert with_bn.count_params() - without.count_params() == 4 * sum(n.moving_mean.shape[0] for n in norms)


@pytest.mark.parametrize(
    ("name", "options", "millions"),
    [
        ("mixnet_s", {}, 4.1),  # Tan and Le 2019, Table 2
        ("mixnet_m", {}, 5.0),
        ("wrn_cifar", {"depth": 16, "width": 4}, 2.7),  # Zagoruyko and Komodakis 2016, Table 4
        ("wrn_cifar", {"depth": 40, "width": 4}, 8.9),
        ("wrn_cifar", {"depth": 28, "width": 10}, 36.5),
        ("densenet_cifar", {"depth": 100, "growth_rate": 12}, 0.8),  # Huang et al., Table 2
        ("densenet_cifar", {"depth": 250, "growth_rate": 24}, 15.3),
    ],
)
def test_counts_round_to_the_papers_figures(name, options, millions):
    model = build(name, **options) if name.startswith("mixnet") else build(name, num_classes=10, **options)
    assert round(trainable_count(model) / 1e6, 1) == millions


def test_zfnet_feature_maps_are_the_papers():
    model = build("zfnet")
    sizes = [
        model.get_layer(n).output.shape[1]
        for n in ("conv1", "pool1", "conv2", "pool2", "conv3", "conv5", "pool5")
    ]
    assert sizes == [110, 55, 26, 13, 13, 13, 6]


def test_googlenet_stages_and_auxiliary_heads():
    model = build("googlenet")
    assert model.get_layer("inception_3b_output").output.shape[1:] == (28, 28, 480)
    assert model.get_layer("inception_4e_output").output.shape[1:] == (14, 14, 832)
    assert model.get_layer("inception_5b_output").output.shape[1:] == (7, 7, 1024)
    with_aux = build("googlenet", aux_logits=True, num_classes=10)
    assert [tuple(o.shape) for o in with_aux.outputs] == [(None, 10)] * 3


# --- the same outputs as keras.applications under the same weights --------------------------


def randomize_batch_norm(model, seed=0):
    rng = np.random.default_rng(seed)
    for layer in model.layers:
        if isinstance(layer, layers.BatchNormalization):
            layer.moving_mean.assign(rng.normal(0, 0.1, layer.moving_mean.shape).astype("float32"))
            layer.moving_variance.assign(rng.uniform(0.5, 1.5, layer.moving_variance.shape).astype("float32"))
            if layer.gamma is not None:
                layer.gamma.assign(rng.uniform(0.5, 1.5, layer.gamma.shape).astype("float32"))


def copy_weights(source, target):
    """Copy weights layer by layer, in order; shapes must match at every step."""
    weighted = lambda model: [layer for layer in model.layers if layer.weights]  # noqa: E731
    pairs = list(zip(weighted(source), weighted(target), strict=True))
    for a, b in pairs:
        assert [w.shape for w in a.weights] == [w.shape for w in b.weights], (a.name, b.name)
        b.set_weights(a.get_weights())
    return len(pairs)


TWINS = [  # (cnnkit name, keras.applications constructor, a small input it accepts)
    ("vgg16", "VGG16", (32, 32, 3)),
    ("vgg19", "VGG19", (32, 32, 3)),
    ("inception_v3", "InceptionV3", (75, 75, 3)),
    ("inception_resnet_v2", "InceptionResNetV2", (75, 75, 3)),
    ("xception", "Xception", (71, 71, 3)),
    ("mobilenet", "MobileNet", (64, 64, 3)),
    ("mobilenet_v2", "MobileNetV2", (64, 64, 3)),
    ("densenet121", "DenseNet121", (64, 64, 3)),
    ("densenet169", "DenseNet169", (64, 64, 3)),
    ("densenet201", "DenseNet201", (64, 64, 3)),
]


@pytest.mark.filterwarnings("ignore::UserWarning")  # keras warns about non-default input sizes
@pytest.mark.parametrize(("name", "constructor", "shape"), TWINS, ids=[t[0] for t in TWINS])
def test_outputs_equal_keras_applications_under_the_same_weights(name, constructor, shape):
    keras.utils.set_random_seed(0)
    twin = getattr(keras.applications, constructor)(weights=None, input_shape=shape)
    randomize_batch_norm(twin)
    ours = build(name, input_shape=shape)
    assert ours.count_params() == twin.count_params()
    copy_weights(twin, ours)
    images = np.random.default_rng(1).uniform(-1, 1, size=(2, *shape)).astype("float32")
    np.testing.assert_allclose(
        ours.predict(images, verbose=0), twin.predict(images, verbose=0), rtol=1e-4, atol=1e-7
    )
    # With random weights the 1,000-way softmax is nearly flat, so compare the features that
    # feed the classifier too: there a wrong weight or branch order shows at once.
    features = lambda model: keras.Model(model.inputs, model.layers[-2].output).predict(images, verbose=0)  # noqa: E731
    expected = features(twin)
    assert expected.std() > 1e-2 * np.abs(expected).mean()
    np.testing.assert_allclose(features(ours), expected, rtol=1e-3, atol=1e-5 * np.abs(expected).max())


# --- small images ------------------------------------------------------------------------------

IMAGE_FAMILIES = [
    n for n in list_models(kind="images", task="classification") if get_spec(n).input_shape[0] > 32
]


@pytest.mark.parametrize("name", IMAGE_FAMILIES)
def test_every_image_family_works_on_32x32_or_refuses_clearly(name):
    spec = get_spec(name)
    if spec.fixed_input or spec.min_size > 32:
        with pytest.raises(ValueError, match="only|at least") as caught:
            build(name, input_shape=(32, 32, 3), num_classes=10)
        assert name in str(caught.value)
        return
    model = build(name, input_shape=(32, 32, 3), num_classes=10)
    outputs = model(np.zeros((2, 32, 32, 3), "float32"))
    outputs = outputs[0] if isinstance(outputs, list) else outputs
    assert tuple(outputs.shape) == (2, 10)
    np.testing.assert_allclose(np.sum(outputs, axis=-1), 1.0, rtol=1e-5)


# --- the blocks --------------------------------------------------------------------------------


def _gradients_reach_everything(block, input_shape):
    """Build input -> block -> mean; every trainable weight and the input get finite, nonzero gradients."""
    inputs = keras.Input(shape=input_shape)
    model = keras.Model(inputs, block(inputs))
    x = tf.constant(np.random.default_rng(0).normal(size=(2, *input_shape)).astype("float32"))
    with tf.GradientTape() as tape:
        tape.watch(x)
        loss = tf.reduce_mean(tf.square(model(x, training=True)))
    gradients = tape.gradient(loss, [x, *model.trainable_weights])
    assert len(model.trainable_weights) > 0
    for variable, gradient in zip(["input", *model.trainable_weights], gradients, strict=True):
        assert gradient is not None, getattr(variable, "path", variable)
        assert np.isfinite(gradient).all() and np.abs(gradient).max() > 0, getattr(variable, "path", variable)
    return model


BLOCKS = {
    "inception_module": (lambda x: inception_module(x, 8, 4, 8, 2, 4, 4, name="m"), (8, 8, 6), (8, 8, 24)),
    "factorized_conv": (lambda x: factorized_conv(x, (5, 7), 7, name="f"), (9, 9, 3), (9, 9, 7)),
    "separable_block": (lambda x: separable_block(x, 10, name="s"), (8, 8, 4), (8, 8, 10)),
    "inverted_residual": (lambda x: inverted_residual(x, 16, 1, 6, block_id=1), (8, 8, 16), (8, 8, 16)),
    "inverted_residual_stride2": (lambda x: inverted_residual(x, 24, 2, 6, block_id=2), (8, 8, 16), (4, 4, 24)),
    "dense_block": (lambda x: dense_block(x, 3, 4, name="d"), (8, 8, 6), (8, 8, 18)),
    "transition": (lambda x: transition(x, 0.5, name="t"), (8, 8, 12), (4, 4, 6)),
    "grouped_bottleneck": (lambda x: grouped_bottleneck(x, 16, 2, cardinality=4, base_width=16, name="g"),
                           (8, 8, 32), (4, 4, 64)),
    "wide_block": (lambda x: wide_block(x, 24, 2, dropout=0.3, name="w"), (8, 8, 8), (4, 4, 24)),
    "bn_inception_module": (lambda x: bn_inception_module(x, 4, 4, 6, 2, 3, "avg", 5, name="b"), (8, 8, 6),
                            (8, 8, 18)),
    "bn_inception_module_stride2": (lambda x: bn_inception_module(x, 0, 4, 6, 2, 3, "max", 0, name="b", strides=2),
                                    (8, 8, 6), (4, 4, 15)),
    "reduction_a": (lambda x: reduction_a(x, 4, 5, 6, 7, name="r"), (9, 9, 3), (4, 4, 16)),
    "inception_resnet_a": (lambda x: inception_resnet_a(x, (4, (4, 4), (4, 5, 6)), 0.17, name="a"), (8, 8, 10),
                           (8, 8, 10)),
    "inception_resnet_b": (lambda x: inception_resnet_b(x, (4, (4, 5, 6)), 0.1, name="b"), (9, 9, 12), (9, 9, 12)),
    "inception_resnet_c": (lambda x: inception_resnet_c(x, (4, (4, 5, 6)), 0.2, name="c", activation=None),
                           (4, 4, 12), (4, 4, 12)),
    "mixed_depthwise": (lambda x: MixedDepthwiseConv2D((3, 5, 7), strides=2)(x), (9, 9, 10), (5, 5, 10)),
}  # fmt: skip


@pytest.mark.parametrize("name", BLOCKS)
def test_each_block_has_its_output_shape_and_passes_gradients_everywhere(name):
    block, input_shape, output_shape = BLOCKS[name]
    model = _gradients_reach_everything(block, input_shape)
    assert tuple(model.output.shape[1:]) == output_shape


def test_the_inverted_residual_adds_its_input_only_when_shapes_agree():
    x = keras.Input((8, 8, 16))
    assert isinstance(inverted_residual(x, 16, 1, 6, block_id=3)._keras_history.operation, layers.Add)
    assert not isinstance(inverted_residual(x, 24, 1, 6, block_id=4)._keras_history.operation, layers.Add)


def test_grouped_bottleneck_uses_one_grouped_convolution():
    x = keras.Input((8, 8, 256))
    model = keras.Model(x, grouped_bottleneck(x, 64, name="g"))
    conv = model.get_layer("g_2_conv")
    assert conv.groups == 32 and conv.filters == 128  # ResNeXt-50's first stage: 32 paths of width 4
    assert conv.kernel.shape == (3, 3, 4, 128)


def test_make_divisible_matches_mobilenet_v2():
    assert [make_divisible(v) for v in (32 * 0.35, 16, 24 * 0.5, 1280 * 1.4)] == [16, 16, 16, 1792]


# --- MixedDepthwiseConv2D ------------------------------------------------------------------------


def test_mixed_depthwise_equals_one_depthwise_convolution_per_channel_group():
    x = np.random.default_rng(0).normal(size=(2, 9, 9, 10)).astype("float32")
    layer = MixedDepthwiseConv2D((3, 5, 7), strides=1)
    got = layer(x).numpy()
    assert layer.splits == [4, 3, 3] == split_channels(10, 3)
    start = 0
    for conv, width in zip(layer.convs, layer.splits, strict=True):
        alone = keras.layers.DepthwiseConv2D(conv.kernel_size, padding="same", use_bias=False)
        alone.build((None, 9, 9, width))
        alone.set_weights(conv.get_weights())
        np.testing.assert_allclose(
            got[..., start : start + width], alone(x[..., start : start + width]).numpy(), atol=1e-6
        )
        start += width


def test_mixed_depthwise_round_trips_through_a_keras_file_in_safe_mode(tmp_path):
    inputs = keras.Input((9, 9, 8))
    model = keras.Model(inputs, MixedDepthwiseConv2D((3, 5), strides=2, name="mix")(inputs))
    x = np.random.default_rng(1).normal(size=(1, 9, 9, 8)).astype("float32")
    model.save(tmp_path / "mix.keras")
    loaded = keras.saving.load_model(tmp_path / "mix.keras", safe_mode=True)
    np.testing.assert_allclose(loaded.predict(x, verbose=0), model.predict(x, verbose=0), atol=1e-6)
    assert loaded.get_layer("mix").get_config()["kernel_sizes"] == [3, 5]
    with pytest.raises(ValueError, match="cannot be split"):
        MixedDepthwiseConv2D((3, 5, 7))(np.zeros((1, 8, 8, 2), "float32"))


def test_exponential_partition_gives_the_small_kernels_most_channels_and_round_trips(tmp_path):
    assert split_channels(32, 4, "exponential") == [16, 8, 4, 4]  # MixConv, Section 3.2
    assert split_channels(200, 3, "exponential") == [100, 50, 50] and split_channels(7, 1, "exponential") == [7]
    with pytest.raises(ValueError, match="cannot be split exponentially"):
        split_channels(4, 4, "exponential")
    with pytest.raises(ValueError, match="'equal' or 'exponential'"):
        split_channels(8, 2, "random")
    inputs = keras.Input((6, 6, 32))
    model = keras.Model(inputs, MixedDepthwiseConv2D((3, 5, 7, 9), partition="exponential", name="mix")(inputs))
    assert model.get_layer("mix").splits == [16, 8, 4, 4]
    assert model.count_params() == 16 * 9 + 8 * 25 + 4 * 49 + 4 * 81
    model.save(tmp_path / "mix.keras")
    loaded = keras.saving.load_model(tmp_path / "mix.keras", safe_mode=True)
    assert loaded.get_layer("mix").splits == [16, 8, 4, 4]


# --- multiply-adds --------------------------------------------------------------------------------


def _single_layer_mult_adds(layer, input_shape):
    inputs = keras.Input(input_shape)
    model = keras.Model(inputs, layer(inputs))
    table = layer_table(model)
    return int(table.loc[table["layer"] == layer.name, "mult_adds"].iloc[0]), mult_adds(model)


@pytest.mark.parametrize(
    ("layer", "input_shape", "expected"),
    [
        # 8x8 output, 16 filters, 3x3 kernel over 8 input channels: 8*8 * 16 * 9 * 8
        (layers.Conv2D(16, 3, padding="same", name="c"), (8, 8, 8), 8 * 8 * 16 * 9 * 8),
        # grouped in 4: each filter sees 8 / 4 = 2 channels
        (layers.Conv2D(16, 3, padding="same", groups=4, name="c"), (8, 8, 8), 8 * 8 * 16 * 9 * 2),
        # depthwise with multiplier 2: 16 output maps, one 3x3 window each
        (layers.DepthwiseConv2D(3, padding="same", depth_multiplier=2, name="c"), (8, 8, 8), 8 * 8 * 16 * 9),
        # separable: depthwise 8*8*8*9 plus pointwise 8*8*8*16; ratio to the full conv 1/16 + 1/9
        (layers.SeparableConv2D(16, 3, padding="same", name="c"), (8, 8, 8), 8 * 8 * 8 * 9 + 8 * 8 * 8 * 16),
        # mixed: channels 4/3/3 with 3x3/5x5/7x7 kernels at stride 2 (5x5 output)
        (MixedDepthwiseConv2D((3, 5, 7), strides=2, name="c"), (9, 9, 10), 25 * (4 * 9 + 3 * 25 + 3 * 49)),
        (layers.Dense(7, name="c"), (5,), 35),
    ],
)
def test_mult_adds_of_grouped_depthwise_separable_and_mixed_convolutions(layer, input_shape, expected):
    assert _single_layer_mult_adds(layer, input_shape) == (expected, expected)


def test_separable_cost_ratio_is_one_over_n_plus_one_over_k_squared():
    full, _ = _single_layer_mult_adds(layers.Conv2D(64, 3, padding="same", name="c"), (16, 16, 32))
    separable, _ = _single_layer_mult_adds(
        layers.SeparableConv2D(64, 3, padding="same", name="c"), (16, 16, 32)
    )
    assert separable / full == pytest.approx(1 / 64 + 1 / 9)


# --- residual scaling, label smoothing ------------------------------------------------------


def test_scaled_residual_adds_the_scaled_residual_and_round_trips_in_safe_mode(tmp_path):
    shortcut, residual = keras.Input((4, 4, 3)), keras.Input((4, 4, 3))
    model = keras.Model([shortcut, residual], ScaledResidual(0.17, name="add")([shortcut, residual]))
    a, b = np.random.default_rng(0).normal(size=(2, 2, 4, 4, 3)).astype("float32")
    np.testing.assert_allclose(keras.ops.convert_to_numpy(model([a, b])), a + 0.17 * b, rtol=1e-6)
    model.save(tmp_path / "m.keras")
    loaded = keras.saving.load_model(tmp_path / "m.keras", safe_mode=True)
    assert loaded.get_layer("add").scale == pytest.approx(0.17)


def test_unscaled_residual_blocks_let_the_activations_grow_and_scaled_ones_do_not():
    """What the notebook shows at initialization: ten 35x35 blocks of Inception-ResNet-v2."""
    from cnnkit.arithmetic import activation_std

    images = np.random.default_rng(0).uniform(-1, 1, size=(4, 75, 75, 3)).astype("float32")
    growth = {}
    for scales in [(1.0, 1.0, 1.0), (0.17, 0.10, 0.20)]:
        keras.utils.set_random_seed(0)
        model = build("inception_resnet_v2", input_shape=(75, 75, 3), scales=scales)
        table = activation_std(model, images, [f"block35_{i}_add" for i in range(1, 11)])
        assert list(table["depth"]) == list(range(1, 11))
        growth[scales[0]] = table["std"].iloc[-1] / table["std"].iloc[0]
    assert growth[1.0] > 1.3 and abs(growth[0.17] - 1.0) < 0.1, growth


def test_smoothed_sparse_crossentropy_is_keras_categorical_crossentropy_with_label_smoothing():
    from cnnkit.models.losses import SmoothedSparseCrossentropy

    rng = np.random.default_rng(0)
    labels = rng.integers(0, 5, size=8)
    probabilities = keras.ops.convert_to_numpy(keras.ops.softmax(rng.normal(size=(8, 5)).astype("float32")))
    ours = SmoothedSparseCrossentropy(0.1)(labels, probabilities)
    keras_loss = keras.losses.CategoricalCrossentropy(label_smoothing=0.1)(np.eye(5)[labels], probabilities)
    np.testing.assert_allclose(float(ours), float(keras_loss), rtol=1e-5)
    assert float(SmoothedSparseCrossentropy(0.0)(labels, probabilities)) == pytest.approx(
        float(keras.losses.SparseCategoricalCrossentropy()(labels, probabilities)), rel=1e-5)
    restored = SmoothedSparseCrossentropy.from_config(SmoothedSparseCrossentropy(0.2).get_config())
    assert restored.label_smoothing == 0.2
    with pytest.raises(ValueError, match="label_smoothing must be in"):
        SmoothedSparseCrossentropy(1.0)


# --- NASNet's cells, read from the model ----------------------------------------------------------


def test_nasnet_cells_read_from_the_model_are_the_papers_figure_4():
    from collections import Counter

    from cnnkit.models.applications import nasnet_cell
    from cnnkit.plots import cell_diagram

    model = build("nasnet_mobile", input_shape=(224, 224, 3), num_classes=10)
    normal, normal_outputs = nasnet_cell(model, "_0")
    # Zoph et al. 2018, Figure 4 (left): five blocks; sep 3x3 three times, sep 5x5 twice, avg 3x3 three times,
    # identity twice; every block reads the cell's two inputs only, and h[i-1] is concatenated too.
    assert Counter(normal["operation"]) == {"sep 3x3": 3, "sep 5x5": 2, "avg 3x3": 3, "identity": 2}
    assert set(normal["input"]) == {"h[i]", "h[i-1]"} and normal_outputs[0] == "h[i-1]"
    assert normal_outputs[1:] == [f"block {i}" for i in range(1, 6)]
    reduction, reduction_outputs = nasnet_cell(model, "_reduce_4")
    # Figure 4 (right): sep 7x7 twice, sep 5x5 twice, max 3x3 twice, avg 3x3 twice, sep 3x3, identity;
    # two blocks read block outputs, and only four blocks are concatenated.
    assert Counter(reduction["operation"]) == {"sep 7x7": 2, "sep 5x5": 2, "max 3x3": 2, "avg 3x3": 2, "sep 3x3": 1,
                                               "identity": 1}  # fmt: skip
    assert sorted(reduction.loc[reduction["input"].str.startswith("block"), "block"].unique()) == ["block 4", "block 5"]
    assert len(reduction_outputs) == 4
    figure = cell_diagram(normal, normal_outputs, "normal cell")
    assert sum(text.get_text() == "+" for text in figure.axes[0].texts) == 5
    with pytest.raises(ValueError, match="no NASNet cell '_99'"):
        nasnet_cell(model, "_99")
