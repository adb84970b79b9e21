"""tfdl.denoise.model, layers and serve: features, heads, models, losses, export parity."""

import numpy as np
import pytest
import tensorflow as tf

from conftest import sine
from tfdl import features, metrics
from tfdl.denoise import data, model, serve
from tfdl.denoise.config import Config
from tfdl.denoise.configs import CONFIGS
from tfdl.denoise.layers import ContextFrames, SpectralHead
from tfdl.denoise.model import MODELS
from tfdl.errors import InputError

RATE = 16000


def _speechy(seconds=1.0, seed=0):
    rng = np.random.default_rng(seed)
    n = int(seconds * RATE)
    env = 0.5 + 0.5 * np.sin(2 * np.pi * 3 * np.arange(n) / RATE)
    return (env * (sine(220, seconds, RATE, 0.3) + sine(660, seconds, RATE, 0.1))
            + 0.01 * rng.standard_normal(n)).astype(np.float32)


def _tiny(name="fc", **kw):
    args = dict(bins=513, hidden_layers=2, units=16, context=1, dropout=0.0, **kw)
    return MODELS.build(name, **args)


def _ri(wave, fft_length=128, frame_step=32):
    z = features.stft(wave, fft_length, frame_step)
    return z, tf.stack([tf.math.real(z), tf.math.imag(z)], axis=-1)[None]


def test_context_frames_order_and_edges():
    x = tf.constant(np.arange(4, dtype=np.float32).reshape(1, 4, 1))
    y = ContextFrames(1)(x).numpy()[0]
    np.testing.assert_array_equal(y, [[0, 0, 1], [0, 1, 2], [1, 2, 3], [2, 3, 3]])
    assert ContextFrames(0)(x).shape == x.shape


def test_features_are_log1p_magnitude_and_the_noisy_phase():
    """log1p(|X|) (the one compression kept), then cos and sin of the noisy phase, which
    change sign with the input."""
    x = np.random.default_rng(1).standard_normal(2000).astype(np.float32) * 0.01
    z, ri = _ri(x)
    for name in ("fc", "fc_crm", "tcn", "tcn_crm"):
        cfg = Config(model=name, fft_length=128, frame_step=32, blocks=2, repeats=1).validate()
        feats = model.build(cfg).get_layer("features")(ri).numpy()[0]
        assert feats.shape[-1] == 65 * (1 if name == "fc" else 3), name
        np.testing.assert_allclose(feats[:, :65], np.log1p(np.abs(z.numpy())), rtol=1e-4,
                                   atol=1e-6)
    np.testing.assert_allclose(feats[:, 65:130], np.cos(np.angle(z.numpy())), atol=1e-4)
    absolute = model.build(cfg).get_layer("features")
    np.testing.assert_allclose(absolute(-ri)[0, :, 65:], -absolute(ri)[0, :, 65:], atol=1e-6)


def test_heads_bound_outputs():
    rng = np.random.default_rng(0)
    noisy = tf.constant(rng.standard_normal((2, 5, 7, 2)), tf.float32)
    net = tf.constant(10 * rng.standard_normal((2, 5, 7)), tf.float32)
    mag = np.linalg.norm(noisy.numpy(), axis=-1)
    est = SpectralHead("mask")([net, noisy]).numpy()
    assert np.all(np.linalg.norm(est, axis=-1) <= mag + 1e-5)
    net2 = tf.constant(10 * rng.standard_normal((2, 5, 14)), tf.float32)
    est = SpectralHead("complex_mask", bound=2.0)([net2, noisy]).numpy()
    assert np.all(np.linalg.norm(est, axis=-1) <= 2 * np.sqrt(2) * mag + 1e-4)
    with pytest.raises(ValueError, match="kind"):
        SpectralHead("magnitude")


@pytest.mark.parametrize("name", ["fc", "fc_crm"])
def test_models_shapes_params_and_config_round_trip(name):
    net = _tiny(name)
    # features: 513 (fc) or 3 x 513 (fc_crm), x3 context frames.
    inp = 513 * (1 if name == "fc" else 3) * 3
    out = 513 * (1 if name == "fc" else 2)
    norm = 2 * inp // 3
    assert net.count_params() == inp * 16 + 16 + 16 * 16 + 16 + 16 * out + out + norm
    x = tf.random.normal((2, 6, 513, 2))
    assert net(x).shape == (2, 6, 513, 2)
    clone = net.__class__.from_config(net.get_config())
    clone.set_weights(net.get_weights())
    np.testing.assert_allclose(clone(x), net(x), atol=1e-5)


def test_builders_check_arguments_once_for_the_config_too():
    with pytest.raises(ValueError, match="hidden_layers"):
        MODELS.build("fc", hidden_layers=1)
    with pytest.raises(ValueError, match="bound"):
        MODELS.build("tcn_crm", bound=1.0)
    with pytest.raises(InputError, match="--config.hidden_layers"):
        Config(hidden_layers=1).validate()
    with pytest.raises(InputError, match="--config.frame_step"):
        Config(frame_step=800).validate()
    with pytest.raises(InputError, match="--config.weight_decay"):
        Config(weight_decay=-0.1).validate()
    # The builders' checks and the config's are one: same rule, same words.
    with pytest.raises(InputError, match=r"--config.activation must be one of relu, .* "
                                         r"Received: --config.activation='nope'"):
        Config(activation="nope").validate()
    with pytest.raises(ValueError, match=r"activation must be one of relu, .* "
                                         r"Received: activation='nope'"):
        MODELS.build("fc", activation="nope")
    with pytest.raises(InputError, match="--config.blocks must be a positive integer"):
        Config(model="tcn", blocks=0).validate()


def test_spectrum_and_nsr_losses_and_snr_metric_agree_with_metrics_snr():
    clean = _speechy(0.5)
    noisy = clean + 0.05 * np.random.default_rng(1).standard_normal(len(clean)).astype(np.float32)
    y, x = data.spectrum(clean)[None], data.spectrum(noisy)[None]
    m = model.WaveformSNR(trim=512)
    m.update_state(y, x)
    ref = metrics.snr(clean, noisy)
    assert float(m.result()) == pytest.approx(ref, abs=0.3)
    assert float(model.make_loss("spectrum")(y, x)) > 0
    assert float(model.make_loss("spectrum")(y, y)) == pytest.approx(0.0, abs=1e-9)
    # nsr: error over signal energy of the waveform, without the chunk's half-window ends.
    s, e = (model.istft_chunk(v, 1024, 512).numpy()[..., 512:-512] for v in (y, x))
    expected = np.sum((s - e) ** 2) / np.sum(s ** 2)
    assert float(model.make_loss("nsr")(y, x)) == pytest.approx(expected, rel=1e-4)
    assert float(model.make_loss("nsr")(y, x)) == pytest.approx(10 ** (-ref / 10), rel=0.1)
    with pytest.raises(ValueError, match="loss must be one of"):
        model.make_loss("snr")


def test_tcn_models_see_the_whole_sequence_and_start_sensibly():
    x = tf.random.normal((1, 40, 129, 2))
    for name in ("tcn", "tcn_crm"):
        net = MODELS.build(name, bins=129, blocks=3, repeats=1, channels=8, hidden=16)
        y = net(x)
        assert y.shape == (1, 40, 129, 2)
        if name == "tcn":
            # Dilations 1, 2, 4 with kernel 3: frame 20 depends on frames 13..27 only.
            x2 = tf.tensor_scatter_nd_update(x, [[0, 35]], tf.ones((1, 129, 2)))
            y2 = net(x2)
            np.testing.assert_allclose(y2[0, 20], y[0, 20], atol=1e-5)
            assert not np.allclose(y2[0, 30], y[0, 30], atol=1e-3)
        clone = net.__class__.from_config(net.get_config())
        clone.set_weights(net.get_weights())
        np.testing.assert_allclose(clone(x), y, atol=1e-5)
    # The complex mask starts at the identity: the first estimate is the noisy input.
    np.testing.assert_allclose(net(x), x, atol=1e-5)
    with pytest.raises(ValueError, match="blocks"):
        MODELS.build("tcn", blocks=0)
    with pytest.raises(InputError, match="--config.channels"):
        Config(model="tcn", channels=0).validate()
    assert CONFIGS.get("tcn").loss == "nsr"


def test_causal_tcn_never_looks_ahead():
    """`causal=True`: an output frame depends on that frame and the `receptive_field - 1`
    before it, never on a later one; same weights as the non-causal net; fc refuses it."""
    x = tf.random.normal((1, 40, 129, 2))
    kw = dict(bins=129, blocks=3, repeats=1, channels=8, hidden=16)
    net = MODELS.build("tcn_crm", causal=True, **kw)
    assert [w.shape for w in net.weights] == [w.shape for w in MODELS.build("tcn_crm",
                                                                              **kw).weights]
    net.get_layer("out").kernel.assign(tf.random.normal(net.get_layer("out").kernel.shape))
    y = net(x)
    field = model.receptive_field(blocks=3, repeats=1)
    assert field == 15  # dilations 1, 2, 4 with kernel 3: 14 frames back
    later = tf.tensor_scatter_nd_update(x, [[0, 21]], tf.ones((1, 129, 2)))
    np.testing.assert_allclose(net(later)[0, :21], y[0, :21], atol=1e-5)
    assert not np.allclose(net(later)[0, 21], y[0, 21], atol=1e-3)
    earlier = tf.tensor_scatter_nd_update(x, [[0, 20 - field]], tf.ones((1, 129, 2)))
    np.testing.assert_allclose(net(earlier)[0, 20:], y[0, 20:], atol=1e-5)
    assert not np.allclose(net(earlier)[0, 20 - field + 1:21], y[0, 20 - field + 1:21],
                           atol=1e-3)
    cfg = CONFIGS.get("tcn_crm_causal").validate()
    assert cfg.causal and model.latency_ms(cfg, RATE) == 8.0
    with pytest.raises(InputError, match="--config.causal must be false for a frame model"):
        Config(model="fc", causal=True).validate()


def test_tcn_crm_export_serves_any_length(tmp_path):
    """A 128/32 complex-mask TCN, exported: matches the in-process `Denoiser` on a batch and
    serves inputs of any length, down to fewer samples than one FFT frame."""
    rng = np.random.default_rng(0)
    net = MODELS.build("tcn_crm", bins=65, blocks=2, repeats=1, channels=8, hidden=16)
    x = rng.standard_normal((2, 30, 65, 2)).astype(np.float32)
    np.testing.assert_allclose(net(x), x, atol=1e-5)  # identity at the start
    net.get_layer("out").set_weights([w + 0.01 * rng.standard_normal(w.shape)
                                      for w in net.get_layer("out").get_weights()])
    den = serve.Denoiser(net, fft_length=128, frame_step=32)
    batch = tf.constant(np.stack([_speechy(0.3, 0), _speechy(0.3, 1)]))
    serve.export(den, tmp_path / "export", {"task": "denoise", "sample_rate": RATE})
    served = tf.saved_model.load(str(tmp_path / "export"))
    np.testing.assert_allclose(served.serve(batch).numpy(), den(batch).numpy(), atol=1e-5)
    assert served.serve(batch[:1, :100]).shape == (1, 100)
    assert (tmp_path / "export" / "assets.extra" / "tfdl.json").is_file()


def test_denoiser_export_parity_and_short_input(tmp_path):
    den = serve.Denoiser(_tiny("fc_crm"))
    batch = np.stack([_speechy(0.6, 0), _speechy(0.6, 1)])
    out = den(tf.constant(batch)).numpy()
    assert out.shape == batch.shape and np.all(np.isfinite(out))
    serve.export(den, tmp_path / "export")
    served = tf.saved_model.load(str(tmp_path / "export"))
    np.testing.assert_allclose(served.serve(tf.constant(batch)).numpy(), out, atol=1e-5)
    short = served.serve(tf.constant(batch[:1, :300])).numpy()  # < one FFT frame
    assert short.shape == (1, 300) and np.all(np.isfinite(short))
    silent = served.serve(tf.zeros((1, 4000))).numpy()
    assert np.all(silent == 0)
