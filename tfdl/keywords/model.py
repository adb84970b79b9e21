"""Keyword-spotting models: raw waveform in, class probabilities out.

Every builder starts with the same front end, so an exported SavedModel takes
raw waveforms of any length at `sample_rate`:

    waveform [batch, any] -> PadOrTrim(clip samples) -> MFCC or LogMel
    (for "relative-log-mel" then RelativeLog and UtteranceNorm)
    [batch, frames, feature_bin_count] -> BatchNormalization (per feature bin)

and then its own body. All builders take the front-end keyword arguments
(`sample_rate`, `clip_duration_ms`, `window_size_ms`, `window_stride_ms`,
`feature_bin_count`, `preprocess`) plus `num_classes` and body-specific
hyperparameters with defaults, so a keras-tuner `HyperModel` can call
`MODELS.build(name, **front_end, **hp_values)`. A run builds its model with
`build(cfg, num_classes)`: the builder's defaults, plus the config's front end,
`dropout` and `batchnorm` (each model's named config in
`tfdl.keywords.configs` sets those two).

Models (registry `MODELS`; each has a named config of the same name):
    cnn: the course reference's small 2-D CNN (conv 5x5x32, pool, conv 5x5x16,
        pool, dense 128, dense 128, softmax).
    ds_cnn: depthwise-separable CNN (Zhang et al. 2017, "Hello Edge"): a
        strided conv then `depth` depthwise 3x3 + pointwise 1x1 blocks, global
        average pooling.
    ffnn: plain feed-forward net on the flattened features (the reference's
        FFNN baseline).
"""

import keras
import numpy as np
from keras import layers

from tfdl.features import MFCC, LogMel, PadOrTrim, RelativeLog, UtteranceNorm
from tfdl.layers import BatchNormalization
from tfdl.registry import Registry

MODELS = Registry("keywords")
PREPROCESS = ("mfcc", "log-mel", "relative-log-mel")


def _ms(ms, sample_rate):
    return int(round(sample_rate * ms / 1000.0))


def front_end(sample_rate=16000, clip_duration_ms=1000, window_size_ms=30.0,
              window_stride_ms=10.0, feature_bin_count=40, preprocess="mfcc"):
    """Raw-waveform input and the feature tensor `[batch, frames, feature_bin_count]`.

    Args:
        sample_rate: model sample rate in Hz.
        clip_duration_ms: clip length the waveform is padded/trimmed to.
        window_size_ms, window_stride_ms: analysis window and hop.
        feature_bin_count: MFCC coefficients or mel bins per frame.
        preprocess: "mfcc" (python_speech_features-exact, 40 mel filters or
            `feature_bin_count` if larger), "log-mel", or "relative-log-mel" (log-mel
            relative to the clip's peak, less its mean over speech frames: a gain or a
            microphone's fixed response leaves it unchanged).

    Returns:
        (inputs, features): a `keras.Input([None])` and the normalised features.

    Raises:
        ValueError: unknown `preprocess` or non-positive sizes.
    """
    if preprocess not in PREPROCESS:
        raise ValueError(f"preprocess must be one of {PREPROCESS}. Received: "
                         f"preprocess={preprocess!r}")
    length = _ms(clip_duration_ms, sample_rate)
    frame_length = _ms(window_size_ms, sample_rate)
    frame_step = _ms(window_stride_ms, sample_rate)
    for name, value in (("clip_duration_ms", length), ("window_size_ms", frame_length),
                        ("window_stride_ms", frame_step),
                        ("feature_bin_count", feature_bin_count)):
        if value <= 0:
            raise ValueError(f"{name} must give a positive number of samples. Received: "
                             f"{name}={value}")
    if frame_length > length:
        raise ValueError(f"window_size_ms must not exceed clip_duration_ms. Received: "
                         f"window_size_ms={window_size_ms}, clip_duration_ms={clip_duration_ms}")
    fft_length = int(2 ** np.ceil(np.log2(frame_length)))
    inputs = keras.Input(shape=(None,), name="waveform")
    x = PadOrTrim(length, name="pad_or_trim")(inputs)
    if preprocess == "mfcc":
        x = MFCC(sample_rate=sample_rate, frame_length=frame_length, frame_step=frame_step,
                 fft_length=fft_length, num_filters=max(40, int(feature_bin_count)),
                 num_coefficients=int(feature_bin_count), name="mfcc")(x)
    else:
        x = LogMel(sample_rate=sample_rate, frame_length=frame_length, frame_step=frame_step,
                   fft_length=fft_length, num_mel_bins=int(feature_bin_count), name="log_mel")(x)
        if preprocess == "relative-log-mel":
            x = RelativeLog(name="relative_level")(x)
            x = UtteranceNorm(name="utterance_norm")(x)
    # Per-bin normalisation learned from the training data (MFCC c0 is a log
    # energy on a very different scale from the cepstra).
    x = BatchNormalization(name="feature_norm")(x)
    return inputs, x


def num_frames(sample_rate=16000, clip_duration_ms=1000, window_size_ms=30.0,
               window_stride_ms=10.0, preprocess="mfcc"):
    """Feature frames per clip for these front-end settings."""
    length = _ms(clip_duration_ms, sample_rate)
    frame_length = _ms(window_size_ms, sample_rate)
    step = _ms(window_stride_ms, sample_rate)
    if preprocess == "mfcc":  # python_speech_features pads the end to a whole frame.
        return 1 + max(0, -(-(length - frame_length) // step))
    return 1 + (length - frame_length) // step


def _front(kw):
    keys = ("sample_rate", "clip_duration_ms", "window_size_ms", "window_stride_ms",
            "feature_bin_count", "preprocess")
    args = {k: kw.pop(k) for k in keys if k in kw}
    if kw:
        raise TypeError(f"unexpected keyword argument(s): {', '.join(sorted(kw))}")
    return front_end(**args)


def _check_rate(name, value):
    if not 0.0 <= value < 1.0:
        raise ValueError(f"{name} must be in [0, 1). Received: {name}={value}")


@MODELS.register("cnn")
def cnn(num_classes, filters=(32, 16), kernel_size=5, pool_size=2, dense_units=(128, 128),
        dropout=0.0, batchnorm=False, padding="valid", activation="relu", **front):
    """The course reference's small 2-D CNN on the feature "image".

    Args:
        num_classes: output classes.
        filters: channels of each conv block (one block per entry; the
            reference has two: 32, 16).
        kernel_size: square conv kernel (reference 5).
        pool_size: max-pool size and stride after each conv (reference 2).
        dense_units: widths of the hidden dense layers (reference 128, 128).
        dropout: dropout rate before each dense layer (reference 0).
        batchnorm: BatchNormalization after each conv.
        padding: "valid" (reference) or "same".
        activation: hidden-layer activation (Keras name; reference "relu").
        **front: front-end arguments, see `front_end`.

    Returns:
        An uncompiled `keras.Model` (softmax output).
    """
    _check_rate("dropout", dropout)
    inputs, x = _front(front)
    x = layers.Reshape((-1, x.shape[-1], 1))(x)
    for i, f in enumerate(filters):
        x = layers.Conv2D(int(f), kernel_size, padding=padding, use_bias=not batchnorm,
                          name=f"conv{i + 1}")(x)
        if batchnorm:
            x = BatchNormalization(name=f"conv{i + 1}_bn")(x)
        x = layers.Activation(activation)(x)
        x = layers.MaxPooling2D(pool_size, padding="same")(x)
    x = layers.Flatten()(x)
    for i, units in enumerate(dense_units):
        if dropout:
            x = layers.Dropout(dropout)(x)
        x = layers.Dense(int(units), activation=activation, name=f"dense{i + 1}")(x)
    if dropout:
        x = layers.Dropout(dropout)(x)
    outputs = layers.Dense(num_classes, activation="softmax", name="probabilities")(x)
    return keras.Model(inputs, outputs, name="cnn")


@MODELS.register("ds_cnn")
def ds_cnn(num_classes, filters=64, depth=4, kernel_size=3, first_kernel=(10, 4),
           first_strides=(2, 2), dropout=0.2, batchnorm=True, activation="relu", **front):
    """Depthwise-separable CNN ("Hello Edge" DS-CNN).

    Args:
        num_classes: output classes.
        filters: channels of every block.
        depth: number of depthwise-separable blocks after the first conv.
        kernel_size: depthwise kernel size.
        first_kernel, first_strides: the first (full) conv's kernel and strides
            over (time, frequency).
        dropout: dropout before the classifier.
        batchnorm: BatchNormalization after every conv.
        activation: activation after every conv (Keras name).
        **front: front-end arguments, see `front_end`.

    Returns:
        An uncompiled `keras.Model` (softmax output).
    """
    _check_rate("dropout", dropout)
    inputs, x = _front(front)
    x = layers.Reshape((-1, x.shape[-1], 1))(x)

    def norm_relu(y, name):
        if batchnorm:
            y = BatchNormalization(name=f"{name}_bn")(y)
        return layers.Activation(activation, name=f"{name}_{activation}")(y)

    x = layers.Conv2D(int(filters), tuple(first_kernel), strides=tuple(first_strides),
                      padding="same", use_bias=not batchnorm, name="conv0")(x)
    x = norm_relu(x, "conv0")
    for i in range(int(depth)):
        x = layers.DepthwiseConv2D(kernel_size, padding="same", use_bias=not batchnorm,
                                   name=f"dw{i + 1}")(x)
        x = norm_relu(x, f"dw{i + 1}")
        x = layers.Conv2D(int(filters), 1, use_bias=not batchnorm, name=f"pw{i + 1}")(x)
        x = norm_relu(x, f"pw{i + 1}")
    x = layers.GlobalAveragePooling2D()(x)
    if dropout:
        x = layers.Dropout(dropout)(x)
    outputs = layers.Dense(num_classes, activation="softmax", name="probabilities")(x)
    return keras.Model(inputs, outputs, name="ds_cnn")


@MODELS.register("ffnn")
def ffnn(num_classes, units=256, depth=2, dropout=0.2, batchnorm=False, activation="relu",
         **front):
    """Plain feed-forward net on the flattened feature matrix.

    Args:
        num_classes: output classes.
        units: width of each hidden layer.
        depth: number of hidden layers.
        dropout: dropout after each hidden layer.
        batchnorm: BatchNormalization before each hidden activation.
        activation: hidden-layer activation (Keras name).
        **front: front-end arguments, see `front_end`.

    Returns:
        An uncompiled `keras.Model` (softmax output).
    """
    _check_rate("dropout", dropout)
    inputs, x = _front(front)
    x = layers.Flatten()(x)
    for i in range(int(depth)):
        x = layers.Dense(int(units), use_bias=not batchnorm, name=f"dense{i + 1}")(x)
        if batchnorm:
            x = BatchNormalization(name=f"dense{i + 1}_bn")(x)
        x = layers.Activation(activation)(x)
        if dropout:
            x = layers.Dropout(dropout)(x)
    outputs = layers.Dense(num_classes, activation="softmax", name="probabilities")(x)
    return keras.Model(inputs, outputs, name="ffnn")


def build(cfg, num_classes):
    """The uncompiled model of a run: `cfg.model` with its front end, dropout and batch norm.

    Args:
        cfg: a validated `tfdl.keywords.config.Config`.
        num_classes: output classes (the wanted words + `_silence_` + `_unknown_`).
    """
    return MODELS.build(cfg.model, num_classes=num_classes, dropout=cfg.dropout,
                        batchnorm=cfg.batchnorm, **cfg.front_end())
