"""Your own segmentation data: a folder of images and a folder of masks, paired by file name.

The layout::

    my_scans/
        images/      a.png  b.jpg  ...     any image cnnkit's image folders take
        masks/       a.png  b.png  ...     one PNG per image, with the image's file name stem
        classes.txt                        optional: one class name per line, line i names pixel value i

A folder that holds both an ``images/`` and a ``masks/`` subfolder is read this way (a class-per-
subfolder folder with classes named "images" and "masks" would be read as masks: rename one). A mask
is a single-channel PNG, 8-bit gray (mode ``L``) or with a palette (mode ``P``, the palette index is
the class), whose pixel value is the class of the image's pixel; it must have its image's size. Class
0 is the background. Without ``classes.txt`` the classes are ``class_0`` ... up to the largest value
found in any mask.

Before anything is trained every image gets the checks of :mod:`cnnkit.data.folders` and every mask
is opened and decoded: an image without a mask, a mask without an image, a mask that is not a
single-channel PNG, of another size than its image, or holding a value that ``classes.txt`` does not
name are all reported in one :class:`BadMaskFilesError` that names each file. The split is random
and fixed by ``seed``; images are resized (bilinear) and masks resized (nearest neighbour, so no new
class values appear) to one size inside the pipeline.
"""

from __future__ import annotations

import os
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np

from cnnkit.data.registry import is_mask_folder  # noqa: F401  (re-exported: where a reader looks for it)
from cnnkit.errors import CorruptDatasetError
from cnnkit.files import printable

IMAGES, MASKS, CLASSES = "images", "masks", "classes.txt"
MASK_MODES = ("L", "P", "1")  # single-channel PNGs whose pixel values are class indices
SHOWN_PROBLEMS = 20


class BadMaskFilesError(CorruptDatasetError):
    """Some image/mask pairs of a mask folder cannot be used; ``problems`` lists ``(path, reason)``."""

    def __init__(self, message, problems):
        super().__init__(message)
        self.problems = problems


def _report(problems, total: int) -> None:
    if problems:
        shown = "\n".join(f"  {printable(path)}: {problem}" for path, problem in problems[:SHOWN_PROBLEMS])
        more = f"\n  ... and {len(problems) - SHOWN_PROBLEMS} more" if len(problems) > SHOWN_PROBLEMS else ""
        raise BadMaskFilesError(
            f"{len(problems)} of {total} image and mask files cannot be used; fix or remove "
            f"them:\n{shown}{more}",
            problems,
        )


def pair_files(folder) -> tuple[list[str], list[str]]:
    """The image and mask paths of ``folder``, paired by file name stem and sorted by it; an image
    without a mask or a mask without an image is reported (:class:`BadMaskFilesError`)."""
    from cnnkit.data.folders import FolderDatasetError, is_image_file

    folder = Path(folder)
    images = {path.stem: path for path in sorted((folder / IMAGES).iterdir()) if is_image_file(path)}
    masks = {
        path.stem: path
        for path in sorted((folder / MASKS).iterdir())
        if path.is_file() and not path.name.startswith(".")
    }
    if not images:
        raise FolderDatasetError(
            f"{printable(folder / IMAGES)} holds no images (.png, .jpg, .jpeg, .bmp, .gif)."
        )
    problems = [
        (str(path), "an image without a mask (masks/ has no file of this name)")
        for stem, path in images.items()
        if stem not in masks
    ]
    problems += [
        (str(path), "a mask without an image (images/ has no file of this name)")
        for stem, path in masks.items()
        if stem not in images
    ]
    _report(problems, len(images) + len(masks))
    stems = sorted(images)
    return [str(images[s]) for s in stems], [str(masks[s]) for s in stems]


def read_class_names(folder) -> tuple[str, ...] | None:
    """The names in ``classes.txt`` (one per line, blank lines ignored), or None without the file."""
    path = Path(folder) / CLASSES
    if not path.is_file():
        return None
    names = tuple(line.strip() for line in path.read_text(encoding="utf-8").splitlines() if line.strip())
    if len(names) < 2 or len(set(names)) != len(names):
        from cnnkit.data.folders import FolderDatasetError

        raise FolderDatasetError(
            f"{printable(path)} must name at least two classes, each once (got {list(names)})."
        )
    return names


def _inspect_mask(path: str, size, num_classes: int | None):
    """``(largest value, problem)`` of one mask; ``problem`` is None when it is usable."""
    from PIL import Image

    try:
        with Image.open(path) as mask:
            if mask.format != "PNG":
                return (
                    None,
                    f"a {mask.format} file; masks are PNG files (lossless: every pixel keeps its class)",
                )
            if mask.mode not in MASK_MODES:
                return None, (
                    f"a {mask.mode} PNG; a mask is single-channel, 8-bit gray or palette, its pixel values "
                    "the class indices"
                )
            if (mask.height, mask.width) != tuple(size):
                return None, f"{mask.width}x{mask.height} but its image is {size[1]}x{size[0]}"
            values = np.asarray(mask)
    except Image.UnidentifiedImageError:
        return None, "not an image file (unreadable by Pillow)"
    except (OSError, SyntaxError, ValueError) as error:
        return None, f"damaged or truncated ({error})"
    largest = int(values.max())
    if num_classes is not None and largest >= num_classes:
        named = f"{CLASSES} names {num_classes} classes (values 0..{num_classes - 1})"
        return None, f"holds the value {largest}, but {named}"
    return largest, None


def check_pairs(
    image_paths, mask_paths, class_names=None, max_pixels=None
) -> tuple[list, list, tuple[str, ...]]:
    """Check every image (:func:`cnnkit.data.folders.check_image_files`) and every mask against it;
    returns the images' ``(sizes, modes)`` and the class names (``classes.txt``'s, or ``class_0`` ...
    ``class_<largest value>``)."""
    from cnnkit.data.folders import MAX_PIXELS, check_image_files

    sizes, modes = check_image_files(image_paths, max_pixels or MAX_PIXELS)
    count = len(class_names) if class_names is not None else None
    with ThreadPoolExecutor(max_workers=min(8, (os.cpu_count() or 1) * 2)) as pool:
        results = list(
            pool.map(lambda pair: _inspect_mask(pair[0], pair[1], count), zip(mask_paths, sizes, strict=True))
        )
    _report(
        [(path, problem) for path, (_, problem) in zip(mask_paths, results, strict=True) if problem],
        len(image_paths) + len(mask_paths),
    )
    if class_names is None:
        class_names = tuple(f"class_{k}" for k in range(max(2, max(largest for largest, _ in results) + 1)))
    return sizes, modes, tuple(class_names)


def load_mask(path, image_size):
    """Read one mask PNG as int32 ``(height, width)`` class indices, resized to ``image_size`` by the
    nearest neighbour (a resize never invents a class value)."""
    import tensorflow as tf

    mask = tf.io.decode_png(tf.io.read_file(path), channels=1)
    mask = tf.image.resize(mask, image_size, method="nearest")
    mask = tf.cast(mask[..., 0], tf.int32)
    mask.set_shape(image_size)
    return mask


def load_mask_folder(
    folder,
    *,
    image_size=None,
    channels=None,
    fractions=(0.7, 0.15, 0.15),
    batch_size=32,
    seed: int = 0,
    verbose: bool = True,
):
    """Load a mask folder (see the module docstring) as train / validation / test pipelines of
    ``(images (batch, height, width, channels) float32 in [0, 1], masks (batch, height, width) int32)``.

    ``image_size``: ``(height, width)`` or an int; default the images' own size when they all share
    one, else 224x224 (as image folders). ``channels``: 1 or 3; default 1 when every image is gray.
    ``fractions``: the train / validation / test shares of a random split fixed by ``seed``.
    """
    import tensorflow as tf
    from sklearn.model_selection import train_test_split

    from cnnkit.data.base import Dataset, DatasetInfo
    from cnnkit.data.folders import FolderDatasetError, default_shape, load_image

    root = Path(folder)
    image_paths, mask_paths = pair_files(root)
    sizes, modes, class_names = check_pairs(image_paths, mask_paths, read_class_names(root))
    fractions = tuple(float(f) for f in fractions)
    if len(fractions) != 3 or min(fractions) <= 0 or abs(sum(fractions) - 1) > 1e-6:
        raise FolderDatasetError(
            f"fractions must be three positive numbers that add up to 1, got {fractions}."
        )
    if min(fractions) * len(image_paths) < 1:
        raise FolderDatasetError(
            f"{len(image_paths)} image/mask pairs are too few for a {fractions} split: "
            "every split needs at least one; add pairs."
        )
    height, width, depth = default_shape(sizes, modes)
    if image_size is not None:
        height, width = (image_size, image_size) if isinstance(image_size, int) else tuple(image_size)
    depth = int(channels or depth)
    indices = np.arange(len(image_paths))
    rest, test = train_test_split(indices, test_size=fractions[2], random_state=seed)
    train, validation = train_test_split(
        rest, test_size=fractions[1] / (fractions[0] + fractions[1]), random_state=seed
    )
    split = {"train": np.sort(train), "validation": np.sort(validation), "test": np.sort(test)}

    def pipeline(name, index):
        pairs = ([os.fsencode(image_paths[i]) for i in index], [os.fsencode(mask_paths[i]) for i in index])
        data = tf.data.Dataset.from_tensor_slices(pairs)
        if name == "train":
            data = data.shuffle(len(index), seed=seed, reshuffle_each_iteration=True)
        data = data.map(
            lambda image, mask: (load_image(image, (height, width), depth), load_mask(mask, (height, width))),
            num_parallel_calls=tf.data.AUTOTUNE,
        )
        return data.batch(batch_size).prefetch(tf.data.AUTOTUNE)

    counts = {name: len(index) for name, index in split.items()}
    if verbose:
        print(
            f"{printable(root)}: {len(image_paths)} image/mask pairs, {len(class_names)} classes "
            f"{list(class_names)}; split (seed {seed}): {counts}; images {height}x{width}x{depth}"
        )
    info = DatasetInfo(
        name=str(root),
        class_names=class_names,
        input_shape=(height, width, depth),
        num_examples=counts,
        files=tuple(image_paths),
    )
    return Dataset(info=info, **{name: pipeline(name, index) for name, index in split.items()})
