"""A folder of your own images and masks (cnnkit.data.mask_folders): paired by name, every pair
checked, the masks resized without inventing classes, and trained through the same front door."""

import json

import keras
import numpy as np
import pytest
from PIL import Image

from cnnkit.data import get_dataset, load_dataset
from cnnkit.data.folders import BadImageFilesError
from cnnkit.data.mask_folders import BadMaskFilesError, is_mask_folder, load_mask_folder


def write_pairs(folder, count=10, side=32, classes=("background", "disc", "bar")):
    """``count`` gray images with a bright disc (class 1) and a dark bar (class 2), masks as palette PNGs."""
    (folder / "images").mkdir(parents=True)
    (folder / "masks").mkdir()
    rng = np.random.default_rng(0)
    rows, cols = np.mgrid[:side, :side]
    for k in range(count):
        cy, cx = rng.integers(8, side - 8, 2)
        mask = np.zeros((side, side), np.uint8)
        mask[(rows - cy) ** 2 + (cols - cx) ** 2 < 25] = 1
        mask[2:5, :] = 2
        image = np.full((side, side), 120, np.uint8)
        image[mask == 1], image[mask == 2] = 230, 20
        Image.fromarray(image).save(folder / "images" / f"scan_{k}.png")
        palette = Image.fromarray(mask, mode="L").convert("P")
        palette.save(folder / "masks" / f"scan_{k}.png")
    if classes:
        (folder / "classes.txt").write_text("\n".join(classes) + "\n")
    return folder


def test_pairs_load_as_images_and_integer_masks(tmp_path):
    folder = write_pairs(tmp_path / "scans")
    assert is_mask_folder(folder) and get_dataset(str(folder)).task == "segmentation"
    data = load_dataset(str(folder), batch_size=4, resize_to=16)
    assert data.info.class_names == ("background", "disc", "bar") and data.info.input_shape == (16, 16, 1)
    assert sum(data.info.num_examples.values()) == 10 and min(data.info.num_examples.values()) >= 1
    images, masks = next(iter(data.train))
    assert images.shape[1:] == (16, 16, 1) and masks.shape[1:] == (16, 16) and masks.dtype == "int32"
    assert set(np.unique(masks.numpy())) <= {0, 1, 2}  # nearest-neighbour resizing: no class in between
    bright = images.numpy()[..., 0][masks.numpy() == 1]
    assert bright.size and bright.mean() > 0.8  # each mask lies on its own image
    without = write_pairs(tmp_path / "plain", count=6, classes=None)
    assert load_mask_folder(without, fractions=(0.5, 0.25, 0.25)).info.class_names == (
        "class_0",
        "class_1",
        "class_2",
    )


def test_every_bad_pair_is_named_in_one_error(tmp_path):
    folder = write_pairs(tmp_path / "scans")
    (folder / "images" / "scan_0.png").rename(
        folder / "images" / "lonely.png"
    )  # image without mask, mask without image
    with pytest.raises(BadMaskFilesError) as caught:
        load_dataset(str(folder))
    message = str(caught.value)
    assert (
        "lonely.png: an image without a mask" in message and "scan_0.png: a mask without an image" in message
    )

    folder = write_pairs(tmp_path / "bad")
    Image.fromarray(np.zeros((20, 32), np.uint8)).save(folder / "masks" / "scan_1.png")
    Image.fromarray(np.zeros((32, 32, 3), np.uint8)).save(folder / "masks" / "scan_2.png")
    Image.fromarray(np.full((32, 32), 7, np.uint8)).save(folder / "masks" / "scan_3.png")
    Image.fromarray(np.zeros((32, 32), np.uint8)).save(folder / "masks" / "scan_4.jpg")
    (folder / "masks" / "scan_4.png").unlink()
    (folder / "images" / "scan_5.png").write_bytes(b"\x89PNG\r\n\x1a\n broken")
    with pytest.raises(BadImageFilesError, match=r"scan_5.png: (damaged|not an image)"):
        load_dataset(str(folder))  # the images get the image folders' checks first
    (folder / "images" / "scan_5.png").unlink()
    (folder / "masks" / "scan_5.png").unlink()
    with pytest.raises(BadMaskFilesError) as caught:
        load_dataset(str(folder))
    message = str(caught.value)
    assert message.startswith("4 of 18 image and mask files cannot be used")
    assert "scan_1.png: 32x20 but its image is 32x32" in message
    assert "scan_2.png: a RGB PNG" in message
    assert "scan_3.png: holds the value 7, but classes.txt names 3 classes" in message
    assert "scan_4.jpg: a JPEG file" in message
    with pytest.raises(ValueError, match="weight_map needs each object's own label"):
        load_dataset(str(write_pairs(tmp_path / "again")), weight_map=True)


def test_train_unet_on_a_mask_folder_through_the_front_door(tmp_path, capsys):
    from cnnkit import cli

    folder = write_pairs(tmp_path / "scans", count=12)
    out = tmp_path / "run"
    keras.config.set_max_steps_per_epoch(2)
    try:
        assert (
            cli.main(
                [
                    "train",
                    "unet",
                    "--dataset",
                    str(folder),
                    "--epochs",
                    "1",
                    "-o",
                    "base_width=2",
                    "--out",
                    str(out),
                ]
            )
            == 0
        )
    finally:
        keras.config.set_max_steps_per_epoch(None)
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["task"] == "segmentation" and metrics["fitted_options"] == {"padding": "same"}
    assert (
        set(metrics["test_iou"]) == {"background", "disc", "bar"} and metrics["settings"]["batch_size"] == 16
    )
    assert 0 <= metrics["test_mean_iou"] <= 1 and (out / "masks.png").is_file()
    assert (
        cli.main(["predict", str(out), str(folder / "images"), "--masks", str(tmp_path / "predicted")]) == 0
    )
    with Image.open(tmp_path / "predicted" / "scan_0.png") as mask:
        assert mask.mode == "P" and mask.size == (32, 32)
