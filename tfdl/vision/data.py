"""MNIST and notMNIST: find the IDX files, read them, split them, feed them.

A dataset folder (found by `tfdl.data.find_dataset`: `--data_dir`, then
`$TFDL_DATA_DIR/<name>`, then `~/.keras/datasets/<name>`) may hold

* the official train and test pairs (`train-images-idx3-ubyte[.gz]`,
  `train-labels-idx1-ubyte[.gz]`, `t10k-images-idx3-ubyte[.gz]`,
  `t10k-labels-idx1-ubyte[.gz]`): used as they are; or
* only one pair (e.g. the 10k test set, as in `../shared/data`): split into
  train/test, stratified by class and seeded (default 8k/2k).

For MNIST with no folder anywhere and downloads allowed (`TFDL_NO_DOWNLOAD`
unset), `keras.datasets.mnist` supplies the full 60k/10k sets.
Images are uint8 [n, 28, 28] (raw pixel values); labels int64 [n].
`load_run` is what the apps call: the dataset, cut to a config's sizes.
"""

import dataclasses
import os
from pathlib import Path

import numpy as np

from tfdl.data import find_dataset
from tfdl.errors import InputError
from tfdl.vision.idx import read_images_labels

LABELS = {
    "mnist": [str(d) for d in range(10)],
    "notmnist": list("ABCDEFGHIJ"),
}
NAMES = tuple(sorted(LABELS))


@dataclasses.dataclass
class VisionData:
    """Train/test images (uint8 [n, 28, 28]) and labels (int64 [n])."""

    x_train: np.ndarray
    y_train: np.ndarray
    x_test: np.ndarray
    y_test: np.ndarray
    labels: list
    source: str  # where the data came from and how it was split

    def subset(self, train_size=None, test_size=None, seed=0):
        """A stratified, seeded subset (for smoke runs); None keeps everything."""
        if not train_size and not test_size:
            return self
        xtr, ytr = _take(self.x_train, self.y_train, train_size, seed)
        xte, yte = _take(self.x_test, self.y_test, test_size, seed + 1)
        return VisionData(xtr, ytr, xte, yte, self.labels,
                          f"{self.source}, subset {len(ytr)}/{len(yte)}")


def _take(x, y, n, seed):
    if not n or n >= len(y):
        return x, y
    idx, _ = stratified_split(y, 1 - n / len(y), seed)
    return x[idx], y[idx]


def stratified_split(labels, test_fraction, seed):
    """Indices (train, test) with each class split in the same proportion.

    Each class contributes round(test_fraction * count) examples to the test
    side; both index arrays are shuffled with `seed`.
    """
    if not 0 < test_fraction < 1:
        raise ValueError(f"test_fraction must be in (0, 1). Received: "
                         f"test_fraction={test_fraction}")
    labels = np.asarray(labels)
    rng = np.random.default_rng(seed)
    train, test = [], []
    for c in np.unique(labels):
        idx = rng.permutation(np.flatnonzero(labels == c))
        k = int(round(test_fraction * len(idx)))
        test.append(idx[:k])
        train.append(idx[k:])
    train, test = np.concatenate(train), np.concatenate(test)
    return rng.permutation(train), rng.permutation(test)


def _pair(folder: Path, prefix: str):
    """(images, labels) paths for `prefix` ("train" or "t10k"), or None."""
    found = []
    for kind, rank in (("images", 3), ("labels", 1)):
        base = f"{prefix}-{kind}-idx{rank}-ubyte"
        hits = [folder / (base + ext) for ext in (".gz", "")]
        hits += [folder / f"{prefix}-{kind}.idx{rank}-ubyte{ext}" for ext in (".gz", "")]
        hit = next((h for h in hits if h.is_file()), None)
        if hit is None:
            return None
        found.append(hit)
    return tuple(found)


def load_folder(folder, name="mnist", test_fraction=0.2, seed=0) -> VisionData:
    """Reads a dataset folder of IDX files (see the module docstring)."""
    folder = Path(folder)
    labels = LABELS.get(name, [str(d) for d in range(10)])
    train, test = _pair(folder, "train"), _pair(folder, "t10k")
    if train and test:
        xtr, ytr = read_images_labels(*train)
        xte, yte = read_images_labels(*test)
        return VisionData(xtr, ytr, xte, yte, labels, f"{folder}: official train/test")
    pair = train or test
    if pair is None:
        raise InputError(f"no IDX image/label files in {folder} (expected "
                         f"t10k-images-idx3-ubyte.gz and t10k-labels-idx1-ubyte.gz, or the "
                         f"train-* pair)")
    x, y = read_images_labels(*pair)
    if y.min() < 0 or y.max() >= len(labels):
        raise InputError(f"labels must be in 0..{len(labels) - 1}; found {y.min()}..{y.max()}: "
                         f"{pair[1]}")
    tr, te = stratified_split(y, test_fraction, seed)
    split = f"{len(tr)}/{len(te)} stratified split (seed {seed}) of {pair[0].name}"
    return VisionData(x[tr], y[tr], x[te], y[te], labels, f"{folder}: {split}")


MARKERS = ("t10k-images-idx3-ubyte.gz", "train-images-idx3-ubyte.gz", "t10k-images-idx3-ubyte",
           "train-images-idx3-ubyte")


def _find(name, data_dir):
    """The first folder `find_dataset` finds holding any of the IDX image files."""
    first = None
    for marker in MARKERS:
        try:
            return find_dataset(name, data_dir, marker=marker)
        except InputError as e:
            first = first or e
    raise first


def load(name, data_dir=None, test_fraction=0.2, seed=0) -> VisionData:
    """Loads `name` ("mnist" or "notmnist") as train/test splits.

    Args:
        name: dataset name.
        data_dir: the app's `--data_dir` (the dataset folder or its parent), or None.
        test_fraction: test share when only one IDX pair is present.
        seed: seed of that split.

    Returns:
        VisionData.

    Raises:
        InputError: unknown name, folder not found (and no download), bad IDX files.
    """
    if name not in LABELS:
        raise InputError(f"unknown dataset {name!r}; choose one of {', '.join(NAMES)}")
    try:
        folder = _find(name, data_dir)
    except InputError:
        if data_dir or name != "mnist" or os.environ.get("TFDL_NO_DOWNLOAD"):
            raise
        import keras  # Deferred: only the download path needs it.

        (xtr, ytr), (xte, yte) = keras.datasets.mnist.load_data()
        return VisionData(xtr, ytr.astype(np.int64), xte, yte.astype(np.int64),
                          LABELS["mnist"], "keras.datasets.mnist: official 60k/10k")
    return load_folder(folder, name, test_fraction, seed)


def load_run(cfg, name, data_dir=None):
    """`name`'s train/test splits as a run's config asks (`test_fraction`, `train_size`,
    `test_size`, `seed`: a `tfdl.vision.config.DataConfig`); prints where they came from."""
    data = load(name, data_dir, cfg.test_fraction, cfg.seed)
    data = data.subset(cfg.train_size or None, cfg.test_size or None, cfg.seed)
    print(f"data: {data.source}; train {len(data.y_train)}, test {len(data.y_test)}")
    return data


def train_val(data, val_fraction, seed):
    """((x, y) train, (x, y) validation): a stratified `val_fraction` of the training split."""
    tr, va = stratified_split(data.y_train, val_fraction, seed)
    return (data.x_train[tr], data.y_train[tr]), (data.x_train[va], data.y_train[va])


def datasets(train_xy, val_xy, batch_size, seed):
    """Batched tf.data pipelines of raw float32 pixels: (shuffled train, validation)."""
    import tensorflow as tf

    (x, y), (xv, yv) = train_xy, val_xy
    tds = (tf.data.Dataset.from_tensor_slices((x.astype(np.float32), y))
           .shuffle(len(y), seed=seed, reshuffle_each_iteration=True)
           .batch(batch_size).prefetch(tf.data.AUTOTUNE))
    vds = tf.data.Dataset.from_tensor_slices((xv.astype(np.float32), yv)).batch(512)
    return tds, vds


def flat(x):
    """Images [n, 28, 28] as float rows [n, 784] in 0..1 (the NumPy MLP's input)."""
    return np.asarray(x, np.float32).reshape(len(x), -1) / 255.0
