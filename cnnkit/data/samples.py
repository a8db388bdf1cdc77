"""Image folders to practise on: real MNIST digits written as PNG files (offline), and the
``flower_photos`` folder of the TensorFlow tutorials (downloaded once, checked file by file).
Both are ordinary class-per-subfolder folders that :func:`cnnkit.data.folders.load_folder` reads.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from cnnkit.data.folders import ImageFolder, check_image_files, scan_folder
from cnnkit.data.image_files import OfficialFile, locate
from cnnkit.data.images import mnist_sample_arrays
from cnnkit.errors import CorruptDatasetError
from cnnkit.files import data_dir


def write_digit_folder(folder, digits=(0, 1, 2, 3, 4), per_class: int = 40) -> Path:
    """Write real MNIST digits (from the bundled ``mnist_sample``) as PNG files, one subfolder per
    digit (``digit_0/000.png`` ...): a small image folder that needs no download, for quick
    runs and tests. Existing files are kept."""
    from PIL import Image

    images, labels = mnist_sample_arrays()
    root = Path(folder)
    for digit in digits:
        target = root / f"digit_{digit}"
        target.mkdir(parents=True, exist_ok=True)
        for index, row in enumerate(np.flatnonzero(labels == digit)[:per_class]):
            path = target / f"{index:03d}.png"
            if not path.exists():
                Image.fromarray(images[row, ..., 0]).save(path)
    return root


FLOWER_PHOTOS_URL = "https://storage.googleapis.com/download.tensorflow.org/example_images/flower_photos.tgz"
FLOWER_CLASSES = ("daisy", "dandelion", "roses", "sunflowers", "tulips")
FLOWER_IMAGES = 3670  # TensorFlow Datasets' tf_flowers: 3,670 photos in 5 classes


def flower_photos(download: bool = True) -> Path:
    """The ``flower_photos`` folder of the TensorFlow tutorials (5 classes, 3,670 JPEG photos,
    CC-BY licensed), in the data folder; downloaded once when allowed.

    The archive goes to a ``.part`` file, is unpacked with tarfile's ``"data"`` filter (no
    links or paths outside the folder) into a temporary folder, checked (the 5 classes and
    3,670 photos that TensorFlow Datasets publishes for it, every file decodable), and only
    then moved into place.
    """
    import shutil
    import tarfile
    import tempfile

    def verified(path: Path) -> ImageFolder:
        found = scan_folder(path)
        if found.class_names != FLOWER_CLASSES or len(found.paths) != FLOWER_IMAGES:
            raise CorruptDatasetError(
                f"{path} holds {len(found.paths)} images in {list(found.class_names)}, not flower_photos' "
                f"{FLOWER_IMAGES} in {list(FLOWER_CLASSES)}; delete it to download it again."
            )
        return found

    target = data_dir() / "flower_photos"
    if target.is_dir():
        return verified(target).root
    archive, _ = locate(OfficialFile("flower_photos.tgz", FLOWER_PHOTOS_URL, "sha256", ""), data_dir(), download)
    with tempfile.TemporaryDirectory(dir=data_dir()) as temporary:
        with tarfile.open(archive) as tar:
            tar.extractall(temporary, filter="data")
        unpacked = verified(Path(temporary) / "flower_photos")
        check_image_files(unpacked.paths)
        shutil.move(str(unpacked.root), target)
    return target
