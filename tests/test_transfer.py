"""Transfer learning (issue 12, item 4): ImageNet backbones with their preprocessing inside the
model, the two-phase fine-tuning recipe, and the offline behaviour. No test downloads weights:
they use ``weights=None`` (random weights) and say so."""

import keras
import numpy as np
import pytest
import tensorflow as tf

from cnnkit import cli
from cnnkit.models import build, get_spec
from cnnkit.models.applications import (
    ImagenetPreprocessing,
    WeightsUnavailableError,
    backbones,
    find_backbone,
    pretrained,
    with_new_head,
)
from cnnkit.recipes import fine_tune


@pytest.mark.parametrize(
    ("mode", "reference"),
    [
        ("tf", keras.applications.mobilenet_v2.preprocess_input),
        ("caffe", keras.applications.resnet50.preprocess_input),
        ("caffe", keras.applications.vgg16.preprocess_input),
        ("raw255", keras.applications.efficientnet.preprocess_input),
    ],
)
def test_preprocessing_inside_the_model_equals_keras_preprocess_input(mode, reference):
    images = np.random.default_rng(0).uniform(0, 1, size=(2, 8, 8, 3)).astype("float32")
    expected = reference(images * 255.0)
    np.testing.assert_allclose(ImagenetPreprocessing(mode)(images).numpy(), expected, rtol=1e-5, atol=1e-3)


@pytest.mark.parametrize("name", backbones())
def test_pretrained_models_train_only_their_head_until_unfrozen(name):
    spec = get_spec(f"{name}_pretrained")
    assert spec.pretrained and spec.fixed_input and spec.input_shape == (224, 224, 3)
    model = build(f"{name}_pretrained", num_classes=5, weights=None)  # random weights: offline
    head = model.get_layer("predictions")
    assert [w.path for w in model.trainable_weights] == [w.path for w in head.trainable_weights]
    assert model.output_shape == (None, 5) and not find_backbone(model).trainable


def test_offline_without_cached_weights_is_one_clear_error(tmp_path, monkeypatch, capsys):
    from tests.test_hostile_review import use_keras_home

    folder = use_keras_home(tmp_path / "empty_keras_home", monkeypatch)  # the folder Keras really uses
    with pytest.raises(WeightsUnavailableError, match=f"not cached in {folder} and downloads are disabled"):
        build("mobilenet_v2_pretrained")
    code = cli.main(["train", "mobilenet_v2_pretrained", "--dataset", "digits", "--out", str(tmp_path / "run")])
    err = capsys.readouterr().err
    assert code == 1 and "-o weights=none" in err and "Traceback" not in err


def small_rgb_data(n=48, size=48, seed=0):
    rng = np.random.default_rng(seed)
    labels = rng.integers(0, 2, n)
    images = rng.uniform(0, 0.5, size=(n, size, size, 3)).astype("float32")
    images[labels == 1, : size // 2] += 0.5  # class 1: a bright top half
    return tf.data.Dataset.from_tensor_slices((images, labels.astype("int32"))).batch(16)


def test_fine_tune_trains_the_head_then_the_top_of_the_backbone_with_batch_norm_frozen(tmp_path):
    keras.utils.set_random_seed(0)
    # The registry entry fixes 224x224 for the command line; the function takes any size >= 32.
    model = pretrained("mobilenet_v2", num_classes=2, input_shape=(48, 48, 3), weights=None)
    backbone = find_backbone(model)
    data = small_rgb_data()
    before = {layer.name: [w.numpy().copy() for w in layer.weights] for layer in backbone.layers if layer.weights}
    history = fine_tune(model, data, data, head_epochs=2, fine_tune_epochs=2, unfreeze=10, out_dir=tmp_path, verbose=0)
    assert list(history["phase"]) == ["head", "head", "fine_tune", "fine_tune"]
    assert list(history.index) == [0, 1, 2, 3]
    unfrozen = backbone.layers[-10:]
    assert all(layer.trainable != isinstance(layer, keras.layers.BatchNormalization) for layer in unfrozen)
    assert not any(layer.trainable for layer in backbone.layers[:-10])
    changed = lambda layer: any(not np.array_equal(a, b.numpy()) for a, b in zip(before[layer.name], layer.weights, strict=True))  # noqa: E731
    weighted = [layer for layer in backbone.layers if layer.weights]
    assert not any(changed(layer) for layer in weighted if layer not in unfrozen)  # the lower layers kept theirs
    assert any(changed(layer) for layer in unfrozen if layer.trainable and layer.weights)  # the top was fine-tuned
    assert (tmp_path / "head" / "run.json").exists() and (tmp_path / "fine_tune" / "model.keras").exists()


def test_the_command_line_trains_a_pretrained_backbone_on_a_folder(tmp_path, capsys):
    from cnnkit.data.samples import write_digit_folder

    folder = write_digit_folder(tmp_path / "digits", digits=(0, 1), per_class=8)
    out = tmp_path / "run"
    code = cli.main(["train", "mobilenet_v2_pretrained", "--dataset", str(folder), "--epochs", "1",
                     "-o", "weights=none", "--split", "0.5,0.25,0.25", "--out", str(out)])  # fmt: skip
    assert code == 0
    model = keras.saving.load_model(out / "model.keras", safe_mode=True)
    assert model.input_shape == (None, 224, 224, 3)  # gray digits brought to the backbone's RGB input


def test_imagenet_class_names_fall_back_to_numbers_offline(tmp_path, monkeypatch):
    from cnnkit.models.applications import imagenet_top1
    from tests.test_hostile_review import use_keras_home

    use_keras_home(tmp_path, monkeypatch)
    probabilities = np.full((2, 1000), 0.0)
    probabilities[0, 281], probabilities[1, 7] = 0.61, 0.9
    assert imagenet_top1(probabilities) == ["ImageNet class 281 (0.61)", "ImageNet class 7 (0.90)"]
    with pytest.raises(ValueError, match=r"\(n, 1000\)"):
        imagenet_top1(probabilities[:, :10])


def test_pretrained_is_the_public_transfer_learning_entry():
    from cnnkit import models
    from cnnkit.models import applications

    assert models.pretrained is applications.pretrained and "pretrained" in models.__all__
    model = models.pretrained("mobilenet_v2", num_classes=3, input_shape=(96, 96, 3), weights=None)
    assert model.output_shape == (None, 3) and model.name == "mobilenet_v2_pretrained"


def test_any_trained_network_becomes_a_backbone_with_a_new_head(tmp_path):
    """Notebook 06's offline source task (issue 21): a network trained on other classes, cut after its
    global pooling, gets a new head; fine_tune freezes it, trains the head, then unfreezes its top."""
    keras.utils.set_random_seed(0)
    source = build("resnet_cifar", depth=8, input_shape=(32, 32, 3), num_classes=5)
    backbone = keras.Model(source.input, source.get_layer("avg_pool").output, name="digits_5_to_9")
    model = with_new_head(backbone, num_classes=2)
    assert find_backbone(model) is backbone and model.output_shape == (None, 2)
    assert model.count_params() == backbone.count_params() + 64 * 2 + 2  # only the new head is new
    images = np.random.default_rng(0).random((4, 32, 32, 3), dtype="float32")
    np.testing.assert_allclose(model.get_layer("digits_5_to_9")(images), backbone(images))  # the same features
    data = tf.data.Dataset.from_tensor_slices((images, np.array([0, 1, 0, 1]))).batch(2)
    history = fine_tune(model, data, data, head_epochs=1, fine_tune_epochs=1, unfreeze=4, verbose=0)
    assert list(history["phase"]) == ["head", "fine_tune"]
    with pytest.raises(ValueError, match="cut it after its global pooling"):
        with_new_head(keras.Model(source.input, source.get_layer("conv4_block1_out").output), num_classes=2)
