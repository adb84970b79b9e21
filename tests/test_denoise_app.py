"""apps.denoise: smoke run on a few seconds of the stand-in pair (conftest `mini_denoise`:
real FSDD speech plus synthetic crackle), export parity, bad input."""

import json
import sys

import numpy as np
import pytest
import tensorflow as tf
from absl import flags
from absl.testing import flagsaver

from conftest import load_app, sine, write_wav
from tfdl import cli, denoise
from tfdl.audio import read_audio
from tfdl.errors import InputError

FLAGS = flags.FLAGS
app = None  # apps.denoise, loaded with only its own flags by `_load_app`.
SMOKE = dict(max_seconds=3.0, epochs=1, steps_per_epoch=2, units=32, hidden_layers=2,
             context=1, chunk_frames=8, batch_size=4, audio_every=1, patience=0)


@pytest.fixture(autouse=True, scope="module")
def _load_app():
    global app
    app = load_app("denoise")
    FLAGS(["test"])


def _main(**kw):
    with flagsaver.flagsaver(**{**SMOKE, **kw}):
        app.main([])


def test_smoke_run_writes_wav_pngs_metrics_and_export(mini_denoise, tmp_path):
    wd = tmp_path / "run"
    _main(data_dir=str(mini_denoise), workdir=str(wd), model="fc_crm",
          test=["test_01_x.wav"], griffin_lim=1)
    for name in ("config.json", "history.json", "metrics.json", "training_curves.png",
                 "spectrograms_validation.png", "spectrograms_test_01_x.png",
                 "test_01_x_denoised.wav", "validation_denoised.wav", "export/saved_model.pb"):
        assert (wd / name).is_file(), name
    assert list((wd / "tensorboard").rglob("events.out.tfevents*"))
    m = json.loads((wd / "metrics.json").read_text())
    for key in ("input", "model", "oracle_noisy_phase"):
        assert np.isfinite(m["validation_snr_db"][key])
        assert np.isfinite(m["validation_si_sdr_db"][key])
        assert np.isfinite(m["training_snr_db"][key])
    assert m["validation_snr_db"]["oracle_noisy_phase"] > m["validation_snr_db"]["input"]
    assert m["training_snr_db"]["oracle_noisy_phase"] > m["training_snr_db"]["input"]
    assert m["loss"] == "spectrum"  # the default: phase-sensitive real/imag MSE
    assert m["export_real_time_factor_cpu"] > 0
    noisy, rate = read_audio(mini_denoise / "test_01_x.wav")
    out, out_rate = read_audio(wd / "test_01_x_denoised.wav")
    assert out_rate == rate and out.shape == noisy.shape and np.all(np.isfinite(out))
    # The reloaded SavedModel reproduces the in-process result (written as 16-bit PCM).
    served = tf.saved_model.load(str(wd / "export"))
    again = served.serve(tf.constant(noisy[None]))[0].numpy()
    np.testing.assert_allclose(np.clip(again, -1, 1), out, atol=2 / 32768)


def test_missing_test_file_is_one_line_error_with_exit_2(mini_denoise, tmp_path, monkeypatch,
                                                             capsys):
    # The command line as `python -m apps.denoise` runs it (absl parsing, cli.run).
    monkeypatch.setattr(sys, "argv", ["apps.denoise", f"--workdir={tmp_path / 'w'}",
                                      f"--data_dir={mini_denoise}", "--test=nope.wav"])
    with flagsaver.flagsaver(), pytest.raises(SystemExit) as e:
        cli.run(app.main)
    assert e.value.code == 2
    lines = [ln for ln in capsys.readouterr().err.strip().splitlines() if ln.strip()]
    assert len(lines) == 1 and lines[0].startswith("error: --test") and "nope.wav" in lines[0]
    assert not (tmp_path / "w").exists()


def _pair(tmp_path, clean, noisy, rate=16000, noisy_rate=None):
    c = write_wav(tmp_path / "c.wav", clean, rate)
    n = write_wav(tmp_path / "n.wav", noisy, noisy_rate or rate)
    return dict(clean=str(c), noisy=str(n), workdir=str(tmp_path / "w"))


@pytest.mark.parametrize("case,match", [
    ("stereo", "channels"), ("rate", "different sample rates"), ("length", "differ in length"),
    ("silent", "silent"), ("short_test", "too short"), ("silent_test", "silent"),
    ("no_extra", "--extra_speech: no file matches"), ("silent_extra", "--extra_speech: .* silent"),
    ("train_seconds", "--train_seconds must lie between .*1.70 s"),
])
def test_bad_inputs_give_one_clear_error_and_write_no_audio(tmp_path, case, match):
    a = sine(300, 2.0, 16000, 0.3)
    kw = _pair(tmp_path, a, a + 0.01)
    if case == "stereo":
        kw = _pair(tmp_path, a, np.stack([a, a], 1))
    elif case == "rate":
        kw = _pair(tmp_path, a, a, noisy_rate=8000)
    elif case == "length":
        kw = _pair(tmp_path, a, a[:-1])
    elif case == "silent":
        kw = _pair(tmp_path, np.zeros_like(a), a)
    elif case == "short_test":
        kw["test"] = [str(write_wav(tmp_path / "t.wav", a[:500], 16000))]
    elif case == "silent_test":
        kw["test"] = [str(write_wav(tmp_path / "t.wav", np.zeros(8000), 16000))]
    elif case == "no_extra":
        kw["extra_speech"] = [str(tmp_path / "speech" / "*.wav")]
    elif case == "train_seconds":
        kw["train_seconds"] = 1.8  # the training part is the first 85 % of 2 s
    elif case == "silent_extra":
        write_wav(tmp_path / "speech" / "e.wav", np.zeros(8000), 8000)
        kw["extra_speech"] = [str(tmp_path / "speech" / "*.wav")]
    with pytest.raises(InputError, match=match) as e:
        _main(**kw)
    assert "\n" not in str(e.value)
    assert not list((tmp_path / "w").rglob("*.wav")) if (tmp_path / "w").exists() else True


def test_train_seconds_trains_on_less_audio_with_as_many_crops(mini_denoise, tmp_path,
                                                                  monkeypatch):
    seen = []
    real = denoise.chunk_dataset

    def spy(clean, noisy, chunk_frames, batch_size, fft_length, frame_step, *a, **kw):
        seen.append((len(clean), len(noisy), kw["crops_per_epoch"]))
        return real(clean, noisy, chunk_frames, batch_size, fft_length, frame_step, *a, **kw)

    monkeypatch.setattr(denoise, "chunk_dataset", spy)
    runs = {}
    for seconds in (0.0, 1.0):
        wd = tmp_path / f"s{seconds}"
        _main(data_dir=str(mini_denoise), workdir=str(wd), train_seconds=seconds,
              export=False)
        runs[seconds] = json.loads((wd / "metrics.json").read_text())
    # 3 s of the pair: a 2.55 s training part; the default STFT (512 hop) has 80 frames.
    whole = denoise.default_crops(1 + int(3.0 * 16000 * 0.85) // 512, 8, 4)
    assert seen == [(40800, 40800, whole), (16000, 16000, whole)]
    assert runs[1.0]["train_seconds_audio"] == 1.0
    assert runs[0.0]["train_seconds_audio"] == 2.55
    assert runs[1.0]["validation_snr_db"]["input"] == runs[0.0]["validation_snr_db"]["input"]
