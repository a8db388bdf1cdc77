"""LeNet-5: the paper's facts (parameters, shapes, connection table) and the custom layers."""

import keras
import numpy as np
import pytest

from cnnkit.models import build
from cnnkit.models.layers import EuclideanRBF, PartiallyConnectedConv2D, TrainableSubsampling, scaled_tanh
from cnnkit.models.lenet import C3_CONNECTIONS, DIGIT_BITMAPS, rbf_centers
from cnnkit.models.losses import LeNetRBFLoss, penalty_accuracy


def trainable(layer):
    return sum(int(np.prod(w.shape)) for w in layer.trainable_weights)


# LeCun et al. (1998), Section II.B: trainable parameters and output shapes, layer by layer.
CLASSIC = {
    "C1": (156, (28, 28, 6)),
    "S2": (12, (14, 14, 6)),
    "C3": (1516, (10, 10, 16)),
    "S4": (32, (5, 5, 16)),
    "C5": (48120, (1, 1, 120)),
    "F6": (10164, (84,)),
    "OUTPUT": (0, (10,)),
}


def test_lenet5_classic_matches_the_paper_layer_by_layer():
    model = build("lenet5_classic")
    assert model.input_shape == (None, 32, 32, 1)
    for name, (params, shape) in CLASSIC.items():
        layer = model.get_layer(name)
        assert trainable(layer) == params, name
        assert tuple(layer.output.shape[1:]) == shape, name
    assert sum(trainable(layer) for layer in model.layers) == 60_000
    # The RBF parameter vectors are fixed: 10 x 84 non-trainable values.
    assert sum(int(np.prod(w.shape)) for w in model.non_trainable_weights) == 840


def test_c3_connection_table_is_table_one_of_the_paper():
    assert len(C3_CONNECTIONS) == 16
    assert [len(c) for c in C3_CONNECTIONS] == [3] * 6 + [4] * 9 + [6]
    # Table I, row by row: the C3 maps that each S2 map feeds.
    rows = {
        0: {0, 4, 5, 6, 9, 10, 11, 12, 14, 15},
        1: {0, 1, 5, 6, 7, 10, 11, 12, 13, 15},
        2: {0, 1, 2, 6, 7, 8, 11, 13, 14, 15},
        3: {1, 2, 3, 6, 7, 8, 9, 12, 14, 15},
        4: {2, 3, 4, 7, 8, 9, 10, 12, 13, 15},
        5: {3, 4, 5, 8, 9, 10, 11, 13, 14, 15},
    }
    for s2_map, c3_maps in rows.items():
        assert {j for j, inputs in enumerate(C3_CONNECTIONS) if s2_map in inputs} == c3_maps


def test_partially_connected_conv_equals_a_masked_full_convolution():
    rng = np.random.default_rng(0)
    layer = PartiallyConnectedConv2D(C3_CONNECTIONS, kernel_size=5)
    x = rng.normal(size=(2, 14, 14, 6)).astype("float32")
    y = np.asarray(layer(x))
    full = np.asarray(layer.full_kernel())
    mask = np.zeros((6, 16), bool)
    for j, inputs in enumerate(C3_CONNECTIONS):
        mask[list(inputs), j] = True
    assert np.all(full[:, :, ~mask] == 0)  # unconnected pairs contribute nothing
    assert np.count_nonzero(np.any(full != 0, axis=(0, 1))) == 60
    expected = keras.ops.conv(x, full, padding="valid") + np.asarray(layer.bias)
    np.testing.assert_allclose(y, np.asarray(expected), atol=1e-5)
    # Output map 0 depends on input maps 0, 1, 2 only: changing map 5 leaves it unchanged.
    x2 = x.copy()
    x2[..., 5] += 10.0
    y2 = np.asarray(layer(x2))
    np.testing.assert_allclose(y2[..., 0], y[..., 0], atol=1e-5)
    assert not np.allclose(y2[..., 3], y[..., 3])


def test_partially_connected_conv_rejects_bad_tables():
    with pytest.raises(ValueError, match="at least one input map"):
        PartiallyConnectedConv2D([[0, 1], []])
    with pytest.raises(ValueError, match="twice"):
        PartiallyConnectedConv2D([[0, 0]])
    with pytest.raises(ValueError, match="input map 7"):
        PartiallyConnectedConv2D([[0, 7]])(np.zeros((1, 8, 8, 3), "float32"))


def test_trainable_subsampling_is_coefficient_times_block_sum_plus_bias():
    rng = np.random.default_rng(1)
    layer = TrainableSubsampling(2)
    x = rng.normal(size=(3, 8, 6, 4)).astype("float32")
    layer.build(x.shape)
    layer.coefficient.assign([0.5, -1.0, 2.0, 0.1])
    layer.bias.assign([0.0, 1.0, -2.0, 0.3])
    sums = x.reshape(3, 4, 2, 3, 2, 4).sum(axis=(2, 4))
    np.testing.assert_allclose(np.asarray(layer(x)), sums * layer.coefficient + layer.bias, atol=1e-5)
    assert trainable(layer) == 8


def test_scaled_tanh_maps_plus_minus_one_to_themselves():
    values = np.asarray(scaled_tanh(np.array([-1.0, 0.0, 1.0, 100.0], "float32")))
    np.testing.assert_allclose(values[:3], [-1.0, 0.0, 1.0], atol=2e-4)
    assert values[3] == pytest.approx(1.7159, abs=1e-4)


def test_rbf_centers_are_the_plus_minus_one_bitmaps():
    centers = rbf_centers(10)
    assert centers.shape == (10, 84)
    assert set(np.unique(centers)) == {-1.0, 1.0}
    assert all(len(rows) == 12 and {len(r) for r in rows} == {7} for rows in DIGIT_BITMAPS.values())
    assert len({tuple(c) for c in centers}) == 10  # ten different vectors
    with pytest.raises(ValueError, match="2 to 10 classes"):
        rbf_centers(26)


def test_euclidean_rbf_outputs_squared_distances():
    rng = np.random.default_rng(2)
    centers = rng.normal(size=(5, 7)).astype("float32")
    x = rng.normal(size=(4, 7)).astype("float32")
    penalties = np.asarray(EuclideanRBF(centers)(x))
    expected = ((x[:, None, :] - centers[None]) ** 2).sum(-1)
    np.testing.assert_allclose(penalties, expected, rtol=1e-5)
    with pytest.raises(ValueError, match="7 features"):
        EuclideanRBF(centers)(np.zeros((1, 3), "float32"))


def test_rbf_loss_is_equation_nine_of_the_paper():
    rng = np.random.default_rng(3)
    penalties = rng.uniform(0, 20, size=(6, 10)).astype("float32")
    labels = rng.integers(0, 10, size=6)
    j = 5.0
    expected = penalties[np.arange(6), labels] + np.log(np.exp(-j) + np.exp(-penalties).sum(1))
    loss = LeNetRBFLoss(j=j, reduction=None)(labels, penalties)
    np.testing.assert_allclose(np.asarray(loss), expected, rtol=1e-5)
    accuracy = np.asarray(penalty_accuracy(labels, penalties))
    np.testing.assert_array_equal(accuracy, (penalties.argmin(1) == labels).astype("float32"))


def test_lenet5_textbook_output_shapes():
    model = build("lenet5")
    shapes = [
        tuple(model.get_layer(n).output.shape[1:])
        for n in ("C1", "S2", "C3", "S4", "flatten", "F5", "F6", "OUTPUT")
    ]
    assert shapes == [(28, 28, 6), (14, 14, 6), (10, 10, 16), (5, 5, 16), (400,), (120,), (84,), (10,)]
    assert model.count_params() == 61_706
    assert model.get_layer("C1").activation.__name__ == "sigmoid"
    assert isinstance(model.get_layer("S2"), keras.layers.AveragePooling2D)


def test_lenet5_textbook_options():
    model = build("lenet5", activation="relu", pooling="max", num_classes=3)
    assert model.get_layer("F5").activation.__name__ == "relu"
    assert isinstance(model.get_layer("S4"), keras.layers.MaxPooling2D)
    assert model.output_shape == (None, 3)
    with pytest.raises(ValueError, match="pooling must be"):
        build("lenet5", pooling="median")
    with pytest.raises(ValueError):
        build("lenet5", activation="no_such_activation")


@pytest.mark.parametrize("name", ["lenet5_classic", "lenet5"])
def test_models_round_trip_through_keras_files_in_safe_mode(name, tmp_path):
    model = build(name)
    model.compile(optimizer="adam", loss="mse")  # saved compiled and trained, as `train` saves it
    x = np.random.default_rng(4).uniform(size=(3, *model.input_shape[1:])).astype("float32")
    model.train_on_batch(x, np.zeros((3, 10), "float32"))
    path = tmp_path / f"{name}.keras"
    model.save(path)
    loaded = keras.saving.load_model(path, safe_mode=True)
    np.testing.assert_allclose(loaded.predict(x, verbose=0), model.predict(x, verbose=0), rtol=1e-6)
    assert [layer.name for layer in loaded.layers] == [layer.name for layer in model.layers]
