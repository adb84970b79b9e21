"""Combining classifiers: the four ensemble rules of the course references.

All functions take member probabilities as an array `[members, examples,
classes]` (or a list of `[examples, classes]` arrays) and return class ids:

- `majority_vote`: the class most members predict; ties go to the tied class
  with the highest mean probability (then the lowest id).
- `max_confidence` ("max rule"): the prediction of the member that is most
  confident (highest top probability) on that example.
- `average`: argmax of the mean probability.
- `weighted_average`: argmax of `sum_m w_m p_m`, with weights fitted on
  validation data by `fit_weights` (maximum likelihood of the mixture
  `sum_m w_m p_m(y)` over the simplex, by EM: the weights that make the
  combined probabilities best predict the true validation labels).
"""

import numpy as np

RULES = ("majority_vote", "max_confidence", "average", "weighted_average")


def _stack(probs):
    p = np.asarray(probs, dtype=np.float64)
    if p.ndim != 3 or p.shape[0] < 1:
        raise ValueError(f"probs must be [members, examples, classes]. Received: shape={p.shape}")
    return p


def majority_vote(probs):
    """Most-voted class per example; ties broken by mean probability."""
    p = _stack(probs)
    votes = np.zeros(p.shape[1:], np.float64)
    rows = np.arange(p.shape[1])
    for member in p:
        votes[rows, member.argmax(axis=1)] += 1
    # A mean probability (< 1) can only reorder classes with equal votes.
    return np.argmax(votes + 0.999 * p.mean(axis=0), axis=1)


def max_confidence(probs):
    """The prediction of the member with the highest top probability, per example."""
    p = _stack(probs)
    top = p.max(axis=2)                     # [members, examples]
    best = top.argmax(axis=0)               # most confident member per example
    return p[best, np.arange(p.shape[1])].argmax(axis=1)


def average(probs):
    """Argmax of the members' mean probability."""
    return _stack(probs).mean(axis=0).argmax(axis=1)


def weighted_probabilities(probs, weights):
    """`sum_m w_m p_m` with weights normalised to sum to 1."""
    p = _stack(probs)
    w = np.asarray(weights, np.float64).ravel()
    if w.shape != (p.shape[0],) or np.any(w < 0) or w.sum() <= 0:
        raise ValueError(f"weights must be {p.shape[0]} non-negative numbers, not all 0. "
                         f"Received: weights={w.tolist()}")
    return np.tensordot(w / w.sum(), p, axes=1)


def weighted_average(probs, weights):
    """Argmax of the weighted mean probability."""
    return weighted_probabilities(probs, weights).argmax(axis=1)


def fit_weights(probs, labels, iterations=200, tol=1e-8):
    """Weights on the simplex maximising the validation log-likelihood of `sum_m w_m p_m`.

    EM for mixture weights: with `q_nm = w_m p_m(y_n) / sum_k w_k p_k(y_n)`,
    the update `w_m = mean_n q_nm` never decreases the likelihood.

    Args:
        probs: [members, examples, classes] validation probabilities.
        labels: [examples] true class ids.

    Returns:
        [members] float weights summing to 1.
    """
    p = _stack(probs)
    y = np.asarray(labels, np.int64).ravel()
    if y.shape[0] != p.shape[1]:
        raise ValueError(f"labels must have one entry per example. Received: {y.shape[0]} "
                         f"labels for {p.shape[1]} examples")
    lik = np.maximum(p[:, np.arange(len(y)), y], 1e-12)  # [members, examples]
    w = np.full(p.shape[0], 1.0 / p.shape[0])
    for _ in range(iterations):
        mix = w @ lik
        new = (w[:, None] * lik / mix).mean(axis=1)
        if np.max(np.abs(new - w)) < tol:
            w = new
            break
        w = new
    return w / w.sum()


def combine(probs, rule, weights=None):
    """Class ids from rule `rule` (one of `RULES`; `weighted_average` needs weights)."""
    if rule == "majority_vote":
        return majority_vote(probs)
    if rule == "max_confidence":
        return max_confidence(probs)
    if rule == "average":
        return average(probs)
    if rule == "weighted_average":
        if weights is None:
            raise ValueError("rule 'weighted_average' needs weights (see fit_weights)")
        return weighted_average(probs, weights)
    raise ValueError(f"rule must be one of {RULES}. Received: rule={rule!r}")


def evaluate(test_probs, test_labels, val_probs=None, val_labels=None):
    """Accuracy of every rule on the test set (weights fitted on validation).

    Args:
        test_probs, val_probs: [members, examples, classes].
        test_labels, val_labels: [examples] class ids. Without validation data
            `weighted_average` falls back to equal weights.

    Returns:
        dict rule -> {"accuracy": float, "predictions": ndarray} and
        "weights" -> the fitted weights (list).
    """
    y = np.asarray(test_labels).ravel()
    m = len(test_probs)
    weights = (fit_weights(val_probs, val_labels) if val_probs is not None
               else np.full(m, 1.0 / m))
    out = {}
    for rule in RULES:
        pred = combine(test_probs, rule, weights)
        out[rule] = {"accuracy": float(np.mean(pred == y)), "predictions": pred}
    out["weights"] = [float(w) for w in weights]
    return out
