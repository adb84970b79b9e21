"""MNIST: train the MLP, look inside it (top-image grids, PCA / t-SNE per layer), export it.

`run(cfg, workdir, data_dir)` is what `python -m apps.mnist` calls; it writes
the workdir: config.json, history.json, training_curves.png,
confusion_matrix.png, top_output.png (10 best test images per class),
top_hidden.png (10 random units of the last hidden layer), pca.png and
tsne.png (raw pixels and every layer, `EMBED_SAMPLES` test images),
tensorboard/, the best checkpoint, export/ (SavedModel, raw-pixel input) and,
last, metrics.json.
"""

import dataclasses
import time

import keras
import numpy as np

from tfdl import cli, plots
from tfdl import train as training
from tfdl.vision import data as vision_data
from tfdl.vision import model as vision_models
from tfdl.vision import train, visualize
from tfdl.workdir import Workdir

EMBED_SAMPLES = 1000  # test images in the grids and embeddings (t-SNE: ~10 s per layer)


def build_model(cfg, num_classes=10):
    """The MLP of an `MNISTConfig` (uncompiled)."""
    return vision_models.MODELS.build(
        "mlp", num_classes=num_classes, depth=cfg.depth, width=cfg.width,
        activation=cfg.activation, initializer=cfg.initializer, dropout=cfg.dropout,
        input_dropout=cfg.input_dropout, shift=cfg.shift)


def _top_images(model, x, labels, seed, workdir):
    """top_output.png and top_hidden.png; returns (layer names, features, hidden rows)."""
    feat_model, names = vision_models.hidden_activations(model)
    feats = feat_model.predict(x.astype(np.float32), batch_size=512, verbose=0)
    feats = feats if isinstance(feats, list) else [feats]
    visualize.image_grid(x, visualize.top_images(feats[-1]), labels,
                         workdir.path("top_output.png"),
                         "10 test images with the highest probability, per class")
    rng = np.random.default_rng(seed)
    last_hidden = feats[-2] if len(feats) > 1 else feats[-1]
    units = np.sort(rng.choice(last_hidden.shape[1], size=min(10, last_hidden.shape[1]),
                               replace=False))
    hidden_rows = visualize.top_images(last_hidden, units)
    visualize.image_grid(x, hidden_rows, [f"unit {u}" for u in units],
                         workdir.path("top_hidden.png"),
                         f"{names[-2] if len(names) > 1 else names[-1]}: 10 random units, "
                         f"images each unit wins")
    return names, feats, hidden_rows


def _figures(cfg, model, data, workdir):
    """The grids and embeddings of the first `EMBED_SAMPLES` test images; the hidden rows."""
    n = min(EMBED_SAMPLES, len(data.y_test))
    x, y = data.x_test[:n], data.y_test[:n]
    names, feats, hidden_rows = _top_images(model, x, data.labels, cfg.seed, workdir)
    layers = [("pixels", x.reshape(n, -1) / 255.0)] + list(zip(names, feats))
    for method in ["pca"] + (["tsne"] if cfg.tsne else []):
        t = time.time()
        panels = [(name, visualize.embed(f, method, cfg.seed)) for name, f in layers]
        visualize.embedding_figure(panels, y, data.labels, workdir.path(f"{method}.png"),
                                   f"{method.upper()} of {n} test images, per layer")
        print(f"{method}: {len(layers)} layers in {time.time() - t:.1f} s")
    return hidden_rows


def _summary(cfg, m, wd):
    cli.summary("MNIST MLP", [
        ("data", m["data_source"]),
        ("test accuracy", f"{m['test_accuracy']:.4f} ({m['num_test']} images)"),
        ("epochs run", m["epochs_run"]),
        ("examples/sec", f"{m['examples_per_sec']:.0f}"),
        ("figures", f"{wd.root}/{{training_curves,confusion_matrix,top_output,top_hidden,"
                    f"pca{',tsne' if cfg.tsne else ''}}}.png"),
        ("SavedModel", f"{wd.export} (float32 [batch, 28, 28] pixels 0..255)"),
        ("metrics", f"{wd.root}/metrics.json"),
        ("TensorBoard", f"tensorboard --logdir {wd.tensorboard}")])


def run(cfg, workdir="runs/mnist", data_dir=None, verbose="auto", restart=False):
    """Trains the MNIST MLP, evaluates it, draws its figures, exports it; prints a summary.

    Args:
        cfg: an `MNISTConfig` (validated here).
        workdir: the run's folder.
        data_dir: the MNIST folder or its parent (None: `$TFDL_DATA_DIR`, the
            Keras cache, then `keras.datasets.mnist`).
        verbose: Keras' `fit` verbosity.
        restart: start over if `workdir` holds the unfinished run of another config.

    Returns:
        The metrics dict written, last, to `<workdir>/metrics.json`.
    """
    cfg.validate()
    t0 = time.time()
    data = vision_data.load_run(cfg, "mnist", data_dir)
    wd = Workdir(workdir)
    wd.write_config(cfg, restart)
    keras.utils.set_random_seed(cfg.seed)
    train_xy, val_xy = vision_data.train_val(data, cfg.val_fraction, cfg.seed)
    model = build_model(cfg, len(data.labels))
    history = train.fit_classifier(model, cfg, cfg.optimizer, train_xy, val_xy, wd, cfg.seed,
                                   verbose)
    plots.training_curves(history, wd.path("training_curves.png"), "MNIST MLP")
    _, report = train.evaluate(model, data, wd, "MNIST MLP")
    hidden_rows = _figures(cfg, model, data, wd)
    parity = train.export_and_check(model, wd, data.labels, data.x_test[:64].astype(np.float32),
                                    "mnist")
    m = {"test_accuracy": report["accuracy"],
         "num_train": int(len(train_xy[1])), "num_val": int(len(val_xy[1])),
         "num_test": int(len(data.y_test)), "data_source": data.source,
         "epochs_run": len(history.get("loss", [])),
         "best_val_accuracy": max(history.get("val_accuracy", [0.0])),
         "examples_per_sec": history["steady_examples_per_sec"],
         "hidden_row_lengths": [int(len(r)) for r in hidden_rows],
         "export_max_abs_diff": parity, "seconds": time.time() - t0,
         "per_class_accuracy": report["per_class_accuracy"],
         "confusion_matrix": report["confusion_matrix"]}
    training.log_hparams(wd, dataclasses.asdict(cfg), {"test_accuracy": report["accuracy"]})
    wd.write_json("metrics.json", m)
    _summary(cfg, m, wd)
    return m
