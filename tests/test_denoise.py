"""tfdl.denoise and tfdl.models.denoise: STFT round trip, SNR, oracles, models, export, errors."""

import keras
import numpy as np
import pytest
import tensorflow as tf

from conftest import sine, write_wav
from tfdl import denoise, metrics
from tfdl.errors import InputError
from tfdl.models.denoise import MODELS, ContextFrames, SpectralHead

RATE = 16000


def _speechy(seconds=1.0, seed=0):
    rng = np.random.default_rng(seed)
    n = int(seconds * RATE)
    env = 0.5 + 0.5 * np.sin(2 * np.pi * 3 * np.arange(n) / RATE)
    return (env * (sine(220, seconds, RATE, 0.3) + sine(660, seconds, RATE, 0.1))
            + 0.01 * rng.standard_normal(n)).astype(np.float32)


def _tiny(model="fc", **kw):
    args = dict(bins=513, hidden_layers=2, units=16, context=1, dropout=0.0, **kw)
    return MODELS.build(model, **args)


def test_stft_round_trip_is_identity():
    x = _speechy(0.77)  # not a whole number of hops
    ri = denoise.spectrum(x, 1024, 512)
    assert ri.shape[1:] == (513, 2)
    y = denoise.reconstruct(ri, len(x), 1024, 512).numpy()
    assert y.shape == x.shape
    np.testing.assert_allclose(y, x, atol=1e-5)
    assert metrics.snr(x, y) > 80


def test_snr_matches_hand_computed_value():
    s, e = np.array([1.0, 2.0, 3.0]), np.array([1.0, 2.0, 2.0])
    # sum s^2 = 14, sum (s - e)^2 = 1.
    assert metrics.snr(s, e) == pytest.approx(10 * np.log10(14.0), abs=1e-9)
    assert np.isfinite(metrics.snr(s, s)) and metrics.snr(s, s) > 100
    assert np.isfinite(metrics.snr(np.zeros(3), e))


def test_oracle_noisy_phase_gives_expected_snr():
    clean = _speechy(1.0)
    # Noise in phase with the speech: input SNR is exactly 0 dB, and the noisy
    # phase is the clean phase, so the oracle reconstruction is exact.
    assert metrics.snr(clean, 2 * clean) == pytest.approx(0.0, abs=1e-6)
    assert metrics.snr(clean, denoise.oracle_noisy_phase(clean, 2 * clean)) > 60
    # Phase flipped everywhere: the oracle returns -clean, SNR = 10 log10(1/4).
    flipped = denoise.oracle_noisy_phase(clean, -0.5 * clean)
    assert metrics.snr(clean, flipped) == pytest.approx(10 * np.log10(0.25), abs=1e-3)


@pytest.mark.dataset("denoise")
def test_real_data_input_and_oracle_snr_on_validation_tail(data_root):
    folder = data_root / "denoise"
    clean, noisy, rate = denoise.load_pair(folder / "train_clean_male.wav",
                                           folder / "train_dirty_male.wav")
    assert rate == RATE and len(clean) == 1258899
    cut = denoise.split_point(len(clean), 0.15)
    sv, xv = clean[cut:], noisy[cut:]
    # The reference numbers (librosa STFT 1024/512): 3.3 dB and 17.0 dB.
    assert metrics.snr(sv, xv) == pytest.approx(3.28, abs=0.05)
    assert metrics.snr(sv, denoise.oracle_noisy_phase(sv, xv)) == pytest.approx(16.99, abs=0.05)


def test_context_frames_order_and_edges():
    x = tf.constant(np.arange(4, dtype=np.float32).reshape(1, 4, 1))
    y = ContextFrames(1)(x).numpy()[0]
    np.testing.assert_array_equal(y, [[0, 0, 1], [0, 1, 2], [1, 2, 3], [2, 3, 3]])
    assert ContextFrames(0)(x).shape == x.shape


def test_heads_bound_outputs():
    rng = np.random.default_rng(0)
    noisy = tf.constant(rng.standard_normal((2, 5, 7, 2)), tf.float32)
    net = tf.constant(10 * rng.standard_normal((2, 5, 7)), tf.float32)
    mag = np.linalg.norm(noisy.numpy(), axis=-1)
    est = SpectralHead("mask")([net, noisy]).numpy()
    assert np.all(np.linalg.norm(est, axis=-1) <= mag + 1e-5)
    est = SpectralHead("magnitude")([net, noisy]).numpy()
    # Noisy phase kept: the estimate is a non-negative multiple of the input.
    norm = np.linalg.norm(est, axis=-1)
    cos = np.sum(est * noisy.numpy(), -1) / (norm * mag + 1e-12)
    assert np.all(cos[norm > 1e-3] > 0.999) and np.all(norm >= 0)
    net2 = tf.constant(10 * rng.standard_normal((2, 5, 14)), tf.float32)
    est = SpectralHead("complex_mask", bound=2.0)([net2, noisy]).numpy()
    assert np.all(np.linalg.norm(est, axis=-1) <= 2 * np.sqrt(2) * mag + 1e-4)


@pytest.mark.parametrize("name", ["fc", "fc_crm"])
def test_models_shapes_params_and_config_round_trip(name):
    model = _tiny(name)
    # features: 513 (fc) or 3 x 513 (fc_crm), x3 context frames.
    inp = 513 * (1 if name == "fc" else 3) * 3
    out = 513 * (1 if name == "fc" else 2)
    norm = 2 * inp // 3
    assert model.count_params() == inp * 16 + 16 + 16 * 16 + 16 + 16 * out + out + norm
    x = tf.random.normal((2, 6, 513, 2))
    assert model(x).shape == (2, 6, 513, 2)
    clone = model.__class__.from_config(model.get_config())
    clone.set_weights(model.get_weights())
    np.testing.assert_allclose(clone(x), model(x), atol=1e-5)


def test_builders_check_arguments():
    with pytest.raises(ValueError, match="hidden_layers"):
        MODELS.build("fc", hidden_layers=1)
    with pytest.raises(ValueError, match="output"):
        MODELS.build("fc", output="linear")
    with pytest.raises(InputError, match="--hidden_layers"):
        denoise.DenoiseConfig(hidden_layers=1).validate()
    with pytest.raises(InputError, match="--frame_step"):
        denoise.DenoiseConfig(frame_step=800).validate()
    with pytest.raises(InputError, match="--weight_decay"):
        denoise.DenoiseConfig(weight_decay=-0.1).validate()


def test_snr_loss_and_metric_agree_with_metrics_snr():
    clean = _speechy(0.5)
    noisy = clean + 0.05 * np.random.default_rng(1).standard_normal(len(clean)).astype(np.float32)
    y, x = denoise.spectrum(clean)[None], denoise.spectrum(noisy)[None]
    m = denoise.WaveformSNR(trim=512)
    m.update_state(y, x)
    ref = metrics.snr(clean, noisy)
    assert float(m.result()) == pytest.approx(ref, abs=0.3)
    assert float(denoise.make_loss("snr")(y, x)) == pytest.approx(-ref, abs=0.3)
    assert float(denoise.make_loss("magnitude")(y, y)) == pytest.approx(0.0, abs=1e-6)
    assert float(denoise.make_loss("spectrum")(y, x)) > 0
    # nsr: error over signal energy of the waveform, without the chunk's half-window ends.
    s, e = (denoise._istft_chunk(v, 1024, 512).numpy()[..., 512:-512] for v in (y, x))
    expected = np.sum((s - e) ** 2) / np.sum(s ** 2)
    assert float(denoise.make_loss("nsr")(y, x)) == pytest.approx(expected, rel=1e-4)
    assert float(denoise.make_loss("nsr")(y, x)) == pytest.approx(10 ** (-ref / 10), rel=0.1)


def test_tcn_models_see_the_whole_sequence_and_start_sensibly():
    x = tf.random.normal((1, 40, 129, 2))
    for name in ("tcn", "tcn_crm"):
        model = MODELS.build(name, bins=129, blocks=3, repeats=1, channels=8, hidden=16)
        y = model(x)
        assert y.shape == (1, 40, 129, 2)
        if name == "tcn":
            # Dilations 1, 2, 4 with kernel 3: frame 20 depends on frames 13..27 only.
            x2 = tf.tensor_scatter_nd_update(x, [[0, 35]], tf.ones((1, 129, 2)))
            y2 = model(x2)
            np.testing.assert_allclose(y2[0, 20], y[0, 20], atol=1e-5)
            assert not np.allclose(y2[0, 30], y[0, 30], atol=1e-3)
        clone = model.__class__.from_config(model.get_config())
        clone.set_weights(model.get_weights())
        np.testing.assert_allclose(clone(x), y, atol=1e-5)
    # The complex mask starts at the identity: the first estimate is the noisy input.
    np.testing.assert_allclose(model(x), x, atol=1e-5)
    with pytest.raises(ValueError, match="blocks"):
        MODELS.build("tcn", blocks=0)
    with pytest.raises(InputError, match="--channels"):
        denoise.DenoiseConfig(model="tcn", channels=0).validate()
    assert denoise.DenoiseConfig(model="tcn").resolved_loss == "nsr"


def test_tcn_block_dropout_drops_whole_channels_in_training_only():
    x = tf.random.normal((2, 40, 65, 2))
    args = dict(bins=65, blocks=2, repeats=1, channels=8, hidden=16)
    plain, dropped = MODELS.build("tcn", **args), MODELS.build("tcn", dropout=0.5, **args)
    assert [w.shape for w in dropped.get_weights()] == [w.shape for w in plain.get_weights()]
    dropped.set_weights(plain.get_weights())
    np.testing.assert_allclose(dropped(x), plain(x), atol=1e-5)  # inference: no dropout
    assert not np.allclose(dropped(x, training=True), plain(x), atol=1e-3)
    # Spatial: a dropped hidden channel is zero over the whole sequence.
    branch = keras.Model(dropped.input, dropped.get_layer("r1b1_dropout").output)
    h = branch(x, training=True).numpy()
    zero = np.all(h == 0, axis=1)  # [batch, hidden]
    assert zero.any() and not np.any((h == 0).any(axis=1) & ~zero)
    with pytest.raises(InputError, match="--block_dropout"):
        denoise.DenoiseConfig(model="tcn", block_dropout=1.0).validate()


def test_deep_filter_head_matches_numpy_and_starts_at_identity(tmp_path):
    rng = np.random.default_rng(0)
    x = rng.standard_normal((2, 30, 65, 2)).astype(np.float32)
    out = rng.standard_normal((2, 30, 5 * 2 * 65)).astype(np.float32)
    y = SpectralHead("complex_mask", bound=2.0, taps=2)([out, x]).numpy()
    m = (2.0 * np.tanh(out / 2.0)).reshape(2, 30, 5, 2, 65)
    h = m[:, :, :, 0] + 1j * m[:, :, :, 1]
    xc = np.pad(x[..., 0] + 1j * x[..., 1], ((0, 0), (2, 2), (0, 0)))
    want = sum(h[:, :, k] * xc[:, k:k + 30] for k in range(5))  # tap k: frame t + k - 2
    np.testing.assert_allclose(y[..., 0] + 1j * y[..., 1], want, atol=1e-5)
    model = MODELS.build("tcn_crm", bins=65, blocks=2, repeats=1, channels=8, hidden=16,
                         taps=2)
    assert model.get_layer("out").units == 5 * 2 * 65
    np.testing.assert_allclose(model(x), x, atol=1e-5)  # identity: the centre tap only
    clone = model.__class__.from_config(model.get_config())
    assert clone.get_layer("head").taps == 2
    # Exported, it serves any length, down to inputs shorter than its taps span.
    model.get_layer("out").set_weights([w + 0.01 * rng.standard_normal(w.shape)
                                        for w in model.get_layer("out").get_weights()])
    den = denoise.Denoiser(model, fft_length=128, frame_step=32)
    batch = tf.constant(np.stack([_speechy(0.3, 0), _speechy(0.3, 1)]))
    denoise.export(den, tmp_path / "export")
    served = tf.saved_model.load(str(tmp_path / "export"))
    np.testing.assert_allclose(served.serve(batch).numpy(), den(batch).numpy(), atol=1e-5)
    assert served.serve(batch[:1, :100]).shape == (1, 100)
    with pytest.raises(ValueError, match="taps"):
        SpectralHead("mask", taps=1)
    with pytest.raises(InputError, match="--filter_taps"):
        denoise.DenoiseConfig(model="tcn", filter_taps=2).validate()
    with pytest.raises(InputError, match="--filter_taps"):
        denoise.DenoiseConfig(model="tcn_crm", filter_taps=-1).validate()


def test_long_window_features_match_numpy():
    x = np.random.default_rng(0).standard_normal(4000).astype(np.float32)
    z = denoise.features.stft(x, 128, 32)
    ri = tf.stack([tf.math.real(z), tf.math.imag(z)], axis=-1)[None]
    model = MODELS.build("tcn_crm", bins=65, blocks=2, repeats=1, long_window=512,
                         frame_step=32)
    feats = model.get_layer("features")(ri).numpy()[0]
    assert feats.shape == (z.shape[0], 3 * 65 + 257)
    # Frame k (samples 32k .. 32k + 127) also gets a 512-sample Hann window centred on
    # sample 32k + 64.
    for k in (20, 70):
        seg = x[32 * k + 64 - 256:32 * k + 64 + 256] * np.hanning(513)[:-1]
        np.testing.assert_allclose(feats[k, 195:], np.log1p(np.abs(np.fft.rfft(seg))),
                                   atol=1e-4)
    assert np.all(np.isfinite(feats))
    assert model(ri).shape == ri.shape
    with pytest.raises(InputError, match="--long_window"):
        denoise.DenoiseConfig(model="tcn", fft_length=128, frame_step=32, long_window=96).validate()
    with pytest.raises(InputError, match="--long_window"):
        denoise.DenoiseConfig(model="fc", fft_length=128, frame_step=32, long_window=512).validate()


def test_log_offset_reaches_every_model_and_the_features():
    x = np.random.default_rng(1).standard_normal(2000).astype(np.float32) * 0.01
    z = denoise.features.stft(x, 128, 32)
    ri = tf.stack([tf.math.real(z), tf.math.imag(z)], axis=-1)[None]
    for offset in (1.0, 1e-3):
        cfg = denoise.DenoiseConfig(model="tcn_crm", fft_length=128, frame_step=32, blocks=2,
                                    repeats=1, log_offset=offset).validate()
        feats = denoise.build_model(cfg, 65).get_layer("features")(ri).numpy()[0]
        np.testing.assert_allclose(feats[:, :65], np.log(np.abs(z.numpy()) + offset),
                                   rtol=1e-4, atol=1e-4)
    for name in ("fc", "fc_crm", "tcn"):
        cfg = denoise.DenoiseConfig(model=name, log_offset=0.01)
        assert denoise.build_model(cfg, 513).get_layer("features").log_offset == 0.01
    with pytest.raises(ValueError, match="log_offset"):
        MODELS.build("tcn", log_offset=0.0)
    with pytest.raises(InputError, match="--log_offset"):
        denoise.DenoiseConfig(log_offset=-1.0).validate()


def test_delta_phase_features_match_numpy_and_ignore_polarity():
    x = np.random.default_rng(2).standard_normal(3000).astype(np.float32)
    z = denoise.features.stft(x, 128, 32)
    ri = tf.stack([tf.math.real(z), tf.math.imag(z)], axis=-1)[None]
    cfg = denoise.DenoiseConfig(model="tcn_crm", fft_length=128, frame_step=32, blocks=2,
                                repeats=1, phase_features="delta").validate()
    model = denoise.build_model(cfg, 65)
    feats = model.get_layer("features")(ri).numpy()[0]
    step = np.angle(z.numpy()[1:] * np.conj(z.numpy()[:-1]))
    np.testing.assert_allclose(feats[1:, 65:130], np.cos(step), atol=1e-5)
    np.testing.assert_allclose(feats[1:, 130:], np.sin(step), atol=1e-5)
    np.testing.assert_array_equal(feats[0, 65:], [1.0] * 65 + [0.0] * 65)  # no previous frame
    np.testing.assert_array_equal(model.get_layer("features")(-ri).numpy()[0], feats)
    # The absolute phase features change sign with the input; the delta ones do not.
    absolute = MODELS.build("tcn_crm", bins=65, blocks=2, repeats=1).get_layer("features")
    np.testing.assert_allclose(absolute(-ri)[0, :, 65:], -absolute(ri)[0, :, 65:], atol=1e-6)
    clone = keras.Model.from_config(model.get_config())
    assert clone.get_layer("features").phase == "delta"
    with pytest.raises(ValueError, match="phase"):
        MODELS.build("tcn", phase="relative")
    with pytest.raises(InputError, match="--phase_features"):
        denoise.DenoiseConfig(model="fc_crm", phase_features="delta").validate()


def test_chunk_dataset_crops_and_remix():
    clean = _speechy(1.5)
    noisy = clean + sine(3000, 1.5, RATE, amplitude=0.1)
    frames = 1 + (len(clean) - 1024) // 512
    ds = denoise.chunk_dataset(clean, noisy, chunk_frames=8, batch_size=4, seed=0, remix=1.0,
                               gain_db=3.0)
    batches = list(ds)
    assert len(batches) == -(-denoise.default_crops(frames, 8, 4) // 4)
    xb, yb = batches[0]
    assert xb.shape == (4, 8, 513, 2) and yb.shape == xb.shape
    # Whatever the crop, gain or remix offset, noisy - clean is the (stationary) sine's
    # spectrum: same energy in every crop of a batch, up to the gain.
    d = denoise.features.inverse_stft(tf.complex(*tf.unstack(xb - yb, axis=-1)), 1024, 512)
    peak = np.abs(d.numpy()).max(axis=1)
    assert np.all(peak < 0.1 * 10 ** (3 / 20) + 1e-3)
    assert np.all(peak > 0.1 * 10 ** (-3 / 20) - 1e-3)
    assert np.abs(yb).max() > 0  # the clean crops are speech, not the silent padding


def test_chunk_dataset_noise_offset_and_flips():
    clean = _speechy(1.5)
    ramp = 0.05 + 0.05 * np.arange(len(clean)) / len(clean)  # positive, rising noise

    def noises(**kw):
        ds = denoise.chunk_dataset(clean, clean + ramp, chunk_frames=4, batch_size=64,
                                   fft_length=256, frame_step=128, seed=0,
                                   crops_per_epoch=64, **kw)
        xb, yb = next(iter(ds))
        d = denoise.features.inverse_stft(tf.complex(*tf.unstack(xb - yb, axis=-1)), 256, 128)
        return d.numpy()[:, 128:-128]  # away from the crop's edges

    d = noises(noise_gain_offset_db=6.0)
    # A fixed +6 dB gain doubles the noise (and its slope); no flips: positive and rising.
    slopes = np.polyfit(np.arange(d.shape[1]), d.T, 1)[0]
    np.testing.assert_allclose(slopes, 2 * 0.05 / len(clean), rtol=0.02)
    assert np.all(d.mean(axis=1) > 0)
    d = noises(noise_flip=True)
    signs = {(m > 0, r > 0) for m, r in zip(d.mean(axis=1), d[:, -1] - d[:, 0])}
    assert signs == {(True, True), (True, False), (False, True), (False, False)}


def test_polarity_flip_negates_speech_and_noise_together():
    clean = 0.2 + 0.1 * _speechy(1.5)  # positive speech, positive noise: DC bins > 0

    def dc_signs(**kw):
        ds = denoise.chunk_dataset(clean, clean + 0.05, chunk_frames=4, batch_size=64,
                                   fft_length=256, frame_step=128, seed=0, crops_per_epoch=64,
                                   **kw)
        xb, yb = next(iter(ds))
        speech, noise = yb[:, :, 0, 0].numpy(), (xb - yb)[:, :, 0, 0].numpy()
        np.testing.assert_allclose(np.abs(noise), 0.05 * 128, rtol=1e-3)
        return {(s > 0, n > 0) for s, n in zip(speech.ravel(), noise.ravel())}

    assert dc_signs() == {(True, True)}
    assert dc_signs(polarity_flip=True) == {(True, True), (False, False)}


def _clean_crop_spectra(speech, count, **kw):
    """`count` training crops of `speech` plus a constant noise of 0.01 (4 frames of a
    256/128 STFT): checks that the crops' noise is the recording's (noisy - clean is the
    constant) and returns their clean magnitudes averaged over frames, `[count, 129]`."""
    ds = denoise.chunk_dataset(speech, speech + 0.01, chunk_frames=4, batch_size=count,
                               fft_length=256, frame_step=128, seed=0, crops_per_epoch=count,
                               sample_rate=RATE, **kw)
    xb, yb = next(iter(ds))
    np.testing.assert_allclose(xb[:, :, 0, 0] - yb[:, :, 0, 0], 0.01 * 128, rtol=0.05)
    return np.hypot(yb[..., 0], yb[..., 1]).mean(axis=1)


def test_speed_change_and_speech_speed_crops():
    tone = sine(500, 1.0, RATE)
    fast = denoise.speed_change(tone, 1.25)
    assert len(fast) == 12800 and fast.dtype == np.float32
    peak = np.abs(np.fft.rfft(fast[1000:-1000] * np.hanning(10800))).argmax()
    assert abs(peak * RATE / 10800 - 625) < 2  # 1.25 x 500 Hz

    def freqs(count, **kw):
        """The crops' clean tone frequencies, rounded to the nearest 62.5 Hz bin."""
        mag = _clean_crop_spectra(tone, count, **kw)
        return set(np.round(mag.argmax(axis=-1) * RATE / 256 / 62.5) * 62.5)

    # Crops of a 500 Hz tone with speech_speed=0.2 hold 400, 500 and 600 Hz, all three.
    assert freqs(60, speech_speed=0.2) == {375.0, 500.0, 625.0}  # nearest bins
    with pytest.raises(InputError, match="--speech_speed"):
        denoise.DenoiseConfig(speech_speed=0.5).validate()
    # speed_steps=2: 400, 450, 500, 550 and 600 Hz, all five.
    assert freqs(100, speech_speed=0.2, speed_steps=2) == {375.0, 437.5, 500.0, 562.5, 625.0}
    with pytest.raises(InputError, match="--speed_steps"):
        denoise.DenoiseConfig(speed_steps=0).validate()


def test_noise_speed_crops_hold_the_noise_at_three_speeds():
    # Silent speech, a 500 Hz tone as the noise: with noise_speed=0.2 and remix=1 the
    # crops' noise is at 400, 500 and 600 Hz, all three; the clean target stays silent.
    tone = sine(500, 1.0, RATE)
    silence = np.zeros_like(tone)
    ds = denoise.chunk_dataset(silence, tone, chunk_frames=4, batch_size=60, fft_length=256,
                               frame_step=128, seed=0, crops_per_epoch=60, remix=1.0,
                               noise_speed=0.2, sample_rate=RATE)
    xb, yb = next(iter(ds))
    assert not np.any(np.asarray(yb))
    peaks = np.hypot(xb[..., 0], xb[..., 1]).mean(axis=1).argmax(axis=-1)
    assert set(np.round(peaks * RATE / 256 / 62.5) * 62.5) == {375.0, 500.0, 625.0}
    with pytest.raises(InputError, match="--noise_speed"):
        denoise.DenoiseConfig(noise_speed=-0.1).validate()


def test_speech_tilt_scales_the_clean_spectrum_by_log_frequency():
    # Tones at 250 Hz (2 octaves under 1 kHz) and 4 kHz (2 over): a tilt of t dB raises
    # the 4 kHz tone by 2t/3 dB and lowers the 250 Hz one by 2t/3; the noise is untouched.
    t = np.arange(RATE) / RATE
    two = (0.1 * np.sin(2 * np.pi * 250 * t) + 0.1 * np.sin(2 * np.pi * 4000 * t)).astype(
        np.float32)

    def ratios_db(**kw):
        mag = _clean_crop_spectra(two, 50, **kw)  # bins of 62.5 Hz
        return 20 * np.log10(mag[:, 64] / mag[:, 4])

    np.testing.assert_allclose(ratios_db(), 0, atol=0.1)
    tilts = ratios_db(speech_tilt_db=9.0) * 3 / 4  # 4t/3 dB between the two tones
    assert np.all(np.abs(tilts) <= 9.0 + 0.1)
    assert tilts.min() < -4 and tilts.max() > 4
    with pytest.raises(InputError, match="--speech_tilt_db"):
        denoise.DenoiseConfig(speech_tilt_db=-1).validate()


def test_extra_speech_is_resampled_trimmed_levelled_and_cropped(tmp_path):
    # Two clips padded with silence, one at 8 kHz: each comes back at 16 kHz without its
    # silence and at the RMS of the reference's non-silent part (a 0.1-amplitude tone).
    pad8, pad16 = np.zeros(4000, np.float32), np.zeros(8000, np.float32)
    write_wav(tmp_path / "a" / "1.wav", np.concatenate([pad8, sine(300, 1.0, 8000, 0.5), pad8]),
              8000)
    write_wav(tmp_path / "b" / "2.wav", np.concatenate([pad16, sine(700, 1.0, RATE, 0.02),
                                                        pad16]), RATE)
    reference = np.concatenate([np.zeros(RATE, np.float32), sine(440, 1.0, RATE, 0.1)])
    extra, files = denoise.load_extra_speech([str(tmp_path / "*" / "*.wav")], RATE, reference)
    assert files == 2 and extra.dtype == np.float32
    # 4 s in; librosa's trim keeps at most a 2048-sample frame of silence at each end (and
    # its split, which finds the stretches to level, the same: hence the 5 %).
    assert 2 * RATE <= len(extra) <= 2 * RATE + 4 * 2100
    first, second = extra[2100:RATE], extra[-RATE:-2100]  # inside the two tones
    for piece in (first, second):
        np.testing.assert_allclose(np.sqrt(np.mean(piece ** 2)), 0.1 / np.sqrt(2), rtol=0.05)
    peak = np.abs(np.fft.rfft(first * np.hanning(len(first)))).argmax() * RATE / len(first)
    assert abs(peak - 300) < 3
    with pytest.raises(InputError, match=r"--extra_speech: no file matches .*nothing"):
        denoise.load_extra_speech([str(tmp_path / "nothing*.wav")], RATE, reference)

    # As a training source: crops of a 500 Hz speech with a 1 kHz extra speech hold both
    # tones, each crop with the recording's noise.
    mag = _clean_crop_spectra(sine(500, 1.0, RATE), 40, extra_speech=sine(1000, 1.0, RATE))
    assert set(mag.argmax(axis=-1) * RATE // 256) == {500, 1000}


def test_loud_noise_draws_noise_by_energy():
    # Noise only in 100 of 16,000 samples: drawn by energy, every crop's noise holds some
    # of it; drawn uniformly, about 5 % of 640-sample crops do.
    tone = sine(500, 1.0, RATE)
    noise = np.zeros_like(tone)
    noise[8000:8100] = np.random.default_rng(0).normal(0, 0.1, 100)

    def noisy_crops(loud):
        ds = denoise.chunk_dataset(tone, tone + noise, chunk_frames=4, batch_size=100,
                                   fft_length=256, frame_step=128, seed=0,
                                   crops_per_epoch=100, remix=1.0, loud_noise=loud)
        xb, yb = next(iter(ds))
        return np.mean(np.sum((xb - yb).numpy() ** 2, axis=(1, 2, 3)) > 1e-6)

    assert noisy_crops(1.0) == 1.0
    assert noisy_crops(0.0) < 0.2
    assert 0.3 < noisy_crops(0.5) < 0.8
    with pytest.raises(InputError, match="--loud_noise"):
        denoise.DenoiseConfig(loud_noise=1.5).validate()


def test_denoiser_export_parity_and_short_input(tmp_path):
    model = _tiny("fc_crm")
    den = denoise.Denoiser(model, griffin_lim=2)
    batch = np.stack([_speechy(0.6, 0), _speechy(0.6, 1)])
    out = den(tf.constant(batch)).numpy()
    assert out.shape == batch.shape and np.all(np.isfinite(out))
    denoise.export(den, tmp_path / "export")
    served = tf.saved_model.load(str(tmp_path / "export"))
    np.testing.assert_allclose(served.serve(tf.constant(batch)).numpy(), out, atol=1e-5)
    short = served.serve(tf.constant(batch[:1, :300])).numpy()  # < one FFT frame
    assert short.shape == (1, 300) and np.all(np.isfinite(short))
    silent = served.serve(tf.zeros((1, 4000))).numpy()
    assert np.all(silent == 0)


def test_load_pair_rejects_bad_input(tmp_path):
    a = _speechy(0.5)
    good = write_wav(tmp_path / "clean.wav", a, RATE)
    with pytest.raises(InputError, match="not found"):
        denoise.load_pair(tmp_path / "missing.wav", good)
    stereo = write_wav(tmp_path / "stereo.wav", np.stack([a, a], 1), RATE)
    with pytest.raises(InputError, match="2 channels"):
        denoise.load_pair(good, stereo)
    other_rate = write_wav(tmp_path / "rate.wav", a, 8000)
    with pytest.raises(InputError, match="different sample rates"):
        denoise.load_pair(good, other_rate)
    shorter = write_wav(tmp_path / "short.wav", a[:-10], RATE)
    with pytest.raises(InputError, match="differ in length"):
        denoise.load_pair(good, shorter)
    silent = write_wav(tmp_path / "silent.wav", np.zeros_like(a), RATE)
    with pytest.raises(InputError, match="silent"):
        denoise.load_pair(silent, good)
    clean, noisy, rate = denoise.load_pair(good, good)
    assert rate == RATE and len(clean) == len(noisy) == len(a)


def test_load_test_rejects_short_and_silent(tmp_path):
    with pytest.raises(InputError, match="too short"):
        denoise.load_test(write_wav(tmp_path / "s.wav", _speechy(0.05), RATE), RATE, 1024)
    with pytest.raises(InputError, match="silent"):
        denoise.load_test(write_wav(tmp_path / "z.wav", np.zeros(4000), RATE), RATE, 1024)
    wave, rate = denoise.load_test(write_wav(tmp_path / "r.wav", _speechy(0.5)[::2], 8000),
                                   RATE, 1024)
    assert rate == 8000 and len(wave) == 8000  # resampled to the model's rate
