"""The denoising networks' own layers: STFT features in, a clean STFT estimate out.

Every network (`tfdl.denoise.model`) takes a noisy STFT as real/imag
`(batch, frames, bins, 2)` and returns the clean estimate in the same layout:
`SpectralFeatures` -> `FeatureNorm` -> (`ContextFrames` for the frame MLPs)
-> a network -> `SpectralHead`.
"""

import keras
import numpy as np
import tensorflow as tf

_PACKAGE = "tfdl.denoise"  # registered names of saved models stay `tfdl.denoise>...`


def mag_phase(ri):
    """(|X|, cos, sin of the phase) from real/imag; a zero bin gets phase 1 (never NaN)."""
    re, im = ri[..., 0], ri[..., 1]
    mag = tf.sqrt(re * re + im * im)
    safe = tf.where(mag > 0, mag, 1.0)
    cos = tf.where(mag > 0, re / safe, 1.0)
    sin = tf.where(mag > 0, im / safe, 0.0)
    return mag, cos, sin


def complex_product(mr, mi, ri):
    """(mr + i mi) times the complex values held as real/imag in `ri`'s last axis."""
    re, im = ri[..., 0], ri[..., 1]
    return tf.stack([mr * re - mi * im, mr * im + mi * re], axis=-1)


@keras.saving.register_keras_serializable(package=_PACKAGE)
class SpectralFeatures(keras.layers.Layer):
    """Per-frame features of a noisy STFT: log1p(|X|), and optionally the noisy phase.

    Input shape: `(batch, frames, bins, 2)` (real, imag).
    Output shape: `(batch, frames, bins)`, or `(batch, frames, 3 * bins)` with
    `complex_parts=True` (log1p(|X|), then the cosine and sine of the noisy phase).

    log1p is the compression that won (docs/experiments/denoise.md): the
    magnitudes of this audio are mostly far below 1, so it is nearly linear,
    and both a real log and no compression trailed it.

    Args:
        complex_parts: append the unit phasor (cos, sin) per bin.
    """

    def __init__(self, complex_parts=False, **kwargs):
        super().__init__(**kwargs)
        self.complex_parts = bool(complex_parts)

    def call(self, inputs):
        mag, cos, sin = mag_phase(inputs)
        feats = tf.math.log1p(mag)
        return tf.concat([feats, cos, sin], axis=-1) if self.complex_parts else feats

    def compute_output_shape(self, input_shape):
        bins = input_shape[2]
        return (input_shape[0], input_shape[1],
                None if bins is None else bins * (3 if self.complex_parts else 1))

    def get_config(self):
        return {**super().get_config(), "complex_parts": self.complex_parts}


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
    "mask" or `(batch, frames, 2 * bins)` for "complex_mask" (real parts,
    then imaginary parts), and `noisy` `(batch, frames, bins, 2)`.
    Output shape: `(batch, frames, bins, 2)`.

    Args:
        kind: "mask" (sigmoid mask in [0, 1] times |X|, noisy phase) or
            "complex_mask" (bound * tanh(.) real and imaginary mask, complex
            product with X, so the phase can change too).
        bound: the complex mask's bound.
    """

    KINDS = ("mask", "complex_mask")

    def __init__(self, kind="mask", bound=2.0, **kwargs):
        super().__init__(**kwargs)
        if kind not in self.KINDS:
            raise ValueError(f"kind must be one of {self.KINDS}. Received: kind={kind!r}")
        self.kind = kind
        self.bound = float(bound)

    def call(self, inputs):
        out, noisy = inputs
        if self.kind == "complex_mask":
            mr, mi = tf.split(self.bound * tf.tanh(out / self.bound), 2, axis=-1)
            return complex_product(mr, mi, noisy)
        mag, cos, sin = mag_phase(noisy)
        est = tf.sigmoid(out) * mag
        return tf.stack([est * cos, est * sin], axis=-1)

    def compute_output_shape(self, input_shape):
        return tuple(input_shape[1])

    def get_config(self):
        return {**super().get_config(), "kind": self.kind, "bound": self.bound}
