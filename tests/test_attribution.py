"""cnnkit.attribution on models built so that the right answer is known in advance.

Written with ``keras.ops`` only, so that the same tests run on every Keras backend
(``tests/test_backends.py`` runs this file under JAX and PyTorch too).
"""

import keras
import numpy as np
import pytest

from cnnkit import attribution, backends, lesions
from cnnkit.models import build


def numpy(tensor):
    return keras.ops.convert_to_numpy(tensor)


def quadrant_model(size=16):
    """Feature maps everywhere, but the classifier sees only the top-left quadrant."""
    inputs = keras.Input((size, size, 1))
    maps = keras.layers.Conv2D(4, 3, padding="same", activation="relu", name="features",
                               kernel_initializer="ones", bias_initializer="zeros")(inputs)  # fmt: skip
    corner = keras.layers.Cropping2D(((0, size // 2), (0, size // 2)), name="corner")(maps)
    pooled = keras.layers.GlobalAveragePooling2D()(corner)
    outputs = keras.layers.Dense(2, activation="softmax", name="predictions")(pooled)
    model = keras.Model(inputs, outputs)
    model.get_layer("predictions").set_weights(
        [np.array([[0.05, -0.05]] * 4, "float32"), np.zeros(2, "float32")]
    )
    return model


def object_model():
    """Channel 0 fires on bright pixels (> 0.5), channel 1 on dark ones; class 0 is "how much
    bright", class 1 "how much dark": the evidence for each class is known pixel by pixel."""
    inputs = keras.Input((16, 16, 1))
    maps = keras.layers.Conv2D(2, 1, activation="relu", name="features")(inputs)
    pooled = keras.layers.GlobalAveragePooling2D()(maps)
    outputs = keras.layers.Dense(2, activation="softmax", name="predictions")(pooled)
    model = keras.Model(inputs, outputs)
    model.get_layer("features").set_weights(
        [np.array([[[[1.0, -1.0]]]], "float32"), np.array([-0.5, 0.5], "float32")]
    )
    model.get_layer("predictions").set_weights([np.eye(2, dtype="float32") * 10, np.zeros(2, "float32")])
    return model


def test_grad_cam_finds_the_object_in_whichever_quadrant_it_is():
    images = np.full((4, 16, 16, 1), 0.2, "float32")
    corners = [(0, 0), (0, 8), (8, 0), (8, 8)]
    for image, (top, left) in zip(images, corners, strict=True):
        image[top + 2 : top + 6, left + 2 : left + 6] = 0.9
    bright = images[..., 0] > 0.5
    heat = attribution.grad_cam(object_model(), images, class_index=0)
    assert heat.shape == (4, 16, 16) and heat.max() == pytest.approx(1.0)
    assert np.all(heat[bright] == pytest.approx(1.0)) and np.all(heat[~bright] == 0)
    # the dark class is found everywhere but on the object
    heat = attribution.grad_cam(object_model(), images, class_index=1)
    assert np.all(heat[~bright] == pytest.approx(1.0)) and np.all(heat[bright] == 0)
    # default: the predicted class (dark: it covers most of the image)
    np.testing.assert_array_equal(attribution.grad_cam(object_model(), images), heat)


def test_grad_cam_weights_channels_globally():
    """A classifier that only looks at the top-left quadrant of a feature map: Grad-CAM at the
    cropped maps sees only that quadrant; at the maps before the crop, alpha_k is a global
    weight, so the whole map lights up (Grad-CAM localizes through the features, not the
    gradients)."""
    images = np.random.default_rng(0).uniform(0.1, 1.0, (3, 16, 16, 1)).astype("float32")
    model = quadrant_model()
    assert attribution.last_feature_map_layer(model) == "corner"
    assert attribution.grad_cam(model, images, class_index=0).shape == (3, 8, 8)
    before_crop = attribution.grad_cam(model, images, class_index=0, layer_name="features")
    assert before_crop.shape == (3, 16, 16) and np.all(before_crop > 0)
    assert np.all(attribution.grad_cam(model, images, class_index=1, layer_name="features") == 0)


def test_grad_cam_uses_the_score_before_the_softmax():
    model = object_model()
    scorer, dense = attribution._score_model(model)
    images = np.ones((1, 16, 16, 1), "float32")
    scores = attribution._scores(dense, scorer(images))
    np.testing.assert_allclose(numpy(keras.ops.softmax(scores)), numpy(model(images)), rtol=1e-6)


def test_occlusion_lowers_the_probability_only_where_the_model_looks():
    model = quadrant_model()
    image = np.ones((16, 16, 1), "float32")
    intact = float(numpy(model(image[None]))[0, 0])
    heat = attribution.occlusion_map(model, image, class_index=0, patch=4, stride=4, fill=0.0)
    assert heat.shape == (16, 16)
    # Placements are 4x4 tiles; a tile inside the 8x8 quadrant (seen through the 3x3 conv, 9x9)
    # changes the score; tiles from column 12 / row 12 on are more than one pixel away.
    np.testing.assert_allclose(heat[12:, :], intact, rtol=1e-6)
    np.testing.assert_allclose(heat[:, 12:], intact, rtol=1e-6)
    assert np.all(heat[:8, :8] < intact - 0.01)
    assert heat[:4, :4].min() == pytest.approx(heat.min())


def test_occlusion_covers_every_pixel_with_a_patch_that_does_not_divide_the_image():
    heat = attribution.occlusion_map(quadrant_model(15), np.ones((15, 15, 1), "float32"), patch=4, stride=4)
    assert heat.shape == (15, 15) and np.isfinite(heat).all()


def relu_pair():
    """y = v . relu(W x): one hidden layer whose output weights v have both signs."""
    inputs = keras.Input((6, 6, 1))
    hidden = keras.layers.Conv2D(3, 3, activation="relu", name="hidden")(inputs)
    flat = keras.layers.Flatten()(hidden)
    outputs = keras.layers.Dense(1, use_bias=False, name="score")(flat)
    return keras.Model(inputs, outputs)


def test_guided_and_deconvnet_rules_against_the_gradient_tape():
    model = relu_pair()
    rng = np.random.default_rng(1)
    x = rng.normal(size=(2, 6, 6, 1)).astype("float32")
    w, b = model.get_layer("hidden").get_weights()
    (v,) = model.get_layer("score").get_weights()
    assert (v > 0).any() and (v < 0).any()
    plain = attribution.saliency(model, x, class_index=0, rule="plain")
    guided = attribution.saliency(model, x, class_index=0, rule="guided")
    deconv = attribution.saliency(model, x, class_index=0, rule="deconvnet")

    def tape_gradient(output_weights, gate):
        weights, bias, gates, out = (keras.ops.convert_to_tensor(a) for a in (w, b, gate, output_weights[:, 0]))

        def total(xt):
            z = keras.ops.conv(xt, weights, 1, "valid") + bias
            # gate decides how the ReLU passes the gradient; its value is relu(z) either way
            hidden = keras.ops.stop_gradient(keras.ops.relu(z) - z * gates) + z * gates
            return keras.ops.sum(keras.ops.reshape(hidden, (2, -1)) * out)

        return backends.gradient(total, x)[1]

    on = (numpy(keras.ops.conv(x, w, 1, "valid")) + b > 0).astype("float32")
    np.testing.assert_allclose(plain, tape_gradient(v, on), atol=1e-5)
    # guided: positive upstream gradient and positive input; deconvnet: positive upstream only
    np.testing.assert_allclose(guided, tape_gradient(np.maximum(v, 0), on), atol=1e-5)
    np.testing.assert_allclose(deconv, tape_gradient(np.maximum(v, 0), np.ones_like(on)), atol=1e-5)
    assert not np.allclose(plain, guided) and not np.allclose(guided, deconv)


def test_saliency_of_one_unit_is_zero_outside_its_receptive_field():
    model = relu_pair()
    x = np.abs(np.random.default_rng(2).normal(size=(1, 6, 6, 1))).astype("float32")
    gradient = attribution.saliency(model, x, layer_name="hidden", channel=0, position=(1, 2), rule="plain")[
        0, ..., 0
    ]
    outside = np.ones_like(gradient, bool)
    outside[1:4, 2:5] = False
    assert np.all(gradient[outside] == 0)
    with pytest.raises(ValueError, match="rule must be one of"):
        attribution.saliency(model, x, rule="backwards")


def linear_chain():
    inputs = keras.Input((40, 40, 1))
    positive = keras.initializers.RandomUniform(0.1, 1.0, seed=0)
    x = keras.layers.ZeroPadding2D(1, name="pad")(inputs)
    x = keras.layers.Conv2D(2, 5, strides=2, padding="same", kernel_initializer=positive, name="c1")(x)
    x = keras.layers.BatchNormalization(name="bn")(x)
    x = keras.layers.AveragePooling2D(3, strides=2, padding="same", name="p1")(x)
    x = keras.layers.Conv2D(2, 3, padding="valid", kernel_initializer=positive, name="c2")(x)
    x = keras.layers.Cropping2D(1, name="crop")(x)
    x = keras.layers.Conv2D(1, 3, strides=2, padding="same", kernel_initializer=positive, name="c3")(x)
    return keras.Model(inputs, x)


@pytest.mark.parametrize("layer_name", ["c1", "p1", "c2", "crop", "c3"])
def test_receptive_field_box_equals_the_support_of_the_gradient(layer_name):
    model = linear_chain()
    probe = keras.Model(model.input, model.get_layer(layer_name).output)
    height, width = probe.output.shape[1:3]
    x = np.ones((1, 40, 40, 1), "float32")
    for row, col in [(0, 0), (height // 2, width // 3), (height - 1, width - 1)]:
        _, gradient = backends.gradient(lambda xt, row=row, col=col: probe(xt, training=False)[0, row, col, 0], x)
        support = np.argwhere(gradient[0, ..., 0] != 0)
        expected = (
            support[:, 0].min(),
            support[:, 0].max() + 1,
            support[:, 1].min(),
            support[:, 1].max() + 1,
        )
        assert attribution.receptive_field_box(model, layer_name, row, col) == tuple(int(v) for v in expected)


def test_receptive_field_box_refuses_a_branching_network():
    model = build("resnet_cifar", input_shape=(16, 16, 1), depth=8)
    with pytest.raises(ValueError, match="branches"):
        attribution.receptive_field_box(model, "conv2_block1_out", 0, 0)


def test_top_activations_rank_the_images_by_their_strongest_unit():
    model = linear_chain()
    rng = np.random.default_rng(3)
    images = rng.uniform(0, 1, (12, 40, 40, 1)).astype("float32")
    images[7, 20:30, 5:15] += 5.0  # one bright square: the strongest response, at its place
    table = attribution.top_activations(model, "c2", images, channels=[0, 1], k=3)
    assert list(table.columns) == ["channel", "rank", "image", "row", "col", "activation"]
    assert len(table) == 6 and (table.query("rank == 0")["image"] == 7).all()
    probe = keras.Model(model.input, model.get_layer("c2").output)
    for entry in table.itertuples():
        maps = numpy(probe(images[entry.image][None], training=False))[0, ..., entry.channel]
        assert maps[entry.row, entry.col] == pytest.approx(entry.activation) == pytest.approx(maps.max())
    assert table.groupby("channel")["activation"].apply(lambda a: a.is_monotonic_decreasing).all()
    top = table.iloc[0]
    top_, bottom, left, right = attribution.receptive_field_box(model, "c2", top.row, top.col)
    assert top_ < 30 and bottom > 20 and left < 15 and right > 5  # the patch holds the bright square
    patches = attribution.crop_patches(model, "c2", images, table.head(1))
    assert patches[0].shape == (bottom - top_, right - left, 1)


def test_aliased_energy():
    rng = np.random.default_rng(4)
    kernel = rng.normal(size=(11, 11, 3, 5))
    assert np.all(attribution.aliased_energy(kernel, stride=1) == 0)
    stride_4, stride_2 = attribution.aliased_energy(kernel, 4), attribution.aliased_energy(kernel, 2)
    assert np.all(stride_4 > stride_2) and np.all(stride_4 > 0.7)  # white noise: most energy above 1/8
    checkerboard = np.fromfunction(lambda i, j: (-1.0) ** (i + j), (7, 7))[:, :, None, None]
    smooth = np.outer(np.hanning(9), np.hanning(9))[:, :, None, None]
    assert attribution.aliased_energy(checkerboard, 2)[0] > 0.9
    assert attribution.aliased_energy(smooth, 2)[0] < 0.01
    with pytest.raises(ValueError, match="kernel"):
        attribution.aliased_energy(np.ones((3, 3)), 2)


def test_bypass_of_a_residual_block_equals_a_zeroed_residual_branch():
    model = build("resnet_cifar", input_shape=(16, 16, 1), depth=14)
    assert lesions.blocks(model) == ["conv2_block1", "conv2_block2", "conv3_block2", "conv4_block2"]
    images = np.random.default_rng(5).uniform(0, 1, (4, 16, 16, 1)).astype("float32")
    lesioned = lesions.bypass(model, "conv3_block2_1_conv", "conv3_block2_out")
    assert lesioned.count_params() < model.count_params()
    bn = model.get_layer("conv3_block2_2_bn")
    gamma, beta, mean, variance = bn.get_weights()
    bn.set_weights([np.zeros_like(gamma), np.zeros_like(beta), mean, variance])  # F(x) = 0
    np.testing.assert_allclose(numpy(lesioned(images)), numpy(model(images)), atol=1e-6)
    with pytest.raises(ValueError, match="keep the shape"):
        lesions.bypass(model, "conv3_block1_1_conv", "conv3_block1_out")


def test_lesion_study_reports_the_intact_model_first():
    model = build("plain_cifar", input_shape=(16, 16, 1), depth=8, num_classes=3)
    assert lesions.blocks(model) == ["conv2_block1"]
    images = np.random.default_rng(6).uniform(0, 1, (20, 16, 16, 1)).astype("float32")
    labels = np.argmax(numpy(model(images)), -1)
    table = lesions.lesion_study(model, images, labels)
    assert table["deleted"].tolist() == ["none", "conv2_block1"] and table["accuracy"].iloc[0] == 1.0
    with pytest.raises(ValueError, match="labels"):
        lesions.lesion_study(model, images, labels[:3])


def test_bad_input_is_named():
    model = quadrant_model()
    with pytest.raises(ValueError, match="batch of images"):
        attribution.grad_cam(model, np.ones((16, 16, 1)))
    with pytest.raises(ValueError, match="NaN"):
        attribution.grad_cam(model, np.full((1, 16, 16, 1), np.nan))
    with pytest.raises(ValueError, match="no layer 'nope'"):
        attribution.grad_cam(model, np.ones((1, 16, 16, 1)), layer_name="nope")


def test_guided_copy_keeps_the_weights_and_the_outputs():
    model = build("resnet_cifar", input_shape=(16, 16, 3), depth=8)
    images = np.random.default_rng(7).uniform(0, 1, (2, 16, 16, 3)).astype("float32")
    guided = attribution.with_relu_rule(model, "guided")
    np.testing.assert_allclose(numpy(guided(images)), numpy(model(images)), atol=1e-6)
    assert len(guided.weights) == len(model.weights)
    for copied, original in zip(guided.weights, model.weights, strict=True):
        np.testing.assert_array_equal(numpy(copied), numpy(original))


def test_plots_of_heatmaps_and_patches():
    import matplotlib.pyplot as plt

    from cnnkit import plots

    images = np.random.default_rng(8).uniform(0, 1, (2, 16, 16, 1)).astype("float32")
    figure = plots.heatmap_overlay(images, [np.ones((4, 4)), np.zeros((16, 16))], titles=["a", "b"])
    assert len(figure.axes) == 6 and figure.axes[0].get_title() == "a"  # 2 x (image, overlay) + 2 colour bars
    rows = [[images[0], images[1][:10, :7]], [images[1]]]
    figure = plots.patch_rows(rows, ["first", "second"], "title")
    assert len(figure.axes) == 4 and figure.axes[0].get_title(loc="left") == "first"
    with pytest.raises(ValueError):
        plots.patch_rows(rows, ["only one label"])
    plt.close("all")


def test_recompose_in_the_original_order_is_the_model_and_leaving_a_block_out_is_bypass():
    keras.utils.set_random_seed(3)
    model = build("resnet_cifar", input_shape=(16, 16, 1), depth=20, num_classes=4)
    every = lesions.all_blocks(model)
    assert len(every) == 9 and every[0] == "conv2_block1" and every[-1] == "conv4_block3"
    images = np.random.default_rng(7).uniform(0, 1, (3, 16, 16, 1)).astype("float32")
    # atol 1e-5: the same sums in other groupings (XLA fuses sub-models differently) differ in the last bits
    np.testing.assert_allclose(numpy(lesions.recompose(model, every)(images)), numpy(model(images)), atol=1e-5)
    without = lesions.recompose(model, [b for b in every if b != "conv3_block2"])
    bypassed = lesions.bypass(model, "conv3_block2_1_conv", "conv3_block2_out")
    np.testing.assert_allclose(numpy(without(images)), numpy(bypassed(images)), atol=1e-5)
    swapped = lesions.recompose(model, ["conv2_block2", "conv2_block1", *every[2:]])
    assert np.abs(numpy(swapped(images)) - numpy(model(images))).max() > 1e-4
    with pytest.raises(ValueError, match="expects"):
        lesions.recompose(model, [every[0], "conv3_block2", *every[1:]])
    with pytest.raises(ValueError, match="no block 'conv9_block1'"):
        lesions.recompose(model, ["conv9_block1"])
    with pytest.raises(ValueError, match="keep the down-sampling blocks"):
        lesions.recompose(model, [b for b in every if b != "conv4_block1"][:3])


def test_several_deletions_and_reorderings_are_drawn_as_asked():
    model = build("resnet_cifar", input_shape=(16, 16, 1), depth=20, num_classes=3)
    images = np.random.default_rng(8).uniform(0, 1, (12, 16, 16, 1)).astype("float32")
    labels = np.argmax(numpy(model(images)), -1)
    table = lesions.multi_lesion_study(model, images, labels, counts=[0, 1, 7], trials=3)
    assert table["deleted_count"].tolist() == [0, 1, 1, 1, 7]  # one set of 0 and of all 7, three of one
    assert table["deleted"].iloc[0] == "none" and table["accuracy"].iloc[0] == 1.0
    assert table["deleted"].iloc[-1].count("+") == 6
    with pytest.raises(ValueError, match="has 7 that keep their shape"):
        lesions.multi_lesion_study(model, images, labels, counts=[8])
    moved = lesions.reorder_study(model, images, labels, swaps=[0, 2], trials=3)
    assert moved["swaps"].tolist() == [0, 2, 2, 2] and moved["accuracy"].iloc[0] == 1.0
    assert moved["displaced"].iloc[0] == 0 and set(moved["displaced"]) <= {0, 2, 3, 4}  # two swaps move 0-4 blocks
    orders = [order.split(">") for order in moved["order"]]
    assert all(sorted(order) == sorted(lesions.all_blocks(model)) for order in orders)
    plain_short = build("resnet_cifar", input_shape=(16, 16, 1), depth=8, num_classes=3)
    with pytest.raises(ValueError, match="nothing to swap"):
        lesions.reorder_study(plain_short, images, labels, swaps=[1])


def test_path_lengths_are_binomial():
    table = lesions.path_lengths(54)  # Veit et al.'s ResNet-110
    assert table["paths"].sum() == 2**54 and table["paths"].iloc[27] == table["paths"].max()
    assert table["paths"].iloc[3] == 54 * 53 * 52 // 6
    np.testing.assert_allclose(table["share"].sum(), 1.0)
    with pytest.raises(ValueError, match="at least 1"):
        lesions.path_lengths(0)


def test_path_gate_passes_the_value_of_an_addition_and_the_gradient_of_one_branch():
    shortcut = np.arange(6, dtype="float32").reshape(2, 3)
    residual = np.full((2, 3), 2.0, "float32")
    gate = lesions.PathGate()
    gate.build([(2, 3), (2, 3)])
    for through_residual, (to_shortcut, to_residual) in ((1.0, (0.0, 1.0)), (0.0, (1.0, 0.0))):
        gate.through_residual.assign(through_residual)
        np.testing.assert_allclose(numpy(gate([shortcut, residual])), shortcut + residual)
        _, d_shortcut = backends.gradient(lambda s: keras.ops.sum(gate([s, residual])), shortcut)
        _, d_residual = backends.gradient(lambda r: keras.ops.sum(gate([shortcut, r])), residual)
        np.testing.assert_allclose(d_shortcut, to_shortcut)
        np.testing.assert_allclose(d_residual, to_residual)


def test_gradient_by_path_length_measures_every_length_of_the_shape_keeping_blocks():
    model = build("resnet_cifar", input_shape=(16, 16, 1), depth=14, num_classes=3)
    images = np.random.default_rng(9).uniform(0, 1, (6, 16, 16, 1)).astype("float32")
    labels = np.array([0, 1, 2, 0, 1, 2])
    table = lesions.gradient_by_path_length(model, images, labels, samples=2)
    assert table["length"].tolist() == [0, 1, 2, 3, 4]  # conv2_block1, conv2_block2, conv3_block2, conv4_block2
    assert table["paths"].tolist() == [1, 4, 6, 4, 1]
    assert (table["gradient"] > 0).all() and np.isfinite(table["gradient"]).all()
    np.testing.assert_allclose(table["total"], table["paths"] * table["gradient"])
    with pytest.raises(ValueError, match="one path only"):
        lesions.gradient_by_path_length(build("plain_cifar", input_shape=(16, 16, 1), depth=8), images, labels)


def test_lenet5_classic_predicts_its_smallest_penalty_in_every_tool():
    """LeNet-5's RBF layer outputs penalties: its predicted class is the argmin. Saliency, Grad-CAM,
    occlusion and lesions must agree with evaluation's rule (they used the argmax, the worst class)."""
    from cnnkit import evaluation
    from cnnkit.models.losses import predicted_classes

    keras.utils.set_random_seed(3)
    model = build("lenet5_classic")
    images = np.random.default_rng(3).uniform(0, 1, (6, 32, 32, 1)).astype("float32")
    penalties = backends.forward(model, images)
    smallest = penalties.argmin(axis=1)
    assert (smallest != penalties.argmax(axis=1)).all()  # the rule decides every prediction here
    assert (predicted_classes(model, penalties) == smallest).all()

    import tensorflow as tf

    labels = smallest.astype("int32")
    predicted = evaluation.predict(model, tf.data.Dataset.from_tensor_slices((images, labels)).batch(4)).y_pred
    assert (predicted == smallest).all()
    assert lesions.lesion_study(model, images, labels, block_names=[])["accuracy"].tolist() == [1.0]
    for tool in (lambda c: attribution.saliency(model, images, class_index=c, rule="plain"),
                 lambda c: attribution.grad_cam(model, images, class_index=c)):  # fmt: skip
        np.testing.assert_allclose(tool(None), tool(smallest), rtol=1e-5, atol=1e-7)
    occlusion = attribution.occlusion_map(model, images[0], patch=8, stride=8)
    np.testing.assert_allclose(occlusion, attribution.occlusion_map(model, images[0], int(smallest[0]), 8, 8))
    assert 0.0 <= occlusion.min() and occlusion.max() <= 1.0  # probabilities, not penalties


def test_saliency_of_a_penalty_points_towards_less_penalty():
    """The evidence for a class is minus its penalty: a small step along the saliency lowers it."""
    keras.utils.set_random_seed(4)
    model = build("lenet5_classic")
    image = np.random.default_rng(4).uniform(0, 1, (1, 32, 32, 1)).astype("float32")
    before = backends.forward(model, image)
    chosen = int(before.argmin())
    gradient = attribution.saliency(model, image, class_index=chosen, rule="plain")
    after = backends.forward(model, image + 1e-3 * gradient / np.abs(gradient).max())
    assert after[0, chosen] < before[0, chosen]
