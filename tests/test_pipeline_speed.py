"""The fast paths of the feature pipeline give the same numbers as the plain ones.

`decode_wav_batch` (one `decode_raw` for a batch of canonical PCM WAVs) against
`load_waveform` (per-file `decode_wav` + resample); the half-flop `dft_power`,
the static-length framing and the matmul DCT of `mfcc` against numpy and
python_speech_features, for shapes the FSDD parity test does not cover.
"""

import struct

import numpy as np
import pytest
import tensorflow as tf

from conftest import sine, write_wav
from tfdl import features, pipeline


def _per_file(paths, sample_rate, length):
    return np.stack([pipeline.load_waveform(tf.constant(str(p)), sample_rate, length).numpy()
                     for p in paths])


def _batch(paths, sample_rate, length):
    contents = pipeline.read_files(tf.constant([str(p) for p in paths]))
    return pipeline.decode_wav_batch(contents, sample_rate, length).numpy()


def test_decode_wav_batch_fast_path_equals_decode_wav(tmp_path):
    rng = np.random.default_rng(0)
    # Shorter and longer than `length`, and one at full scale (-1.0 and the int16 extremes).
    waves = [rng.uniform(-1, 1, 700), rng.uniform(-1, 1, 1500), np.r_[-1.0, 1.0, 0.0, 0.5]]
    paths = [write_wav(tmp_path / f"{i}.wav", w, 8000) for i, w in enumerate(waves)]
    got = _batch(paths, 8000, 1000)
    assert got.shape == (3, 1000) and got.dtype == np.float32
    np.testing.assert_array_equal(got, _per_file(paths, 8000, 1000))


def test_decode_wav_batch_ignores_chunks_after_the_data(tmp_path):
    # A canonical header whose data chunk is followed by a LIST chunk: its bytes are no
    # samples, so the fast path must stop at the data size (decode_wav does).
    pcm = (np.arange(1, 301, dtype=np.int16) * 50).tobytes()
    tail = b"LIST" + struct.pack("<I", 8) + b"INFOtest"
    header = (b"RIFF" + struct.pack("<I", 36 + len(pcm) + len(tail)) + b"WAVEfmt " +
              struct.pack("<IHHIIHH", 16, 1, 1, 8000, 16000, 2, 16) + b"data" +
              struct.pack("<I", len(pcm)))
    path = tmp_path / "list.wav"
    path.write_bytes(header + pcm + tail)
    plain = write_wav(tmp_path / "plain.wav", sine(300, 0.05, 8000), 8000)
    got = _batch([path, plain], 8000, 400)
    np.testing.assert_array_equal(got, _per_file([path, plain], 8000, 400))
    np.testing.assert_array_equal(got[0, 300:], 0.0)


def test_decode_wav_batch_falls_back_for_other_rates_and_stereo(tmp_path):
    mono8 = write_wav(tmp_path / "a.wav", sine(440, 0.1, 8000), 8000)
    mono16 = write_wav(tmp_path / "b.wav", sine(440, 0.1, 16000), 16000)  # resampled
    stereo = write_wav(tmp_path / "c.wav", np.stack([sine(440, 0.1, 8000),
                                                     sine(900, 0.1, 8000)], 1), 8000)
    paths = [mono8, mono16, stereo]
    got = _batch(paths, 8000, 900)
    np.testing.assert_array_equal(got, _per_file(paths, 8000, 900))
    # The resampled file keeps its 440 Hz tone at the new rate.
    spectrum = np.abs(np.fft.rfft(got[1, :800]))
    assert abs(np.argmax(spectrum) * 8000 / 800 - 440) <= 10


def test_decode_wav_batch_corrupt_file_raises(tmp_path):
    good = write_wav(tmp_path / "good.wav", sine(440, 0.1, 8000), 8000)
    bad = tmp_path / "bad.wav"
    bad.write_bytes(b"RIFF not a wav file at all")
    with pytest.raises(tf.errors.InvalidArgumentError):
        _batch([good, bad], 8000, 800)


def test_feature_dataset_mixed_rates_equals_per_file_features(tmp_path):
    paths = [write_wav(tmp_path / "x.wav", sine(500, 0.3, 8000), 8000),
             write_wav(tmp_path / "y.wav", sine(500, 0.3, 16000), 16000),
             write_wav(tmp_path / "z.wav", sine(1200, 0.2, 8000), 8000)]
    got = np.concatenate([b.numpy() for b in pipeline.feature_dataset(
        paths, sample_rate=8000, length=2000, batch_size=2)])
    want = features.mfcc(_per_file(paths, 8000, 2000), 8000).numpy()
    np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("frame_length", [200, 201, 1])
def test_dft_power_even_odd_and_single_sample_frames(frame_length):
    frames = np.random.default_rng(1).normal(size=(2, 5, frame_length)).astype(np.float32)
    ref = np.abs(np.fft.rfft(frames.astype(np.float64), 256)) ** 2
    got = features.dft_power(tf.constant(frames), 256).numpy()
    assert got.shape == ref.shape
    np.testing.assert_allclose(got, ref, rtol=1e-4, atol=1e-4 * ref.max())


@pytest.mark.parametrize("n", [150, 200, 1000, 1037])
def test_psf_frames_static_and_dynamic_length_agree(n):
    from python_speech_features.sigproc import framesig

    x = np.random.default_rng(2).normal(size=n).astype(np.float32)
    static = features.psf_frames(x, 200, 80).numpy()
    dynamic = tf.function(lambda s: features.psf_frames(s, 200, 80),
                          input_signature=[tf.TensorSpec([None], tf.float32)])(x).numpy()
    np.testing.assert_array_equal(static, dynamic)
    np.testing.assert_array_equal(static, framesig(x, 200, 80))


@pytest.mark.parametrize("kw", [
    dict(),
    dict(frame_length=201, frame_step=77, lifter=0),            # odd frames, no lifter
    dict(preemphasis=0, append_energy=False, num_coefficients=20),
    dict(fft_length=256, num_filters=20, num_coefficients=12),
])
def test_mfcc_matches_python_speech_features_options(kw):
    from python_speech_features import mfcc as psf_mfcc

    x = (sine(300, 0.4, 8000) + 0.3 * sine(1700, 0.4, 8000) +
         0.01 * np.random.default_rng(3).normal(size=3200)).astype(np.float32)
    ours = features.mfcc(x, 8000, **kw).numpy()
    psf_kw = dict(samplerate=8000, winlen=kw.get("frame_length", 200) / 8000,
                  winstep=kw.get("frame_step", 80) / 8000, nfft=kw.get("fft_length", 512),
                  nfilt=kw.get("num_filters", 26), numcep=kw.get("num_coefficients", 13),
                  preemph=kw.get("preemphasis", 0.97), ceplifter=kw.get("lifter", 22),
                  appendEnergy=kw.get("append_energy", True))
    ref = psf_mfcc(x.astype(np.float64), **psf_kw)
    assert ours.shape == ref.shape
    assert np.max(np.abs(ours - ref) / (np.abs(ref) + 1)) < 1e-3
    # Unknown length (the framing's dynamic path) and a batch give the same numbers.
    dynamic = tf.function(lambda s: features.mfcc(s, 8000, **kw),
                          input_signature=[tf.TensorSpec([None, None], tf.float32)])
    np.testing.assert_allclose(dynamic(x[None]).numpy()[0], ours, rtol=1e-5, atol=1e-4)
