"""Keras layers shared by the model builders."""

import keras
import tensorflow as tf


@keras.saving.register_keras_serializable(package="tfdl")
class BatchNormalization(keras.layers.BatchNormalization):
    """`keras.layers.BatchNormalization` whose training step is TF's fused kernel.

    Same variables, arguments, serialization and results as the Keras layer
    (the tests compare outputs, gradients and moving statistics; epsilon is at
    least 1.001e-5 in the fused op, as in `tf.nn.fused_batch_norm`), but in
    training mode on the TensorFlow backend a channels-last float32 input of
    rank 2 to 4 goes through one `FusedBatchNormV3` op (and its fused
    gradient) instead of Keras' separate moments, normalisation and their
    gradients. Training the digits' `batchnorm` and `mfcc` nets on a 2-core
    AMD EPYC with oneDNN, this layer instead of Keras' made a step 24 % and
    30 % faster (docs/performance.md). Anything else (a mask,
    renorm, synchronized statistics, another axis or dtype, inference) is
    the Keras layer's own code.
    """

    def _fusable(self, inputs, mask):
        rank = len(inputs.shape)
        return (keras.backend.backend() == "tensorflow" and mask is None and not self.renorm
                and not self.synchronized and 2 <= rank <= 4 and self.axis in (-1, rank - 1)
                and inputs.dtype == tf.float32 and self.compute_dtype == "float32")

    def call(self, inputs, training=None, mask=None):
        if not (training and self.trainable and self._fusable(inputs, mask)):
            return super().call(inputs, training=training, mask=mask)
        shape = tf.shape(inputs)
        channels = inputs.shape[-1]
        x = tf.reshape(inputs, [shape[0], -1, 1, channels])  # NHWC for the kernel
        gamma = self.gamma if self.scale else tf.ones([channels])
        beta = self.beta if self.center else tf.zeros([channels])
        # As tf.nn.fused_batch_norm: epsilon at least 1.001e-5 (cuDNN's limit on GPU); for
        # Keras' 1e-5 that adds 1e-8 to the variance.
        y, mean, variance = tf.raw_ops.FusedBatchNormV3(
            x=x, scale=gamma, offset=beta, mean=tf.zeros([0]), variance=tf.zeros([0]),
            epsilon=max(self.epsilon, 1.001e-5), data_format="NHWC", is_training=True)[:3]
        # The kernel returns the Bessel-corrected variance; Keras keeps the biased one.
        n = tf.cast(tf.size(inputs) // channels, tf.float32)
        variance = variance * (n - 1.0) / tf.maximum(n, 1.0)
        self.moving_mean.assign(self.moving_mean * self.momentum + mean * (1.0 - self.momentum))
        self.moving_variance.assign(self.moving_variance * self.momentum +
                                    variance * (1.0 - self.momentum))
        return tf.reshape(y, shape)


@keras.saving.register_keras_serializable(package="tfdl")
class LayerNormalization(keras.layers.LayerNormalization):
    """`keras.layers.LayerNormalization` over the last axis through TF's fused batch-norm kernel.

    Same variables, arguments, serialization and results (to float rounding;
    the tests compare outputs and gradients with the Keras layer), but the
    statistics and the normalisation of a float32 input are one
    `FusedBatchNormV3` op (each row of the last axis is a channel of an NCHW
    batch of one) and its fused gradient, instead of Keras' separate mean,
    variance, rsqrt and element-wise passes; gamma and beta are applied after
    it. With `PReLU` below, the exported denoising TCN (32 layer norms and 32
    PReLUs on [1, frames, 128]) runs about 16 % faster on CPU (real-time
    factor 0.0086-0.0088 instead of 0.0102-0.0105). Anything else (RMS
    scaling, other axes or dtypes, epsilon under the kernel's 1.001e-5) is
    Keras' own code.
    """

    def _fusable(self, inputs):
        rank = len(inputs.shape)
        axis = self.axis if isinstance(self.axis, list) else [self.axis]
        return (keras.backend.backend() == "tensorflow" and not self.rms_scaling and rank >= 2
                and axis in ([-1], [rank - 1]) and inputs.dtype == tf.float32
                and self.compute_dtype == "float32" and self.epsilon >= 1.001e-5)

    def call(self, inputs):
        if not self._fusable(inputs):
            return super().call(inputs)
        shape = tf.shape(inputs)
        rows = tf.size(inputs) // shape[-1]
        x = tf.reshape(inputs, [1, rows, -1, 1])  # NCHW: one channel per normalised row
        y = tf.raw_ops.FusedBatchNormV3(
            x=x, scale=tf.ones([rows]), offset=tf.zeros([rows]), mean=tf.zeros([0]),
            variance=tf.zeros([0]), epsilon=self.epsilon, data_format="NCHW",
            is_training=True)[0]
        y = tf.reshape(y, shape)
        if self.gamma is not None:
            y = y * self.gamma
        if self.beta is not None:
            y = y + self.beta
        return y


@keras.saving.register_keras_serializable(package="tfdl")
class PReLU(keras.layers.PReLU):
    """`keras.layers.PReLU` as `max(x, alpha * x)`, with alpha capped at 1.

    For alpha <= 1 that is the same function (x where x > 0, alpha * x
    elsewhere) in two element-wise passes instead of Keras' five; the cap
    keeps it a PReLU for any alpha (above 1 the layer acts as alpha = 1, the
    identity). It is part of the denoising TCN's export speed-up quoted for
    `LayerNormalization` (its trained alphas lie in [-0.13, 0.15]); the tests
    compare outputs and gradients with Keras' layer.
    """

    def call(self, inputs):
        if keras.backend.backend() != "tensorflow":
            return super().call(inputs)
        return tf.maximum(inputs, tf.minimum(self.alpha, 1.0) * inputs)


@keras.saving.register_keras_serializable(package="tfdl")
class GradientReversal(keras.layers.Layer):
    """The identity going forward; the gradient times `-scale` going back.

    Ganin and Lempitsky's domain-adversarial training (2015): a classifier of
    the domain (here: the speaker) trained on features through this layer
    learns to tell the domains apart, while the network below it receives
    the opposite gradient and learns features that hide them.

    Args:
        scale: weight of the reversed gradient (>= 0; 0 stops it).
    """

    def __init__(self, scale=1.0, **kwargs):
        super().__init__(**kwargs)
        if not scale >= 0:
            raise ValueError(f"scale must be >= 0. Received: scale={scale}")
        self.scale = float(scale)

    def call(self, inputs):
        scale = self.scale

        @tf.custom_gradient
        def reverse(x):
            return tf.identity(x), lambda g: -scale * g

        return reverse(inputs)

    def get_config(self):
        return {**super().get_config(), "scale": self.scale}
