"""Part-of-speech tagging on UD's English Web Treebank (cnnkit.data.treebank): CoNLL-U files that the tests
write in EWT's exact layout, never downloaded; words labelled at their last character, multiword tokens
left out, bad files refused in one line; and the tagger trained, evaluated and used through the command
line on them."""

import json

import numpy as np
import pytest

from cnnkit import cli
from cnnkit.data import load_dataset, treebank
from cnnkit.data.registry import UPOS_TAGS
from cnnkit.errors import CorruptDatasetError, DatasetNotFoundError
from cnnkit.models import build
from cnnkit.models.tagging import TREEBANK_VOCABULARY
from tests.dataset_files import ewt_conllu, write_ewt_conllu


def test_conllu_words_are_read_and_multiword_ranges_and_comments_left_out(tmp_path):
    path = tmp_path / "a.conllu"
    path.write_text(ewt_conllu(5), encoding="utf-8")
    sentences = treebank.read_conllu(path)
    assert len(sentences) == 5
    first = sentences[0]  # a multiword token in sentence 0: don't -> do (AUX), n't (PART)
    assert ("do", "AUX") in first and ("n't", "PART") in first and all(form != "don't" for form, _ in first)
    assert first[-1] == (".", "PUNCT") and {tag for s in sentences for _, tag in s} <= set(UPOS_TAGS)


def test_windows_label_each_words_last_character_and_weight_only_those():
    arrays = treebank.windows([[("The", "DET"), ("dog", "NOUN"), (".", "PUNCT")]], length=16)
    text = "The dog ."
    assert arrays["ids"].shape == (1, 16)
    np.testing.assert_array_equal(arrays["ids"][0, : len(text)], treebank.encode(text))
    assert np.flatnonzero(arrays["mask"][0]).tolist() == [2, 6, 8]  # e of The, g of dog, the full stop
    assert [UPOS_TAGS[t] for t in arrays["labels"][0, [2, 6, 8]]] == ["DET", "NOUN", "PUNCT"]
    # cut at word boundaries: nine words of 3 characters in windows of 8 hold two words each (3 + 1 + 3)
    many = treebank.windows([[("abc", "NOUN")] * 9], length=8)
    assert many["ids"].shape == (5, 8) and many["mask"].sum() == 9
    with pytest.raises(CorruptDatasetError, match="does not fit a window of 8"):
        treebank.windows([[("abcdefghij", "NOUN")]], length=8)
    assert treebank.encode("aé~")[1] == 1 and treebank.VOCABULARY == TREEBANK_VOCABULARY == 97


@pytest.mark.parametrize(
    "line, expected",
    [("1\tdog\tdog\tNOUN\t_", "5 tab-separated fields, CoNLL-U has 10"),
     ("1\tdog\tdog\tNN\tNN\t_\t0\troot\t_\t_", "UPOS 'NN' is none of UD's 17 tags")],
    ids=["short-line", "penn-tag"],
)  # fmt: skip
def test_a_bad_conllu_line_is_named_with_its_file_and_number(tmp_path, line, expected):
    path = tmp_path / "bad.conllu"
    path.write_text("# sent_id = 1\n" + line + "\n\n", encoding="utf-8")
    with pytest.raises(CorruptDatasetError, match=expected) as caught:
        treebank.read_conllu(path)
    assert "line 2" in str(caught.value) and "\n" not in str(caught.value)
    path.write_bytes(b"\xff\xfe not text")
    with pytest.raises(CorruptDatasetError, match="not UTF-8"):
        treebank.read_conllu(path)


def test_a_missing_file_without_downloads_names_the_ud_release(tmp_path):
    with pytest.raises(DatasetNotFoundError, match=r"UD_English-EWT/r2\.15/en_ewt-ud-train\.conllu"):
        load_dataset("ud_ewt_pos", folder=tmp_path, download=False)


def test_the_tagger_learns_the_treebanks_tags_through_the_command_line(tmp_path, monkeypatch, capsys):
    write_ewt_conllu(tmp_path / "data")
    monkeypatch.setenv("CNNKIT_DATA", str(tmp_path / "data"))
    data = load_dataset("ud_ewt_pos", batch_size=8, download=False)
    ids, labels, mask = next(iter(data.train))
    assert ids.shape[1] == 256 and data.info.provenance["ud_english_ewt"]["release"] == "r2.15"
    assert build("cnn_tagger", vocabulary=treebank.VOCABULARY, num_classes=17).output_shape == (None, 256, 17)

    out = tmp_path / "pos"
    assert cli.main(["train", "cnn_tagger", "--dataset", "ud_ewt_pos", "--epochs", "40", "--no-download",
                     "--out", str(out)]) == 0  # fmt: skip
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["fitted_options"] == {"vocabulary": 97} and metrics["task"] == "tagging"
    # the grammar's one ambiguous word ("walks": NOUN after an article, VERB after a name) needs context
    assert metrics["test_accuracy"] > 0.95, metrics["test_accuracy"]
    capsys.readouterr()
    (tmp_path / "text.txt").write_text("Alice sees the red dog.")
    assert cli.main(["predict", str(out), str(tmp_path / "text.txt")]) == 0
    _, tagged = capsys.readouterr().out.rstrip("\n").split("\t")
    assert tagged == "Alice/PROPN sees/VERB the/DET red/ADJ dog/NOUN ./PUNCT"
