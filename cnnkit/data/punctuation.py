"""Restoring punctuation and capitals, one label per character, on real English prose that ships with
every CPython: the help topics of Python's own documentation (``pydoc_data.topics``), offline.

The task (what a speech recognizer's output needs before anyone reads it): the input is the text
lowercased with every character other than letters, digits and spaces removed; each remaining
character gets one of six labels, whether it was a capital and which mark followed its word:

    0 "lower"   1 "Upper"   2 "lower ."   3 "Upper ."   4 "lower ,"   5 "Upper ,"

where "." stands for a sentence end (. ? !) and "," for a pause inside one (, ; :). The label sits on
the last character of the word the mark followed. Per character rather than per word: a character
CNN needs no vocabulary (Python's prose is full of identifiers no word list holds), the capital is a
property of a character, and a word's mark is on its last character, so per-word labels are a subset.

Only prose is kept: a topic's paragraphs whose lines are not indented (indented blocks are code and
grammar) and are not heading underlines. The text differs between Python versions (79 topics, about
465 KB on 3.11), so :func:`corpus_facts` records the version and a digest of the text, and every
figure says what it was measured on. The split is by topic: no topic has paragraphs on two sides.
"""

from __future__ import annotations

import hashlib
import re
import sys

import numpy as np

from cnnkit.data.registry import PUNCTUATION_LABELS as LABELS  # noqa: F401 (the record's class names)

SENTENCE_END, PAUSE = ".?!", ",;:"
ALPHABET = " abcdefghijklmnopqrstuvwxyz0123456789"  # the input's characters; id 0 pads, 1 is unknown
KEPT = re.compile(r"[A-Za-z0-9 ]")


def corpus_facts() -> dict:
    """``{"python": "3.11.7", "topics": 79, "characters": ..., "sha256": ...}`` of ``pydoc_data.topics``."""
    from pydoc_data.topics import topics

    text = "".join(topics[name] for name in sorted(topics))
    return {
        "python": sys.version.split()[0],
        "topics": len(topics),
        "characters": len(text),
        "sha256": hashlib.sha256(text.encode("utf-8")).hexdigest(),
    }


def prose_paragraphs(text: str) -> list[str]:
    """The paragraphs of a help topic that are prose, each joined into one line with single spaces."""
    paragraphs = []
    for block in re.split(r"\n\s*\n", text):
        lines = block.splitlines()
        if not lines or any(line.startswith((" ", "\t")) for line in lines):
            continue  # code, grammar or an indented note
        if any(set(line.strip()) <= set("*=-~^") for line in lines):
            continue  # a heading and its underline
        paragraphs.append(" ".join(" ".join(lines).split()))
    return paragraphs


def strip_and_label(paragraph: str) -> tuple[str, np.ndarray]:
    """The model's input (lowercase letters, digits and single spaces) and one label per input
    character (:data:`LABELS`), uint8."""
    kept, labels = [], []
    for char in paragraph:
        if KEPT.match(char):
            if char == " " and (not kept or kept[-1] == " "):
                continue
            kept.append(char.lower())
            labels.append(1 if char.isupper() else 0)
        elif char in SENTENCE_END + PAUSE and kept:
            last = len(kept) - 1 if kept[-1] != " " else len(kept) - 2
            if last >= 0 and labels[last] < 2:  # the first mark after a word is the one it keeps
                labels[last] += 2 if char in SENTENCE_END else 4
    while kept and kept[-1] == " ":
        kept.pop()
        labels.pop()
    return "".join(kept), np.asarray(labels, "uint8")


def restore(text: str, labels) -> str:
    """The input with its capitals and marks put back by ``labels`` ("." and "," for their classes)."""
    out = []
    for char, label in zip(text, labels, strict=True):
        out.append(char.upper() if label % 2 else char)
        if label >= 2:
            out.append("." if label < 4 else ",")
    return "".join(out)


def topic_splits(fractions=(0.7, 0.15, 0.15), seed: int = 0) -> dict[str, list[tuple[str, str]]]:
    """The topics' prose paragraphs split by topic: ``{"train" | "validation" | "test": [(topic,
    paragraph), ...]}``, the topics shuffled by ``seed`` and cut by ``fractions`` of their count."""
    from pydoc_data.topics import topics

    names = sorted(topics)
    order = np.random.default_rng(seed).permutation(len(names))
    first = int(round(fractions[0] * len(names)))
    second = first + int(round(fractions[1] * len(names)))
    chosen = {"train": order[:first], "validation": order[first:second], "test": order[second:]}
    return {
        split: [(names[i], p) for i in sorted(index) for p in prose_paragraphs(topics[names[i]]) if p]
        for split, index in chosen.items()
    }


def encode(text: str) -> np.ndarray:
    """Character ids, int32: ``ALPHABET``'s index + 2 (0 pads, 1 for a character outside it)."""
    lookup = {char: i + 2 for i, char in enumerate(ALPHABET)}
    return np.asarray([lookup.get(char, 1) for char in text], "int32")


def windows(paragraphs, length: int = 256) -> dict[str, np.ndarray]:
    """Fixed-length training examples: every paragraph stripped and labelled, the paragraphs joined by
    spaces (label "lower") and cut into windows of ``length`` characters; the last window padded.
    Returns ``"ids"`` int32 ``(n, length)``, ``"labels"`` int32 ``(n, length)`` (0 on padding) and
    ``"mask"`` float32 ``(n, length)`` (1 on real characters)."""
    ids, labels = [], []
    for paragraph in paragraphs:
        text, tags = strip_and_label(paragraph)
        if text:
            ids += [encode(text), np.array([2], "int32")]  # a space between paragraphs
            labels += [tags.astype("int32"), np.array([0], "int32")]
    ids, labels = np.concatenate(ids), np.concatenate(labels)
    count = -(-len(ids) // length)
    mask = np.zeros(count * length, "float32")
    mask[: len(ids)] = 1
    pad = count * length - len(ids)
    return {
        "ids": np.pad(ids, (0, pad)).reshape(count, length),
        "labels": np.pad(labels, (0, pad)).reshape(count, length),
        "mask": mask.reshape(count, length),
    }


def load_punctuation_dataset(name: str = "pydoc_punctuation", *, batch_size: int = 32, seed: int = 0,
                             length: int = 256):  # fmt: skip
    """The punctuation set as train / validation / test pipelines of ``(ids, labels, mask)`` batches:
    int32 ``(batch, length)`` character ids (:func:`encode`), int32 labels (:data:`LABELS`) and the float32
    mask, 1 on real characters and 0 on padding, which Keras takes as a per-position ``sample_weight``.
    The split is by topic (:func:`topic_splits` with ``seed``); the training windows are reshuffled every
    epoch. What the text was (Python's version, a digest): :func:`corpus_facts`."""
    import tensorflow as tf

    from cnnkit.data.base import Dataset, DatasetInfo
    from cnnkit.data.registry import DATASETS

    pipelines, counts = {}, {}
    for split, pairs in topic_splits(seed=seed).items():
        arrays = windows([paragraph for _, paragraph in pairs], length)
        data = tf.data.Dataset.from_tensor_slices((arrays["ids"], arrays["labels"], arrays["mask"]))
        if split == "train":
            data = data.shuffle(len(arrays["ids"]), seed=seed, reshuffle_each_iteration=True)
        pipelines[split], counts[split] = data.batch(batch_size).prefetch(tf.data.AUTOTUNE), len(arrays["ids"])
    info = DatasetInfo(name=name, class_names=DATASETS[name].class_names, input_shape=(length,), num_examples=counts,
                       kind="characters", provenance={"pydoc_data.topics": corpus_facts()})  # fmt: skip
    return Dataset(info=info, **pipelines)
