"""tf.data pipelines from audio files to fixed-length waveform batches.

Decode (`tf.audio.decode_wav`), resample to the model's rate and pad/trim run
in parallel `Dataset.map` calls; decoded audio is cached (in memory, or in a
file given by `cache`), then augmentation (training only), shuffle, batch and
prefetch. No Python per-example loop.
"""

import tensorflow as tf

from tfdl import audio

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


def _dft_power(frames, fft_length):
    """|rfft(frames, fft_length)|^2 as one matmul with a [frame_length, 2 * bins] cos/sin
    matrix: on CPU several times faster than `tf.signal.rfft` for short frames."""
    import numpy as np

    n = int(frames.shape[-1])
    k = np.arange(fft_length // 2 + 1)
    angle = 2.0 * np.pi * np.outer(np.arange(n), k) / fft_length
    basis = tf.constant(np.concatenate([np.cos(angle), -np.sin(angle)], 1), tf.float32)
    spec = tf.tensordot(frames, basis, 1)
    bins = fft_length // 2 + 1
    return tf.square(spec[..., :bins]) + tf.square(spec[..., bins:])


def batched_mfcc(waves, sample_rate, num_filters=26, num_coefficients=13, fft_length=512,
                 preemphasis=0.97, lifter=22):
    """`tfdl.features.mfcc` (python_speech_features' MFCC, energy in c0) of a batch of
    equal-length waveforms [batch, samples] -> [batch, frames, num_coefficients], with the
    power spectrum as a DFT matmul instead of an FFT (same numbers to float32 rounding)."""
    import numpy as np

    from tfdl import features

    frame_length = int(np.floor(0.025 * sample_rate + 0.5))
    frame_step = int(np.floor(0.010 * sample_rate + 0.5))
    x = tf.convert_to_tensor(waves, tf.float32)
    x = tf.concat([x[..., :1], x[..., 1:] - preemphasis * x[..., :-1]], axis=-1)
    power = _dft_power(features.psf_frames(x, frame_length, frame_step), fft_length) / fft_length
    eps = tf.constant(np.finfo(float).eps, tf.float32)  # psf floors at float64 eps
    feat = tf.tensordot(power, tf.constant(features.psf_filterbank(num_filters, fft_length,
                                                                   sample_rate)), 1)
    feat = tf.math.log(tf.where(feat == 0.0, eps, feat))
    ceps = tf.signal.dct(feat, type=2, norm="ortho")[..., :num_coefficients]
    n = np.arange(num_coefficients)
    ceps = ceps * tf.constant(1 + (lifter / 2.0) * np.sin(np.pi * n / lifter), tf.float32)
    energy = tf.reduce_sum(power, axis=-1, keepdims=True)
    energy = tf.math.log(tf.where(energy == 0.0, eps, energy))
    return tf.concat([energy, ceps[..., 1:]], axis=-1)


def feature_dataset(paths, *, sample_rate, length, features=None, batch_size=256, cache=True):
    """Batches of features of whole files: parallel per-file decode + pad/trim
    (`load_waveform`), then `features` on whole [batch, length] batches (vectorised: far
    fewer TF ops per file than a per-file map), then cache and prefetch.

    Args:
        paths: list of audio paths.
        sample_rate: model sample rate (files at other rates are resampled).
        length: samples to pad/trim every file to.
        features: `fn(waves [batch, length]) -> tensor`; default `batched_mfcc`.
        batch_size: files per batch.
        cache: as in `waveform_dataset`.

    Returns:
        A `tf.data.Dataset` of feature batches, in the order of `paths`.
    """
    if not paths:
        raise ValueError("feature_dataset needs at least one file. Received: 0 paths")
    features = features or (lambda w: batched_mfcc(w, sample_rate))
    ds = tf.data.Dataset.from_tensor_slices(list(map(str, paths)))
    ds = ds.map(lambda p: load_waveform(p, sample_rate, length), num_parallel_calls=AUTOTUNE)
    ds = ds.batch(batch_size).map(features, num_parallel_calls=AUTOTUNE)
    if cache:
        ds = ds.cache(cache if isinstance(cache, str) else "")
    return ds.prefetch(AUTOTUNE)
