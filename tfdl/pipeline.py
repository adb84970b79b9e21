"""tf.data pipelines from audio files to fixed-length waveform batches.

Decode (`tf.audio.decode_wav`), resample to the model's rate and pad/trim run
in parallel `Dataset.map` calls; decoded audio is cached (in memory, or in a
file given by `cache`), then augmentation (training only), shuffle, batch and
prefetch. No Python per-example loop. `feature_dataset` works per batch of
files instead (reads in a graph loop, one `decode_raw` for canonical PCM WAVs
via `decode_wav_batch`, features on the whole batch): far fewer ops per file.
"""

import struct

import numpy as np
import tensorflow as tf

from tfdl import audio
from tfdl import features as feats

AUTOTUNE = tf.data.AUTOTUNE


def load_waveform(path, sample_rate, length=None):
    """Reads one WAV file in a tf graph: decode, mono, resample to `sample_rate`, pad/trim.

    Args:
        path: scalar string tensor.
        sample_rate: target rate (Python int); files at other rates are
            resampled with soxr (`tfdl.audio.resample`).
        length: samples to pad/trim to, or None to keep the length.

    Returns:
        [samples] float32 tensor in [-1, 1].
    """
    return _waveform_from_bytes(tf.io.read_file(path), sample_rate, length)


def _waveform_from_bytes(contents, sample_rate, length=None):
    wave, rate = audio.decode_wav(contents)
    # The per-file rate makes resample a tf.cond whose output has unknown rank: restore it.
    wave = tf.reshape(audio.resample(wave, rate, sample_rate), [-1])
    if length:
        wave = audio.pad_or_trim(wave, length)
    return wave


def read_files(paths):
    """`tf.io.read_file` of each path of a [batch] string tensor: [batch] file contents."""
    return tf.map_fn(tf.io.read_file, paths, parallel_iterations=16,
                     fn_output_signature=tf.TensorSpec([], tf.string))


_HEADER = 44  # bytes of a canonical PCM WAV header: RIFF, a 16-byte fmt chunk, data


def _canonical_header(sample_rate):
    """The 11 little-endian int32 words of a canonical 16-bit mono PCM WAV header at
    `sample_rate`, and a mask of the words that must match (not the sizes, nor the byte
    rate, which some writers get wrong)."""
    words = np.frombuffer(b"RIFF\0\0\0\0WAVEfmt " + struct.pack(
        "<IHHIIHH", 16, 1, 1, sample_rate, 0, 2, 16) + b"data\0\0\0\0", "<i4")
    mask = np.array([1, 0, 1, 1, 1, 1, 1, 0, 1, 1, 0], np.int32)
    return words * mask, mask


def decode_wav_batch(contents, sample_rate, length):
    """Decodes a batch of WAV files' bytes to [batch, length] float32 waveforms.

    The same numbers as `load_waveform` on each file, with far fewer TF ops per
    file: when every file of the batch is canonical 16-bit PCM mono at
    `sample_rate` (a 44-byte header: RIFF/WAVE, a 16-byte `fmt ` chunk, then
    `data`), the samples of the whole batch are read by one `tf.io.decode_raw`
    (which also zero-pads / trims to `length`). Any other batch (other rates,
    stereo, extra chunks, a corrupt file) goes through `load_waveform`'s
    per-file `tf.audio.decode_wav` + resample, with its errors.

    Args:
        contents: [batch] string tensor of WAV file bytes.
        sample_rate: target rate (Python int).
        length: samples per output row (Python int).

    Returns:
        [batch, length] float32 tensor in [-1, 1].
    """
    if not isinstance(length, int) or length <= 0:
        raise ValueError(f"length must be a positive integer. Received: length={length}")
    contents = tf.convert_to_tensor(contents, tf.string)
    words = tf.io.decode_raw(contents, tf.int32, little_endian=True, fixed_length=_HEADER)
    template, mask = _canonical_header(int(sample_rate))
    data_bytes = words[:, 10]
    size = tf.strings.length(contents)
    canonical = (tf.reduce_all(words * mask == template, axis=1)
                 & (data_bytes >= 0) & (data_bytes % 2 == 0) & (data_bytes <= size - _HEADER))

    def fast():
        start = tf.minimum(size, _HEADER)  # (only canonical files reach this branch)
        data = tf.strings.substr(contents, start, tf.fill(tf.shape(size), 2 * length))
        pcm = tf.io.decode_raw(data, tf.int16, little_endian=True, fixed_length=2 * length)
        # Bytes after the data chunk (e.g. a trailing LIST chunk) are not samples.
        valid = tf.range(length)[None, :] < data_bytes[:, None] // 2
        return tf.where(valid, tf.cast(pcm, tf.float32) / 32768.0, 0.0)

    def slow():
        return tf.map_fn(lambda c: _waveform_from_bytes(c, sample_rate, length), contents,
                         fn_output_signature=tf.TensorSpec([length], tf.float32))

    return tf.ensure_shape(tf.cond(tf.reduce_all(canonical), fast, slow), [None, length])


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
    """Batches of features of whole files: per batch of paths, read the files
    (`read_files`), decode + pad/trim (`decode_wav_batch`) and compute `features` on the
    whole [batch, length] batch (vectorised: far fewer TF ops per file than a per-file
    map); batches run in parallel; then cache and prefetch.

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
    # One map call per batch of files: reads (a loop inside the graph costs far less per
    # file than a tf.data element), decoding and features on the whole batch.
    ds = ds.batch(batch_size).map(
        lambda p: features(decode_wav_batch(read_files(p), sample_rate, length)),
        num_parallel_calls=AUTOTUNE)
    if cache:
        ds = ds.cache(cache if isinstance(cache, str) else "")
    # Parallelism across batches (parallel map calls), single-threaded ops inside each: on
    # a few cores this beats splitting every small op over threads that wait for each other.
    options = tf.data.Options()
    options.threading.max_intra_op_parallelism = 1
    return ds.prefetch(AUTOTUNE).with_options(options)
