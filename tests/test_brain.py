"""The MNI152 brain volume (cnnkit.data.brain) and 3D U-Net's semi-automated setting
(cnnkit.sparse_slices): the files are nilearn's own, the label rule and the annotation are what the
docstrings say, and only the unannotated voxels are scored."""

import importlib.util
from pathlib import Path

import keras
import numpy as np
import pytest

from cnnkit.data import brain
from cnnkit.models import build
from cnnkit.segmentation import mask_report
from cnnkit.sparse_slices import (
    annotated_planes,
    random_crops,
    same_network_at,
    score_unannotated,
    train_3d_from_slices,
)


def test_the_template_ships_inside_the_nilearn_wheel_and_loads_offline():
    data = Path(importlib.util.find_spec("nilearn").origin).parent / "datasets" / "data"
    for tissue in ("t1", "gm", "wm"):
        assert (data / f"mni_icbm152_{tissue}_tal_nlin_sym_09a_converted.nii.gz").stat().st_size > 1_000_000
    volumes = brain.mni152_volumes(2)
    assert {name: v.shape for name, v in volumes.items()} == {
        name: (99, 117, 95) for name in ("t1", "grey", "white")
    }
    assert volumes["t1"].max() == 1.0 and 0 <= volumes["grey"].min() and volumes["white"].max() <= 1
    with pytest.raises(ValueError, match="1 or 2"):
        brain.mni152_volumes(3)


def test_a_voxel_takes_the_tissue_of_highest_probability():
    grey = np.array([0.6, 0.2, 0.1, 0.45, 0.0])
    white = np.array([0.3, 0.3, 0.7, 0.45, 0.0])
    # background is what is left: 0.1, 0.5, 0.2, 0.1, 1.0; the tie grey = white goes to grey (argmax's first)
    assert brain.tissue_labels(grey, white).tolist() == [1, 0, 2, 1, 0]


def test_block_mean_averages_each_block_and_drops_the_partial_one():
    volume = np.arange(5 * 4 * 4, dtype="float32").reshape(5, 4, 4)
    coarse = brain.block_mean(volume, 2)
    assert coarse.shape == (2, 2, 2)
    assert coarse[1, 0, 1] == volume[2:4, 0:2, 2:4].mean()


def test_the_volume_is_cropped_to_the_brain_and_padded_to_the_pooling_multiple():
    volume = brain.brain_volume(4)
    image, labels = volume["image"], volume["labels"]
    assert image.shape == (*labels.shape, 1) and image.dtype == np.float32 and labels.dtype == np.uint8
    assert all(side % 4 == 0 for side in labels.shape) and set(np.unique(labels)) == {0, 1, 2}
    full = brain.tissue_labels(*(brain.block_mean(brain.mni152_volumes(2)[t], 2) for t in ("grey", "white")))
    assert (labels > 0).sum() == (full > 0).sum()  # the crop lost no brain voxel
    with pytest.raises(ValueError, match="even number"):
        brain.brain_volume(3)


def test_two_slices_per_axis_inside_the_brain_and_weight_one_only_there():
    labels = brain.brain_volume(4)["labels"]
    slices = brain.annotated_slices(labels)
    assert [axis for axis, _ in slices] == [0, 0, 1, 1, 2, 2]
    for axis, index in slices:
        assert (np.take(labels, index, axis=axis) > 0).any()
    weights = brain.slice_weights(labels.shape, slices)
    union = np.zeros(labels.shape, bool)
    for axis, index in slices:
        union[(slice(None),) * axis + (index,)] = True
    assert set(np.unique(weights)) == {0.0, 1.0} and (weights == 1).sum() == union.sum()
    with pytest.raises(ValueError, match="outside a volume"):
        brain.slice_weights(labels.shape, [(1, labels.shape[1])])


def test_random_crops_have_the_crop_size_and_come_from_the_arrays():
    image = np.arange(10 * 12 * 8, dtype="float32").reshape(10, 12, 8, 1)
    labels = (image[..., 0] % 3).astype("int32")
    weights = np.ones(labels.shape, "float32")
    data = random_crops([image], [labels], [weights], crop=4, batch_size=3, steps=5, seed=1)
    batches = list(data.as_numpy_iterator())
    assert len(batches) == 5 == int(data.cardinality())
    images, masks, kept = batches[0]
    assert images.shape == (3, 4, 4, 4, 1) and masks.shape == (3, 4, 4, 4) and kept.shape == (3, 4, 4, 4)
    np.testing.assert_array_equal(
        masks, images[..., 0] % 3
    )  # image and labels cropped (and flipped) together
    values = set(image.ravel().tolist())
    assert set(images.ravel().tolist()) <= values
    again = list(
        random_crops([image], [labels], [weights], crop=4, batch_size=3, steps=5, seed=1).as_numpy_iterator()
    )
    np.testing.assert_array_equal(again[0][0], images)  # the seed fixes the crops
    with pytest.raises(ValueError, match="does not fit"):
        random_crops([image], [labels], [weights], crop=9, batch_size=1, steps=1, seed=0)


def test_the_same_weights_run_at_another_size():
    model = build("unet3d", input_shape=(8, 8, 8, 1), num_classes=3, padding="same", base_width=2, depth=2)
    bigger = same_network_at(model, (16, 12, 8, 1))
    assert bigger.output_shape == (None, 16, 12, 8, 3)
    for a, b in zip(model.get_weights(), bigger.get_weights(), strict=True):
        np.testing.assert_array_equal(a, b)
    cube = np.random.default_rng(0).random((1, 8, 8, 8, 1)).astype("float32")
    same = same_network_at(model, (8, 8, 8, 1))
    np.testing.assert_allclose(
        keras.ops.convert_to_numpy(same(cube)), keras.ops.convert_to_numpy(model(cube)), atol=1e-6
    )


def test_only_the_unannotated_voxels_are_scored():
    labels = np.random.default_rng(0).integers(0, 3, size=(6, 6, 6))
    weights = brain.slice_weights(labels.shape, [(0, 2), (2, 4)])
    wrong_where_annotated = np.where(weights == 1, (labels + 1) % 3, labels)
    table, summary = score_unannotated(labels, wrong_where_annotated, weights)
    assert summary["mean_iou"] == 1.0 and (table["iou"] == 1.0).all()
    _, everywhere = mask_report(labels, wrong_where_annotated, brain.TISSUES, scored=brain.SCORED)
    assert everywhere["mean_iou"] < 1.0


def test_a_short_3d_run_segments_the_whole_volume(tmp_path):
    volume = brain.brain_volume(6)
    slices = brain.annotated_slices(volume["labels"])
    model = build("unet3d", input_shape=(16, 16, 16, 1), num_classes=3, padding="same", base_width=2, depth=2)
    run = train_3d_from_slices(model, volume, slices, steps=6, crop=16, batch_size=1)
    assert run.prediction.shape == volume["labels"].shape and run.prediction.dtype == np.uint8
    weights = brain.slice_weights(volume["labels"].shape, slices)
    _, expected = mask_report(
        volume["labels"], run.prediction, brain.TISSUES, weights=weights == 0, scored=(1, 2)
    )
    assert run.summary == expected and run.parameters == model.count_params() and run.seconds > 0
    images, labels = annotated_planes(volume, slices)
    assert [image.shape[:2] for image in images] == [label.shape for label in labels]
    assert images[0].shape == (*volume["labels"].shape[1:], 1)
