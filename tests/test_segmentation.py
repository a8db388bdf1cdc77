"""Mask scores against scikit-learn, the Keras metrics against the NumPy ones, the losses against
their formulas, U-Net's weight map against a hand-computed case, and overlap-tile prediction
against the whole image."""

import keras
import numpy as np
import pytest
from sklearn.metrics import jaccard_score

from cnnkit.data.masks import border_weights, class_balance_weights, gap_pixels, unet_weight_map
from cnnkit.models import build
from cnnkit.segmentation import MeanDice, PixelCrossEntropy, SoftDiceLoss, class_scores, mask_confusion, mask_metrics, mask_report
from cnnkit.tiling import pooling_alignment, tiled_predict


def random_masks(seed=0, shape=(3, 16, 16), classes=4):
    rng = np.random.default_rng(seed)
    truth = rng.integers(0, classes, shape)
    predicted = np.where(rng.uniform(size=shape) < 0.6, truth, rng.integers(0, classes, shape))
    return truth, predicted


@pytest.mark.parametrize("seed", range(3))
def test_iou_and_dice_equal_scikit_learn_on_random_masks(seed):
    truth, predicted = random_masks(seed)
    table, summary = mask_report(truth, predicted, ["a", "b", "c", "d"])
    expected = jaccard_score(truth.ravel(), predicted.ravel(), average=None, labels=range(4))
    np.testing.assert_allclose(table["iou"], expected)
    np.testing.assert_allclose(table["dice"], 2 * expected / (1 + expected))
    assert summary["mean_iou"] == pytest.approx(expected.mean())
    assert summary["pixel_accuracy"] == pytest.approx((truth == predicted).mean())
    assert table["support"].tolist() == [float((truth == c).sum()) for c in range(4)]


def test_an_absent_class_has_no_score_and_a_zero_weight_pixel_is_not_counted():
    truth = np.array([[0, 0, 1, 1]])
    predicted = np.array([[0, 1, 1, 1]])
    table = class_scores(mask_confusion(truth, predicted, 3))
    assert np.isnan(table.loc[2, "iou"]) and table.loc[0, "iou"] == 0.5 and table.loc[1, "iou"] == pytest.approx(2 / 3)
    weights = np.array([[1, 0, 1, 1]])  # the one wrong pixel unannotated
    table, summary = mask_report(truth, predicted, ["bg", "one", "two"], weights=weights)
    assert table["iou"].iloc[:2].tolist() == [1.0, 1.0] and summary["pixel_accuracy"] == 1.0
    _, background_out = mask_report(truth, predicted, ["bg", "one", "two"], scored=[1])
    assert background_out["mean_iou"] == pytest.approx(2 / 3)
    with pytest.raises(ValueError, match="outside 0..2"):
        mask_confusion(truth, predicted + 2, 3)
    with pytest.raises(ValueError, match="shape"):
        mask_confusion(truth, predicted[:, :3], 3)


def test_the_keras_metrics_equal_the_numpy_scores_with_pixel_weights():
    truth, predicted = random_masks(5, classes=3)
    weights = (np.random.default_rng(6).uniform(size=truth.shape) < 0.7).astype("float32")
    probabilities = keras.ops.convert_to_numpy(keras.ops.one_hot(predicted, 3)) * 0.9 + 0.1 / 3
    _, summary = mask_report(truth, predicted, ["a", "b", "c"], weights=weights, scored=[1, 2])
    values = {}
    for metric in mask_metrics(3, scored=[1, 2]):
        metric.update_state(truth, probabilities, sample_weight=weights)
        values[metric.name] = float(metric.result())
    assert values["pixel_accuracy"] == pytest.approx(summary["pixel_accuracy"], rel=1e-5)
    assert values["mean_iou"] == pytest.approx(summary["mean_iou"], rel=1e-5)
    assert values["mean_dice"] == pytest.approx(summary["mean_dice"], rel=1e-5)
    restored = MeanDice.from_config(MeanDice(3, target_class_ids=[1, 2], sparse_y_pred=False).get_config())
    assert restored.target_class_ids == [1, 2]


def test_soft_dice_and_the_pixel_weighted_cross_entropy_follow_their_formulas():
    truth = np.array([[[0, 1], [1, 1]]])  # one 2x2 mask
    probabilities = np.array([[[[0.8, 0.2], [0.3, 0.7]], [[0.4, 0.6], [0.1, 0.9]]]], "float32")
    loss = SoftDiceLoss(smooth=0.0)
    # class 0: overlap 0.8, sizes 1 + 1.6; class 1: overlap 0.7 + 0.6 + 0.9, sizes 3 + 2.4
    expected = 1 - np.mean([2 * 0.8 / 2.6, 2 * 2.2 / 5.4])
    assert float(loss(truth, probabilities)) == pytest.approx(expected, rel=1e-5)
    assert SoftDiceLoss.from_config(loss.get_config()).smooth == 0.0
    assert float(SoftDiceLoss()(truth, keras.ops.one_hot(truth, 2))) == pytest.approx(0.0, abs=1e-6)
    weights = np.array([[[2.0, 0.0], [1.0, 1.0]]], "float32")
    picked = np.array([0.8, 0.2 * 0 + 0.7, 0.6, 0.9])
    for cross_entropy in (keras.losses.SparseCategoricalCrossentropy(), PixelCrossEntropy()):
        value = cross_entropy(truth, probabilities, sample_weight=weights)
        assert float(value) == pytest.approx(np.sum(-np.log(picked) * weights.ravel()) / 4, rel=1e-5)
    per_pixel = PixelCrossEntropy(reduction=None)(truth, probabilities)
    np.testing.assert_allclose(keras.ops.convert_to_numpy(per_pixel), -np.log(picked).reshape(1, 2, 2), rtol=1e-5)


def test_a_segmentation_network_trains_with_the_task_loss_on_every_backend():
    """One weighted training step of a small U-Net with the segmentation task's loss and metrics. On
    PyTorch with Keras 3.15, Keras' own sparse cross-entropy fails there in the backward pass on
    (batch, height, width, classes) outputs ("grad_input must be contiguous"): tests/test_backends.py
    runs this file on JAX and PyTorch too."""
    from cnnkit.tasks import TASKS

    rng = np.random.default_rng(0)
    images = rng.random((2, 16, 16, 1)).astype("float32")
    masks = rng.integers(0, 3, (2, 16, 16)).astype("int32")
    model = build("unet", input_shape=(16, 16, 1), num_classes=3, padding="same", base_width=4, depth=2)
    loss, metrics = TASKS["segmentation"].loss_and_metrics(model, 3, [1, 2])
    model.compile(keras.optimizers.Adam(1e-3), loss, metrics=metrics)
    before = [keras.ops.convert_to_numpy(w).copy() for w in model.trainable_weights]
    logs = model.train_on_batch(images, masks, sample_weight=np.ones((2, 16, 16), "float32"), return_dict=True)
    assert np.isfinite(logs["loss"]) and logs["loss"] > 0
    after = [keras.ops.convert_to_numpy(w) for w in model.trainable_weights]
    assert any(not np.array_equal(b, a) for b, a in zip(before, after, strict=True))  # the step changed the weights


def test_the_weight_map_of_a_hand_computed_case():
    """Two one-pixel objects 6 pixels apart on a row: the pixel between them is 3 from each, so
    w0 exp(-(3 + 3)^2 / (2 * 5^2)) = 10 exp(-0.72) = 4.8675; on the objects the term is 0."""
    objects = np.zeros((1, 7), int)
    objects[0, 0], objects[0, 6] = 1, 2
    border = border_weights(objects, w0=10, sigma=5)
    assert border[0, 3] == pytest.approx(10 * np.exp(-0.72)) and border[0, 3] == pytest.approx(4.8675, abs=1e-4)
    assert border[0, 1] == pytest.approx(10 * np.exp(-((1 + 5) ** 2) / 50)) and border[0, 0] == border[0, 6] == 0
    assert (border_weights(np.minimum(objects, 1)) == 0).all()  # one object: no gap to keep open
    classes = (objects > 0).astype(int)  # 2 object pixels, 5 background: balanced 7/(2*2), 7/(2*5)
    np.testing.assert_allclose(class_balance_weights(classes, 2)[0, [0, 3]], [7 / 4, 7 / 10])
    total = unet_weight_map(classes, objects, 2)
    assert total.dtype == np.float32 and total[0, 3] == pytest.approx(7 / 10 + 10 * np.exp(-0.72), rel=1e-6)


def test_the_weight_map_is_highest_in_the_gap_between_touching_objects():
    objects = np.zeros((20, 30), int)
    objects[5:15, 3:13], objects[5:15, 15:25] = 1, 2  # a 2-pixel gap at columns 13-14
    border = border_weights(objects)
    assert border[10, 13] > 8 and border[10, 13] > 5 * border[10, 28] and border[1, 1] < border[10, 13]


def test_the_gap_pixels_are_the_background_between_two_objects():
    objects = np.zeros((20, 30), int)
    objects[5:15, 3:13], objects[5:15, 15:25] = 1, 2  # a 2-pixel gap at columns 13-14
    gaps = gap_pixels(objects, within=2.0)
    assert gaps[5:15, 13:15].all() and gaps.sum() == 20  # rows 5-14 of the two gap columns, nothing else
    assert not gap_pixels(np.where(objects == 2, 0, objects)).any()  # one object: no gap to keep


def small_valid_unet(input_side):
    model = build("unet", input_shape=(input_side, input_side, 2), num_classes=3, base_width=2, depth=2, dropout=0)
    rng = np.random.default_rng(0)
    model.set_weights([rng.normal(0, 0.5, w.shape).astype("float32") for w in model.get_weights()])
    return model


def test_overlap_tile_prediction_equals_the_whole_mirrored_image():
    tile = small_valid_unet(60)  # 60 -> 20: a border of 20, tiles 20 apart (a multiple of 4)
    assert pooling_alignment(tile) == 4 and tile.output_shape[1:3] == (20, 20)
    image = np.random.default_rng(1).uniform(0, 1, (40, 60, 2)).astype("float32")
    tiled = tiled_predict(tile, image, batch_size=4)
    # the same weights in a model for the whole image with its 20-pixel mirrored border
    wide = build("unet", input_shape=(80, 100, 2), num_classes=3, base_width=2, depth=2, dropout=0)
    wide.set_weights(tile.get_weights())
    padded = np.pad(image, ((20, 20), (20, 20), (0, 0)), mode="symmetric")
    expected = keras.ops.convert_to_numpy(wide(padded[None], training=False))[0]
    assert tiled.shape == (40, 60, 3)
    np.testing.assert_allclose(tiled, expected, rtol=1e-4, atol=1e-5)


def test_tiling_an_image_that_is_not_a_multiple_of_the_tile_and_bad_input():
    tile = small_valid_unet(60)
    image = np.random.default_rng(2).uniform(0, 1, (27, 33, 2)).astype("float32")
    result = tiled_predict(tile, image)
    assert result.shape == (27, 33, 3)
    np.testing.assert_allclose(result.sum(axis=-1), 1.0, rtol=1e-5)
    with pytest.raises(ValueError, match=r"\(height, width, 2\)"):
        tiled_predict(tile, image[..., :1])
