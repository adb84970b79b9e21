"""apps.digits and tfdl.digits: smoke run on a tiny synthetic FSDD, export parity, predict,
named configs, bad inputs."""

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from absl import flags

from conftest import app_error, load_app, sine, write_wav
from pages import check_page, run_cli
from tfdl.digits import adapt as adaptation
from tfdl.digits import data as fsdd
from tfdl.digits import model as digits
from tfdl.digits import serve, train
from tfdl.digits.configs import CONFIGS
from tfdl.errors import InputError

ROOT = Path(__file__).resolve().parents[1]


def run(name, tiny_fsdd, workdir, **fields):
    """`tfdl.digits.train.run` of the named config `name` with `fields` overridden."""
    cfg = CONFIGS.get(name)
    for k, v in fields.items():
        setattr(cfg, k, v)
    return train.run(cfg, str(workdir), str(tiny_fsdd), verbose=0)


@pytest.fixture(scope="module")
def smoke_run(tiny_fsdd, tmp_path_factory):
    """`python -m apps.digits --model=mfcc --config.epochs=1 ...` (its command line,
    `tfdl.cli.run`, in this process: report.html too)."""
    workdir = tmp_path_factory.mktemp("runs") / "digits"
    noise = tmp_path_factory.mktemp("noise")  # a 16 kHz clip: resampled to 8 kHz for mixing
    write_wav(noise / "hum.wav", sine(50, 1.0, 16000), 16000)
    run_cli("digits", "--model=mfcc", "--config.epochs=1", "--config.steps_per_epoch=2",
            "--config.batch_size=8", f"--data_dir={tiny_fsdd}", f"--workdir={workdir}",
            "--config.augment=true", f"--config.noise_dir={noise}", "--config.speed_change=0.1")
    return workdir


@pytest.mark.smoke
def test_smoke_run_writes_the_workdir(smoke_run):
    wd = smoke_run
    for name in ("config.json", "history.json", "metrics.json", "training_curves.png",
                 "confusion_matrix.png", "waveform_mfcc.png", "checkpoints/best.weights.h5",
                 "export/saved_model.pb", "export/model.tflite", "export/assets.extra/tfdl.json"):
        assert (wd / name).is_file(), name
    for sub in ("train", "hparams", "images"):
        assert any((wd / "tensorboard" / sub).iterdir()), sub
    metrics = json.loads((wd / "metrics.json").read_text())
    assert metrics["num_examples"] == 100  # takes 0-4 of 2 speakers x 10 digits
    assert set(metrics["per_class_accuracy"]) == {str(d) for d in range(10)}
    assert np.array(metrics["confusion_matrix"]).sum() == 100
    config = json.loads((wd / "config.json").read_text())
    assert config["model"] == "mfcc" and config["epochs"] == 1 and config["speed_change"] == 0.1
    assert config["learning_rate"] == CONFIGS.get("mfcc").learning_rate  # the named config's
    history = json.loads((wd / "history.json").read_text())
    assert history["steady_examples_per_sec"] > 0
    for key in ("export_bytes", "tflite_bytes", "export_latency_ms_per_clip",
                "tflite_latency_ms_per_clip"):
        assert metrics[key] > 0, key
    assert metrics["tflite_bytes"] == (wd / "export" / "model.tflite").stat().st_size
    meta = json.loads((wd / "export" / "assets.extra" / "tfdl.json").read_text())
    assert meta == {"task": "digits", "sample_rate": 8000, "model": "mfcc",
                    "labels": [str(d) for d in range(10)]}


def test_smoke_run_page_plays_the_misclassified_recordings(smoke_run, tmp_path):
    wd = smoke_run
    index = json.loads((wd / "misclassified.json").read_text())
    assert index["total"] == len(json.loads((wd / "metrics.json").read_text())["misclassified"])
    assert 0 < len(index["saved"]) <= 24
    page = check_page(wd, ["training_curves.png", "confusion_matrix.png", "waveform_mfcc.png"],
                      [c["wav"] for c in index["saved"]])
    assert len(page.sounds) == len(index["saved"])
    # The command line's own rebuild: the same page; a folder that is no run: one line, exit 2.
    html = (wd / "report.html").read_text()
    (wd / "report.html").unlink()
    r = subprocess.run([sys.executable, "-m", "tfdl.report", str(wd), str(tmp_path)],
                       cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert (wd / "report.html").read_text() == html
    assert r.returncode == 2 and r.stderr.strip().splitlines() == [
        f"error: {tmp_path} holds no metrics.json: not a finished run"]


@pytest.mark.smoke
def test_tflite_matches_saved_model_on_real_fsdd(smoke_run):
    """The run's model.tflite (built-in ops, run by LiteRT) against its SavedModel on real
    FSDD recordings of their own lengths (tests/assets/fsdd, CC BY-SA 4.0)."""
    from ai_edge_litert.interpreter import Interpreter  # the maintained interpreter

    from tfdl import audio, export

    lite = export.load(smoke_run / "export" / "model.tflite")
    assert isinstance(lite._interpreter, Interpreter)
    saved = export.load(smoke_run / "export")
    files = sorted((ROOT / "tests" / "assets" / "fsdd" / "recordings").glob("*.wav"))
    assert len(files) >= 10
    lengths = set()
    for f in files:
        x = audio.load(f, 8000)[0][None]
        lengths.add(x.shape[1])
        a, b = lite.serve(x), saved.serve(x)
        np.testing.assert_allclose(a["probabilities"].numpy(), b["probabilities"].numpy(),
                                   rtol=0, atol=1e-5)
        assert a["label"].numpy()[0] == b["label"].numpy()[0]
    assert len(lengths) > 5  # one interpreter, resized to each recording's own length


@pytest.mark.smoke
def test_saved_model_matches_keras_model(smoke_run):
    from tfdl import export

    model = digits.MODELS.build("mfcc")
    model.load_weights(str(smoke_run / "checkpoints" / "best.weights.h5"))
    loaded = export.load(smoke_run / "export")
    for n in (2400, 7000):  # any length: padded or trimmed inside
        x = np.stack([sine(500, n / 8000, 8000), sine(1200, n / 8000, 8000)])
        out = loaded.serve(x)
        np.testing.assert_allclose(out["probabilities"].numpy(), model(x).numpy(),
                                   rtol=1e-4, atol=1e-5)
        assert [s.decode() for s in out["label"].numpy()] == [
            str(i) for i in out["class_id"].numpy()]


@pytest.mark.smoke
def test_predict_any_sample_rate(smoke_run, tmp_path, capsys):
    f16 = write_wav(tmp_path / "digit16k.wav", sine(650, 0.4, 16000), 16000)
    f8 = write_wav(tmp_path / "digit8k.wav", sine(650, 0.4, 8000), 8000)
    res = serve.predict(smoke_run / "export", [str(f16), str(f8)])
    out = capsys.readouterr().out
    assert "digit16k.wav: digit" in out and "digit8k.wav: digit" in out
    for _, digit, prob in res:
        assert digit in [str(d) for d in range(10)] and 0.0 <= prob <= 1.0
    # The same tone at 16 kHz (resampled on reading) and at 8 kHz: the same probabilities.
    # (Not the same arg-max: the smoke model is undecided on a tone, its top two classes
    # can be 1e-3 apart.)
    from tfdl import audio, export

    loaded = export.load(smoke_run / "export", task="digits")
    p16, p8 = (loaded.serve(audio.load(f, 8000)[0][None, :])["probabilities"].numpy()
               for f in (f16, f8))
    np.testing.assert_allclose(p16, p8, atol=2e-3)
    assert [r[2] for r in res] == pytest.approx([p16.max(), p8.max()], abs=1e-6)
    lite = serve.predict(smoke_run / "export" / "model.tflite", [str(f16), str(f8)])
    assert [r[1] for r in lite] == [r[1] for r in res]
    assert np.allclose([r[2] for r in lite], [r[2] for r in res], atol=1e-5)
    with pytest.raises(InputError, match="no SavedModel or .tflite"):
        serve.predict(tmp_path, [str(f8)])
    with pytest.raises(InputError, match="no SavedModel or .tflite"):
        serve.predict(tmp_path / "model.tflite", [str(f8)])
    with pytest.raises(InputError, match="not found"):
        serve.predict(smoke_run / "export", [str(tmp_path / "missing.wav")])


def test_bad_inputs_name_the_flag_or_path(tiny_fsdd, tmp_path):
    def bad(data_dir, workdir, **fields):
        return run("mfcc", data_dir, workdir, **{"epochs": 1, "steps_per_epoch": 1, **fields})

    wd = tmp_path / "wd"
    with pytest.raises(InputError, match="--data_dir does not exist"):
        bad(data_dir=str(tmp_path / "missing"), workdir=str(wd))
    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(InputError, match=str(empty)):
        bad(data_dir=str(empty), workdir=str(wd))
    nowav = tmp_path / "nowav" / "recordings"
    nowav.mkdir(parents=True)
    (nowav / "notes.txt").write_text("x")
    with pytest.raises(InputError, match="no FSDD recordings"):
        bad(data_dir=str(nowav), workdir=str(wd))
    badname = tmp_path / "badname" / "recordings"
    write_wav(badname / "hello.wav", sine(300, 0.1, 8000), 8000)
    with pytest.raises(InputError, match="hello.wav"):
        bad(data_dir=str(badname), workdir=str(wd))
    corrupt = tmp_path / "corrupt" / "recordings"
    write_wav(corrupt / "1_amy_0.wav", sine(300, 0.1, 8000), 8000)
    (corrupt / "2_amy_0.wav").write_bytes(b"RIFF\x24\x00\x00\x00WAVEjunkjunk")
    with pytest.raises(InputError, match="2_amy_0.wav"):
        bad(data_dir=str(corrupt), workdir=str(wd))
    truncated = tmp_path / "truncated" / "recordings"
    good = write_wav(truncated / "1_amy_0.wav", sine(300, 0.5, 8000), 8000)
    (truncated / "3_amy_0.wav").write_bytes(good.read_bytes()[:1000])
    with pytest.raises(InputError, match="3_amy_0.wav"):
        bad(data_dir=str(truncated), workdir=str(wd))
    with pytest.raises(InputError, match="--config.epochs"):
        bad(epochs=0, data_dir=str(tiny_fsdd), workdir=str(wd))
    with pytest.raises(InputError, match="--config.model"):
        bad(model="nope", data_dir=str(tiny_fsdd), workdir=str(wd))
    with pytest.raises(InputError, match="--config.test_speakers"):
        bad(split="speaker", data_dir=str(tiny_fsdd), workdir=str(wd))
    with pytest.raises(InputError, match="--config.test_speeds"):
        bad(test_speeds=(3.0,), data_dir=str(tiny_fsdd), workdir=str(wd))
    with pytest.raises(InputError, match="--config.test_shifts_ms"):
        bad(test_shifts_ms=(-10,), data_dir=str(tiny_fsdd), workdir=str(wd))
    with pytest.raises(InputError, match="--config.speed_change"):
        bad(speed_change=0.5, data_dir=str(tiny_fsdd), workdir=str(wd))
    with pytest.raises(InputError, match="--config.speaker_adversary"):
        bad(speaker_adversary=-0.1, data_dir=str(tiny_fsdd), workdir=str(wd))
    with pytest.raises(InputError, match="--config.noise_dir"):
        bad(augment=True, noise_dir=str(tmp_path / "nonoise"),
            data_dir=str(tiny_fsdd), workdir=str(wd))
    assert not (wd / "metrics.json").exists()


def _cli(*args):
    env = {**os.environ, "TFDL_NO_DOWNLOAD": "1"}
    env.pop("TF_CPP_MIN_LOG_LEVEL", None)  # the app itself must silence TensorFlow
    return subprocess.run([sys.executable, "-m", "apps.digits", *args], cwd=ROOT, env=env,
                          capture_output=True, text=True, timeout=120)


def test_cli_bad_flags_one_line_and_nonzero_exit(tmp_path):
    r = _cli("--config.epochs=0", f"--workdir={tmp_path / 'wd'}")
    assert r.returncode == 2
    assert r.stderr.strip().splitlines() == [
        "error: --config.epochs must be a positive integer. Received: --config.epochs=0"]
    assert "Traceback" not in r.stderr and "oneDNN" not in r.stderr
    assert not (tmp_path / "wd" / "metrics.json").exists()
    for args, message in [
            (["--config=nope"], "unknown digits config 'nope'; choose one of default, best"),
            (["--config.nope=1"], "--config.nope: the digits config has no field 'nope'"),
            (["--config.epochs=x"], "--config.epochs=x: invalid literal for int()"),
            (["--model=nope"], "--model=nope: value should be one of <plain|"),
            (["--model=mfcc", "--config=best"], "give --config or --model, not both"),
            (["nope.wav"], "unknown command 'nope.wav'; use train, predict")]:
        code, lines = app_error("digits", *args, f"--workdir={tmp_path / 'wd'}")
        assert code == 2, args
        assert len(lines) == 1 and lines[0].startswith("error: ") and message in lines[0], lines


def test_help_lists_every_named_config_on_one_line():
    r = _cli("--help")
    assert r.returncode == 0
    lines = r.stdout.splitlines()
    for name in CONFIGS.names():
        row = [ln for ln in lines if ln.split()[:1] == [name]]
        assert len(row) == 1 and CONFIGS.describe(name) in row[0], name


def test_model_flag_is_the_named_config_plus_overrides():
    load_app("digits")
    from tfdl import cli

    for args, (model, epochs, microbatches) in [
            ([], ("compact_robust", 20, 1)),  # default
            (["--model=batchnorm"], ("batchnorm", 60, 0)),
            (["--config.epochs=3", "--model=batchnorm"], ("batchnorm", 3, 0)),
            (["--config.epochs=3", "--config=mfcc"], ("mfcc", 3, 0)),
            (["--config=best"], ("compact_pair", 20, 1))]:
        flags.FLAGS.unparse_flags()
        cli.parse_flags(["digits", *args])
        cfg = cli.config()
        assert (cfg.model, cfg.epochs, cfg.microbatches) == (model, epochs, microbatches), args
    flags.FLAGS.unparse_flags()
    assert CONFIGS.get("batchnorm").epochs == 60  # the registry's recipes are never edited


def test_every_named_config_is_valid_and_its_model_has_one():
    for name in CONFIGS.names():
        assert CONFIGS.get(name).validate().model in digits.MODELS.names(), name
    load_app("digits")
    recipes = [n for n in CONFIGS.names()
               if CONFIGS.resolve(n) == n and CONFIGS.get(n).split != "loso"]
    assert flags.FLAGS["model"].parser.enum_values == recipes
    assert sorted(recipes) == digits.MODELS.names()


def test_compact_robust_run_exports_raw_audio_model(tiny_fsdd, tmp_path):
    """The unseen-speaker model trains with its named config (no validation hold-out) and
    its SavedModel, fades and channel normalisation included, matches the Keras model."""
    from tfdl import export

    wd = tmp_path / "robust"
    report = run("compact_robust", tiny_fsdd, wd, epochs=1, steps_per_epoch=2, batch_size=8,
                 augment=False, test_speeds=(1.0, 1.1), test_shifts_ms=(0.0, 20.0))
    assert report["model"] == "compact_robust" and report["num_examples"] == 100
    config = json.loads((wd / "config.json").read_text())
    assert config["val_fraction"] == 0.0 and config["epochs"] == 1
    # Trained against a speaker classifier over the two speakers; only the digits are served.
    assert report["speaker_adversary"] == config["speaker_adversary"] > 0
    history = json.loads((wd / "history.json").read_text())
    assert {"speaker_loss", "probabilities_accuracy"} <= set(history)
    model = digits.MODELS.build("compact_robust")
    model.load_weights(str(wd / "checkpoints" / "best.weights.h5"))
    # Evaluated and exported over speeds and shifts (by default 7 x 4; 2 x 2 here, for
    # speed; 8 samples per ms at 8 kHz).
    defaults = CONFIGS.get("compact_robust")
    assert len(defaults.test_speeds) > 1 and len(defaults.test_shifts_ms) > 1
    assert report["test_speeds"] == [1.0, 1.1] and report["test_shifts_ms"] == [0.0, 20.0]
    model = adaptation.tta_ensemble(model, [1.0, 1.1], [0, 160])
    loaded = export.load(wd / "export")
    x = np.zeros((2, 6000), np.float32)
    x[0, :3000] = sine(700, 3000 / 8000, 8000)  # ends at full amplitude: faded inside
    x[1] = 0.3 * sine(400, 6000 / 8000, 8000)
    np.testing.assert_allclose(loaded.serve(x)["probabilities"].numpy(), model(x).numpy(),
                               rtol=1e-4, atol=1e-5)


def test_int8_export_is_scored_on_the_test_split_and_predicts(tiny_fsdd, tmp_path, capsys):
    """`int8=True` ships model_int8.tflite beside model.tflite; its test accuracy in
    metrics.json is what `predict` on that file gives for the test recordings."""
    wd = tmp_path / "int8"
    report = run("compact", tiny_fsdd, wd, epochs=1, steps_per_epoch=2, batch_size=8,
                 augment=False, int8=True)
    path = wd / "export" / "model_int8.tflite"
    assert report["int8_tflite"] == str(path) and path.is_file()
    assert report["int8_tflite_bytes"] < report["tflite_bytes"]
    _, test = fsdd.split(fsdd.load(str(tiny_fsdd)))
    answers = serve.predict(path, [str(r.path) for r in test])
    right = np.mean([int(a[1]) == r.digit for a, r in zip(answers, test)])
    assert report["int8_accuracy"] == pytest.approx(right)
    assert "TFLite int8" in capsys.readouterr().out


def test_speaker_adversary_with_a_validation_split(tiny_fsdd, tmp_path):
    """Any model can train against the speakers; validation labels carry them too, and the
    best checkpoint (on the digits' validation accuracy) loads into the plain model."""
    wd = tmp_path / "adversary"
    report = run("compact", tiny_fsdd, wd, epochs=2, steps_per_epoch=2, batch_size=8,
                 augment=False, speaker_adversary=0.5, export=False)
    assert report["speaker_adversary"] == 0.5
    history = json.loads((wd / "history.json").read_text())
    assert len(history["val_probabilities_accuracy"]) == 2 and len(history["speaker_loss"]) == 2
    digits.MODELS.build("compact").load_weights(str(wd / "checkpoints" / "best.weights.h5"))


def test_speaker_adaptation_scores_each_half_adapted_on_the_other(tiny_fsdd):
    """Cross-fitted AdaBN: each recording's probabilities come from the model adapted on the
    other half of its speaker's recordings (oracle: the same steps by hand), and the
    model's own statistics are restored afterwards."""
    from tfdl.pipeline import waveform_dataset

    test = [r for r in fsdd.load(str(tiny_fsdd)) if r.digit < 3 and r.take < 3]  # 2 x 9
    model = digits.MODELS.build("compact_robust", filters=4, depth=2)
    paths, labels = fsdd.paths_and_labels(test)
    unadapted = model.predict(waveform_dataset(paths, labels, sample_rate=8000, length=8000,
                                               batch_size=4), verbose=0)
    state = adaptation.batchnorm_state(model)
    probs = adaptation.speaker_adapted_predictions(model, model, test, unadapted, 4, 8000)
    for (m0, v0), (m1, v1) in zip(state, adaptation.batchnorm_state(model)):
        np.testing.assert_array_equal(m0, m1)
        np.testing.assert_array_equal(v0, v1)
    assert not np.allclose(probs, unadapted, atol=1e-4)
    speaker = [i for i, r in enumerate(test) if r.speaker == "ben"]
    speaker.sort(key=lambda i: test[i].path.name)
    half, rest = speaker[0::2], speaker[1::2]

    def ds(idx):
        p, l = fsdd.paths_and_labels([test[i] for i in idx])
        return waveform_dataset(p, l, sample_rate=8000, length=8000, batch_size=4)

    adaptation.adapt_batchnorm(model, ds(rest))
    np.testing.assert_allclose(probs[half], model.predict(ds(half), verbose=0), atol=1e-5)


def test_compact_pair_trains_each_member_and_exports_their_mean(tiny_fsdd, tmp_path):
    """The pair trains its two networks one after the other (each its own sub-workdir and
    history), adapts both to the held-out speaker, and exports the mean of the two."""
    from tfdl import export

    wd = tmp_path / "pair"
    report = run("compact_pair", tiny_fsdd, wd, split="speaker", test_speakers=("ben",),
                 epochs=1, steps_per_epoch=2, batch_size=8, augment=False, test_speeds=(),
                 test_shifts_ms=())
    assert set(report["members"]) == {"compact_robust", "compact_pcen"}
    assert report["num_examples"] == 70 and 0.0 <= report["unadapted_accuracy"] <= 1.0
    assert "cross-fitted" in report["speaker_adaptation"]
    assert json.loads((wd / "config.json").read_text())["speaker_adaptation"] is True
    # One training speaker: nothing to be adversarial against.
    assert report["speaker_adversary"] == 0.0
    history = json.loads((wd / "history.json").read_text())
    assert len(history["compact_robust:loss"]) == len(history["compact_pcen:loss"]) == 1
    for name in report["members"]:
        digits.MODELS.build(name).load_weights(str(wd / name / "checkpoints" / "best.weights.h5"))
    model = digits.MODELS.build("compact_pair")
    model.load_weights(str(wd / "checkpoints" / "best.weights.h5"))
    loaded = export.load(wd / "export")
    x = 0.3 * sine(500, 0.5, 8000)[None].astype(np.float32)
    np.testing.assert_allclose(loaded.serve(x)["probabilities"].numpy(), model(x).numpy(),
                               rtol=1e-4, atol=1e-5)


def test_speaker_split_without_adaptation_reports_one_accuracy(tiny_fsdd, tmp_path):
    """(With adaptation: `test_compact_pair_trains_each_member_and_exports_their_mean`.)"""
    off = run("compact_robust", tiny_fsdd, tmp_path / "off", split="speaker",
              test_speakers=("ben",), epochs=1, steps_per_epoch=2, batch_size=8, augment=False,
              export=False, test_speeds=(), test_shifts_ms=(), speaker_adaptation=False)
    assert off["num_examples"] == 70
    assert "unadapted_accuracy" not in off and "speaker_adaptation" not in off
