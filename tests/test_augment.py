"""tfdl.augment against NumPy oracles."""

import numpy as np
import pytest
import tensorflow as tf

from tfdl import augment


@pytest.mark.parametrize("factor", [0.83, 1.0, 1.17, 2.0])
def test_change_speed_is_linear_interpolation(factor):
    x = np.random.default_rng(0).normal(size=1001).astype(np.float32)
    pos = np.arange(len(x), dtype=np.float32) * np.float32(factor)  # float32, as in TF
    expected = np.interp(pos, np.arange(len(x)), x, right=0.0)
    expected[pos > len(x) - 1] = 0.0  # past the last sample: zero fill (interp to 0 in between)
    inside = pos <= len(x) - 1
    got = augment.change_speed(x, factor).numpy()
    assert got.shape == x.shape
    np.testing.assert_allclose(got[inside], expected[inside], atol=1e-5)
    # Between the last sample and the zero after it, the value ramps down to zero.
    assert np.all(np.abs(got[~inside]) <= np.abs(x[-1]) + 1e-6)


def test_change_speed_halves_a_tone_length_and_doubles_its_frequency():
    rate, f0 = 8000, 200.0
    t = np.arange(rate) / rate
    x = np.sin(2 * np.pi * f0 * t).astype(np.float32)
    y = augment.change_speed(x, 2.0).numpy()
    np.testing.assert_allclose(y[:rate // 2 - 1], np.sin(2 * np.pi * 2 * f0 * t[:rate // 2 - 1]),
                               atol=1e-4)
    assert np.all(y[rate // 2 + 1:] == 0)


def test_speed_perturb_draws_factors_in_range_and_works_in_a_dataset():
    x = np.linspace(0, 1, 1000, dtype=np.float32)  # a ramp: y[-1] / x[-1] ~ the factor
    tf.random.set_seed(0)
    ds = tf.data.Dataset.from_tensors(x).repeat(50).map(lambda a: augment.speed_perturb(a, 0.1))
    ends = np.array([y.numpy()[500] / x[500] for y in ds])
    assert ends.min() >= 0.9 - 1e-3 and ends.max() <= 1.1 + 1e-3
    assert ends.std() > 0.02  # factors vary
    np.testing.assert_array_equal(augment.speed_perturb(x, 0.0).numpy(), x)


def test_time_shift_zero_fills():
    x = np.arange(1, 11, dtype=np.float32)
    tf.random.set_seed(1)
    for _ in range(20):
        y = augment.time_shift(x, 3).numpy()
        k = int(np.argmax(y == 1.0)) if 1.0 in y else -int(y[0]) + 1
        np.testing.assert_array_equal(y, np.roll(np.pad(x, 3), k)[3:-3])


def test_mix_at_snr_hits_the_requested_snr():
    rng = np.random.default_rng(2)
    clean, noise = rng.normal(size=4000), rng.normal(size=1500)
    mix = augment.mix_at_snr(clean, noise, 5.0).numpy()
    err = mix - clean.astype(np.float32)
    assert 10 * np.log10(np.sum(clean ** 2) / np.sum(err ** 2)) == pytest.approx(5.0, abs=1e-3)
