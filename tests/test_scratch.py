"""The from-scratch NumPy CNN: forward passes equal TensorFlow's, gradients checked two ways."""

import numpy as np
import pytest
import tensorflow as tf

from cnnkit import scratch
from cnnkit.arithmetic import dense_vs_conv_parameters, receptive_fields
from cnnkit.data import load_arrays

RNG = np.random.default_rng(0)

CONV_CASES = [  # (h, w, in_channels, filters, kernel, stride, padding)
    (7, 7, 1, 2, 3, 1, "valid"),
    (8, 6, 3, 4, 3, 2, "same"),
    (9, 9, 2, 3, 5, 2, "same"),
    (6, 7, 2, 2, 2, 3, 1),
    (10, 10, 1, 3, 4, 3, "same"),
    (5, 5, 2, 2, 5, 1, "valid"),
]


def tf_padding(layer, h, w):
    """The explicit padding list tf.nn.conv2d needs to match ``layer``'s padding."""
    window = layer.kernel_size
    (top, bottom), (left, right) = (
        scratch.padding_amounts(h, window, layer.stride, layer.padding),
        scratch.padding_amounts(w, window, layer.stride, layer.padding),
    )
    return [[0, 0], [top, bottom], [left, right], [0, 0]]


@pytest.mark.parametrize("case", CONV_CASES)
def test_conv_forward_and_gradients_equal_tensorflow(case):
    h, w, c, f, k, s, padding = case
    layer = scratch.Conv2D(c, f, k, stride=s, padding=padding, rng=np.random.default_rng(1))
    layer.params["b"] = RNG.normal(size=f)
    x = RNG.normal(size=(2, h, w, c))
    out = layer.forward(x)
    upstream = RNG.normal(size=out.shape)
    dx = layer.backward(upstream)

    x_tf, W_tf = tf.Variable(x), tf.Variable(layer.params["W"])
    with tf.GradientTape() as tape:
        expected = tf.nn.conv2d(x_tf, W_tf, s, padding=tf_padding(layer, h, w)) + layer.params["b"]
        objective = tf.reduce_sum(expected * upstream)
    dx_tf, dW_tf = tape.gradient(objective, [x_tf, W_tf])
    assert np.abs(out - expected.numpy()).max() < 1e-10
    assert np.abs(dx - dx_tf.numpy()).max() < 1e-5
    assert np.abs(layer.grads["W"] - dW_tf.numpy()).max() < 1e-5
    np.testing.assert_allclose(layer.grads["b"], upstream.sum(axis=(0, 1, 2)))


POOL_CASES = [(6, 6, 2, None, "valid"), (7, 5, 3, 2, "same"), (8, 8, 2, 1, "valid"), (9, 7, 3, 3, "same")]


@pytest.mark.parametrize("kind", ["max", "avg"])
@pytest.mark.parametrize("case", POOL_CASES)
def test_pool_forward_and_gradients_equal_tensorflow(kind, case):
    h, w, p, s, padding = case
    layer = (scratch.MaxPool2D if kind == "max" else scratch.AvgPool2D)(p, s, padding)
    x = RNG.normal(size=(2, h, w, 3))
    out = layer.forward(x)
    upstream = RNG.normal(size=out.shape)
    dx = layer.backward(upstream)
    pool = tf.nn.max_pool2d if kind == "max" else tf.nn.avg_pool2d
    x_tf = tf.Variable(x)
    with tf.GradientTape() as tape:
        expected = pool(x_tf, p, s or p, padding.upper())
        objective = tf.reduce_sum(expected * upstream)
    assert np.abs(out - expected.numpy()).max() < 1e-10
    assert np.abs(dx - tape.gradient(objective, x_tf).numpy()).max() < 1e-5


def small_net(seed=0):
    rng = np.random.default_rng(seed)
    return scratch.Sequential([
        scratch.Conv2D(1, 2, 3, padding="same", rng=rng), scratch.Tanh(), scratch.AvgPool2D(2),
        scratch.Conv2D(2, 3, 3, stride=2, rng=rng), scratch.Sigmoid(), scratch.MaxPool2D(2, 1),
        scratch.Flatten(), scratch.Dense(3, 4, rng=rng), scratch.ReLU(), scratch.Dense(4, 3, rng=rng),
    ])  # fmt: skip


def test_whole_network_gradients_match_finite_differences():
    net = small_net()
    x = RNG.normal(size=(3, 10, 10, 1))  # 10 -> 10 -> 5 -> 2 -> 1
    y = np.array([0, 2, 1])

    def loss():
        return scratch.softmax_cross_entropy(net.forward(x), y)[0]

    _, dlogits = scratch.softmax_cross_entropy(net.forward(x), y)
    dx = net.backward(dlogits)
    for layer, name in net.parameters():
        for index in list(np.ndindex(layer.params[name].shape))[:6]:
            expected = layer.grads[name][index]
            assert central_difference(layer.params[name], index, loss) == pytest.approx(expected, abs=1e-7)
    for index in [(0, 3, 4, 0), (2, 7, 7, 0), (1, 0, 0, 0)]:  # and the input gradient
        assert central_difference(x, index, loss) == pytest.approx(dx[index], abs=1e-7)


def central_difference(values, index, loss, eps=1e-6):
    """(loss(v + eps) - loss(v - eps)) / (2 eps) for the single entry ``values[index]``."""
    saved = values[index]
    values[index] = saved + eps
    up = loss()
    values[index] = saved - eps
    down = loss()
    values[index] = saved
    return (up - down) / (2 * eps)


def test_softmax_cross_entropy_matches_tensorflow():
    logits, labels = RNG.normal(size=(5, 4)) * 3, np.array([0, 3, 1, 1, 2])
    loss, dlogits = scratch.softmax_cross_entropy(logits, labels)
    logits_tf = tf.Variable(logits)
    with tf.GradientTape() as tape:
        expected = tf.reduce_mean(tf.nn.sparse_softmax_cross_entropy_with_logits(labels, logits_tf))
    assert loss == pytest.approx(float(expected), abs=1e-9)
    assert np.abs(dlogits - tape.gradient(expected, logits_tf).numpy()).max() < 1e-10
    with pytest.raises(ValueError, match="labels must lie in 0..3"):
        scratch.softmax_cross_entropy(logits, np.array([0, 4, 1, 1, 2]))


def test_bad_settings_give_clear_errors():
    with pytest.raises(ValueError, match="does not fit"):
        scratch.Conv2D(1, 2, 7).forward(np.zeros((1, 5, 5, 1)))
    with pytest.raises(ValueError, match="stride must be at least 1"):
        scratch.Conv2D(1, 2, 3, stride=0).forward(np.zeros((1, 5, 5, 1)))
    with pytest.raises(ValueError, match="padding must be"):
        scratch.MaxPool2D(2, padding="full").forward(np.zeros((1, 4, 4, 1)))


def test_initializers_have_the_documented_limits():
    rng = np.random.default_rng(0)
    glorot = scratch.glorot_uniform((100_000,), 30, 20, rng)
    assert np.abs(glorot).max() <= np.sqrt(6 / 50) and np.abs(glorot).max() > 0.99 * np.sqrt(6 / 50)
    he = scratch.he_uniform((100_000,), 30, 20, rng)
    assert he.std() == pytest.approx(np.sqrt(2 / 30), rel=0.02)


def test_scratch_lenet_reaches_95_percent_on_digits():
    arrays = load_arrays("digits")
    x, y = arrays["x_train"] / 255.0, arrays["y_train"]
    net = scratch.lenet_scratch(seed=0)
    history = scratch.fit(net, x, y, epochs=20, optimizer=scratch.SGD(0.01, 0.9), seed=0)
    assert history[-1]["loss"] < history[0]["loss"]
    assert scratch.accuracy(net, arrays["x_test"] / 255.0, arrays["y_test"]) >= 0.95


def test_receptive_fields_and_dense_vs_conv():
    lenet = receptive_fields([("C1", 5, 1), ("S2", 2, 2), ("C3", 5, 1), ("S4", 2, 2)])
    assert lenet["receptive_field"].tolist() == [5, 6, 14, 16]
    assert lenet["jump"].tolist() == [1, 2, 2, 4]
    table = dense_vs_conv_parameters((4, 4, 100), 512, 4)
    assert table["parameters"].tolist() == [819_712, 819_712]  # the same layer, written twice
    small = dense_vs_conv_parameters((32, 32, 3), 64, 3)
    assert small["parameters"].tolist() == [32 * 32 * 3 * 64 + 64, 3 * 3 * 3 * 64 + 64]
    with pytest.raises(ValueError, match="larger than"):
        dense_vs_conv_parameters((4, 4, 1), 2, 5)


# --- the 1990s toolbox network ---------------------------------------------------------------


def test_toolbox_network_has_the_published_layers_and_initialization():
    net = scratch.ToolboxCNN(seed=0)
    assert net.count_params() == (6 * 25 + 6) + (6 * 12 * 25 + 12) + (192 * 10 + 10) == 3898
    out = net.forward(np.zeros((3, 28, 28)))
    assert out.shape == (3, 10) and net.feature_vector.shape == (3, 192)
    assert [a[0].shape for a in net.activations] == [(3, 24, 24), (3, 8, 8)]
    assert [m[0].shape for m in net.inputs[1:]] == [(3, 12, 12), (3, 4, 4)]
    np.testing.assert_allclose(net.activations[0][2], 0.5)  # zero biases, zero input: sigmoid(0)
    second = np.stack(net.kernels[1][0] + net.kernels[1][5])  # fan-in 6 x 25, fan-out 12 x 25
    limit = np.sqrt(6 / (6 * 25 + 12 * 25))
    assert np.abs(second).max() <= limit and np.abs(second).max() > 0.9 * limit
    with pytest.raises(ValueError, match="batch, height, width"):
        net.forward(np.zeros((3, 28, 28, 1)))


def test_toolbox_mean_pooling_is_the_average_of_each_block():
    net = scratch.ToolboxCNN(seed=0)
    images = np.random.default_rng(1).uniform(0, 1, (2, 28, 28))
    net.forward(images)
    activated = net.activations[0][3]
    expected = activated.reshape(2, 12, 2, 12, 2).mean(axis=(2, 4))
    np.testing.assert_allclose(net.inputs[1][3], expected, rtol=1e-12)


def test_toolbox_backward_pass_matches_finite_differences():
    """The Kronecker upsampling, the 180-degree kernels and the kernel gradients, checked numerically."""
    rng = np.random.default_rng(2)
    net = scratch.ToolboxCNN(seed=3)
    images, targets = rng.uniform(0, 1, (4, 28, 28)), np.eye(10)[rng.integers(0, 10, 4)]
    net.forward(images)
    net.backward(targets)
    gradients = net.gradients

    def loss():
        net.forward(images)
        return 0.5 * np.sum((net.outputs - targets) ** 2) / len(images)

    def numeric(array, index):
        return central_difference(array, index, loss)

    for stage, (i, j) in ((0, (0, 4)), (1, (2, 7)), (1, (5, 11))):
        for index in ((0, 0), (2, 3), (4, 1)):
            expected = numeric(net.kernels[stage][i][j], index)
            assert gradients["kernels"][stage][i][j][index] == pytest.approx(expected, rel=1e-5, abs=1e-10)
    for stage, j in ((0, 2), (1, 9)):
        assert gradients["biases"][stage][j] == pytest.approx(numeric(net.biases[stage], j), rel=1e-5, abs=1e-10)
    assert gradients["output_weights"][3, 100] == pytest.approx(numeric(net.output_weights, (3, 100)), rel=1e-5)
    assert gradients["output_bias"][6] == pytest.approx(numeric(net.output_bias, 6), rel=1e-5)


def test_toolbox_training_lowers_the_loss_and_refuses_bad_input():
    """(Its error after 560 steps on the sample is notebook 00's quick-mode claim.)"""
    arrays = load_arrays("mnist_sample")
    x, y = arrays["x_train"][:1000, ..., 0] / 255.0, arrays["y_train"][:1000]
    net = scratch.ToolboxCNN(seed=0)
    losses = scratch.train_toolbox(net, x, y, epochs=3)
    assert len(losses) == 3 * 20  # batches of 50
    assert np.mean(losses[-10:]) < np.mean(losses[:10])
    with pytest.raises(ValueError, match="one label each"):
        scratch.train_toolbox(net, x, y[:10])
    with pytest.raises(ValueError, match="do not fill one batch"):
        scratch.train_toolbox(net, x[:10], y[:10])
