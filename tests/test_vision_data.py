"""IDX reader/writer and the MNIST/notMNIST loader: round trips, bad files, splits, pipelines."""

import gzip

import numpy as np
import pytest

from tfdl.errors import InputError
from tfdl.vision import data as vision
from tfdl.vision import idx
from tfdl.vision.config import MNISTConfig


@pytest.mark.parametrize("name", ["a.idx", "a.idx.gz"])
@pytest.mark.parametrize("dtype", [np.uint8, np.int8, np.int16, np.int32, np.float32, np.float64])
def test_round_trip(tmp_path, name, dtype):
    arr = (np.arange(2 * 3 * 5) - 7).reshape(2, 3, 5).astype(dtype)
    if dtype == np.uint8:
        arr = np.arange(30, dtype=np.uint8).reshape(2, 3, 5)
    back = idx.read_idx(idx.write_idx(tmp_path / name, arr))
    assert back.dtype == np.dtype(dtype) and back.shape == arr.shape
    np.testing.assert_array_equal(back, arr)


def test_header_matches_mnist_layout(tmp_path):
    p = idx.write_idx(tmp_path / "x-idx3-ubyte", np.zeros((3, 28, 28), np.uint8))
    data = p.read_bytes()
    assert data[:4] == bytes([0, 0, 8, 3])
    assert data[4:16] == (3).to_bytes(4, "big") + (28).to_bytes(4, "big") * 2
    assert len(data) == 16 + 3 * 28 * 28


def test_gzip_detected_by_content_not_name(tmp_path):
    p = tmp_path / "plain-name"
    p.write_bytes(gzip.compress(bytes([0, 0, 8, 1, 0, 0, 0, 2, 7, 9])))
    np.testing.assert_array_equal(idx.read_idx(p), [7, 9])


@pytest.mark.parametrize("blob, message", [
    (bytes([0, 0, 8]), "only 3 bytes"),
    (bytes([1, 2, 8, 1, 0, 0, 0, 1, 5]), "bad magic number 0x01020801"),
    (bytes([0, 0, 0x42, 1, 0, 0, 0, 1, 5]), "bad magic number"),
    (bytes([0, 0, 8, 0]), "bad magic number"),
    (bytes([0, 0, 8, 3, 0, 0, 0, 1]), "truncated IDX header"),
    (bytes([0, 0, 8, 1, 0, 0, 0, 4, 1, 2]), "truncated IDX file"),
    (bytes([0, 0, 8, 1, 0, 0, 0, 1, 1, 2]), "over-long IDX file"),
])
@pytest.mark.parametrize("gz", [False, True])
def test_bad_files_name_the_file(tmp_path, blob, message, gz):
    p = tmp_path / ("bad.idx.gz" if gz else "bad.idx")
    p.write_bytes(gzip.compress(blob) if gz else blob)
    with pytest.raises(InputError, match=message) as e:
        idx.read_idx(p)
    assert str(p) in str(e.value)


def test_truncated_gzip_and_missing_file(tmp_path):
    p = idx.write_idx(tmp_path / "imgs.gz", np.ones((50, 28, 28), np.uint8) * 3)
    p.write_bytes(p.read_bytes()[:-20])
    with pytest.raises(InputError, match="corrupt or truncated gzip") as e:
        idx.read_idx(p)
    assert str(p) in str(e.value)
    with pytest.raises(InputError, match="not found"):
        idx.read_idx(tmp_path / "nope.gz")


def test_images_labels_count_mismatch(tmp_path):
    im = idx.write_idx(tmp_path / "i.gz", np.zeros((5, 28, 28), np.uint8))
    lb = idx.write_idx(tmp_path / "l.gz", np.zeros(4, np.uint8))
    with pytest.raises(InputError, match="5 images in .*i.gz but 4 labels in .*l.gz"):
        idx.read_images_labels(im, lb)
    with pytest.raises(InputError, match="3 dimensions"):
        idx.read_images_labels(lb, lb)
    with pytest.raises(InputError, match="1 dimension"):
        idx.read_images_labels(im, im)


def _write_pair(folder, prefix, n, seed=0, classes=10):
    rng = np.random.default_rng(seed)
    y = np.arange(n) % classes
    x = rng.integers(0, 256, (n, 28, 28), dtype=np.uint8)
    x[:, 0, 0] = np.arange(n) % 256  # makes rows traceable
    idx.write_idx(folder / f"{prefix}-images-idx3-ubyte.gz", x)
    idx.write_idx(folder / f"{prefix}-labels-idx1-ubyte.gz", y.astype(np.uint8))
    return x, y


def test_single_pair_is_split_stratified_and_seeded(tmp_path):
    folder = tmp_path / "mnist"
    x, y = _write_pair(folder, "t10k", 200)
    a = vision.load("mnist", tmp_path, test_fraction=0.2, seed=3)
    b = vision.load("mnist", folder, test_fraction=0.2, seed=3)
    assert len(a.y_train) == 160 and len(a.y_test) == 40
    assert np.bincount(a.y_test).tolist() == [4] * 10
    np.testing.assert_array_equal(a.y_test, b.y_test)
    np.testing.assert_array_equal(a.x_train, b.x_train)
    c = vision.load("mnist", folder, test_fraction=0.2, seed=4)
    assert not np.array_equal(a.x_test, c.x_test)
    # Disjoint and complete: every image lands on exactly one side.
    seen = np.concatenate([a.x_train[:, 0, 0], a.x_test[:, 0, 0]])
    assert sorted(seen.tolist()) == sorted(x[:, 0, 0].tolist())
    sub = a.subset(50, 20, seed=0)
    assert len(sub.y_train) == 50 and len(sub.y_test) == 20
    assert np.bincount(sub.y_train).tolist() == [5] * 10


def test_load_run_train_val_and_datasets(tmp_path):
    """What a run sees: the config's sizes, a stratified validation share, raw float pixels."""
    _write_pair(tmp_path / "mnist", "t10k", 200)
    cfg = MNISTConfig(train_size=100, test_size=20, seed=1)
    d = vision.load_run(cfg, "mnist", tmp_path)
    assert (len(d.y_train), len(d.y_test)) == (100, 20) and "subset 100/20" in d.source
    (x, y), (xv, yv) = vision.train_val(d, 0.1, seed=0)
    assert len(y) == 90 and np.bincount(yv).tolist() == [1] * 10
    tds, vds = vision.datasets((x, y), (xv, yv), batch_size=32, seed=0)
    xb, yb = next(iter(tds))
    assert xb.shape == (32, 28, 28) and xb.dtype.name == "float32" and float(xb.numpy().max()) > 1
    assert sum(len(b[1]) for b in vds) == 10
    assert vision.flat(d.x_test).shape == (20, 784) and vision.flat(d.x_test).max() <= 1


def test_train_and_test_pairs_used_as_given(tmp_path):
    xtr, ytr = _write_pair(tmp_path / "notmnist", "train", 30, seed=1)
    xte, yte = _write_pair(tmp_path / "notmnist", "t10k", 20, seed=2)
    d = vision.load("notmnist", tmp_path)
    np.testing.assert_array_equal(d.x_train, xtr)
    np.testing.assert_array_equal(d.y_test, yte)
    assert d.labels == list("ABCDEFGHIJ") and "official" in d.source


def test_missing_and_broken_folders(tmp_path):
    (tmp_path / "mnist").mkdir()
    with pytest.raises(InputError, match="no mnist dataset"):
        vision.load("mnist", tmp_path)
    with pytest.raises(InputError, match="does not exist"):
        vision.load("mnist", tmp_path / "missing")
    with pytest.raises(InputError, match="unknown dataset"):
        vision.load("cifar", tmp_path)
    folder = tmp_path / "notmnist"
    idx.write_idx(folder / "t10k-images-idx3-ubyte.gz", np.zeros((5, 28, 28), np.uint8))
    idx.write_idx(folder / "t10k-labels-idx1-ubyte.gz", np.zeros(6, np.uint8))
    with pytest.raises(InputError, match="5 images .* but 6 labels"):
        vision.load("notmnist", tmp_path)


@pytest.mark.dataset("mnist", "notmnist")
def test_real_data_splits_8k_2k(data_root):
    for name in ("mnist", "notmnist"):
        d = vision.load(name, data_root)
        assert d.x_train.shape == (8000, 28, 28) and d.x_test.shape == (2000, 28, 28)
        assert d.x_train.dtype == np.uint8
        counts = np.bincount(d.y_test, minlength=10)
        full = np.bincount(np.concatenate([d.y_train, d.y_test]), minlength=10)
        np.testing.assert_allclose(counts, full * 0.2, atol=1)
