"""The four ensemble rules on hand-made probabilities."""

import numpy as np
import pytest

from tfdl import ensemble

P1 = [[0.6, 0.3, 0.1], [0.1, 0.8, 0.1], [0.4, 0.35, 0.25], [0.2, 0.2, 0.6]]
P2 = [[0.1, 0.5, 0.4], [0.3, 0.4, 0.3], [0.1, 0.45, 0.45], [0.5, 0.3, 0.2]]
P3 = [[0.2, 0.5, 0.3], [0.9, 0.05, 0.05], [0.2, 0.3, 0.5], [0.45, 0.1, 0.45]]
PROBS = np.array([P1, P2, P3])


def test_majority_vote():
    # ex0 votes 0,1,1 -> 1; ex1 1,1,0 -> 1; ex2 one vote each -> highest mean (class 2);
    # ex3 2,0,0 -> 0.
    np.testing.assert_array_equal(ensemble.majority_vote(PROBS), [1, 1, 2, 0])


def test_max_confidence():
    # Most confident member: ex0 P1 (0.6) -> 0; ex1 P3 (0.9) -> 0; ex2 P3 (0.5) -> 2;
    # ex3 P1 (0.6) -> 2.
    np.testing.assert_array_equal(ensemble.max_confidence(PROBS), [0, 0, 2, 2])


def test_average():
    # Means: ex0 [.30 .43 .27], ex1 [.43 .42 .15], ex2 [.23 .37 .40], ex3 [.38 .20 .42].
    np.testing.assert_array_equal(ensemble.average(PROBS), [1, 0, 2, 2])


def test_weighted_average():
    np.testing.assert_array_equal(ensemble.weighted_average(PROBS, [1, 0, 0]), [0, 1, 0, 2])
    np.testing.assert_array_equal(ensemble.weighted_average(PROBS, [0, 5, 0]), [1, 1, 1, 0])
    np.testing.assert_array_equal(ensemble.weighted_average(PROBS, [1, 1, 1]),
                                  ensemble.average(PROBS))
    with pytest.raises(ValueError, match="weights must be 3"):
        ensemble.weighted_average(PROBS, [1, 1])


def test_fit_weights_finds_the_informative_member():
    rng = np.random.default_rng(0)
    y = rng.integers(0, 3, size=200)
    perfect = np.eye(3)[y]
    uniform = np.full((200, 3), 1 / 3)
    w = ensemble.fit_weights(np.stack([uniform, perfect, uniform]), y)
    assert w.sum() == pytest.approx(1.0)
    assert w[1] > 0.99


def test_fit_weights_does_not_lower_the_likelihood():
    rng = np.random.default_rng(1)
    p = rng.dirichlet(np.ones(5), size=(4, 300))
    y = rng.integers(0, 5, size=300)

    def loglik(w):
        return np.log(ensemble.weighted_probabilities(p, w)[np.arange(300), y]).sum()

    w = ensemble.fit_weights(p, y)
    assert loglik(w) >= loglik(np.ones(4)) - 1e-9


def test_evaluate_reports_every_rule():
    y = np.array([1, 0, 2, 2])
    out = ensemble.evaluate(PROBS, y, PROBS, y)
    assert set(ensemble.RULES) <= set(out)
    assert out["average"]["accuracy"] == 1.0
    assert out["majority_vote"]["accuracy"] == 0.5
    assert out["max_confidence"]["accuracy"] == 0.75
    assert len(out["weights"]) == 3
    with pytest.raises(ValueError, match="rule must be one of"):
        ensemble.combine(PROBS, "median")
