"""tfdl.layers.BatchNormalization against keras.layers.BatchNormalization (the oracle)."""

import keras
import numpy as np
import pytest
import tensorflow as tf

from tfdl.layers import BatchNormalization


def _pair(shape, **kwargs):
    """A Keras layer and ours, built on `shape`, with the same random gamma/beta."""
    ref, ours = keras.layers.BatchNormalization(**kwargs), BatchNormalization(**kwargs)
    ref.build(shape)
    ours.build(shape)
    rng = np.random.default_rng(0)
    for a, b in zip(ref.weights, ours.weights):
        value = rng.normal(size=a.shape).astype("float32")
        if "variance" in a.name:
            value = np.abs(value) + 0.5
        a.assign(value)
        b.assign(value)
    return ref, ours


def _train_step(layer, x):
    with tf.GradientTape() as tape:
        y = layer(x, training=True)
        loss = tf.reduce_sum(y * tf.sin(y))
    return y, tape.gradient(loss, [x] + layer.trainable_variables)


@pytest.mark.parametrize("shape,kwargs", [
    ([32, 50, 4], dict(momentum=0.9, epsilon=1e-5)),  # the digits nets' TORCH_BN
    ([8, 5, 6, 3], {}),
    ([16, 7], dict(center=False)),
    ([16, 7], dict(scale=False)),
])
def test_training_step_matches_keras(shape, kwargs):
    x = tf.Variable(np.random.default_rng(1).normal(3.0, 2.0, shape).astype("float32"))
    ref, ours = _pair(shape, **kwargs)
    y_ref, g_ref = _train_step(ref, x)
    y, g = _train_step(ours, x)
    np.testing.assert_allclose(y, y_ref, atol=1e-5)
    for a, b in zip(g, g_ref):
        np.testing.assert_allclose(a, b, rtol=1e-4, atol=1e-3 * float(tf.reduce_max(tf.abs(b))))
    np.testing.assert_allclose(ours.moving_mean, ref.moving_mean, atol=1e-6)
    np.testing.assert_allclose(ours.moving_variance, ref.moving_variance, rtol=1e-5)


def test_training_step_uses_the_fused_kernel():
    layer = BatchNormalization()
    fn = tf.function(lambda x: layer(x, training=True))
    graph = fn.get_concrete_function(tf.TensorSpec([4, 10, 3])).graph
    assert "FusedBatchNormV3" in {op.type for op in graph.get_operations()}


def test_inference_and_fallbacks_are_keras():
    shape = [6, 5, 4]
    x = tf.constant(np.random.default_rng(2).normal(size=shape).astype("float32"))
    ref, ours = _pair(shape)
    np.testing.assert_array_equal(ours(x, training=False), ref(x, training=False))
    ref1, ours1 = _pair(shape, axis=1)  # not the last axis: Keras' own code
    np.testing.assert_allclose(ours1(x, training=True), ref1(x, training=True), atol=1e-6)
    mask = tf.constant(np.arange(30).reshape(6, 5) % 3 > 0)
    np.testing.assert_allclose(ours(x, training=True, mask=mask),
                               ref(x, training=True, mask=mask), atol=1e-6)


def test_saves_and_loads(tmp_path):
    inputs = keras.Input((5, 3))
    model = keras.Model(inputs, BatchNormalization(momentum=0.9, name="bn")(inputs))
    model.get_layer("bn").moving_mean.assign([1.0, 2.0, 3.0])
    model.save(tmp_path / "m.keras")
    loaded = keras.saving.load_model(tmp_path / "m.keras")
    assert type(loaded.get_layer("bn")) is BatchNormalization
    assert loaded.get_layer("bn").momentum == 0.9
    x = np.ones((2, 5, 3), "float32")
    np.testing.assert_array_equal(loaded(x), model(x))
