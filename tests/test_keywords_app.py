"""apps.keywords and tfdl.keywords: smoke run on a tiny synthetic corpus, export parity,
predict and stream, named configs, bad inputs."""

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import tensorflow as tf
from absl import flags

from conftest import app_error, load_app, parse_app, sine, write_wav
from test_keywords_data import make_corpus
from tfdl.config import from_dict
from tfdl.errors import InputError
from tfdl.keywords.config import Config
from tfdl.keywords import data as kd
from tfdl.keywords.configs import CONFIGS
from tfdl.keywords.model import MODELS, build

FLAGS = flags.FLAGS
ROOT = Path(__file__).resolve().parents[1]
# The smoke runs' overrides: the tiny corpus at 8 kHz, 0.5 s clips, 1 epoch (each run adds
# --config.wanted_words and --config.held_out_noise: a repeated tuple override appends).
SMOKE = ("--config.sample_rate=8000", "--config.clip_duration_ms=500",
         "--config.validation_percentage=25", "--config.testing_percentage=25",
         "--config.unknown_percentage=50", "--config.silence_percentage=50",
         "--config.epochs=1", "--config.batch_size=4")


def main(*args, argv=("keywords",)):
    """`python -m apps.keywords ARGV... ARGS...` through the app's own main."""
    app = parse_app("keywords", *args)
    try:
        return app.main(list(argv))
    finally:
        FLAGS.unparse_flags()


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    """One smoke training run on a synthetic mixed-rate corpus, shared by the tests below."""
    tmp = tmp_path_factory.mktemp("kwapp")
    root = make_corpus(tmp / "kw")
    (root / "a" / "desktop.ini").write_text("junk")
    main("--model=cnn", *SMOKE, "--config.wanted_words=a,b", "--config.held_out_noise=hum.wav",
         "--config.int8=true", f"--data_dir={root}", f"--workdir={tmp / 'run'}")
    return tmp


def test_train_writes_the_workdir(trained):
    run = trained / "run"
    for name in ("config.json", "history.json", "metrics.json", "training_curves.png",
                 "confusion_matrix.png", "augmented_example.png", "export/saved_model.pb",
                 "export/assets.extra/tfdl.json", "export/model.tflite",
                 "export/model_int8.tflite", "checkpoints/best.weights.h5"):
        assert (run / name).exists(), name
    assert any((run / "tensorboard").rglob("events.out.tfevents*"))
    m = json.loads((run / "metrics.json").read_text())
    assert m["test"]["labels"] == ["_silence_", "_unknown_", "a", "b"]
    assert 0.0 <= m["test_accuracy"] <= 1.0
    assert set(m["noisy_test_accuracy"]) == {"0", "10"}
    assert m["held_out_noise"] == ["hum.wav"] and m["train_noise"] == ["white.wav"]
    assert m["skipped_non_wav"] == 1
    assert m["examples_per_sec"] > 0 and m["export_latency_ms_per_clip"] > 0
    assert m["tflite_latency_ms_per_clip"] > 0 and m["tflite_bytes"] > 0
    assert 0 < m["stream_real_time_factor"] < 10
    meta = json.loads((run / "export" / "assets.extra" / "tfdl.json").read_text())
    assert meta["task"] == "keywords" and meta["sample_rate"] == 8000
    assert meta["labels"] == ["_silence_", "_unknown_", "a", "b"]
    cfg = json.loads((run / "config.json").read_text())
    assert cfg["sample_rate"] == 8000 and cfg["model"] == "cnn"
    assert cfg["wanted_words"] == ["a", "b"] and cfg["epochs"] == 1
    assert cfg["dropout"] == CONFIGS.get("cnn").dropout  # the named config's


def test_export_parity_and_labels(trained):
    run = trained / "run"
    cfg = from_dict(Config, json.loads((run / "config.json").read_text())).validate()
    model = build(cfg, 4)
    model.load_weights(str(run / "checkpoints" / "best.weights.h5"))
    loaded = tf.saved_model.load(str(run / "export"))
    rng = np.random.default_rng(0)
    for n in (2000, 4000, 6000):  # shorter, equal and longer than the 0.5 s clip
        x = rng.uniform(-0.3, 0.3, (3, n)).astype(np.float32)
        out = loaded.serve(tf.constant(x))
        np.testing.assert_allclose(out["probabilities"].numpy(), model(x).numpy(), atol=1e-5)
        labels = [s.decode() for s in out["label"].numpy()]
        assert labels == [["_silence_", "_unknown_", "a", "b"][i] for i in out["class_id"].numpy()]


def test_int8_export_is_scored_on_the_test_split(trained):
    """`--config.int8=true` ships model_int8.tflite; its test accuracy in metrics.json is
    what TFLite's own interpreter gives on the run's test split, clip by clip."""
    run = trained / "run"
    m = json.loads((run / "metrics.json").read_text())
    path = run / "export" / "model_int8.tflite"
    assert m["int8_tflite_bytes"] == path.stat().st_size < m["tflite_bytes"]
    assert m["int8_tflite_latency_ms_per_clip"] > 0
    cfg = from_dict(Config, json.loads((run / "config.json").read_text())).validate()
    test = kd.prepare(cfg, str(trained / "kw")).splits["testing"]
    runner = tf.lite.Interpreter(model_path=str(path)).get_signature_runner("serve")
    (name,) = runner.get_input_details()
    guesses = [int(np.argmax(runner(**{name: w[None].astype(np.float32)})["probabilities"]))
               for w in test.waves]
    assert m["int8_accuracy"] == pytest.approx(np.mean(np.array(guesses) == test.labels))


def test_predict_and_stream(trained, capsys):
    clip = write_wav(trained / "clip.wav", sine(300, 0.4, 16000), 16000)  # resampled to 8 kHz
    long = np.zeros(4 * 8000, np.float32)
    long[8000:12000] = sine(300, 0.5, 8000)
    long_wav = write_wav(trained / "long.wav", long, 8000)
    workdir = f"--workdir={trained / 'run'}"
    main(workdir, argv=("keywords", "predict", str(clip)))
    out = capsys.readouterr().out
    path, label, prob = out.strip().split("\t")
    assert path == str(clip) and label in ("_silence_", "_unknown_", "a", "b")
    assert 0 <= float(prob) <= 1
    main(workdir, "--threshold=0.01", "--hop_ms=250", argv=("keywords", "stream", str(long_wav)))
    out = capsys.readouterr().out
    assert "keyword(s) detected in" in out and "(real-time factor " in out
    page = json.loads((trained / "run" / "stream" / "long" / "metrics.json").read_text())
    assert page["real_time_factor"] > 0
    with pytest.raises(InputError, match="stream needs one WAV"):
        main(workdir, argv=("keywords", "stream"))
    with pytest.raises(InputError, match="unknown command"):
        main(workdir, argv=("keywords", "serve"))
    main(f"--export_dir={trained / 'run' / 'export' / 'model.tflite'}",
         argv=("keywords", "predict", str(clip)))
    assert capsys.readouterr().out.strip().split("\t")[1] == label  # same as SavedModel
    with pytest.raises(InputError, match="no SavedModel or .tflite"):
        main(f"--export_dir={trained / 'nothing'}", argv=("keywords", "predict", str(clip)))
    with pytest.raises(InputError, match="predict needs WAV files"):
        main(workdir, argv=("keywords", "predict"))


def test_app_bad_inputs(tmp_path):
    root = make_corpus(tmp_path / "kw", noise=False)
    base = (*SMOKE, f"--data_dir={root}", f"--workdir={tmp_path / 'r'}")
    none_held = "--config.held_out_noise="
    with pytest.raises(InputError, match="'zebra' has no folder"):
        main(*base, none_held, "--config.wanted_words=a,zebra")
    with pytest.raises(InputError, match="_background_noise_ does not exist"):
        main(*base, none_held, "--config.wanted_words=a,b")
    with pytest.raises(InputError, match="--config.dropout"):
        main(*base, none_held, "--config.wanted_words=a,b", "--config.dropout=1.5")
    with pytest.raises(InputError, match="--config.held_out_noise file 'running_tap.wav'"):
        main(*base, "--config.wanted_words=a,b")  # the default holds out Speech Commands files
    assert not (tmp_path / "r").exists()  # bad inputs fail before the workdir is written


def test_model_flag_choices_come_from_the_registry():
    load_app("keywords")
    assert FLAGS["model"].parser.enum_values == MODELS.names()


def test_model_flag_is_the_named_config_plus_overrides():
    from tfdl import cli

    load_app("keywords")
    for args, expected in [
            ([], ("cnn", "relative-log-mel", "adam", 30)),  # default: cnn_robust
            (["--model=ds_cnn"], ("ds_cnn", "mfcc", "momentum", 30)),
            (["--config.epochs=3", "--model=ffnn"], ("ffnn", "mfcc", "adam", 3)),
            (["--config.epochs=3", "--config=ds_cnn"], ("ds_cnn", "mfcc", "momentum", 3)),
            (["--config=best"], ("cnn", "relative-log-mel", "adam", 30)),
            (["--config=cnn"], ("cnn", "log-mel", "adam", 30))]:
        FLAGS.unparse_flags()
        cli.parse_flags(["keywords", *args])
        cfg = cli.config()
        assert (cfg.model, cfg.preprocess, cfg.optimizer, cfg.epochs) == expected, args
    FLAGS.unparse_flags()
    cli.parse_flags(["keywords", "--config.wanted_words=yes,no", "--config.held_out_noise=",
                     "--config.eval_snr_db=5"])
    cfg = cli.config().validate()
    assert (cfg.wanted_words, cfg.held_out_noise, cfg.eval_snr_db) == (("yes", "no"), (), (5.0,))
    FLAGS.unparse_flags()
    assert CONFIGS.get("cnn").epochs == 30  # the registry's recipes are never edited
    assert CONFIGS.get("default").held_out_noise == ("running_tap.wav", "doing_the_dishes.wav")


def test_every_named_config_is_valid_and_builds():
    """Each recipe builds its model with its own dropout and batch norm (12 classes)."""
    for name in CONFIGS.names():
        cfg = CONFIGS.get(name).validate()
        model = build(cfg, len(cfg.wanted_words) + 2)
        assert model.name == cfg.model and model.output_shape == (None, 12), name
        rates = {layer.rate for layer in model.layers if layer.__class__.__name__ == "Dropout"}
        assert rates == ({cfg.dropout} if cfg.dropout else set()), name
        has_bn = any(layer.name.endswith("_bn") for layer in model.layers)
        assert has_bn == cfg.batchnorm, name
        assert model.get_layer("mfcc" if cfg.preprocess == "mfcc" else "log_mel")
    # Every model has a named config of its own name (others add a front end: cnn_robust).
    assert set(MODELS.names()) <= {n for n in CONFIGS.names() if CONFIGS.resolve(n) == n}


def _cli(*args):
    env = {**os.environ, "TFDL_NO_DOWNLOAD": "1"}
    env.pop("TF_CPP_MIN_LOG_LEVEL", None)  # the app itself must silence TensorFlow
    return subprocess.run([sys.executable, "-m", "apps.keywords", *args], cwd=ROOT, env=env,
                          capture_output=True, text=True, timeout=120)


def test_cli_bad_flags_one_line_and_nonzero_exit(tmp_path):
    r = _cli("--config.epochs=0", f"--workdir={tmp_path / 'wd'}")
    assert r.returncode == 2
    assert r.stderr.strip().splitlines() == [
        "error: --config.epochs must be a positive integer. Received: --config.epochs=0"]
    assert "Traceback" not in r.stderr and "oneDNN" not in r.stderr
    assert not (tmp_path / "wd").exists()
    for args, message in [
            (["--config=nope"], "unknown keywords config 'nope'; choose one of default, best"),
            (["--config.nope=1"], "--config.nope: the keywords config has no field 'nope'"),
            (["--config.wanted_words=_silence_"], "names starting with '_' are reserved"),
            (["--model=nope"], "--model=nope: value should be one of <cnn|"),
            (["--model=cnn", "--config=best"], "give --config or --model, not both"),
            (["nope.wav"], "unknown command 'nope.wav'; use train, predict, stream")]:
        code, lines = app_error("keywords", *args, f"--workdir={tmp_path / 'wd'}")
        assert code == 2, args
        assert len(lines) == 1 and lines[0].startswith("error: ") and message in lines[0], lines


def test_help_lists_every_named_config_on_one_line():
    r = _cli("--help")
    assert r.returncode == 0
    lines = r.stdout.splitlines()
    for name in CONFIGS.names():
        row = [ln for ln in lines if ln.split()[:1] == [name]]
        assert len(row) == 1 and CONFIGS.describe(name) in row[0], name
    for flag in ("--export_dir", "--hop_ms", "--average_window_ms", "--threshold",
                 "--suppression_ms"):
        assert flag in r.stdout, flag


@pytest.mark.slow
@pytest.mark.dataset("keywords")
def test_real_keywords_accuracy(data_root, tmp_path):
    """The issue's target: >= 97 % test accuracy on ../shared/data/keywords (minutes on CPU)."""
    main(f"--data_dir={data_root / 'keywords'}", f"--workdir={tmp_path / 'r'}", "--model=cnn",
         "--config.preprocess=log-mel", "--config.dropout=0.25", "--config.batchnorm=true",
         "--config.epochs=30",
         "--config.held_out_noise=running_tap.wav,doing_the_dishes.wav")
    m = json.loads((tmp_path / "r" / "metrics.json").read_text())
    assert m["test_accuracy"] >= 0.97
