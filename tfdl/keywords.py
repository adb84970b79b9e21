"""Keyword spotting on a Speech Commands-layout folder: data, training, export, streaming.

The pipeline follows TensorFlow's `speech_commands` example, rebuilt on
tf.data and Keras 3:

* Classes `_silence_`, `_unknown_`, then the wanted words. Each split gets
  `unknown_percentage` % (of its wanted clips) randomly chosen clips of other
  words and `silence_percentage` % silence examples made from background
  noise at a random volume in [0, 1], as the example does.
* Clips are decoded, resampled to `sample_rate` (mixed-rate folders work) and
  padded/trimmed in a parallel tf.data map (`tfdl.pipeline.load_waveform`);
  decoded audio is cached in memory for the process, so repeated trainings
  (benchmarks) decode once.
* Training-only augmentation in `Dataset.map`: random time shift with zero
  fill (`time_shift_ms`), then with probability `background_frequency` a
  random crop of a random noise file at a volume uniform in
  [0, `background_volume`]; silence examples get fresh noise every epoch.
  Validation and test are never augmented.
* Noise files named in `held_out_noise` are never used in training; the test
  split is additionally evaluated mixed with them at `eval_snr_db`
  (`tfdl.augment.mix_at_snr`, SNR over the whole padded clip), which measures
  robustness to noise the model has not heard.
* The model holds the feature front end (`tfdl.models.keywords`), so the
  exported SavedModel takes raw waveforms of any length at `sample_rate` and
  returns probabilities, class ids and label strings.
* `detect` slides a clip-long window over a long recording and reports
  keywords with their times (smoothing and suppression as the example's
  `RecognizeCommands`).
"""

import dataclasses
import math
from pathlib import Path

import keras
import numpy as np
import tensorflow as tf

from tfdl import audio, augment, cli, export, metrics, plots, train
from tfdl.datasets import speech_commands as sc
from tfdl.errors import InputError
from tfdl.models.keywords import MODELS, PREPROCESS
from tfdl.pipeline import AUTOTUNE, load_waveform
from tfdl.workdir import Workdir



@dataclasses.dataclass(frozen=True)
class KeywordsConfig:
    """Everything a keyword-spotting run needs (the app's flags).

    Attributes mirror the TensorFlow speech_commands example's flags; see
    `apps/keywords.py` for their help strings. `model_kwargs` are passed to
    the model builder (e.g. `{"filters": 32}` for ds_cnn). The defaults are the
    benchmark's best run: `cnn`, log-mel, dropout 0.25 and batch norm.
    """

    data_dir: str = ""
    workdir: str = "runs/keywords"
    wanted_words: tuple = sc.DEFAULT_WANTED_WORDS
    sample_rate: int = 16000
    clip_duration_ms: float = 1000.0
    window_size_ms: float = 30.0
    window_stride_ms: float = 10.0
    feature_bin_count: int = 40
    preprocess: str = "log-mel"
    silence_percentage: float = 10.0
    unknown_percentage: float = 10.0
    time_shift_ms: float = 100.0
    background_frequency: float = 0.8
    background_volume: float = 0.1
    held_out_noise: tuple = ()
    eval_snr_db: tuple = (0.0, 10.0)
    validation_percentage: float = 10.0
    testing_percentage: float = 10.0
    model: str = "cnn"
    model_kwargs: dict = dataclasses.field(
        default_factory=lambda: {"dropout": 0.25, "batchnorm": True})
    optimizer: str = "adam"
    learning_rate: float = 1e-3
    schedule: str = "cosine"
    epochs: int = 30
    batch_size: int = 64
    patience: int = 0
    steps_per_epoch: int = 0
    seed: int = 0
    export: bool = True
    verbose: str = "auto"

    @property
    def clip_samples(self):
        return int(round(self.sample_rate * self.clip_duration_ms / 1000.0))

    @property
    def noise_augmentation(self):
        return self.background_frequency > 0 and self.background_volume > 0

    def front_end(self):
        """The model builders' front-end keyword arguments."""
        return dict(sample_rate=self.sample_rate, clip_duration_ms=self.clip_duration_ms,
                    window_size_ms=self.window_size_ms, window_stride_ms=self.window_stride_ms,
                    feature_bin_count=self.feature_bin_count, preprocess=self.preprocess)

    def validate(self):
        """Raises InputError naming the flag for any bad value; returns self."""
        for flag in ("sample_rate", "clip_duration_ms", "window_size_ms", "window_stride_ms",
                     "feature_bin_count", "epochs", "batch_size", "learning_rate"):
            cli.check_positive(flag, getattr(self, flag))
        if self.window_size_ms > self.clip_duration_ms:
            raise InputError(f"--window_size_ms must be <= --clip_duration_ms. Received: "
                             f"{self.window_size_ms} > {self.clip_duration_ms}")
        cli.check_choice("preprocess", self.preprocess, PREPROCESS)
        cli.check_choice("model", self.model, MODELS)
        cli.check_choice("optimizer", self.optimizer, train.OPTIMIZERS)
        for flag in ("silence_percentage", "unknown_percentage"):
            if not 0 <= getattr(self, flag) <= 100:
                raise InputError(f"--{flag} must be in [0, 100]. Received: "
                                 f"--{flag}={getattr(self, flag)}")
        if not 0 <= self.background_frequency <= 1:
            raise InputError(f"--background_frequency must be in [0, 1]. Received: "
                             f"--background_frequency={self.background_frequency}")
        if not 0 <= self.background_volume <= 1:
            raise InputError(f"--background_volume must be in [0, 1]. Received: "
                             f"--background_volume={self.background_volume}")
        if self.time_shift_ms < 0 or self.time_shift_ms >= self.clip_duration_ms:
            raise InputError(f"--time_shift_ms must be in [0, --clip_duration_ms). Received: "
                             f"--time_shift_ms={self.time_shift_ms}")
        for flag in ("patience", "steps_per_epoch"):
            if getattr(self, flag) < 0:
                raise InputError(f"--{flag} must be >= 0. Received: --{flag}="
                                 f"{getattr(self, flag)}")
        if not self.wanted_words:
            raise InputError("--wanted_words must list at least one word")
        return self


# ----------------------------------------------------------------------------- data

_DECODED = {}  # (paths, sample_rate, length) -> [n, length] float32: a per-process cache.


def decode_clips(paths, sample_rate, length, batch_size=256):
    """Decodes, resamples and pads/trims WAV clips in a parallel tf.data map.

    Results are cached for the process (keyed by paths, rate and length).

    Args:
        paths: WAV paths (mixed sample rates allowed).
        sample_rate: target rate.
        length: samples per clip (longer clips are cropped, shorter padded).

    Returns:
        [len(paths), length] float32 numpy array.

    Raises:
        InputError: a clip that is not a readable 16-bit PCM WAV (names it).
    """
    paths = tuple(str(p) for p in paths)
    key = (paths, int(sample_rate), int(length))
    if key in _DECODED:
        return _DECODED[key]
    if not paths:
        return np.zeros([0, length], np.float32)
    ds = tf.data.Dataset.from_tensor_slices(list(paths))
    ds = ds.map(lambda p: load_waveform(p, sample_rate, length), num_parallel_calls=AUTOTUNE,
                deterministic=True).batch(batch_size)
    try:
        out = np.concatenate([b.numpy() for b in ds]) if paths else np.zeros([0, length])
    except tf.errors.OpError:
        # Find the culprit for a one-line error naming the file.
        for p in paths:
            info = audio.wav_info(p)
            if info["format"] != 1 or info["bits"] != 16:
                raise InputError(f"unsupported WAV encoding (need 16-bit PCM): {p}") from None
            try:
                audio.decode_wav(tf.io.read_file(p))
            except tf.errors.OpError as e:
                raise InputError(f"corrupt WAV file {p}: {e.message.splitlines()[0]}") from None
        raise
    out = out.astype(np.float32)
    if len(_DECODED) > 16:
        _DECODED.clear()
    _DECODED[key] = out
    return out


def load_noise(files, sample_rate):
    """Reads noise recordings (any rate) as mono float32 arrays at `sample_rate`, peak-normalised.

    Peak normalisation makes `background_volume` a fraction of full scale
    whatever level the files were stored at (this corpus's noise files peak
    well below full scale; the original Speech Commands ones are near it).
    """
    return [audio.peak_normalize(audio.load(f, sample_rate)[0]).numpy() for f in files]


def crops(clips, n, length, rng):
    """`n` random `length`-sample crops of random clips (tiled if short): [n, length]."""
    out = np.zeros([n, length], np.float32)
    for i in range(n):
        c = clips[rng.integers(len(clips))]
        if len(c) < length:
            c = np.tile(c, length // len(c) + 1)
        start = rng.integers(0, len(c) - length + 1)
        out[i] = c[start:start + length]
    return out


@dataclasses.dataclass
class Split:
    """One split's examples: waveforms [n, samples] and class ids [n]."""

    waves: np.ndarray
    labels: np.ndarray
    paths: list  # Source file per example ("" for silence).

    def __len__(self):
        return len(self.labels)


@dataclasses.dataclass
class KeywordData:
    """The indexed corpus, the three splits and the noise banks."""

    corpus: sc.Corpus
    splits: dict  # "training"/"validation"/"testing" -> Split
    train_noise: list  # numpy clips used for augmentation and training silence
    eval_noise: list  # numpy clips held out for the noisy test (may be empty)
    train_noise_files: list
    eval_noise_files: list


def prepare(cfg):
    """Finds and indexes the folder, samples unknown/silence examples, decodes all clips.

    Raises:
        InputError: see `speech_commands.index`; also a missing
            `_background_noise_` folder while noise augmentation is on, an
            unknown `held_out_noise` file, or an empty split.
    """
    root = sc.find(cfg.data_dir)
    corpus = sc.index(root, cfg.wanted_words, cfg.validation_percentage,
                      cfg.testing_percentage)
    names = {Path(f).name: f for f in corpus.noise_files}
    for name in cfg.held_out_noise:
        if name not in names:
            raise InputError(f"--held_out_noise file {name!r} not in "
                             f"{root / sc.BACKGROUND_NOISE_DIR} (found: "
                             f"{', '.join(sorted(names)) or 'none'})")
    eval_files = [names[n] for n in cfg.held_out_noise]
    train_files = [f for f in corpus.noise_files if Path(f).name not in cfg.held_out_noise]
    if cfg.noise_augmentation and not train_files:
        where = root / sc.BACKGROUND_NOISE_DIR
        why = ("has no .wav files" if where.is_dir() else "does not exist")
        if corpus.noise_files:
            why = "has no files left for training after --held_out_noise"
        raise InputError(f"background noise augmentation is on (--background_frequency="
                         f"{cfg.background_frequency}, --background_volume="
                         f"{cfg.background_volume}) but {where} {why}; add noise WAVs or pass "
                         f"--background_frequency=0 to train without noise")
    if not train_files and cfg.silence_percentage > 0:
        print(f"warning: no noise files for training in {root / sc.BACKGROUND_NOISE_DIR}: "
              f"{sc.SILENCE_LABEL} examples are all-zero clips")
    train_noise = load_noise(train_files, cfg.sample_rate)
    eval_noise = load_noise(eval_files, cfg.sample_rate)
    rng = np.random.default_rng(cfg.seed)
    splits = {}
    for name in sc.SPLITS:
        part = corpus.splits[name]
        wanted = part["wanted"]
        if not wanted:
            raise InputError(f"the {name} split of {root} has no clips of the wanted words "
                             f"(check validation_list.txt/testing_list.txt or "
                             f"--{'validation' if name == 'validation' else 'testing'}"
                             f"_percentage)")
        unknown = list(part["unknown"])
        rng.shuffle(unknown)
        unknown = unknown[:math.ceil(len(wanted) * cfg.unknown_percentage / 100)]
        n_silence = math.ceil(len(wanted) * cfg.silence_percentage / 100)
        paths = [p for p, _ in wanted] + unknown
        labels = [y for _, y in wanted] + [1] * len(unknown)
        waves = decode_clips(paths, cfg.sample_rate, cfg.clip_samples)
        # Training silence is re-drawn every epoch in the pipeline; validation
        # and test silence is fixed (seeded): crops of the training noise files
        # at a volume in [0, 1], as the TensorFlow example makes it. (Held-out
        # noise is only mixed into the noisy copies of the test split.)
        silence = np.zeros([n_silence, cfg.clip_samples], np.float32)
        if name != "training" and n_silence:
            source = train_noise
            if source:
                volume = rng.uniform(0, 1, [n_silence, 1]).astype(np.float32)
                silence = np.clip(crops(source, n_silence, cfg.clip_samples, rng) * volume,
                                  -1, 1)
        splits[name] = Split(np.concatenate([waves, silence]),
                             np.array(labels + [0] * n_silence, np.int32),
                             paths + [""] * n_silence)
    return KeywordData(corpus, splits, train_noise, eval_noise, train_files, eval_files)


def augmenter(noises, sample_rate, time_shift_ms=100.0, background_frequency=0.8,
              background_volume=0.1, silence_volume=1.0):
    """The training map `fn(waveform, label) -> (waveform, label)`.

    Silence examples (label 0) become a random noise crop at a volume uniform in
    [0, `silence_volume`] (zeros without noise). Other examples are shifted by
    up to `time_shift_ms` (zero fill) and, with probability
    `background_frequency`, get noise at a volume uniform in [0,
    `background_volume`]. Works eagerly and inside `Dataset.map`.

    Args:
        noises: [clips, samples] noise bank (numpy or tensor) or None.
        sample_rate: model rate (for the shift in samples).
    """
    shift = int(round(sample_rate * time_shift_ms / 1000.0))
    bank = tf.constant(noises, tf.float32) if noises is not None and len(noises) else None

    def fn(x, y):
        x = tf.convert_to_tensor(x, tf.float32)
        word = augment.time_shift(x, shift) if shift else x
        if bank is not None and background_frequency > 0 and background_volume > 0:
            word = augment.add_background_noise(word, bank, background_volume,
                                                background_frequency)
        if bank is None:
            return word, y
        silence = augment.add_background_noise(tf.zeros_like(x), bank, silence_volume, 1.0)
        return tf.where(tf.equal(y, 0), silence, word), y

    return fn


def noise_bank(clips, clip_samples):
    """A `[segments, 2 * clip_samples]` noise bank of overlapping segments (hop `clip_samples`).

    Any `clip_samples` crop of any noise clip lies inside one segment, so
    `augment.add_background_noise` (a random segment, then a random crop) covers
    every offset of every file while copying only two clips' worth of samples
    per example instead of a whole 60-95 s recording.

    Returns:
        float32 numpy array, or None without clips.
    """
    if not clips:
        return None
    seg = 2 * clip_samples
    segments = []
    for c in clips:
        c = np.asarray(c, np.float32)
        if len(c) < seg:
            c = np.tile(c, seg // max(len(c), 1) + 1)
        segments.extend(c[s:s + seg] for s in range(0, len(c) - seg + 1, clip_samples))
    return augment.noise_bank(segments, seg)


def train_dataset(split, cfg, noises, seed=None):
    """Shuffled, augmented, batched training dataset of (waveform, label)."""
    ds = tf.data.Dataset.from_tensor_slices((split.waves, split.labels))
    ds = ds.shuffle(len(split), seed=cfg.seed if seed is None else seed,
                    reshuffle_each_iteration=True)
    fn = augmenter(noises, cfg.sample_rate, cfg.time_shift_ms, cfg.background_frequency,
                   cfg.background_volume)
    ds = ds.map(fn, num_parallel_calls=AUTOTUNE)
    return ds.batch(cfg.batch_size).prefetch(AUTOTUNE)


def eval_dataset(waves, labels, batch_size=128):
    """Batched, unaugmented dataset of (waveform, label)."""
    return tf.data.Dataset.from_tensor_slices((waves, labels)).batch(batch_size).prefetch(
        AUTOTUNE)


def mix_noise(waves, noises, snr_db, seed=0):
    """Mixes every clip with a seeded random crop of `noises` at `snr_db` (tf.data map).

    Returns:
        [n, samples] float32 numpy array.
    """
    rng = np.random.default_rng(seed)
    crop = crops(noises, len(waves), waves.shape[1], rng)
    ds = tf.data.Dataset.from_tensor_slices((waves, crop)).map(
        lambda c, n: augment.mix_at_snr(c, n, float(snr_db)), num_parallel_calls=AUTOTUNE,
        deterministic=True).batch(256)
    return np.concatenate([b.numpy() for b in ds])


# ----------------------------------------------------------------------------- model


def build_model(cfg, num_classes):
    """Builds and compiles `cfg.model` with `cfg.model_kwargs`."""
    try:
        model = MODELS.build(cfg.model, num_classes=num_classes, **cfg.front_end(),
                             **dict(cfg.model_kwargs))
    except (TypeError, ValueError) as e:
        raise InputError(f"cannot build --model={cfg.model}: {e}") from None
    return model


def compile_model(model, cfg, steps_per_epoch):
    decay = max(1, cfg.epochs * steps_per_epoch)
    opt = train.make_optimizer(cfg.optimizer, cfg.learning_rate, cfg.schedule, decay)
    model.compile(optimizer=opt, loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    return model


def predict_probs(model_or_fn, waves, batch_size=128):
    """Class probabilities [n, classes] for waveforms [n, samples] (Keras model or serve fn)."""
    out = []
    for i in range(0, len(waves), batch_size):
        x = tf.constant(waves[i:i + batch_size], tf.float32)
        y = model_or_fn(x)
        if isinstance(y, dict):
            y = y["probabilities"]
        out.append(np.asarray(y))
    return np.concatenate(out) if out else np.zeros([0, 0], np.float32)


def evaluate(model, split, labels, batch_size=128):
    """`metrics.classification_report` of `model` on a `Split`."""
    probs = predict_probs(lambda x: model(x, training=False), split.waves, batch_size)
    return metrics.classification_report(split.labels, probs.argmax(-1), labels)


# ----------------------------------------------------------------------------- run


def run(cfg, data=None):
    """Trains, evaluates and exports a keyword spotter; writes the workdir.

    Args:
        cfg: a validated `KeywordsConfig`.
        data: a `KeywordData` from `prepare(cfg)` to reuse (benchmarks), or None.

    Returns:
        dict: the metrics written to `metrics.json` plus `workdir`/`export` paths.
    """
    cfg.validate()
    keras.utils.set_random_seed(cfg.seed)
    wd = Workdir(cfg.workdir)
    wd.write_json("config.json", dataclasses.asdict(cfg))
    # Build first: a bad --model_kwargs fails before any data is read.
    model = build_model(cfg, len(cfg.wanted_words) + 2)
    data = data or prepare(cfg)
    labels = data.corpus.labels
    tr, va, te = (data.splits[s] for s in sc.SPLITS)
    if data.corpus.skipped:
        print(f"skipped {data.corpus.skipped} non-WAV file(s) in the word folders of "
              f"{data.corpus.root}")
    print(f"classes: {', '.join(labels)}")
    train_names = ", ".join(Path(f).name for f in data.train_noise_files) or "none"
    held_names = ", ".join(Path(f).name for f in data.eval_noise_files) or "none"
    print(f"examples: training {len(tr)}, validation {len(va)}, testing {len(te)} "
          f"(noise for training: {train_names}; held out: {held_names})")
    bank = noise_bank(data.train_noise, cfg.clip_samples)
    train_ds = train_dataset(tr, cfg, bank)
    val_ds = eval_dataset(va.waves, va.labels)
    steps = math.ceil(len(tr) / cfg.batch_size)
    if cfg.steps_per_epoch:
        steps = min(steps, cfg.steps_per_epoch)
        train_ds = train_ds.repeat()
    model = compile_model(model, cfg, steps)
    history = train.fit(model, train_ds, val_ds, workdir=wd, epochs=cfg.epochs,
                        batch_size=cfg.batch_size, patience=cfg.patience or None,
                        examples_per_epoch=min(len(tr), steps * cfg.batch_size),
                        steps_per_epoch=steps if cfg.steps_per_epoch else None,
                        verbose=cfg.verbose)
    test = evaluate(model, te, labels)
    val = evaluate(model, va, labels)
    noisy = {}
    if data.eval_noise:
        for snr in cfg.eval_snr_db:
            mixed = Split(mix_noise(te.waves, data.eval_noise, snr, seed=cfg.seed + 1),
                          te.labels, te.paths)
            noisy[f"{snr:g}"] = evaluate(model, mixed, labels)["accuracy"]
    plots.training_curves(history, wd.path("training_curves.png"), title=f"keywords {cfg.model}")
    cm_png = plots.confusion_matrix(test["confusion_matrix"], labels,
                                    wd.path("confusion_matrix.png"),
                                    title=f"test accuracy {test['accuracy']:.3f}")
    _example_figure(cfg, tr, bank, model, labels, wd.path("augmented_example.png"))
    train.log_image(wd, "confusion_matrix", cm_png)
    shipped = {}
    if cfg.export:
        shipped = export.ship_classifier(model, wd.export, labels, metadata=export_metadata(cfg),
                                         clip_samples=cfg.clip_samples)
    result = {
        "test_accuracy": test["accuracy"],
        "validation_accuracy": val["accuracy"],
        "noisy_test_accuracy": noisy,
        "held_out_noise": [Path(f).name for f in data.eval_noise_files],
        "train_noise": [Path(f).name for f in data.train_noise_files],
        "examples_per_sec": history["steady_examples_per_sec"],
        "train_seconds": history["train_seconds"],
        "epochs_run": len(history.get("loss", [])),
        **{k: v for k, v in shipped.items() if k not in ("export", "tflite")},
        "num_params": int(model.count_params()),
        "num_examples": {"training": len(tr), "validation": len(va), "testing": len(te)},
        "skipped_non_wav": data.corpus.skipped,
        "test": test,
    }
    train.log_hparams(wd, {k: v for k, v in dataclasses.asdict(cfg).items()
                           if k not in ("data_dir", "workdir", "model_kwargs", "verbose")},
                      {"test_accuracy": test["accuracy"]})
    wd.write_json("metrics.json", result)
    result = dict(result, workdir=str(wd.root), export=shipped.get("export"),
                  tflite=shipped.get("tflite"))
    return result


def _example_figure(cfg, split, bank, model, labels, path):
    """One training clip after augmentation, with the model's features."""
    idx = int(np.argmax(split.labels > 1)) if np.any(split.labels > 1) else 0
    fn = augmenter(bank, cfg.sample_rate, cfg.time_shift_ms, cfg.background_frequency,
                   cfg.background_volume)
    x, _ = fn(split.waves[idx], split.labels[idx])
    front = keras.Model(model.inputs,
                        model.get_layer("mfcc" if cfg.preprocess == "mfcc" else "log_mel").output)
    feats = front(x[None])[0].numpy()
    plots.waveform_and_features(x.numpy(), cfg.sample_rate, feats, path,
                                title=f"training example '{labels[split.labels[idx]]}' "
                                      f"(augmented)", feature_name=cfg.preprocess)


def export_metadata(cfg):
    """What a keywords export records beside its labels (`assets.extra/tfdl.json`)."""
    return {"task": "keywords", "sample_rate": cfg.sample_rate,
            "clip_samples": cfg.clip_samples, "model": cfg.model, "preprocess": cfg.preprocess}


def save_export(model, export_dir, labels, cfg):
    """`export.export_classifier` with the keywords metadata (rate, clip, labels)."""
    return export.export_classifier(model, export_dir, labels, metadata=export_metadata(cfg))


# ----------------------------------------------------------------------------- serving


class Spotter:
    """An exported keyword model and its metadata (sample rate, clip length, labels).

    Args:
        export_dir: SavedModel folder written by `run`, or its `model.tflite`.
        sample_rate: overrides / replaces the rate stored in the export.
    """

    def __init__(self, export_dir, sample_rate=None):
        export_dir = Path(export_dir)
        if not (export_dir / "saved_model.pb").is_file() and not (
                export_dir.suffix == ".tflite" and export_dir.is_file()):
            raise InputError(f"no SavedModel or .tflite file at --export_dir={export_dir} "
                             f"(expected {export_dir / 'saved_model.pb'}; train first)")
        meta = export.read_metadata(export.export_dir_of(export_dir))
        self.sample_rate = int(sample_rate or meta.get("sample_rate") or 16000)
        self.clip_samples = int(meta.get("clip_samples") or self.sample_rate)
        self._loaded = export.load(export_dir)
        self.labels = meta.get("labels")
        if self.labels is None:
            out = self._loaded.serve(tf.zeros([1, self.clip_samples]))
            self.labels = [None] * int(out["probabilities"].shape[-1])

    def probabilities(self, waves, batch_size=64):
        """[n, classes] probabilities for [n, samples] waveforms at `sample_rate`."""
        return predict_probs(self._loaded.serve, np.asarray(waves, np.float32), batch_size)

    def classify_files(self, paths):
        """[(path, label, probability)] for WAV files (resampled to the model's rate)."""
        out = []
        for p in paths:
            x, _ = audio.load(p, self.sample_rate)
            res = self._loaded.serve(tf.constant(x[None], tf.float32))
            cid = int(res["class_id"][0])
            out.append((str(p), res["label"][0].numpy().decode(),
                        float(res["probabilities"][0, cid])))
        return out


def detect(probs_fn, waveform, sample_rate, clip_samples, labels, hop_ms=100.0,
           average_window_ms=300.0, threshold=0.6, suppression_ms=750.0):
    """Streaming keyword detection over a long waveform.

    A clip-long window slides by `hop_ms`; class probabilities are averaged
    over the windows of the last `average_window_ms`; a keyword (not
    `_silence_`/`_unknown_`) is reported when its averaged score reaches
    `threshold` and the previous report of the same word is at least
    `suppression_ms` earlier.

    Args:
        probs_fn: `fn([n, clip_samples] float32) -> [n, classes]` probabilities.
        waveform: [samples] float array at `sample_rate`.
        sample_rate: Hz.
        clip_samples: window length.
        labels: class names.
        hop_ms, average_window_ms, threshold, suppression_ms: see above.

    Returns:
        List of dicts {start_s, end_s (the window that triggered), time_s (its
        centre), label, score}, in time order.
    """
    if hop_ms <= 0:
        raise InputError(f"--hop_ms must be positive. Received: --hop_ms={hop_ms}")
    if not 0 < threshold <= 1:
        raise InputError(f"--threshold must be in (0, 1]. Received: --threshold={threshold}")
    x = np.asarray(waveform, np.float32)
    hop = max(1, int(round(sample_rate * hop_ms / 1000.0)))
    if len(x) < clip_samples:
        x = np.pad(x, (0, clip_samples - len(x)))
    n = 1 + (len(x) - clip_samples) // hop
    windows = np.lib.stride_tricks.sliding_window_view(x, clip_samples)[::hop][:n]
    probs = np.asarray(probs_fn(np.ascontiguousarray(windows)), np.float64)
    span = max(1, int(round(average_window_ms / hop_ms)))
    reserved = {sc.SILENCE_LABEL, sc.UNKNOWN_LABEL}
    detections, last = [], {}
    for i in range(n):
        avg = probs[max(0, i - span + 1):i + 1].mean(axis=0)
        k = int(avg.argmax())
        label = labels[k]
        t = (i * hop + clip_samples / 2) / sample_rate
        if label in reserved or avg[k] < threshold:
            continue
        if label in last and (t - last[label]) * 1000 < suppression_ms:
            last[label] = t  # Still the same utterance: extend the suppression.
            continue
        last[label] = t
        detections.append({"start_s": round(i * hop / sample_rate, 3),
                           "end_s": round((i * hop + clip_samples) / sample_rate, 3),
                           "time_s": round(t, 3), "label": label, "score": float(avg[k])})
    return detections


def stream(export_dir, wav_path, **kwargs):
    """`detect` over a WAV file with an exported model; returns the detections."""
    spotter = Spotter(export_dir)
    x, _ = audio.load(wav_path, spotter.sample_rate)
    return detect(spotter.probabilities, x, spotter.sample_rate, spotter.clip_samples,
                  spotter.labels, **kwargs)
