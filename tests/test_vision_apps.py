"""Smoke runs of the four vision apps (tiny sizes, on conftest's synthetic `mini_vision` IDX
files) and their bad-input paths."""

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from apps import backprop, mnist, notmnist, optimization
from tfdl import export
from tfdl.datasets import idx, vision as vision_data
from tfdl.errors import InputError

ROOT = Path(__file__).resolve().parents[1]


def run_app(module, workdir, data_dir, *args):
    module.FLAGS.unparse_flags()
    module.FLAGS(["prog", f"--workdir={workdir}", f"--data_dir={data_dir}", *args])
    module.main(["prog"])
    return json.loads((Path(workdir) / "metrics.json").read_text())


def _files(workdir):
    return {p.name for p in Path(workdir).iterdir()}


def test_mnist_app_smoke(tmp_path, mini_vision):
    wd = tmp_path / "mnist"
    m = run_app(mnist, wd, mini_vision, "--train_size=300", "--test_size=100", "--depth=2",
                "--width=16", "--epochs=1", "--steps_per_epoch=2", "--batch_size=32",
                "--embed_samples=60", "--notsne")
    assert {"config.json", "history.json", "metrics.json", "training_curves.png",
            "confusion_matrix.png", "top_output.png", "top_hidden.png", "pca.png",
            "tensorboard", "export"} <= _files(wd)
    assert 0 <= m["test_accuracy"] <= 1 and m["num_test"] == 100
    assert m["export_max_abs_diff"] < 1e-5
    assert len(m["hidden_row_lengths"]) == 10 and max(m["hidden_row_lengths"]) <= 10
    assert json.loads((wd / "config.json").read_text())["width"] == 16
    # The SavedModel takes raw pixels and names the class.
    d = vision_data.load("mnist", mini_vision)
    loaded = export.load(wd / "export")
    out = loaded.serve(d.x_test[:3].astype(np.float32))
    assert out["probabilities"].shape == (3, 10)
    assert [s.decode() for s in out["label"].numpy()] == [str(i) for i in out["class_id"].numpy()]


def test_notmnist_app_smoke_ensemble(tmp_path, mini_vision):
    wd = tmp_path / "notmnist"
    m = run_app(notmnist, wd, mini_vision, "--train_size=200", "--test_size=100", "--ensemble=2",
                "--filters=4", "--dense=8", "--epochs=1", "--steps_per_epoch=2",
                "--batch_size=32")
    assert {"config.json", "history.json", "metrics.json", "training_curves.png",
            "confusion_matrix.png", "top_output.png", "export", "member_1",
            "member_2"} <= _files(wd)
    assert len(m["member_test_accuracy"]) == 2 and m["export_max_abs_diff"] < 1e-5
    loaded = export.load(wd / "export")
    out = loaded.serve(np.zeros((2, 28, 28), np.float32))
    assert out["label"].numpy()[0].decode() in "ABCDEFGHIJ"


def test_optimization_app_smoke(tmp_path, mini_vision):
    wd = tmp_path / "opt"
    # --study=optimization runs in test_vision.py's trend test; here the dropout half.
    m = run_app(optimization, wd, mini_vision, "--study=dropout", "--train_size=200",
                "--test_size=50", "--depth=2", "--dropout_width=8", "--dropout_epochs=2",
                "--batch_size=100")
    assert {"dropout_loss.png", "dropout_accuracy.png", "history.json", "tensorboard"} \
        <= _files(wd)
    assert len(m["dropout_final"]) == 4 and "final_training_loss" not in m
    curves = json.loads((wd / "history.json").read_text())
    assert len(curves["dropout"]["relu+He+dropout"]["val_loss"]) == 2


def test_backprop_app_smoke(tmp_path, mini_vision):
    wd = tmp_path / "bp"
    m = run_app(backprop, wd, mini_vision, "--train_size=200", "--test_size=50", "--epochs=2",
                "--batch_size=50", "--learning_rate=0.1", "--grad_check_examples=8")
    assert {"backprop_sgd.png", "backprop_rmsprop.png", "backprop_accuracy.png",
            "numpy_weights.npz", "history.json", "tensorboard"} <= _files(wd)
    assert m["gradient_check_max_relative_error"] < 1e-6
    assert m["max_relative_loss_gap_numpy_vs_keras_sgd"] < 0.01


def test_bad_flags_raise_input_error(tmp_path, mini_vision):
    with pytest.raises(InputError, match="--epochs must be positive"):
        run_app(mnist, tmp_path / "a", mini_vision, "--epochs=0")
    with pytest.raises(InputError, match="--data_dir does not exist"):
        run_app(notmnist, tmp_path / "b", tmp_path / "nowhere")
    with pytest.raises(InputError, match="--filters must be a comma-separated list"):
        run_app(notmnist, tmp_path / "c", mini_vision, "--filters=a,b")


def test_cli_bad_idx_file_is_one_line_error(tmp_path):
    """The real command line: a corrupt IDX file -> `error: ...` naming it, exit 2."""
    folder = tmp_path / "mnist"
    idx.write_idx(folder / "t10k-labels-idx1-ubyte.gz", np.zeros(10, np.uint8))
    bad = folder / "t10k-images-idx3-ubyte.gz"
    idx.write_idx(bad, np.zeros((10, 28, 28), np.uint8))
    bad.write_bytes(bad.read_bytes()[:-30])
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    r = subprocess.run([sys.executable, "-m", "apps.mnist", f"--data_dir={tmp_path}",
                        f"--workdir={tmp_path / 'run'}"], cwd=ROOT, env=env,
                       capture_output=True, text=True, timeout=300)
    assert r.returncode == 2, r.stderr
    last = r.stderr.strip().splitlines()[-1]
    assert last.startswith("error: ") and str(bad) in last
