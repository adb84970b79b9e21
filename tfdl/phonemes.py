"""Frame-level phoneme classification: train members, predict, ensembles, export, figures.

`apps.phonemes` is the command line over `train_and_evaluate`; the model
builders live in `tfdl.models.phonemes`, the data in `tfdl.datasets.phonemes`.
"""

from tfdl.models.phonemes import MODELS


def train_member(name, train_frames, val_frames, *, num_classes, workdir, context=0, stride=1,
                 width=512, depth=3, dropout=0.1, epochs=10, batch_size=512,
                 learning_rate=1e-3, schedule="cosine", patience=3, frames_per_epoch=None,
                 seed=0, verbose="auto"):
    """Builds, compiles (Adam) and fits one registered model on packed frames.

    Args:
        name: a `MODELS` name.
        train_frames, val_frames: `tfdl.datasets.phonemes.FrameSet`s (val may be None).
        num_classes: phones in the vocabulary.
        workdir: a `tfdl.workdir.Workdir` for this member (checkpoints, TensorBoard,
            history.json).
        context, stride: window of +-context frames, every `stride`-th frame.
        width, depth, dropout: builder hyperparameters (see the module docstring).
        epochs, batch_size, learning_rate, schedule, patience: optimisation
            (Adam; "cosine" decays over all steps; early stopping on val accuracy).
        frames_per_epoch: training frames drawn per epoch (a fresh random subset
            each time), or None for all of them.
        seed: weights and shuffling seed.

    Returns:
        (model with the best validation weights, history dict from `tfdl.train.fit`).
    """
    import keras

    from tfdl.datasets import phonemes as data
    from tfdl.train import fit, make_optimizer

    keras.utils.set_random_seed(seed)
    model = MODELS.build(name, num_classes=num_classes,
                         num_features=train_frames.features.shape[1], context=context,
                         width=width, depth=depth, dropout=dropout)
    n = len(train_frames)
    per_epoch = min(frames_per_epoch or n, n)
    steps = max(1, per_epoch // batch_size)
    model.compile(optimizer=make_optimizer("adam", learning_rate, schedule,
                                           decay_steps=epochs * steps),
                  loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    train_ds = data.frame_dataset(train_frames, context, stride, batch_size, training=True,
                                  seed=seed)
    val_ds = (data.frame_dataset(val_frames, context, stride, 4 * batch_size)
              if val_frames is not None and len(val_frames) else None)
    history = fit(model, train_ds, val_ds, workdir=workdir, epochs=epochs,
                  batch_size=batch_size, patience=patience, steps_per_epoch=steps,
                  examples_per_epoch=steps * batch_size, verbose=verbose)
    return model, history


def predict(model, frames, context, stride=1, batch_size=4096):
    """[N, classes] probabilities for every frame of a `FrameSet`."""
    import numpy as np

    from tfdl.datasets import phonemes as data

    ds = data.frame_dataset(frames, context, stride, batch_size).map(lambda x, y: x)
    return np.asarray(model.predict(ds, verbose=0), np.float32)


# ----------------------------------------------------------------------------- the app's run


def export_utterance_model(members, weights, export_dir, labels, context, stride=1,
                           num_features=13):
    """Exports members as one SavedModel taking a whole utterance of raw features.

    The `serve` endpoint takes `[frames, num_features]` float32 (un-normalised
    MFCC, one utterance) and does everything inside: per-utterance cepstral
    mean/variance normalisation, zero padding, context-window gathering, every
    member's forward pass and the weighted probability average. It returns
    `probabilities` [frames, classes], `class_id` [frames] and `label`
    [frames] (phone strings).

    Args:
        members: Keras models taking `[batch, 2K+1, D]` windows.
        weights: one weight per member (normalised here).
        export_dir: output folder.
        labels: phone names, index-aligned with the outputs.
        context, stride: the members' window.
    """
    import keras
    import numpy as np
    import tensorflow as tf

    from tfdl.datasets import phonemes as data

    w = np.asarray(weights, np.float32)
    w = w / w.sum()
    table = tf.constant([str(p) for p in labels])
    offsets = tf.constant(data.window_offsets(context, stride))
    pad = context * stride

    def serve(x):
        x = data.cmvn_tf(x)
        padded = tf.pad(x, [[pad, pad], [0, 0]])
        centers = tf.range(tf.shape(x)[0], dtype=tf.int64) + pad
        windows = data.gather_windows(padded, centers, offsets)
        probs = tf.add_n([float(wi) * m(windows, training=False) for wi, m in zip(w, members)])
        ids = tf.argmax(probs, axis=-1, output_type=tf.int32)
        return {"probabilities": probs, "class_id": ids, "label": tf.gather(table, ids)}

    archive = keras.export.ExportArchive()
    for m in members:
        archive.track(m)
    archive.add_endpoint("serve", serve, input_signature=[
        tf.TensorSpec([None, num_features], tf.float32, name="mfcc")])
    archive.write_out(str(export_dir), verbose=False)
    return str(export_dir)


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


def member_names(models):
    """Unique member names: ("mlp", "mlp", "logistic") -> ["mlp_0", "mlp_1", "logistic"]."""
    from collections import Counter

    counts, seen, out = Counter(models), Counter(), []
    for m in models:
        out.append(f"{m}_{seen[m]}" if counts[m] > 1 else m)
        seen[m] += 1
    return out


def train_and_evaluate(config):
    """The `apps.phonemes` run: data -> members -> ensemble rules -> figures -> export.

    Args:
        config: an `apps.phonemes.Config` (any object with its attributes).

    Returns:
        The metrics dict also written (last) to `metrics.json`.
    """
    import time

    import numpy as np

    from tfdl import ensemble, metrics, plots
    from tfdl.datasets import phonemes as data
    from tfdl.train import log_hparams, log_image
    from tfdl.workdir import Workdir

    t0 = time.perf_counter()
    wd = Workdir(config.workdir)
    wd.write_json("config.json", config)
    root = data.find(config.data_dir)
    corpus = data.load_corpus(root, config.layout, config.max_utterances, config.tolerance)
    data.apply_phone_map(corpus, data.parse_phone_map(config.phone_map))
    phones = corpus.phone_set()
    index = data.check_vocabulary(corpus, phones)
    split = data.split_utterances(len(corpus.utterances), config.test_utterances,
                                  config.val_utterances, config.seed)
    pad = config.context * config.stride
    sets = {k: data.pack([corpus.utterances[i] for i in v], index, pad) for k, v in split.items()}
    print(f"{len(corpus.utterances)} utterances ({corpus.layout}, {corpus.frame_period * 1e3:g} ms "
          f"frames, {corpus.num_frames} frames, {len(phones)} phones): "
          + ", ".join(f"{k} {len(split[k])} utt / {len(s)} frames" for k, s in sets.items()))
    wd.write_json("phones.json", phones)

    names = member_names(config.models)
    models, results, val_probs, test_probs = [], {}, [], []
    for i, (name, arch) in enumerate(zip(names, config.models)):
        print(f"\n== member {name} ({arch}, context +-{config.context} x{config.stride})")
        mwd = Workdir(wd.path("members", name))
        model, history = train_member(
            arch, sets["train"], sets["val"], num_classes=len(phones), workdir=mwd,
            context=config.context, stride=config.stride, width=config.width,
            depth=config.depth, dropout=config.dropout, epochs=config.epochs,
            batch_size=config.batch_size, learning_rate=config.learning_rate,
            schedule=config.schedule, patience=config.patience,
            frames_per_epoch=config.frames_per_epoch, seed=config.seed + i)
        plots.training_curves(history, mwd.path("training_curves.png"), title=name)
        vp = (predict(model, sets["val"], config.context, config.stride)
              if len(sets["val"]) else None)
        tp = predict(model, sets["test"], config.context, config.stride)
        acc = float(np.mean(tp.argmax(1) == sets["test"].labels))
        results[name] = {"model": arch, "test_frame_accuracy": acc,
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

    y = sets["test"].labels
    if len(models) > 1:
        rules = ensemble.evaluate(np.stack(test_probs), y,
                                  np.stack(val_probs) if val_probs else None,
                                  sets["val"].labels if val_probs else None)
        weights = rules["weights"]
        final_pred = rules["weighted_average"]["predictions"]
        ens = {r: rules[r]["accuracy"] for r in ensemble.RULES}
        ens["weights"] = dict(zip(names, weights))
        final_name = "ensemble (weighted_average)"
    else:
        weights, ens = [1.0], None
        final_pred = test_probs[0].argmax(1)
        final_name = names[0]
    report = metrics.classification_report(y, final_pred, phones)
    wd.write_json("report.json", report)
    cm_png = plots.confusion_matrix(report["confusion_matrix"], phones,
                                    wd.path("confusion_matrix.png"),
                                    title=f"{final_name}: test frames")
    log_image(wd, "confusion_matrix", cm_png)
    # The figure shows the first test utterance, predicted by the final (exported) predictor.
    utt, first, stop = sets["test"].spans[0]
    seq_png = plot_phone_sequence(y[first:stop], final_pred[first:stop], phones,
                                  corpus.frame_period, wd.path("phone_sequence.png"),
                                  title=f"{utt}: {final_name}")
    log_image(wd, "phone_sequence", seq_png)

    export_utterance_model(models, weights, wd.export, phones, config.context, config.stride,
                           corpus.num_features)
    out = {
        "frame_accuracy": report["accuracy"],
        "predictor": final_name,
        "members": results,
        "ensemble": ens,
        "per_phone_accuracy": report["per_class_accuracy"],
        "num_phones": len(phones),
        "frame_period_ms": corpus.frame_period * 1e3,
        "frames": {k: len(s) for k, s in sets.items()},
        "utterances": {k: int(len(v)) for k, v in split.items()},
        "test_utterances": [s[0] for s in sets["test"].spans],
        "export": str(wd.export),
        "wall_seconds": time.perf_counter() - t0,
    }
    log_hparams(wd, {k: v for k, v in vars(config).items()},
                {"frame_accuracy": report["accuracy"]})
    wd.write_json("metrics.json", out)
    return out
