"""AlexNet: the paper's parameter counts and shapes, LRN, ablation switches, augmentation."""

import keras
import numpy as np
import pytest
import tensorflow as tf

from cnnkit.arithmetic import layer_table
from cnnkit.data.augment import center_crop, fit_pca_colour, random_crop_flip, ten_crop_predict, ten_crops
from cnnkit.models import build
from cnnkit.models.layers import LocalResponseNormalization


@pytest.mark.parametrize(("groups", "params"), [(2, 60_965_224), (1, 62_378_344)])
def test_alexnet_parameter_counts_are_the_papers(groups, params):
    assert build("alexnet", groups=groups).count_params() == params


def test_alexnet_output_shapes_on_227_input():
    model = build("alexnet")
    shapes = {
        name: tuple(model.get_layer(name).output.shape[1:]) for name in ("conv1", "pool1", "pool2", "pool5")
    }
    assert shapes == {
        "conv1": (55, 55, 96),
        "pool1": (27, 27, 96),
        "pool2": (13, 13, 256),
        "pool5": (6, 6, 256),
    }
    assert model.get_layer("conv2").groups == 2 and model.get_layer("conv3").groups == 1
    assert model.output_shape == (None, 1000)


def test_fully_connected_layers_hold_about_94_percent_of_the_parameters():
    table = layer_table(build("alexnet", groups=1))
    share = table.loc[table["type"] == "Dense", "params"].sum() / table["params"].sum()
    assert share == pytest.approx(0.94, abs=0.005)
    two_towers = layer_table(build("alexnet"))
    assert two_towers.loc[two_towers["type"] == "Dense", "params_share"].sum() == pytest.approx(
        0.962, abs=0.001
    )


def test_ablation_switches_remove_one_idea_each():
    names = {layer.name for layer in build("alexnet", lrn=False, dropout=0.0).layers}
    assert not {"lrn1", "lrn2", "dropout6", "dropout7"} & names
    plain_pool = build("alexnet", overlapping_pool=False).get_layer("pool1")
    assert plain_pool.pool_size == (2, 2) and plain_pool.strides == (2, 2)
    assert build("alexnet", overlapping_pool=False).get_layer("pool5").output.shape[1:] == (6, 6, 256)
    with pytest.raises(ValueError, match="groups must be 1"):
        build("alexnet", groups=3)
    with pytest.raises(ValueError, match="dropout must lie"):
        build("alexnet_small", dropout=1.5)


def test_alexnet_small_layers_and_count():
    model = build("alexnet_small")
    assert model.count_params() == 1_025_466
    assert tuple(model.get_layer("pool5").output.shape[1:]) == (4, 4, 64)
    rgb = build("alexnet_small", input_shape=(32, 32, 3))
    assert tuple(rgb.get_layer("pool5").output.shape[1:]) == (4, 4, 64) and rgb.output_shape == (None, 10)
    assert build("alexnet_small", activation="tanh").get_layer("conv3").activation.__name__ == "tanh"


def test_relu_layers_start_from_he_initialization():
    for name in ("alexnet", "alexnet_small", "alexnet_textbook"):
        model = build(name)
        for layer in model.layers:
            if isinstance(layer, keras.layers.Conv2D | keras.layers.Dense) and layer.name != "fc8":
                assert type(layer.kernel_initializer).__name__ == "HeNormal", (name, layer.name)
    tanh = build("alexnet_small", activation="tanh")
    assert type(tanh.get_layer("conv1").kernel_initializer).__name__ == "GlorotUniform"


def test_alexnet_small_leaves_chance_level_quickly(digits):
    # With Glorot weights this network sat at 10% for epochs on the digits (see the module docstring).
    from cnnkit import set_seed, train

    set_seed(0)
    history = train(build("alexnet_small"), digits.train.take(12), digits.validation, epochs=3, verbose=0)
    assert history["val_accuracy"].iloc[-1] > 0.5


def test_alexnet_textbook_takes_224_by_224_grayscale():
    model = build("alexnet_textbook")
    assert model.input_shape == (None, 224, 224, 1)
    assert tuple(model.get_layer("conv1").output.shape[1:]) == (54, 54, 96)
    assert tuple(model.get_layer("pool5").output.shape[1:]) == (5, 5, 256)


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_lrn_equals_tensorflow(dtype):
    x = np.random.default_rng(0).normal(size=(2, 6, 5, 19)).astype(dtype) * 3
    ours = LocalResponseNormalization(dtype=dtype)(x).numpy()
    theirs = tf.nn.local_response_normalization(x, depth_radius=2, bias=2.0, alpha=1e-4, beta=0.75).numpy()
    assert np.abs(ours - theirs).max() < 1e-6
    with pytest.raises(ValueError, match="odd"):
        LocalResponseNormalization(n=4)


def test_alexnet_small_round_trips_through_keras_files_in_safe_mode(tmp_path):
    model = build("alexnet_small", input_shape=(32, 32, 3))
    x = np.random.default_rng(1).uniform(size=(2, 32, 32, 3)).astype("float32")
    model.save(tmp_path / "small.keras")
    loaded = keras.saving.load_model(tmp_path / "small.keras", safe_mode=True)
    np.testing.assert_allclose(loaded.predict(x, verbose=0), model.predict(x, verbose=0), rtol=1e-6)
    assert isinstance(loaded.get_layer("lrn1"), LocalResponseNormalization)


# --- augmentation -----------------------------------------------------------------------


def numbered_images(batch=32, size=12, channels=3):
    """Images whose pixels are all different, so a crop reveals where it was taken."""
    values = np.arange(batch * size * size * channels, dtype="float32")
    return tf.constant(values.reshape(batch, size, size, channels))


def test_random_crops_are_windows_of_each_image_at_their_own_positions():
    images = numbered_images()
    crops, labels = random_crop_flip(8, flip=True, seed=3)(images, tf.range(32))
    assert crops.shape == (32, 8, 8, 3) and list(labels.numpy()) == list(range(32))
    positions, flipped = set(), 0
    for image, crop in zip(images.numpy(), crops.numpy(), strict=True):
        matches = []
        for top in range(5):
            for left in range(5):
                window = image[top : top + 8, left : left + 8]
                if np.array_equal(window, crop):
                    matches.append((top, left, False))
                if np.array_equal(window[:, ::-1], crop):
                    matches.append((top, left, True))
        assert len(matches) == 1  # exactly one window (or its mirror) of this image
        positions.add(matches[0][:2])
        flipped += matches[0][2]
    assert len(positions) > 5  # each image its own position
    assert 4 <= flipped <= 28  # about half mirrored


def test_center_and_ten_crops():
    images = numbered_images(batch=2)
    np.testing.assert_array_equal(center_crop(images, 8), images[:, 2:10, 2:10])
    views = ten_crops(images, 8)
    assert len(views) == 10
    np.testing.assert_array_equal(views[0], images[:, :8, :8])
    np.testing.assert_array_equal(views[3], images[:, 4:, 4:])
    np.testing.assert_array_equal(views[5], images[:, :8, :8][:, :, ::-1])
    model = build("alexnet_small", input_shape=(8, 8, 3))
    averaged = ten_crop_predict(model, images / 1000.0, 8)
    assert isinstance(averaged, np.ndarray) and averaged.shape == (2, 10)
    expected = np.mean([model(view / 1000.0).numpy() for view in views], axis=0)
    np.testing.assert_allclose(averaged, expected, rtol=1e-5)


def test_pca_colour_fit_streams_to_the_full_covariance():
    rng = np.random.default_rng(2)
    images = rng.uniform(size=(40, 6, 6, 3)) * [1.0, 0.5, 0.2]
    pca = fit_pca_colour(np.array_split(images, 7))  # seven batches of uneven size
    pixels = images.reshape(-1, 3)
    np.testing.assert_allclose(pca.mean, pixels.mean(0))
    covariance = pca.eigenvectors @ np.diag(pca.eigenvalues) @ pca.eigenvectors.T
    np.testing.assert_allclose(covariance, np.cov(pixels.T), atol=1e-12)
    np.testing.assert_allclose(pca.eigenvectors.T @ pca.eigenvectors, np.eye(3), atol=1e-12)  # orthonormal
    assert np.all(np.diff(pca.eigenvalues) <= 0) and pca.pixels == 40 * 36


def test_pca_colour_adds_one_offset_per_image_along_the_fitted_eigenvectors():
    rng = np.random.default_rng(3)
    # Colour varies along one direction only: the covariance has rank 1.
    direction = np.array([0.2, 0.5, 0.8]) / np.linalg.norm([0.2, 0.5, 0.8])
    images = 0.3 + rng.uniform(size=(64, 5, 5, 1)) * direction
    pca = fit_pca_colour([images])
    assert pca.eigenvalues[1] == pytest.approx(0, abs=1e-12)
    x = tf.constant(images, tf.float32)
    shifted, _ = pca.augmentation(std=0.1, seed=4)(x, tf.zeros(64))
    offsets = (shifted - x).numpy()
    per_image = offsets[:, :1, :1, :]
    np.testing.assert_allclose(offsets, np.broadcast_to(per_image, offsets.shape), atol=1e-6)  # constant
    per_image = per_image.reshape(64, 3)
    assert np.abs(np.cross(per_image, direction)).max() < 1e-6  # parallel to the only eigenvector
    alphas = per_image @ pca.eigenvectors[:, 0] / pca.eigenvalues[0]
    assert 0.06 < alphas.std() < 0.14  # alpha ~ N(0, 0.1)


def test_pca_colour_refuses_grayscale():
    with pytest.raises(ValueError, match="RGB images"):
        fit_pca_colour([np.zeros((2, 4, 4, 1))])
    pca = fit_pca_colour([np.random.default_rng(0).uniform(size=(2, 4, 4, 3))])
    with pytest.raises(ValueError, match="RGB images"):
        pca.augmentation()(tf.zeros((2, 4, 4, 1)), tf.zeros(2))
