"""Smoke runs of the four vision apps (tiny sizes, on synthetic `mini_vision` IDX files), their
named configs, command lines and bad-input paths."""

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from absl import flags

from conftest import app_error, load_app, parse_app
from pages import check_page, run_cli
from tfdl import export
from tfdl.errors import InputError
from tfdl.vision import data as vision_data
from tfdl.vision import idx
from tfdl.vision.configs import APPS

ROOT = Path(__file__).resolve().parents[1]


def run_app(name, workdir, data_dir, *args):
    """`python -m apps.<name> --workdir=... --data_dir=... ARGS` in this process."""
    try:
        module = parse_app(name, f"--workdir={workdir}", f"--data_dir={data_dir}", *args)
        module.main([name, *[a for a in args if not a.startswith("-")]])
    finally:
        flags.FLAGS.unparse_flags()
    return json.loads((Path(workdir) / "metrics.json").read_text())


def run_with_page(name, workdir, data_dir, *args, figures=(), details=0):
    """`run_app` through the app's command line (`tfdl.cli.run`, in this process), which
    also writes report.html: checked (`pages.check_page`) for `figures` and `details`."""
    run_cli(name, f"--workdir={workdir}", f"--data_dir={data_dir}", *args)
    check_page(workdir, figures, details=details)
    return json.loads((Path(workdir) / "metrics.json").read_text())


def _files(workdir):
    return {p.name for p in Path(workdir).iterdir()}


def test_mnist_app_smoke(tmp_path, mini_vision):
    wd = tmp_path / "mnist"
    m = run_with_page("mnist", wd, mini_vision, "--config.train_size=300",
                      "--config.test_size=100", "--config.depth=2", "--config.width=16",
                      "--config.epochs=1", "--config.steps_per_epoch=2", "--config.batch_size=32",
                      "--config.tsne=false", figures=["training_curves.png",
                      "confusion_matrix.png", "top_output.png", "top_hidden.png", "pca.png"])
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
    m = run_with_page("notmnist", wd, mini_vision, "--config.train_size=200",
                      "--config.test_size=100", "--config.ensemble=2", "--config.filters=4",
                      "--config.dense=8", "--config.epochs=1", "--config.steps_per_epoch=2",
                      "--config.batch_size=32", details=2, figures=["training_curves.png",
                      "confusion_matrix.png", "top_output.png"])
    assert {"config.json", "history.json", "metrics.json", "training_curves.png",
            "confusion_matrix.png", "top_output.png", "export", "member_1",
            "member_2"} <= _files(wd)
    assert len(m["member_test_accuracy"]) == 2 and m["export_max_abs_diff"] < 1e-5
    loaded = export.load(wd / "export")
    out = loaded.serve(np.zeros((2, 28, 28), np.float32))
    assert out["label"].numpy()[0].decode() in "ABCDEFGHIJ"
    assert json.loads((wd / "config.json").read_text())["filters"] == [4]


def test_optimization_app_smoke(tmp_path, mini_vision):
    wd = tmp_path / "opt"
    # The optimisation study runs in test_vision_models.py's trend test; here the dropout one.
    m = run_with_page("optimization", wd, mini_vision, "--config=dropout",
                      "--config.train_size=200", "--config.test_size=50", "--config.depth=2",
                      "--config.dropout_width=8", "--config.epochs=2", "--config.batch_size=100",
                      figures=["dropout_loss.png", "dropout_accuracy.png"])
    assert {"dropout_loss.png", "dropout_accuracy.png", "history.json", "tensorboard"} \
        <= _files(wd)
    assert len(m["dropout_final"]) == 4 and "final_training_loss" not in m
    curves = json.loads((wd / "history.json").read_text())
    assert len(curves["dropout"]["relu+He+dropout"]["val_loss"]) == 2


def test_backprop_app_smoke(tmp_path, mini_vision):
    wd = tmp_path / "bp"
    m = run_with_page("backprop", wd, mini_vision, "--config.train_size=200",
                      "--config.test_size=50", "--config.epochs=2", "--config.batch_size=50",
                      "--config.learning_rate=0.1", figures=["backprop_sgd.png",
                      "backprop_rmsprop.png", "backprop_accuracy.png"])
    assert {"backprop_sgd.png", "backprop_rmsprop.png", "backprop_accuracy.png",
            "numpy_weights.npz", "history.json", "tensorboard"} <= _files(wd)
    assert m["gradient_check_max_relative_error"] < 1e-6
    assert m["max_relative_loss_gap_numpy_vs_keras_sgd"] < 0.01


def test_bad_flags_raise_input_error(tmp_path, mini_vision):
    with pytest.raises(InputError, match="--config.epochs must be a positive integer"):
        run_app("mnist", tmp_path / "a", mini_vision, "--config.epochs=0")
    with pytest.raises(InputError, match="--data_dir does not exist"):
        run_app("notmnist", tmp_path / "b", tmp_path / "nowhere")
    with pytest.raises(InputError, match="--config.filters must be a comma-separated list"):
        run_app("notmnist", tmp_path / "c", mini_vision, "--config.filters=a,b")
    with pytest.raises(InputError, match="takes no arguments"):
        run_app("backprop", tmp_path / "d", mini_vision, "extra")
    assert not any((tmp_path / d / "metrics.json").exists() for d in "abcd")


@pytest.mark.parametrize("name", sorted(APPS))
def test_every_named_config_is_valid(name):
    from tfdl.vision import mnist, notmnist

    configs = APPS[name]
    assert {"default", "best"} <= set(configs.names())
    for n in configs.names():
        assert len(configs.describe(n)) <= 55, n  # one --help line each
        cfg = configs.get(n).validate()
        if name == "mnist":
            assert mnist.build_model(cfg).name == "mlp"
        if name == "notmnist":
            assert notmnist.build_member(cfg).name == "cnn_1"


def test_config_flags_are_the_named_config_plus_overrides():
    from tfdl import cli

    load_app("notmnist")
    assert "model" not in flags.FLAGS  # one model per app: --config picks the recipe
    for args, (ensemble, epochs, filters) in [
            ([], (5, 20, (16, 32))),  # default
            (["--config=cnn"], (1, 20, (16, 32))),
            (["--config.epochs=3", "--config=ensemble3"], (3, 3, (16, 32))),
            (["--config=best", "--config.filters=8,8,8"], (5, 20, (8, 8, 8)))]:
        flags.FLAGS.unparse_flags()
        cli.parse_flags(["notmnist", *args])
        cfg = cli.config()
        assert (cfg.ensemble, cfg.epochs, tuple(cfg.filters)) == (ensemble, epochs, filters), args
    flags.FLAGS.unparse_flags()
    load_app("optimization")
    for args, (study, epochs) in [([], ("both", 5)), (["--config=best"], ("both", 20)),
                                  (["--config=dropout", "--config.epochs=2"], ("dropout", 2))]:
        flags.FLAGS.unparse_flags()
        cli.parse_flags(["optimization", *args])
        assert (cli.config().study, cli.config().epochs) == (study, epochs), args
    flags.FLAGS.unparse_flags()
    assert APPS["notmnist"].get("cnn").epochs == 20  # the registry's recipes are never edited


def _cli(app_name, *args):
    env = {**os.environ, "TFDL_NO_DOWNLOAD": "1", "PYTHONPATH": str(ROOT)}
    env.pop("TF_CPP_MIN_LOG_LEVEL", None)  # the app itself must silence TensorFlow
    return subprocess.run([sys.executable, "-m", f"apps.{app_name}", *args], cwd=ROOT, env=env,
                          capture_output=True, text=True, timeout=300)


@pytest.mark.parametrize("name", sorted(APPS))
def test_help_lists_every_named_config_on_one_line(name):
    r = _cli(name, "--help")
    assert r.returncode == 0 and not r.stderr
    lines = r.stdout.splitlines()
    for n in APPS[name].names():
        row = [ln for ln in lines if ln.split()[:1] == [n]]
        assert len(row) == 1 and APPS[name].describe(n) in row[0], (name, n)


def test_cli_bad_flags_one_line_and_nonzero_exit(tmp_path):
    for app_name, args, message in [
            ("mnist", ["--config.epochs=0"], "error: --config.epochs must be a positive integer. "
                                             "Received: --config.epochs=0"),
            ("mnist", ["--config=nope"],
             "unknown mnist config 'nope'; choose one of default, best"),
            ("notmnist", ["--config.nope=1"], "--config.nope: the notmnist config has no field"),
            ("optimization", ["--config.study=all"], "--config.study must be one of optimization"),
            ("backprop", ["--config.epochs=x"], "--config.epochs=x: invalid literal for int()")]:
        if app_name == "mnist" and args == ["--config.epochs=0"]:  # the real exit status
            r = _cli(app_name, *args, f"--workdir={tmp_path / 'wd'}")
            code, lines, err = r.returncode, r.stderr.strip().splitlines(), r.stderr
        else:  # the same `cli.run`, in this process (a TensorFlow import saved per case)
            code, lines = app_error(app_name, *args, f"--workdir={tmp_path / 'wd'}")
            err = "\n".join(lines)
        assert code == 2, (app_name, args, err)
        assert len(lines) == 1 and lines[0].startswith("error: ") and message in lines[0], lines
        assert "Traceback" not in err and "oneDNN" not in err
    assert not (tmp_path / "wd" / "metrics.json").exists()


def test_cli_model_flag_of_an_app_without_models_is_one_line_error(tmp_path):
    """The vision apps have no --model (one model each): giving it is a bad flag, not a crash."""
    code, lines = app_error("backprop", "--model=reference", f"--workdir={tmp_path / 'wd'}")
    assert code == 2, lines
    assert len(lines) == 1 and lines[0].startswith("error: ") and "model" in lines[0], lines
    assert not (tmp_path / "wd").exists()


def test_cli_bad_idx_file_is_one_line_error(tmp_path):
    """The command line (`cli.run`, in this process): a corrupt IDX file -> `error: ...`
    naming it, exit 2."""
    folder = tmp_path / "mnist"
    idx.write_idx(folder / "t10k-labels-idx1-ubyte.gz", np.zeros(10, np.uint8))
    bad = folder / "t10k-images-idx3-ubyte.gz"
    idx.write_idx(bad, np.zeros((10, 28, 28), np.uint8))
    bad.write_bytes(bad.read_bytes()[:-30])
    code, lines = app_error("mnist", f"--data_dir={tmp_path}", f"--workdir={tmp_path / 'run'}")
    assert code == 2, lines
    last = lines[-1]
    assert last.startswith("error: ") and str(bad) in last
