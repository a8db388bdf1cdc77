"""Oxford-IIIT Pet (cnnkit.data.pets) from archives in the authors' exact layout, written by the tests:
the trimaps become background / pet / border, the authors' split is kept, a photo that does not decode
is left out and named, a hostile archive is refused, and an offline machine gets one clear line."""

import io
import tarfile

import numpy as np
import pytest

from cnnkit.data import load_dataset
from cnnkit.data.pets import IMAGES, SIDE, pet_splits, trimap_classes
from cnnkit.errors import CorruptDatasetError, DatasetNotFoundError
from tests.dataset_files import write_oxford_pet_archives


def test_the_archives_read_as_photos_and_class_masks_in_the_authors_split(tmp_path, capsys):
    write_oxford_pet_archives(tmp_path, per_split=6)
    splits = pet_splits(folder=tmp_path, download=False)
    assert (
        "1 of the listed photos left out: Abyssinian_test_5 (UnidentifiedImageError)"
        in capsys.readouterr().out
    )
    assert (
        len(splits["train"]["images"]) + len(splits["validation"]["images"]) == 6
        and len(splits["test"]["images"]) == 5
    )
    images, masks = splits["train"]["images"], splits["train"]["masks"]
    assert (
        images.shape[1:] == (SIDE, SIDE, 3) and images.dtype == np.uint8 and masks.shape[1:] == (SIDE, SIDE)
    )
    assert set(np.unique(masks)) == {0, 1, 2}
    assert (
        masks[0, 0, 0] == 0 and masks[0, SIDE // 2, SIDE // 2] == 1
    )  # the corner is background, the centre the pet
    assert images[0, SIDE // 2, SIDE // 2, 0] > 150 > images[0, 0, 0, 0]  # each mask lies on its own photo
    assert (tmp_path / f"oxford_iiit_pet_{SIDE}.npz").is_file()  # cached: read again without the archives
    (tmp_path / "oxford_iiit_pet" / "images.tar.gz").unlink()
    again = pet_splits(folder=tmp_path, download=False)
    np.testing.assert_array_equal(again["test"]["masks"], splits["test"]["masks"])


def test_the_dataset_front_door_gives_pipelines_and_refuses_the_weight_map(tmp_path):
    write_oxford_pet_archives(tmp_path, per_split=6)
    data = load_dataset("oxford_iiit_pet", folder=tmp_path, download=False, batch_size=4)
    assert data.info.class_names == ("background", "pet", "border") and data.info.input_shape == (
        SIDE,
        SIDE,
        3,
    )
    images, masks = next(iter(data.test))
    assert (
        images.shape == (4, SIDE, SIDE, 3) and float(images.numpy().max()) <= 1.0 and masks.dtype == "int32"
    )
    with pytest.raises(ValueError, match="weight_map needs each object's own label"):
        load_dataset("oxford_iiit_pet", folder=tmp_path, download=False, weight_map=True)


def test_a_trimap_with_another_value_and_a_damaged_archive_are_refused(tmp_path):
    assert trimap_classes(np.array([[1, 2, 3]], np.uint8), "x").tolist() == [[1, 0, 2]]
    with pytest.raises(CorruptDatasetError, match="the trimap of cat_1 holds \\[7\\]"):
        trimap_classes(np.array([[1, 7]], np.uint8), "cat_1")
    folder = write_oxford_pet_archives(tmp_path, per_split=3)
    (folder / "annotations.tar.gz").write_bytes(b"\x1f\x8b truncated")
    with pytest.raises(CorruptDatasetError, match="annotations.tar.gz is not a readable .tar.gz archive"):
        pet_splits(folder=tmp_path, download=False)


def test_an_oversized_member_is_refused_before_it_is_read(tmp_path):
    folder = write_oxford_pet_archives(tmp_path, per_split=3)
    with tarfile.open(folder / "images.tar.gz", "w:gz") as tar:  # a member that claims 100 MB
        info = tarfile.TarInfo("images/huge.jpg")
        info.size = 100 << 20
        tar.addfile(info, io.BytesIO(bytes(100 << 20)))
    with pytest.raises(CorruptDatasetError, match="huge.jpg declares 104,857,600 bytes"):
        pet_splits(folder=tmp_path, download=False)


def test_offline_the_missing_archive_is_one_clear_line(tmp_path):
    with pytest.raises(DatasetNotFoundError) as caught:
        pet_splits(folder=tmp_path, download=False)
    message = str(caught.value)
    assert "images.tar.gz was not found" in message and IMAGES.url in message and "\n" not in message
