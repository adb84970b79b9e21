"""Figures written as PNG files (matplotlib, Agg backend: no display needed)."""

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402


def _save(fig, path):
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def training_curves(history, path, title="training"):
    """Loss and every other metric per epoch, train vs validation, one panel each.

    Args:
        history: dict metric -> list per epoch (Keras `History.history`);
            `val_*` entries are drawn with their training twin.
        path: output PNG.
    """
    names = [k for k in history if not k.startswith("val_") and k not in ("learning_rate",)
             and isinstance(history[k], (list, tuple)) and history[k]]
    names = names or ["loss"]
    fig, axes = plt.subplots(1, len(names), figsize=(4.5 * len(names), 3.5), squeeze=False)
    for ax, name in zip(axes[0], names):
        for key, style in ((name, "-"), (f"val_{name}", "--")):
            if history.get(key):
                ax.plot(np.arange(1, len(history[key]) + 1), history[key], style, label=key)
        ax.set_xlabel("epoch")
        ax.set_title(name)
        ax.grid(alpha=0.3)
        ax.legend()
    fig.suptitle(title)
    return _save(fig, path)


def confusion_matrix(cm, labels, path, title="confusion matrix"):
    """Row-normalised confusion matrix with counts written in the cells."""
    cm = np.asarray(cm)
    rows = np.maximum(cm.sum(axis=1, keepdims=True), 1)
    n = len(labels)
    size = max(4.0, 0.45 * n + 2)
    fig, ax = plt.subplots(figsize=(size, size))
    ax.imshow(cm / rows, cmap="Blues", vmin=0, vmax=1)
    ax.set_xticks(range(n), labels, rotation=90 if n > 12 else 0)
    ax.set_yticks(range(n), labels)
    ax.set_xlabel("predicted")
    ax.set_ylabel("true")
    if n <= 40:
        for i in range(n):
            for j in range(n):
                if cm[i, j]:
                    ax.text(j, i, int(cm[i, j]), ha="center", va="center", fontsize=7,
                            color="white" if cm[i, j] / rows[i, 0] > 0.5 else "black")
    ax.set_title(title)
    return _save(fig, path)


def waveform_and_features(waveform, sample_rate, features, path, title="", feature_name="MFCC"):
    """A waveform above its feature matrix ([frames, coefficients])."""
    fig, (a, b) = plt.subplots(2, 1, figsize=(8, 5))
    t = np.arange(len(waveform)) / sample_rate
    a.plot(t, waveform, lw=0.6)
    a.set_xlabel("time (s)")
    a.set_title(title or "waveform")
    im = b.imshow(np.asarray(features).T, origin="lower", aspect="auto", cmap="magma")
    b.set_xlabel("frame")
    b.set_ylabel("coefficient")
    b.set_title(feature_name)
    fig.colorbar(im, ax=b)
    return _save(fig, path)


def spectrograms(panels, sample_rate, frame_step, path):
    """Stacked log-magnitude spectrograms.

    Args:
        panels: list of (title, magnitude [frames, bins]).
    """
    fig, axes = plt.subplots(len(panels), 1, figsize=(9, 2.6 * len(panels)), squeeze=False)
    for ax, (title, mag) in zip(axes[:, 0], panels):
        mag = np.asarray(mag)
        db = 20 * np.log10(np.maximum(mag, 1e-6))
        extent = [0, mag.shape[0] * frame_step / sample_rate, 0, sample_rate / 2000]
        im = ax.imshow(db.T, origin="lower", aspect="auto", cmap="magma", extent=extent,
                       vmin=db.max() - 80, vmax=db.max())
        ax.set_title(title)
        ax.set_xlabel("time (s)")
        ax.set_ylabel("kHz")
        fig.colorbar(im, ax=ax, label="dB")
    return _save(fig, path)


def detections_timeline(waveform, sample_rate, detections, path, title=""):
    """A long recording's waveform with labelled spans: what a stream detected, and when.

    Args:
        detections: dicts with `start_s`, `end_s`, `time_s`, `label`, `score`
            (`tfdl.keywords.serve.detect`).
    """
    seconds = len(waveform) / sample_rate
    fig, ax = plt.subplots(figsize=(min(16, max(8, 0.5 * seconds)), 3))
    t = np.arange(len(waveform)) / sample_rate
    ax.plot(t, waveform, lw=0.4, color="0.55")
    top = float(np.max(np.abs(waveform))) or 1.0
    labels = sorted({d["label"] for d in detections})
    for d in detections:
        color = f"C{labels.index(d['label']) % 10}"
        ax.axvspan(d["start_s"], d["end_s"], color=color, alpha=0.2, lw=0)
        ax.axvline(d["time_s"], color=color, lw=1)
        ax.text(d["time_s"], 1.02 * top, f"{d['label']} {d['score']:.2f}", ha="center",
                va="bottom", fontsize=8, color=color)
    ax.set_xlim(0, seconds)
    ax.set_ylim(-1.25 * top, 1.25 * top)
    ax.set_xlabel("time (s)")
    ax.set_yticks([])
    ax.set_title(title or f"{len(detections)} detection(s)")
    return _save(fig, path)
