"""Writers for small dataset files in the exact formats of the official ones (for the tests)."""

import gzip
import io
import tarfile

import numpy as np


def images_and_labels(n, shape, seed=0, classes=10):
    rng = np.random.default_rng(seed)
    return rng.integers(0, 256, size=(n, *shape), dtype=np.uint8), rng.integers(0, classes, size=n)


def write_mnist_npz(path, n_train=200, n_test=20):
    x_train, y_train = images_and_labels(n_train, (28, 28), 1)
    x_test, y_test = images_and_labels(n_test, (28, 28), 2)
    np.savez(
        path, x_train=x_train, y_train=y_train.astype("uint8"), x_test=x_test, y_test=y_test.astype("uint8")
    )
    return x_train, y_train, x_test, y_test


def idx_bytes(array):
    """An IDX file: 0, 0, 0x08 (unsigned byte), ndim, then big-endian sizes and the data."""
    header = bytes([0, 0, 0x08, array.ndim]) + b"".join(int(d).to_bytes(4, "big") for d in array.shape)
    return header + array.astype(np.uint8).tobytes()


def write_fashion_mnist(folder, n_train=200, n_test=20):
    folder.mkdir(parents=True, exist_ok=True)
    x_train, y_train = images_and_labels(n_train, (28, 28), 3)
    x_test, y_test = images_and_labels(n_test, (28, 28), 4)
    for name, array in [
        ("train-images-idx3-ubyte.gz", x_train),
        ("train-labels-idx1-ubyte.gz", y_train),
        ("t10k-images-idx3-ubyte.gz", x_test),
        ("t10k-labels-idx1-ubyte.gz", y_test),
    ]:
        (folder / name).write_bytes(gzip.compress(idx_bytes(array)))
    return x_train, y_train, x_test, y_test


def cifar_batch_bytes(images, labels, name="data_batch_1"):
    """One CIFAR-10 Python batch as the official files hold it: a Python 2 cPickle (protocol 2) of
    {'batch_label', 'labels': [...], 'data': (n, 3072) uint8 CHW rows, 'filenames': [...]}, read
    with ``encoding="bytes"`` (so the keys become bytes)."""
    from cnnkit.data.safe_pickle import dumps_python2

    rows = images.transpose(0, 3, 1, 2).reshape(len(images), -1)
    batch = {"batch_label": f"{name} of the tests", "labels": [int(v) for v in labels], "data": rows,
             "filenames": [f"image_{i:05d}.png" for i in range(len(images))]}  # fmt: skip
    return dumps_python2(batch)


def write_cifar10(path, per_batch=40, as_folder=False):
    """Write cifar-10-python.tar.gz (or the extracted folder); returns the arrays."""
    batches = {}
    for index, name in enumerate([f"data_batch_{i}" for i in range(1, 6)] + ["test_batch"]):
        images, labels = images_and_labels(per_batch, (32, 32, 3), 10 + index)
        batches[name] = (images, labels)
    if as_folder:
        path.mkdir(parents=True)
        for name, (images, labels) in batches.items():
            (path / name).write_bytes(cifar_batch_bytes(images, labels))
    else:
        with tarfile.open(path, "w:gz") as archive:
            for name, (images, labels) in batches.items():
                raw = cifar_batch_bytes(images, labels)
                info = tarfile.TarInfo(f"cifar-10-batches-py/{name}")
                info.size = len(raw)
                archive.addfile(info, io.BytesIO(raw))
    return batches


class RunsCode:
    """Pickling this object produces a pickle that calls os.system when loaded."""

    def __reduce__(self):
        import os

        return (os.system, ("echo pwned",))


# --- Full-size files in the official formats, for the smoke runs of the notebooks (random content) ---

FLOWER_COUNTS = {"daisy": 633, "dandelion": 898, "roses": 641, "sunflowers": 699, "tulips": 799}  # 3,670


def write_official_image_datasets(data_dir, seed=0):
    """MNIST (``mnist.npz``, 60,000 + 10,000), Fashion-MNIST (the four IDX ``.gz`` files) and
    CIFAR-10 (``cifar-10-python.tar.gz``, 5 x 10,000 + 10,000) at their official sizes, random
    pixels and labels, where cnnkit looks for files a user drops into ``data/``."""
    rng = np.random.default_rng(seed)
    data_dir.mkdir(parents=True, exist_ok=True)

    def images(n, shape):
        return rng.integers(0, 256, size=(n, *shape), dtype=np.uint8), rng.integers(0, 10, size=n).astype(np.uint8)

    (x_train, y_train), (x_test, y_test) = images(60_000, (28, 28)), images(10_000, (28, 28))
    np.savez(data_dir / "mnist.npz", x_train=x_train, y_train=y_train, x_test=x_test, y_test=y_test)
    (x_train, y_train), (x_test, y_test) = images(60_000, (28, 28)), images(10_000, (28, 28))
    folder = data_dir / "fashion_mnist"
    folder.mkdir(exist_ok=True)
    for name, array in [("train-images-idx3-ubyte.gz", x_train), ("train-labels-idx1-ubyte.gz", y_train),
                        ("t10k-images-idx3-ubyte.gz", x_test), ("t10k-labels-idx1-ubyte.gz", y_test)]:  # fmt: skip
        (folder / name).write_bytes(gzip.compress(idx_bytes(array), compresslevel=1))
    with tarfile.open(data_dir / "cifar-10-python.tar.gz", "w:gz", compresslevel=1) as archive:
        for name in [f"data_batch_{i}" for i in range(1, 6)] + ["test_batch"]:
            raw = cifar_batch_bytes(*images(10_000, (32, 32, 3)), name)
            info = tarfile.TarInfo(f"cifar-10-batches-py/{name}")
            info.size = len(raw)
            archive.addfile(info, io.BytesIO(raw))


def write_flower_photos_archive(data_dir, seed=0):
    """``flower_photos.tgz`` as the TensorFlow tutorials publish it: ``flower_photos/<class>/*.jpg``,
    3,670 JPEG photos in the five classes with the official counts (smooth random colours, 240x320
    or 320x240) and the LICENSE.txt the archive has."""
    from PIL import Image

    rng = np.random.default_rng(seed)
    data_dir.mkdir(parents=True, exist_ok=True)
    with tarfile.open(data_dir / "flower_photos.tgz", "w:gz", compresslevel=1) as archive:
        license_text = b"Random images written by cnnkit's tests in the layout of flower_photos.\n"
        info = tarfile.TarInfo("flower_photos/LICENSE.txt")
        info.size = len(license_text)
        archive.addfile(info, io.BytesIO(license_text))
        for name, count in FLOWER_COUNTS.items():
            for index in range(count):
                size = (320, 240) if index % 3 else (240, 320)
                coarse = rng.integers(0, 256, size=(6, 8, 3), dtype=np.uint8)
                image = Image.fromarray(coarse).resize(size, Image.BILINEAR)
                buffer = io.BytesIO()
                image.save(buffer, format="JPEG", quality=80)
                info = tarfile.TarInfo(f"flower_photos/{name}/{index:05d}_{name}.jpg")
                info.size = buffer.tell()
                buffer.seek(0)
                archive.addfile(info, buffer)


def write_keras_imagenet_weights(keras_home):
    """MobileNetV2's ImageNet weight files (with and without the top, 224 px) under the names
    ``keras.applications`` downloads them to, in Keras' HDF5 weights format, holding the random
    weights of a freshly built model: what ``weights="imagenet"`` loads when they are cached."""
    import h5py
    import keras
    from keras.src.legacy.saving import legacy_h5_format

    models = keras_home / "models"
    models.mkdir(parents=True, exist_ok=True)
    for include_top, suffix in ((True, ""), (False, "_no_top")):
        model = keras.applications.MobileNetV2(weights=None, include_top=include_top, input_shape=(224, 224, 3))
        with h5py.File(models / f"mobilenet_v2_weights_tf_dim_ordering_tf_kernels_1.0_224{suffix}.h5", "w") as f:
            legacy_h5_format.save_weights_to_hdf5_group(f, model)
    keras.backend.clear_session()


def write_modelnet40_archive(data_dir, per_split: int = 2):
    """``ModelNet40.zip`` in the official layout (``ModelNet40/<class>/<train|test>/<class>_NNNN.off``),
    ``per_split`` small random closed meshes (octahedra with jittered corners) per class and split,
    where cnnkit looks for it; so that full mode's ModelNet40 path runs without the 2 GB download."""
    import zipfile

    from cnnkit.data.registry import MODELNET40

    rng = np.random.default_rng(40)
    faces = "\n".join(f"3 {a} {b} {c}" for a, b, c in [(0, 2, 4), (2, 1, 4), (1, 3, 4), (3, 0, 4), (2, 0, 5),
                                                      (1, 2, 5), (3, 1, 5), (0, 3, 5)])  # fmt: skip
    corners = np.array([[1, 0, 0], [-1, 0, 0], [0, 1, 0], [0, -1, 0], [0, 0, 1], [0, 0, -1]], float)
    data_dir.mkdir(parents=True, exist_ok=True)
    with zipfile.ZipFile(data_dir / "ModelNet40.zip", "w", zipfile.ZIP_DEFLATED) as archive:
        for name in MODELNET40:
            for split in ("train", "test"):
                for i in range(per_split * (5 if split == "train" else 1)):  # enough to hold out 10% per class
                    vertices = corners * rng.uniform(0.5, 1.5, (6, 3))
                    text = "OFF\n6 8 0\n" + "\n".join(" ".join(f"{v:.5f}" for v in row) for row in vertices)
                    archive.writestr(f"ModelNet40/{name}/{split}/{name}_{i:04d}.off", text + "\n" + faces + "\n")


def write_oxford_pet_archives(data_dir, per_split: int = 6):
    """``oxford_iiit_pet/images.tar.gz`` and ``annotations.tar.gz`` in the authors' layout (``images/<name>.jpg``;
    ``annotations/trimaps/<name>.png`` with values 1 pet, 2 background, 3 border, and macOS's ``._`` files
    beside them; ``annotations/trainval.txt`` and ``test.txt`` with their comment header), ``per_split``
    photos of ellipses per split, where cnnkit looks for them; the last test photo is not a JPEG at all
    (the official set has a few that do not decode). Returns the archive folder."""
    import io
    import tarfile

    from PIL import Image

    rng = np.random.default_rng(37)
    folder = data_dir / "oxford_iiit_pet"
    folder.mkdir(parents=True, exist_ok=True)
    photos, trimaps, lists = {}, {}, {"trainval": [], "test": []}
    for split in lists:
        for i in range(per_split):
            name = f"{'Abyssinian' if i % 2 else 'beagle'}_{split}_{i}"
            height, width = int(rng.integers(90, 200)), int(rng.integers(90, 200))
            rows, cols = np.mgrid[:height, :width]
            inside = ((rows - height / 2) / (height / 3)) ** 2 + ((cols - width / 2) / (width / 3)) ** 2
            trimap = np.where(inside < 0.8, 1, np.where(inside < 1.1, 3, 2)).astype(np.uint8)
            photo = np.where((trimap == 1)[..., None], [200, 120, 40], [30, 90, 160]).astype(np.uint8)
            buffer = io.BytesIO()
            Image.fromarray(photo).save(buffer, format="JPEG")
            photos[f"images/{name}.jpg"] = buffer.getvalue()
            buffer = io.BytesIO()
            Image.fromarray(trimap).save(buffer, format="PNG")
            trimaps[f"annotations/trimaps/{name}.png"] = buffer.getvalue()
            trimaps[f"annotations/trimaps/._{name}.png"] = b"\x00\x05\x16\x07 AppleDouble"
            lists[split].append(f"{name} {1 + i % 2} {1 + i % 2} 1")
    photos[f"images/{lists['test'][-1].split()[0]}.jpg"] = b"GIF89a not a jpeg"
    for split, lines in lists.items():
        header = "#Image CLASS-ID SPECIES BREED ID\n#ID: 1:37 Class ids\n"
        trimaps[f"annotations/{split}.txt"] = (header + "\n".join(lines) + "\n").encode()
    for archive, members in (("images.tar.gz", photos), ("annotations.tar.gz", trimaps)):
        with tarfile.open(folder / archive, "w:gz") as tar:
            for name, data in members.items():
                info = tarfile.TarInfo(name)
                info.size = len(data)
                tar.addfile(info, io.BytesIO(data))
    return folder


def librispeech_flac(seconds: float, pitch: float, rng, rate: int = 16_000) -> bytes:
    """A FLAC file as LibriSpeech's are (16 kHz, one channel, 16-bit): a voice-like buzz, harmonics of
    ``pitch`` Hz under a slow loudness envelope, with a little noise."""
    import soundfile

    t = np.arange(int(seconds * rate)) / rate
    buzz = sum(np.sin(2 * np.pi * pitch * k * t) / k for k in range(1, 8))
    envelope = 0.5 + 0.5 * np.sin(2 * np.pi * rng.uniform(1, 3) * t) ** 2
    audio = 0.2 * buzz * envelope + 0.01 * rng.standard_normal(len(t))
    buffer = io.BytesIO()
    soundfile.write(buffer, np.clip(audio, -1, 1), rate, format="FLAC", subtype="PCM_16")
    return buffer.getvalue()


def write_librispeech_archive(path, subset: str, speakers, utterances: int = 2, seconds: float = 3.0, seed=0):
    """A ``<subset>.tar.gz`` in LibriSpeech's layout: ``LibriSpeech/<subset>/<speaker>/<chapter>/`` with
    ``<speaker>-<chapter>-<utterance>.flac`` files and the chapter's ``.trans.txt``, plus the top-level
    text files; ``speakers`` are int ids, each speaking at its own pitch."""
    rng = np.random.default_rng(seed)
    path.parent.mkdir(parents=True, exist_ok=True)

    def add(archive, name, data):
        member = tarfile.TarInfo(name)
        member.size = len(data)
        archive.addfile(member, io.BytesIO(data))

    with tarfile.open(path, "w:gz") as archive:
        add(archive, "LibriSpeech/SPEAKERS.TXT", b"; ID | SEX | SUBSET | MINUTES | NAME\n")
        for speaker in speakers:
            chapter = 1000 + speaker
            pitch = 90 + 13 * (speaker % 11)
            folder = f"LibriSpeech/{subset}/{speaker}/{chapter}"
            lines = []
            for k in range(utterances):
                add(archive, f"{folder}/{speaker}-{chapter}-{k:04d}.flac", librispeech_flac(seconds, pitch, rng))
                lines.append(f"{speaker}-{chapter}-{k:04d} A GENERATED UTTERANCE")
            add(archive, f"{folder}/{speaker}-{chapter}.trans.txt", ("\n".join(lines) + "\n").encode())


# A tiny English grammar in UD's tags for write_ewt_conllu; "walks" is a NOUN after "the" and a VERB after a
# name, so a tagger needs the context, not the word alone.
EWT_LEXICON = {"DET": ["the", "a", "this"], "ADJ": ["small", "red", "old"], "NOUN": ["dog", "house", "idea", "walks"],
               "PROPN": ["Alice", "Bob"], "VERB": ["sees", "likes", "walks"], "ADP": ["in", "near"], "PUNCT": ["."]}  # fmt: skip
EWT_PATTERNS = [["DET", "ADJ", "NOUN", "VERB", "DET", "NOUN", "PUNCT"], ["PROPN", "VERB", "ADP", "DET", "NOUN", "PUNCT"]]


def ewt_conllu(sentences: int, seed: int = 0) -> str:
    """CoNLL-U text as UD_English-EWT writes it: ``# sent_id`` and ``# text`` comments, ten tab-separated
    columns per word, a blank line after each sentence, and one multiword token (``3-4 don't``, whose
    words ``do`` and ``n't`` are tagged) every fifth sentence."""
    rng = np.random.default_rng(seed)
    blocks = []
    for number in range(sentences):
        pattern = EWT_PATTERNS[number % 2]
        words = [(str(rng.choice(EWT_LEXICON[tag])), tag) for tag in pattern]
        lines = [f"# sent_id = generated-{number:04d}", "# text = " + " ".join(w for w, _ in words)]
        rows = []
        for i, (form, tag) in enumerate(words, start=1):
            rows.append(f"{i}\t{form}\t{form.lower()}\t{tag}\tXX\t_\t0\tdep\t_\t{'SpaceAfter=No' if i == len(words) - 1 else '_'}")
        if number % 5 == 0:  # a multiword token: the range line is not a word, its two words are
            rows[2:2] = ["3-4\tdon't\t_\t_\t_\t_\t_\t_\t_\t_", "3\tdo\tdo\tAUX\tVBP\t_\t0\taux\t_\t_",
                         "4\tn't\tnot\tPART\tRB\t_\t3\tadvmod\t_\t_"]  # fmt: skip
        blocks.append("\n".join(lines + rows) + "\n")
    return "\n".join(blocks) + "\n"


def write_ewt_conllu(data_dir, sentences=(300, 40, 40)):
    """The three files of UD_English-EWT (``en_ewt-ud-{train,dev,test}.conllu``) in ``data_dir/ud_english_ewt``."""
    folder = data_dir / "ud_english_ewt"
    folder.mkdir(parents=True, exist_ok=True)
    for seed, (name, count) in enumerate(zip(("train", "dev", "test"), sentences, strict=True)):
        (folder / f"en_ewt-ud-{name}.conllu").write_text(ewt_conllu(count, seed), encoding="utf-8")
    return folder


def write_smoke_files(root):
    """Everything smoke mode reads, under ``root``: ``root/data`` (the data folder, CNNKIT_DATA) and
    ``root/keras`` (the Keras home, KERAS_HOME). Random content in the official formats (tests/test_smoke.py)."""
    from pathlib import Path

    from cnnkit.data import deap_synthetic

    root = Path(root)
    write_official_image_datasets(root / "data")
    write_flower_photos_archive(root / "data")
    write_modelnet40_archive(root / "data")
    write_oxford_pet_archives(root / "data")
    for subset, speakers in (("dev-clean", range(101, 111)), ("test-clean", range(201, 204))):
        write_librispeech_archive(root / "data" / "librispeech" / f"{subset}.tar.gz", subset, speakers)
    write_ewt_conllu(root / "data")
    write_keras_imagenet_weights(root / "keras")
    deap_synthetic.write_synthetic(root / "data" / "deap_synthetic", subjects=32)  # 04 and 05 read them
