"""Evaluation metrics: classification summaries and signal-to-noise measures."""

import numpy as np


def confusion_matrix(y_true, y_pred, num_classes):
    """Counts [true, predicted] pairs into a `num_classes` x `num_classes` int matrix."""
    y_true = np.asarray(y_true, dtype=np.int64).ravel()
    y_pred = np.asarray(y_pred, dtype=np.int64).ravel()
    if y_true.shape != y_pred.shape:
        raise ValueError(f"y_true and y_pred differ in length. Received: {y_true.shape} vs "
                         f"{y_pred.shape}")
    cm = np.zeros((num_classes, num_classes), dtype=np.int64)
    np.add.at(cm, (y_true, y_pred), 1)
    return cm


def classification_report(y_true, y_pred, labels):
    """Accuracy, per-class accuracy (recall) and confusion matrix as a JSON-ready dict.

    Classes with no true example get per-class accuracy None.
    """
    labels = [str(label) for label in labels]
    cm = confusion_matrix(y_true, y_pred, len(labels))
    support = cm.sum(axis=1)
    per_class = {lab: (float(cm[i, i] / support[i]) if support[i] else None)
                 for i, lab in enumerate(labels)}
    total = int(cm.sum())
    return {
        "accuracy": float(np.trace(cm) / total) if total else 0.0,
        "num_examples": total,
        "per_class_accuracy": per_class,
        "labels": labels,
        "confusion_matrix": cm.tolist(),
    }


def snr(reference, estimate, eps=1e-12):
    """SNR in dB as the course references define it: 10 log10(sum s^2 / sum (s - s_hat)^2).

    Both signals are cut to the shorter length. A zero error gives a large
    finite value (not inf) and a silent reference a very negative one, never NaN.
    """
    s = np.asarray(reference, np.float64).ravel()
    e = np.asarray(estimate, np.float64).ravel()
    n = min(len(s), len(e))
    s, e = s[:n], e[:n]
    return float(10 * np.log10((np.sum(s ** 2) + eps) / (np.sum((s - e) ** 2) + eps)))


def si_sdr(reference, estimate, eps=1e-12):
    """Scale-invariant signal-to-distortion ratio in dB (Le Roux et al. 2019), zero-mean."""
    s = np.asarray(reference, np.float64).ravel()
    e = np.asarray(estimate, np.float64).ravel()
    n = min(len(s), len(e))
    s, e = s[:n] - s[:n].mean(), e[:n] - e[:n].mean()
    target = (np.dot(e, s) / (np.dot(s, s) + eps)) * s
    return float(10 * np.log10((np.sum(target ** 2) + eps) / (np.sum((e - target) ** 2) + eps)))
