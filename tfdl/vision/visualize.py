"""Figures for looking inside image classifiers: top-image grids, t-SNE and PCA scatters.

All figures are PNG files (matplotlib Agg backend, no display needed).
"""

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

EMBEDDINGS = ("tsne", "pca")


def top_images(scores, dims=None, k=10):
    """For each chosen output dimension, the indices of its k best-scoring "winning" images.

    An image is assigned to the dimension (among `dims`) where it scores
    highest, as the class decision does for the softmax layer; each row then
    lists that dimension's images by decreasing score. Rows can be shorter
    than k (units that win few images) or empty.

    Args:
        scores: [n_images, n_dims] activations or probabilities.
        dims: the dimensions to use (default all).
        k: images per row.

    Returns:
        list (one per dim) of index arrays, each of length <= k.
    """
    scores = np.asarray(scores)
    dims = np.arange(scores.shape[1]) if dims is None else np.asarray(dims)
    sub = scores[:, dims]
    winner = sub.argmax(axis=1)
    # An image where every chosen unit is silent (e.g. all ReLUs at 0) wins nothing.
    active = sub.max(axis=1) > 0
    rows = []
    for j in range(len(dims)):
        idx = np.flatnonzero((winner == j) & active)
        rows.append(idx[np.argsort(-sub[idx, j], kind="stable")][:k])
    return rows


def image_grid(images, rows, row_labels, path, title="", k=10):
    """Draws `rows` (lists of image indices) as a grid, one labelled row each; empty cells blank."""
    n = len(rows)
    fig, axes = plt.subplots(n, k, figsize=(k * 0.9 + 0.8, n * 0.95 + 0.6), squeeze=False)
    for r, (idx, lab) in enumerate(zip(rows, row_labels)):
        for c in range(k):
            ax = axes[r, c]
            ax.set_xticks([])
            ax.set_yticks([])
            for s in ax.spines.values():
                s.set_visible(False)
            if c < len(idx):
                ax.imshow(images[idx[c]], cmap="gray_r")
        axes[r, 0].set_ylabel(str(lab), rotation=0, ha="right", va="center", fontsize=9)
    fig.suptitle(title)
    fig.tight_layout()
    fig.savefig(path, dpi=90)
    plt.close(fig)
    return path


def embed(features, method="pca", seed=0, max_iter=500, perplexity=30.0):
    """2-D embedding of [n, d] features by PCA or t-SNE (scikit-learn).

    t-SNE uses PCA initialisation and `max_iter` iterations (500 keeps 1,000
    points x several layers to well under a minute each on 2 cores); inputs of
    more than 50 dimensions are first reduced to 50 by PCA, as the t-SNE
    authors recommend.
    """
    from sklearn.decomposition import PCA  # Deferred: sklearn is slow to import.

    x = np.asarray(features, np.float64).reshape(len(features), -1)
    if method == "pca":
        return PCA(n_components=2, random_state=seed).fit_transform(x)
    if method != "tsne":
        raise ValueError(f"method must be one of {EMBEDDINGS}. Received: method={method!r}")
    from sklearn.manifold import TSNE

    if x.shape[1] > 50 and len(x) > 50:
        x = PCA(n_components=50, random_state=seed).fit_transform(x)
    perplexity = min(perplexity, max(2.0, (len(x) - 1) / 3))
    try:
        tsne = TSNE(n_components=2, init="pca", learning_rate="auto", perplexity=perplexity,
                    max_iter=max_iter, random_state=seed)
    except TypeError:  # scikit-learn < 1.5 calls it n_iter
        tsne = TSNE(n_components=2, init="pca", learning_rate="auto", perplexity=perplexity,
                    n_iter=max_iter, random_state=seed)
    return tsne.fit_transform(x)


def scatter_panel(ax, points, labels, label_names, title=""):
    """Points coloured by class, each class's name written at its mean."""
    labels = np.asarray(labels)
    cmap = plt.get_cmap("tab10")
    for c, name in enumerate(label_names):
        m = labels == c
        if not m.any():
            continue
        ax.scatter(points[m, 0], points[m, 1], s=4, color=cmap(c % 10), alpha=0.6)
        cx, cy = points[m].mean(axis=0)
        ax.text(cx, cy, str(name), fontsize=13, weight="bold", ha="center", va="center",
                color="black", bbox=dict(boxstyle="round,pad=0.15", fc="white", alpha=0.7,
                                         ec=cmap(c % 10)))
    ax.set_title(title, fontsize=10)
    ax.set_xticks([])
    ax.set_yticks([])


def embedding_figure(panels, labels, label_names, path, title=""):
    """One scatter panel per (name, 2-D points) in `panels`, in a grid."""
    n = len(panels)
    cols = min(4, n)
    rows = -(-n // cols)
    fig, axes = plt.subplots(rows, cols, figsize=(3.6 * cols, 3.4 * rows), squeeze=False)
    for ax in axes.ravel()[n:]:
        ax.axis("off")
    for ax, (name, pts) in zip(axes.ravel(), panels):
        scatter_panel(ax, np.asarray(pts), labels, label_names, name)
    fig.suptitle(title)
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return path


def curves(series, path, title="", ylabel="loss", xlabel="epoch", logy=False, styles=None):
    """Line plot of named curves.

    Args:
        series: {name: list of values per epoch (None/NaN = gap, e.g. a diverged run)}.
        path: output PNG.
        styles: optional {name: matplotlib kwargs}; by default names containing
            "test" are dashed.
    """
    styles = styles or {}
    fig, ax = plt.subplots(figsize=(6.5, 4.2))
    for name, ys in series.items():
        ys = np.array([np.nan if v is None else v for v in ys], float)
        kw = {"linestyle": "--" if "test" in name else "-"}
        kw.update(styles.get(name, {}))
        ax.plot(np.arange(1, len(ys) + 1), ys, label=name, **kw)
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    if logy:
        ax.set_yscale("log")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    ax.set_title(title)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path
