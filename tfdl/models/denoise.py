"""Speech denoising networks on STFT frames: a registry of uncompiled builders.

Every model has the same interface, so training, reconstruction and export do
not care which one they hold:

    input:  noisy STFT as real/imag, `(batch, frames, bins, 2)` float32
    output: estimated clean STFT as real/imag, `(batch, frames, bins, 2)`

Inside: spectral features (log magnitude, optionally the noisy phase as
cosine and sine) -> per-feature normalisation (set from
the training data with `FeatureNorm.adapt`) -> neighbouring context frames ->
a fully connected network applied to every frame -> a head that turns the
network output into a clean STFT estimate:

- "magnitude" (`fc`): a non-negative magnitude (softplus) or a bounded mask in
  [0, 1] (sigmoid) times |X|, always with the noisy phase.
- "complex_mask" (`fc_crm`): a complex ratio mask, real and imaginary parts
  bounded in [-bound, bound], multiplied with the noisy STFT, so the phase can
  change too.

`tcn` and `tcn_crm` replace the per-frame network by a temporal convolutional
network over the whole frame sequence (Conv-TasNet's separator, Luo & Mesgarani
2019): `repeats` stacks of `blocks` residual blocks, 1x1 conv -> PReLU ->
layer norm -> depthwise conv with dilation 1, 2, 4, ... -> PReLU -> layer norm
-> 1x1 conv back to the residual width. Each output frame then sees about
`repeats * 2**blocks` frames on either side instead of a fixed context. Its
layer norm and PReLU are `tfdl.layers`' versions: Keras' functions and weights,
fewer passes over the activations on CPU. With `long_window`, their features
also hold the log magnitude of a longer-window STFT of the same frames (finer
frequency resolution at the same hop; see `SpectralFeatures`).
"""

import keras
import numpy as np
import tensorflow as tf

from tfdl.features import inverse_stft
from tfdl.layers import LayerNormalization, PReLU
from tfdl.models.registry import Registry

MODELS = Registry("denoise")
ACTIVATIONS = ("relu", "elu", "gelu", "tanh", "sigmoid", "swish", "leaky_relu")
MAGNITUDE_OUTPUTS = ("mask", "magnitude")
PHASE_FEATURES = ("absolute", "delta")

_PACKAGE = "tfdl.denoise"


def _mag_phase(ri):
    """(|X|, unit phase) from real/imag; a zero bin gets phase 1 (never NaN)."""
    re, im = ri[..., 0], ri[..., 1]
    mag = tf.sqrt(re * re + im * im)
    safe = tf.where(mag > 0, mag, 1.0)
    cos = tf.where(mag > 0, re / safe, 1.0)
    sin = tf.where(mag > 0, im / safe, 0.0)
    return mag, cos, sin


def _complex_product(mr, mi, ri):
    """(mr + i mi) times the complex values held as real/imag in `ri`'s last axis."""
    re, im = ri[..., 0], ri[..., 1]
    return tf.stack([mr * re - mi * im, mr * im + mi * re], axis=-1)


@keras.saving.register_keras_serializable(package=_PACKAGE)
class SpectralFeatures(keras.layers.Layer):
    """Per-frame features of a noisy STFT.

    Input shape: `(batch, frames, bins, 2)` (real, imag).
    Output shape: `(batch, frames, bins)` (log(|X| + log_offset) or |X|),
    or `(batch, frames, 3 * bins)` with `complex_parts=True` (the magnitude
    feature, then the cosine and sine of the noisy phase, or with
    `phase="delta"` of its change from the previous frame, which is the same
    for -x as for x).

    With `long_window` (and the STFT's `frame_step`), the magnitude feature of
    a longer-window STFT follows: the frames are overlap-added back to a
    waveform inside the layer and re-analysed with a `long_window` Hann window
    centred on each frame's centre, same hop, so every frame also gets
    `long_window // 2 + 1` bins of finer frequency resolution (speech
    harmonics that the short window's bins cannot separate).

    Args:
        log_compression: log(|X| + log_offset) instead of |X|.
        complex_parts: append the unit phasor (cos, sin) per bin.
        phase: with `complex_parts`, "absolute" (the noisy phase) or "delta"
            (the phase of X[t] conj(X[t - 1]); the first frame's is 0).
        log_offset: offset inside the log; 1 (log1p, the default) measured
            0.5 dB better on the validation tail than 1e-3 (12.0 vs 11.5 dB),
            and better than 1e-3 and 1e-2 for `tcn_crm` on 128/32 (README).
        long_window: 0 (off) or a power of two longer than the STFT's window.
        frame_step: the input STFT's hop (needed with `long_window`).
    """

    def __init__(self, log_compression=True, complex_parts=False, log_offset=1.0,
                 long_window=0, frame_step=0, phase="absolute", **kwargs):
        super().__init__(**kwargs)
        if phase not in PHASE_FEATURES:
            raise ValueError(f"phase must be one of {PHASE_FEATURES}. Received: phase={phase!r}")
        self.phase = phase
        if long_window and (long_window & (long_window - 1) or frame_step < 1):
            raise ValueError(f"long_window must be a power of two, with a positive "
                             f"frame_step. Received: long_window={long_window}, "
                             f"frame_step={frame_step}")
        if not log_offset > 0:
            raise ValueError(f"log_offset must be > 0. Received: log_offset={log_offset}")
        self.log_compression = bool(log_compression)
        self.complex_parts = bool(complex_parts)
        self.log_offset = float(log_offset)
        self.long_window = int(long_window)
        self.frame_step = int(frame_step)

    def _compress(self, mag):
        return tf.math.log(mag + self.log_offset) if self.log_compression else mag

    def _long_magnitude(self, inputs):
        fft = 2 * (inputs.shape[2] - 1)
        if self.long_window <= fft:
            raise ValueError(f"long_window must exceed the STFT's window ({fft}). Received: "
                             f"long_window={self.long_window}")
        wave = inverse_stft(tf.complex(inputs[..., 0], inputs[..., 1]), fft, self.frame_step)
        pad = (self.long_window - fft) // 2
        wave = tf.pad(wave, [[0, 0], [pad, pad]])
        return tf.abs(tf.signal.stft(wave, self.long_window, self.frame_step,
                                     window_fn=tf.signal.hann_window))

    def call(self, inputs):
        mag, cos, sin = _mag_phase(inputs)
        parts = [self._compress(mag)]
        if self.complex_parts and self.phase == "delta":
            prev = tf.pad(inputs[:, :-1], [[0, 0], [1, 0], [0, 0], [0, 0]])
            _, cos, sin = _mag_phase(_complex_product(prev[..., 0], -prev[..., 1], inputs))
        if self.complex_parts:
            parts += [cos, sin]
        if self.long_window:
            parts.append(self._compress(self._long_magnitude(inputs)))
        return parts[0] if len(parts) == 1 else tf.concat(parts, axis=-1)

    def compute_output_shape(self, input_shape):
        bins = input_shape[2]
        out = None if bins is None else bins * (3 if self.complex_parts else 1)
        if out is not None and self.long_window:
            out += self.long_window // 2 + 1
        return (input_shape[0], input_shape[1], out)

    def get_config(self):
        return {**super().get_config(), "log_compression": self.log_compression,
                "complex_parts": self.complex_parts, "log_offset": self.log_offset,
                "long_window": self.long_window, "frame_step": self.frame_step,
                "phase": self.phase}


@keras.saving.register_keras_serializable(package=_PACKAGE)
class FeatureNorm(keras.layers.Layer):
    """(x - mean) / std per feature, with statistics set once by `adapt(features)`.

    Input/output shape: `(..., features)`.
    """

    def build(self, input_shape):
        dim = int(input_shape[-1])
        self.mean = self.add_weight(name="mean", shape=(dim,), initializer="zeros",
                                    trainable=False)
        self.std = self.add_weight(name="std", shape=(dim,), initializer="ones",
                                   trainable=False)

    def adapt(self, features):
        """Sets mean and std from a `(..., features)` array (std floored at 1e-3)."""
        f = np.asarray(features, np.float64).reshape(-1, np.shape(features)[-1])
        if not self.built:
            self.build(f.shape)
        self.mean.assign(f.mean(axis=0).astype(np.float32))
        self.std.assign(np.maximum(f.std(axis=0), 1e-3).astype(np.float32))

    def call(self, inputs):
        return (inputs - self.mean) / self.std


@keras.saving.register_keras_serializable(package=_PACKAGE)
class ContextFrames(keras.layers.Layer):
    """Stacks each frame with `context` neighbours on each side (edges replicated).

    Input shape: `(batch, frames, features)`.
    Output shape: `(batch, frames, (2 * context + 1) * features)`, ordered from
    the earliest frame to the latest.
    """

    def __init__(self, context=0, **kwargs):
        super().__init__(**kwargs)
        if int(context) != context or context < 0:
            raise ValueError(f"context must be a non-negative integer. Received: "
                             f"context={context}")
        self.context = int(context)

    def call(self, inputs):
        c = self.context
        if c == 0:
            return inputs
        n = tf.shape(inputs)[1]
        first = tf.repeat(inputs[:, :1], c, axis=1)
        last = tf.repeat(inputs[:, -1:], c, axis=1)
        padded = tf.concat([first, inputs, last], axis=1)
        return tf.concat([padded[:, k:k + n] for k in range(2 * c + 1)], axis=-1)

    def compute_output_shape(self, input_shape):
        d = input_shape[-1]
        return (input_shape[0], input_shape[1], None if d is None else d * (2 * self.context + 1))

    def get_config(self):
        return {**super().get_config(), "context": self.context}


@keras.saving.register_keras_serializable(package=_PACKAGE)
class SpectralHead(keras.layers.Layer):
    """Turns the network output into a clean STFT estimate (real/imag).

    Inputs: `[net_out, noisy]`, with `net_out` `(batch, frames, bins)` for
    "mask"/"magnitude" or `(batch, frames, 2 * bins)` for "complex_mask", and
    `noisy` `(batch, frames, bins, 2)`.
    Output shape: `(batch, frames, bins, 2)`.

    Args:
        kind: "mask" (sigmoid mask in [0, 1] times |X|, noisy phase),
            "magnitude" (softplus magnitude, noisy phase) or "complex_mask"
            (bound * tanh(.) real and imag mask, complex product with X).
        bound: the complex mask's bound.
        taps: "complex_mask" only: a complex filter over the `2 * taps + 1` frames
            around each frame instead of one mask per bin (deep filtering,
            DeepFilterNet, Schroeter et al. 2022): `Y[t, f] = sum_k H_k[t, f] X[t + k, f]`,
            k = -taps .. taps, frames outside the input taken as zero. `net_out` then
            has `(2 * taps + 1) * 2 * bins` features, tap by tap (real parts, then
            imaginary parts). 0: the plain mask.
    """

    KINDS = ("mask", "magnitude", "complex_mask")

    def __init__(self, kind="mask", bound=2.0, taps=0, **kwargs):
        super().__init__(**kwargs)
        if kind not in self.KINDS:
            raise ValueError(f"kind must be one of {self.KINDS}. Received: kind={kind!r}")
        if int(taps) != taps or taps < 0 or (taps and kind != "complex_mask"):
            raise ValueError(f"taps must be an integer >= 0, and 0 unless "
                             f"kind='complex_mask'. Received: taps={taps}, kind={kind!r}")
        self.kind = kind
        self.bound = float(bound)
        self.taps = int(taps)

    def call(self, inputs):
        out, noisy = inputs
        if self.kind == "complex_mask":
            m = self.bound * tf.tanh(out / self.bound)
            if self.taps:
                return self._filter(m, noisy)
            mr, mi = tf.split(m, 2, axis=-1)
            return _complex_product(mr, mi, noisy)
        mag, cos, sin = _mag_phase(noisy)
        est = tf.sigmoid(out) * mag if self.kind == "mask" else tf.nn.softplus(out)
        return tf.stack([est * cos, est * sin], axis=-1)

    def _filter(self, m, noisy):
        n = 2 * self.taps + 1
        bins = tf.shape(noisy)[2]
        frames = tf.shape(noisy)[1]
        # (batch, frames, taps, re/im, bins)
        m = tf.reshape(m, tf.concat([tf.shape(m)[:2], [n, 2, bins]], 0))
        padded = tf.pad(noisy, [[0, 0], [self.taps, self.taps], [0, 0], [0, 0]])
        # (batch, frames, taps, bins, re/im): frame t + k for tap k - taps.
        shifted = tf.stack([padded[:, k:k + frames] for k in range(n)], axis=2)
        return tf.reduce_sum(_complex_product(m[:, :, :, 0], m[:, :, :, 1], shifted), axis=2)

    def compute_output_shape(self, input_shape):
        return tuple(input_shape[1])

    def get_config(self):
        return {**super().get_config(), "kind": self.kind, "bound": self.bound,
                "taps": self.taps}


def _check_bins(bins):
    if int(bins) != bins or bins < 2:
        raise ValueError(f"bins must be an integer >= 2. Received: bins={bins}")


def _check_dropout(dropout):
    if not 0.0 <= dropout < 1.0:
        raise ValueError(f"dropout must be in [0, 1). Received: dropout={dropout}")


def _check_magnitude_output(output):
    if output not in MAGNITUDE_OUTPUTS:
        raise ValueError(f"output must be one of {MAGNITUDE_OUTPUTS}. Received: "
                         f"output={output!r}")


def _check(bins, hidden_layers, units, activation, dropout):
    _check_bins(bins)
    if int(hidden_layers) != hidden_layers or hidden_layers < 2:
        raise ValueError(f"hidden_layers must be an integer >= 2. Received: "
                         f"hidden_layers={hidden_layers}")
    if int(units) != units or units < 1:
        raise ValueError(f"units must be a positive integer. Received: units={units}")
    if activation not in ACTIVATIONS:
        raise ValueError(f"activation must be one of {ACTIVATIONS}. Received: "
                         f"activation={activation!r}")
    _check_dropout(dropout)


def _identity_mask_bias(name, output, bound, bins, taps=0):
    """Checks a complex-mask builder's `output` and `bound`; returns the output-layer bias
    that starts the mask at the identity (real part 1, imaginary part 0; with `taps`,
    the centre tap 1 and the others 0, see `SpectralHead`)."""
    if output not in ("complex_mask", "mask"):
        raise ValueError(f"{name} predicts a complex mask. Received: output={output!r}")
    if not bound > 1:
        raise ValueError(f"bound must be > 1. Received: bound={bound}")
    zeros = [0.0] * (2 * bins * taps)
    return zeros + [float(bound * np.arctanh(1.0 / bound))] * bins + [0.0] * bins + zeros


def _frame_network(bins, features, head, hidden_layers, units, activation, dropout, context,
                   out_dim, name, out_bias=None):
    noisy = keras.Input((None, bins, 2), name="noisy_stft")
    x = features(noisy)
    x = FeatureNorm(name="normalize")(x)
    x = ContextFrames(context, name="context")(x)
    for i in range(int(hidden_layers)):
        x = keras.layers.Dense(units, activation=activation, name=f"hidden{i + 1}")(x)
        if dropout:
            x = keras.layers.Dropout(dropout, name=f"dropout{i + 1}")(x)
    if out_bias is None:
        x = keras.layers.Dense(out_dim, name="out")(x)
    else:
        # Start from a fixed mask (zero kernel): a sane first estimate, and no
        # early huge errors that a waveform SNR loss answers by killing units.
        x = keras.layers.Dense(out_dim, kernel_initializer="zeros",
                               bias_initializer=keras.initializers.Constant(out_bias),
                               name="out")(x)
    clean = head([x, noisy])
    return keras.Model(noisy, clean, name=name)


@MODELS.register("fc")
def fc(bins=513, hidden_layers=3, units=512, activation="relu", dropout=0.1, context=2,
       log_compression=True, output="mask", log_offset=1.0):
    """Magnitude model: noisy magnitude frames (+ context) -> clean magnitude, noisy phase.

    Args:
        bins: STFT bins (fft_length // 2 + 1).
        hidden_layers: fully connected hidden layers (>= 2).
        units: width of each hidden layer.
        activation: hidden activation, one of `ACTIVATIONS`.
        dropout: dropout rate after each hidden layer.
        context: neighbouring frames on each side fed with each frame.
        log_compression: feed log(|X| + log_offset) instead of |X|.
        output: "mask" (sigmoid mask in [0, 1] on |X|) or "magnitude"
            (softplus, non-negative).
        log_offset: the offset inside the log (> 0; 1: log1p).

    Returns:
        An uncompiled `keras.Model` (see the module docstring for shapes).
    """
    _check(bins, hidden_layers, units, activation, dropout)
    _check_magnitude_output(output)
    features = SpectralFeatures(log_compression, False, log_offset, name="features")
    return _frame_network(bins, features, SpectralHead(output, name="head"), hidden_layers,
                          units, activation, dropout, context, bins, "denoise_fc")


@MODELS.register("fc_crm")
def fc_crm(bins=513, hidden_layers=3, units=512, activation="relu", dropout=0.1, context=2,
           log_compression=True, output="complex_mask", bound=2.0, log_offset=1.0):
    """Phase-aware model: a complex ratio mask from magnitude and real/imag context frames.

    Args:
        bins, hidden_layers, units, activation, dropout, context,
            log_compression, log_offset: as for `fc`.
        output: only "complex_mask" (accepted so both builders share flags).
        bound: bound of the mask's real and imaginary parts (> 1); the
            output layer starts at the identity mask (real 1, imaginary 0).

    Returns:
        An uncompiled `keras.Model` (see the module docstring for shapes).
    """
    _check(bins, hidden_layers, units, activation, dropout)
    identity = _identity_mask_bias("fc_crm", output, bound, bins)
    features = SpectralFeatures(log_compression, True, log_offset, name="features")
    head = SpectralHead("complex_mask", bound, name="head")
    return _frame_network(bins, features, head, hidden_layers, units, activation, dropout,
                          context, 2 * bins, "denoise_fc_crm", out_bias=identity)


def _tcn_network(bins, features, head, blocks, repeats, channels, hidden, kernel_size,
                 out_dim, name, out_bias=None, dropout=0.0):
    for arg, value in (("blocks", blocks), ("repeats", repeats), ("channels", channels),
                       ("hidden", hidden), ("kernel_size", kernel_size)):
        if int(value) != value or value < 1:
            raise ValueError(f"{arg} must be a positive integer. Received: {arg}={value}")
    _check_dropout(dropout)
    _check_bins(bins)
    noisy = keras.Input((None, bins, 2), name="noisy_stft")
    x = features(noisy)
    x = FeatureNorm(name="normalize")(x)
    x = keras.layers.Dense(channels, name="bottleneck")(x)
    for r in range(int(repeats)):
        for b in range(int(blocks)):
            tag = f"r{r + 1}b{b + 1}"
            y = keras.layers.Dense(hidden, name=f"{tag}_in")(x)
            y = PReLU(shared_axes=[1], name=f"{tag}_prelu1")(y)
            y = LayerNormalization(name=f"{tag}_norm1")(y)
            y = keras.layers.DepthwiseConv1D(kernel_size, dilation_rate=2 ** b, padding="same",
                                             name=f"{tag}_dwconv")(y)
            y = PReLU(shared_axes=[1], name=f"{tag}_prelu2")(y)
            y = LayerNormalization(name=f"{tag}_norm2")(y)
            if dropout:
                y = keras.layers.SpatialDropout1D(dropout, name=f"{tag}_dropout")(y)
            y = keras.layers.Dense(channels, name=f"{tag}_out")(y)
            x = keras.layers.Add(name=f"{tag}_residual")([x, y])
    init = {} if out_bias is None else dict(
        kernel_initializer="zeros", bias_initializer=keras.initializers.Constant(out_bias))
    x = keras.layers.Dense(out_dim, name="out", **init)(x)
    return keras.Model(noisy, head([x, noisy]), name=name)


@MODELS.register("tcn")
def tcn(bins=129, blocks=8, repeats=2, channels=64, hidden=128, kernel_size=3,
        log_compression=True, output="mask", long_window=0, frame_step=0, dropout=0.0,
        log_offset=1.0, phase="absolute"):
    """Magnitude model on a temporal convolutional network: a mask on |X|, noisy phase.

    Input features: the log magnitude and the noisy phase's cosine and sine
    per bin (the mask is applied to |X| only; the phase features help the
    network tell speech from noise).

    Args:
        bins: STFT bins (fft_length // 2 + 1).
        blocks: residual blocks per repeat (dilations 1 .. 2**(blocks-1)).
        repeats: stacks of `blocks`.
        channels: residual width.
        hidden: width inside each block.
        kernel_size: depthwise kernel along time.
        log_compression: log(|X| + log_offset) instead of |X|.
        output: "mask" (sigmoid mask in [0, 1] on |X|) or "magnitude" (softplus).
        long_window, frame_step: also feed the log magnitude of a `long_window`
            STFT at the input's hop `frame_step` (see `SpectralFeatures`; 0: off).
        dropout: spatial dropout in each block (whole hidden channels of a
            sequence, before the block's output projection; 0: off).
        log_offset: the offset inside the log (> 0; 1: log1p).
        phase: the phase features, "absolute" or "delta" (see `SpectralFeatures`).

    Returns:
        An uncompiled `keras.Model` (see the module docstring for shapes).
    """
    _check_magnitude_output(output)
    features = SpectralFeatures(log_compression, True, log_offset, long_window, frame_step,
                                phase, name="features")
    return _tcn_network(bins, features, SpectralHead(output, name="head"), blocks, repeats,
                        channels, hidden, kernel_size, bins, "denoise_tcn", dropout=dropout)


@MODELS.register("tcn_crm")
def tcn_crm(bins=129, blocks=8, repeats=2, channels=64, hidden=128, kernel_size=3,
            log_compression=True, output="complex_mask", bound=2.0, long_window=0,
            frame_step=0, dropout=0.0, taps=0, log_offset=1.0, phase="absolute"):
    """Phase-aware model: a complex ratio mask from a temporal convolutional network.

    Args:
        bins, blocks, repeats, channels, hidden, kernel_size, log_compression,
            long_window, frame_step, dropout, log_offset, phase: as for `tcn`.
        output: only "complex_mask".
        bound: bound of the mask's real and imaginary parts (> 1); the output
            layer starts at the identity mask.
        taps: a complex filter over the `2 * taps + 1` frames around each frame
            (deep filtering, see `SpectralHead`); 0: one mask value per bin.

    Returns:
        An uncompiled `keras.Model` (see the module docstring for shapes).
    """
    identity = _identity_mask_bias("tcn_crm", output, bound, bins, taps)
    features = SpectralFeatures(log_compression, True, log_offset, long_window, frame_step,
                                phase, name="features")
    head = SpectralHead("complex_mask", bound, taps=taps, name="head")
    return _tcn_network(bins, features, head,
                        blocks, repeats, channels, hidden, kernel_size, len(identity),
                        "denoise_tcn_crm", out_bias=identity, dropout=dropout)
