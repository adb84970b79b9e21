import dataclasses

import numpy as np
import pytest
import tensorflow as tf

from conftest import sine, write_wav
from test_speech_commands import make_corpus
from tfdl import keywords as kw
from tfdl.errors import InputError
from tfdl.models.keywords import MODELS, num_frames


def _cfg(root, **kwargs):
    base = dict(data_dir=str(root), wanted_words=("a", "b"), sample_rate=8000,
                clip_duration_ms=500, validation_percentage=25, testing_percentage=25,
                unknown_percentage=50, silence_percentage=50, batch_size=4)
    base.update(kwargs)
    return kw.KeywordsConfig(**base).validate()


def test_decode_resamples_a_known_sine_and_pads_or_crops(tmp_path):
    p8 = write_wav(tmp_path / "a8.wav", sine(440, 0.25, 8000), 8000)  # short: padded
    p16 = write_wav(tmp_path / "a16.wav", sine(440, 1.0, 16000), 16000)  # long: cropped
    out = kw.decode_clips([p8, p16], 16000, 8000)
    assert out.shape == (2, 8000)
    spec = np.abs(np.fft.rfft(out[0, :4000]))
    assert abs(np.argmax(spec) * 16000 / 4000 - 440) <= 4
    np.testing.assert_allclose(out[0, 4100:], 0.0)  # padded with zeros after 0.25 s
    np.testing.assert_allclose(out[1], sine(440, 0.5, 16000), atol=1e-3)  # cropped at 0.5 s
    # Same tone at the same level (RMS of a 0.5 sine), nothing folded elsewhere.
    np.testing.assert_allclose(np.sqrt(np.mean(out[0, 400:3600] ** 2)), 0.5 / np.sqrt(2),
                               rtol=0.03)
    assert spec[np.abs(np.arange(len(spec)) * 4 - 440) > 40].max() < 0.05 * spec.max()
    assert kw.decode_clips([p8, p16], 16000, 8000) is out  # cached


def test_decode_names_a_bad_file(tmp_path):
    good = write_wav(tmp_path / "g.wav", sine(300, 0.1, 8000), 8000)
    bad = tmp_path / "b.wav"
    bad.write_bytes(b"RIFF\x00\x00\x00\x00WAVEjunk")
    with pytest.raises(InputError, match="b.wav"):
        kw.decode_clips([good, bad], 8000, 800)


def _noise_bank():
    rng = np.random.default_rng(1)
    return kw.noise_bank([rng.uniform(-1, 1, 5000).astype(np.float32)], 1000)


def test_noise_bank_segments_cover_every_offset():
    clip = np.arange(5000, dtype=np.float32)
    bank = kw.noise_bank([clip], 1000)
    assert bank.shape == (4, 2000)
    np.testing.assert_array_equal(bank[1], clip[1000:3000])
    short = kw.noise_bank([np.ones(300, np.float32)], 1000)
    assert short.shape == (1, 2000)


@pytest.mark.parametrize("in_map", [False, True])
def test_augmenter_eager_and_in_dataset_map(in_map):
    tf.random.set_seed(0)
    x = np.zeros(1000, np.float32)
    x[400:600] = 0.5
    fn = kw.augmenter(_noise_bank(), 8000, time_shift_ms=25.0, background_frequency=1.0,
                      background_volume=0.1)
    inputs = (np.stack([x] * 8), np.array([2] * 7 + [0], np.int32))
    if in_map:
        out = list(tf.data.Dataset.from_tensor_slices(inputs).map(fn).as_numpy_iterator())
    else:
        out = [tuple(np.asarray(t) for t in fn(a, b)) for a, b in zip(*inputs)]
    for wave, label in out[:7]:
        assert wave.shape == (1000,) and label == 2
        # Shift <= 200 samples and noise <= 0.1: the pulse stays inside [200, 800).
        assert np.all(np.abs(wave[:200]) <= 0.1 + 1e-6)
        assert np.all(np.abs(wave[800:]) <= 0.1 + 1e-6)
        assert np.mean(np.abs(wave[400:600])) > 0.2 or np.mean(np.abs(wave)) > 0.05
    silence, label = out[7]
    assert label == 0 and np.max(np.abs(silence)) <= 1.0
    shifts = {int(np.argmax(np.abs(w) > 0.3)) for w, _ in out[:7]}
    assert len(shifts) > 1  # random shifts


def test_augmenter_without_noise_is_pure_zero_fill_shift():
    x = np.arange(1, 101, dtype=np.float32) / 100
    fn = kw.augmenter(None, 1000, time_shift_ms=10.0)
    for _ in range(5):
        y, _ = fn(x, 3)
        y = y.numpy()
        nz = np.flatnonzero(y)
        shift = nz[0] - 0 if y[nz[0]] == x[0] else -(int(round(y[0] * 100)) - 1)
        np.testing.assert_allclose(y, np.roll(np.pad(x, 10), shift)[10:110], atol=1e-7)
    fn = kw.augmenter(None, 1000, time_shift_ms=0.0)
    np.testing.assert_array_equal(fn(x, 3)[0].numpy(), x)


def test_mix_noise_reaches_the_snr():
    rng = np.random.default_rng(0)
    clean = np.stack([sine(300, 0.25, 8000)] * 3)
    noise = [rng.standard_normal(8000).astype(np.float32)]
    for snr in (0.0, 10.0):
        mixed = kw.mix_noise(clean, noise, snr, seed=3)
        n = mixed - clean
        got = 10 * np.log10(np.sum(clean ** 2, 1) / np.sum(n ** 2, 1))
        np.testing.assert_allclose(got, snr, atol=0.01)


def test_prepare_labels_and_silence(tmp_path):
    root = make_corpus(tmp_path / "kw")
    data = kw.prepare(_cfg(root, held_out_noise=("hum.wav",)))
    assert data.corpus.labels == ["_silence_", "_unknown_", "a", "b"]
    te = data.splits["testing"]
    # s1's clips of a (8 kHz, resampled) and b, plus unknown and silence examples.
    assert sorted(set(te.labels.tolist())) >= [0, 2, 3]
    assert te.waves.shape[1] == 4000
    assert [p.name for p in data.eval_noise_files] == ["hum.wav"]
    assert [p.name for p in data.train_noise_files] == ["white.wav"]
    # Noise is peak-normalised; test silence is training (white) noise at a volume in [0, 1],
    # never the held-out hum; training silence is drawn per epoch in the pipeline.
    assert np.isclose(np.abs(data.train_noise[0]).max(), 1.0)
    sil = te.waves[te.labels == 0]
    assert len(sil) == 2 and np.all(np.abs(sil) <= 1.0)
    spec = np.abs(np.fft.rfft(sil, axis=1))
    assert np.all(spec[:, 10:40].sum(1) < 0.5 * spec.sum(1))  # not the 50 Hz hum (bin 25)
    assert np.all(data.splits["training"].waves[data.splits["training"].labels == 0] == 0)


def test_prepare_bad_inputs(tmp_path):
    root = make_corpus(tmp_path / "kw", noise=False)
    with pytest.raises(InputError,
                       match="_background_noise_ does not exist.*background_frequency=0"):
        kw.prepare(_cfg(root))
    data = kw.prepare(_cfg(root, background_frequency=0.0))  # noise off: fine
    assert data.train_noise == []
    root2 = make_corpus(tmp_path / "kw2")
    with pytest.raises(InputError, match="--held_out_noise file 'rain.wav'"):
        kw.prepare(_cfg(root2, held_out_noise=("rain.wav",)))
    with pytest.raises(InputError, match="no files left for training"):
        kw.prepare(_cfg(root2, held_out_noise=("hum.wav", "white.wav")))


@pytest.mark.parametrize("flag,value", [("time_shift_ms", 600.0), ("background_volume", 2.0),
                                        ("silence_percentage", -1.0), ("window_size_ms", 900.0),
                                        ("model", "rnn"), ("epochs", 0)])
def test_config_validation_names_the_flag(flag, value):
    cfg = dataclasses.replace(kw.KeywordsConfig(clip_duration_ms=500), **{flag: value})
    with pytest.raises(InputError, match=f"--{flag}"):
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
    found = kw.detect(_tone_probs(labels, freqs, rate), x, rate, rate, labels, hop_ms=100,
                      average_window_ms=300, threshold=0.6, suppression_ms=750)
    assert [d["label"] for d in found] == ["a", "b", "a"]
    for d, t in zip(found, (1.25, 3.75, 6.25)):
        assert abs(d["time_s"] - t) < 0.6
    assert kw.detect(_tone_probs(labels, freqs, rate), np.zeros(100), rate, rate, labels) == []
    with pytest.raises(InputError, match="--hop_ms"):
        kw.detect(_tone_probs(labels, freqs, rate), x, rate, rate, labels, hop_ms=0)


def test_builders_take_an_activation_for_the_search():
    from tfdl.models.keywords import MODELS

    for name in MODELS.names():
        model = MODELS.build(name, num_classes=4, activation="elu")
        acts = [getattr(layer, "activation", None) for layer in model.layers]
        assert any(getattr(a, "__name__", "") == "elu" for a in acts), name
