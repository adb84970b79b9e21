"""The vision experiments as library functions: each app is one call into here.

* `optimization_study` / `dropout_study`: the reference's initialisation x
  activation x optimiser and dropout comparisons; they return loss curves.
* `run_mnist`, `run_notmnist`, `run_backprop`, `run_optimization`: the
  end-to-end runs behind `apps/mnist.py`, `apps/notmnist.py`,
  `apps/backprop.py` and `apps/optimization.py`, writing a `Workdir`
  (config.json, history.json, figures, TensorBoard, SavedModel where a model
  is the product, metrics.json last).

Image models take raw pixels, float32 [batch, 28, 28] in 0..255, and the
SavedModels export exactly that signature (`tf.TensorSpec([None, 28, 28],
tf.float32)`): a client sends `uint8_image.astype("float32")`.
"""

import dataclasses
import math
import time

import keras
import numpy as np
import tensorflow as tf

from tfdl import export as tfdl_export
from tfdl import metrics as tfdl_metrics
from tfdl import cli, plots, train, visualize
from tfdl.datasets import vision as vision_data
from tfdl.errors import InputError
from tfdl.models import vision as vision_models
from tfdl.numpy_mlp import NumpyMLP, gradient_check
from tfdl.workdir import Workdir

IMAGE_SPEC = [tf.TensorSpec([None, 28, 28], tf.float32, name="pixels")]

# (activation, initializer) set-ups of the optimisation study, in the reference's order.
SETUPS = (("sigmoid", "normal"), ("sigmoid", "xavier"), ("relu", "normal"), ("relu", "xavier"),
          ("relu", "he"))
# (activation, initializer, dropout?) set-ups of the dropout study.
DROPOUT_SETUPS = (("sigmoid", "xavier", False), ("sigmoid", "xavier", True),
                  ("relu", "he", False), ("relu", "he", True))
STUDIES = ("optimization", "dropout", "both")


def setup_name(activation, initializer, dropout=None):
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


def _flat(x):
    return np.asarray(x, np.float32).reshape(len(x), -1) / 255.0


def _compile(model, optimizer, learning_rate, schedule="constant", decay_steps=None):
    model.compile(optimizer=train.make_optimizer(optimizer, learning_rate, schedule, decay_steps),
                  loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    return model


def _tb(root, *parts):
    if root is None:
        return []
    return [keras.callbacks.TensorBoard(str(root.joinpath(*parts)), write_graph=False,
                                        profile_batch=0)]


# ---------------------------------------------------------------------------
# Studies
# ---------------------------------------------------------------------------
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
            _compile(model, opt, lr)
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
        _compile(model, "adam", learning_rate)
        hist = model.fit(x, y, batch_size=batch_size, epochs=epochs, verbose=verbose,
                         validation_data=(xt, yt),
                         callbacks=_tb(tensorboard_dir, "dropout", name.replace("+", "_")))
        out[name] = {k: _clean(hist.history[k])
                     for k in ("loss", "accuracy", "val_loss", "val_accuracy")}
    return out


# ---------------------------------------------------------------------------
# Configs (the apps fill these from flags)
# ---------------------------------------------------------------------------
def _positive(name, value):
    if value is None or value <= 0:
        raise InputError(f"--{name} must be positive. Received: --{name}={value}")


def _fraction(name, value, low_inclusive=False):
    ok = (0 <= value < 1) if low_inclusive else (0 < value < 1)
    if not ok:
        raise InputError(f"--{name} must be in {'[0' if low_inclusive else '(0'}, 1). "
                         f"Received: --{name}={value}")


@dataclasses.dataclass(frozen=True)
class DataConfig:
    """Fields shared by the vision apps."""

    data_dir: str = ""
    test_fraction: float = 0.2  # used when only one IDX pair is present (10k -> 8k/2k)
    train_size: int = 0  # 0 = all; smaller for smoke runs
    test_size: int = 0
    seed: int = 0

    def validate_data(self):
        _fraction("test_fraction", self.test_fraction)
        for name in ("train_size", "test_size"):
            if getattr(self, name) < 0:
                raise InputError(f"--{name} must be >= 0 (0 = all). Received: "
                                 f"--{name}={getattr(self, name)}")

    def load(self, name):
        data = vision_data.load(name, self.data_dir or None, self.test_fraction, self.seed)
        return data.subset(self.train_size or None, self.test_size or None, self.seed)


@dataclasses.dataclass(frozen=True)
class MNISTConfig(DataConfig):
    depth: int = 5
    width: int = 1024
    activation: str = "relu"
    initializer: str = "he"
    dropout: float = 0.3
    input_dropout: float = 0.2
    shift: float = 0.1  # training-only RandomTranslation (fraction of 28 px)
    rotation: float = 0.0
    optimizer: str = "adam"
    learning_rate: float = 1e-3
    schedule: str = "cosine"  # over all `epochs`; early stopping may end sooner
    epochs: int = 40
    batch_size: int = 128
    patience: int = 10
    val_fraction: float = 0.1
    embed_samples: int = 1000
    tsne: bool = True
    tsne_iter: int = 500
    steps_per_epoch: int = 0  # 0 = a full pass

    def validate(self):
        self.validate_data()
        for name in ("depth", "width", "epochs", "batch_size", "learning_rate",
                     "embed_samples", "tsne_iter"):
            _positive(name, getattr(self, name))
        for name in ("dropout", "input_dropout", "shift", "rotation"):
            _fraction(name, getattr(self, name), low_inclusive=True)
        _fraction("val_fraction", self.val_fraction)
        cli.check_choice("activation", self.activation, vision_models.ACTIVATIONS)
        cli.check_choice("initializer", self.initializer, vision_models.INITIALIZERS)
        cli.check_choice("schedule", self.schedule, train.SCHEDULES)
        cli.check_choice("optimizer", self.optimizer, train.OPTIMIZERS)
        return self


@dataclasses.dataclass(frozen=True)
class NotMNISTConfig(DataConfig):
    ensemble: int = 5  # 3 reached 94.85 % on the 8k/2k split, 5 reached 95.25 %
    filters: tuple = (16, 32)
    dense: int = 256
    dropout: float = 0.4
    conv_dropout: float = 0.1
    l2: float = 1e-4
    shift: float = 0.1
    rotation: float = 0.04  # fraction of a full turn: about +-14 degrees
    learning_rate: float = 2e-3
    schedule: str = "cosine"
    epochs: int = 20
    batch_size: int = 128
    patience: int = 10  # with the cosine schedule the last, low-lr epochs matter most
    val_fraction: float = 0.1
    steps_per_epoch: int = 0

    def validate(self):
        self.validate_data()
        for name in ("ensemble", "dense", "epochs", "batch_size", "learning_rate", "patience"):
            _positive(name, getattr(self, name))
        if not self.filters or any(f <= 0 for f in self.filters):
            raise InputError(f"--filters must be positive integers. Received: "
                             f"--filters={','.join(map(str, self.filters))}")
        for name in ("dropout", "conv_dropout", "shift", "rotation", "l2"):
            _fraction(name, getattr(self, name), low_inclusive=True)
        _fraction("val_fraction", self.val_fraction)
        cli.check_choice("schedule", self.schedule, train.SCHEDULES)
        return self


@dataclasses.dataclass(frozen=True)
class OptimizationConfig(DataConfig):
    study: str = "both"
    depth: int = 5
    width: int = 512
    dropout_width: int = 1024
    epochs: int = 20
    dropout_epochs: int = 20
    batch_size: int = 128
    sgd_learning_rate: float = 1.0
    adam_learning_rate: float = 1e-3

    def validate(self):
        self.validate_data()
        cli.check_choice("study", self.study, STUDIES)
        for name in ("depth", "width", "dropout_width", "epochs", "dropout_epochs", "batch_size",
                     "sgd_learning_rate", "adam_learning_rate"):
            _positive(name, getattr(self, name))
        return self


@dataclasses.dataclass(frozen=True)
class BackpropConfig(DataConfig):
    epochs: int = 50
    batch_size: int = 100
    learning_rate: float = 0.05
    rmsprop_learning_rate: float = 1e-3
    init_seed: int = 0
    grad_check_examples: int = 32

    def validate(self):
        self.validate_data()
        for name in ("epochs", "batch_size", "learning_rate", "rmsprop_learning_rate",
                     "grad_check_examples"):
            _positive(name, getattr(self, name))
        return self


# ---------------------------------------------------------------------------
# End-to-end runs
# ---------------------------------------------------------------------------
def _train_val(data, val_fraction, seed):
    tr, va = vision_data.stratified_split(data.y_train, val_fraction, seed)
    return (data.x_train[tr], data.y_train[tr]), (data.x_train[va], data.y_train[va])


def _steps(n, batch_size, cap=0):
    steps = math.ceil(n / batch_size)
    return min(steps, cap) if cap else steps


def _datasets(train_xy, val_xy, batch_size, seed):
    (x, y), (xv, yv) = train_xy, val_xy
    tds = (tf.data.Dataset.from_tensor_slices((x.astype(np.float32), y))
           .shuffle(len(y), seed=seed, reshuffle_each_iteration=True)
           .batch(batch_size).prefetch(tf.data.AUTOTUNE))
    vds = tf.data.Dataset.from_tensor_slices((xv.astype(np.float32), yv)).batch(512)
    return tds, vds


def _export_and_check(model, wd, labels, x_check):
    """Exports the SavedModel and returns the max |probability| difference after reloading."""
    tfdl_export.export_classifier(model, wd.export, labels, input_signature=IMAGE_SPEC)
    loaded = tfdl_export.load(wd.export)
    served = loaded.serve(tf.constant(x_check, tf.float32))["probabilities"].numpy()
    direct = model.predict(x_check, verbose=0)
    return float(np.max(np.abs(served - direct)))


def _evaluate(model, data, wd, title):
    probs = model.predict(data.x_test.astype(np.float32), batch_size=512, verbose=0)
    report = tfdl_metrics.classification_report(data.y_test, probs.argmax(1), data.labels)
    png = plots.confusion_matrix(report["confusion_matrix"], data.labels,
                                 wd.path("confusion_matrix.png"),
                                 f"{title}: test accuracy {report['accuracy']:.4f}")
    train.log_image(wd, "confusion_matrix", png)
    return probs, report


def run_mnist(cfg: MNISTConfig, workdir):
    """Trains the MNIST MLP, evaluates it, draws the top-image grids and embeddings, exports.

    Writes into `workdir`: config.json, history.json, training_curves.png,
    confusion_matrix.png, top_output.png (10 best test images per class),
    top_hidden.png (10 random units of the last hidden layer), pca.png and
    tsne.png (raw pixels and every layer, `embed_samples` test images),
    tensorboard/, export/ (SavedModel, raw-pixel input), metrics.json last.

    Returns:
        the metrics dict.
    """
    cfg.validate()
    wd = Workdir(workdir)
    wd.write_json("config.json", cfg)
    keras.utils.set_random_seed(cfg.seed)
    t0 = time.time()
    data = cfg.load("mnist")
    print(f"data: {data.source}; train {len(data.y_train)}, test {len(data.y_test)}")
    train_xy, val_xy = _train_val(data, cfg.val_fraction, cfg.seed)
    tds, vds = _datasets(train_xy, val_xy, cfg.batch_size, cfg.seed)
    model = vision_models.MODELS.build(
        "mlp", num_classes=len(data.labels), depth=cfg.depth, width=cfg.width,
        activation=cfg.activation, initializer=cfg.initializer, dropout=cfg.dropout,
        input_dropout=cfg.input_dropout, shift=cfg.shift, rotation=cfg.rotation)
    _compile(model, cfg.optimizer, cfg.learning_rate, cfg.schedule,
             cfg.epochs * _steps(len(train_xy[1]), cfg.batch_size, cfg.steps_per_epoch))
    history = train.fit(model, tds, vds, workdir=wd, epochs=cfg.epochs, batch_size=cfg.batch_size,
                        patience=cfg.patience, steps_per_epoch=cfg.steps_per_epoch or None,
                        examples_per_epoch=len(train_xy[1]))
    plots.training_curves(history, wd.path("training_curves.png"), "MNIST MLP")
    probs, report = _evaluate(model, data, wd, "MNIST MLP")

    # Top-image grids and embeddings on the first `embed_samples` test images.
    n = min(cfg.embed_samples, len(data.y_test))
    x_emb, y_emb = data.x_test[:n], data.y_test[:n]
    feat_model, names = vision_models.hidden_activations(model)
    feats = feat_model.predict(x_emb.astype(np.float32), batch_size=512, verbose=0)
    feats = feats if isinstance(feats, list) else [feats]
    rows = visualize.top_images(feats[-1])
    visualize.image_grid(x_emb, rows, data.labels, wd.path("top_output.png"),
                         "10 test images with the highest probability, per class")
    rng = np.random.default_rng(cfg.seed)
    last_hidden = feats[-2] if len(feats) > 1 else feats[-1]
    units = np.sort(rng.choice(last_hidden.shape[1], size=min(10, last_hidden.shape[1]),
                               replace=False))
    hidden_rows = visualize.top_images(last_hidden, units)
    visualize.image_grid(x_emb, hidden_rows, [f"unit {u}" for u in units],
                         wd.path("top_hidden.png"),
                         f"{names[-2] if len(names) > 1 else names[-1]}: 10 random units, "
                         f"images each unit wins")
    layers = [("pixels", x_emb.reshape(n, -1) / 255.0)] + list(zip(names, feats))
    methods = ["pca"] + (["tsne"] if cfg.tsne else [])
    for method in methods:
        t = time.time()
        panels = [(name, visualize.embed(f, method, cfg.seed, cfg.tsne_iter)) for name, f in layers]
        visualize.embedding_figure(panels, y_emb, data.labels, wd.path(f"{method}.png"),
                                   f"{method.upper()} of {n} test images, per layer")
        print(f"{method}: {len(layers)} layers in {time.time() - t:.1f} s")

    parity = _export_and_check(model, wd, data.labels, data.x_test[:64].astype(np.float32))
    metrics = {
        "test_accuracy": report["accuracy"],
        "num_train": int(len(train_xy[1])), "num_val": int(len(val_xy[1])),
        "num_test": int(len(data.y_test)), "data_source": data.source,
        "epochs_run": len(history.get("loss", [])),
        "best_val_accuracy": max(history.get("val_accuracy", [0.0])),
        "examples_per_sec": history["steady_examples_per_sec"],
        "hidden_row_lengths": [int(len(r)) for r in hidden_rows],
        "export_max_abs_diff": parity, "seconds": time.time() - t0,
        "per_class_accuracy": report["per_class_accuracy"],
        "confusion_matrix": report["confusion_matrix"],
    }
    train.log_hparams(wd, dataclasses.asdict(cfg), {"test_accuracy": report["accuracy"]})
    wd.write_json("metrics.json", metrics)
    return metrics


def run_notmnist(cfg: NotMNISTConfig, workdir):
    """Trains `cfg.ensemble` CNNs (seeds seed, seed+1, ...) and their average; exports the average.

    Each member trains in `workdir/member_<i>/` (history, checkpoint,
    TensorBoard) with Nadam and early stopping on validation accuracy
    (a stratified `val_fraction` of the training split). The workdir gets
    config.json, history.json (per member), training_curves.png,
    confusion_matrix.png (ensemble), top_output.png, export/ (the ensemble,
    raw-pixel input) and metrics.json last.
    """
    cfg.validate()
    wd = Workdir(workdir)
    wd.write_json("config.json", cfg)
    t0 = time.time()
    data = cfg.load("notmnist")
    print(f"data: {data.source}; train {len(data.y_train)}, test {len(data.y_test)}")
    train_xy, val_xy = _train_val(data, cfg.val_fraction, cfg.seed)
    xt = data.x_test.astype(np.float32)
    members, member_acc, histories = [], [], {}
    for i in range(cfg.ensemble):
        seed = cfg.seed + i
        keras.utils.set_random_seed(seed)
        tds, vds = _datasets(train_xy, val_xy, cfg.batch_size, seed)
        model = vision_models.MODELS.build(
            "cnn", num_classes=len(data.labels), filters=tuple(cfg.filters), dense=cfg.dense,
            dropout=cfg.dropout, conv_dropout=cfg.conv_dropout, l2=cfg.l2, shift=cfg.shift,
            rotation=cfg.rotation, seed=seed, model_name=f"cnn_{i + 1}")
        _compile(model, "nadam", cfg.learning_rate, cfg.schedule,
                 cfg.epochs * _steps(len(train_xy[1]), cfg.batch_size, cfg.steps_per_epoch))
        print(f"member {i + 1}/{cfg.ensemble} (seed {seed})")
        member_wd = Workdir(wd.root / f"member_{i + 1}")
        hist = train.fit(model, tds, vds, workdir=member_wd, epochs=cfg.epochs,
                         batch_size=cfg.batch_size, patience=cfg.patience,
                         steps_per_epoch=cfg.steps_per_epoch or None,
                         examples_per_epoch=len(train_xy[1]))
        acc = float(np.mean(model.predict(xt, batch_size=512, verbose=0).argmax(1) == data.y_test))
        member_wd.write_json("metrics.json", {"test_accuracy": acc})
        print(f"member {i + 1}: test accuracy {acc:.4f}")
        members.append(model)
        member_acc.append(acc)
        histories[f"member_{i + 1}"] = hist
    wd.write_json("history.json", histories)
    plots.training_curves(histories["member_1"], wd.path("training_curves.png"),
                          "notMNIST CNN (member 1)")
    model = vision_models.ensemble(members) if len(members) > 1 else members[0]
    probs, report = _evaluate(model, data, wd, f"notMNIST CNN ensemble of {len(members)}")
    visualize.image_grid(data.x_test, visualize.top_images(probs), data.labels,
                         wd.path("top_output.png"),
                         "10 test images with the highest probability, per class")
    parity = _export_and_check(model, wd, data.labels, xt[:64])
    metrics = {
        "test_accuracy": report["accuracy"],
        "member_test_accuracy": member_acc,
        "best_member_accuracy": max(member_acc),
        "ensemble_gain_over_best_member": report["accuracy"] - max(member_acc),
        "ensemble_gain_over_mean_member": report["accuracy"] - float(np.mean(member_acc)),
        "num_train": int(len(train_xy[1])), "num_val": int(len(val_xy[1])),
        "num_test": int(len(data.y_test)), "data_source": data.source,
        "epochs_run": [len(h.get("loss", [])) for h in histories.values()],
        "examples_per_sec": float(np.mean([h["steady_examples_per_sec"]
                                           for h in histories.values()])),
        "export_max_abs_diff": parity, "seconds": time.time() - t0,
        "per_class_accuracy": report["per_class_accuracy"],
        "confusion_matrix": report["confusion_matrix"],
    }
    train.log_hparams(wd, dataclasses.asdict(cfg), {"test_accuracy": report["accuracy"]})
    wd.write_json("metrics.json", metrics)
    return metrics


def run_optimization(cfg: OptimizationConfig, workdir):
    """Runs the optimisation and/or dropout study and draws their figures.

    Writes config.json, history.json (all curves), optimization_sgd.png,
    optimization_adam.png, dropout_loss.png, dropout_accuracy.png,
    tensorboard/ (one run per set-up) and metrics.json (final values) last.
    No SavedModel: the curves are the product.
    """
    cfg.validate()
    wd = Workdir(workdir)
    wd.write_json("config.json", cfg)
    t0 = time.time()
    data = cfg.load("mnist")
    print(f"data: {data.source}; train {len(data.y_train)}, test {len(data.y_test)}")
    curves, metrics = {}, {"data_source": data.source}
    if cfg.study in ("optimization", "both"):
        opt = optimization_study(data.x_train, data.y_train, depth=cfg.depth, width=cfg.width,
                                 epochs=cfg.epochs, batch_size=cfg.batch_size,
                                 sgd_learning_rate=cfg.sgd_learning_rate,
                                 adam_learning_rate=cfg.adam_learning_rate, seed=cfg.seed,
                                 verbose=2, tensorboard_dir=wd.tensorboard)
        curves["optimization"] = opt
        for name, series in opt.items():
            lr = cfg.sgd_learning_rate if name == "sgd" else cfg.adam_learning_rate
            visualize.curves(series, wd.path(f"optimization_{name}.png"),
                             f"{cfg.depth} x {cfg.width} MLP, {name.upper()} (lr {lr}): "
                             f"training loss", ylabel="training loss")
        metrics["final_training_loss"] = {o: {s: c[-1] for s, c in d.items()}
                                          for o, d in opt.items()}
    if cfg.study in ("dropout", "both"):
        drop = dropout_study(data.x_train, data.y_train, data.x_test, data.y_test,
                             depth=cfg.depth, width=cfg.dropout_width, epochs=cfg.dropout_epochs,
                             batch_size=cfg.batch_size, learning_rate=cfg.adam_learning_rate,
                             seed=cfg.seed, verbose=2, tensorboard_dir=wd.tensorboard)
        curves["dropout"] = drop
        for key, label in (("loss", "loss"), ("accuracy", "accuracy")):
            series, styles = {}, {}
            for i, (name, h) in enumerate(drop.items()):
                series[f"{name} train"] = h[key]
                series[f"{name} test"] = h[f"val_{key}"]
                # One colour per set-up: train solid, test dashed.
                styles[f"{name} train"] = {"color": f"C{i}"}
                styles[f"{name} test"] = {"color": f"C{i}", "linestyle": "--"}
            visualize.curves(series, wd.path(f"dropout_{key}.png"),
                             f"{cfg.depth} x {cfg.dropout_width} MLP, Adam: train (solid) and "
                             f"test (dashed) {label}", ylabel=label, styles=styles)
        metrics["dropout_final"] = {n: {k: v[-1] for k, v in h.items()} for n, h in drop.items()}
        metrics["dropout_best_test_accuracy"] = {
            n: max([v for v in h["val_accuracy"] if v is not None], default=None)
            for n, h in drop.items()}
    wd.write_json("history.json", curves)
    metrics["seconds"] = time.time() - t0
    wd.write_json("metrics.json", metrics)
    return metrics


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


# NumPy curves as markers over Keras lines: with identical weights they coincide.
_NUMPY_STYLE = {"NumPy SGD train": {"marker": "o", "markersize": 4, "linestyle": "none"},
                "NumPy SGD test": {"marker": "s", "markersize": 4, "linestyle": "none"}}


def run_backprop(cfg: BackpropConfig, workdir):
    """NumPy backprop MLP vs Keras (same weights, SGD) and Keras RMSprop; gradient check.

    Writes config.json, history.json (all curves), backprop_sgd.png (both
    loss curves), backprop_rmsprop.png, backprop_accuracy.png,
    numpy_weights.npz (the trained NumPy model), tensorboard/ (scalar curves
    of all three) and metrics.json last.
    """
    cfg.validate()
    wd = Workdir(workdir)
    wd.write_json("config.json", cfg)
    t0 = time.time()
    data = cfg.load("mnist")
    print(f"data: {data.source}; train {len(data.y_train)}, test {len(data.y_test)}")
    x, xt = _flat(data.x_train).astype(np.float64), _flat(data.x_test).astype(np.float64)
    check_net = NumpyMLP(seed=cfg.init_seed)
    k = min(cfg.grad_check_examples, len(x))
    check = gradient_check(check_net, x[:k], data.y_train[:k])
    print(f"gradient check: max relative error {check['max_relative_error']:.2e}")
    res = backprop_comparison(x, data.y_train, xt, data.y_test, epochs=cfg.epochs,
                              batch_size=cfg.batch_size, learning_rate=cfg.learning_rate,
                              rmsprop_learning_rate=cfg.rmsprop_learning_rate,
                              init_seed=cfg.init_seed, verbose=2)
    net = res.pop("numpy_model")
    np.savez(wd.path("numpy_weights.npz"), *net.get_weights())
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
    visualize.curves({f"{name} {part}": res[key][metric]
                      for key, name in (("numpy", "NumPy SGD"), ("keras_sgd", "Keras SGD"),
                                        ("keras_rmsprop", "Keras RMSprop"))
                      for part, metric in (("train", "accuracy"), ("test", "val_accuracy"))},
                     wd.path("backprop_accuracy.png"), "accuracy", ylabel="accuracy")
    writer = tf.summary.create_file_writer(str(wd.tensorboard))
    with writer.as_default():
        for key in ("numpy", "keras_sgd", "keras_rmsprop"):
            for metric, values in res[key].items():
                for step, v in enumerate(values):
                    tf.summary.scalar(f"{key}/{metric}", v, step=step + 1)
    writer.flush()
    wd.write_json("history.json", res)
    metrics = {
        "gradient_check_max_relative_error": check["max_relative_error"],
        "gradient_check_per_array": check["per_array"],
        "max_relative_loss_gap_numpy_vs_keras_sgd": res["max_relative_loss_gap"],
        "max_relative_test_loss_gap_numpy_vs_keras_sgd": res["max_relative_val_loss_gap"],
        "final": {key: {m: v[-1] for m, v in res[key].items()}
                  for key in ("numpy", "keras_sgd", "keras_rmsprop")},
        "num_train": int(len(x)), "num_test": int(len(xt)), "data_source": data.source,
        "seconds": time.time() - t0,
    }
    wd.write_json("metrics.json", metrics)
    return metrics


# ---------------------------------------------------------------------------
# absl flags from the config dataclasses (one place for defaults)
# ---------------------------------------------------------------------------
# Help texts of the data flags every vision app shares (each app adds its own --data_dir).
DATA_FLAG_HELP = {
    "test_fraction": "Test share when the folder holds a single IDX pair (10k -> 8k/2k).",
    "train_size": "Use only this many training images (stratified; 0 = all).",
    "test_size": "Use only this many test images (stratified; 0 = all).",
}


def define_config_flags(config_cls, flag_values, helps, enums=None):
    """Defines one absl flag per field of `config_cls`, defaults from the dataclass.

    Args:
        config_cls: a config dataclass (e.g. `MNISTConfig`).
        flag_values: the app's `absl.flags.FlagValues`.
        helps: {field: help text}; fields without one get a generic text.
        enums: {field: allowed values} for enum flags.
    """
    from absl import flags

    enums = enums or {}
    for f in dataclasses.fields(config_cls):
        text = helps.get(f.name, f.name.replace("_", " ") + ".")
        kw = {"flag_values": flag_values}
        if f.name in enums:
            flags.DEFINE_enum(f.name, f.default, list(enums[f.name]), text, **kw)
        elif isinstance(f.default, bool):
            flags.DEFINE_bool(f.name, f.default, text, **kw)
        elif isinstance(f.default, int):
            flags.DEFINE_integer(f.name, f.default, text, **kw)
        elif isinstance(f.default, float):
            flags.DEFINE_float(f.name, f.default, text, **kw)
        elif isinstance(f.default, tuple):
            flags.DEFINE_list(f.name, [str(v) for v in f.default], text, **kw)
        else:
            flags.DEFINE_string(f.name, f.default, text, **kw)


def config_from_flags(config_cls, flag_values):
    """Builds `config_cls` from parsed flags (list flags become tuples of ints)."""
    kw = {}
    for f in dataclasses.fields(config_cls):
        v = flag_values[f.name].value
        if isinstance(f.default, tuple):
            try:
                v = tuple(int(s) for s in v)
            except ValueError:
                raise InputError(f"--{f.name} must be a comma-separated list of integers. "
                                 f"Received: --{f.name}={','.join(v)}") from None
        kw[f.name] = v
    return config_cls(**kw)
