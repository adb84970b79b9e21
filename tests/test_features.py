"""Feature functions and layers against oracles: python_speech_features, librosa, numpy."""

import numpy as np
import pytest
import tensorflow as tf

from conftest import sine
from tfdl import features

pytestmark = pytest.mark.smoke  # features against their oracles, on every Python

MFCC_RTOL = 1e-3  # max |ours - psf| / (|psf| + 1); measured ~3e-5 on FSDD.


def _fsdd_waves(fsdd, n=20, size=6000):
    from scipy.io import wavfile

    files = sorted((fsdd / "recordings").glob("*.wav"))
    assert len(files) >= n, f"need FSDD recordings under {fsdd}/recordings"
    # Spread over speakers and digits rather than the first n files.
    picks = files[:: len(files) // n][:n]
    waves = []
    for f in picks:
        rate, w = wavfile.read(f)
        assert rate == 8000
        waves.append(np.pad(w, (0, size))[:size] / 32768.0)  # the reference's loader
    return np.stack(waves).astype(np.float32)


def test_mfcc_layer_matches_python_speech_features_on_fsdd(fsdd_assets):
    from python_speech_features import mfcc as psf_mfcc

    waves = _fsdd_waves(fsdd_assets)  # the 20 real recordings in tests/assets
    ours = features.MFCC(sample_rate=8000)(waves).numpy()
    assert ours.shape == (20, 74, 13)  # the reference's 13 x 74 image
    for w, o in zip(waves, ours):
        ref = psf_mfcc(w.astype(np.float64), 8000)
        err = np.abs(o - ref) / (np.abs(ref) + 1.0)
        assert err.max() < MFCC_RTOL, err.max()


def test_mfcc_same_eagerly_and_in_dataset_map():
    x = np.stack([sine(440, 0.5, 8000), sine(700, 0.5, 8000)])
    eager = features.mfcc(x, 8000).numpy()
    ds = tf.data.Dataset.from_tensor_slices(x).map(lambda w: features.mfcc(w, 8000)).batch(2)
    np.testing.assert_allclose(next(iter(ds)).numpy(), eager, rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("center", [True, False])
def test_stft_inverse_round_trip(center):
    rng = np.random.default_rng(0)
    x = rng.uniform(-1, 1, 4000).astype(np.float32)
    kw = dict(frame_length=256, frame_step=64, fft_length=256, center=center)
    y = features.inverse_stft(features.stft(x, **kw), length=len(x), **kw).numpy()
    # Without centring the first and last partial windows are not recoverable.
    inner = slice(0, None) if center else slice(256, len(x) - 256)
    np.testing.assert_allclose(y[inner], x[inner], atol=1e-5)


def test_stft_centred_matches_numpy_oracle():
    # librosa.stft(center=True, pad_mode="reflect") written out in numpy.
    from scipy.signal import get_window

    x = sine(440, 0.25, 8000) + 0.1 * sine(1500, 0.25, 8000)
    ours = features.stft(x, 256, 64, 256, center=True).numpy()
    padded = np.pad(x, 128, mode="reflect")
    n = 1 + (len(padded) - 256) // 64
    frames = np.stack([padded[i * 64:i * 64 + 256] for i in range(n)])
    ref = np.fft.rfft(frames * get_window("hann", 256, fftbins=True), 256)
    np.testing.assert_allclose(ours[:n], ref, atol=1e-3 * np.abs(ref).max())


def test_log_mel_matches_numpy_oracle():
    from scipy.signal import get_window

    x = sine(440, 0.2, 8000) + 0.05 * sine(2500, 0.2, 8000)
    frame_length, frame_step, fft_length, bins = 200, 80, 256, 40
    ours = features.log_mel(x, 8000, frame_length, frame_step, fft_length, bins).numpy()
    n_frames = 1 + (len(x) - frame_length) // frame_step
    frames = np.stack([x[i * frame_step:i * frame_step + frame_length] for i in range(n_frames)])
    win = get_window("hann", frame_length, fftbins=True)  # periodic Hann, as tf.signal
    power = np.abs(np.fft.rfft(frames * win, fft_length)) ** 2
    mel = tf.signal.linear_to_mel_weight_matrix(bins, fft_length // 2 + 1, 8000, 20.0,
                                                4000.0).numpy()
    ref = np.log(power @ mel + 1e-6)
    assert ours.shape == ref.shape
    np.testing.assert_allclose(ours, ref, atol=1e-3, rtol=1e-3)


def test_layers_inside_a_model_save_and_reload(tmp_path):
    import keras

    inputs = keras.Input((None,))
    x = features.PadOrTrim(3000)(inputs)
    a = keras.layers.Flatten()(features.MFCC(sample_rate=8000)(x))
    b = keras.layers.Flatten()(features.LogMel(sample_rate=8000, frame_length=200,
                                               frame_step=80, num_mel_bins=20)(x))
    c = keras.layers.Flatten()(features.STFTMagnitude(256, 128, log=True)(x))
    model = keras.Model(inputs, keras.layers.Concatenate()([a, b, c]))
    waves = np.stack([sine(300, 0.2, 8000), sine(900, 0.2, 8000)])  # 1600 samples: padded
    path = tmp_path / "m.keras"
    model.save(path)
    again = keras.models.load_model(path)
    np.testing.assert_allclose(again(waves).numpy(), model(waves).numpy(), rtol=1e-5, atol=1e-5)
    assert model(np.zeros((1, 9000), np.float32)).shape == model(waves[:1]).shape  # trimmed


@pytest.mark.parametrize("layer", [
    features.PadOrTrim(100),
    features.MFCC(sample_rate=8000, num_coefficients=12),
    features.LogMel(sample_rate=8000, num_mel_bins=32),
    features.STFTMagnitude(frame_length=128, frame_step=32, log=True),
])
def test_get_config_round_trip(layer):
    clone = type(layer).from_config(layer.get_config())
    assert clone.get_config() == layer.get_config()
    x = np.stack([sine(500, 0.1, 8000)] * 2)
    np.testing.assert_allclose(clone(x).numpy(), layer(x).numpy(), rtol=1e-6)


@pytest.mark.parametrize("make,match", [
    (lambda: features.PadOrTrim(0), "length"),
    (lambda: features.MFCC(sample_rate=8000, frame_step=-1), "frame_step"),
    (lambda: features.STFTMagnitude(frame_length=512, fft_length=256), "fft_length"),
    (lambda: features.mfcc(np.zeros(800, np.float32), 8000, num_coefficients=30), "num_coefficients"),
    (lambda: features.log_mel(np.zeros(800, np.float32), 8000, 200, 80,
                              upper_edge_hertz=6000.0), "upper_edge_hertz"),
    (lambda: features.stft(np.zeros(800, np.float32), frame_length=-1), "frame_length"),
])
def test_bad_arguments_raise_value_error(make, match):
    with pytest.raises(ValueError, match=match):
        make()


def test_dft_power_matches_rfft():
    frames = np.random.default_rng(0).normal(size=(3, 7, 200)).astype(np.float32)
    ref = np.abs(np.fft.rfft(frames, 512)) ** 2
    got = features.dft_power(tf.constant(frames), 512).numpy()
    np.testing.assert_allclose(got, ref, rtol=1e-3, atol=1e-3)


def test_feature_dataset_batches_psf_mfcc_in_file_order(fsdd_assets):
    from python_speech_features import mfcc as psf_mfcc

    from tfdl import audio, pipeline

    paths = sorted((fsdd_assets / "recordings").glob("*_lucas_*.wav"))[:5]
    got = np.concatenate([b.numpy() for b in pipeline.feature_dataset(
        paths, sample_rate=8000, length=6000, batch_size=2)])
    assert got.shape == (5, 74, 13)
    for row, path in zip(got, paths):
        wave, rate = audio.read_audio(path)
        ref = psf_mfcc(np.pad(wave, (0, 6000))[:6000].astype(np.float64), rate)
        assert np.max(np.abs(row - ref) / (np.abs(ref) + 1)) < 1e-3
