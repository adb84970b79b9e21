"""Digit models: golden parameter counts, raw input of any length, adaptation, kwargs."""

import keras
import numpy as np
import pytest
import tensorflow as tf

from tfdl import features
from tfdl.digits import adapt as adaptation
from tfdl.digits import layers, model as digits
from tfdl.digits.configs import CONFIGS

# Trainable parameters (PyTorch's `sum(p.nelement() for p in net.parameters())`
# convention) and all weights incl. BN / Normalization statistics.
GOLDEN = {
    "plain": (1_532_090, 1_532_093),
    "dropout": (1_532_090, 1_532_093),
    "batchnorm": (1_532_594, 1_533_101),
    "mfcc": (80_546, 80_685),
    "compact": (98_682, 99_243),
    "compact_rel": (98_682, 99_243),
    "compact_robust": (391_402, 392_907),
    "compact_pcen": (391_466, 392_971),
    "compact_pair": (782_868, 785_878),
    "compact_student": (220_978, 222_115),
}


@pytest.mark.parametrize("name", sorted(GOLDEN))
def test_golden_parameter_counts(name):
    model = digits.MODELS.build(name)
    assert (digits.trainable_params(model), model.count_params()) == GOLDEN[name]


def test_registry_names():
    assert set(digits.MODELS.names()) == set(GOLDEN)
    # every model has a named config of the same name, which builds it
    assert all(CONFIGS.get(name).model == name for name in GOLDEN)


def test_reference_layer_shapes():
    # The reference notebook's shapes: 6000 -> ... -> 32 x 371 = 11872 into the dense layers.
    model = digits.MODELS.build("plain")
    assert model.get_layer("flatten").output.shape[-1] == 11872
    mfcc = digits.MODELS.build("mfcc")
    assert tuple(mfcc.get_layer("image").output.shape[1:]) == (13, 74, 1)
    assert mfcc.get_layer("flatten").output.shape[-1] == 512


@pytest.mark.parametrize("name", ["plain", "mfcc", "compact_rel", "compact_robust"])
@pytest.mark.parametrize("length", [2000, 12000])
def test_any_length_waveform(name, length):
    model = digits.MODELS.build(name)
    out = model(np.random.default_rng(0).normal(0, 0.1, (2, length)).astype(np.float32))
    assert out.shape == (2, 10)
    np.testing.assert_allclose(out.numpy().sum(-1), 1.0, rtol=1e-5)


def test_adapt_uses_the_given_data_only():
    model = digits.MODELS.build("mfcc")
    rng = np.random.default_rng(1)
    x = rng.normal(0, 0.2, (12, 6000)).astype(np.float32)
    ds = tf.data.Dataset.from_tensor_slices((x, np.zeros(12, np.int32))).batch(5)
    assert digits.adapt(model, ds) == 1
    from tfdl.features import mfcc

    feats = mfcc(x, 8000).numpy().reshape(-1, 13)
    norm = model.get_layer("normalization")
    np.testing.assert_allclose(np.ravel(norm.mean), feats.mean(0), rtol=1e-3, atol=1e-3)
    np.testing.assert_allclose(np.ravel(norm.variance), feats.var(0), rtol=1e-3, atol=1e-3)


def test_builder_kwargs_for_tuning():
    m = digits.MODELS.build("batchnorm", filters=(4, 8), dense=(32,), kernel_size=3,
                            activation="elu", dropout=0.2)
    assert m(np.zeros((1, 6000), np.float32)).shape == (1, 10)
    c = digits.MODELS.build("compact", filters=8, depth=2, num_mel_bins=32, dropout=0.0,
                            batchnorm=False, num_classes=5)
    assert c(np.zeros((1, 4000), np.float32)).shape == (1, 5)
    m2 = digits.MODELS.build("mfcc", filters=(4, 4, 4), dense=(16,), normalize=False)
    assert m2(np.zeros((1, 6000), np.float32)).shape == (1, 10)


@pytest.mark.parametrize("name,kwargs,match", [
    ("plain", {"filters": ()}, "filters"),
    ("plain", {"dropout": 1.0}, "dropout"),
    ("compact", {"depth": 0}, "depth"),
    ("compact", {"pool_padding": "full"}, "pool_padding"),
    ("mfcc", {"filters": (8, 16)}, "filters"),
    ("plain", {"num_classes": 1}, "num_classes"),
])
def test_bad_builder_arguments(name, kwargs, match):
    with pytest.raises(ValueError, match=match):
        digits.MODELS.build(name, **kwargs)
    with pytest.raises(ValueError, match="unknown digits model"):
        digits.MODELS.build("nope")


def test_relative_log_is_gain_invariant():
    layer = features.RelativeLog(floor=10.0)
    x = np.random.default_rng(2).normal(size=(2, 7, 5)).astype(np.float32)
    shifted = x + np.array([3.0, -40.0], np.float32)[:, None, None]  # log of a gain change
    np.testing.assert_allclose(layer(shifted).numpy(), layer(x).numpy(), atol=1e-5)
    assert layer(x).numpy().max() == pytest.approx(0.0) and layer(x).numpy().min() >= -10.0
    assert features.RelativeLog.from_config(layer.get_config()).floor == 10.0
    with pytest.raises(ValueError, match="floor"):
        features.RelativeLog(floor=0)
    # The whole model ignores the recording level (a full 1 s input: no zero padding, whose
    # log offset sits at a fixed absolute level).
    model = digits.MODELS.build("compact_rel")
    wave = np.random.default_rng(3).normal(0, 0.1, (1, 8000)).astype(np.float32)
    np.testing.assert_allclose(model(0.2 * wave).numpy(), model(wave).numpy(), atol=1e-4)


def test_edge_fade_removes_the_step_at_a_cut_off_end():
    # A tone from sample 100 to 1100 cut off at full amplitude, then zero padding.
    x = np.zeros((2, 2000), np.float32)
    x[0, 100:1100] = np.sin(2 * np.pi * 500 * np.arange(1000) / 8000 + 1.0)
    x[1, :2000] = 0.5  # no padding at all: faded at both window edges
    y = layers.EdgeFade(samples=160)(x).numpy()
    assert y[0, 100] == pytest.approx(0.0, abs=1e-3) and y[0, 1099] == pytest.approx(0.0, abs=1e-3)
    np.testing.assert_allclose(y[0, 260:940], x[0, 260:940], atol=1e-6)  # middle untouched
    assert np.all(y[0, :100] == 0) and np.all(y[0, 1100:] == 0)          # padding stays zero
    assert np.all(np.abs(np.diff(y[0])) < 0.5)  # no step: |slope| of the 500 Hz tone <= 0.4
    ramp = y[1, :160] / 0.5
    assert np.all(np.diff(ramp) >= 0) and ramp[0] < 0.01 and y[1, 1000] == pytest.approx(0.5)
    assert np.all(layers.EdgeFade(8)(np.zeros((1, 50), np.float32)).numpy() == 0)  # silence
    assert layers.EdgeFade.from_config(layers.EdgeFade(32).get_config()).samples == 32
    with pytest.raises(ValueError, match="samples"):
        layers.EdgeFade(0)


def test_utterance_norm_removes_a_channel_offset_and_ignores_silence():
    rng = np.random.default_rng(4)
    speech = rng.normal(-3.0, 1.0, (1, 20, 6)).astype(np.float32)
    speech[0, 0, 0] = 0.0  # the maximum (RelativeLog output)
    silence = np.full((1, 30, 6), -18.42, np.float32)
    x = np.concatenate([speech, silence], axis=1)
    layer = features.UtteranceNorm(speech_db=40.0)
    y = layer(x).numpy()
    # The mean over the 20 speech frames is removed; the 30 silent frames (80 dB down) don't count.
    np.testing.assert_allclose(y[0, :20].mean(0), 0.0, atol=1e-5)
    channel = np.linspace(-1.0, 1.0, 6).astype(np.float32)  # a fixed per-bin response
    np.testing.assert_allclose(layer(x + channel).numpy(), y, atol=1e-5)
    assert features.UtteranceNorm.from_config(layer.get_config()).speech_db == 40.0
    with pytest.raises(ValueError, match="utterance_norm"):
        digits.MODELS.build("compact", utterance_norm=True)


def test_compact_robust_saves_and_reloads(tmp_path):
    model = digits.MODELS.build("compact_robust", filters=4, depth=2)
    x = np.random.default_rng(5).normal(0, 0.1, (2, 5000)).astype(np.float32)
    path = tmp_path / "m.keras"
    model.save(path)
    import keras

    again = keras.models.load_model(path)
    np.testing.assert_allclose(again(x).numpy(), model(x).numpy(), atol=1e-6)
    assert [la.name for la in again.layers][:5] == ["waveform", "pad_or_trim", "edge_fade",
                                                    "log_mel", "relative_level"]


def test_tta_ensemble_averages_the_model_over_speeds_and_shifts(tmp_path):
    import keras

    from tfdl import augment
    from tfdl.audio import pad_or_trim

    model = digits.MODELS.build("compact_robust", filters=4, depth=2)
    x = np.random.default_rng(6).normal(0, 0.1, (3, 5000)).astype(np.float32)
    speeds, shifts = (0.9, 1.0, 1.1), (0, 160, 7000)  # the last delay cuts the recording
    ens = adaptation.tta_ensemble(model, speeds, shifts)
    expected = np.mean([model(augment.change_speed(
        pad_or_trim(np.pad(x, [(0, 0), (s, 0)]), 8000), f)).numpy()
        for s in shifts for f in speeds], axis=0)
    np.testing.assert_allclose(ens(x).numpy(), expected, atol=1e-6)
    np.testing.assert_allclose(adaptation.tta_ensemble(model)(x).numpy(), model(x).numpy(),
                               atol=1e-6)
    assert digits.trainable_params(ens) == digits.trainable_params(model)  # shared weights
    ens.save(tmp_path / "ens.keras")
    again = keras.models.load_model(tmp_path / "ens.keras")
    np.testing.assert_allclose(again(x).numpy(), ens(x).numpy(), atol=1e-6)
    with pytest.raises(ValueError, match="speeds"):
        adaptation.tta_ensemble(model, [])
    with pytest.raises(ValueError, match="shifts"):
        adaptation.tta_ensemble(model, [1.0], [-1])


def test_pcen_matches_a_recursive_numpy_oracle():
    layer = layers.PCEN(floor=10.0, smooth=0.05, alpha=0.9, delta=2.0, root=0.5, eps=1e-6)
    x = np.random.default_rng(8).normal(-3, 2, (2, 30, 4)).astype(np.float32)
    got = layer(x).numpy()
    e = np.exp(np.maximum(x - x.max(axis=(1, 2), keepdims=True), -10.0)).astype(np.float64)
    m, prev = np.zeros_like(e), e[:, 0]
    for t in range(e.shape[1]):
        prev = 0.95 * prev + 0.05 * e[:, t]
        m[:, t] = prev
    np.testing.assert_allclose(got, (e / (1e-6 + m) ** 0.9 + 2.0) ** 0.5 - 2.0 ** 0.5,
                               rtol=1e-4, atol=1e-6)
    assert len(layer.trainable_weights) == 4  # smooth, alpha, delta, root per band
    with pytest.raises(ValueError, match="smooth"):
        layers.PCEN(smooth=0)
    with pytest.raises(ValueError, match="pcen"):
        digits.MODELS.build("compact", relative_level=True, pcen=True)


def test_compact_pair_averages_its_members_and_adapts_them_all(tmp_path):
    import keras

    pair = digits.MODELS.build("compact_pair", filters=4, depth=2)
    robust, pcen = digits.members(pair)
    assert (robust.name, pcen.name) == ("compact_robust", "compact_pcen")
    assert digits.members(robust) == [robust]
    x = np.random.default_rng(9).normal(0, 0.1, (3, 5000)).astype(np.float32)
    np.testing.assert_allclose(pair(x).numpy(), (robust(x).numpy() + pcen(x).numpy()) / 2,
                               atol=1e-6)
    ds = tf.data.Dataset.from_tensor_slices(x).batch(2)
    assert digits.adapt(pair, ds) == 2  # each member's Normalization
    assert adaptation.adapt_batchnorm(pair, ds) == 6  # 3 batch-norm layers per member
    bn = pcen.get_layer("conv1_bn")
    f = keras.Model(pcen.inputs, bn.input)(x, training=False).numpy().reshape(-1, 4)
    np.testing.assert_allclose(bn.moving_mean.numpy(), f.mean(0), rtol=1e-4, atol=1e-5)
    pair.save(tmp_path / "pair.keras")
    again = keras.models.load_model(tmp_path / "pair.keras")
    np.testing.assert_allclose(again(x).numpy(), pair(x).numpy(), atol=1e-6)
    with pytest.raises(ValueError, match="members"):
        digits.MODELS.build("compact_pair", members=("compact_robust",))


def test_adapt_batchnorm_sets_each_layers_input_statistics_in_order():
    import keras

    model = digits.MODELS.build("compact_robust", filters=4, depth=2, head_batchnorm=True)
    x = np.random.default_rng(7).normal(0, 0.2, (10, 6000)).astype(np.float32)
    before = adaptation.batchnorm_state(model)
    ds = tf.data.Dataset.from_tensor_slices((x, np.zeros(10, np.int64))).batch(4)
    assert adaptation.adapt_batchnorm(model, ds) == 3
    for layer in [la for la in model.layers if isinstance(la, keras.layers.BatchNormalization)]:
        # Oracle: the layer's input computed by the (already adapted) layers in front of it.
        f = keras.Model(model.inputs, layer.input)(x, training=False).numpy()
        f = f.reshape(-1, f.shape[-1]).astype(np.float64)
        np.testing.assert_allclose(layer.moving_mean.numpy(), f.mean(0), rtol=1e-4, atol=1e-5)
        np.testing.assert_allclose(layer.moving_variance.numpy(), f.var(0), rtol=1e-3, atol=1e-5)
    assert not np.allclose(adaptation.batchnorm_state(model)[0][1], before[0][1])
    adaptation.restore_batchnorm(model, before)
    for (m0, v0), (m1, v1) in zip(before, adaptation.batchnorm_state(model)):
        np.testing.assert_array_equal(m0, m1)
        np.testing.assert_array_equal(v0, v1)
    with pytest.raises(ValueError, match="empty"):
        adaptation.adapt_batchnorm(model, ds.take(0))


def test_speaker_adversary_adds_a_head_and_leaves_the_model_as_it_is():
    model = digits.MODELS.build("compact_robust", filters=4, depth=2)
    n = len(model.weights)
    trained = adaptation.speaker_adversary(model, 3, 0.5)
    assert len(model.weights) == n  # the served model gains no weights
    x = np.random.default_rng(0).normal(0, 0.1, (2, 8000)).astype("float32")
    out = trained(x)
    assert out["speaker"].shape == (2, 3)
    np.testing.assert_allclose(out["probabilities"], model(x), atol=1e-6)
    # The speaker loss's gradient reaches the shared layers reversed and scaled (oracle: the
    # same head on the pooled features without the reversal).
    y = tf.constant([0, 2])
    conv = model.get_layer("conv1").kernel
    pooled = keras.Model(model.inputs, model.get_layer("global_pool").output)

    def grad(logits_fn):
        with tf.GradientTape() as tape:
            loss = keras.losses.sparse_categorical_crossentropy(y, logits_fn(), from_logits=True)
        return tape.gradient(loss, conv)

    reversed_ = grad(lambda: trained(x)["speaker"])
    plain = grad(lambda: trained.get_layer("speaker")(
        trained.get_layer("speaker_hidden")(pooled(x))))
    assert float(tf.reduce_max(tf.abs(plain))) > 0
    np.testing.assert_allclose(reversed_, -0.5 * plain, rtol=1e-4, atol=1e-8)
    with pytest.raises(ValueError, match="num_speakers"):
        adaptation.speaker_adversary(model, 1, 0.5)
