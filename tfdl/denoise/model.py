"""Speech-denoising networks on STFT frames (a registry of uncompiled builders) and their losses.

Every model has the same interface, so training, reconstruction and export do
not care which one they hold:

    input:  noisy STFT as real/imag, `(batch, frames, bins, 2)` float32
    output: estimated clean STFT as real/imag, `(batch, frames, bins, 2)`

Inside (layers in `tfdl.denoise.layers`): log1p magnitude features
(optionally with the noisy phase's cosine and sine) -> per-feature
normalisation (set from the training data by `adapt_normalisation`) -> a
network -> a head that turns its output into the clean STFT estimate.

Models (registry `MODELS`; each has a named config of the same name):
    fc: the course's model: a fully connected network on each frame and its
        `context` neighbours on each side -> a sigmoid mask on |X|, noisy phase.
    fc_crm: the same network -> a bounded complex ratio mask, so the phase can
        change too (features: the magnitude and the noisy phase's cos/sin).
    tcn, tcn_crm: the two heads on a temporal convolutional network over the
        whole frame sequence (Conv-TasNet's separator, Luo & Mesgarani 2019):
        `repeats` stacks of `blocks` residual blocks, 1x1 conv -> PReLU ->
        layer norm -> depthwise conv with dilation 1, 2, 4, ... -> PReLU ->
        layer norm -> 1x1 conv back to the residual width; each output frame
        sees about `repeats * 2**blocks` frames on either side. Its layer norm
        and PReLU are `tfdl.layers`' versions: Keras' functions and weights,
        fewer passes over the activations on CPU. With `causal`, each
        depthwise conv looks back only (zero-padded on the left), so an output
        frame depends on no later frame: for live audio (`latency_ms`).

Builder arguments carry the config's field names, so `build(cfg)` passes them
through, and a bad value is checked once, here (`ArgumentError`, a
`ValueError` that `Config.validate` reports as `--config.FIELD`).
"""

import keras
import numpy as np
import tensorflow as tf

from tfdl import features
from tfdl.denoise.layers import ContextFrames, FeatureNorm, SpectralFeatures, SpectralHead
from tfdl.layers import LayerNormalization, PReLU
from tfdl.registry import Registry

MODELS = Registry("denoise")
ACTIVATIONS = ("relu", "elu", "gelu", "tanh", "sigmoid", "swish", "leaky_relu")
FRAME_ARGS = ("hidden_layers", "units", "activation", "dropout", "context")  # fc, fc_crm
TCN_ARGS = ("blocks", "repeats", "channels", "hidden", "causal")  # tcn, tcn_crm
LOSSES = ("spectrum", "nsr")


class ArgumentError(ValueError):
    """A bad builder argument: its name `arg`, what it `must` be and the `value` received."""

    def __init__(self, arg, must, value):
        super().__init__(f"{arg} must be {must}. Received: {arg}={value!r}")
        self.arg, self.must, self.value = arg, must, value


def _positive_ints(**values):
    for arg, v in values.items():
        if isinstance(v, bool) or not isinstance(v, (int, np.integer)) or v < 1:
            raise ArgumentError(arg, "a positive integer", v)


def check_frame_args(bins, hidden_layers, units, activation, dropout, context):
    """The checks of the `fc` / `fc_crm` arguments. Raises `ArgumentError`."""
    _positive_ints(bins=bins, units=units)
    if isinstance(hidden_layers, bool) or not isinstance(hidden_layers, int) or hidden_layers < 2:
        raise ArgumentError("hidden_layers", "an integer >= 2", hidden_layers)
    if activation not in ACTIVATIONS:
        raise ArgumentError("activation", f"one of {', '.join(ACTIVATIONS)}", activation)
    if not (isinstance(dropout, (int, float)) and 0.0 <= dropout < 1.0):
        raise ArgumentError("dropout", "in [0, 1)", dropout)
    if isinstance(context, bool) or not isinstance(context, int) or context < 0:
        raise ArgumentError("context", "an integer >= 0", context)


def check_tcn_args(bins, blocks, repeats, channels, hidden, kernel_size=3, causal=False):
    """The checks of the `tcn` / `tcn_crm` arguments. Raises `ArgumentError`."""
    _positive_ints(bins=bins, blocks=blocks, repeats=repeats, channels=channels, hidden=hidden,
                   kernel_size=kernel_size)
    if not isinstance(causal, bool):
        raise ArgumentError("causal", "true or false", causal)


def receptive_field(blocks, repeats, kernel_size=3):
    """Frames a TCN output frame sees on each side it looks (1 + its dilated context)."""
    return 1 + repeats * (kernel_size - 1) * (2 ** blocks - 1)


def latency_ms(cfg, sample_rate):
    """Algorithmic latency of a causal `Config`'s denoiser: the newest output sample needs
    the input up to one frame (`fft_length` samples) later."""
    return 1000.0 * cfg.fft_length / sample_rate


def builder_kwargs(cfg):
    """`cfg.model`'s builder arguments from a `Config` (the fields of the same names)."""
    names = TCN_ARGS if cfg.model.startswith("tcn") else FRAME_ARGS
    return {"bins": cfg.fft_length // 2 + 1, **{n: getattr(cfg, n) for n in names}}


def check_args(cfg):
    """Checks a `Config`'s builder arguments, of the MLPs and of the TCNs whichever its
    model, without building it. Raises `ArgumentError`."""
    bins = cfg.fft_length // 2 + 1
    check_frame_args(bins, **{n: getattr(cfg, n) for n in FRAME_ARGS})
    check_tcn_args(bins, **{n: getattr(cfg, n) for n in TCN_ARGS})


def build(cfg):
    """The uncompiled network of a `Config`."""
    return MODELS.build(cfg.model, **builder_kwargs(cfg))


def _identity_mask_bias(bound, bins):
    """The output-layer bias that starts a complex mask at the identity (real part 1,
    imaginary part 0), so the first estimate is the noisy input."""
    if not bound > 1:
        raise ArgumentError("bound", "> 1", bound)
    return [float(bound * np.arctanh(1.0 / bound))] * bins + [0.0] * bins


def _out_layer(out_dim, bias):
    if bias is None:
        return keras.layers.Dense(out_dim, name="out")
    # Start from a fixed mask (zero kernel): a sane first estimate, and no early huge
    # errors that a waveform loss answers by killing units.
    return keras.layers.Dense(out_dim, kernel_initializer="zeros",
                              bias_initializer=keras.initializers.Constant(bias), name="out")


def _frame_network(bins, complex_parts, head, hidden_layers, units, activation, dropout,
                   context, out_dim, name, out_bias=None):
    check_frame_args(bins, hidden_layers, units, activation, dropout, context)
    noisy = keras.Input((None, bins, 2), name="noisy_stft")
    x = SpectralFeatures(complex_parts, name="features")(noisy)
    x = FeatureNorm(name="normalize")(x)
    x = ContextFrames(context, name="context")(x)
    for i in range(hidden_layers):
        x = keras.layers.Dense(units, activation=activation, name=f"hidden{i + 1}")(x)
        if dropout:
            x = keras.layers.Dropout(dropout, name=f"dropout{i + 1}")(x)
    x = _out_layer(out_dim, out_bias)(x)
    return keras.Model(noisy, head([x, noisy]), name=name)


@MODELS.register("fc")
def fc(*, bins=513, hidden_layers=3, units=512, activation="relu", dropout=0.1, context=2):
    """Magnitude model: log1p magnitude frames (+ context) -> a mask on |X|, noisy phase.

    Args:
        bins: STFT bins (fft_length // 2 + 1).
        hidden_layers: fully connected hidden layers (>= 2).
        units: width of each hidden layer.
        activation: hidden activation, one of `ACTIVATIONS`.
        dropout: dropout rate after each hidden layer.
        context: neighbouring frames on each side fed with each frame.

    Returns:
        An uncompiled `keras.Model` (see the module docstring for shapes).
    """
    return _frame_network(bins, False, SpectralHead("mask", name="head"), hidden_layers, units,
                          activation, dropout, context, bins, "denoise_fc")


@MODELS.register("fc_crm")
def fc_crm(*, bins=513, hidden_layers=3, units=512, activation="relu", dropout=0.1, context=2,
           bound=2.0):
    """Phase-aware model: a complex ratio mask from magnitude and noisy-phase context frames.

    Args:
        bins, hidden_layers, units, activation, dropout, context: as for `fc`.
        bound: bound of the mask's real and imaginary parts (> 1); the output
            layer starts at the identity mask (real 1, imaginary 0).

    Returns:
        An uncompiled `keras.Model` (see the module docstring for shapes).
    """
    identity = _identity_mask_bias(bound, bins)
    head = SpectralHead("complex_mask", bound, name="head")
    return _frame_network(bins, True, head, hidden_layers, units, activation, dropout, context,
                          2 * bins, "denoise_fc_crm", out_bias=identity)


def _tcn_network(bins, head, blocks, repeats, channels, hidden, kernel_size, out_dim, name,
                 out_bias=None, causal=False):
    check_tcn_args(bins, blocks, repeats, channels, hidden, kernel_size, causal)
    noisy = keras.Input((None, bins, 2), name="noisy_stft")
    x = SpectralFeatures(True, name="features")(noisy)
    x = FeatureNorm(name="normalize")(x)
    x = keras.layers.Dense(channels, name="bottleneck")(x)
    for r in range(repeats):
        for b in range(blocks):
            tag = f"r{r + 1}b{b + 1}"
            y = keras.layers.Dense(hidden, name=f"{tag}_in")(x)
            y = PReLU(shared_axes=[1], name=f"{tag}_prelu1")(y)
            y = LayerNormalization(name=f"{tag}_norm1")(y)
            if causal:  # the past only: (kernel - 1) * dilation zeros before the first frame
                y = keras.layers.ZeroPadding1D(((kernel_size - 1) * 2 ** b, 0),
                                               name=f"{tag}_pad")(y)
            y = keras.layers.DepthwiseConv1D(kernel_size, dilation_rate=2 ** b,
                                             padding="valid" if causal else "same",
                                             name=f"{tag}_dwconv")(y)
            y = PReLU(shared_axes=[1], name=f"{tag}_prelu2")(y)
            y = LayerNormalization(name=f"{tag}_norm2")(y)
            y = keras.layers.Dense(channels, name=f"{tag}_out")(y)
            x = keras.layers.Add(name=f"{tag}_residual")([x, y])
    x = _out_layer(out_dim, out_bias)(x)
    return keras.Model(noisy, head([x, noisy]), name=name)


@MODELS.register("tcn")
def tcn(*, bins=129, blocks=8, repeats=2, channels=64, hidden=128, kernel_size=3,
        causal=False):
    """Magnitude model on a temporal convolutional network: a mask on |X|, noisy phase.

    Input features: the log1p magnitude and the noisy phase's cosine and sine
    per bin (the mask is applied to |X| only; the phase features help the
    network tell speech from noise).

    Args:
        bins: STFT bins (fft_length // 2 + 1).
        blocks: residual blocks per repeat (dilations 1 .. 2**(blocks-1)).
        repeats: stacks of `blocks`.
        channels: residual width.
        hidden: width inside each block.
        kernel_size: depthwise kernel along time.
        causal: look back only (no later frame), for live audio.

    Returns:
        An uncompiled `keras.Model` (see the module docstring for shapes).
    """
    return _tcn_network(bins, SpectralHead("mask", name="head"), blocks, repeats, channels,
                        hidden, kernel_size, bins, "denoise_tcn", causal=causal)


@MODELS.register("tcn_crm")
def tcn_crm(*, bins=129, blocks=8, repeats=2, channels=64, hidden=128, kernel_size=3,
            bound=2.0, causal=False):
    """Phase-aware model: a complex ratio mask from a temporal convolutional network.

    Args:
        bins, blocks, repeats, channels, hidden, kernel_size, causal: as for `tcn`.
        bound: bound of the mask's real and imaginary parts (> 1); the output
            layer starts at the identity mask.

    Returns:
        An uncompiled `keras.Model` (see the module docstring for shapes).
    """
    identity = _identity_mask_bias(bound, bins)
    head = SpectralHead("complex_mask", bound, name="head")
    return _tcn_network(bins, head, blocks, repeats, channels, hidden, kernel_size,
                        2 * bins, "denoise_tcn_crm", out_bias=identity, causal=causal)


def adapt_normalisation(model, noisy_ri):
    """Sets the model's `FeatureNorm` statistics from its features of the training frames.

    Args:
        model: a network of `MODELS`.
        noisy_ri: the noisy training STFT as real/imag `[frames, bins, 2]`.
    """
    feats = model.get_layer("features")(tf.constant(noisy_ri[None], tf.float32)).numpy()
    model.get_layer("normalize").adapt(feats)


def istft_chunk(ri, fft_length, frame_step):
    """Inverse STFT (not centred) of real/imag `[..., frames, bins, 2]` crops."""
    ri = tf.convert_to_tensor(ri, tf.float32)
    return features.inverse_stft(tf.complex(ri[..., 0], ri[..., 1]), fft_length, frame_step)


def make_loss(name, fft_length=1024, frame_step=512):
    """A Keras loss on (clean real/imag, estimated real/imag) `[batch, frames, bins, 2]`.

    Args:
        name: "spectrum" (MSE of the real and imaginary parts: with the noisy
            phase, the phase-sensitive approximation, whose mask learns
            |S| cos(phase error) / |X|) or "nsr" (error energy over signal
            energy of the inverse-STFT waveforms, pooled over the batch,
            without each crop's first and last half-window, where the
            overlap-add is incomplete).
        fft_length, frame_step: the STFT.

    Raises:
        ValueError: an unknown `name`.
    """
    if name == "spectrum":
        def spectrum_mse(y_true, y_pred):
            return tf.reduce_mean(tf.square(y_true - y_pred))
        return spectrum_mse
    if name == "nsr":
        trim = fft_length // 2

        def nsr(y_true, y_pred):
            s = istft_chunk(y_true, fft_length, frame_step)[..., trim:-trim]
            e = istft_chunk(y_pred, fft_length, frame_step)[..., trim:-trim]
            return tf.reduce_sum((s - e) ** 2) / (tf.reduce_sum(s ** 2) + 1e-8)
        return nsr
    raise ValueError(f"loss must be one of {LOSSES}. Received: loss={name!r}")


class WaveformSNR(keras.metrics.Metric):
    """SNR (dB) of the inverse-STFT waveforms, energies summed over all batches.

    `trim` samples are dropped at both ends (the centred STFT's padding), so
    on a whole centred signal this is within a few hundredths of a dB of the
    SNR of the trimmed reconstruction.
    """

    def __init__(self, fft_length=1024, frame_step=512, trim=0, name="snr", **kwargs):
        super().__init__(name=name, **kwargs)
        self.fft_length, self.frame_step, self.trim = fft_length, frame_step, trim
        self.signal = self.add_variable(shape=(), initializer="zeros", name="signal")
        self.error = self.add_variable(shape=(), initializer="zeros", name="error")

    def update_state(self, y_true, y_pred, sample_weight=None):
        s = istft_chunk(y_true, self.fft_length, self.frame_step)
        e = istft_chunk(y_pred, self.fft_length, self.frame_step)
        if self.trim:
            s, e = s[..., self.trim:-self.trim], e[..., self.trim:-self.trim]
        self.signal.assign_add(tf.reduce_sum(s ** 2))
        self.error.assign_add(tf.reduce_sum((s - e) ** 2))

    def result(self):
        return 10.0 * tf.math.log((self.signal + 1e-12) / (self.error + 1e-12)) / tf.math.log(10.0)

    def reset_state(self):
        self.signal.assign(0.0)
        self.error.assign(0.0)
