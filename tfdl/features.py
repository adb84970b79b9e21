"""Spectral features as pure TensorFlow functions, each wrapped by a Keras layer.

Signal parameters use tf.signal's vocabulary: `sample_rate`, `frame_length`,
`frame_step`, `fft_length` (samples, not seconds). Everything works on
`[..., samples]` float tensors, eagerly, in tf.data and inside a model, so an
exported SavedModel takes raw waveforms.

`mfcc` reproduces `python_speech_features.mfcc` (the course references'
feature): pre-emphasis, rectangular frames zero-padded at the end, power
spectrum / fft_length, triangular mel filters on integer FFT bins, log, DCT-II
(ortho), sinusoidal lifter, c0 replaced by log frame energy. Its framing and
power spectrum (`psf_frames`, `dft_power`) live in `tfdl.spectrum`.
"""

import keras
import numpy as np
import tensorflow as tf

from tfdl.spectrum import dft_power, psf_frames  # noqa: F401  (also tfdl.features.*)
from tfdl.spectrum import framed_power

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
    power, restore = framed_power(x, frame_length, frame_step, fft_length)
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


# Level and channel normalisation of a log spectrogram, per recording (digits, keywords).


def relative_log(x, floor):
    """`x - max(x)` over all but the batch axis, floored at `-floor`."""
    peak = tf.reduce_max(x, axis=tf.range(1, tf.rank(x)), keepdims=True)
    return tf.maximum(x - peak, -floor)


@keras.saving.register_keras_serializable(package="tfdl")
class RelativeLog(keras.layers.Layer):
    """A log spectrogram relative to its own maximum, floored: gain invariance per recording.

    `x - max(x)` over all but the batch axis, then `max(., -floor)`; for a
    natural-log power spectrogram `floor=18.42` is librosa's
    `power_to_db(ref=np.max, top_db=80)`. Speakers recorded at different
    levels (FSDD's differ 7x in RMS) then give the same features.

    Input shape: `(batch, frames, bins)`. Output shape: the same.
    """

    def __init__(self, floor=18.42, **kwargs):
        super().__init__(**kwargs)
        if not floor > 0:
            raise ValueError(f"floor must be positive. Received: floor={floor}")
        self.floor = float(floor)

    def call(self, x):
        return relative_log(x, self.floor)

    def get_config(self):
        return {**super().get_config(), "floor": self.floor}


@keras.saving.register_keras_serializable(package="tfdl")
class UtteranceNorm(keras.layers.Layer):
    """Subtracts each recording's mean log spectrum over its speech frames (cepstral mean
    normalisation): removes the microphone/channel response, a constant per-bin offset.

    Speech frames are those whose loudest bin is within `speech_db` dB of the
    recording's loudest bin (input: a natural-log power spectrogram relative to
    its maximum, `RelativeLog`), so the length of the silence does not move the mean.

    Input shape: `(batch, frames, bins)`. Output shape: the same.
    """

    def __init__(self, speech_db=20.0, **kwargs):
        super().__init__(**kwargs)
        if not speech_db > 0:
            raise ValueError(f"speech_db must be positive. Received: speech_db={speech_db}")
        self.speech_db = float(speech_db)

    def call(self, x):
        frame_peak = tf.reduce_max(x, axis=2, keepdims=True)
        top = tf.reduce_max(frame_peak, axis=1, keepdims=True)
        w = tf.cast(frame_peak >= top - self.speech_db * np.log(10.0) / 10.0, x.dtype)
        mean = tf.reduce_sum(x * w, axis=1, keepdims=True) / tf.reduce_sum(w, axis=1, keepdims=True)
        return x - mean

    def get_config(self):
        return {**super().get_config(), "speech_db": self.speech_db}
