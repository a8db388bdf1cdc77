"""Part-of-speech tagging on Universal Dependencies' English Web Treebank (UD_English-EWT), the 1D CNN
tagger's full-mode set.

EWT (Silveira et al., LREC 2014; CC BY-SA 4.0) is English web text (weblogs, newsgroups, e-mails, reviews,
questions and answers) split into words, each annotated with one of UD's 17 universal part-of-speech tags
(UPOS, :data:`cnnkit.data.registry.UPOS_TAGS`). Its three ``.conllu`` files are downloaded once from the
UD project's release of the treebank (tag :data:`RELEASE` of github.com/UniversalDependencies/UD_English-EWT;
the project publishes no checksums, so the files are checked by parsing them, and their SHA-256 digests
are recorded with every run) and split as the treebank splits them: train, dev (our validation), test.

The network is the punctuation tagger's, unchanged: it reads characters, not words. The words of each
sentence, as the treebank splits them (gold tokenization, which published tagging accuracies with gold
tokens assume), are joined by single spaces, sentence after sentence, and cut into windows of 256
characters at word boundaries; the word's tag is the label of its last character, and only those
positions carry a weight (the mask), so the per-position accuracy over the mask is the per-word
accuracy. Characters are printable ASCII (ids 2-96; 1 for any other character, 0 pads). A space inside a
treebank word (a few phone numbers and the like) becomes ``_`` so that spaces only separate words.
"""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np

from cnnkit.data.image_files import OfficialFile, locate
from cnnkit.errors import CorruptDatasetError
from cnnkit.files import data_dir, file_hash

RELEASE = "r2.15"  # UD 2.15, November 2024
URL = f"https://raw.githubusercontent.com/UniversalDependencies/UD_English-EWT/{RELEASE}/"
SPLIT_FILES = {"train": "train", "validation": "dev", "test": "test"}  # our split -> the treebank's
FILES = {split: OfficialFile(f"ud_english_ewt/en_ewt-ud-{name}.conllu", f"{URL}en_ewt-ud-{name}.conllu", "sha256", "")
         for split, name in SPLIT_FILES.items()}  # fmt: skip
FIRST_CHARACTER, LAST_CHARACTER = 32, 126  # printable ASCII
VOCABULARY = LAST_CHARACTER - FIRST_CHARACTER + 3  # 97: the characters, padding (0) and unknown (1); the
# tagger's record fits its vocabulary to it (cnnkit.models.tagging, a test checks the two agree)
SPACE = ord(" ") - FIRST_CHARACTER + 2  # the id of the space between two words (see encode)
MAX_FILE_BYTES = 64 << 20  # EWT's training file is about 13 MB


def read_conllu(path: Path) -> list[list[tuple[str, str]]]:
    """The sentences of a CoNLL-U file as lists of ``(form, upos)``: comment lines (``#``) skipped, a blank
    line ends a sentence, multiword-token ranges (``3-4``) and empty nodes (``8.1``) left out, as UPOS
    tags only words. A line that is not 10 tab-separated fields, or a tag outside UD's 17, is refused with
    the file and line number."""
    from cnnkit.data.registry import UPOS_TAGS

    if path.stat().st_size > MAX_FILE_BYTES:
        raise CorruptDatasetError(f"{path}: {path.stat().st_size:,} bytes, more than a treebank file of EWT's has.")
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except UnicodeDecodeError as error:
        raise CorruptDatasetError(f"{path} is not UTF-8 text ({error.reason} at byte {error.start}): not a "
                                  "CoNLL-U file; delete it and download it again.") from None  # fmt: skip
    sentences, words = [], []
    for number, line in enumerate(lines, start=1):
        if not line.strip():
            if words:
                sentences.append(words)
            words = []
            continue
        if line.startswith("#"):
            continue
        fields = line.split("\t")
        if len(fields) != 10:
            raise CorruptDatasetError(f"{path}, line {number}: {len(fields)} tab-separated fields, CoNLL-U has 10.")
        if "-" in fields[0] or "." in fields[0]:
            continue
        if fields[3] not in UPOS_TAGS:
            raise CorruptDatasetError(f"{path}, line {number}: UPOS {fields[3]!r} is none of UD's 17 tags.")
        words.append((re.sub(r"\s", "_", fields[1]), fields[3]))
    if words:
        sentences.append(words)
    if not sentences:
        raise CorruptDatasetError(f"{path} holds no sentence: not a CoNLL-U treebank file.")
    return sentences


def encode(text: str) -> np.ndarray:
    """Character ids, int32: printable ASCII as 2-96, any other character 1 (0 is padding)."""
    codes = np.frombuffer(text.encode("utf-32-le"), "<u4").astype("int64")
    printable = (codes >= FIRST_CHARACTER) & (codes <= LAST_CHARACTER)
    return np.where(printable, codes - FIRST_CHARACTER + 2, 1).astype("int32")


def windows(sentences, length: int = 256) -> dict[str, np.ndarray]:
    """The words of ``sentences`` (lists of ``(form, upos)``) joined by spaces and cut at word boundaries
    into windows of ``length`` characters: ``"ids"`` int32 ``(n, length)``; ``"labels"`` int32, the UPOS
    index at each word's last character and 0 elsewhere; ``"mask"`` float32, 1 at each word's last
    character only. A word longer than a window is refused."""
    from cnnkit.data.registry import UPOS_TAGS

    index = {tag: i for i, tag in enumerate(UPOS_TAGS)}
    rows, row = [], []  # row: (id, label, weight) triples of the window being filled

    for form, tag in (word for sentence in sentences for word in sentence):
        ids = encode(form)
        if len(ids) > length:
            raise CorruptDatasetError(f"a word of {len(ids)} characters ({form[:40]}...) does not fit a window of "
                                      f"{length}; tag with longer windows.")  # fmt: skip
        if len(row) + bool(row) + len(ids) > length:
            rows.append(row)
            row = []
        if row:
            row.append((SPACE, 0, 0.0))
        row += [(i, 0, 0.0) for i in ids[:-1]] + [(ids[-1], index[tag], 1.0)]
    if row:
        rows.append(row)
    arrays = {"ids": np.zeros((len(rows), length), "int32"), "labels": np.zeros((len(rows), length), "int32"),
              "mask": np.zeros((len(rows), length), "float32")}  # fmt: skip
    for r, filled in enumerate(rows):
        for key, values in zip(("ids", "labels", "mask"), zip(*filled, strict=True), strict=True):
            arrays[key][r, : len(values)] = values
    return arrays


def words_of(text: str) -> list[str]:
    """A plain tokenizer for :func:`tag_text`: runs of letters and digits (with an apostrophe inside, as in
    "don't") and each other mark on its own. The treebank's own splits (``do`` + ``n't``) are not made."""
    return re.findall(r"\w+(?:'\w+)*|[^\w\s]", text)


def tag_text(model, text: str) -> tuple[str, str]:
    """``(input, tagged)``: the words of ``text`` (:func:`words_of`) joined by spaces, and the same words
    as ``word/UPOS``, tagged by a model trained on this set, window by window."""
    from cnnkit.data.registry import UPOS_TAGS
    from cnnkit.evaluation import predict_tags

    words = words_of(text)
    if not words:
        return "", ""
    arrays = windows([[(word, "X") for word in words]], model.input_shape[1])
    labels = predict_tags(model, arrays["ids"], (arrays["ids"] > 0).astype("float32"))
    tags = [UPOS_TAGS[label] for label in labels[arrays["mask"] > 0]]
    return " ".join(words), " ".join(f"{word}/{tag}" for word, tag in zip(words, tags, strict=True))


def load_treebank_dataset(name: str = "ud_ewt_pos", *, batch_size: int = 32, seed: int = 0, folder=None,
                          download: bool = True, length: int = 256):  # fmt: skip
    """EWT's train, dev (as validation) and test files as pipelines of ``(ids, labels, mask)`` batches,
    int32 ``(batch, length)`` character ids, int32 UPOS labels at the words' last characters and the
    float32 mask that weights those positions only (:func:`windows`); the training windows reshuffled
    every epoch. ``folder``: the data folder (default ``$CNNKIT_DATA`` or the checkout's ``data/``);
    ``download``: fetch a missing file when allowed."""
    import tensorflow as tf

    from cnnkit.data.base import Dataset, DatasetInfo
    from cnnkit.data.registry import DATASETS

    folder = Path(folder) if folder is not None else data_dir()
    pipelines, counts, digests = {}, {}, {}
    for split, official in FILES.items():
        path, _ = locate(official, folder, download)
        arrays = windows(read_conllu(path), length)
        digests[path.name] = file_hash(path, "sha256")
        data = tf.data.Dataset.from_tensor_slices((arrays["ids"], arrays["labels"], arrays["mask"]))
        if split == "train":
            data = data.shuffle(len(arrays["ids"]), seed=seed, reshuffle_each_iteration=True)
        pipelines[split] = data.batch(batch_size).prefetch(tf.data.AUTOTUNE)
        counts[split] = len(arrays["ids"])
    info = DatasetInfo(name=name, class_names=DATASETS[name].class_names, input_shape=(length,), num_examples=counts,
                       kind="characters", provenance={"ud_english_ewt": {"release": RELEASE, "sha256": digests}})  # fmt: skip
    return Dataset(info=info, **pipelines)
