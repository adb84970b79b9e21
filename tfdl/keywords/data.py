"""Keyword-spotting data: decoded clips, silence and unknown examples, noise, tf.data.

The pipeline follows TensorFlow's `speech_commands` example, rebuilt on
tf.data and Keras 3 (the folder layout and splits: `tfdl.keywords.corpus`):

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
  (`mix_noise`: `tfdl.augment.mix_at_snr`, SNR over the whole padded clip),
  which measures robustness to noise the model has not heard.
"""

import dataclasses
import math
from pathlib import Path

import numpy as np
import tensorflow as tf

from tfdl import audio, augment
from tfdl.errors import InputError
from tfdl.keywords import corpus as sc
from tfdl.pipeline import AUTOTUNE, load_waveform

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
        out = np.concatenate([b.numpy() for b in ds])
    except (tf.errors.OpError, UnicodeDecodeError) as e:  # TF can fail to decode its message
        _raise_for_bad_wav(paths)
        raise InputError(f"could not decode the clips: {audio.tf_error_message(e)}") from None
    out = out.astype(np.float32)
    if len(_DECODED) > 16:
        _DECODED.clear()
    _DECODED[key] = out
    return out


def _raise_for_bad_wav(paths):
    """A one-line InputError naming the first file tf.audio cannot decode (else returns)."""
    for p in paths:
        audio.check_wav(p)
        try:
            audio.decode_wav(tf.io.read_file(p))
        except (tf.errors.OpError, UnicodeDecodeError) as e:
            raise InputError(f"corrupt WAV file {p}: {audio.tf_error_message(e)}") from None


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


def _noise_files(cfg, corpus):
    """(training noise files, held-out noise files) of `corpus` for `cfg`.

    Raises:
        InputError: an unknown `held_out_noise` file, or noise augmentation on
            without any training noise file.
    """
    where = corpus.root / sc.BACKGROUND_NOISE_DIR
    names = {Path(f).name: f for f in corpus.noise_files}
    for name in cfg.held_out_noise:
        if name not in names:
            raise InputError(f"--config.held_out_noise file {name!r} not in {where} (found: "
                             f"{', '.join(sorted(names)) or 'none'}; --config.held_out_noise= "
                             f"holds none out)")
    held = [names[n] for n in cfg.held_out_noise]
    train = [f for f in corpus.noise_files if Path(f).name not in cfg.held_out_noise]
    if cfg.noise_augmentation and not train:
        why = "has no .wav files" if where.is_dir() else "does not exist"
        if corpus.noise_files:
            why = "has no files left for training after --config.held_out_noise"
        raise InputError(f"background noise augmentation is on (--config.background_frequency="
                         f"{cfg.background_frequency}, --config.background_volume="
                         f"{cfg.background_volume}) but {where} {why}; add noise WAVs or pass "
                         f"--config.background_frequency=0 to train without noise")
    if not train and cfg.silence_percentage > 0:
        print(f"warning: no noise files for training in {where}: {sc.SILENCE_LABEL} examples "
              f"are all-zero clips")
    return train, held


def _split(cfg, name, part, train_noise, rng, root):
    """One split's `Split`: its wanted clips, sampled unknown clips and silence."""
    wanted = part["wanted"]
    if not wanted:
        raise InputError(f"the {name} split of {root} has no clips of the wanted words (check "
                         f"validation_list.txt/testing_list.txt or --config."
                         f"{'validation' if name == 'validation' else 'testing'}_percentage)")
    unknown = list(part["unknown"])
    rng.shuffle(unknown)
    unknown = unknown[:math.ceil(len(wanted) * cfg.unknown_percentage / 100)]
    n_silence = math.ceil(len(wanted) * cfg.silence_percentage / 100)
    paths = [p for p, _ in wanted] + unknown
    labels = [y for _, y in wanted] + [1] * len(unknown)
    waves = decode_clips(paths, cfg.sample_rate, cfg.clip_samples)
    # Training silence is re-drawn every epoch in the pipeline; validation and test
    # silence is fixed (seeded): crops of the training noise files at a volume in [0, 1],
    # as the TensorFlow example makes it. (Held-out noise is only mixed into the noisy
    # copies of the test split.)
    silence = np.zeros([n_silence, cfg.clip_samples], np.float32)
    if name != "training" and n_silence and train_noise:
        volume = rng.uniform(0, 1, [n_silence, 1]).astype(np.float32)
        silence = np.clip(crops(train_noise, n_silence, cfg.clip_samples, rng) * volume, -1, 1)
    return Split(np.concatenate([waves, silence]), np.array(labels + [0] * n_silence, np.int32),
                 paths + [""] * n_silence)


def prepare(cfg, data_dir=None):
    """Finds and indexes the folder, samples unknown/silence examples, decodes all clips.

    Args:
        cfg: a validated `tfdl.keywords.config.Config`.
        data_dir: the keyword folder or a parent holding `keywords/` (None:
            `$TFDL_DATA_DIR/keywords`, the Keras cache, else a download).

    Returns:
        A `KeywordData`.

    Raises:
        InputError: see `tfdl.keywords.corpus.index`; also a missing
            `_background_noise_` folder while noise augmentation is on, an
            unknown `held_out_noise` file, or an empty split.
    """
    root = sc.find(data_dir)
    corpus = sc.index(root, cfg.wanted_words, cfg.validation_percentage,
                      cfg.testing_percentage)
    train_files, eval_files = _noise_files(cfg, corpus)
    train_noise = load_noise(train_files, cfg.sample_rate)
    rng = np.random.default_rng(cfg.seed)
    splits = {name: _split(cfg, name, corpus.splits[name], train_noise, rng, root)
              for name in sc.SPLITS}
    return KeywordData(corpus, splits, train_noise, load_noise(eval_files, cfg.sample_rate),
                       train_files, eval_files)


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


def config_augmenter(cfg, bank):
    """`augmenter` with the config's rate, shift and noise settings."""
    return augmenter(bank, cfg.sample_rate, cfg.time_shift_ms, cfg.background_frequency,
                     cfg.background_volume)


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


def train_dataset(split, cfg, noises, seed=None, soft=None):
    """Shuffled, augmented, batched training dataset of (waveform, label), or of (waveform,
    `soft` row) with `soft` (`tfdl.distill.targets` rows in the split's order)."""
    augment = config_augmenter(cfg, noises)
    if soft is None:
        ds = tf.data.Dataset.from_tensor_slices((split.waves, split.labels))
    else:  # the class id still decides silence in `augment`; the row follows its clip
        ds = tf.data.Dataset.from_tensor_slices((split.waves, split.labels,
                                                 np.asarray(soft, np.float32)))
        augment = _keep_row(augment)
    ds = ds.shuffle(len(split), seed=cfg.seed if seed is None else seed,
                    reshuffle_each_iteration=True)
    ds = ds.map(augment, num_parallel_calls=AUTOTUNE)
    return ds.batch(cfg.batch_size).prefetch(AUTOTUNE)


def _keep_row(augment):
    """`augment(x, y)` over (x, y, row) examples, returning (x', row)."""

    def fn(x, y, row):
        return augment(x, y)[0], row

    return fn


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
