"""Spoken digits: train, evaluate, plot and export one run (or one per speaker for LOSO).

`run(cfg, workdir, data_dir)` is what `python -m apps.digits` calls; it writes
the workdir: config.json, history.json, training_curves.png,
confusion_matrix.png, waveform_mfcc.png, misclassified.json and
misclassified/ (the most confident mistakes, for the report page),
TensorBoard logs, the best checkpoint,
`export/` (SavedModel and model.tflite, taking raw 8 kHz waveforms of any
length) and, last, metrics.json. With `split="loso"` each speaker's fold gets
a `fold_<speaker>/` folder and the top metrics.json holds the mean.
"""

import dataclasses
import os

from tfdl import cli, distill
from tfdl.digits import adapt as adaptation
from tfdl.digits import data
from tfdl.digits import distill as teaching
from tfdl.digits.model import MODELS
from tfdl.errors import InputError

HPARAMS = ("model", "split", "epochs", "batch_size", "learning_rate", "optimizer", "schedule",
           "augment", "speed_change", "microbatches", "seed", "speaker_adaptation",
           "speaker_adversary", "val_fraction")


def effective_microbatches(cfg, train_examples=None):
    """`cfg.microbatches` where it pays: at most one per CPU core; 1 under a tf.distribute
    strategy or with a GPU; 0 ("measure"): `tfdl.speed.choose_microbatches` times the
    candidates on this machine (once; cached), for a run of `train_examples` clips."""
    import tensorflow as tf

    if cfg.distribute != "none" or tf.config.list_physical_devices("GPU"):
        return 1
    if cfg.microbatches == 0:
        from tfdl import speed

        steps = -(-(train_examples or 0) // cfg.batch_size)
        steps = min(steps, cfg.steps_per_epoch or steps) * cfg.epochs
        return speed.choose_microbatches("tfdl.digits.model:MODELS", cfg.model,
                                         (data.SAMPLE_RATE,), 10, cfg.batch_size, steps)
    return max(1, min(cfg.microbatches, os.cpu_count() or 1))


def _members_history(histories):
    """One history of an ensemble's members: `{member}:{key}` (`val_{member}:{key}` for
    validation keys) per member, and the ensemble's training time and throughput (each
    example passes through every member)."""
    out = {}
    for name, h in histories.items():
        for k, v in h.items():
            if isinstance(v, list):
                out[f"val_{name}:{k[4:]}" if k.startswith("val_") else f"{name}:{k}"] = v
    out["train_seconds"] = sum(h["train_seconds"] for h in histories.values())
    out["steady_examples_per_sec"] = 1.0 / sum(1.0 / h["steady_examples_per_sec"]
                                               for h in histories.values())
    return out


def _fit_members(cfg, model, sets, workdir, strategy, steps, speakers, examples, verbose):
    """Trains each member network of `model` (itself, unless an ensemble) in turn.

    Returns:
        {member name: its `tfdl.train.fit` history}.
    """
    import keras

    from tfdl import train as training
    from tfdl.digits.model import adapt, members, trainable_params

    train_ds, train_plain, val_ds, _ = sets
    adversary = speakers is not None
    # Several steps per graph call (Keras' Python work per step paid once per call).
    spe = training.steps_per_execution(steps)
    loss, acc = "sparse_categorical_crossentropy", ["accuracy"]
    if cfg.teacher:  # the targets are `distill.targets` rows
        loss, acc = distill.loss(cfg.temperature, cfg.soft_weight), [distill.accuracy()]
    if adversary:  # Keras names the digits' metric `probabilities_accuracy`
        loss = {"probabilities": loss,
                "speaker": keras.losses.SparseCategoricalCrossentropy(from_logits=True)}
        acc = {"probabilities": acc}
    histories = {}
    for net in members(model):
        net_wd = workdir if net is model else workdir.sub(net.name)
        if net is not model:
            print(f"-- member {net.name}: {trainable_params(net):,} trainable parameters")
        with strategy.scope():
            # What trains: `net`, or `net` plus a speaker-adversarial head (sharing its layers).
            trained = (adaptation.speaker_adversary(net, len(speakers), cfg.speaker_adversary)
                       if adversary else net)
        training.use_microbatches(trained, effective_microbatches(cfg, examples))
        adapt(net, train_plain)
        with strategy.scope():
            opt = training.make_optimizer(cfg.optimizer, cfg.learning_rate, cfg.schedule,
                                          decay_steps=steps * cfg.epochs)
            trained.compile(optimizer=opt, loss=loss, metrics=acc, steps_per_execution=spe)
        histories[net.name] = training.fit(
            trained, train_ds, val_ds, workdir=net_wd, epochs=cfg.epochs,
            batch_size=cfg.batch_size, patience=cfg.patience or None,
            examples_per_epoch=examples, steps_per_epoch=cfg.steps_per_epoch or None,
            monitor="val_probabilities_accuracy" if adversary else "val_accuracy",
            verbose=verbose)
        if adversary:  # the best checkpoint without the speaker head: it loads into `net`
            net.save_weights(str(net_wd.checkpoint))
    return histories


def _served(cfg, model):
    """What is evaluated and exported: `model`, or its test-time average over playback
    speeds and time shifts."""
    if not (cfg.test_speeds or cfg.test_shifts_ms):
        return model
    shifts = tuple(int(round(ms * data.SAMPLE_RATE / 1000)) for ms in cfg.test_shifts_ms)
    return adaptation.tta_ensemble(model, cfg.test_speeds or (1.0,), shifts or (0,))


def _evaluate(cfg, model, served, test, test_ds, length):
    """The classification report of `served` on `test`, speaker-adapted where `cfg` says."""
    import numpy as np

    from tfdl import metrics

    probs = served.predict(test_ds, verbose=0)
    y_true = np.array([r.digit for r in test])
    unadapted_accuracy = float(np.mean(probs.argmax(axis=-1) == y_true))
    adapting = cfg.speaker_adaptation and cfg.split in ("speaker", "loso")
    if adapting:
        probs = adaptation.speaker_adapted_predictions(model, served, test, probs,
                                                       cfg.batch_size, length)
    y_pred = probs.argmax(axis=-1)
    report = metrics.classification_report(y_true, y_pred, data.LABELS)
    if adapting:
        report["unadapted_accuracy"] = unadapted_accuracy
        report["speaker_adaptation"] = adaptation.ADAPTATION_NOTE
    report["misclassified"] = [{"file": r.path.name, "true": r.digit, "predicted": int(p),
                                "probability": float(q[p])}
                               for r, p, q in zip(test, y_pred, probs) if p != r.digit]
    return report


def _waves(recordings):
    """float32 [n, SAMPLE_RATE]: the recordings' waveforms in order, padded or trimmed."""
    import numpy as np

    from tfdl.pipeline import waveform_dataset

    paths, digits = data.paths_and_labels(recordings)
    ds = waveform_dataset(paths, digits, sample_rate=data.SAMPLE_RATE, length=data.SAMPLE_RATE,
                          batch_size=64)
    return np.concatenate([x.numpy() for x, _ in ds])


def _int8_clips(train, seed):
    """Training waveforms drawn at random: the int8 model's representative set."""
    from tfdl import export

    return _waves([train[i] for i in export.representative_indices(len(train), seed)])


def _save_misclassified(report, test, workdir):
    """The most confident mistakes as WAVs and misclassified.json, for the report page."""
    from tfdl.report.clips import save_misclassified

    paths = {r.path.name: r.path for r in test}
    save_misclassified(workdir, [dict(m, path=paths[m["file"]]) for m in report["misclassified"]])


def _figures(cfg, report, history, test, workdir):
    from tfdl import audio, features, plots
    from tfdl import train as training

    plots.training_curves(history, workdir.path("training_curves.png"),
                          title=f"{cfg.model} ({cfg.split})")
    cm_png = plots.confusion_matrix(
        report["confusion_matrix"], data.LABELS, workdir.path("confusion_matrix.png"),
        title=f"{cfg.model}: test accuracy {report['accuracy']:.2%}")
    training.log_image(workdir, "confusion_matrix", cm_png)
    wave, _ = audio.read_audio(test[0].path)
    plots.waveform_and_features(wave, data.SAMPLE_RATE,
                                features.mfcc(wave, data.SAMPLE_RATE).numpy(),
                                workdir.path("waveform_mfcc.png"),
                                title=f"{test[0].path.name} (digit {test[0].digit})")


def train_and_evaluate(cfg, train, test, workdir, strategy=None, plots=True, verbose="auto"):
    """Trains `cfg.model` on `train`, evaluates on `test`, writes the workdir.

    Args:
        cfg: a validated `Config`.
        train, test: lists of `tfdl.digits.data.Recording`.
        workdir: a `tfdl.workdir.Workdir`.
        strategy: a tf.distribute strategy (default: none).
        plots: write PNG figures and TensorBoard images.
        verbose: Keras' `fit` verbosity.

    Returns:
        The metrics dict (also written to `metrics.json`, last).
    """
    import keras
    import tensorflow as tf

    from tfdl import export
    from tfdl import train as training

    keras.utils.set_random_seed(cfg.seed)
    strategy = strategy or tf.distribute.get_strategy()
    everything = train
    train, val = data.holdout(train, cfg.val_fraction, cfg.seed)
    speakers = sorted({r.speaker for r in train})
    adversary = cfg.speaker_adversary > 0 and len(speakers) >= 2
    teacher, distilled = teaching.teacher_function(cfg, everything, test, workdir, strategy,
                                                   verbose)
    with strategy.scope():
        model = MODELS.build(cfg.model)
    length = model.get_layer("pad_or_trim").length
    augment_fn, augment_desc = data.make_augment(cfg)
    microbatches = effective_microbatches(cfg, len(train))
    sets = data.datasets(cfg, train, val, test, length, augment_fn, microbatches,
                         speakers if adversary else None, teacher)
    steps = -(-len(train) // cfg.batch_size)
    if cfg.steps_per_epoch:
        steps = min(steps, cfg.steps_per_epoch)
    _describe(cfg, model, (train, val, test), augment_desc, microbatches,
              speakers if adversary else None)
    histories = _fit_members(cfg, model, sets, workdir, strategy, steps,
                             speakers if adversary else None, len(train), verbose)
    history = _finish_training(model, histories, sets[1], workdir)
    served = _served(cfg, model)
    report = _evaluate(cfg, model, served, test, sets[3], length)
    _add_run_facts(report, cfg, model, histories, history, adversary, distilled)
    if plots:
        _figures(cfg, report, history, test, workdir)
        _save_misclassified(report, test, workdir)
    training.log_hparams(workdir, {k: v for k, v in dataclasses.asdict(cfg).items()
                                   if k in HPARAMS}, {"test_accuracy": report["accuracy"]})
    if cfg.export:
        report.update(export.ship_classifier(
            served, workdir.export, data.LABELS, clip_samples=data.SAMPLE_RATE,
            metadata={"task": "digits", "sample_rate": data.SAMPLE_RATE, "model": cfg.model},
            int8_clips=_int8_clips(train, cfg.seed) if cfg.int8 else None))
        if cfg.int8:
            report["int8_accuracy"] = export.accuracy(report["int8_tflite"], _waves(test),
                                                      [r.digit for r in test])
    workdir.write_json("metrics.json", report)
    return report


def _describe(cfg, model, splits, augment_desc, microbatches, speakers):
    """Prints the run's one-line plan: model, sizes, augmentation, adversary, teacher."""
    from tfdl.digits.model import trainable_params

    train, val, test = splits
    adversary = (f"; speaker-adversarial head over {len(speakers)} speakers (gradient "
                 f"reversal x{cfg.speaker_adversary:g})" if speakers else "")
    teacher = f"; distilled from {cfg.teacher}" if cfg.teacher else ""
    print(f"{cfg.model}: {trainable_params(model):,} trainable parameters; "
          f"{len(train)} train, {len(val)} validation, {len(test)} test recordings; "
          f"augment: {augment_desc}; micro-batches per step: {microbatches}{adversary}"
          f"{teacher}")


def _finish_training(model, histories, train_plain, workdir):
    """The run's history (an ensemble's: its members' side by side, also written to
    history.json), after batch norm's statistics are recomputed over the training split
    and the model is saved as the checkpoint."""
    from tfdl.digits.model import members

    nets = members(model)
    history = histories[model.name] if len(nets) == 1 else _members_history(histories)
    # Batch norm's moving statistics (momentum 0.99 in most of these nets) lag far behind the
    # weights in a short run (6 epochs of `compact`: 76 % in inference mode against 98 % in
    # training mode); recomputed over the training split, they are exact (PreciseBN). The
    # checkpoint is the model that is evaluated and exported.
    adaptation.adapt_batchnorm(model, train_plain)
    model.save_weights(str(workdir.checkpoint))
    if len(nets) > 1:
        workdir.write_json("history.json", history)
    return history


def _add_run_facts(report, cfg, model, histories, history, adversary, distilled):
    """Adds to `report` what was trained and how: model, split, speed, time, epochs, sizes
    (per member of an ensemble), test-time averaging, the speaker adversary and the
    teacher (`distilled`: `tfdl.digits.distill.teacher_function`'s description, or None)."""
    from tfdl.digits.model import members, trainable_params

    report.update(model=cfg.model, split=cfg.split,
                  examples_per_sec=history["steady_examples_per_sec"],
                  train_seconds=history["train_seconds"],
                  epochs_run=max(len(h.get("loss", [])) for h in histories.values()),
                  trainable_params=trainable_params(model),
                  test_speeds=list(cfg.test_speeds), test_shifts_ms=list(cfg.test_shifts_ms),
                  speaker_adversary=cfg.speaker_adversary if adversary else 0.0)
    if distilled:
        report["distillation"] = distilled
    nets = members(model)
    if len(nets) > 1:
        report["members"] = {net.name: {"trainable_params": trainable_params(net),
                                        "train_seconds": histories[net.name]["train_seconds"]}
                             for net in nets}


def _run_loso(cfg, folds, wd, strategy, verbose):
    """Every leave-one-speaker-out fold in `fold_<speaker>/`; the mean report."""
    import numpy as np

    from tfdl import plots

    results = {}
    for speaker, tr, te in folds:
        print(f"\n== fold: test speaker {speaker} ==")
        fold_cfg = dataclasses.replace(cfg, export=False,
                                       teacher=teaching.fold_teacher(cfg, speaker))
        fold_wd = wd.sub(f"fold_{speaker}")
        fold_wd.write_json("config.json", fold_cfg)
        results[speaker] = train_and_evaluate(fold_cfg, tr, te, fold_wd, strategy,
                                              verbose=verbose)
    accs = {s: r["accuracy"] for s, r in results.items()}
    cm = np.sum([r["confusion_matrix"] for r in results.values()], axis=0)
    plots.confusion_matrix(cm, data.LABELS, wd.path("confusion_matrix.png"),
                           title=f"{cfg.model}: leave-one-speaker-out")
    report = {"model": cfg.model, "split": "loso", "fold_accuracy": accs,
              "mean_accuracy": float(np.mean(list(accs.values()))),
              "accuracy": float(np.trace(cm) / cm.sum()),
              "confusion_matrix": cm.tolist(), "labels": list(data.LABELS)}
    unadapted = {s: r["unadapted_accuracy"] for s, r in results.items()
                 if "unadapted_accuracy" in r}
    if unadapted:
        report["speaker_adaptation"] = adaptation.ADAPTATION_NOTE
        report["unadapted_fold_accuracy"] = unadapted
        report["unadapted_mean_accuracy"] = float(np.mean(list(unadapted.values())))
    wd.write_json("metrics.json", report)
    return report


def _summary_rows(cfg, report, wd):
    if cfg.split != "loso":
        rows = [("model", cfg.model), ("split", cfg.split),
                ("test accuracy", f"{report['accuracy']:.2%} ({report['num_examples']} "
                                  f"recordings)"),
                ("examples/sec", f"{report['examples_per_sec']:.0f} (training)")]
        if "unadapted_accuracy" in report:
            rows.insert(3, ("without speaker adaptation", f"{report['unadapted_accuracy']:.2%}"))
    else:
        unadapted = report.get("unadapted_fold_accuracy", {})
        rows = [("model", cfg.model), ("split", "leave-one-speaker-out")]
        rows += [(f"  {s}", f"{a:.2%}" + (f" (unadapted {unadapted[s]:.2%})"
                                         if s in unadapted else ""))
                 for s, a in report["fold_accuracy"].items()]
        rows += [("mean accuracy", f"{report['mean_accuracy']:.2%}")]
        if unadapted:
            rows += [("without speaker adaptation", f"{report['unadapted_mean_accuracy']:.2%}")]
    rows += [("workdir", str(wd.root)), ("metrics", str(wd.root / "metrics.json"))]
    if cfg.split != "loso" and cfg.export:
        rows += [("SavedModel", str(wd.export)), ("TFLite", report["tflite"])]
        if "int8_tflite" in report:
            rows += [("TFLite int8", f"{report['int8_tflite']} (test accuracy "
                                     f"{report['int8_accuracy']:.2%})")]
        rows += [("predict", f"python -m apps.digits predict --export_dir={wd.export} FILE.wav")]
    one_log = cfg.split != "loso" and "members" not in report  # else logs in sub-folders
    rows.append(("TensorBoard", f"tensorboard --logdir {wd.tensorboard if one_log else wd.root}"))
    return rows


def run(cfg, workdir="runs/digits", data_dir=None, verbose="auto", restart=False):
    """Runs `cfg` (one split, or all leave-one-speaker-out folds) and prints a summary.

    Args:
        cfg: a `Config` (validated here).
        workdir: the run's folder.
        data_dir: the FSDD folder (None: `$TFDL_DATA_DIR`, the Keras cache, download).
        verbose: Keras' `fit` verbosity (2: one line per epoch, for logs).
        restart: start over if `workdir` holds the unfinished run of another config.

    Returns:
        The metrics dict written to `<workdir>/metrics.json`.
    """
    cfg.validate()
    recordings = data.load(data_dir)
    data.check_wavs(recordings)
    if cfg.split == "loso":
        folds = data.loso_folds(recordings)
        train_examples = len(folds[0][1])
    else:
        train, test = data.split(recordings, cfg.split, cfg.test_speakers, cfg.test_fraction,
                                 cfg.seed)
        train_examples = len(train)
    microbatches = effective_microbatches(cfg, train_examples)
    if microbatches > 1:
        from tfdl.train import cpu_threads

        cpu_threads(microbatches=microbatches)  # before TensorFlow starts

    import tensorflow as tf

    from tfdl import distribute
    from tfdl.workdir import Workdir

    strategy = distribute.get_strategy(cfg.distribute)
    wd = Workdir(workdir)
    wd.write_config(cfg, restart)
    try:
        if cfg.split == "loso":
            report = _run_loso(cfg, folds, wd, strategy, verbose)
        else:
            report = train_and_evaluate(cfg, train, test, wd, strategy, verbose=verbose)
    except tf.errors.InvalidArgumentError as e:
        from tfdl.audio import tf_error_message

        raise InputError(f"could not read the audio: {tf_error_message(e)}") from None
    cli.summary("spoken digits: done", _summary_rows(cfg, report, wd))
    return report
