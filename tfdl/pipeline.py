"""tf.data pipelines from audio files to fixed-length waveform batches.

Decode (`tf.audio.decode_wav`), resample to the model's rate and pad/trim run
in parallel `Dataset.map` calls; decoded audio is cached (in memory, or in a
file given by `cache`), then augmentation (training only), shuffle, batch and
prefetch. No Python per-example loop.
"""

import tensorflow as tf

from tfdl import audio
from tfdl import features as feats

AUTOTUNE = tf.data.AUTOTUNE


def load_waveform(path, sample_rate, length=None):
    """Reads one WAV file in a tf graph: decode, mono, resample to `sample_rate`, pad/trim.

    Args:
        path: scalar string tensor.
        sample_rate: target rate (Python int); files at other rates are
            resampled with `tfio.audio.resample`.
        length: samples to pad/trim to, or None to keep the length.

    Returns:
        [samples] float32 tensor in [-1, 1].
    """
    wave, rate = audio.decode_wav(tf.io.read_file(path))
    # The per-file rate makes resample a tf.cond whose output has unknown rank: restore it.
    wave = tf.reshape(audio.resample(wave, rate, sample_rate), [-1])
    if length:
        wave = audio.pad_or_trim(wave, length)
    return wave


def waveform_dataset(paths, labels, *, sample_rate, length, batch_size=32, training=False,
                     seed=0, cache=True, augment=None, drop_remainder=False):
    """A batched dataset of (waveform [batch, length], label [batch]).

    Args:
        paths: list of WAV paths.
        labels: list of int labels, aligned with `paths`.
        sample_rate: model sample rate.
        length: fixed waveform length in samples.
        batch_size: examples per batch.
        training: shuffle (seeded, reshuffled each epoch) and apply `augment`.
        seed: shuffle seed.
        cache: True caches decoded audio in memory, a string caches to that
            file, False disables caching.
        augment: optional `fn(waveform) -> waveform` for training batches,
            applied after the cache so every epoch sees fresh randomness.
        drop_remainder: drop a short last batch.

    Returns:
        A `tf.data.Dataset`.
    """
    if len(paths) != len(labels):
        raise ValueError(f"paths and labels differ in length. Received: {len(paths)} vs "
                         f"{len(labels)}")
    if not paths:
        raise ValueError("waveform_dataset needs at least one file. Received: 0 paths")
    ds = tf.data.Dataset.from_tensor_slices((list(map(str, paths)), list(labels)))
    ds = ds.map(lambda p, y: (load_waveform(p, sample_rate, length), y),
                num_parallel_calls=AUTOTUNE, deterministic=True)
    if cache:
        ds = ds.cache(cache if isinstance(cache, str) else "")
    if training:
        ds = ds.shuffle(len(paths), seed=seed, reshuffle_each_iteration=True)
        if augment is not None:
            ds = ds.map(lambda x, y: (augment(x), y), num_parallel_calls=AUTOTUNE)
    return ds.batch(batch_size, drop_remainder=drop_remainder).prefetch(AUTOTUNE)


def feature_dataset(paths, *, sample_rate, length, features=None, batch_size=256, cache=True):
    """Batches of features of whole files: parallel per-file decode + pad/trim
    (`load_waveform`), then `features` on whole [batch, length] batches (vectorised: far
    fewer TF ops per file than a per-file map), then cache and prefetch.

    Args:
        paths: list of audio paths.
        sample_rate: model sample rate (files at other rates are resampled).
        length: samples to pad/trim every file to.
        features: `fn(waves [batch, length]) -> tensor`; default `tfdl.features.mfcc`
            at `sample_rate` (python_speech_features' MFCC).
        batch_size: files per batch.
        cache: as in `waveform_dataset`.

    Returns:
        A `tf.data.Dataset` of feature batches, in the order of `paths`.
    """
    if not paths:
        raise ValueError("feature_dataset needs at least one file. Received: 0 paths")
    features = features or (lambda w: feats.mfcc(w, sample_rate))
    ds = tf.data.Dataset.from_tensor_slices(list(map(str, paths)))
    ds = ds.map(lambda p: load_waveform(p, sample_rate, length), num_parallel_calls=AUTOTUNE)
    ds = ds.batch(batch_size).map(features, num_parallel_calls=AUTOTUNE)
    if cache:
        ds = ds.cache(cache if isinstance(cache, str) else "")
    return ds.prefetch(AUTOTUNE)
