"""Keyword spotting: train, evaluate, plot and export one run.

`run(cfg, workdir, data_dir)` is what `python -m apps.keywords` calls; it
writes the workdir: config.json, history.json, training_curves.png,
confusion_matrix.png, augmented_example.png, misclassified.json and
misclassified/ (the most confident mistakes on the test split, for the
report page), TensorBoard logs, the best
checkpoint, `export/` (SavedModel and model.tflite, taking raw waveforms of
any length at `sample_rate` and returning probabilities, class ids and label
strings; metadata in `export/assets.extra/tfdl.json`) and, last,
metrics.json (clean and held-out-noise test accuracy, the test split's
classification report, training speed, export sizes and latencies).
"""

import dataclasses
import math
from pathlib import Path

from tfdl import cli
from tfdl.keywords import corpus as sc
from tfdl.keywords import data as kd
from tfdl.keywords import distill as teaching
from tfdl.keywords.serve import predict_probs, stream_real_time_factor


def compile_model(model, cfg, steps_per_epoch):
    """Compiles `model` with the config's optimizer and schedule (decay over the whole run),
    and the distillation loss on `tfdl.distill.targets` rows when `cfg.teacher` is set."""
    from tfdl import distill, train

    decay = max(1, cfg.epochs * steps_per_epoch)
    opt = train.make_optimizer(cfg.optimizer, cfg.learning_rate, cfg.schedule, decay)
    if cfg.teacher:
        model.compile(optimizer=opt, loss=distill.loss(cfg.temperature, cfg.soft_weight),
                      metrics=[distill.accuracy()])
    else:
        model.compile(optimizer=opt, loss="sparse_categorical_crossentropy",
                      metrics=["accuracy"])
    return model


def evaluate(model, split, labels, batch_size=128, probs=None):
    """`metrics.classification_report` of `model` on a `tfdl.keywords.data.Split` (or of
    its class probabilities `probs`, when given)."""
    from tfdl import metrics

    if probs is None:
        probs = predict_probs(lambda x: model(x, training=False), split.waves, batch_size)
    return metrics.classification_report(split.labels, probs.argmax(-1), labels)


def save_misclassified(split, probs, labels, cfg, wd):
    """The most confident mistakes on the test split as WAVs and misclassified.json, for the
    report page (`tfdl.report.clips`)."""
    from tfdl.report.clips import save_misclassified as save

    pred = probs.argmax(-1)
    items = []
    for i in [int(i) for i in (pred != split.labels).nonzero()[0]]:
        path = Path(split.paths[i]) if split.paths[i] else None
        items.append({"file": f"{path.parent.name}_{path.name}" if path else f"silence_{i}.wav",
                      "true": labels[split.labels[i]], "predicted": labels[pred[i]],
                      "probability": float(probs[i, pred[i]]), "wave": split.waves[i]})
    return save(wd, items, cfg.sample_rate)


def export_metadata(cfg):
    """What a keywords export records beside its labels (`assets.extra/tfdl.json`)."""
    return {"task": "keywords", "sample_rate": cfg.sample_rate,
            "clip_samples": cfg.clip_samples, "model": cfg.model, "preprocess": cfg.preprocess}


def save_export(model, export_dir, labels, cfg):
    """`export.export_classifier` with the keywords metadata (rate, clip, labels)."""
    from tfdl import export

    return export.export_classifier(model, export_dir, labels, metadata=export_metadata(cfg))


def _describe(data):
    """Prints the classes, the split sizes and which noise files train and which are held out."""
    tr, va, te = (data.splits[s] for s in sc.SPLITS)
    if data.corpus.skipped:
        print(f"skipped {data.corpus.skipped} non-WAV file(s) in the word folders of "
              f"{data.corpus.root}")
    print(f"classes: {', '.join(data.corpus.labels)}")
    train_names = ", ".join(Path(f).name for f in data.train_noise_files) or "none"
    held_names = ", ".join(Path(f).name for f in data.eval_noise_files) or "none"
    print(f"examples: training {len(tr)}, validation {len(va)}, testing {len(te)} "
          f"(noise for training: {train_names}; held out: {held_names})")


def _fit(cfg, model, data, bank, wd, verbose, soft=None):
    """Compiles and trains `model` on the augmented training split (its targets the
    `soft` rows per split, when distilled); returns the history."""
    from tfdl import train

    tr, va = data.splits["training"], data.splits["validation"]
    soft = soft or {}
    train_ds = kd.train_dataset(tr, cfg, bank, soft=soft.get("training"))
    steps = math.ceil(len(tr) / cfg.batch_size)
    if cfg.steps_per_epoch:
        steps = min(steps, cfg.steps_per_epoch)
        train_ds = train_ds.repeat()
    compile_model(model, cfg, steps)
    val_ds = kd.eval_dataset(va.waves, soft.get("validation", va.labels))
    return train.fit(model, train_ds, val_ds, workdir=wd,
                     epochs=cfg.epochs, batch_size=cfg.batch_size,
                     patience=cfg.patience or None,
                     examples_per_epoch=min(len(tr), steps * cfg.batch_size),
                     steps_per_epoch=steps if cfg.steps_per_epoch else None, verbose=verbose)


def _noisy_accuracy(cfg, model, data):
    """Test accuracy with the held-out noise mixed in, per `eval_snr_db` ({} without it)."""
    te, labels = data.splits["testing"], data.corpus.labels
    noisy = {}
    for snr in cfg.eval_snr_db if data.eval_noise else ():
        mixed = kd.Split(kd.mix_noise(te.waves, data.eval_noise, snr, seed=cfg.seed + 1),
                         te.labels, te.paths)
        noisy[f"{snr:g}"] = evaluate(model, mixed, labels)["accuracy"]
    return noisy


def _figures(cfg, model, data, bank, history, test, wd):
    """Training curves, the confusion matrix (also in TensorBoard) and an augmented example."""
    import keras
    import numpy as np

    from tfdl import plots, train

    labels, split = data.corpus.labels, data.splits["training"]
    plots.training_curves(history, wd.path("training_curves.png"), title=f"keywords {cfg.model}")
    cm_png = plots.confusion_matrix(test["confusion_matrix"], labels,
                                    wd.path("confusion_matrix.png"),
                                    title=f"test accuracy {test['accuracy']:.3f}")
    train.log_image(wd, "confusion_matrix", cm_png)
    idx = int(np.argmax(split.labels > 1)) if np.any(split.labels > 1) else 0
    x, _ = kd.config_augmenter(cfg, bank)(split.waves[idx], split.labels[idx])
    front = keras.Model(model.inputs,
                        model.get_layer("mfcc" if cfg.preprocess == "mfcc" else "log_mel").output)
    plots.waveform_and_features(x.numpy(), cfg.sample_rate, front(x[None])[0].numpy(),
                                wd.path("augmented_example.png"),
                                title=f"training example '{labels[split.labels[idx]]}' "
                                      f"(augmented)", feature_name=cfg.preprocess)


def _int8_clips(cfg, data):
    """Training clips of words (not the stored silence) drawn at random: the int8 model's
    representative set."""
    from tfdl import export

    split = data.splits["training"]
    words = split.waves[split.labels != data.corpus.labels.index(sc.SILENCE_LABEL)]
    return words[export.representative_indices(len(words), cfg.seed)]


def _summary_rows(result):
    rows = [("test accuracy", f"{result['test_accuracy']:.4f}"),
            ("validation accuracy", f"{result['validation_accuracy']:.4f}")]
    rows += [(f"test accuracy, held-out noise {snr} dB", f"{acc:.4f}")
             for snr, acc in result["noisy_test_accuracy"].items()]
    rows += [("training examples/sec", f"{result['examples_per_sec']:.1f}"),
             ("workdir", result["workdir"]), ("metrics", f"{result['workdir']}/metrics.json")]
    if result["export"]:
        rows += [("export", result["export"]),
                 ("export latency", f"{result['export_latency_ms_per_clip']:.2f} ms/clip"),
                 ("TFLite", f"{result['tflite']} "
                            f"({result['tflite_latency_ms_per_clip']:.2f} ms/clip)"),
                 *([("TFLite int8", f"{result['int8_tflite']} "
                                    f"({result['int8_tflite_latency_ms_per_clip']:.2f} ms/clip, "
                                    f"test accuracy {result['int8_accuracy']:.4f})")]
                   if result.get("int8_tflite") else []),
                 ("stream", f"python -m apps.keywords stream long.wav "
                            f"--export_dir={result['export']} (real-time factor "
                            f"{result['stream_real_time_factor']:.4f})")]
    rows.append(("tensorboard", f"tensorboard --logdir {result['workdir']}/tensorboard"))
    return rows


def run(cfg, workdir="runs/keywords", data_dir=None, verbose="auto", restart=False):
    """Trains, evaluates and exports a keyword spotter; writes the workdir; prints a summary.

    Args:
        cfg: a `tfdl.keywords.config.Config` (validated here).
        workdir: the run's folder.
        data_dir: the keyword folder or a parent holding `keywords/` (None:
            `$TFDL_DATA_DIR/keywords`, the Keras cache, else a download).
        verbose: Keras' `fit` verbosity (2: one line per epoch, for logs).
        restart: start over if `workdir` holds the unfinished run of another config.

    Returns:
        dict: the metrics written to `metrics.json` plus `workdir`, `export`,
        `tflite` and `int8_tflite` paths (None where not written).
    """
    import keras

    from tfdl import export, train
    from tfdl.keywords.model import build
    from tfdl.workdir import Workdir

    cfg.validate()
    keras.utils.set_random_seed(cfg.seed)
    data = kd.prepare(cfg, data_dir)  # bad data fails here, before the workdir is written
    _describe(data)
    # A named teacher trains first, in <workdir>/teacher (its own lock and resume).
    soft, distilled = teaching.teacher_targets(cfg, data, workdir, data_dir, verbose, restart)
    keras.utils.set_random_seed(cfg.seed)  # the student starts the same, teacher trained or not
    model = build(cfg, len(data.corpus.labels))
    wd = Workdir(workdir)
    wd.write_config(cfg, restart)
    bank = kd.noise_bank(data.train_noise, cfg.clip_samples)
    history = _fit(cfg, model, data, bank, wd, verbose, soft)
    labels, te = data.corpus.labels, data.splits["testing"]
    test_probs = predict_probs(lambda x: model(x, training=False), te.waves)
    test = evaluate(model, te, labels, probs=test_probs)
    save_misclassified(te, test_probs, labels, cfg, wd)
    val = evaluate(model, data.splits["validation"], labels)
    noisy = _noisy_accuracy(cfg, model, data)
    _figures(cfg, model, data, bank, history, test, wd)
    shipped = {}
    if cfg.export:
        shipped = export.ship_classifier(model, wd.export, labels, metadata=export_metadata(cfg),
                                         clip_samples=cfg.clip_samples,
                                         int8_clips=_int8_clips(cfg, data) if cfg.int8 else None)
        if cfg.int8:
            shipped["int8_accuracy"] = export.accuracy(shipped["int8_tflite"], te.waves,
                                                       te.labels)
        # `stream` with the export over test clips joined end to end (at most 30).
        shipped["stream_real_time_factor"] = stream_real_time_factor(wd.export, te.waves[:30])
    result = {
        "test_accuracy": test["accuracy"], "validation_accuracy": val["accuracy"],
        "noisy_test_accuracy": noisy,
        "held_out_noise": [Path(f).name for f in data.eval_noise_files],
        "train_noise": [Path(f).name for f in data.train_noise_files],
        "examples_per_sec": history["steady_examples_per_sec"],
        "train_seconds": history["train_seconds"], "epochs_run": len(history.get("loss", [])),
        **{k: v for k, v in shipped.items() if k not in ("export", "tflite", "int8_tflite")},
        "num_params": int(model.count_params()),
        "num_examples": {s: len(data.splits[s]) for s in sc.SPLITS},
        "skipped_non_wav": data.corpus.skipped, "test": test}
    if distilled:
        result["distillation"] = distilled
    train.log_hparams(wd, dataclasses.asdict(cfg), {"test_accuracy": test["accuracy"]})
    wd.write_json("metrics.json", result)
    result = dict(result, workdir=str(wd.root), export=shipped.get("export"),
                  tflite=shipped.get("tflite"), int8_tflite=shipped.get("int8_tflite"))
    cli.summary("keywords: done", _summary_rows(result))
    return result
