"""Your own images: a folder with one subfolder per class, as ``tf.data`` pipelines.

The layout is Keras' ``image_dataset_from_directory`` convention::

    my_images/
        cats/   a.jpg  b.png ...
        dogs/   c.jpg ...

Classes are the subfolder names in alphabetical order; images are the ``.png``, ``.jpg``,
``.jpeg``, ``.bmp`` and ``.gif`` files inside them (subfolders included). Hidden files and
folders (``.DS_Store``, ``.ipynb_checkpoints/``), ``__MACOSX/`` and a ``runs/`` folder holding
cnnkit runs are skipped. Before anything is trained, :func:`check_image_files` opens every file
with Pillow and decodes it with TensorFlow's decoder, the one the pipeline uses: unreadable,
truncated or non-image files, formats or variants TensorFlow cannot decode (or decodes wrong:
palette BMPs), images above a pixel limit (decompression bombs: a 100 KB PNG can declare
20000x20000 pixels; an animation's frames count together), unreadable subfolders and dangling
links are all reported in one :class:`BadImageFilesError` that names them. The split into training,
validation and test sets is stratified and fixed by ``seed``. Images are read, decoded,
resized and scaled to [0, 1] batch by batch inside the pipeline: only file names are held in
memory.
"""

from __future__ import annotations

import os
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from sklearn.model_selection import train_test_split

from cnnkit import runs
from cnnkit.data.base import Dataset, DatasetInfo
from cnnkit.errors import CnnkitError, CorruptDatasetError
from cnnkit.files import printable

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp", ".gif")
DECODABLE_FORMATS = {"PNG", "JPEG", "MPO", "BMP", "GIF"}  # what tf.io.decode_image reads
MAX_PIXELS = 50_000_000  # per image; a 12-megapixel photo has 12,000,000
SHOWN_PROBLEMS = 20


class FolderDatasetError(CnnkitError, ValueError):
    """The folder is not a usable class-per-subfolder dataset (the message says why)."""


class BadImageFilesError(CorruptDatasetError):
    """Some files of an image folder cannot be used; ``problems`` lists ``(path, reason)``."""

    def __init__(self, message, problems):
        super().__init__(message)
        self.problems = problems


@dataclass(frozen=True)
class ImageFolder:
    """What :func:`scan_folder` found: one path and class index per image, and the classes.

    Attributes:
        root: the folder.
        paths: file paths (str), sorted by class then name.
        labels: int64 ``(n,)`` class indices.
        class_names: the subfolder names, sorted.
        problems: ``(path, reason)`` of what could not be listed (unreadable subfolders,
            dangling links); :func:`check_image_files` reports them with the bad files.
    """

    root: Path
    paths: tuple[str, ...]
    labels: np.ndarray
    class_names: tuple[str, ...]
    problems: tuple[tuple[str, str], ...] = ()


# Folders that are never classes nor searched for images: hidden ones (``.ipynb_checkpoints``,
# ``.git``) and the resource forks macOS adds to zip files.
SKIPPED_FOLDERS = ("__MACOSX",)


def is_image_file(path: Path) -> bool:
    return path.suffix.lower() in IMAGE_SUFFIXES and not path.name.startswith(".")


def is_skipped_folder(name: str) -> bool:
    """True for folder names that are never classes nor searched: hidden ones and ``__MACOSX``."""
    return name.startswith(".") or name in SKIPPED_FOLDERS


def _holds_runs(folder: Path) -> bool:
    """True when ``folder`` is a cnnkit run folder or holds one (``runs/`` beside the images)."""
    candidates = [folder, *(child for child in folder.iterdir() if child.is_dir())]
    return any((candidate / marker).exists() for candidate in candidates for marker in runs.RUN_FOLDER_MARKERS)


def find_images(folder) -> tuple[list[str], list[tuple[str, str]]]:
    """Every image file under ``folder`` (recursively, sorted) and the problems met on the way.

    Returns ``(paths, problems)``; ``problems`` lists ``(path, reason)`` for subfolders that
    cannot be read and for links named like images that lead nowhere (dangling, or a loop):
    nothing is skipped without a word. Hidden folders and ``__MACOSX`` are skipped (see
    :func:`is_skipped_folder`), as are hidden files (``.DS_Store``, ``._photo.jpg``).
    """
    paths, problems = [], []

    def unreadable(error: OSError) -> None:
        problems.append((error.filename, f"a folder that cannot be read ({error.strerror or error}); "
                                         "fix its permissions or remove it"))  # fmt: skip

    for parent, subfolders, files in os.walk(folder, onerror=unreadable):
        subfolders[:] = sorted(name for name in subfolders if not is_skipped_folder(name))
        for name in files:
            path = Path(parent, name)
            if not is_image_file(path):
                continue
            if path.is_file():
                paths.append(str(path))
            elif path.is_symlink():
                problems.append((str(path), "a link that leads to no file (dangling, or a loop); "
                                            "remove it or point it at an image"))  # fmt: skip
    return sorted(paths), problems


def scan_folder(folder, exclude=()) -> ImageFolder:
    """List the images of a class-per-subfolder dataset (no file is opened here).

    Hidden subfolders, ``__MACOSX`` and folders that hold cnnkit runs (a ``runs/`` folder made
    when training from inside the image folder) are not classes; ``exclude`` names more
    folders to leave out (the command line passes the run folder it writes to).
    """
    root = Path(folder)
    if not root.is_dir():
        raise FolderDatasetError(f"{root} is not a folder. Give a folder with one subfolder of images per class.")
    excluded = [Path(path).resolve() for path in exclude]

    def is_class(path: Path) -> bool:
        if not path.is_dir() or is_skipped_folder(path.name):
            return False
        resolved = path.resolve()
        if any(resolved == other or resolved in other.parents for other in excluded):
            return False
        return not _holds_runs(path)

    classes = sorted(p.name for p in root.iterdir() if is_class(p))
    if len(classes) < 2:
        raise FolderDatasetError(
            f"{printable(root)} has {len(classes)} class subfolder(s); a classifier needs at least two, e.g. "
            f"{printable(root)}/cats/*.jpg and {printable(root)}/dogs/*.jpg."
        )
    paths, labels, problems = [], [], []
    for index, name in enumerate(classes):
        files, found_problems = find_images(root / name)
        problems += found_problems
        if not files and not found_problems:
            raise FolderDatasetError(
                f"The class folder {printable(root / name)} holds no images ({', '.join(IMAGE_SUFFIXES)} "
                "files); add some or remove the folder."
            )
        paths += files
        labels += [index] * len(files)
    return ImageFolder(root, tuple(paths), np.asarray(labels, dtype="int64"), tuple(classes), tuple(problems))


def _tensorflow_refuses(path: str) -> str | None:
    """Decode ``path`` exactly as the training pipeline does (:func:`load_image`); the error
    TensorFlow gives, or ``None`` when it decodes. Pillow accepts files that TensorFlow does
    not (1-bit BMPs, PNGs with a bad checksum or cut before their end), so the check asks the
    decoder that will actually read the file."""
    import tensorflow as tf

    with open(path, "rb") as stream:
        data = stream.read()
    try:
        tf.io.decode_image(data, channels=3, expand_animations=False)
    except (tf.errors.InvalidArgumentError, tf.errors.UnimplementedError) as error:
        return error.message.strip().splitlines()[-1][:160]
    return None


def _inspect_file(path: str, max_pixels: int):
    """``(size, mode, problem)`` of one file: ``problem`` is None when the file is usable."""
    from PIL import Image

    try:
        with Image.open(path) as image:  # reads the header only
            width, height = image.size
            frames = getattr(image, "n_frames", 1)  # counted from the frame headers: nothing decoded
            if width * height * frames > max_pixels:
                many = f"{frames} frames of " if frames > 1 else ""
                return None, None, (
                    f"{many}{width}x{height} = {width * height * frames:,} pixels, above the limit of "
                    f"{max_pixels:,} (a decompression bomb, or an image to shrink first)"
                )
            if image.format not in DECODABLE_FORMATS:
                return None, None, f"a {image.format} image; TensorFlow reads PNG, JPEG, BMP and GIF"
            if image.format == "BMP" and image.mode == "P":
                return None, None, (
                    "a BMP with a colour palette, which TensorFlow's decoder reads as gray palette "
                    "indices (wrong colours); save it as PNG or as a 24-bit BMP"
                )
            mode = image.mode
            image.load()  # decodes every pixel: finds truncated and damaged files
    except Image.DecompressionBombError as error:  # Pillow's own limit, checked at open
        return None, None, f"above the pixel limit, a decompression bomb ({error})"
    except Image.UnidentifiedImageError:
        return None, None, "not an image file (unreadable by Pillow)"
    except (OSError, SyntaxError, ValueError) as error:
        return None, None, f"damaged or truncated ({error})"
    refused = _tensorflow_refuses(path)
    if refused is not None:
        return None, None, f"damaged: the decoder that training uses refuses it ({refused})"
    return (height, width), mode, None


def check_image_files(paths, max_pixels: int = MAX_PIXELS, workers: int | None = None, listing_problems=()):
    """Open and decode every file; raise :class:`BadImageFilesError` naming each bad one.

    Each file is decoded twice: by Pillow (headers, pixel and frame counts, truncation) and by
    TensorFlow's decoder exactly as the training pipeline calls it, so what passes is what the
    pipeline reads. Returns ``(sizes, modes)``: the ``(height, width)`` and Pillow mode of each
    image. ``max_pixels`` refuses images larger than that many pixels (all frames of an
    animation together) before they are decoded. ``listing_problems``: ``(path, reason)`` met
    while listing the files (:func:`find_images`), reported in the same error.
    """
    workers = workers or min(8, (os.cpu_count() or 1) * 2)
    with ThreadPoolExecutor(max_workers=workers) as pool:
        results = list(pool.map(lambda p: _inspect_file(p, max_pixels), paths))
    problems = list(listing_problems)
    problems += [(path, problem) for path, (_, _, problem) in zip(paths, results, strict=True) if problem]
    if problems:
        shown = "\n".join(f"  {printable(path)}: {problem}" for path, problem in problems[:SHOWN_PROBLEMS])
        more = f"\n  ... and {len(problems) - SHOWN_PROBLEMS} more" if len(problems) > SHOWN_PROBLEMS else ""
        what = "image files and folders" if listing_problems else "image files"
        raise BadImageFilesError(
            f"{len(problems)} of {len(paths) + len(listing_problems)} {what} cannot be used; fix or remove them:\n"
            f"{shown}{more}",
            problems,
        )
    return [r[0] for r in results], [r[1] for r in results]


def split_folder(images: ImageFolder, fractions=(0.7, 0.15, 0.15), seed: int = 0) -> dict[str, np.ndarray]:
    """Stratified indices ``{"train", "validation", "test"}`` with the given fractions."""
    fractions = tuple(float(f) for f in fractions)
    if len(fractions) != 3 or min(fractions) <= 0 or abs(sum(fractions) - 1) > 1e-6:
        raise FolderDatasetError(f"fractions must be three positive numbers that add up to 1, got {fractions}.")
    counts = Counter(images.labels.tolist())
    rare = [images.class_names[c] for c, n in counts.items() if n < 3]
    if rare or min(fractions) * len(images.labels) < len(counts):
        raise FolderDatasetError(
            f"Too few images for a stratified {fractions} split of {len(images.labels)} images in "
            f"{len(counts)} classes (classes with fewer than 3 images: {rare or 'none'}); add images."
        )
    indices = np.arange(len(images.labels))
    rest, test = train_test_split(indices, test_size=fractions[2], stratify=images.labels, random_state=seed)
    train, validation = train_test_split(rest, test_size=fractions[1] / (fractions[0] + fractions[1]),
                                         stratify=images.labels[rest], random_state=seed)  # fmt: skip
    return {"train": np.sort(train), "validation": np.sort(validation), "test": np.sort(test)}


def load_image(path, image_size, channels: int):
    """Read, decode, resize (bilinear, antialiased) and scale one image file to float32 [0, 1].

    ``path``: a string tensor or str; returns ``(height, width, channels)``.
    """
    import tensorflow as tf

    image = tf.io.decode_image(tf.io.read_file(path), channels=3, expand_animations=False)
    image = tf.image.resize(image, image_size, method="bilinear", antialias=True) / 255.0
    if channels == 1:
        image = tf.image.rgb_to_grayscale(image)
    image = tf.clip_by_value(image, 0.0, 1.0)
    image.set_shape((*image_size, channels))
    return image


def file_pipeline(paths, labels, image_size, channels, batch_size=32, shuffle=False, seed=0):
    """A batched, prefetched ``tf.data`` pipeline of ``(images, labels)`` read from files."""
    import tensorflow as tf

    # Paths travel as bytes: a file name that is not UTF-8 is read like any other.
    encoded = [os.fsencode(path) for path in paths]
    dataset = tf.data.Dataset.from_tensor_slices((encoded, np.asarray(labels, dtype="int32")))
    if shuffle:
        dataset = dataset.shuffle(len(paths), seed=seed, reshuffle_each_iteration=True)
    dataset = dataset.map(lambda p, y: (load_image(p, image_size, channels), y), num_parallel_calls=tf.data.AUTOTUNE)
    return dataset.batch(batch_size).prefetch(tf.data.AUTOTUNE)


def default_shape(sizes, modes) -> tuple[int, int, int]:
    """The images' own size when they all share one (else 224x224), and 1 channel when all are
    grayscale (Pillow modes "1", "L", "I", "I;16", "F"), else 3."""
    height, width = Counter(sizes).most_common(1)[0][0] if len(set(sizes)) == 1 else (224, 224)
    gray = all(mode in {"1", "L", "I", "I;16", "F", "LA"} for mode in modes)
    return int(height), int(width), 1 if gray else 3


def load_folder(folder, *, image_size=None, channels=None, fractions=(0.7, 0.15, 0.15), batch_size=32,
                seed: int = 0, augment=None, max_pixels: int = MAX_PIXELS, verbose: bool = True,
                exclude=()):  # fmt: skip
    """Load a class-per-subfolder image folder as train / validation / test pipelines.

    Args:
        folder: the folder (see the module docstring).
        image_size: ``(height, width)`` (or an int) to resize to; default: the images' own
            size when they all share one, else 224x224.
        channels: 1 (grayscale) or 3 (RGB); default: 1 when every image is grayscale.
        fractions: train / validation / test shares, stratified by class.
        seed: fixes the split and the training pipeline's shuffling.
        augment: a map function over training batches, as for the built-in datasets.
        max_pixels: refuse images with more pixels than this (before decoding them).
        verbose: print the classes and the split.
        exclude: folders inside ``folder`` that are not classes (e.g. the run folder being written).

    Returns a :class:`~cnnkit.data.base.Dataset` whose ``info.name`` is the folder.
    """
    import tensorflow as tf

    images = scan_folder(folder, exclude=exclude)
    sizes, modes = check_image_files(images.paths, max_pixels, listing_problems=images.problems)
    split = split_folder(images, fractions, seed)
    height, width, depth = default_shape(sizes, modes)
    if image_size is not None:
        height, width = (image_size, image_size) if isinstance(image_size, int) else tuple(image_size)
    depth = int(channels or depth)
    if depth not in (1, 3):
        raise ValueError(f"channels must be 1 or 3, got {depth}.")
    pipelines = {
        name: file_pipeline([images.paths[i] for i in index], images.labels[index], (height, width), depth,
                            batch_size, shuffle=name == "train", seed=seed)  # fmt: skip
        for name, index in split.items()
    }
    if augment is not None:
        pipelines["train"] = pipelines["train"].map(augment, num_parallel_calls=tf.data.AUTOTUNE)
    counts = {name: len(index) for name, index in split.items()}
    if verbose:
        shares = ", ".join(f"{name} {fraction:.0%} ({counts[name]})" for name, fraction in
                           zip(counts, fractions, strict=True))  # fmt: skip
        print(f"{printable(images.root)}: {len(images.paths)} images in {len(images.class_names)} classes "
              f"{[printable(name) for name in images.class_names]}; split (seed {seed}): {shares}; images {height}x{width}x{depth}")  # fmt: skip
    info = DatasetInfo(name=str(images.root), class_names=images.class_names, input_shape=(height, width, depth),
                       num_examples=counts, files=images.paths)  # fmt: skip
    return Dataset(info=info, **pipelines)
