"""apps.denoise and tfdl.denoise.train: smoke run on a few seconds of the stand-in pair
(conftest `mini_denoise`: real FSDD speech plus synthetic crackle), export parity, named
configs, CLI errors, bad input."""

import dataclasses
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import tensorflow as tf
from absl import flags

from conftest import app_error, load_app, parse_app, sine, write_wav
from tfdl.audio import read_audio
from tfdl.denoise import data, model, train
from tfdl.denoise.configs import CONFIGS
from tfdl.errors import InputError

ROOT = Path(__file__).resolve().parents[1]
# A few seconds, one tiny step per epoch: what every run here adds to its named config.
SMOKE = dict(max_seconds=3.0, epochs=1, steps_per_epoch=2, units=32, hidden_layers=2,
             context=1, chunk_frames=8, batch_size=4, audio_every=1, patience=0)


def run(name, workdir, data_dir=None, tests=(), **fields):
    """`tfdl.denoise.train.run` of the named config `name`, SMOKE and `fields` overridden."""
    kw = {k: fields.pop(k) for k in ("clean", "noisy") if k in fields}
    cfg = CONFIGS.get(name)
    for k, v in {**SMOKE, **fields}.items():
        setattr(cfg, k, v)
    return train.run(cfg, str(workdir), data_dir and str(data_dir), tests, verbose=0, **kw)


def test_smoke_run_writes_wav_pngs_metrics_and_export(mini_denoise, tmp_path):
    """`python -m apps.denoise --model=fc_crm --test=test_01_x.wav ...` (the app's own main)."""
    wd = tmp_path / "run"
    app = parse_app("denoise", "--model=fc_crm", f"--data_dir={mini_denoise}",
                    f"--workdir={wd}", "--test=test_01_x.wav",
                    *[f"--config.{k}={v}" for k, v in SMOKE.items()])
    app.main(["denoise"])
    flags.FLAGS.unparse_flags()
    for name in ("config.json", "history.json", "metrics.json", "training_curves.png",
                 "spectrograms_validation.png", "spectrograms_test_01_x.png",
                 "test_01_x_denoised.wav", "validation_denoised.wav", "export/saved_model.pb",
                 "export/assets.extra/tfdl.json"):
        assert (wd / name).is_file(), name
    assert list((wd / "tensorboard").rglob("events.out.tfevents*"))
    m = json.loads((wd / "metrics.json").read_text())
    for key in ("input", "model", "oracle_noisy_phase"):
        assert np.isfinite(m["validation_snr_db"][key])
        assert np.isfinite(m["validation_si_sdr_db"][key])
        assert np.isfinite(m["training_snr_db"][key])
    assert m["validation_snr_db"]["oracle_noisy_phase"] > m["validation_snr_db"]["input"]
    assert m["training_snr_db"]["oracle_noisy_phase"] > m["training_snr_db"]["input"]
    assert m["loss"] == "spectrum"  # the fc_crm recipe's: phase-sensitive real/imag MSE
    assert m["export_real_time_factor_cpu"] > 0 and m["export_max_abs_diff"] < 1e-4
    config = json.loads((wd / "config.json").read_text())
    assert config["model"] == "fc_crm" and config["epochs"] == 1
    assert config["units"] == 32 and config["fft_length"] == CONFIGS.get("fc_crm").fft_length
    noisy, rate = read_audio(mini_denoise / "test_01_x.wav")
    out, out_rate = read_audio(wd / "test_01_x_denoised.wav")
    assert out_rate == rate and out.shape == noisy.shape and np.all(np.isfinite(out))
    # The reloaded SavedModel reproduces the in-process result (written as 16-bit PCM).
    served = tf.saved_model.load(str(wd / "export"))
    again = served.serve(tf.constant(noisy[None]))[0].numpy()
    np.testing.assert_allclose(np.clip(again, -1, 1), out, atol=2 / 32768)
    meta = json.loads((wd / "export" / "assets.extra" / "tfdl.json").read_text())
    assert meta == {"task": "denoise", "sample_rate": 16000, "model": "fc_crm",
                    "fft_length": 1024, "frame_step": 512}


def test_default_config_trains_a_tcn_and_serves_it(mini_denoise, voices_root, tmp_path):
    """The default recipe (complex-mask TCN on 128/32, noise flips, speed-changed speech,
    other voices, the epoch kept on the cross-speaker dev set, waveform loss), shrunk to a
    tiny network and two steps, runs end to end on a data root with the cross-speaker
    folders; without them it is a one-line error that names the pair-only config."""
    wd = tmp_path / "default"
    m = run("default", wd, voices_root / "denoise", (str(mini_denoise / "test_02_x.wav"),),
            blocks=2, repeats=1, channels=8, hidden=8, chunk_frames=50, dev_set=False)
    assert m["model"] == "tcn_crm" and m["loss"] == "nsr" and m["epochs_run"] == 1
    assert m["export_max_abs_diff"] < 1e-4
    assert (wd / "test_02_x_denoised.wav").is_file()
    config = json.loads((wd / "config.json").read_text())
    assert config["speech_speed"] == 0.1 and config["noise_flip"] is True
    assert config["voices"] == 0.5 and config["select_on"] == "dev"
    assert len(json.loads((wd / "history.json").read_text())["dev_si_sdr"]) == 1
    with pytest.raises(InputError, match=r"need the cross-speaker data beside the pair.*"
                                         r"--config=tcn_crm_speed trains on the pair alone"):
        run("default", tmp_path / "never", mini_denoise)


def test_causal_run_streams_its_export_chunk_by_chunk(mini_denoise, voices_root, tmp_path):
    """`tcn_crm_causal` (shrunk) exports a `frames` endpoint; `stream` on a test clip writes
    what the export's offline `serve` gives; a non-causal export is refused in one line."""
    from tfdl import export

    wd = tmp_path / "causal"
    m = run("tcn_crm_causal", wd, voices_root / "denoise", (), blocks=2, repeats=1,
            channels=8, hidden=8, chunk_frames=50, dev_set=False)
    config = json.loads((wd / "config.json").read_text())  # the default's recipe, causal
    assert config["voices"] == 0.5 and config["select_on"] == "dev" and config["causal"]
    assert m["export_max_abs_diff"] < 1e-4
    meta = export.read_metadata(wd / "export")
    assert meta["causal"] and meta["receptive_field"] == model.receptive_field(2, 1)
    # One 128-sample frame at the pair's 16 kHz, in the export and in metrics.json.
    assert meta["algorithmic_latency_ms"] == m["algorithmic_latency_ms"] == 8.0
    clip = mini_denoise / "test_02_x.wav"
    code, lines = app_error("denoise", "stream", str(clip), "--chunk_ms=30",
                            f"--workdir={wd}")
    assert code in (0, None), lines
    streamed, rate = read_audio(wd / "stream" / "test_02_x_denoised.wav")
    wave, _ = read_audio(clip)
    loaded = export.load(wd / "export")  # kept: its variables belong to it
    offline = loaded.serve(tf.constant(wave[None]))[0].numpy()
    assert rate == meta["sample_rate"] and streamed.shape == offline.shape
    np.testing.assert_allclose(streamed, np.clip(offline, -1, 1), atol=2 / 32768)  # 16-bit
    other = tmp_path / "offline"  # the same export, its metadata without `causal`
    shutil.copytree(wd / "export", other)
    export.write_metadata(other, {k: v for k, v in meta.items() if k != "causal"})
    code, lines = app_error("denoise", "stream", str(clip), f"--export_dir={other}",
                            f"--workdir={tmp_path / 'w'}")
    assert code == 2 and len(lines) == 1 and "is not a causal denoise export" in lines[0]


def test_missing_test_file_is_one_line_error_with_exit_2(mini_denoise, tmp_path, monkeypatch,
                                                             capsys):
    # The command line as `python -m apps.denoise` runs it (absl parsing, cli.run).
    from tfdl import cli

    app = load_app("denoise")
    monkeypatch.setattr(sys, "argv", ["apps.denoise", f"--workdir={tmp_path / 'w'}",
                                      f"--data_dir={mini_denoise}", "--test=nope.wav"])
    with pytest.raises(SystemExit) as e:
        cli.run(app.main)
    flags.FLAGS.unparse_flags()
    assert e.value.code == 2
    lines = [ln for ln in capsys.readouterr().err.strip().splitlines() if ln.strip()]
    assert len(lines) == 1 and lines[0].startswith("error: --test") and "nope.wav" in lines[0]
    assert not (tmp_path / "w").exists()


def _pair(tmp_path, clean, noisy, rate=16000, noisy_rate=None):
    c = write_wav(tmp_path / "c.wav", clean, rate)
    n = write_wav(tmp_path / "n.wav", noisy, noisy_rate or rate)
    return dict(clean=str(c), noisy=str(n))


@pytest.mark.parametrize("case,match", [
    ("stereo", "channels"), ("rate", "different sample rates"), ("length", "differ in length"),
    ("silent", "silent"), ("short_test", "too short"), ("silent_test", "silent"),
    ("train_seconds", "--config.train_seconds must lie between .*1.70 s"),
])
def test_bad_inputs_give_one_clear_error_and_write_no_audio(tmp_path, case, match):
    a = sine(300, 2.0, 16000, 0.3)
    kw, tests = _pair(tmp_path, a, a + 0.01), ()
    if case == "stereo":
        kw = _pair(tmp_path, a, np.stack([a, a], 1))
    elif case == "rate":
        kw = _pair(tmp_path, a, a, noisy_rate=8000)
    elif case == "length":
        kw = _pair(tmp_path, a, a[:-1])
    elif case == "silent":
        kw = _pair(tmp_path, np.zeros_like(a), a)
    elif case == "short_test":
        tests = (str(write_wav(tmp_path / "t.wav", a[:500], 16000)),)
    elif case == "silent_test":
        tests = (str(write_wav(tmp_path / "t.wav", np.zeros(8000), 16000)),)
    elif case == "train_seconds":
        kw["train_seconds"] = 1.8  # the training part is the first 85 % of 2 s
    with pytest.raises(InputError, match=match) as e:
        run("fc", tmp_path / "w", None, tests, **kw)
    assert "\n" not in str(e.value)
    assert not list((tmp_path / "w").rglob("*.wav")) if (tmp_path / "w").exists() else True


def test_train_seconds_trains_on_less_audio_with_as_many_crops(mini_denoise, tmp_path,
                                                                  monkeypatch):
    seen = []
    real = data.chunk_dataset

    def spy(clean, noisy, cfg, crops_per_epoch=None, **kw):
        seen.append((len(clean), len(noisy), crops_per_epoch))
        return real(clean, noisy, cfg, crops_per_epoch, **kw)

    monkeypatch.setattr(data, "chunk_dataset", spy)
    runs = {}
    for seconds in (0.0, 1.0):
        wd = tmp_path / f"s{seconds}"
        run("fc", wd, mini_denoise, train_seconds=seconds, export=False)
        runs[seconds] = json.loads((wd / "metrics.json").read_text())
    # 3 s of the pair: a 2.55 s training part; the default STFT (512 hop) has 80 frames.
    whole = data.default_crops(1 + int(3.0 * 16000 * 0.85) // 512, 8, 4)
    assert seen == [(40800, 40800, whole), (16000, 16000, whole)]
    assert runs[1.0]["train_seconds_audio"] == 1.0
    assert runs[0.0]["train_seconds_audio"] == 2.55
    assert runs[1.0]["validation_snr_db"]["input"] == runs[0.0]["validation_snr_db"]["input"]


def _cli(*args):
    env = {**os.environ, "TFDL_NO_DOWNLOAD": "1"}
    env.pop("TF_CPP_MIN_LOG_LEVEL", None)  # the app itself must silence TensorFlow
    return subprocess.run([sys.executable, "-m", "apps.denoise", *args], cwd=ROOT, env=env,
                          capture_output=True, text=True, timeout=120)


def test_cli_bad_flags_one_line_and_nonzero_exit(tmp_path):
    r = _cli("--config.epochs=0", f"--workdir={tmp_path / 'wd'}")
    assert r.returncode == 2
    assert r.stderr.strip().splitlines() == [
        "error: --config.epochs must be a positive integer. Received: --config.epochs=0"]
    assert "Traceback" not in r.stderr and "oneDNN" not in r.stderr
    assert not (tmp_path / "wd").exists()
    for args, message in [
            (["--config=nope"], "unknown denoise config 'nope'; choose one of default, best"),
            (["--config.nope=1"], "--config.nope: the denoise config has no field 'nope'"),
            (["--config.long_window=512"], "the denoise config has no field 'long_window'"),
            (["--config.loss=snr"], "--config.loss must be one of spectrum, nsr"),
            (["--config.units=0"], "--config.units must be a positive integer"),
            (["--model=nope"], "--model=nope: value should be one of <fc|fc_crm|tcn|tcn_crm>"),
            (["--model=fc", "--config=best"], "give --config or --model, not both"),
            (["--griffin_lim=4"], "Unknown command line flag 'griffin_lim'"),
            (["noisy.wav"], "apps.denoise takes no arguments (clips to denoise: --test=FILE)")]:
        code, lines = app_error("denoise", *args, f"--workdir={tmp_path / 'wd'}")
        assert code == 2, args
        assert len(lines) == 1 and lines[0].startswith("error: ") and message in lines[0], lines


def test_help_lists_every_named_config_on_one_line():
    r = _cli("--help")
    assert r.returncode == 0
    lines = r.stdout.splitlines()
    for name in CONFIGS.names():
        row = [ln for ln in lines if ln.split()[:1] == [name]]
        assert len(row) == 1 and CONFIGS.describe(name) in row[0], name
    for flag in ("--test", "--clean", "--noisy", "--data_dir", "--workdir", "--model"):
        assert flag in r.stdout, flag


def test_model_flag_is_the_named_config_plus_overrides():
    load_app("denoise")
    from tfdl import cli

    for args, (name, epochs, hidden, fft) in [
            ([], ("tcn_crm", CONFIGS.get("tcn_crm_voices").epochs, 128, 128)),  # default
            (["--model=fc"], ("fc", 30, 128, 1024)),
            (["--config.epochs=3", "--model=tcn"], ("tcn", 3, 128, 128)),
            (["--config.hidden=96", "--config=tcn_crm"], ("tcn_crm", 180, 96, 128)),
            (["--config=best"], ("tcn_crm", 180, 128, 128))]:
        flags.FLAGS.unparse_flags()
        cli.parse_flags(["denoise", *args])
        cfg = cli.config()
        assert (cfg.model, cfg.epochs, cfg.hidden, cfg.fft_length) == (name, epochs, hidden,
                                                                       fft), args
    flags.FLAGS.unparse_flags()
    assert CONFIGS.get("tcn").epochs == 180  # the registry's recipes are never edited


def test_every_named_config_is_valid_and_builds():
    for name in CONFIGS.names():
        cfg = CONFIGS.get(name).validate()
        assert len(CONFIGS.describe(name)) <= 55, name
        net = model.build(cfg)
        assert net.output_shape == (None, None, cfg.fft_length // 2 + 1, 2), name
    load_app("denoise")
    assert flags.FLAGS["model"].parser.enum_values == model.MODELS.names() == [
        n for n in CONFIGS.names() if CONFIGS.resolve(n) == n and CONFIGS.get(n).model == n]


def test_the_wide_config_is_the_recorded_15_70_db_recipe_and_best_the_default_trained_longer():
    """`--config=tcn_crm_wide` is the command that gave 15.70 dB on the tail
    (docs/experiments/denoise.md): tcn_crm --fft_length=128 --frame_step=32
    --chunk_frames=500 --batch_size=8 --clipnorm=5 --epochs=300 --patience=0 --remix=1
    --hidden=192 --noise_flip --speech_speed=0.1. The default is that recipe 128 wide on
    many voices, selected on the dev set, in fewer epochs; `best` is the default at 180."""
    wide = CONFIGS.get("tcn_crm_wide")
    recorded = dict(model="tcn_crm", fft_length=128, frame_step=32, chunk_frames=500,
                    batch_size=8, clipnorm=5.0, epochs=300, patience=0, remix=1.0, hidden=192,
                    noise_flip=True, speech_speed=0.1, loss="nsr", blocks=8, repeats=2,
                    channels=64, learning_rate=1e-3, schedule="cosine", optimizer="adam",
                    noise_gain_db=6.0, val_fraction=0.15, weight_decay=0.0, seed=0)
    assert {k: getattr(wide, k) for k in recorded} == recorded
    default, best = CONFIGS.get("default"), CONFIGS.get("best")
    assert {k: getattr(default, k) for k in recorded if k not in ("hidden", "epochs")} == {
        k: v for k, v in recorded.items() if k not in ("hidden", "epochs")}
    assert default.hidden == 128 and default.epochs < 180
    assert (default.voices, default.select_on) == (0.5, "dev")
    assert dataclasses.replace(default, epochs=180) == best
