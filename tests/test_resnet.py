"""ResNet: the reference parameter counts, stage shapes, shortcut variants, v1/v2, the CIFAR
recipe, and a two-device MirroredStrategy run on the CPU."""

import os
import subprocess
import sys
import textwrap

import keras
import numpy as np
import pytest

from cnnkit.models import build
from cnnkit.models.resnet import ZeroPadShortcut
from cnnkit.recipes import (
    SmoothedSparseCategoricalCrossentropy,
    learning_rate_schedule,
    resnet_cifar_optimizer,
)


def trainable(model):
    return sum(int(np.prod(w.shape)) for w in model.trainable_weights)


@pytest.mark.parametrize(
    ("name", "params"),
    [("resnet18", 11_689_512), ("resnet34", 21_797_672), ("resnet50", 25_557_032),
     ("resnet101", 44_549_160), ("resnet152", 60_192_808)],
)  # fmt: skip
def test_imagenet_family_trainable_counts_equal_the_reference(name, params):
    model = build(name)
    assert trainable(model) == params
    # Batch-norm moving statistics are the only non-trainable weights.
    moving = sum(
        2 * layer.gamma.shape[0]
        for layer in model.layers
        if isinstance(layer, keras.layers.BatchNormalization)
    )
    assert model.count_params() - params == moving


def test_stage_outputs_on_224_input():
    for name in ("resnet18", "resnet50"):
        model = build(name)
        last = {"resnet18": (2, 2, 2, 2), "resnet50": (3, 4, 6, 3)}[name]
        sizes = [
            model.get_layer(f"conv{stage}_block{last[stage - 2]}_out").output.shape[1]
            for stage in (2, 3, 4, 5)
        ]
        assert sizes == [56, 28, 14, 7]
    assert build("resnet50").get_layer("conv5_block3_out").output.shape[-1] == 2048  # expansion 4


def test_no_convolution_before_batch_norm_has_a_bias():
    convs = [layer for layer in build("resnet50").layers if isinstance(layer, keras.layers.Conv2D)]
    assert convs and not any(conv.use_bias for conv in convs)


@pytest.mark.parametrize(
    ("depth", "paper"), [(20, 0.27e6), (32, 0.46e6), (44, 0.66e6), (56, 0.85e6), (110, 1.7e6)]
)
def test_cifar_counts_are_within_two_percent_of_the_paper(depth, paper):
    assert trainable(build("resnet_cifar", depth=depth)) == pytest.approx(paper, rel=0.02)


def test_shortcut_variants_change_the_counts_as_expected():
    model = build("resnet18")
    projections = [layer for layer in model.layers if layer.name.endswith("_0_conv")]
    assert len(projections) == 3  # stages 3, 4, 5 change shape
    projection_params = sum(
        int(np.prod(w.shape))
        for layer in model.layers
        if "_0_" in layer.name
        for w in layer.trainable_weights
    )  # the 1x1 convolutions and their batch norms
    assert projection_params > 0
    assert trainable(model) - trainable(build("resnet18", shortcut="A")) == projection_params
    # The CIFAR network with option A has exactly as many parameters as its plain twin.
    assert build("resnet_cifar", depth=20).count_params() == build("plain_cifar", depth=20).count_params()
    assert not [
        layer for layer in build("plain_cifar", depth=20).layers if isinstance(layer, keras.layers.Add)
    ]
    assert (
        len(
            [layer for layer in build("resnet_cifar", depth=20).layers if isinstance(layer, keras.layers.Add)]
        )
        == 9
    )
    with pytest.raises(ValueError, match="6n \\+ 2"):
        build("resnet_cifar", depth=21)
    with pytest.raises(ValueError, match="shortcut must be"):
        build("resnet18", shortcut="C")


@pytest.mark.parametrize("preact", [False, True])
def test_v1_and_v2_both_train_a_step(preact):
    model = build("resnet_cifar", depth=8, preact=preact)
    model.compile(optimizer=resnet_cifar_optimizer(10), loss="sparse_categorical_crossentropy")
    rng = np.random.default_rng(0)
    x, y = rng.normal(size=(16, 32, 32, 3)).astype("float32"), rng.integers(0, 10, 16)
    before = [w.numpy().copy() for w in model.trainable_weights]
    loss = model.train_on_batch(x, y)
    assert np.isfinite(loss)
    assert any(not np.allclose(a, b.numpy()) for a, b in zip(before, model.trainable_weights, strict=True))


def test_preactivation_model_and_option_a_round_trip_in_safe_mode(tmp_path):
    model = build("resnet_cifar", depth=8, preact=True)
    assert model.get_layer("post_bn") is not None
    assert isinstance(model.get_layer("conv3_block1_0_pad"), ZeroPadShortcut)
    x = np.random.default_rng(1).normal(size=(2, 32, 32, 3)).astype("float32")
    model.save(tmp_path / "v2.keras")
    loaded = keras.saving.load_model(tmp_path / "v2.keras", safe_mode=True)
    np.testing.assert_allclose(loaded.predict(x, verbose=0), model.predict(x, verbose=0), rtol=1e-5)


def test_zero_pad_shortcut_subsamples_and_pads_channels():
    x = np.arange(2 * 4 * 4 * 2, dtype="float32").reshape(2, 4, 4, 2)
    y = ZeroPadShortcut(6, 2)(x).numpy()
    assert y.shape == (2, 2, 2, 6)
    np.testing.assert_array_equal(y[..., 2:4], x[:, ::2, ::2, :])
    assert not y[..., :2].any() and not y[..., 4:].any()


def test_cifar_step_schedule_divides_by_ten_at_half_and_three_quarters():
    schedule = learning_rate_schedule(1000, base=0.1, kind="step")
    values = [float(schedule(step)) for step in (0, 499, 501, 749, 751, 999)]
    np.testing.assert_allclose(values, [0.1, 0.1, 0.01, 0.01, 0.001, 0.001], rtol=1e-6)
    cosine = learning_rate_schedule(1000, base=0.1, kind="cosine")
    assert float(cosine(0)) == pytest.approx(0.0) and float(cosine(50)) == pytest.approx(0.1, rel=1e-3)
    assert float(cosine(999)) < 1e-3
    optimizer = resnet_cifar_optimizer(100)
    assert optimizer.momentum == 0.9 and optimizer.weight_decay == pytest.approx(1e-4)


def test_label_smoothing_loss_matches_the_formula():
    from cnnkit.models.losses import SmoothedSparseCrossentropy

    probabilities = np.array([[0.7, 0.2, 0.1], [0.1, 0.1, 0.8]], "float32")
    labels = np.array([0, 2])
    loss = SmoothedSparseCrossentropy(0.3, reduction=None)(labels, probabilities).numpy()
    targets = np.full((2, 3), 0.1) + np.eye(3)[labels] * 0.7
    np.testing.assert_allclose(loss, -(targets * np.log(probabilities)).sum(1), rtol=1e-5)


def test_one_label_smoothing_loss_and_models_saved_with_the_old_name_still_load():
    """recipes.SmoothedSparseCategoricalCrossentropy was a second copy of the loss (issue 35, section 3):
    it is deprecated, and a saved configuration of it loads as the one loss with the same smoothing."""
    from cnnkit.models.losses import SmoothedSparseCrossentropy

    saved = {"module": None, "class_name": "SmoothedSparseCategoricalCrossentropy",
             "registered_name": "cnnkit>SmoothedSparseCategoricalCrossentropy",
             "config": {"name": "smoothed_crossentropy", "reduction": "sum_over_batch_size", "smoothing": 0.3}}  # fmt: skip
    loaded = keras.saving.deserialize_keras_object(saved)
    assert type(loaded) is SmoothedSparseCrossentropy and loaded.label_smoothing == pytest.approx(0.3)
    with pytest.warns(DeprecationWarning, match="use cnnkit.models.losses.SmoothedSparseCrossentropy"):
        old = SmoothedSparseCategoricalCrossentropy(0.3)
    probabilities = np.array([[0.7, 0.2, 0.1]], "float32")
    assert float(old([0], probabilities)) == pytest.approx(float(loaded([0], probabilities)))


TWO_DEVICES = textwrap.dedent(
    """
    import numpy as np, tensorflow as tf
    cpu = tf.config.list_physical_devices("CPU")[0]
    tf.config.set_logical_device_configuration(cpu, [tf.config.LogicalDeviceConfiguration()] * 2)
    import keras
    from cnnkit import set_seed
    from cnnkit.models import build

    set_seed(0)
    rng = np.random.default_rng(0)
    x, y = rng.normal(size=(32, 32, 32, 3)).astype("float32"), rng.integers(0, 10, 32)
    data = tf.data.Dataset.from_tensor_slices((x, y)).batch(16)
    initial = build("resnet_cifar", depth=8, sync_batchnorm=True).get_weights()

    def run(strategy):
        with strategy.scope():
            model = build("resnet_cifar", depth=8, sync_batchnorm=True)
            model.set_weights(initial)
            model.compile(keras.optimizers.SGD(0.05, momentum=0.9), "sparse_categorical_crossentropy")
        history = model.fit(data, epochs=2, shuffle=False, verbose=0)
        return history.history["loss"], model.evaluate(data, verbose=0)

    devices = [d.name for d in tf.config.list_logical_devices("CPU")]
    one = run(tf.distribute.OneDeviceStrategy(devices[0]))
    mirrored = tf.distribute.MirroredStrategy(devices)
    assert mirrored.num_replicas_in_sync == 2, mirrored.num_replicas_in_sync
    two = run(mirrored)
    print("RESULT", one, two)
    np.testing.assert_allclose(one[0], two[0], rtol=1e-4)
    np.testing.assert_allclose(one[1], two[1], rtol=1e-4)
    """
)


def test_two_device_mirrored_strategy_gives_the_same_loss_as_one_device(tmp_path):
    script = tmp_path / "two_devices.py"
    script.write_text(TWO_DEVICES)
    env = {**os.environ, "PYTHONPATH": os.getcwd()}
    done = subprocess.run([sys.executable, str(script)], env=env, capture_output=True, text=True)
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-3000:]
    assert "RESULT" in done.stdout, done.stdout


def test_gradient_norms_equal_a_direct_gradient_computation():
    import tensorflow as tf

    from cnnkit.arithmetic import gradient_norms

    model = build("plain_cifar", depth=8)
    rng = np.random.default_rng(2)
    x, y = rng.normal(size=(4, 32, 32, 3)).astype("float32"), rng.integers(0, 10, 4)
    table = gradient_norms(model, x, y)
    kernels = [layer for layer in model.layers if isinstance(layer, keras.layers.Conv2D | keras.layers.Dense)]
    assert table["layer"].tolist() == [layer.name for layer in kernels] and table["depth"].iloc[-1] == len(
        kernels
    )
    with tf.GradientTape() as tape:
        loss = keras.losses.SparseCategoricalCrossentropy()(y, model(x, training=True))
    first = tape.gradient(loss, kernels[0].kernel)
    assert table["gradient_norm"].iloc[0] == pytest.approx(float(tf.norm(first)), rel=1e-5)
    assert (table["gradient_norm"] > 0).all()


def test_residual_block_diagram_draws(tmp_path):
    from cnnkit import plots

    for preact in (False, True):
        path = tmp_path / f"block_{preact}.png"
        plots.save_figure(plots.residual_block_diagram(preact), path)
        assert path.read_bytes()[:4] == b"\x89PNG"


def test_history_reports_epoch_seconds(digits):
    from cnnkit import train

    history = train(build("lenet5"), digits.train.take(2), digits.validation.take(1), epochs=2, verbose=0)
    assert (history["epoch_seconds"] > 0).all()


def _copy_keras_resnet(source, target):
    """Copy keras.applications ResNet weights into cnnkit's model by layer name (both use
    ``conv2_block1_1_conv`` ...), folding each convolution's bias into the batch norm named
    after it: BN(conv(x) + b) = BN'(conv(x)) with moving mean' = mean - b."""
    copied = 0
    for layer in source.layers:
        if not layer.weights:
            continue
        mine = target.get_layer(layer.name)
        if isinstance(layer, keras.layers.Conv2D):
            mine.set_weights(layer.get_weights()[:1])
        elif isinstance(layer, keras.layers.BatchNormalization):
            bias = source.get_layer(layer.name[: -len("_bn")] + "_conv").bias.numpy()
            gamma, beta, mean, variance = layer.get_weights()
            mine.set_weights([gamma, beta, mean - bias, variance])
        else:  # the dense classifier
            mine.set_weights(layer.get_weights())
        copied += 1
    assert copied == len([layer for layer in target.layers if layer.weights])


@pytest.mark.filterwarnings("ignore::UserWarning")
def test_resnet50_with_the_stride_on_the_1x1_convolution_equals_keras_applications():
    import numpy as np

    keras.utils.set_random_seed(0)
    shape = (64, 64, 3)
    twin = keras.applications.ResNet50(weights=None, input_shape=shape)
    rng = np.random.default_rng(0)
    for layer in twin.layers:  # random batch-norm statistics and conv biases, so nothing cancels
        if isinstance(layer, keras.layers.BatchNormalization):
            layer.moving_mean.assign(rng.normal(0, 0.1, layer.moving_mean.shape).astype("float32"))
            layer.moving_variance.assign(rng.uniform(0.5, 1.5, layer.moving_variance.shape).astype("float32"))
        elif isinstance(layer, keras.layers.Conv2D):
            layer.bias.assign(rng.normal(0, 0.1, layer.bias.shape).astype("float32"))
    images = rng.uniform(-1, 1, size=(2, *shape)).astype("float32")
    features = lambda model: keras.Model(model.inputs, model.get_layer("avg_pool").output)(images).numpy()  # noqa: E731
    expected = features(twin)
    ours = build("resnet50", input_shape=shape, stride_in="1x1")
    _copy_keras_resnet(twin, ours)
    np.testing.assert_allclose(features(ours), expected, rtol=1e-3, atol=1e-4 * np.abs(expected).max())
    np.testing.assert_allclose(ours(images).numpy(), twin(images).numpy(), rtol=1e-3, atol=1e-6)
    # With the stride on the 3x3 convolution (the default) the same weights compute something else.
    v15 = build("resnet50", input_shape=shape)
    _copy_keras_resnet(twin, v15)
    assert np.abs(features(v15) - expected).max() > 1e-2 * np.abs(expected).max()


def test_stride_in_is_checked():
    with pytest.raises(ValueError, match="'1x1' or '3x3'"):
        build("resnet50", input_shape=(64, 64, 3), stride_in="2x2")
    with pytest.raises(ValueError, match="bottleneck blocks"):
        build("resnet18", stride_in="1x1")


def test_the_imagenet_resnets_pass_their_options_by_name():
    """resnet18 ... resnet152 handed seven options to resnet_imagenet by position (issue 35, section 5): one
    more option in between would have shifted them all silently. They are keyword-only now."""
    from cnnkit.models.resnet import basic_block, resnet_imagenet

    with pytest.raises(TypeError, match="positional"):
        resnet_imagenet((1, 1, 1, 1), basic_block, "tiny", (64, 64, 3))
    model = resnet_imagenet((1, 1, 1, 1), basic_block, "tiny", input_shape=(64, 64, 3), num_classes=5, shortcut="A")
    assert model.output_shape == (None, 5)
