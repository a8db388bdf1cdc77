"""Oxford-IIIT Pet (Parkhi, Vedaldi, Zisserman and Jawahar, CVPR 2012) as a segmentation set: 7,349
photos of cats and dogs with a trimap per photo, the set keras-io's U-Net example trains on.

Downloaded once (full mode) from the authors' two archives, checked against the MD5 sums the
authors' files are known by (the same that torchvision checks), and read without extracting anything
to disk: each member is read from the archive in memory, so no path inside it can write anywhere.
The trimap's values become classes with the background first: 2 (background) -> 0 ``"background"``,
1 (the pet) -> 1 ``"pet"``, 3 (the unclassified border around it) -> 2 ``"border"``. Photos and
trimaps are resized to :data:`SIDE` x :data:`SIDE` (bilinear for photos, nearest neighbour for
trimaps) and cached as ``oxford_iiit_pet_<SIDE>.npz`` in the data folder. The split is the authors':
``trainval.txt`` (3,680 photos, 10% of it held out for validation) and ``test.txt`` (3,669). A few
of the official photos do not decode; they are left out and named on screen, never silently.
"""

from __future__ import annotations

import io
import tarfile
from pathlib import Path

import numpy as np

from cnnkit.data.image_files import OfficialFile, locate
from cnnkit.errors import CorruptDatasetError
from cnnkit.files import atomic_path, data_dir

SIDE = 128
URL = "https://www.robots.ox.ac.uk/~vgg/data/pets/data/"
IMAGES = OfficialFile(
    "oxford_iiit_pet/images.tar.gz", URL + "images.tar.gz", "md5", "5c4f3ee8e5d25df40f4fd59a7f44e54c"
)
ANNOTATIONS = OfficialFile(
    "oxford_iiit_pet/annotations.tar.gz",
    URL + "annotations.tar.gz",
    "md5",
    "95a8c909bbe2e81eed6a22bccdf3f68f",
)
TRIMAP_CLASSES = {2: 0, 1: 1, 3: 2}  # trimap value -> class: background, pet, border
MAX_MEMBER_BYTES = 64 << 20  # the largest official photo is a few MB
SPLIT_SEED = 0


def _members(path: Path, wanted) -> dict[str, bytes]:
    """The regular files of the tar archive at ``path`` whose names ``wanted(name)`` accepts, read into
    memory (name -> bytes); macOS's ``._`` resource files are skipped."""
    found = {}
    try:
        with tarfile.open(path, "r:gz") as archive:
            for member in archive:
                name = member.name
                if not member.isfile() or Path(name).name.startswith("._") or not wanted(name):
                    continue
                if member.size > MAX_MEMBER_BYTES:
                    raise CorruptDatasetError(
                        f"{path}: {name} declares {member.size:,} bytes, more than a photo has."
                    )
                found[name] = archive.extractfile(member).read()
    except (OSError, tarfile.TarError, EOFError) as error:
        raise CorruptDatasetError(
            f"{path} is not a readable .tar.gz archive ({error}); delete it and download it again."
        )
    return found


def split_names(annotations: dict[str, bytes], split: str) -> list[str]:
    """The photo names of ``trainval`` or ``test`` (the first word of each line of its list)."""
    listing = annotations.get(f"annotations/{split}.txt")
    if listing is None:
        raise CorruptDatasetError(
            f"the annotations archive has no annotations/{split}.txt: not Oxford-IIIT Pet's."
        )
    lines = listing.decode("utf-8").splitlines()
    return [line.split()[0] for line in lines if line.strip() and not line.startswith("#")]


def trimap_classes(trimap: np.ndarray, name: str) -> np.ndarray:
    """A trimap (values 1, 2, 3) as uint8 classes (:data:`TRIMAP_CLASSES`); other values are refused."""
    values = set(np.unique(trimap).tolist())
    if not values <= set(TRIMAP_CLASSES):
        raise CorruptDatasetError(
            f"the trimap of {name} holds {sorted(values - set(TRIMAP_CLASSES))}: a trimap holds 1, 2 and 3."
        )
    lookup = np.zeros(256, np.uint8)
    for value, cls in TRIMAP_CLASSES.items():
        lookup[value] = cls
    return lookup[trimap]


def read_pet_archives(images_path: Path, annotations_path: Path, side: int = SIDE) -> dict[str, tuple]:
    """``{"trainval": (images, masks), "test": (images, masks)}``: uint8 photos ``(n, side, side, 3)``
    and class masks ``(n, side, side)``, in the lists' order, leaving out (and naming) the photos that do
    not decode or have no trimap."""
    from PIL import Image

    annotations = _members(annotations_path, lambda n: n.startswith("annotations/"))
    photos = _members(images_path, lambda n: n.startswith("images/") and n.endswith(".jpg"))
    result, left_out = {}, []
    for split in ("trainval", "test"):
        images, masks = [], []
        for name in split_names(annotations, split):
            photo, trimap = (
                photos.get(f"images/{name}.jpg"),
                annotations.get(f"annotations/trimaps/{name}.png"),
            )
            if photo is None or trimap is None:
                left_out.append(f"{name} (no {'photo' if photo is None else 'trimap'})")
                continue
            try:
                with Image.open(io.BytesIO(photo)) as opened:
                    rgb = np.asarray(opened.convert("RGB").resize((side, side), Image.BILINEAR))
            except (OSError, SyntaxError, ValueError) as error:
                left_out.append(f"{name} ({type(error).__name__})")
                continue
            with Image.open(io.BytesIO(trimap)) as opened:
                labels = np.asarray(opened.resize((side, side), Image.NEAREST))
            images.append(rgb)
            masks.append(trimap_classes(labels, name))
        if not images:
            raise CorruptDatasetError(f"no photo of {split}.txt could be read from {images_path}.")
        result[split] = (np.stack(images), np.stack(masks))
    if left_out:
        print(f"Oxford-IIIT Pet: {len(left_out)} of the listed photos left out: {', '.join(left_out)}")
    return result


def pet_splits(folder=None, download: bool = True) -> dict[str, dict]:
    """The three splits as ``{"train" | "validation" | "test": {"images", "masks"}}`` (uint8), from
    the cache, or from the archives (downloaded when allowed) and then cached."""
    from sklearn.model_selection import train_test_split

    folder = Path(folder) if folder is not None else data_dir()
    cache = folder / f"oxford_iiit_pet_{SIDE}.npz"
    if not cache.is_file():
        images_path, _ = locate(IMAGES, folder, download)
        annotations_path, _ = locate(ANNOTATIONS, folder, download)
        found = read_pet_archives(images_path, annotations_path)
        buffer = io.BytesIO()
        np.savez(
            buffer,
            x_trainval=found["trainval"][0],
            y_trainval=found["trainval"][1],
            x_test=found["test"][0],
            y_test=found["test"][1],
        )
        with atomic_path(cache) as temporary:
            temporary.write_bytes(buffer.getvalue())
    with np.load(cache, allow_pickle=False) as stored:
        x, y, x_test, y_test = (stored[key] for key in ("x_trainval", "y_trainval", "x_test", "y_test"))
    train, validation = train_test_split(np.arange(len(x)), test_size=0.1, random_state=SPLIT_SEED)
    return {
        "train": {"images": x[np.sort(train)], "masks": y[np.sort(train)]},
        "validation": {"images": x[np.sort(validation)], "masks": y[np.sort(validation)]},
        "test": {"images": x_test, "masks": y_test},
    }
