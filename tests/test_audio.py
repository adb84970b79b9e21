import numpy as np
import pytest
import tensorflow as tf

from conftest import sine, write_wav
from tfdl import audio
from tfdl.errors import InputError

pytestmark = pytest.mark.smoke  # decode and resampling against oracles, on every Python


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


def _peak_hz(y, rate):
    spec = np.abs(np.fft.rfft(y * np.hanning(len(y))))
    return np.argmax(spec) * rate / len(y)


@pytest.mark.parametrize("rate_in,rate_out", [(8000, 16000), (16000, 8000), (44100, 8000),
                                              (8000, 44100), (22050, 16000)])
def test_resample_sine_keeps_frequency_and_length(rate_in, rate_out):
    x = sine(440, 0.5, rate_in)
    y = audio.resample(x, rate_in, rate_out).numpy()
    assert y.dtype == np.float32 and len(y) == round(len(x) * rate_out / rate_in)
    assert abs(_peak_hz(y, rate_out) - 440) < 4
    # The amplitude survives (no gain change in the pass band), away from the edges.
    assert np.abs(y[len(y) // 4:-len(y) // 4]).max() == pytest.approx(0.5, abs=0.02)


@pytest.mark.parametrize("n", [0, 1, 7, 1001, 4999])
def test_resample_length_is_round_n_out_over_in(n):
    for rate_in, rate_out in [(16000, 8000), (8000, 16000), (44100, 8000), (3000, 7000)]:
        y = audio.resample(np.zeros(n, np.float32), rate_in, rate_out)
        assert y.shape == (round(n * rate_out / rate_in),), (n, rate_in, rate_out)


def test_resample_suppresses_energy_above_the_new_nyquist():
    # 6 kHz is above 8 kHz's Nyquist (4 kHz): downsampling must remove it, not fold it
    # to 2 kHz. What the mixture leaves beyond the 500 Hz tone alone is the residue.
    keep, alias = sine(500, 1.0, 16000), sine(6000, 1.0, 16000)
    y = audio.resample(keep + alias, 16000, 8000).numpy()
    residual = (y - audio.resample(keep, 16000, 8000).numpy())[200:-200]  # filter edges off
    assert 10 * np.log10(np.sum(residual ** 2) / np.sum(alias[::2][200:-200] ** 2)) < -80


@pytest.mark.parametrize("rate", [1000, 8000, 11025, 16000, 22050, 44100, 48000, 96000, 192000])
def test_resample_any_rate_from_1k_to_192k(rate):
    x = sine(200, 0.25, 16000)
    y = audio.resample(x, 16000, rate).numpy()
    assert len(y) == round(len(x) * rate / 16000)
    assert abs(_peak_hz(y, rate) - 200) < 8
    back = audio.resample(y, rate, 16000).numpy()
    assert abs(_peak_hz(back, 16000) - 200) < 8


@pytest.mark.parametrize("bad", [0, -8000, 8000.5, None, True])
def test_resample_bad_rate_is_a_one_line_value_error(bad):
    for args in [(bad, 8000), (8000, bad)]:
        with pytest.raises(ValueError, match=r"rate_(in|out) must be a positive integer") as e:
            audio.resample(np.zeros(10, np.float32), *args)
        assert "\n" not in str(e.value)


def test_resample_equal_rates_is_no_op_and_never_loads_tensorflow_io():
    import sys

    x = tf.constant(sine(440, 0.1, 8000))
    assert audio.resample(x, 8000, 8000) is x
    f = tf.function(lambda a: audio.resample(a, 8000, 8000))
    ops = {op.type for op in f.get_concrete_function(tf.TensorSpec([None])).graph.get_operations()}
    assert not ops & {"PyFunc", "EagerPyFunc", "NumpyFunction"}
    audio.resample(x, 8000, 16000)
    assert "tensorflow_io" not in sys.modules  # results never depend on the [io] extra


def test_resample_graph_matches_eager():
    x = sine(440, 0.3, 8000)
    eager = audio.resample(x, 8000, 16000).numpy()
    graph = tf.function(lambda a, r: audio.resample(a, r, 16000))(tf.constant(x),
                                                                 tf.constant(8000)).numpy()
    np.testing.assert_array_equal(eager, graph)


def test_resample_in_dataset_map_with_per_file_rate(wav_factory):
    paths = [str(wav_factory("a.wav", sine(440, 0.25, 8000), 8000)),
             str(wav_factory("b.wav", sine(440, 0.25, 16000), 16000))]

    def load(p):
        x, rate = audio.decode_wav(tf.io.read_file(p))
        return audio.resample(x, rate, 16000)

    out = list(tf.data.Dataset.from_tensor_slices(paths).map(load).as_numpy_iterator())
    assert [len(x) for x in out] == [4000, 4000]
    assert all(abs(_peak_hz(x, 16000) - 440) < 8 for x in out)


def test_write_wav_refuses_nan(tmp_path):
    with pytest.raises(InputError, match="non-finite"):
        audio.write_wav(tmp_path / "x.wav", np.array([0.0, np.nan]), 8000)


def test_sine_helper_roundtrip(tmp_path):
    p = write_wav(tmp_path / "x.wav", sine(100, 0.01, 8000), 8000)
    assert audio.wav_info(p)["frames"] == 80


def test_undecodable_and_truncated_wavs_are_one_line_errors_without_tf_internals(tmp_path):
    good = write_wav(tmp_path / "a.wav", sine(300, 0.1, 8000), 8000)
    bad = tmp_path / "b.wav"
    bad.write_bytes(b"\xfe" * 100)  # TensorFlow cannot even decode its own error message
    short = tmp_path / "c.wav"
    short.write_bytes(good.read_bytes()[:200])  # the header promises more data than is there
    for path, match in [(bad, "not a WAV file"), (short, "corrupt WAV")]:
        for call in (audio.read_audio, audio.check_wav):
            with pytest.raises(InputError, match=match) as e:
                call(path)
            assert str(path) in str(e.value) and "\n" not in str(e.value)
            assert "function_node" not in str(e.value) and "[Op:" not in str(e.value)
    assert audio.check_wav(good)["frames"] == 800


def test_tf_error_message_keeps_what_the_user_can_act_on():
    class E(Exception):
        message = ("{{function_node __wrapped__DecodeWav_device_/job:localhost/replica:0/task:0/"
                   "device:CPU:0}} Data too short when trying to read string [Op:DecodeWav] "
                   "name: \nmore")

    assert audio.tf_error_message(E()) == "Data too short when trying to read string"
