"""Speech frames as python_speech_features cuts them, and their power spectrum as matmuls.

The fast path under `tfdl.features.mfcc`: `psf_frames` frames a signal as
psf's `framesig` does (zero-padded at the end, at least one frame);
`dft_power` is |rfft|^2 as two half-size matmuls with constant cos/sin bases,
several times faster than the FFT op on a CPU for short frames; `framed_power`
does both at once for a signal, framing each half of every frame straight from
the signal when its length is static. `tfdl.features` re-exports `psf_frames`
and `dft_power`.
"""

import numpy as np
import tensorflow as tf


def _psf_num_frames(n, frame_length, frame_step):
    """python_speech_features' frame count for `n` samples (a Python int or a scalar
    tensor): 1 + ceil((n - frame_length) / frame_step), at least one frame."""
    steps = (n - frame_length + frame_step - 1) // frame_step
    return 1 + (tf.maximum(0, steps) if isinstance(steps, tf.Tensor) else max(0, steps))


def psf_frames(signal, frame_length, frame_step):
    """Frames as python_speech_features' `framesig`: zero-pad the end, at least one frame."""
    signal = tf.convert_to_tensor(signal, tf.float32)
    rank = signal.shape.rank
    n = signal.shape[-1] if rank else None
    if n is None:
        n = tf.shape(signal)[-1]
        num = _psf_num_frames(n, frame_length, frame_step)
        pad = (num - 1) * frame_step + frame_length - n
        paddings = tf.concat([tf.zeros([tf.rank(signal) - 1, 2], tf.int32),
                              tf.reshape(tf.stack([0, pad]), [1, 2])], 0)
        return tf.signal.frame(tf.pad(signal, paddings), frame_length, frame_step)
    num = _psf_num_frames(n, frame_length, frame_step)
    return _static_frames(signal, frame_length, frame_step, num)


def _static_frames(signal, frame_length, frame_step, num):
    """`num` frames of a signal with a static length, zero-padded at the end as needed."""
    rank, n = signal.shape.rank, signal.shape[-1]
    total = (num - 1) * frame_step + frame_length
    x = tf.pad(signal[..., :total], [[0, 0]] * (rank - 1) + [[0, max(0, total - n)]])
    return tf.signal.frame(x, frame_length, frame_step)


def _dft_basis(frame_length, fft_length, scale=1.0):
    """cos/sin bases of the frame-centred real DFT (see `dft_power`), times sqrt(scale)."""
    half = frame_length // 2
    m = np.arange(half) + (1.0 if frame_length % 2 else 0.5)  # distance from the centre
    angle = 2.0 * np.pi * np.outer(m, np.arange(fft_length // 2 + 1)) / fft_length
    root = np.sqrt(scale)
    return (tf.constant(root * np.cos(angle), tf.float32),
            tf.constant(root * np.sin(angle), tf.float32), root)


def _power_spectrum(frames, fft_length, scale=1.0):
    """`dft_power` * scale of [rows, frame_length] frames (2-D: one plain matmul each)."""
    n = int(frames.shape[-1])
    half = n // 2
    centre = frames[:, half:half + 1] if n % 2 else None
    return _power_from_halves(frames[:, n - half:], tf.reverse(frames[:, :half], [-1]),
                              centre, n, fft_length, scale)


def _power_from_halves(right, left, centre, frame_length, fft_length, scale):
    """Power spectrum from each frame's halves: `right` [rows, n // 2] are the samples
    after the centre, `left` the ones before it in reverse order, `centre` [rows, 1] the
    middle sample of odd-length frames (else None)."""
    cos, sin, root = _dft_basis(frame_length, fft_length, scale)
    # Measure time from the frame centre: a phase factor of modulus 1 that |.|^2 drops. The
    # cosine part then only sees x[c + m] + x[c - m] and the sine part x[c + m] - x[c - m],
    # so two [n / 2, bins] matmuls replace one [n, 2 * bins] one: half the flops.
    re = tf.matmul(right + left, cos)
    im = tf.matmul(right - left, sin)
    if centre is not None:  # the centre sample itself (cos 0 = 1 in every bin)
        re = re + root * centre
    return re * re + im * im


def framed_power(x, frame_length, frame_step, fft_length):
    """psf-framed power spectrum / fft_length of [..., samples] as [rows, bins] and a
    function restoring [..., frames, k] from [rows, k] (the first steps of
    `tfdl.features.mfcc`)."""
    n = x.shape[-1] if x.shape.rank else None
    if n is None:
        frames, restore = _rows(psf_frames(x, frame_length, frame_step))
        return _power_spectrum(frames, fft_length, 1.0 / fft_length), restore
    # Static length: frame each half straight from the signal (no full frames to slice).
    num = _psf_num_frames(n, frame_length, frame_step)
    half = frame_length // 2
    right, restore = _rows(_static_frames(x[..., frame_length - half:], half, frame_step, num))
    left, _ = _rows(_static_frames(x, half, frame_step, num))
    centre = None
    if frame_length % 2:
        centre, _ = _rows(_static_frames(x[..., half:], 1, frame_step, num))
    power = _power_from_halves(right, tf.reverse(left, [-1]), centre, frame_length, fft_length,
                               1.0 / fft_length)
    return power, restore


def _rows(x):
    """[..., d] -> ([rows, d], a function restoring [..., k] from [rows, k])."""
    outer, static = tf.shape(x)[:-1], x.shape[:-1]

    def restore(y):
        y = tf.reshape(y, tf.concat([outer, [y.shape[-1]]], 0))
        y.set_shape(static.concatenate([y.shape[-1]]))
        return y

    return tf.reshape(x, [-1, x.shape[-1]]), restore


def dft_power(frames, fft_length):
    """|rfft(frames, fft_length)|^2 as matmuls with constant cos/sin bases.

    Same numbers as `tf.signal.rfft` to float32 rounding, and on CPU several
    times faster for the short frames of speech features (the FFT op has a
    large per-call cost; a matmul batches well). Time is measured from the
    frame centre, which changes only the phase, so the even and odd halves of
    each frame need [frame_length / 2, bins] bases each: half the flops of a
    plain DFT matmul.

    Args:
        frames: [..., frame_length] float tensor with a static last dimension.
        fft_length: FFT size (>= frame_length; frames are implicitly zero-padded).

    Returns:
        [..., fft_length // 2 + 1] power spectrum.
    """
    rows, restore = _rows(tf.convert_to_tensor(frames, tf.float32))
    return restore(_power_spectrum(rows, fft_length))
