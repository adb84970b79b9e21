"""tfdl.keywords.model, config checks and streaming detection: golden parameter counts, raw
waveforms of any length, builder hyperparameters, `detect` on a tone oracle."""

import dataclasses

import numpy as np
import pytest

from conftest import sine
from tfdl.errors import InputError
from tfdl.keywords.config import Config
from tfdl.keywords.model import MODELS, num_frames
from tfdl.keywords.serve import detect


@pytest.mark.parametrize("flag,value", [("time_shift_ms", 600.0), ("background_volume", 2.0),
                                        ("silence_percentage", -1.0), ("window_size_ms", 900.0),
                                        ("model", "rnn"), ("epochs", 0), ("dropout", 1.5),
                                        ("schedule", "step"), ("eval_snr_db", ("x",))])
def test_config_validation_names_the_flag(flag, value):
    cfg = dataclasses.replace(Config(clip_duration_ms=500), **{flag: value})
    with pytest.raises(InputError, match=f"--config.{flag}"):
        cfg.validate()


@pytest.mark.parametrize("name,params", [("cnn", 347388), ("ds_cnn", 24492),
                                         ("ffnn", 1072812)])
def test_models_take_raw_waveforms_of_any_length(name, params):
    m = MODELS.build(name, num_classes=12)
    assert m.count_params() == params  # default 16 kHz, 1 s, 40 MFCC, 12 classes
    for n in (5000, 16000, 20000):
        y = m(np.zeros((2, n), np.float32)).numpy()
        assert y.shape == (2, 12)
        np.testing.assert_allclose(y.sum(1), 1.0, atol=1e-5)


def test_model_hyperparameters_and_log_mel():
    m = MODELS.build("cnn", num_classes=3, sample_rate=8000, clip_duration_ms=500,
                     preprocess="log-mel", feature_bin_count=20, filters=(8,), dense_units=(16,),
                     dropout=0.1, batchnorm=True, padding="same")
    assert m.get_layer("log_mel").output.shape[1:] == (num_frames(8000, 500, preprocess="log-mel"),
                                                       20)
    m = MODELS.build("ds_cnn", num_classes=3, sample_rate=8000, clip_duration_ms=500, depth=1,
                     filters=8)
    assert m.output_shape == (None, 3)
    with pytest.raises(ValueError, match="dropout"):
        MODELS.build("ffnn", num_classes=3, dropout=1.5)


def test_relative_log_mel_ignores_the_recording_level():
    """`relative-log-mel`: a gain changes the log-mel by a constant, which the front end
    removes; plain `log-mel` keeps it. (Its `UtteranceNorm` removing a channel's per-band
    offset is tested in test_digits_models.py.)"""
    wave = np.random.default_rng(0).normal(0, 0.1, (1, 8000)).astype(np.float32)
    kw = dict(num_classes=3, sample_rate=8000, clip_duration_ms=1000, feature_bin_count=20,
              filters=(4,), dense_units=(8,))
    robust = MODELS.build("cnn", preprocess="relative-log-mel", **kw)
    assert [robust.get_layer(n) for n in ("log_mel", "relative_level", "utterance_norm")]
    np.testing.assert_allclose(robust(0.05 * wave).numpy(), robust(wave).numpy(), atol=1e-4)
    plain = MODELS.build("cnn", preprocess="log-mel", **kw)
    assert np.abs(plain(0.05 * wave).numpy() - plain(wave).numpy()).max() > 1e-3


def _tone_probs(labels, freqs, rate):
    """A fake model: the class whose tone dominates the window, else silence."""
    def fn(windows):
        spec = np.abs(np.fft.rfft(windows, axis=1))
        f = np.argmax(spec, axis=1) * rate / windows.shape[1]
        energy = np.mean(windows ** 2, axis=1)
        out = np.zeros((len(windows), len(labels)))
        for i in range(len(windows)):
            k = 0
            if energy[i] > 1e-3:
                k = int(np.argmin([abs(f[i] - g) if g else 1e9 for g in freqs]))
            out[i, k] = 1.0
        return out
    return fn


def test_detect_streaming_finds_words_at_their_times():
    rate, labels = 8000, ["_silence_", "_unknown_", "a", "b"]
    freqs = [None, None, 500, 1200]
    x = np.zeros(8 * rate, np.float32)
    for t, f in ((1.0, 500), (3.5, 1200), (6.0, 500)):
        s = int(t * rate)
        x[s:s + rate // 2] = sine(f, 0.5, rate)
    found = detect(_tone_probs(labels, freqs, rate), x, rate, rate, labels, hop_ms=100,
                   average_window_ms=300, threshold=0.6, suppression_ms=750)
    assert [d["label"] for d in found] == ["a", "b", "a"]
    for d, t in zip(found, (1.25, 3.75, 6.25)):
        assert abs(d["time_s"] - t) < 0.6
    assert detect(_tone_probs(labels, freqs, rate), np.zeros(100), rate, rate, labels) == []
    with pytest.raises(InputError, match="--hop_ms"):
        detect(_tone_probs(labels, freqs, rate), x, rate, rate, labels, hop_ms=0)


def test_builders_take_an_activation_for_the_search():
    for name in MODELS.names():
        model = MODELS.build(name, num_classes=4, activation="elu")
        acts = [getattr(layer, "activation", None) for layer in model.layers]
        assert any(getattr(a, "__name__", "") == "elu" for a in acts), name
