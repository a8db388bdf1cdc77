"""The digit scenes (mnist_scenes): real digits, labelled per pixel, split without shared digits,
touching often enough; their pipelines; and a segmentation run through the command line."""

import json

import numpy as np
import pytest

from cnnkit.data import load_dataset
from cnnkit.data.images import load_arrays
from cnnkit.data.scenes import INK, SCENES, compose_scene, make_scenes, mnist_scene_splits, touching_pairs


@pytest.fixture(scope="module")
def splits():
    return mnist_scene_splits()


def test_scenes_are_deterministic_and_labelled_by_the_ink_of_each_digit(splits):
    again = mnist_scene_splits()
    for split, count in SCENES.items():
        arrays = splits[split]
        assert arrays["images"].shape == (count, 64, 64, 1) and arrays["masks"].shape == (count, 64, 64)
        assert all(np.array_equal(arrays[key], again[split][key]) for key in arrays)
    digits = load_arrays("mnist_sample")
    train = splits["train"]
    for n in range(20):
        image, mask, objects = train["images"][n, ..., 0], train["masks"][n], train["objects"][n]
        placed = train["sources"][n][train["sources"][n] >= 0]
        assert len(placed) == len(np.unique(objects[objects > 0])) >= 1
        for object_id, source in enumerate(placed, start=1):
            inked = objects == object_id
            assert (mask[inked] == 1 + digits["y_train"][source]).all() and (image[inked] >= INK).all()
        assert (mask[objects == 0] == 0).all() and ((mask > 0) == (objects > 0)).all()


def test_no_digit_image_is_in_two_splits(splits):
    digits = load_arrays("mnist_sample")
    used = {}
    for split in SCENES:
        sources = splits[split]["sources"]
        used[split] = {digits[f"x_{split}"][i].tobytes() for i in np.unique(sources[sources >= 0])}
        assert len(used[split]) > 0.5 * len(digits[f"x_{split}"])  # most of the split's digits appear
    assert not used["train"] & used["test"] and not used["train"] & used["validation"]
    assert not used["validation"] & used["test"]


def test_one_to_three_digits_and_touching_pairs_are_common(splits):
    counts = (splits["train"]["sources"] >= 0).sum(axis=1)
    assert set(np.unique(counts)) == {1, 2, 3} and counts.mean() > 1.8
    touching = np.mean([touching_pairs(o) > 0 for o in splits["train"]["objects"][:600]])
    assert touching > 0.12  # a digit within 2 pixels of another in at least one scene in eight


def test_touching_pairs_counts_pairs_within_the_distance():
    objects = np.zeros((10, 20), np.uint8)
    objects[2:5, 2:5], objects[2:5, 6:9], objects[2:5, 15:18] = 1, 2, 3  # gaps of 1 and 6 pixels
    assert touching_pairs(objects, within=2) == 1 and touching_pairs(objects, within=7) == 2  # 1-2 and 2-3
    assert touching_pairs(objects, within=1) == 0 and touching_pairs(objects, within=11) == 3


def test_a_digit_that_finds_no_room_is_left_out():
    rng = np.random.default_rng(0)
    full = np.full((3, 28, 28), 255, np.uint8)  # solid squares: only one fits a 30x30 canvas
    image, classes, objects = compose_scene(full, np.array([1, 2, 3]), rng, side=30)
    assert np.unique(objects).tolist() == [0, 1] and (classes[objects == 1] == 2).all()
    scenes = make_scenes(full, np.array([1, 2, 3]), 4, seed=0, side=30)
    assert ((scenes["sources"] >= 0).sum(axis=1) == 1).all()
    with pytest.raises(ValueError, match="cannot fill scenes"):
        make_scenes(full[:2], np.array([1, 2]), 1, seed=0)


def test_the_scene_pipelines_yield_images_masks_and_optional_weight_maps():
    data = load_dataset("mnist_scenes", batch_size=16)
    assert data.info.class_names[:2] == ("background", "0") and data.info.num_classes == 11
    images, masks = next(iter(data.train))
    assert images.shape == (16, 64, 64, 1) and images.dtype == "float32" and float(images.numpy().max()) <= 1.0
    assert masks.shape == (16, 64, 64) and masks.dtype == "int32"
    weighted = next(iter(load_dataset("mnist_scenes", batch_size=4, weight_map=True).test))
    assert len(weighted) == 3 and weighted[2].shape == (4, 64, 64) and float(weighted[2].numpy().min()) > 0
    with pytest.raises(ValueError, match="pad_to are not available for the masks of mnist_scenes"):
        load_dataset("mnist_scenes", pad_to=72)


@pytest.fixture
def three_steps_per_epoch():
    """Keras' own debugging limit on the steps of every epoch: a short run, reset afterwards."""
    import keras

    keras.config.set_max_steps_per_epoch(3)
    yield
    keras.config.set_max_steps_per_epoch(None)


def test_train_unet_on_the_scenes_writes_a_segmentation_run_that_evaluates_and_predicts_masks(
    tmp_path, capsys, three_steps_per_epoch
):
    from PIL import Image

    from cnnkit import cli

    out = tmp_path / "run"
    assert cli.main(["train", "unet", "--dataset", "mnist_scenes", "--epochs", "1", "-o", "base_width=2",
                     "--out", str(out)]) == 0  # fmt: skip
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["task"] == "segmentation" and metrics["fitted_options"] == {"padding": "same", "base_width": 8}
    assert metrics["settings"]["option"] == [["base_width", 2]]  # the user's option wins over the fitted one
    assert metrics["settings"]["batch_size"] == 16  # the dataset's default batch (the image sets': 32)
    assert 0 <= metrics["test_mean_iou"] <= 1 and 0 <= metrics["test_pixel_accuracy"] <= 1
    assert set(metrics["test_iou"]) == {"background", *map(str, range(10))} and "best_val_mean_iou" in metrics
    report = (out / "report.csv").read_text().splitlines()
    assert report[0] == ",iou,dice,support" and len(report) == 12
    assert (out / "masks.png").stat().st_size > 1000 and (out / "learning_curves.png").is_file()
    assert json.loads((out / "settings.json").read_text())["fitted_options"] == {"padding": "same", "base_width": 8}

    # evaluate: the same scores on the test split, in a new folder
    assert cli.main(["evaluate", str(out), "--dataset", "mnist_scenes", "--out", str(tmp_path / "check")]) == 0
    evaluated = json.loads((tmp_path / "check" / "metrics.json").read_text())
    assert evaluated["task"] == "segmentation" and evaluated["examples"] == 600
    assert evaluated["mean_iou"] == pytest.approx(metrics["test_mean_iou"], abs=1e-6)
    assert (tmp_path / "check" / "masks.png").is_file() and "Mean IoU" in capsys.readouterr().out
    assert cli.main(["evaluate", str(out), "--dataset", "digits", "--out", str(tmp_path / "wrong")]) != 0
    assert "carries one class per example" in capsys.readouterr().err
    # predict: a palette PNG mask per image, at the image's own size
    scenes = mnist_scene_splits()["test"]
    images = tmp_path / "images"
    images.mkdir()
    Image.fromarray(scenes["images"][0, ..., 0]).save(images / "first.png")
    Image.fromarray(scenes["images"][1, ..., 0]).resize((96, 80)).save(images / "larger.png")
    assert cli.main(["predict", str(out), str(images), "--masks", str(tmp_path / "masks")]) == 0
    printed = capsys.readouterr().out.strip().splitlines()
    assert len(printed) == 2 and all(line.count("\t") == 2 for line in printed)
    with Image.open(tmp_path / "masks" / "larger.png") as mask:
        assert mask.mode == "P" and mask.size == (96, 80) and np.asarray(mask).max() <= 10
        assert mask.getpalette()[:6] == [0, 0, 0, 31, 119, 180]  # background black, "0" tab20's blue
