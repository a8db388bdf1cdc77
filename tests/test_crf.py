"""The linear-chain CRF (cnnkit.crf) against a brute-force enumeration of every tag sequence."""

import itertools

import keras
import numpy as np
import pytest
from scipy.special import logsumexp

from cnnkit.crf import crf_log_likelihood, log_partition, sequence_score, viterbi_decode


def brute_force(potentials, transitions, length):
    """Every tag sequence of ``length`` positions with its score, for one example."""
    tags = potentials.shape[-1]
    paths = list(itertools.product(range(tags), repeat=length))
    scores = [
        sum(potentials[t, y] for t, y in enumerate(path))
        + sum(transitions[a, b] for a, b in zip(path, path[1:], strict=False))
        for path in paths
    ]
    return paths, np.asarray(scores)


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_likelihood_partition_and_viterbi_equal_brute_force(seed):
    rng = np.random.default_rng(seed)
    potentials = rng.normal(size=(3, 4, 3)).astype("float32")  # batch 3, 4 positions, 3 tags
    transitions = rng.normal(size=(3, 3)).astype("float32")
    mask = np.array([[1, 1, 1, 1], [1, 1, 0, 0], [1, 0, 0, 0]], "float32")  # lengths 4, 2 and 1
    tags = rng.integers(0, 3, size=(3, 4))
    log_z = keras.ops.convert_to_numpy(log_partition(potentials, transitions, mask))
    likelihood = keras.ops.convert_to_numpy(crf_log_likelihood(potentials, tags, transitions, mask))
    decoded = viterbi_decode(potentials, transitions, mask)
    for b, length in enumerate(mask.sum(axis=1).astype(int)):
        paths, scores = brute_force(potentials[b], transitions, length)
        assert log_z[b] == pytest.approx(logsumexp(scores), abs=1e-4)
        expected = scores[paths.index(tuple(tags[b, :length]))] - logsumexp(scores)
        assert likelihood[b] == pytest.approx(expected, abs=1e-4)
        assert tuple(decoded[b, :length]) == paths[int(np.argmax(scores))]
        assert (decoded[b, length:] == -1).all()


def test_the_probabilities_of_all_sequences_add_up_to_one():
    rng = np.random.default_rng(3)
    potentials, transitions = rng.normal(size=(1, 3, 2)), rng.normal(size=(2, 2))
    paths = np.array(list(itertools.product(range(2), repeat=3)))
    total = sum(
        np.exp(keras.ops.convert_to_numpy(crf_log_likelihood(potentials, path[None], transitions))[0])
        for path in paths
    )
    assert total == pytest.approx(1.0, abs=1e-6)
    score = keras.ops.convert_to_numpy(sequence_score(potentials, paths[:1], transitions))[0]
    assert score == pytest.approx(
        potentials[0, 0, 0] + potentials[0, 1, 0] + potentials[0, 2, 0] + 2 * transitions[0, 0]
    )


def test_strong_transitions_overrule_the_positions_own_best_tags():
    potentials = np.array([[[1.0, 0.0], [0.0, 0.2], [1.0, 0.0]]])  # alone: tags 0, 1, 0
    assert viterbi_decode(potentials, np.zeros((2, 2))).tolist() == [[0, 1, 0]]
    sticky = np.array([[0.0, -5.0], [-5.0, 0.0]])  # changing tag costs 5
    assert viterbi_decode(potentials, sticky).tolist() == [[0, 0, 0]]
