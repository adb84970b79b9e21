"""Training-only waveform augmentation for tf.data: time shift, speed, background noise, SNR mixing.

Every transform takes and returns `[samples]` float32 tensors and works both
eagerly and inside `Dataset.map`. Randomness comes from TF's random ops, so
`keras.utils.set_random_seed` makes a pipeline repeatable.
"""

import numpy as np
import tensorflow as tf


def time_shift(audio, max_shift):
    """Shifts a waveform by a uniform random number of samples in [-max_shift, max_shift].

    Samples shifted in are zeros (no wrap-around), as in TensorFlow's
    speech_commands example.
    """
    audio = tf.convert_to_tensor(audio, tf.float32)
    if max_shift <= 0:
        return audio
    n = tf.shape(audio)[0]
    shift = tf.random.uniform([], -max_shift, max_shift + 1, dtype=tf.int32)
    padded = tf.pad(audio, [[max_shift, max_shift]])
    return tf.slice(padded, [max_shift - shift], [n])


def change_speed(audio, factor):
    """Plays waveforms `factor` times faster (pitch and formants move with it), same length.

    `audio` is `[..., samples]`. Output sample i is the input at position
    `i * factor`, linearly interpolated; positions past the end are zeros (a
    slower recording is cut at the original length).
    """
    audio = tf.convert_to_tensor(audio, tf.float32)
    n = tf.shape(audio)[-1]
    pos = tf.range(tf.cast(n, tf.float32)) * tf.cast(factor, tf.float32)
    left = tf.minimum(tf.cast(tf.floor(pos), tf.int32), n)
    frac = pos - tf.floor(pos)
    padded = tf.concat([audio, tf.zeros_like(audio[..., :1]), tf.zeros_like(audio[..., :1])], -1)
    return (tf.gather(padded, left, axis=-1) * (1.0 - frac) +
            tf.gather(padded, left + 1, axis=-1) * frac)


def speed_perturb(audio, max_change):
    """`change_speed` by a uniform random factor in [1 - max_change, 1 + max_change].

    A cheap stand-in for more speakers: faster speech has higher pitch and
    formants, as from a shorter vocal tract (Ko et al. 2015, "Audio
    augmentation for speech recognition", use 0.9/1.0/1.1).
    """
    audio = tf.convert_to_tensor(audio, tf.float32)
    if max_change <= 0:
        return audio
    return change_speed(audio, tf.random.uniform([], 1.0 - max_change, 1.0 + max_change))


def random_crop(noise, length):
    """A random `length`-sample window of `noise` (tiled first if shorter)."""
    noise = tf.convert_to_tensor(noise, tf.float32)
    reps = length // tf.shape(noise)[0] + 1
    noise = tf.tile(noise, [reps])
    start = tf.random.uniform([], 0, tf.shape(noise)[0] - length + 1, dtype=tf.int32)
    return noise[start:start + length]


def add_background_noise(audio, noises, max_volume=0.1, probability=0.8):
    """Adds a random crop of a random noise clip at a random volume, then clips to [-1, 1].

    Args:
        audio: [samples] waveform.
        noises: [num_clips, noise_samples] tensor of noise clips (a noise bank,
            e.g. the `_background_noise_` files padded to one length).
        max_volume: the noise gain is uniform in [0, max_volume].
        probability: chance that noise is added at all.

    Returns:
        [samples] waveform.
    """
    audio = tf.convert_to_tensor(audio, tf.float32)
    noises = tf.convert_to_tensor(noises, tf.float32)
    idx = tf.random.uniform([], 0, tf.shape(noises)[0], dtype=tf.int32)
    noise = random_crop(noises[idx], tf.shape(audio)[0])
    gain = tf.random.uniform([], 0.0, max_volume)
    gain = tf.where(tf.random.uniform([]) < probability, gain, 0.0)
    return tf.clip_by_value(audio + gain * noise, -1.0, 1.0)


def mix_at_snr(clean, noise, snr_db):
    """Adds `noise` scaled so that the mixture has the given SNR (dB) against `clean`.

    `noise` is cropped or tiled to the length of `clean`. Deterministic (for
    building noisy evaluation sets); a silent clean signal is returned unchanged.
    """
    clean = tf.convert_to_tensor(clean, tf.float32)
    noise = tf.convert_to_tensor(noise, tf.float32)
    n = tf.shape(clean)[0]
    noise = tf.tile(noise, [n // tf.shape(noise)[0] + 1])[:n]
    p_clean = tf.reduce_mean(clean ** 2)
    p_noise = tf.maximum(tf.reduce_mean(noise ** 2), 1e-12)
    scale = tf.sqrt(p_clean / (p_noise * 10.0 ** (snr_db / 10.0)))
    return clean + scale * noise


def noise_bank(clips, length):
    """Stacks noise clips (1-D numpy arrays) into one [num_clips, length] array, tiling short ones."""
    out = []
    for c in clips:
        c = np.asarray(c, np.float32)
        if len(c) == 0:
            continue
        out.append(np.tile(c, length // len(c) + 1)[:length])
    if not out:
        raise ValueError("noise_bank needs at least one non-empty clip. Received: 0")
    return np.stack(out)
