"""tfdl.layers against their Keras layers (the oracles)."""

import keras
import numpy as np
import pytest
import tensorflow as tf

from tfdl.layers import BatchNormalization, GradientReversal, LayerNormalization, PReLU


def _pair(shape, ref_cls=keras.layers.BatchNormalization, our_cls=BatchNormalization,
          scale=1.0, **kwargs):
    """A Keras layer and ours, built on `shape`, with the same random weights (`scale` times
    standard normal; variances positive)."""
    ref, ours = ref_cls(**kwargs), our_cls(**kwargs)
    ref.build(shape)
    ours.build(shape)
    rng = np.random.default_rng(0)
    for a, b in zip(ref.weights, ours.weights, strict=True):
        value = (scale * rng.normal(size=a.shape)).astype("float32")
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


def _assert_step_matches(ref, ours, x):
    y_ref, g_ref = _train_step(ref, x)
    y, g = _train_step(ours, x)
    np.testing.assert_allclose(y, y_ref, atol=1e-5)
    for a, b in zip(g, g_ref, strict=True):
        np.testing.assert_allclose(a, b, rtol=1e-4, atol=1e-4 * float(tf.reduce_max(tf.abs(b))))


@pytest.mark.parametrize("shape,kwargs", [
    ([2, 40, 16], {}),
    ([7, 5], dict(epsilon=1e-5)),
    ([2, 3, 4, 6], dict(center=False)),
    ([3, 9, 4], dict(scale=False)),
])
def test_layer_norm_matches_keras(shape, kwargs):
    x = tf.Variable(np.random.default_rng(1).normal(3.0, 2.0, shape).astype("float32"))
    ref, ours = _pair(shape, keras.layers.LayerNormalization, LayerNormalization, **kwargs)
    _assert_step_matches(ref, ours, x)


def test_layer_norm_uses_the_fused_kernel_and_falls_back_elsewhere():
    layer = LayerNormalization()
    graph = tf.function(layer).get_concrete_function(tf.TensorSpec([None, None, 8])).graph
    assert "FusedBatchNormV3" in {op.type for op in graph.get_operations()}
    x = tf.constant(np.random.default_rng(2).normal(size=[4, 5, 6]).astype("float32"))
    for kwargs in (dict(axis=1), dict(rms_scaling=True), dict(epsilon=1e-6)):
        ref, ours = _pair(x.shape, keras.layers.LayerNormalization, LayerNormalization,
                          **kwargs)
        np.testing.assert_allclose(ours(x), ref(x), atol=1e-5)


def test_prelu_matches_keras_for_alpha_up_to_one_and_caps_above():
    shape = [3, 20, 8]
    x = tf.Variable(np.random.default_rng(3).normal(size=shape).astype("float32"))
    ref, ours = _pair(shape, keras.layers.PReLU, PReLU, scale=0.4,  # alphas within [-1, 1]
                      shared_axes=[1])
    assert float(tf.reduce_max(tf.abs(ours.alpha))) < 1.0
    _assert_step_matches(ref, ours, x)
    ours.alpha.assign(tf.fill(ours.alpha.shape, 3.0))
    np.testing.assert_array_equal(ours(x), x)  # alpha above 1 acts as 1


def test_new_layers_save_and_load(tmp_path):
    inputs = keras.Input((5, 3))
    y = PReLU(shared_axes=[1], name="act")(LayerNormalization(epsilon=1e-4, name="ln")(inputs))
    model = keras.Model(inputs, GradientReversal(0.25, name="rev")(y))
    model.get_layer("act").alpha.assign([[0.1, -0.2, 0.3]])
    model.save(tmp_path / "m.keras")
    loaded = keras.saving.load_model(tmp_path / "m.keras")
    assert type(loaded.get_layer("ln")) is LayerNormalization
    assert type(loaded.get_layer("act")) is PReLU
    assert loaded.get_layer("rev").scale == 0.25
    x = np.random.default_rng(4).normal(size=(2, 5, 3)).astype("float32")
    np.testing.assert_array_equal(loaded(x), model(x))


def test_gradient_reversal_is_identity_forward_and_flips_the_gradient():
    x = tf.constant(np.random.default_rng(5).normal(size=(4, 3)).astype("float32"))
    dense = keras.layers.Dense(2)
    for scale in (0.0, 0.3, 2.0):
        with tf.GradientTape(persistent=True) as tape:
            tape.watch(x)
            plain = tf.reduce_sum(tf.sin(dense(x)))
            reversed_ = tf.reduce_sum(tf.sin(dense(GradientReversal(scale)(x))))
        np.testing.assert_array_equal(reversed_, plain)
        # Only the gradient below the layer flips; the layers above it learn as usual.
        np.testing.assert_allclose(tape.gradient(reversed_, x), -scale * tape.gradient(plain, x),
                                   rtol=1e-6)
        np.testing.assert_array_equal(tape.gradient(reversed_, dense.kernel),
                                      tape.gradient(plain, dense.kernel))
    with pytest.raises(ValueError, match="scale must be >= 0"):
        GradientReversal(-1.0)
