import numpy as np
import pytest
import tensorflow as tf

from conftest import sine, write_wav
from tfdl import audio
from tfdl.errors import InputError


def test_decode_wav_matches_written_samples(wav_factory):
    x = sine(440, 0.1, 8000)
    p = wav_factory("a.wav", x, 8000)
    y, rate = audio.decode_wav(tf.io.read_file(str(p)))
    assert int(rate) == 8000
    np.testing.assert_allclose(y.numpy(), x, atol=1 / 32767)


def test_read_audio_stereo_to_mono(wav_factory):
    left, right = sine(440, 0.05, 8000), sine(880, 0.05, 8000)
    p = wav_factory("s.wav", np.stack([left, right], 1), 8000)
    y, _ = audio.read_audio(p)
    np.testing.assert_allclose(y, (left + right) / 2, atol=2 / 32767)


def test_read_audio_float_and_24bit_via_soundfile(tmp_path):
    import soundfile as sf

    x = sine(300, 0.05, 16000)
    for subtype in ("FLOAT", "PCM_24"):
        p = tmp_path / f"{subtype}.wav"
        sf.write(p, x, 16000, subtype=subtype)
        y, rate = audio.read_audio(p)
        assert rate == 16000
        np.testing.assert_allclose(y, x, atol=1e-4)


def test_read_audio_flac(tmp_path):
    import soundfile as sf

    x = sine(300, 0.05, 16000)
    sf.write(tmp_path / "a.flac", x, 16000)
    y, _ = audio.read_audio(tmp_path / "a.flac")
    np.testing.assert_allclose(y, x, atol=1e-4)


@pytest.mark.parametrize("content,msg", [(b"", "empty"), (b"RIFF\x00\x00\x00\x00WAVEjunk", "corrupt"),
                                         (b"hello world, not audio", "not a WAV")])
def test_bad_wav_gives_one_line_error(tmp_path, content, msg):
    p = tmp_path / "bad.wav"
    p.write_bytes(content)
    with pytest.raises(InputError, match=msg) as e:
        audio.read_audio(p)
    assert str(p) in str(e.value) and "\n" not in str(e.value)


def test_missing_file(tmp_path):
    with pytest.raises(InputError, match="not found"):
        audio.read_audio(tmp_path / "nope.wav")


def test_pad_or_trim_batch_and_graph():
    x = tf.ones([2, 5])
    np.testing.assert_array_equal(audio.pad_or_trim(x, 8).numpy()[:, 5:], 0)
    f = tf.function(lambda a: audio.pad_or_trim(a, 3), input_signature=[tf.TensorSpec([None, None])])
    assert f(x).shape == (2, 3)
    with pytest.raises(ValueError, match="length"):
        audio.pad_or_trim(x, 0)


def test_peak_normalize_keeps_silence_finite():
    y = audio.peak_normalize(tf.constant([[0.0, 0.0], [0.25, -0.5]])).numpy()
    np.testing.assert_allclose(y, [[0, 0], [0.5, -1.0]])


def test_resample_sine_keeps_frequency():
    x = sine(440, 0.5, 8000)
    y = audio.resample(x, 8000, 16000).numpy()
    assert abs(len(y) - 8000) <= 1
    spec = np.abs(np.fft.rfft(y * np.hanning(len(y))))
    peak_hz = np.argmax(spec) * 16000 / len(y)
    assert abs(peak_hz - 440) < 4


def test_resample_in_dataset_map_with_per_file_rate(wav_factory):
    paths = [str(wav_factory("a.wav", sine(440, 0.25, 8000), 8000)),
             str(wav_factory("b.wav", sine(440, 0.25, 16000), 16000))]

    def load(p):
        x, rate = audio.decode_wav(tf.io.read_file(p))
        return audio.resample(x, rate, 16000)

    lens = [len(x) for x in tf.data.Dataset.from_tensor_slices(paths).map(load).as_numpy_iterator()]
    assert lens == [4000, 4000]


def test_write_wav_refuses_nan(tmp_path):
    with pytest.raises(InputError, match="non-finite"):
        audio.write_wav(tmp_path / "x.wav", np.array([0.0, np.nan]), 8000)


def test_sine_helper_roundtrip(tmp_path):
    p = write_wav(tmp_path / "x.wav", sine(100, 0.01, 8000), 8000)
    assert audio.wav_info(p)["frames"] == 80
