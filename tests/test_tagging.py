"""The 1D CNN tagger, its CRF form and the baselines (cnnkit.tagging), on small cases that show each
piece doing what its docstring says."""

import keras
import numpy as np
import pytest
from sklearn.metrics import f1_score

from cnnkit import tagging
from cnnkit.models import tagging as tagger


def toy(seed=0, n=64, length=24):
    """ids 2..5; the label is 1 where the *next* character is 5, else 0 (a mark follows a word)."""
    rng = np.random.default_rng(seed)
    ids = rng.integers(2, 6, size=(n, length)).astype("int32")
    mask = np.ones(ids.shape, "float32")
    mask[:, -4:], ids[:, -4:] = 0, 0  # padding at the end of every example
    labels = np.zeros_like(ids)
    labels[:, :-1] = ids[:, 1:] == 5
    return ids, labels, mask


def test_the_receptive_field_grows_with_dilation():
    assert tagger.receptive_field(3, (1, 1, 1, 1)) == 9 and tagger.receptive_field(3, (1, 2, 4, 8)) == 31
    model = tagger.cnn_tagger(input_shape=(40,), kernel=3, dilations=(1, 2, 4))
    assert model.output_shape == (None, 40, 6) and model.get_layer("conv3").dilation_rate == (4,)


def test_the_majority_baseline_uses_the_context_and_falls_back_to_the_most_frequent_label():
    ids, labels, mask = toy()
    predict = tagging.majority_by_context(ids, labels, mask, before=0, after=1)  # sees the next character
    assert (predict(ids)[mask > 0] == labels[mask > 0]).all()
    blind = tagging.majority_by_context(ids, labels, mask, before=1, after=0)  # cannot see it: always 0
    assert (blind(ids)[mask > 0] == 0).all()
    assert tagging.majority_by_context(ids, labels, mask)(np.full((1, 3), 99))[0].tolist() == [0, 0, 0]


def test_the_ngram_regression_learns_a_rule_on_the_next_character():
    ids, labels, mask = toy()
    predicted = tagging.ngram_logistic_regression(ids, labels, mask, before=1, after=1)(ids)
    assert (predicted[mask > 0] == labels[mask > 0]).mean() > 0.99


def test_scores_are_scikit_learns_over_the_real_positions_only():
    ids, labels, mask = toy()
    guess = np.where(np.random.default_rng(1).random(labels.shape) < 0.8, labels, 1 - labels)
    guess[mask == 0] = 1  # wrong on padding: must not count
    table, macro = tagging.tag_scores(labels, guess, mask, ("none", "mark"))
    real = mask > 0
    assert macro == pytest.approx(f1_score(labels[real], guess[real], average="macro"))
    assert list(table.index) == ["none", "mark"] and table["support"].sum() == real.sum()


def test_the_crf_tagger_trains_decodes_and_round_trips_in_safe_mode(tmp_path):
    ids, labels, mask = toy()
    keras.utils.set_random_seed(0)
    model = tagger.CRFTagger(
        tagger.cnn_tagger(input_shape=(24,), vocabulary=6, num_classes=2, width=16, dilations=(1, 2), scores_only=True)
    )
    model.compile(keras.optimizers.Adam(1e-2))
    history = model.fit(ids, labels, sample_weight=mask, batch_size=16, epochs=8, verbose=0)
    assert history.history["loss"][-1] < 0.5 * history.history["loss"][0]
    decoded = model.decode(ids, mask)
    assert (decoded[mask == 0] == -1).all() and (decoded[mask > 0] == labels[mask > 0]).mean() > 0.95
    path = tmp_path / "tagger.keras"
    model.save(path)
    loaded = keras.saving.load_model(path, safe_mode=True)
    np.testing.assert_allclose(
        keras.ops.convert_to_numpy(loaded.transitions), keras.ops.convert_to_numpy(model.transitions)
    )
    np.testing.assert_allclose(
        keras.ops.convert_to_numpy(loaded(ids[:2])), keras.ops.convert_to_numpy(model(ids[:2])), atol=1e-5
    )
