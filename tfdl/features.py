"""Spectral features as pure TensorFlow functions, each wrapped by a Keras layer.

Signal parameters use tf.signal's vocabulary: `sample_rate`, `frame_length`,
`frame_step`, `fft_length` (samples, not seconds). Everything works on
`[..., samples]` float tensors, eagerly, in tf.data and inside a model, so an
exported SavedModel takes raw waveforms.

`mfcc` reproduces `python_speech_features.mfcc` (the course references'
feature): pre-emphasis, rectangular frames zero-padded at the end, power
spectrum / fft_length, triangular mel filters on integer FFT bins, log, DCT-II
(ortho), sinusoidal lifter, c0 replaced by log frame energy.
"""

import keras
import numpy as np
import tensorflow as tf

_EPS = float(np.finfo(np.float64).eps)  # python_speech_features floors at float eps.


def _check_positive(**kwargs):
    for name, value in kwargs.items():
        if value is None or int(value) != value or value <= 0:
            raise ValueError(f"{name} must be a positive integer. Received: {name}={value}")


def _check_frames(frame_length, frame_step, fft_length=None):
    _check_positive(frame_length=frame_length, frame_step=frame_step)
    if fft_length is not None:
        _check_positive(fft_length=fft_length)
        if fft_length < frame_length:
            raise ValueError(f"fft_length must be >= frame_length={frame_length}. "
                             f"Received: fft_length={fft_length}")


def stft(signal, frame_length=1024, frame_step=512, fft_length=None, center=False):
    """Short-time Fourier transform with a periodic Hann window.

    Args:
        signal: [..., samples] float tensor.
        frame_length: window length in samples.
        frame_step: hop in samples.
        fft_length: FFT size (default `frame_length`).
        center: reflect-pad `fft_length // 2` samples at both ends, as
            `librosa.stft(center=True)` does, so frame t is centred on sample
            t * frame_step (and zero-pad the end to a whole frame).

    Returns:
        [..., frames, fft_length // 2 + 1] complex64 tensor.
    """
    fft_length = fft_length or frame_length
    _check_frames(frame_length, frame_step, fft_length)
    signal = tf.convert_to_tensor(signal, tf.float32)
    if center:
        pad = fft_length // 2
        paddings = [[0, 0]] * (signal.shape.rank - 1) + [[pad, pad]]
        signal = tf.pad(signal, paddings, mode="REFLECT")
    # Centred frames also pad the end so that every input sample lies under a
    # full window and `inverse_stft(..., center=True)` is exact everywhere.
    return tf.signal.stft(signal, frame_length, frame_step, fft_length,
                          window_fn=tf.signal.hann_window, pad_end=center)


def inverse_stft(stfts, frame_length=1024, frame_step=512, fft_length=None, center=False,
                 length=None):
    """Inverse of `stft`: windowed overlap-add normalised by the window power.

    Args:
        stfts: [..., frames, fft_length // 2 + 1] complex tensor.
        frame_length, frame_step, fft_length, center: as given to `stft`.
        length: if given, the output is trimmed or zero-padded to this many
            samples (the forward input's length).

    Returns:
        [..., samples] float32 tensor.
    """
    fft_length = fft_length or frame_length
    _check_frames(frame_length, frame_step, fft_length)
    stfts = tf.convert_to_tensor(stfts, tf.complex64)
    window = tf.signal.hann_window(frame_length)
    frames = tf.signal.irfft(stfts, [fft_length])[..., :frame_length] * window
    # Normalise by the summed squared window actually under each sample (as
    # librosa.istft does) rather than by its steady-state value, so the edges
    # are exact too wherever any window covers them.
    out = tf.signal.overlap_and_add(frames, frame_step)
    num_frames = tf.shape(stfts)[-2]
    wsum = tf.signal.overlap_and_add(tf.tile(window[None, :] ** 2, [num_frames, 1]), frame_step)
    out = out / tf.where(wsum > 1e-6, wsum, 1.0)
    if center:
        out = out[..., fft_length // 2:]
    if length is not None:
        out = out[..., :length]
        pad = tf.maximum(length - tf.shape(out)[-1], 0)
        paddings = tf.concat([tf.zeros([tf.rank(out) - 1, 2], tf.int32),
                              tf.reshape(tf.stack([0, pad]), [1, 2])], 0)
        out = tf.pad(out, paddings)
    return out


def log_mel(signal, sample_rate, frame_length, frame_step, fft_length=None, num_mel_bins=40,
            lower_edge_hertz=20.0, upper_edge_hertz=None, log_offset=1e-6):
    """Log mel spectrogram: |STFT| -> mel matrix (HTK mel scale) -> log(x + offset).

    Returns:
        [..., frames, num_mel_bins] float32 tensor.
    """
    fft_length = fft_length or int(2 ** np.ceil(np.log2(frame_length)))
    mag = tf.abs(stft(signal, frame_length, frame_step, fft_length))
    upper = upper_edge_hertz or sample_rate / 2.0
    if not 0 <= lower_edge_hertz < upper <= sample_rate / 2.0:
        raise ValueError(f"need 0 <= lower_edge_hertz < upper_edge_hertz <= sample_rate/2. "
                         f"Received: lower_edge_hertz={lower_edge_hertz}, "
                         f"upper_edge_hertz={upper_edge_hertz}, sample_rate={sample_rate}")
    mel = tf.signal.linear_to_mel_weight_matrix(num_mel_bins, fft_length // 2 + 1, sample_rate,
                                                lower_edge_hertz, upper)
    return tf.math.log(tf.tensordot(mag ** 2, mel, 1) + log_offset)


def _hz2mel(hz):
    return 2595.0 * np.log10(1.0 + np.asarray(hz) / 700.0)


def _mel2hz(mel):
    return 700.0 * (10.0 ** (np.asarray(mel) / 2595.0) - 1.0)


def psf_filterbank(num_filters, fft_length, sample_rate, lower_hertz=0.0, upper_hertz=None):
    """The triangular mel filterbank of python_speech_features, [fft_length//2+1, num_filters]."""
    upper_hertz = upper_hertz or sample_rate / 2.0
    mels = np.linspace(_hz2mel(lower_hertz), _hz2mel(upper_hertz), num_filters + 2)
    bins = np.floor((fft_length + 1) * _mel2hz(mels) / sample_rate)
    fb = np.zeros([num_filters, fft_length // 2 + 1])
    for j in range(num_filters):
        for i in range(int(bins[j]), int(bins[j + 1])):
            fb[j, i] = (i - bins[j]) / (bins[j + 1] - bins[j])
        for i in range(int(bins[j + 1]), int(bins[j + 2])):
            fb[j, i] = (bins[j + 2] - i) / (bins[j + 2] - bins[j + 1])
    return fb.T.astype(np.float32)


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


def _mfcc_power(x, frame_length, frame_step, fft_length):
    """psf-framed power spectrum / fft_length of [..., samples] as [rows, bins] and a
    function restoring [..., frames, k] from [rows, k]."""
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


def _dct_lifter_matrix(num_filters, num_coefficients, lifter):
    """[num_filters, num_coefficients]: orthonormal DCT-II, then the sinusoidal lifter."""
    n, k = np.arange(num_filters), np.arange(num_coefficients)
    mat = np.sqrt(2.0 / num_filters) * np.cos(np.pi * np.outer(2 * n + 1, k) / (2 * num_filters))
    mat[:, 0] /= np.sqrt(2.0)
    if lifter:
        mat = mat * (1 + (lifter / 2.0) * np.sin(np.pi * k / lifter))
    return mat


def mfcc(signal, sample_rate=16000, frame_length=None, frame_step=None, fft_length=512,
         num_filters=26, num_coefficients=13, preemphasis=0.97, lifter=22, append_energy=True,
         lower_hertz=0.0, upper_hertz=None):
    """MFCC exactly as `python_speech_features.mfcc` computes them (float32).

    Args:
        signal: [..., samples] float tensor.
        sample_rate: sample rate in Hz (Python int).
        frame_length: samples per frame (default 25 ms).
        frame_step: hop in samples (default 10 ms).
        fft_length: FFT size (psf's `nfft`, default 512).
        num_filters: mel filters (psf's `nfilt`).
        num_coefficients: cepstra kept (psf's `numcep`).
        preemphasis: pre-emphasis coefficient, 0 for none.
        lifter: sinusoidal lifter `L`, 0 for none.
        append_energy: replace c0 by the log of the frame's total power.
        lower_hertz, upper_hertz: filterbank band edges.

    Returns:
        [..., frames, num_coefficients] float32 tensor.
    """
    frame_length = frame_length or int(np.floor(0.025 * sample_rate + 0.5))
    frame_step = frame_step or int(np.floor(0.010 * sample_rate + 0.5))
    _check_frames(frame_length, frame_step, fft_length)
    if num_coefficients > num_filters:
        raise ValueError(f"num_coefficients must be <= num_filters={num_filters}. "
                         f"Received: num_coefficients={num_coefficients}")
    x = tf.convert_to_tensor(signal, tf.float32)
    if preemphasis:  # y[t] = x[t] - a * x[t - 1], y[0] = x[0]
        paddings = [[0, 0]] * (x.shape.rank - 1) + [[1, 0]] if x.shape.rank else None
        previous = (tf.pad(x[..., :-1], paddings) if paddings else
                    tf.concat([tf.zeros_like(x[..., :1]), x[..., :-1]], -1))
        x = x - preemphasis * previous
    # All frames as rows of one matrix: every step below is a single 2-D op.
    power, restore = _mfcc_power(x, frame_length, frame_step, fft_length)
    fb = psf_filterbank(num_filters, fft_length, sample_rate, lower_hertz, upper_hertz)
    if append_energy:  # the frame energy as one more filter of all ones
        fb = np.concatenate([fb, np.ones([fb.shape[0], 1], np.float32)], 1)
    feat = tf.matmul(power, tf.constant(fb))
    feat = tf.math.log(tf.where(feat == 0.0, _EPS, feat))
    # DCT-II (ortho) and lifter as one small matmul: tf.signal.dct pays for an FFT.
    dct = _dct_lifter_matrix(num_filters, num_coefficients, lifter)
    if append_energy:  # c0 is replaced by the log energy
        ceps = tf.concat([feat[:, num_filters:], tf.matmul(
            feat[:, :num_filters], tf.constant(dct[:, 1:], tf.float32))], -1)
    else:
        ceps = tf.matmul(feat, tf.constant(dct, tf.float32))
    ceps = restore(ceps)
    return ceps


# ----------------------------------------------------------------------------- layers


@keras.saving.register_keras_serializable(package="tfdl")
class PadOrTrim(keras.layers.Layer):
    """Zero-pads or trims raw waveforms to a fixed length.

    Input shape: `(batch, samples)` with any `samples`.
    Output shape: `(batch, length)`.
    """

    def __init__(self, length, **kwargs):
        super().__init__(**kwargs)
        _check_positive(length=length)
        self.length = int(length)

    def call(self, inputs):
        from tfdl.audio import pad_or_trim

        return pad_or_trim(inputs, self.length)

    def compute_output_shape(self, input_shape):
        return tuple(input_shape[:-1]) + (self.length,)

    def get_config(self):
        return {**super().get_config(), "length": self.length}


class _SignalLayer(keras.layers.Layer):
    """Base of feature layers: stores its constructor arguments as its config."""

    def __init__(self, **kwargs):
        base = {k: kwargs.pop(k) for k in ("name", "dtype", "trainable") if k in kwargs}
        super().__init__(**base)
        self._args = dict(kwargs)
        for k, v in kwargs.items():
            setattr(self, k, v)

    def get_config(self):
        return {**super().get_config(), **self._args}


@keras.saving.register_keras_serializable(package="tfdl")
class STFTMagnitude(_SignalLayer):
    """|STFT| of raw waveforms, optionally log-compressed.

    Input shape: `(batch, samples)`. Output shape: `(batch, frames, fft_length // 2 + 1)`.
    """

    def __init__(self, frame_length=1024, frame_step=512, fft_length=None, log=False,
                 **kwargs):
        _check_frames(frame_length, frame_step, fft_length)
        super().__init__(frame_length=frame_length, frame_step=frame_step,
                         fft_length=fft_length, log=log, **kwargs)

    def call(self, inputs):
        mag = tf.abs(stft(inputs, self.frame_length, self.frame_step, self.fft_length))
        return tf.math.log1p(mag) if self.log else mag


@keras.saving.register_keras_serializable(package="tfdl")
class LogMel(_SignalLayer):
    """Log mel spectrogram of raw waveforms.

    Input shape: `(batch, samples)`. Output shape: `(batch, frames, num_mel_bins)`.
    """

    def __init__(self, sample_rate=16000, frame_length=400, frame_step=160, fft_length=None,
                 num_mel_bins=40, lower_edge_hertz=20.0, upper_edge_hertz=None, **kwargs):
        _check_frames(frame_length, frame_step, fft_length)
        super().__init__(sample_rate=sample_rate, frame_length=frame_length,
                         frame_step=frame_step, fft_length=fft_length,
                         num_mel_bins=num_mel_bins, lower_edge_hertz=lower_edge_hertz,
                         upper_edge_hertz=upper_edge_hertz, **kwargs)

    def call(self, inputs):
        return log_mel(inputs, self.sample_rate, self.frame_length, self.frame_step,
                       self.fft_length, self.num_mel_bins, self.lower_edge_hertz,
                       self.upper_edge_hertz)


@keras.saving.register_keras_serializable(package="tfdl")
class MFCC(_SignalLayer):
    """python_speech_features-compatible MFCC of raw waveforms (see `mfcc`).

    Input shape: `(batch, samples)`. Output shape: `(batch, frames, num_coefficients)`.
    """

    def __init__(self, sample_rate=16000, frame_length=None, frame_step=None, fft_length=512,
                 num_filters=26, num_coefficients=13, preemphasis=0.97, lifter=22,
                 append_energy=True, **kwargs):
        frame_length = frame_length or int(np.floor(0.025 * sample_rate + 0.5))
        frame_step = frame_step or int(np.floor(0.010 * sample_rate + 0.5))
        _check_frames(frame_length, frame_step, fft_length)
        super().__init__(sample_rate=sample_rate, frame_length=frame_length,
                         frame_step=frame_step, fft_length=fft_length, num_filters=num_filters,
                         num_coefficients=num_coefficients, preemphasis=preemphasis,
                         lifter=lifter, append_energy=append_energy, **kwargs)

    def call(self, inputs):
        return mfcc(inputs, self.sample_rate, self.frame_length, self.frame_step,
                    self.fft_length, self.num_filters, self.num_coefficients, self.preemphasis,
                    self.lifter, self.append_energy)
