"""Phoneme classification: train each member, combine them, plot and export one run.

`run(cfg, workdir, data_dir)` is what `python -m apps.phonemes` calls. It
splits the corpus by utterance, trains the run's network (or each member of
an ensemble, one after the other), scores every test frame, combines the
members with the four ensemble rules (`tfdl.ensemble`) and writes the
workdir: config.json, phones.json, members/<name>/ (history.json,
training_curves.png, TensorBoard, checkpoint), report.json,
confusion_matrix.png, phone_sequence.png (one test utterance, true vs
predicted), export/ (`tfdl.phonemes.serve`) and, last, metrics.json.
"""

import dataclasses
import time
from collections import Counter

from tfdl import cli
from tfdl.phonemes import data, frames
from tfdl.phonemes.config import ENSEMBLE
from tfdl.phonemes.labels import check_vocabulary
from tfdl.phonemes.model import MODELS


def train_member(cfg, train_frames, val_frames, num_classes, workdir, verbose="auto"):
    """Builds, compiles (Adam) and fits the network of a single-model config.

    Args:
        cfg: a validated `Config` whose `model` is one of `MODELS`.
        train_frames, val_frames: `tfdl.phonemes.frames.FrameSet`s (val may be
            empty). Each epoch draws `cfg.frames_per_epoch` random training
            frames (a fresh subset each time); early stopping and the best
            checkpoint follow the validation frame accuracy.
        num_classes: phones in the vocabulary.
        workdir: a `tfdl.workdir.Workdir` for this member (checkpoints, TensorBoard,
            history.json).
        verbose: Keras' `fit` verbosity.

    Returns:
        (model with the best validation weights, history dict from `tfdl.train.fit`).
    """
    import keras

    from tfdl.train import fit, make_optimizer

    keras.utils.set_random_seed(cfg.seed)
    model = MODELS.build(cfg.model, num_classes=num_classes,
                         num_features=train_frames.features.shape[1], context=cfg.context,
                         width=cfg.width, depth=cfg.depth, dropout=cfg.dropout)
    n = len(train_frames)
    steps = max(1, min(cfg.frames_per_epoch or n, n) // cfg.batch_size)
    model.compile(optimizer=make_optimizer("adam", cfg.learning_rate, cfg.schedule,
                                           decay_steps=cfg.epochs * steps),
                  loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    train_ds = frames.frame_dataset(train_frames, cfg.context, cfg.stride, cfg.batch_size,
                                    training=True, seed=cfg.seed)
    val_ds = (frames.frame_dataset(val_frames, cfg.context, cfg.stride, 4 * cfg.batch_size)
              if len(val_frames) else None)
    history = fit(model, train_ds, val_ds, workdir=workdir, epochs=cfg.epochs,
                  batch_size=cfg.batch_size, patience=cfg.patience, steps_per_epoch=steps,
                  examples_per_epoch=steps * cfg.batch_size, verbose=verbose)
    return model, history


def predict(model, frame_set, context, stride=1, batch_size=4096):
    """[N, classes] probabilities for every frame of a `FrameSet`."""
    import numpy as np

    ds = frames.frame_dataset(frame_set, context, stride, batch_size).map(lambda x, y: x)
    return np.asarray(model.predict(ds, verbose=0), np.float32)


def member_names(models):
    """Unique member names: ("mlp", "mlp", "logistic") -> ["mlp_0", "mlp_1", "logistic"]."""
    counts, seen, out = Counter(models), Counter(), []
    for m in models:
        out.append(f"{m}_{seen[m]}" if counts[m] > 1 else m)
        seen[m] += 1
    return out


def member_configs(cfg):
    """[(name, config)] of each network the run trains: `cfg` itself, or its members.

    An ensemble's member i is its model's named config's width and depth on
    `cfg`'s window and training, with seed `cfg.seed + i`.
    """
    from tfdl.phonemes.configs import CONFIGS

    if cfg.model != ENSEMBLE:
        return [(cfg.model, cfg)]
    return [(name, dataclasses.replace(cfg, model=m, members=(), width=CONFIGS.get(m).width,
                                       depth=CONFIGS.get(m).depth, seed=cfg.seed + i))
            for i, (name, m) in enumerate(zip(member_names(cfg.members), cfg.members))]


def load_sets(cfg, data_dir):
    """(corpus, phones, utterance split, {"train"/"val"/"test": FrameSet}) of a run."""
    corpus = data.load_corpus(data.find(data_dir))
    phones = corpus.phone_set()
    index = check_vocabulary(corpus, phones)
    split = data.split_utterances(len(corpus.utterances), cfg.test_utterances,
                                  cfg.val_utterances, cfg.seed)
    pad = cfg.context * cfg.stride
    sets = {k: frames.pack([corpus.utterances[i] for i in v], index, pad)
            for k, v in split.items()}
    print(f"{len(corpus.utterances)} utterances ({corpus.layout}, {corpus.frame_period * 1e3:g} ms "
          f"frames, {corpus.num_frames} frames, {len(phones)} phones): "
          + ", ".join(f"{k} {len(split[k])} utt / {len(s)} frames" for k, s in sets.items()))
    return corpus, phones, split, sets


def _train_members(cfg, sets, phones, wd, verbose):
    """Trains and scores each member: (models, {name: result}, val probs, test probs)."""
    import numpy as np

    from tfdl import plots

    models, results, val_probs, test_probs = [], {}, [], []
    for name, mcfg in member_configs(cfg):
        print(f"\n== member {name} ({mcfg.model}, context +-{mcfg.context} x{mcfg.stride})")
        mwd = wd.sub("members", name)
        model, history = train_member(mcfg, sets["train"], sets["val"], len(phones), mwd,
                                      verbose)
        plots.training_curves(history, mwd.path("training_curves.png"), title=name)
        vp = predict(model, sets["val"], mcfg.context, mcfg.stride) if len(sets["val"]) else None
        tp = predict(model, sets["test"], mcfg.context, mcfg.stride)
        acc = float(np.mean(tp.argmax(1) == sets["test"].labels))
        results[name] = {"model": mcfg.model, "width": mcfg.width, "depth": mcfg.depth,
                         "seed": mcfg.seed, "test_frame_accuracy": acc,
                         "val_frame_accuracy": (float(np.mean(vp.argmax(1) == sets["val"].labels))
                                                if vp is not None else None),
                         "train_frames_per_sec": history["steady_examples_per_sec"],
                         "epochs_run": len(history.get("loss", [])),
                         "train_seconds": history["train_seconds"],
                         "params": int(model.count_params())}
        models.append(model)
        test_probs.append(tp)
        if vp is not None:
            val_probs.append(vp)
        print(f"   {name}: test frame accuracy {acc:.4f}")
    return models, results, val_probs, test_probs


def _combine(names, sets, val_probs, test_probs):
    """(member weights, final test predictions, {rule: accuracy, "weights"} or None, name).

    Several members: the four rules, weights fitted on the validation frames;
    the weighted average is what the export serves.
    """
    import numpy as np

    from tfdl import ensemble

    if len(names) == 1:
        return [1.0], test_probs[0].argmax(1), None, names[0]
    rules = ensemble.evaluate(np.stack(test_probs), sets["test"].labels,
                              np.stack(val_probs) if val_probs else None,
                              sets["val"].labels if val_probs else None)
    ens = {r: rules[r]["accuracy"] for r in ensemble.RULES}
    ens["weights"] = dict(zip(names, rules["weights"]))
    return (rules["weights"], rules["weighted_average"]["predictions"], ens,
            "ensemble (weighted_average)")


def plot_phone_sequence(true_ids, pred_ids, labels, frame_period, path, title=""):
    """One utterance's true and predicted phone sequences as labelled coloured segments."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import numpy as np

    fig, axes = plt.subplots(2, 1, figsize=(14, 3.2), sharex=True)
    cmap = plt.get_cmap("tab20")
    for ax, ids, name in ((axes[0], true_ids, "true"), (axes[1], pred_ids, "predicted")):
        ids = np.asarray(ids)
        change = np.flatnonzero(np.diff(ids)) + 1
        starts = np.concatenate([[0], change])
        stops = np.concatenate([change, [len(ids)]])
        for a, b in zip(starts, stops):
            c = int(ids[a])
            ax.axvspan(a * frame_period, b * frame_period, color=cmap(c % 20), alpha=0.8, lw=0)
            if (b - a) * frame_period >= 0.03:
                ax.text((a + b) / 2 * frame_period, 0.5, labels[c], ha="center", va="center",
                        fontsize=7)
        ax.set_yticks([])
        ax.set_ylabel(name)
    axes[1].set_xlabel("time (s)")
    axes[0].set_xlim(0, len(true_ids) * frame_period)
    acc = float(np.mean(np.asarray(true_ids) == np.asarray(pred_ids)))
    fig.suptitle(f"{title}  (frame accuracy {acc:.1%})")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def _figures(report, final_pred, final_name, phones, test, frame_period, wd):
    """The confusion matrix and the first test utterance's phones, by the exported predictor."""
    from tfdl import plots
    from tfdl.train import log_image

    cm_png = plots.confusion_matrix(report["confusion_matrix"], phones,
                                    wd.path("confusion_matrix.png"),
                                    title=f"{final_name}: test frames")
    log_image(wd, "confusion_matrix", cm_png)
    utt, first, stop = test.spans[0]
    seq_png = plot_phone_sequence(test.labels[first:stop], final_pred[first:stop], phones,
                                  frame_period, wd.path("phone_sequence.png"),
                                  title=f"{utt}: {final_name}")
    log_image(wd, "phone_sequence", seq_png)


def _summary_rows(out, wd):
    rows = [(name, (f"{r['test_frame_accuracy']:.4f} test frame accuracy, "
                    f"{r['train_frames_per_sec']:.0f} train frames/s"))
            for name, r in out["members"].items()]
    if out["ensemble"]:
        rows += [(f"ensemble {rule}", f"{acc:.4f}") for rule, acc in out["ensemble"].items()
                 if rule != "weights"]
    return rows + [("frame accuracy", f"{out['frame_accuracy']:.4f} ({out['predictor']})"),
                   ("workdir", str(wd.root)), ("export", out["export"]),
                   ("tensorboard", f"tensorboard --logdir {wd.root}")]


def run(cfg, workdir="runs/phonemes", data_dir=None, verbose="auto", restart=False):
    """Runs `cfg`: data -> members -> ensemble rules -> figures -> export; prints a summary.

    Args:
        cfg: a `Config` (validated here).
        workdir: the run's folder.
        data_dir: the phonemes folder (None: `$TFDL_DATA_DIR/phonemes`, the Keras cache).
        verbose: Keras' `fit` verbosity (2: one line per epoch, for logs).
        restart: start over if `workdir` holds the unfinished run of another config.

    Returns:
        The metrics dict written (last) to `<workdir>/metrics.json`.
    """
    from tfdl import metrics
    from tfdl.phonemes.serve import export_utterance_model
    from tfdl.train import log_hparams
    from tfdl.workdir import Workdir

    t0 = time.perf_counter()
    cfg.validate()
    corpus, phones, split, sets = load_sets(cfg, data_dir)
    wd = Workdir(workdir)
    wd.write_config(cfg, restart)
    wd.write_json("phones.json", phones)
    models, results, val_probs, test_probs = _train_members(cfg, sets, phones, wd, verbose)
    weights, final_pred, ens, final_name = _combine(list(results), sets, val_probs, test_probs)
    report = metrics.classification_report(sets["test"].labels, final_pred, phones)
    wd.write_json("report.json", report)
    _figures(report, final_pred, final_name, phones, sets["test"], corpus.frame_period, wd)
    export_utterance_model(models, weights, wd.export, phones, cfg.context, cfg.stride,
                           corpus.num_features)
    out = {"model": cfg.model, "frame_accuracy": report["accuracy"], "predictor": final_name,
           "members": results, "ensemble": ens,
           "per_phone_accuracy": report["per_class_accuracy"], "num_phones": len(phones),
           "frame_period_ms": corpus.frame_period * 1e3,
           "frames": {k: len(s) for k, s in sets.items()},
           "utterances": {k: len(v) for k, v in split.items()},
           "test_utterances": [s[0] for s in sets["test"].spans], "export": str(wd.export),
           "wall_seconds": time.perf_counter() - t0}
    log_hparams(wd, dataclasses.asdict(cfg), {"frame_accuracy": report["accuracy"]})
    wd.write_json("metrics.json", out)
    cli.summary("phonemes: done", _summary_rows(out, wd))
    return out
