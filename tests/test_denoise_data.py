"""tfdl.denoise.data: STFT round trip, SNR, the noisy-phase oracle, training crops, bad files."""

import dataclasses

import numpy as np
import pytest
import tensorflow as tf

from conftest import sine, write_wav
from tfdl import features, metrics
from tfdl.denoise import data
from tfdl.denoise.config import Config
from tfdl.errors import InputError

RATE = 16000


def _speechy(seconds=1.0, seed=0):
    rng = np.random.default_rng(seed)
    n = int(seconds * RATE)
    env = 0.5 + 0.5 * np.sin(2 * np.pi * 3 * np.arange(n) / RATE)
    return (env * (sine(220, seconds, RATE, 0.3) + sine(660, seconds, RATE, 0.1))
            + 0.01 * rng.standard_normal(n)).astype(np.float32)


def _cfg(**fields):
    """The `fc` defaults with `fields` changed, and no augmentation unless asked for."""
    return dataclasses.replace(Config(remix=0.0, noise_gain_db=0.0), **fields)


def test_stft_round_trip_is_identity():
    x = _speechy(0.77)  # not a whole number of hops
    ri = data.spectrum(x, 1024, 512)
    assert ri.shape[1:] == (513, 2)
    y = data.reconstruct(ri, len(x), 1024, 512).numpy()
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
    assert metrics.snr(clean, data.oracle_noisy_phase(clean, 2 * clean)) > 60
    # Phase flipped everywhere: the oracle returns -clean, SNR = 10 log10(1/4).
    flipped = data.oracle_noisy_phase(clean, -0.5 * clean)
    assert metrics.snr(clean, flipped) == pytest.approx(10 * np.log10(0.25), abs=1e-3)


@pytest.mark.dataset("denoise")
def test_real_data_input_and_oracle_snr_on_validation_tail(data_root):
    folder = data_root / "denoise"
    clean, noisy, rate = data.load_pair(folder / data.CLEAN, folder / data.NOISY)
    assert rate == RATE and len(clean) == 1258899
    cut = data.split_point(len(clean), 0.15)
    sv, xv = clean[cut:], noisy[cut:]
    # The reference numbers (librosa STFT 1024/512): 3.3 dB and 17.0 dB.
    assert metrics.snr(sv, xv) == pytest.approx(3.28, abs=0.05)
    assert metrics.snr(sv, data.oracle_noisy_phase(sv, xv)) == pytest.approx(16.99, abs=0.05)


def test_chunk_dataset_crops_and_remix():
    clean = _speechy(1.5)
    noisy = clean + sine(3000, 1.5, RATE, amplitude=0.1)
    frames = 1 + (len(clean) - 1024) // 512
    ds = data.chunk_dataset(clean, noisy, _cfg(chunk_frames=8, batch_size=4, remix=1.0))
    batches = list(ds)
    assert len(batches) == -(-data.default_crops(frames, 8, 4) // 4)
    xb, yb = batches[0]
    assert xb.shape == (4, 8, 513, 2) and yb.shape == xb.shape
    # Whatever the crop or remix offset, noisy - clean is the (stationary) sine's
    # spectrum: same energy in every crop of a batch (a gain of 3 dB at most).
    d = features.inverse_stft(tf.complex(*tf.unstack(xb - yb, axis=-1)), 1024, 512)
    peak = np.abs(d.numpy()).max(axis=1)
    assert np.all(peak < 0.1 * 10 ** (3 / 20) + 1e-3)
    assert np.all(peak > 0.1 * 10 ** (-3 / 20) - 1e-3)
    assert np.abs(yb).max() > 0  # the clean crops are speech, not the silent padding


def test_chunk_dataset_noise_gain_and_flips():
    clean = _speechy(1.5)
    ramp = 0.05 + 0.05 * np.arange(len(clean)) / len(clean)  # positive, rising noise

    def noises(**kw):
        cfg = _cfg(chunk_frames=4, batch_size=64, fft_length=256, frame_step=128, **kw)
        xb, yb = next(iter(data.chunk_dataset(clean, clean + ramp, cfg, crops_per_epoch=64)))
        d = features.inverse_stft(tf.complex(*tf.unstack(xb - yb, axis=-1)), 256, 128)
        return d.numpy()[:, 128:-128]  # away from the crop's edges

    d = noises()
    # No gain, no flips: the recording's noise, positive and rising.
    slopes = np.polyfit(np.arange(d.shape[1]), d.T, 1)[0]
    np.testing.assert_allclose(slopes, 0.05 / len(clean), rtol=0.02)
    assert np.all(d.mean(axis=1) > 0)
    # A random gain in +-6 dB: slopes between half and twice the recording's, both ends met.
    ratios = np.polyfit(np.arange(d.shape[1]), noises(noise_gain_db=6.0).T, 1)[0] / slopes
    assert np.all((ratios > 10 ** (-6 / 20) - 0.01) & (ratios < 10 ** (6 / 20) + 0.01))
    assert ratios.min() < 0.7 and ratios.max() > 1.4
    d = noises(noise_flip=True)
    signs = {(m > 0, r > 0) for m, r in zip(d.mean(axis=1), d[:, -1] - d[:, 0])}
    assert signs == {(True, True), (True, False), (False, True), (False, False)}


def _clean_crop_spectra(speech, count, **kw):
    """`count` training crops of `speech` plus a constant noise of 0.01 (4 frames of a
    256/128 STFT): checks that the crops' noise is the recording's (noisy - clean is the
    constant) and returns their clean magnitudes averaged over frames, `[count, 129]`."""
    cfg = _cfg(chunk_frames=4, batch_size=count, fft_length=256, frame_step=128, **kw)
    xb, yb = next(iter(data.chunk_dataset(speech, speech + 0.01, cfg, crops_per_epoch=count)))
    np.testing.assert_allclose(xb[:, :, 0, 0] - yb[:, :, 0, 0], 0.01 * 128, rtol=0.05)
    return np.hypot(yb[..., 0], yb[..., 1]).mean(axis=1)


def test_speed_change_and_speech_speed_crops():
    tone = sine(500, 1.0, RATE)
    fast = data.speed_change(tone, 1.25)
    assert len(fast) == 12800 and fast.dtype == np.float32
    peak = np.abs(np.fft.rfft(fast[1000:-1000] * np.hanning(10800))).argmax()
    assert abs(peak * RATE / 10800 - 625) < 2  # 1.25 x 500 Hz

    def freqs(count, **kw):
        """The crops' clean tone frequencies, rounded to the nearest 62.5 Hz bin."""
        mag = _clean_crop_spectra(tone, count, **kw)
        return set(np.round(mag.argmax(axis=-1) * RATE / 256 / 62.5) * 62.5)

    # Crops of a 500 Hz tone with speech_speed=0.2 hold 400, 500 and 600 Hz, all three.
    assert freqs(60, speech_speed=0.2) == {375.0, 500.0, 625.0}  # nearest bins
    assert freqs(20) == {500.0}
    with pytest.raises(InputError, match="--config.speech_speed"):
        Config(speech_speed=0.5).validate()


def test_other_voices_share_the_crops():
    """With voices=p, a share p of the crops holds another voice (a 1500 Hz tone here) mixed
    with the other noise at an SNR in VOICES_SNR_DB; the rest are the pair's (500 Hz)."""
    tone, other = sine(500, 1.0, RATE), 0.5 * sine(1500, 2.0, RATE)
    noise = np.random.default_rng(0).normal(0, 0.05, 2 * RATE).astype(np.float32)
    cfg = _cfg(chunk_frames=4, batch_size=200, fft_length=256, frame_step=128, voices=0.5,
               remix=0.0, noise_gain_db=0.0)
    xb, yb = next(iter(data.chunk_dataset(tone, tone + 0.01, cfg, crops_per_epoch=200,
                                          voices=([other], noise))))
    peak = np.hypot(yb[..., 0], yb[..., 1]).mean(axis=1).argmax(axis=-1) * RATE / 256
    voices = np.abs(peak - 1500) < 40
    assert set(np.round(peak[~voices])) == {500.0}
    assert 0.35 < voices.mean() < 0.65  # p = 0.5 of 200 crops
    # Their noise is the other noise, at an input SNR within the range (spectra: Parseval).
    x, y = np.asarray(xb)[voices], np.asarray(yb)[voices]
    snr = 10 * np.log10((y ** 2).sum(axis=(1, 2, 3)) / ((x - y) ** 2).sum(axis=(1, 2, 3)))
    low, high = data.VOICES_SNR_DB
    assert np.all(snr > low - 1.5) and np.all(snr < high + 1.5) and np.ptp(snr) > 5
    # voices=0, or no voices given: the pair only.
    for kw, given in ((dict(voices=0.0), ([other], noise)), (dict(voices=0.5), None)):
        c = dataclasses.replace(cfg, **kw)
        _, yb = next(iter(data.chunk_dataset(tone, tone + 0.01, c, crops_per_epoch=50,
                                             voices=given)))
        peak = np.hypot(yb[..., 0], yb[..., 1]).mean(axis=1).argmax(axis=-1) * RATE / 256
        assert set(np.round(peak)) == {500.0}
    with pytest.raises(InputError, match="--config.voices"):
        _cfg(voices=1.5).validate()
    with pytest.raises(InputError, match="--config.select_on"):
        _cfg(select_on="best").validate()


def test_load_pair_rejects_bad_input(tmp_path):
    a = _speechy(0.5)
    good = write_wav(tmp_path / "clean.wav", a, RATE)
    with pytest.raises(InputError, match="not found"):
        data.load_pair(tmp_path / "missing.wav", good)
    stereo = write_wav(tmp_path / "stereo.wav", np.stack([a, a], 1), RATE)
    with pytest.raises(InputError, match="2 channels"):
        data.load_pair(good, stereo)
    other_rate = write_wav(tmp_path / "rate.wav", a, 8000)
    with pytest.raises(InputError, match="different sample rates"):
        data.load_pair(good, other_rate)
    shorter = write_wav(tmp_path / "short.wav", a[:-10], RATE)
    with pytest.raises(InputError, match="differ in length"):
        data.load_pair(good, shorter)
    silent = write_wav(tmp_path / "silent.wav", np.zeros_like(a), RATE)
    with pytest.raises(InputError, match="silent"):
        data.load_pair(silent, good)
    clean, noisy, rate = data.load_pair(good, good)
    assert rate == RATE and len(clean) == len(noisy) == len(a)


def test_load_split_cuts_the_tail_and_the_training_audio(tmp_path):
    a = _speechy(2.0)
    c, n = write_wav(tmp_path / "c.wav", a, RATE), write_wav(tmp_path / "n.wav", a + 0.01, RATE)
    split = data.load_split(_cfg(), c, n)
    cut = data.split_point(len(a), 0.15)
    assert (len(split.clean), len(split.val_clean), split.part_samples) == (cut, len(a) - cut,
                                                                            cut)
    part = data.load_split(_cfg(train_seconds=1.0, max_seconds=1.8), c, n)
    cut = data.split_point(int(1.8 * RATE), 0.15)
    assert (len(part.clean), len(part.val_clean), part.part_samples) == (RATE, int(1.8 * RATE)
                                                                         - cut, cut)
    np.testing.assert_array_equal(part.noisy, split.noisy[:RATE])
    whole = data.load_pair(c, n)[0]
    np.testing.assert_array_equal(part.val_clean, whole[cut:int(1.8 * RATE)])
    with pytest.raises(InputError, match="--config.train_seconds must lie between"):
        data.load_split(_cfg(train_seconds=1.8), c, n)
    with pytest.raises(InputError, match="too few .*--config.val_fraction=0.15"):
        data.load_split(_cfg(max_seconds=0.1), c, n)


def test_load_test_rejects_short_and_silent(tmp_path):
    with pytest.raises(InputError, match="too short"):
        data.load_test(write_wav(tmp_path / "s.wav", _speechy(0.05), RATE), RATE, 1024)
    with pytest.raises(InputError, match="silent"):
        data.load_test(write_wav(tmp_path / "z.wav", np.zeros(4000), RATE), RATE, 1024)
    wave, rate = data.load_test(write_wav(tmp_path / "r.wav", _speechy(0.5)[::2], 8000),
                                RATE, 1024)
    assert rate == 8000 and len(wave) == 8000  # resampled to the model's rate


def test_resolve_finds_bare_names_in_the_data_folder(mini_denoise, tmp_path):
    assert data.resolve("test_01_x.wav", str(mini_denoise)) == mini_denoise / "test_01_x.wav"
    assert data.resolve(str(mini_denoise / data.CLEAN), None, "clean").is_file()
    with pytest.raises(InputError, match=r"--test: file not found: nope.wav \(looked in"):
        data.resolve("nope.wav", str(mini_denoise))
    with pytest.raises(InputError, match="--noisy: file not found"):
        data.resolve(str(tmp_path / "nope.wav"), str(mini_denoise), "noisy")


def test_test_outputs_never_collide():
    from pathlib import Path

    from tfdl.denoise.train import output_names

    paths = [Path("a/x.wav"), Path("b/x.wav"), Path("validation.wav"), Path("x_2.wav"),
             Path("c/x.flac")]
    names = output_names(paths)
    assert names == ["x", "x_2", "validation_2", "x_2_2", "x_3"]
    assert len(set(names) | {"validation"}) == len(paths) + 1
