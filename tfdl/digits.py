"""Spoken digits (FSDD) experiments: one run's config, training, evaluation, export, predict.

`apps.digits` is the command line over this module: `run(Config(...))` trains,
evaluates, plots and exports one model (or one per speaker for
leave-one-speaker-out), writing the workdir described in the app's docstring.
"""

import dataclasses
import os
import sys
from pathlib import Path

from tfdl import cli
from tfdl.errors import InputError
from tfdl.models.digits import DEFAULTS, MODELS

SPLITS = ("official", "random", "speaker", "loso")


@dataclasses.dataclass(frozen=True)
class Config:
    """One run's settings; `None` hyperparameters take the model's `DEFAULTS`."""

    model: str = "batchnorm"
    split: str = "official"
    test_speakers: tuple = ()
    test_fraction: float = 0.1
    val_fraction: float = None
    epochs: int = None
    batch_size: int = None
    learning_rate: float = None
    optimizer: str = None
    schedule: str = None
    augment: bool = None
    noise_dir: str = None
    noise_volume: float = 0.1
    max_shift_ms: float = 100.0
    speed_change: float = None
    microbatches: int = None
    test_speeds: tuple = None
    test_shifts_ms: tuple = None
    speaker_adaptation: bool = None
    speaker_adversary: float = None
    patience: int = None
    steps_per_epoch: int = None
    seed: int = 0
    data_dir: str = None
    workdir: str = "runs/digits"
    distribute: str = "none"
    jit_compile: bool = False
    export: bool = True
    verbose: str = "auto"

    def resolved(self):
        """A copy with the model's defaults filled in."""
        cli.check_choice("model", self.model, MODELS)
        fill = {k: v for k, v in DEFAULTS.get(self.model, {}).items()
                if getattr(self, k) is None}
        return dataclasses.replace(self, **fill)

    def validate(self):
        """Raises InputError naming the flag of the first bad value."""
        from tfdl.train import OPTIMIZERS, SCHEDULES

        cli.check_choice("model", self.model, MODELS)
        cli.check_choice("split", self.split, SPLITS)
        for name in ("epochs", "batch_size", "learning_rate", "max_shift_ms"):
            cli.check_positive(name, getattr(self, name))
        if not isinstance(self.epochs, int):
            raise InputError(f"--epochs must be an integer. Received: --epochs={self.epochs}")
        for name in ("patience", "steps_per_epoch"):
            if getattr(self, name) is not None:
                cli.check_positive(name, getattr(self, name))
        cli.check_choice("optimizer", self.optimizer, OPTIMIZERS)
        cli.check_choice("schedule", self.schedule, SCHEDULES)
        if self.val_fraction is None or not 0.0 <= self.val_fraction < 0.5:
            raise InputError(f"--val_fraction must be in [0, 0.5). Received: "
                             f"--val_fraction={self.val_fraction}")
        if not 0.0 < self.test_fraction < 1.0:
            raise InputError(f"--test_fraction must be in (0, 1). Received: "
                             f"--test_fraction={self.test_fraction}")
        if not isinstance(self.microbatches, int) or self.microbatches < 1:
            raise InputError(f"--microbatches must be a positive integer. Received: "
                             f"--microbatches={self.microbatches}")
        speeds = self.test_speeds
        if speeds is None or not all(isinstance(f, (int, float)) and 0.5 <= f <= 2.0
                                     for f in speeds):
            raise InputError(f"--test_speeds must be playback speeds in [0.5, 2] (empty: "
                             f"none). Received: --test_speeds={speeds}")
        shifts = self.test_shifts_ms
        if shifts is None or not all(isinstance(s, (int, float)) and 0 <= s < 500
                                     for s in shifts):
            raise InputError(f"--test_shifts_ms must be delays in [0, 500) ms (empty: none). "
                             f"Received: --test_shifts_ms={shifts}")
        if self.speed_change is None or not 0.0 <= self.speed_change < 0.5:
            raise InputError(f"--speed_change must be in [0, 0.5). Received: "
                             f"--speed_change={self.speed_change}")
        if self.speaker_adversary is None or not self.speaker_adversary >= 0:
            raise InputError(f"--speaker_adversary must be >= 0 (0: off). Received: "
                             f"--speaker_adversary={self.speaker_adversary}")
        if self.noise_volume < 0:
            raise InputError(f"--noise_volume must be >= 0. Received: "
                             f"--noise_volume={self.noise_volume}")
        if self.split == "speaker" and not self.test_speakers:
            raise InputError("--split=speaker needs --test_speakers (e.g. --test_speakers=george)")
        if self.noise_dir and not Path(self.noise_dir).is_dir():
            raise InputError(f"--noise_dir not found: {self.noise_dir}")
        return self


def check_wavs(recordings):
    """Reads every WAV header; a file tf.audio.decode_wav cannot read is an InputError naming it."""
    from tfdl.audio import wav_info

    for r in recordings:
        info = wav_info(r.path)
        if info["format"] != 1 or info["bits"] != 16:
            raise InputError(f"not a 16-bit PCM WAV (format {info['format']}, "
                             f"{info['bits']} bits): {r.path}")
        size = r.path.stat().st_size
        if info["frames"] <= 0 or info["frames"] * info["block"] > size:
            raise InputError(f"corrupt WAV (data chunk empty or longer than the file): {r.path}")


def default_noise_dir():
    root = os.environ.get("TFDL_DATA_DIR")
    if root:
        d = Path(root) / "keywords" / "_background_noise_"
        if d.is_dir():
            return d
    return None


def noise_bank(noise_dir, sample_rate, seconds=30.0):
    """Background-noise clips from `noise_dir`, resampled, as a [clips, samples] array."""
    from tfdl import audio, augment

    files = sorted(p for p in Path(noise_dir).iterdir()
                   if p.suffix.lower() in (".wav", ".flac", ".ogg"))
    if not files:
        raise InputError(f"no noise files (.wav/.flac/.ogg) in {noise_dir}")
    clips = []
    for f in files:
        x, rate = audio.read_audio(f)
        x = x[:int(seconds * rate)]
        clips.append(audio.resample(x, rate, sample_rate).numpy())
    return augment.noise_bank(clips, int(seconds * sample_rate))


def make_augment(cfg, sample_rate):
    """The training-only waveform transform for `cfg`, and a description for the log."""
    from tfdl import augment

    if not cfg.augment:
        return None, "none"
    max_shift = int(cfg.max_shift_ms * sample_rate / 1000)
    noise_dir = Path(cfg.noise_dir) if cfg.noise_dir else default_noise_dir()
    noises = None
    if noise_dir is not None and cfg.noise_volume > 0:
        noises = noise_bank(noise_dir, sample_rate)
    if noises is None:
        print("augment: no background-noise folder (pass --noise_dir or put "
              "_background_noise_ under $TFDL_DATA_DIR/keywords); using time shift only",
              file=sys.stderr)

    def fn(x):
        x = augment.speed_perturb(x, cfg.speed_change)
        x = augment.time_shift(x, max_shift)
        if noises is not None:
            x = augment.add_background_noise(x, noises, cfg.noise_volume)
        return x

    desc = f"time shift +-{cfg.max_shift_ms:g} ms"
    if cfg.speed_change:
        desc = f"speed x[{1 - cfg.speed_change:g}, {1 + cfg.speed_change:g}], " + desc
    if noises is not None:
        desc += f", background noise from {noise_dir} (gain <= {cfg.noise_volume:g})"
    return fn, desc


def effective_microbatches(cfg):
    """`cfg.microbatches` where it pays: at most one per CPU core; 1 under a tf.distribute
    strategy or with a GPU."""
    import tensorflow as tf

    if cfg.distribute != "none" or tf.config.list_physical_devices("GPU"):
        return 1
    return max(1, min(cfg.microbatches, os.cpu_count() or 1))


def _datasets(cfg, train, val, test, length, sample_rate, augment_fn, microbatches,
              speakers=None):
    """(training, training without augmentation, validation or None, test) datasets.

    With `speakers` (the training speakers, for `speaker_adversary`), the labels of the
    training and validation sets are `{"probabilities": digit, "speaker": index}`.
    """
    from tfdl.datasets import fsdd
    from tfdl.pipeline import waveform_dataset
    from tfdl.train import steady_input

    n = len(fsdd.LABELS)

    def ds(recs, training, with_speakers=False):
        paths, labels = fsdd.paths_and_labels(recs)
        if with_speakers:  # one int label through the pipeline, split into two after it
            labels = [d + n * speakers.index(r.speaker) for d, r in zip(labels, recs)]
        out = waveform_dataset(paths, labels, sample_rate=sample_rate, length=length,
                               batch_size=cfg.batch_size, training=training, seed=cfg.seed,
                               augment=augment_fn if training else None)
        if with_speakers:
            out = out.map(lambda x, y: (x, {"probabilities": y % n, "speaker": y // n}))
        return steady_input(out) if training and microbatches > 1 else out

    adversary = speakers is not None
    return (ds(train, True, adversary), ds(train, False),
            ds(val, False, adversary) if val else None, ds(test, False))


ADAPTATION_NOTE = ("AdaBN per test speaker, 2-fold cross-fitted: batch-norm statistics "
                   "re-estimated on half of the speaker's recordings (no labels) score the "
                   "other half, and vice versa")


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


def speaker_adapted_predictions(model, served, test, unadapted, batch_size, length,
                                sample_rate):
    """Probabilities of `test` with unsupervised speaker adaptation, never adapted on the
    recording being scored.

    For each test speaker, the recordings are dealt into two halves (alternately, in
    file-name order); `tfdl.models.digits.adapt_batchnorm` re-estimates `model`'s
    batch-norm statistics on one half (labels unused) and `served` (the model or its
    speed ensemble, sharing its layers) scores the other half, then the halves swap. A
    speaker with a single recording is scored unadapted. `model`'s statistics are
    restored afterwards, so what is exported is the speaker-independent model.

    Args:
        model: the trained model (its batch-norm layers are adapted).
        served: what scores: `model` or a model sharing its layers.
        test: list of `fsdd.Recording`.
        unadapted: `served`'s probabilities of `test` (kept for single-recording speakers).
        batch_size, length, sample_rate: as the test pipeline.

    Returns:
        `[len(test), num_classes]` probabilities in the order of `test`.
    """
    import numpy as np

    from tfdl.datasets import fsdd
    from tfdl.models import digits
    from tfdl.pipeline import waveform_dataset

    def dataset(idx):
        paths, labels = fsdd.paths_and_labels([test[i] for i in idx])
        return waveform_dataset(paths, labels, sample_rate=sample_rate, length=length,
                                batch_size=batch_size)

    state = digits.batchnorm_state(model)
    probs = np.array(unadapted, copy=True)
    for speaker in sorted({r.speaker for r in test}):
        idx = sorted((i for i, r in enumerate(test) if r.speaker == speaker),
                     key=lambda i: test[i].path.name)
        if len(idx) < 2:
            continue
        for half in (idx[0::2], idx[1::2]):
            rest = sorted(set(idx) - set(half))
            digits.adapt_batchnorm(model, dataset(rest))  # sets every layer's statistics
            probs[half] = served.predict(dataset(half), verbose=0)
    digits.restore_batchnorm(model, state)
    return probs


def train_and_evaluate(cfg, train, test, workdir, strategy=None, plots=True):
    """Trains `cfg.model` on `train`, evaluates on `test`, writes the workdir.

    Args:
        cfg: a resolved, validated `Config`.
        train, test: lists of `fsdd.Recording`.
        workdir: a `tfdl.workdir.Workdir`.
        strategy: a tf.distribute strategy (default: none).
        plots: write PNG figures and TensorBoard images.

    Returns:
        The metrics dict (also written to `metrics.json`, last).
    """
    import random

    import keras
    import numpy as np
    import tensorflow as tf

    from tfdl import audio, export, features, metrics, plots as plotting, train as training
    from tfdl.datasets import fsdd
    from tfdl.models import digits
    from tfdl.workdir import Workdir

    keras.utils.set_random_seed(cfg.seed)
    strategy = strategy or tf.distribute.get_strategy()
    val = []
    if cfg.val_fraction > 0:
        order = list(range(len(train)))
        random.Random(cfg.seed).shuffle(order)
        n_val = max(1, int(round(cfg.val_fraction * len(train))))
        val = [train[i] for i in sorted(order[:n_val])]
        train = [train[i] for i in sorted(order[n_val:])]
    sample_rate = fsdd.SAMPLE_RATE
    speakers = sorted({r.speaker for r in train})
    adversary = cfg.speaker_adversary > 0 and len(speakers) >= 2
    with strategy.scope():
        model = MODELS.build(cfg.model)
    nets = digits.members(model)
    microbatches = effective_microbatches(cfg)
    length = model.get_layer("pad_or_trim").length
    augment_fn, augment_desc = make_augment(cfg, sample_rate)
    train_ds, train_plain, val_ds, test_ds = _datasets(cfg, train, val, test, length,
                                                       sample_rate, augment_fn, microbatches,
                                                       speakers if adversary else None)
    steps = -(-len(train) // cfg.batch_size)
    if cfg.steps_per_epoch:
        steps = min(steps, cfg.steps_per_epoch)
    adversary_desc = (f"; speaker-adversarial head over {len(speakers)} speakers (gradient "
                      f"reversal x{cfg.speaker_adversary:g})" if adversary else "")
    print(f"{cfg.model}: {digits.trainable_params(model):,} trainable parameters; "
          f"{len(train)} train, {len(val)} validation, {len(test)} test recordings; "
          f"augment: {augment_desc}; micro-batches per step: {microbatches}{adversary_desc}")
    # Several steps per graph call (Keras' Python work per step paid once per call); one
    # under a distribution strategy.
    spe = 1 if tf.distribute.has_strategy() else training.STEPS_PER_EXECUTION
    loss, acc = "sparse_categorical_crossentropy", ["accuracy"]
    if adversary:  # Keras names the digits' metric `probabilities_accuracy`
        loss = {"probabilities": loss,
                "speaker": keras.losses.SparseCategoricalCrossentropy(from_logits=True)}
        acc = {"probabilities": acc}
    # An ensemble model (`compact_pair`) trains its member networks one after the other,
    # each with its own optimizer and sub-workdir; a single model is its own member.
    histories = {}
    for net in nets:
        net_wd = workdir if net is model else Workdir(workdir.path(net.name))
        if net is not model:
            print(f"-- member {net.name}: {digits.trainable_params(net):,} trainable parameters")
        with strategy.scope():
            # What trains: `net`, or `net` plus a speaker-adversarial head (sharing its layers).
            trained = (digits.speaker_adversary(net, len(speakers), cfg.speaker_adversary)
                       if adversary else net)
        training.use_microbatches(trained, microbatches)
        digits.adapt(net, train_plain)
        with strategy.scope():
            opt = training.make_optimizer(cfg.optimizer, cfg.learning_rate, cfg.schedule,
                                          decay_steps=steps * cfg.epochs)
            trained.compile(optimizer=opt, loss=loss, metrics=acc, jit_compile=cfg.jit_compile,
                            steps_per_execution=spe)
        histories[net.name] = training.fit(
            trained, train_ds, val_ds, workdir=net_wd, epochs=cfg.epochs,
            batch_size=cfg.batch_size, patience=cfg.patience, examples_per_epoch=len(train),
            steps_per_epoch=cfg.steps_per_epoch,
            monitor="val_probabilities_accuracy" if adversary else "val_accuracy",
            verbose=cfg.verbose)
        if adversary:  # the best checkpoint without the speaker head: it loads into `net`
            net.save_weights(str(net_wd.checkpoint))
    history = histories[model.name] if len(nets) == 1 else _members_history(histories)
    if len(nets) > 1:
        model.save_weights(str(workdir.checkpoint))
        workdir.write_json("history.json", history)
    # Evaluated and exported: the trained model, or its average over playback speeds and
    # time shifts.
    served = model
    if cfg.test_speeds or cfg.test_shifts_ms:
        shifts = tuple(int(round(ms * sample_rate / 1000)) for ms in cfg.test_shifts_ms)
        served = digits.tta_ensemble(model, cfg.test_speeds or (1.0,), shifts or (0,))
    probs = served.predict(test_ds, verbose=0)
    y_true = np.array([r.digit for r in test])
    unadapted_accuracy = float(np.mean(probs.argmax(axis=-1) == y_true))
    adapting = cfg.speaker_adaptation and cfg.split in ("speaker", "loso")
    if adapting:
        probs = speaker_adapted_predictions(model, served, test, probs, cfg.batch_size, length,
                                            sample_rate)
    y_pred = probs.argmax(axis=-1)
    report = metrics.classification_report(y_true, y_pred, fsdd.LABELS)
    if adapting:
        report["unadapted_accuracy"] = unadapted_accuracy
        report["speaker_adaptation"] = ADAPTATION_NOTE
    report["model"] = cfg.model
    report["split"] = cfg.split
    report["examples_per_sec"] = history["steady_examples_per_sec"]
    report["train_seconds"] = history["train_seconds"]
    report["epochs_run"] = max(len(h.get("loss", [])) for h in histories.values())
    report["trainable_params"] = digits.trainable_params(model)
    if len(nets) > 1:
        report["members"] = {net.name: {"trainable_params": digits.trainable_params(net),
                                        "train_seconds": histories[net.name]["train_seconds"]}
                             for net in nets}
    report["test_speeds"] = list(cfg.test_speeds)
    report["test_shifts_ms"] = list(cfg.test_shifts_ms)
    report["speaker_adversary"] = cfg.speaker_adversary if adversary else 0.0
    report["misclassified"] = [{"file": r.path.name, "predicted": int(p)}
                               for r, p in zip(test, y_pred) if p != r.digit]
    if plots:
        plotting.training_curves(history, workdir.path("training_curves.png"),
                                 title=f"{cfg.model} ({cfg.split})")
        cm_png = plotting.confusion_matrix(
            report["confusion_matrix"], fsdd.LABELS, workdir.path("confusion_matrix.png"),
            title=f"{cfg.model}: test accuracy {report['accuracy']:.2%}")
        training.log_image(workdir, "confusion_matrix", cm_png)
        wave, _ = audio.read_audio(test[0].path)
        plotting.waveform_and_features(wave, sample_rate,
                                       features.mfcc(wave, sample_rate).numpy(),
                                       workdir.path("waveform_mfcc.png"),
                                       title=f"{test[0].path.name} (digit {test[0].digit})")
    hparams = {k: v for k, v in dataclasses.asdict(cfg).items()
               if k in ("model", "split", "epochs", "batch_size", "learning_rate", "optimizer",
                        "schedule", "augment", "speed_change", "microbatches", "seed",
                        "speaker_adaptation", "speaker_adversary",
                        "val_fraction")}
    training.log_hparams(workdir, hparams, {"test_accuracy": report["accuracy"]})
    if cfg.export:
        report.update(export.ship_classifier(
            served, workdir.export, fsdd.LABELS, clip_samples=sample_rate,
            metadata={"task": "digits", "sample_rate": sample_rate, "model": cfg.model}))
    workdir.write_json("metrics.json", report)
    return report


def run(cfg):
    """Runs `cfg` (one split, or all leave-one-speaker-out folds) and prints a summary.

    Returns:
        The metrics dict written to `<workdir>/metrics.json`.
    """
    cfg = cfg.resolved().validate()
    microbatches = effective_microbatches(cfg)
    if microbatches > 1:
        from tfdl.train import cpu_threads

        cpu_threads(microbatches=microbatches)  # before TensorFlow starts
    from tfdl.datasets import fsdd

    recordings = fsdd.load(cfg.data_dir)
    check_wavs(recordings)
    if cfg.split == "loso":
        folds = fsdd.loso_folds(recordings)
    else:
        train, test = fsdd.split(recordings, cfg.split, cfg.test_speakers, cfg.test_fraction,
                                 cfg.seed)
        folds = None

    import numpy as np
    import tensorflow as tf

    from tfdl import distribute
    from tfdl.workdir import Workdir

    strategy = distribute.get_strategy(cfg.distribute)
    wd = Workdir(cfg.workdir)
    wd.write_json("config.json", cfg)
    try:
        if folds is None:
            report = train_and_evaluate(cfg, train, test, wd, strategy)
            rows = [("model", cfg.model), ("split", cfg.split),
                    ("test accuracy", f"{report['accuracy']:.2%} "
                                      f"({report['num_examples']} recordings)"),
                    ("examples/sec", f"{report['examples_per_sec']:.0f} (training)")]
            if "unadapted_accuracy" in report:
                rows.insert(3, ("without speaker adaptation",
                                f"{report['unadapted_accuracy']:.2%}"))
        else:
            results = {}
            for speaker, tr, te in folds:
                print(f"\n== fold: test speaker {speaker} ==")
                fold_cfg = dataclasses.replace(cfg, export=False)
                fold_wd = Workdir(wd.path(f"fold_{speaker}"))
                fold_wd.write_json("config.json", fold_cfg)
                results[speaker] = train_and_evaluate(fold_cfg, tr, te, fold_wd, strategy)
            accs = {s: r["accuracy"] for s, r in results.items()}
            cm = np.sum([r["confusion_matrix"] for r in results.values()], axis=0)
            from tfdl import plots

            plots.confusion_matrix(cm, fsdd.LABELS, wd.path("confusion_matrix.png"),
                                   title=f"{cfg.model}: leave-one-speaker-out")
            report = {"model": cfg.model, "split": "loso", "fold_accuracy": accs,
                      "mean_accuracy": float(np.mean(list(accs.values()))),
                      "accuracy": float(np.trace(cm) / cm.sum()),
                      "confusion_matrix": cm.tolist(), "labels": list(fsdd.LABELS)}
            unadapted = {s: r["unadapted_accuracy"] for s, r in results.items()
                         if "unadapted_accuracy" in r}
            if unadapted:
                report["speaker_adaptation"] = ADAPTATION_NOTE
                report["unadapted_fold_accuracy"] = unadapted
                report["unadapted_mean_accuracy"] = float(np.mean(list(unadapted.values())))
            wd.write_json("metrics.json", report)
            rows = [("model", cfg.model), ("split", "leave-one-speaker-out")]
            rows += [(f"  {s}", f"{a:.2%}" + (f" (unadapted {unadapted[s]:.2%})"
                                             if s in unadapted else ""))
                     for s, a in accs.items()]
            rows += [("mean accuracy", f"{report['mean_accuracy']:.2%}")]
            if unadapted:
                rows += [("without speaker adaptation", f"{report['unadapted_mean_accuracy']:.2%}")]
    except tf.errors.InvalidArgumentError as e:
        raise InputError(f"could not read the audio: {e.message.splitlines()[0]}") from None
    rows += [("workdir", str(wd.root)), ("metrics", str(wd.root / "metrics.json"))]
    if folds is None and cfg.export:
        rows.append(("SavedModel", str(wd.export)))
        rows.append(("TFLite", report["tflite"]))
        rows.append(("predict", f"python -m apps.digits predict --export_dir={wd.export} "
                                f"FILE.wav"))
    one_log = folds is None and "members" not in report  # else logs in sub-folders
    rows.append(("TensorBoard", f"tensorboard --logdir {wd.tensorboard if one_log else wd.root}"))
    cli.summary("spoken digits: done", rows)
    return report


def predict(export_dir, files, sample_rate=8000):
    """Prints `FILE: digit D (probability P)` per file; returns [(file, digit, prob)].

    `export_dir` is a SavedModel folder or a `.tflite` file written by `run`.
    """
    from tfdl import audio, export

    export_dir = Path(export_dir)
    if not (export_dir / "saved_model.pb").is_file() and not (
            export_dir.suffix == ".tflite" and export_dir.is_file()):
        raise InputError(f"no SavedModel or .tflite file at --export_dir={export_dir} (train "
                         f"first: python -m apps.digits)")
    if not files:
        raise InputError("predict needs at least one audio file: "
                         "python -m apps.digits predict --export_dir=DIR FILE.wav ...")
    waves = [audio.load(f, sample_rate)[0] for f in files]
    loaded = export.load(export_dir)
    out = []
    for f, w in zip(files, waves):
        res = loaded.serve(w[None, :])
        digit = res["label"].numpy()[0].decode()
        prob = float(res["probabilities"].numpy()[0].max())
        print(f"{f}: digit {digit} (probability {prob:.3f})")
        out.append((str(f), digit, prob))
    return out
