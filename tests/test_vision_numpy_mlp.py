"""The NumPy MLP: backprop against finite differences, and against Keras from the same weights."""

import numpy as np
import pytest

from tfdl.vision.numpy_mlp import NumpyMLP, cross_entropy, gradient_check, sigmoid, softmax


def _data(n=64, seed=0):
    rng = np.random.default_rng(seed)
    # Two-blob-per-class structure so training actually moves the loss.
    y = rng.integers(0, 10, n)
    centers = rng.random((10, 784))
    x = np.clip(centers[y] + 0.3 * rng.standard_normal((n, 784)), 0, 1)
    return x, y


def test_gradient_check_float64():
    x, y = _data(16)
    net = NumpyMLP(seed=1)
    res = gradient_check(net, x, y, per_layer=15)
    assert res["max_relative_error"] < 1e-6, res
    assert len(res["per_array"]) == 6


def test_gradient_check_catches_a_wrong_gradient(monkeypatch):
    x, y = _data(16)
    net = NumpyMLP(seed=1)
    real = net.gradients

    def broken(xb, yb):
        loss, gw, gb = real(xb, yb)
        gw[0] = gw[0] * 1.01  # a 1 % error in one layer
        return loss, gw, gb

    monkeypatch.setattr(net, "gradients", broken)
    assert gradient_check(net, x, y, per_layer=15)["max_relative_error"] > 1e-3


def test_stable_activations_and_loss():
    z = np.array([[-1000.0, 0.0, 1000.0]])
    assert np.all(np.isfinite(sigmoid(z))) and sigmoid(z)[0, 2] == 1.0
    p = softmax(z)
    np.testing.assert_allclose(p.sum(), 1.0)
    assert np.isfinite(cross_entropy(p, np.array([0])))
    np.testing.assert_allclose(cross_entropy(np.full((4, 10), 0.1), np.arange(4)), np.log(10))


def test_weights_round_trip_and_shape_checks():
    a, b = NumpyMLP(seed=0), NumpyMLP(seed=5)
    assert not np.allclose(a.weights[0], b.weights[0])
    b.set_weights(a.get_weights())
    x, _ = _data(4)
    np.testing.assert_allclose(a.predict(x), b.predict(x))
    with pytest.raises(ValueError, match="layer 0 expects"):
        b.set_weights([w.T for w in a.get_weights()])
    with pytest.raises(ValueError, match="softmax"):
        NumpyMLP(activations=("sigmoid", "relu", "relu"))


def test_matches_keras_forward_and_sgd_curve():
    import keras

    x, y = _data(200, seed=2)
    xt, yt = _data(60, seed=3)
    net = NumpyMLP(seed=4)
    twin = net.keras_twin()
    np.testing.assert_allclose(twin.predict(x[:8].astype(np.float32), verbose=0),
                               net.predict(x[:8]), atol=1e-5)
    from tfdl.vision.backprop import backprop_comparison

    res = backprop_comparison(x, y, xt, yt, epochs=3, batch_size=20, learning_rate=0.1,
                              init_seed=4)
    assert res["max_relative_loss_gap"] < 0.01, res
    assert res["max_relative_val_loss_gap"] < 0.01, res
    assert res["numpy"]["loss"][-1] < res["numpy"]["loss"][0]  # it learns
    # The trained NumPy weights equal Keras SGD's trained weights (same path).
    twin2 = NumpyMLP(seed=4).keras_twin()
    twin2.compile(optimizer=keras.optimizers.SGD(0.1), loss="sparse_categorical_crossentropy")
    twin2.fit(x.astype(np.float32), y, batch_size=20, epochs=3, shuffle=False, verbose=0)
    back = NumpyMLP(seed=0)
    back.from_keras(twin2)
    for w_np, w_k in zip(res["numpy_model"].get_weights(), back.get_weights()):
        np.testing.assert_allclose(w_np, w_k, atol=1e-4)
