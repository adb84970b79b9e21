"""Backpropagation from scratch: the NumPy MLP against the same network in Keras.

`run(cfg, workdir, data_dir)` is what `python -m apps.backprop` calls: a
finite-difference gradient check of the NumPy MLP, then the NumPy MLP and its
Keras twin trained with plain SGD from the same weights on the same batches,
and a second twin with RMSprop. It writes config.json, history.json (all
curves), backprop_sgd.png (NumPy vs Keras SGD losses), backprop_rmsprop.png
(NumPy SGD vs Keras RMSprop), backprop_accuracy.png, numpy_weights.npz (the
trained NumPy model), tensorboard/ (scalar curves of all three) and, last,
metrics.json.
"""

import time

import keras
import numpy as np
import tensorflow as tf

from tfdl import cli
from tfdl.vision import data as vision_data
from tfdl.vision import visualize
from tfdl.vision.numpy_mlp import NumpyMLP, gradient_check
from tfdl.workdir import Workdir

GRAD_CHECK_EXAMPLES = 32  # examples in the finite-difference gradient check
# NumPy curves as markers over Keras lines: with identical weights they coincide.
_NUMPY_STYLE = {"NumPy SGD train": {"marker": "o", "markersize": 4, "linestyle": "none"},
                "NumPy SGD test": {"marker": "s", "markersize": 4, "linestyle": "none"}}
_RUNS = (("numpy", "NumPy SGD"), ("keras_sgd", "Keras SGD"), ("keras_rmsprop", "Keras RMSprop"))


def backprop_comparison(x, y, x_test, y_test, *, epochs, batch_size, learning_rate,
                        rmsprop_learning_rate=1e-3, init_seed=0, verbose=0):
    """Trains the NumPy MLP and its Keras twin (plain SGD, and RMSprop) from the same weights.

    Both see the data in the same order (no shuffling) with the same batch
    size, learning rate and epochs.

    Args:
        x, x_test: [n, 784] float pixels in 0..1; y, y_test: int labels.

    Returns:
        dict of histories: "numpy", "keras_sgd", "keras_rmsprop" (each with
        loss, accuracy, val_loss, val_accuracy per epoch) and
        "max_relative_loss_gap" (max over epochs of |numpy - keras| / keras
        training loss) and "max_relative_val_loss_gap".
    """
    net = NumpyMLP(seed=init_seed)
    start = net.get_weights()
    out = {}
    for name, opt in (("keras_sgd", keras.optimizers.SGD(learning_rate)),
                      ("keras_rmsprop", keras.optimizers.RMSprop(rmsprop_learning_rate))):
        twin = net.keras_twin()
        twin.compile(optimizer=opt, loss="sparse_categorical_crossentropy", metrics=["accuracy"])
        h = twin.fit(x.astype(np.float32), y, batch_size=batch_size, epochs=epochs, shuffle=False,
                     validation_data=(x_test.astype(np.float32), y_test), verbose=verbose)
        out[name] = {k: [float(v) for v in vals] for k, vals in h.history.items()}
    net.set_weights(start)
    out["numpy"] = net.fit(x, y, epochs, batch_size, learning_rate, x_test, y_test)
    ks, ns = out["keras_sgd"], out["numpy"]
    out["max_relative_loss_gap"] = max(abs(a - b) / b for a, b in zip(ns["loss"], ks["loss"]))
    out["max_relative_val_loss_gap"] = max(abs(a - b) / b
                                           for a, b in zip(ns["val_loss"], ks["val_loss"]))
    out["numpy_model"] = net
    return out


def _figures(cfg, res, wd):
    """The three curve figures and the TensorBoard scalars of all three runs."""
    n, ks, kr = res["numpy"], res["keras_sgd"], res["keras_rmsprop"]
    visualize.curves({"NumPy SGD train": n["loss"], "NumPy SGD test": n["val_loss"],
                      "Keras SGD train": ks["loss"], "Keras SGD test": ks["val_loss"]},
                     wd.path("backprop_sgd.png"),
                     f"784-100-50-10, SGD lr {cfg.learning_rate}, batch {cfg.batch_size}: "
                     f"cross-entropy", ylabel="cross-entropy", styles=_NUMPY_STYLE)
    visualize.curves({"NumPy SGD train": n["loss"], "NumPy SGD test": n["val_loss"],
                      "Keras RMSprop train": kr["loss"], "Keras RMSprop test": kr["val_loss"]},
                     wd.path("backprop_rmsprop.png"),
                     f"NumPy SGD vs Keras RMSprop (lr {cfg.rmsprop_learning_rate})",
                     ylabel="cross-entropy", styles=_NUMPY_STYLE)
    visualize.curves({f"{name} {part}": res[key][metric] for key, name in _RUNS
                      for part, metric in (("train", "accuracy"), ("test", "val_accuracy"))},
                     wd.path("backprop_accuracy.png"), "accuracy", ylabel="accuracy")
    writer = tf.summary.create_file_writer(str(wd.tensorboard))
    with writer.as_default():
        for key, _ in _RUNS:
            for metric, values in res[key].items():
                for step, v in enumerate(values):
                    tf.summary.scalar(f"{key}/{metric}", v, step=step + 1)
    writer.flush()


def _summary(m, wd):
    f = m["final"]

    def three(metric):
        return ", ".join(f"{name} {f[key][metric]:.4f}" for key, name in
                         (("numpy", "NumPy"), ("keras_sgd", "Keras SGD"),
                          ("keras_rmsprop", "Keras RMSprop")))

    cli.summary("backprop from scratch", [
        ("data", m["data_source"]),
        ("gradient check", f"max relative error {m['gradient_check_max_relative_error']:.2e}"),
        ("NumPy vs Keras SGD", f"largest per-epoch training-loss gap "
                               f"{100 * m['max_relative_loss_gap_numpy_vs_keras_sgd']:.3f} %"),
        ("final train loss", three("loss")),
        ("final test accuracy", three("val_accuracy")),
        ("figures", f"{wd.root}/backprop_{{sgd,rmsprop,accuracy}}.png"),
        ("metrics", f"{wd.root}/metrics.json"),
        ("TensorBoard", f"tensorboard --logdir {wd.tensorboard}")])


def run(cfg, workdir="runs/backprop", data_dir=None, restart=False):
    """Gradient check, then NumPy vs Keras SGD and Keras RMSprop; figures and a summary.

    Args:
        cfg: a `BackpropConfig` (validated here); `cfg.seed` seeds the split and
            the shared initial weights.
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
    x = vision_data.flat(data.x_train).astype(np.float64)
    xt = vision_data.flat(data.x_test).astype(np.float64)
    k = min(GRAD_CHECK_EXAMPLES, len(x))
    check = gradient_check(NumpyMLP(seed=cfg.seed), x[:k], data.y_train[:k])
    print(f"gradient check: max relative error {check['max_relative_error']:.2e}")
    res = backprop_comparison(x, data.y_train, xt, data.y_test, epochs=cfg.epochs,
                              batch_size=cfg.batch_size, learning_rate=cfg.learning_rate,
                              rmsprop_learning_rate=cfg.rmsprop_learning_rate,
                              init_seed=cfg.seed, verbose=2)
    np.savez(wd.path("numpy_weights.npz"), *res.pop("numpy_model").get_weights())
    _figures(cfg, res, wd)
    wd.write_json("history.json", res)
    m = {"gradient_check_max_relative_error": check["max_relative_error"],
         "gradient_check_per_array": check["per_array"],
         "max_relative_loss_gap_numpy_vs_keras_sgd": res["max_relative_loss_gap"],
         "max_relative_test_loss_gap_numpy_vs_keras_sgd": res["max_relative_val_loss_gap"],
         "final": {key: {metric: v[-1] for metric, v in res[key].items()} for key, _ in _RUNS},
         "num_train": int(len(x)), "num_test": int(len(xt)), "data_source": data.source,
         "seconds": time.time() - t0}
    wd.write_json("metrics.json", m)
    _summary(m, wd)
    return m
