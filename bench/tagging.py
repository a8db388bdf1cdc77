"""Benchmark: the 1D CNN tagger from the command line with its defaults against the two baselines, on the
punctuation set's test topics (issue 33's done-when: the tagger beats both in macro F1).

1. ``python -m cnnkit train cnn_tagger --dataset pydoc_punctuation`` (its defaults: 60 epochs, batch 32,
   Adam 3e-3) into a temporary folder; its test macro F1 and training time as ``metrics.json`` records them.
2. The baselines of :mod:`cnnkit.tagging` fitted on the same training topics and scored on the same test
   topics: the most frequent label of each three-character context, and scikit-learn's logistic
   regression on the characters from three before to three after each position.

    python bench/tagging.py
"""

from __future__ import annotations

import json
import platform
import tempfile
from pathlib import Path

from cnnkit import cli, tagging
from cnnkit.data import punctuation


def main() -> None:
    with tempfile.TemporaryDirectory() as folder:
        out = Path(folder) / "run"
        if cli.main(["train", "cnn_tagger", "--dataset", "pydoc_punctuation", "--out", str(out)]) != 0:
            raise SystemExit("the training command failed")
        metrics = json.loads((out / "metrics.json").read_text())
    splits = punctuation.topic_splits()
    train, test = (punctuation.windows([p for _, p in splits[s]]) for s in ("train", "test"))
    baselines = {
        "majority label per character context": tagging.majority_by_context(train["ids"], train["labels"],
                                                                            train["mask"]),
        "logistic regression on the characters around": tagging.ngram_logistic_regression(
            train["ids"], train["labels"], train["mask"]),
    }  # fmt: skip
    corpus = metrics["data_provenance"]["pydoc_data.topics"]
    print(f"\n{platform.machine()}, Python {corpus['python']} help topics ({corpus['characters']:,} characters, "
          f"sha256 {corpus['sha256'][:12]}), {metrics['backend']}")  # fmt: skip
    print(f"{'cnn_tagger (' + format(metrics['parameters'], ',') + ' parameters)':48s} macro F1 "
          f"{metrics['test_macro_f1']:.3f}  ({metrics['train_seconds']:.0f} s, {metrics['epochs']} epochs)")
    for name, predict in baselines.items():
        _, macro = tagging.tag_scores(test["labels"], predict(test["ids"]), test["mask"], punctuation.LABELS)
        print(f"{name:48s} macro F1 {macro:.3f}")


if __name__ == "__main__":
    main()
