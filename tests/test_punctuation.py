"""The punctuation and capitals task on Python's own documentation (cnnkit.data.punctuation): labels of
a hand-written case, the round trip, prose only, a split by topic, the corpus recorded."""

import sys

import numpy as np

from cnnkit.data.punctuation import (
    LABELS,
    corpus_facts,
    encode,
    prose_paragraphs,
    restore,
    strip_and_label,
    topic_splits,
    windows,
)


def test_the_labels_of_a_hand_written_sentence():
    text, labels = strip_and_label('The "if" statement, I think: runs. Does it?')
    assert text == "the if statement i think runs does it"
    named = {i: LABELS[label] for i, label in enumerate(labels) if label}
    assert named == {
        0: "Upper",
        text.index("statement") + 8: "lower ,",
        text.index(" i ") + 1: "Upper",
        text.index("think") + 4: "lower ,",
        text.index("runs") + 3: "lower .",
        text.index("does"): "Upper",
        len(text) - 1: "lower .",
    }


def test_restoring_the_labels_gives_back_a_text_of_letters_periods_and_commas():
    original = "Python is a language. It has lists, dicts and sets. X marks it."
    text, labels = strip_and_label(original)
    assert restore(text, labels) == original
    assert restore(text, np.zeros(len(text), int)) == original.lower().replace(".", "").replace(",", "")


def test_only_prose_paragraphs_are_kept():
    topic = "A heading\n*********\n\nSome prose that\nspans two lines.\n\n   code = 1\n   more()\n\nLast one."
    assert prose_paragraphs(topic) == ["Some prose that spans two lines.", "Last one."]


def test_the_split_is_by_topic_and_the_corpus_is_recorded():
    facts = corpus_facts()
    assert facts["python"] == sys.version.split()[0] and facts["topics"] >= 70 and len(facts["sha256"]) == 64
    splits = topic_splits()
    topics = {split: {name for name, _ in pairs} for split, pairs in splits.items()}
    assert not topics["train"] & topics["test"] and not topics["train"] & topics["validation"]
    assert not topics["validation"] & topics["test"]
    assert sum(len(t) for t in topics.values()) >= 0.9 * facts["topics"]  # few topics hold no prose at all
    assert topic_splits() == splits and topic_splits(seed=1) != splits
    labels = np.concatenate([strip_and_label(p)[1] for _, p in splits["train"]])
    counts = np.bincount(labels, minlength=len(LABELS))
    assert counts[0] > counts[2] > 0 and counts[1] > 0 and counts[4] > 0  # real prose: every kind occurs


def test_windows_pad_the_last_one_and_mask_it():
    examples = windows(["One two.", "Three, four five six seven eight nine ten."], length=16)
    ids, labels, mask = examples["ids"], examples["labels"], examples["mask"]
    assert ids.shape == labels.shape == mask.shape and ids.shape[1] == 16
    real = int(mask.sum())
    assert (
        (ids.ravel()[:real] > 0).all()
        and (ids.ravel()[real:] == 0).all()
        and (labels.ravel()[real:] == 0).all()
    )
    assert encode("a z0?").tolist() == [3, 2, 28, 29, 1]  # 0 pads, 1 is unknown, " " is 2, "a" 3, "0" 29
