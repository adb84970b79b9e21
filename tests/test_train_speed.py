"""The training-speed pieces of `tfdl.train` change the speed, not the numbers.

`FusedAdam` (TensorFlow's fused Adam kernel) against `keras.optimizers.Adam`;
`Throughput` with `steps_per_execution` > 1 (callbacks then see every k-th batch).
"""

import keras
import numpy as np
import pytest
import tensorflow as tf

from tfdl import train


def _train(optimizer, steps=5, **compile_kw):
    keras.utils.set_random_seed(0)
    model = keras.Sequential([keras.Input((6,)), keras.layers.Dense(5, activation="relu"),
                              keras.layers.Dense(3, activation="softmax")])
    model.compile(optimizer=optimizer, loss="sparse_categorical_crossentropy", **compile_kw)
    rng = np.random.default_rng(0)
    x = rng.normal(size=(8 * steps, 6)).astype(np.float32)
    y = np.arange(8 * steps) % 3
    model.fit(x, y, batch_size=8, epochs=1, verbose=0, shuffle=False)
    return [w.numpy() for w in model.weights]


@pytest.mark.parametrize("kw", [dict(), dict(clipnorm=0.1), dict(weight_decay=0.01),
                                dict(learning_rate=keras.optimizers.schedules.CosineDecay(
                                    0.01, 10))])
def test_fused_adam_matches_keras_adam(kw):
    kw = {"learning_rate": 0.01, **kw}
    want = _train(keras.optimizers.Adam(**kw))
    got = _train(train.FusedAdam(**kw))
    for a, b in zip(got, want):
        np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-6)


def test_make_optimizer_adam_is_the_fused_keras_adam():
    opt = train.make_optimizer("adam", 1e-3)
    assert isinstance(opt, train.FusedAdam) and isinstance(opt, keras.optimizers.Adam)
    again = keras.optimizers.deserialize(keras.optimizers.serialize(opt))
    assert isinstance(again, train.FusedAdam)
    assert again.get_config()["learning_rate"] == pytest.approx(1e-3)


def test_fused_adam_amsgrad_falls_back_to_keras():
    want = _train(keras.optimizers.Adam(0.01, amsgrad=True))
    got = _train(train.FusedAdam(0.01, amsgrad=True))
    for a, b in zip(got, want):
        np.testing.assert_allclose(a, b, rtol=1e-6, atol=1e-7)


def test_throughput_counts_every_step_with_steps_per_execution():
    model = keras.Sequential([keras.Input((4,)), keras.layers.Dense(2)])
    model.compile(optimizer="sgd", loss="mse", steps_per_execution=4)
    speed = train.Throughput(batch_size=5, examples_per_epoch=50)
    x = np.zeros((50, 4), np.float32)  # 10 steps: executions of 4, 4 and 2
    model.fit(tf.data.Dataset.from_tensor_slices((x, x[:, :2])).batch(5), epochs=2,
              verbose=0, callbacks=[speed])
    # Keras reports the last execution as a full one (12 steps), hence examples_per_epoch;
    # counting calls instead of steps would give 3.
    assert 10 <= speed._steps <= 12
    assert len(speed.per_epoch) == 2 and all(r > 0 for r in speed.per_epoch)
