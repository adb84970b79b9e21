"""The reference's optimisation and dropout studies on MNIST ("Adult Optimization").

* `optimization_study`: one MLP per (optimiser, activation, initialiser);
  training-loss curves.
* `dropout_study`: four set-ups with and without dropout, Adam; train and
  test curves.
* `run(cfg, workdir, data_dir)`: what `python -m apps.optimization` calls;
  it writes config.json, history.json (all curves), optimization_sgd.png,
  optimization_adam.png, dropout_loss.png, dropout_accuracy.png, tensorboard/
  (one run per set-up) and, last, metrics.json (final values). No SavedModel:
  the curves are the product.
"""

import math
import time

import keras
import numpy as np

from tfdl import cli
from tfdl.vision import data as vision_data
from tfdl.vision import model as vision_models
from tfdl.vision import visualize
from tfdl.vision.train import compile_classifier
from tfdl.workdir import Workdir

# (activation, initializer) set-ups of the optimisation study, in the reference's order.
SETUPS = (("sigmoid", "normal"), ("sigmoid", "xavier"), ("relu", "normal"), ("relu", "xavier"),
          ("relu", "he"))
# (activation, initializer, dropout?) set-ups of the dropout study.
DROPOUT_SETUPS = (("sigmoid", "xavier", False), ("sigmoid", "xavier", True),
                  ("relu", "he", False), ("relu", "he", True))


def setup_name(activation, initializer, dropout=None):
    """"relu+He", "sigmoid+N(0,0.01)", "relu+He+dropout", ..."""
    init = {"normal": "N(0,0.01)", "xavier": "Xavier", "he": "He"}[initializer]
    name = f"{activation}+{init}"
    if dropout is not None:
        name += "+dropout" if dropout else ""
    return name


def _clean(values):
    """Floats with NaN/inf as None (JSON cannot hold NaN; a diverged run shows as a gap)."""
    return [float(v) if math.isfinite(v) else None for v in values]


def _final(curve):
    v = curve[-1] if curve else None
    return float("inf") if v is None else v


def _tb(root, *parts):
    if root is None:
        return []
    return [keras.callbacks.TensorBoard(str(root.joinpath(*parts)), write_graph=False,
                                        profile_batch=0)]


def optimization_study(x_train, y_train, *, optimizers=("sgd", "adam"), setups=SETUPS, depth=5,
                       width=512, epochs=10, batch_size=128, sgd_learning_rate=1.0,
                       adam_learning_rate=1e-3, seed=0, verbose=0, tensorboard_dir=None):
    """Trains one MLP per (optimiser, activation, initialiser) and returns training-loss curves.

    Every run starts from `keras.utils.set_random_seed(seed)`, so all see the
    same data order. SGD is plain (no momentum), as the reference asks.

    Args:
        x_train: uint8/float images [n, 28, 28] (raw pixels), y_train: int labels [n].
        optimizers: subset of ("sgd", "adam").
        setups: (activation, initializer) pairs (see `SETUPS`).
        depth, width: the MLP (5 x 512 in the reference).
        epochs, batch_size: training length.
        sgd_learning_rate, adam_learning_rate: step sizes (1.0 and Keras' default).
        seed: seed of initialisation and shuffling.
        verbose: Keras' `fit` verbosity (also prints each run's final loss).
        tensorboard_dir: a Path for per-run TensorBoard logs, or None.

    Returns:
        {optimizer: {setup name: [training loss per epoch (None where it diverged)]}}.
    """
    x = np.asarray(x_train, np.float32)
    y = np.asarray(y_train)
    out = {}
    for opt in optimizers:
        lr = sgd_learning_rate if opt == "sgd" else adam_learning_rate
        out[opt] = {}
        for act, init in setups:
            name = setup_name(act, init)
            keras.utils.set_random_seed(seed)
            model = vision_models.MODELS.build("mlp", depth=depth, width=width, activation=act,
                                               initializer=init)
            compile_classifier(model, opt, lr)
            hist = model.fit(x, y, batch_size=batch_size, epochs=epochs, verbose=verbose,
                             callbacks=_tb(tensorboard_dir, opt, name.replace("+", "_")))
            out[opt][name] = _clean(hist.history["loss"])
            if verbose:
                print(f"{opt:4s} {name:20s} final training loss {_final(out[opt][name]):.4f}")
    return out


def dropout_study(x_train, y_train, x_test, y_test, *, setups=DROPOUT_SETUPS, depth=5, width=1024,
                  epochs=10, batch_size=128, learning_rate=1e-3, input_dropout=0.2, dropout=0.5,
                  seed=0, verbose=0, tensorboard_dir=None):
    """Trains the four dropout set-ups with Adam; returns train and test curves.

    Dropout follows the reference: `input_dropout` on the input pixels and
    `dropout` on the input of every later layer.

    Returns:
        {setup name: {"loss", "accuracy", "val_loss", "val_accuracy": per-epoch
        lists}}, where val_* are measured on (x_test, y_test).
    """
    x, y = np.asarray(x_train, np.float32), np.asarray(y_train)
    xt, yt = np.asarray(x_test, np.float32), np.asarray(y_test)
    out = {}
    for act, init, use in setups:
        name = setup_name(act, init, use)
        keras.utils.set_random_seed(seed)
        model = vision_models.MODELS.build(
            "mlp", depth=depth, width=width, activation=act, initializer=init,
            dropout=dropout if use else 0.0, input_dropout=input_dropout if use else 0.0)
        compile_classifier(model, "adam", learning_rate)
        hist = model.fit(x, y, batch_size=batch_size, epochs=epochs, verbose=verbose,
                         validation_data=(xt, yt),
                         callbacks=_tb(tensorboard_dir, "dropout", name.replace("+", "_")))
        out[name] = {k: _clean(hist.history[k])
                     for k in ("loss", "accuracy", "val_loss", "val_accuracy")}
    return out


def _optimization_part(cfg, data, wd):
    """The optimisation study and its two figures: (curves, metrics)."""
    opt = optimization_study(data.x_train, data.y_train, depth=cfg.depth, width=cfg.width,
                             epochs=cfg.epochs, batch_size=cfg.batch_size,
                             sgd_learning_rate=cfg.sgd_learning_rate,
                             adam_learning_rate=cfg.adam_learning_rate, seed=cfg.seed,
                             verbose=2, tensorboard_dir=wd.tensorboard)
    for name, series in opt.items():
        lr = cfg.sgd_learning_rate if name == "sgd" else cfg.adam_learning_rate
        visualize.curves(series, wd.path(f"optimization_{name}.png"),
                         f"{cfg.depth} x {cfg.width} MLP, {name.upper()} (lr {lr}): "
                         f"training loss", ylabel="training loss")
    return opt, {"final_training_loss": {o: {s: c[-1] for s, c in d.items()}
                                         for o, d in opt.items()}}


def _dropout_part(cfg, data, wd):
    """The dropout study and its two figures: (curves, metrics)."""
    drop = dropout_study(data.x_train, data.y_train, data.x_test, data.y_test,
                         depth=cfg.depth, width=cfg.dropout_width, epochs=cfg.epochs,
                         batch_size=cfg.batch_size, learning_rate=cfg.adam_learning_rate,
                         seed=cfg.seed, verbose=2, tensorboard_dir=wd.tensorboard)
    for key in ("loss", "accuracy"):
        series, styles = {}, {}
        for i, (name, h) in enumerate(drop.items()):
            series[f"{name} train"] = h[key]
            series[f"{name} test"] = h[f"val_{key}"]
            # One colour per set-up: train solid, test dashed.
            styles[f"{name} train"] = {"color": f"C{i}"}
            styles[f"{name} test"] = {"color": f"C{i}", "linestyle": "--"}
        visualize.curves(series, wd.path(f"dropout_{key}.png"),
                         f"{cfg.depth} x {cfg.dropout_width} MLP, Adam: train (solid) and "
                         f"test (dashed) {key}", ylabel=key, styles=styles)
    best = {n: max([v for v in h["val_accuracy"] if v is not None], default=None)
            for n, h in drop.items()}
    return drop, {"dropout_final": {n: {k: v[-1] for k, v in h.items()}
                                    for n, h in drop.items()},
                  "dropout_best_test_accuracy": best}


def _summary(m, wd):
    rows = [("data", m["data_source"])]
    for opt, finals in m.get("final_training_loss", {}).items():
        for name, v in finals.items():
            rows.append((f"{opt} {name}", "diverged" if v is None else f"final loss {v:.4f}"))
    for name, v in m.get("dropout_best_test_accuracy", {}).items():
        rows.append((f"adam {name}", "diverged" if v is None else f"best test accuracy {v:.4f}"))
    rows += [("figures", f"{wd.root}/*.png"), ("metrics", f"{wd.root}/metrics.json"),
             ("TensorBoard", f"tensorboard --logdir {wd.tensorboard}")]
    cli.summary("optimisation / dropout study", rows)


def run(cfg, workdir="runs/optimization", data_dir=None, restart=False):
    """Runs the optimisation and/or dropout study, draws their figures, prints a summary.

    Args:
        cfg: an `OptimizationConfig` (validated here).
        workdir: the run's folder.
        data_dir: the MNIST folder or its parent (None: `$TFDL_DATA_DIR`, ...).
        restart: clear what an interrupted run of another config left in `workdir`.

    Returns:
        The metrics dict written, last, to `<workdir>/metrics.json`.
    """
    cfg.validate()
    t0 = time.time()
    data = vision_data.load_run(cfg, "mnist", data_dir)
    wd = Workdir(workdir)
    wd.write_config(cfg, restart)
    curves, m = {}, {"data_source": data.source}
    if cfg.study in ("optimization", "both"):
        curves["optimization"], part = _optimization_part(cfg, data, wd)
        m.update(part)
    if cfg.study in ("dropout", "both"):
        curves["dropout"], part = _dropout_part(cfg, data, wd)
        m.update(part)
    wd.write_json("history.json", curves)
    m["seconds"] = time.time() - t0
    wd.write_json("metrics.json", m)
    _summary(m, wd)
    return m
