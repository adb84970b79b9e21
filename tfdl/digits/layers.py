"""Front-end layers of the digits models: edges and PCEN; speed and delay.

The level and channel normalisations (`RelativeLog`, `UtteranceNorm`) are shared
with keywords and live in `tfdl.features`.

All are deterministic (the same at training and inference) and registered for
Keras serialisation, so a saved or exported model carries them.
"""

import keras
import numpy as np
import tensorflow as tf

from tfdl.features import relative_log


@keras.saving.register_keras_serializable(package="tfdl")
class PCEN(keras.layers.Layer):
    """Per-channel energy normalisation (PCEN, Wang et al. 2017) of a recording's mel
    energies relative to its own peak, with trainable per-band parameters.

    From a natural-log mel power spectrogram `x` (`LogMel`): the energies
    `E = exp(max(x - max(x), -floor))` (peak 1, floored as `RelativeLog`), their
    per-band exponential moving average over frames `M[t] = (1 - s) M[t-1] + s E[t]`
    (`M[-1] = E[0]`), and `(E / (eps + M)^alpha + delta)^r - delta^r`: each band is
    divided by its own recent level (automatic gain control), then root-compressed.
    `s`, `alpha`, `delta` and `r` are learned per band (stored as logs; `s` kept in
    [1e-3, 1], `alpha` <= 1). The moving average is one matmul with a
    `[bands, frames, frames]` kernel.

    Input shape: `(batch, frames, bands)`. Output shape: the same.
    """

    def __init__(self, floor=18.42, smooth=0.025, alpha=0.98, delta=2.0, root=0.5, eps=1e-6,
                 **kwargs):
        super().__init__(**kwargs)
        for name, v in (("floor", floor), ("smooth", smooth), ("alpha", alpha),
                        ("delta", delta), ("root", root), ("eps", eps)):
            if not v > 0:
                raise ValueError(f"{name} must be positive. Received: {name}={v}")
        self.floor, self.smooth, self.alpha = float(floor), float(smooth), float(alpha)
        self.delta, self.root, self.eps = float(delta), float(root), float(eps)

    def build(self, input_shape):
        def log_param(name, value):
            return self.add_weight(shape=(input_shape[-1],), name=f"log_{name}",
                                   initializer=keras.initializers.Constant(np.log(value)))

        self.log_smooth = log_param("smooth", self.smooth)
        self.log_alpha = log_param("alpha", self.alpha)
        self.log_delta = log_param("delta", self.delta)
        self.log_root = log_param("root", self.root)

    def call(self, x):
        e = tf.exp(relative_log(x, self.floor))
        s = tf.clip_by_value(tf.exp(self.log_smooth), 1e-3, 1.0)
        alpha = tf.minimum(tf.exp(self.log_alpha), 1.0)
        delta, r = tf.exp(self.log_delta), tf.exp(self.log_root)
        t = tf.cast(tf.range(tf.shape(x)[1]), x.dtype)
        lag = t[None, :] - t[:, None]                         # [t', t]: t - t'
        log_keep = tf.math.log1p(-s + 1e-7)[:, None, None]     # log(1 - s) per band
        kernel = tf.where(lag >= 0, s[:, None, None] * tf.exp(lag * log_keep), 0.0)
        m = tf.einsum("btc,cts->bsc", e, kernel)
        m += tf.exp((t[:, None] + 1.0) * log_keep[:, 0, 0]) * e[:, :1, :]
        return (e / tf.pow(self.eps + m, alpha) + delta) ** r - delta ** r

    def get_config(self):
        return {**super().get_config(), "floor": self.floor, "smooth": self.smooth,
                "alpha": self.alpha, "delta": self.delta, "root": self.root, "eps": self.eps}


def _speech_bounds(x, threshold):
    """First and last sample index with |x| > threshold per row of `[batch, samples]`
    (float32 `[batch, 1]` each; a silent row gives first = samples, last = -1)."""
    n = tf.shape(x)[1]
    t = tf.cast(tf.range(n), tf.float32)[None, :]
    active = tf.abs(x) > threshold
    first = tf.reduce_min(tf.where(active, t, tf.cast(n, tf.float32)), axis=1, keepdims=True)
    last = tf.reduce_max(tf.where(active, t, -1.0), axis=1, keepdims=True)
    return t, first, last


@keras.saving.register_keras_serializable(package="tfdl")
class EdgeFade(keras.layers.Layer):
    """Raised-cosine fade-in and fade-out at a recording's own first and last sample.

    Recordings cut off mid-sound (28 % of FSDD speaker nicolas' files end above
    10 % of their peak; the other speakers' < 1 %) end in a step to the zero
    padding, whose broadband click the spectrogram shows as a fricative (the
    model then hears "six"). Fading `samples` samples in from the first and out
    to the last sample above `threshold` removes the step for every recording;
    the zero padding stays zero. Deterministic: the same at training and inference.

    Input shape: `(batch, samples)`. Output shape: the same.
    """

    def __init__(self, samples=160, threshold=1e-4, **kwargs):
        super().__init__(**kwargs)
        if not (isinstance(samples, int) and samples > 0):
            raise ValueError(f"samples must be a positive int. Received: samples={samples!r}")
        self.samples = samples
        self.threshold = float(threshold)

    def call(self, x):
        t, first, last = _speech_bounds(x, self.threshold)
        up = tf.clip_by_value((t - first + 1.0) / self.samples, 0.0, 1.0)
        down = tf.clip_by_value((last - t + 1.0) / self.samples, 0.0, 1.0)
        return x * (0.5 - 0.5 * tf.cos(np.pi * tf.minimum(up, down)))

    def get_config(self):
        return {**super().get_config(), "samples": self.samples, "threshold": self.threshold}


@keras.saving.register_keras_serializable(package="tfdl")
class ChangeSpeed(keras.layers.Layer):
    """Waveforms played `factor` times faster, same length (`tfdl.augment.change_speed`).

    Input/output shape: `(batch, samples)`.
    """

    def __init__(self, factor, **kwargs):
        super().__init__(**kwargs)
        if not factor > 0:
            raise ValueError(f"factor must be positive. Received: factor={factor}")
        self.factor = float(factor)

    def call(self, x):
        from tfdl.augment import change_speed

        return change_speed(x, self.factor)

    def get_config(self):
        return {**super().get_config(), "factor": self.factor}


@keras.saving.register_keras_serializable(package="tfdl")
class Delay(keras.layers.Layer):
    """Waveforms delayed by `samples` zeros put in front (longer by as much).

    Input shape: `(batch, length)`; output: `(batch, length + samples)`.
    """

    def __init__(self, samples, **kwargs):
        super().__init__(**kwargs)
        if not (isinstance(samples, int) and samples >= 0):
            raise ValueError(f"samples must be an int >= 0. Received: samples={samples!r}")
        self.samples = samples

    def call(self, x):
        return tf.pad(x, [[0, 0], [self.samples, 0]])

    def get_config(self):
        return {**super().get_config(), "samples": self.samples}
