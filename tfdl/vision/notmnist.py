"""notMNIST letters A-J: train an ensemble of CNNs, score it, export the average.

`run(cfg, workdir, data_dir)` is what `python -m apps.notmnist` calls. Each
member trains in `workdir/member_<i>/` (history, checkpoint, TensorBoard)
with Nadam and early stopping on validation accuracy (a stratified
`val_fraction` of the training split). The workdir gets config.json,
history.json (per member), training_curves.png, confusion_matrix.png (the
ensemble), top_output.png, export/ (the ensemble, raw-pixel input) and, last,
metrics.json (ensemble and member accuracies).
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


def build_member(cfg, index=0, num_classes=10):
    """Member `index` (seed `cfg.seed + index`) of a `NotMNISTConfig`'s ensemble (uncompiled)."""
    return vision_models.MODELS.build(
        "cnn", num_classes=num_classes, filters=tuple(cfg.filters), dense=cfg.dense,
        dropout=cfg.dropout, conv_dropout=cfg.conv_dropout, l2=cfg.l2, shift=cfg.shift,
        rotation=cfg.rotation, seed=cfg.seed + index, model_name=f"cnn_{index + 1}")


def _train_members(cfg, data, train_xy, val_xy, wd, verbose):
    """Trains the `cfg.ensemble` members one after the other.

    Returns:
        (members, their test accuracies, {member_<i>: history}).
    """
    xt = data.x_test.astype(np.float32)
    members, accuracies, histories = [], [], {}
    for i in range(cfg.ensemble):
        seed = cfg.seed + i
        keras.utils.set_random_seed(seed)
        model = build_member(cfg, i, len(data.labels))
        print(f"member {i + 1}/{cfg.ensemble} (seed {seed})")
        member_wd = wd.sub(f"member_{i + 1}")
        hist = train.fit_classifier(model, cfg, "nadam", train_xy, val_xy, member_wd, seed,
                                    verbose)
        acc = float(np.mean(model.predict(xt, batch_size=512, verbose=0).argmax(1) ==
                            data.y_test))
        member_wd.write_json("metrics.json", {"test_accuracy": acc})
        print(f"member {i + 1}: test accuracy {acc:.4f}")
        members.append(model)
        accuracies.append(acc)
        histories[f"member_{i + 1}"] = hist
    return members, accuracies, histories


def _summary(cfg, m, wd):
    cli.summary("notMNIST CNN", [
        ("data", m["data_source"]),
        ("test accuracy", f"{m['test_accuracy']:.4f} (ensemble of {cfg.ensemble}, "
                          f"{m['num_test']} images)"),
        ("members", ", ".join(f"{a:.4f}" for a in m["member_test_accuracy"])),
        ("figures", f"{wd.root}/{{training_curves,confusion_matrix,top_output}}.png"),
        ("SavedModel", f"{wd.export} (float32 [batch, 28, 28] pixels 0..255)"),
        ("metrics", f"{wd.root}/metrics.json"),
        ("TensorBoard", f"tensorboard --logdir {wd.root}")])


def run(cfg, workdir="runs/notmnist", data_dir=None, verbose="auto", restart=False):
    """Trains `cfg.ensemble` CNNs and their average, scores and exports it; prints a summary.

    Args:
        cfg: a `NotMNISTConfig` (validated here).
        workdir: the run's folder.
        data_dir: the notMNIST folder or its parent (None: `$TFDL_DATA_DIR`,
            then the Keras cache).
        verbose: Keras' `fit` verbosity.
        restart: start over if `workdir` holds the unfinished run of another config.

    Returns:
        The metrics dict written, last, to `<workdir>/metrics.json`.
    """
    cfg.validate()
    t0 = time.time()
    data = vision_data.load_run(cfg, "notmnist", data_dir)
    wd = Workdir(workdir)
    wd.write_config(cfg, restart)
    train_xy, val_xy = vision_data.train_val(data, cfg.val_fraction, cfg.seed)
    members, member_acc, histories = _train_members(cfg, data, train_xy, val_xy, wd, verbose)
    wd.write_json("history.json", histories)
    plots.training_curves(histories["member_1"], wd.path("training_curves.png"),
                          "notMNIST CNN (member 1)")
    model = vision_models.ensemble(members) if len(members) > 1 else members[0]
    probs, report = train.evaluate(model, data, wd, f"notMNIST CNN ensemble of {len(members)}")
    visualize.image_grid(data.x_test, visualize.top_images(probs), data.labels,
                         wd.path("top_output.png"),
                         "10 test images with the highest probability, per class")
    parity = train.export_and_check(model, wd, data.labels,
                                    data.x_test[:64].astype(np.float32), "notmnist")
    m = {"test_accuracy": report["accuracy"],
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
         "confusion_matrix": report["confusion_matrix"]}
    training.log_hparams(wd, dataclasses.asdict(cfg), {"test_accuracy": report["accuracy"]})
    wd.write_json("metrics.json", m)
    _summary(cfg, m, wd)
    return m
