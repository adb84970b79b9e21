"""apps.phonemes and tfdl.phonemes: smoke runs on a few stand-in utterances (conftest
`mini_phonemes`: synthetic HTK files), export parity, named configs, bad inputs."""

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from absl import flags

from conftest import MINI_PHONEME_FRAMES, app_error, load_app, parse_app
from tfdl import export
from tfdl.errors import InputError
from tfdl.phonemes import data, frames, htk, serve, train
from tfdl.phonemes import model as models
from tfdl.phonemes.configs import CONFIGS

ROOT = Path(__file__).resolve().parents[1]
# A few steps of small batches, 2 test and 1 validation utterances.
SMOKE = ("--config.epochs=1", "--config.frames_per_epoch=1024", "--config.batch_size=256",
         "--config.test_utterances=2", "--config.val_utterances=1")


def _main(*args):
    """`python -m apps.phonemes ARGS` through the app's own main."""
    app = parse_app("phonemes", *args)
    try:
        return app.main(["phonemes"])
    finally:
        flags.FLAGS.unparse_flags()


def test_smoke_run_writes_every_artifact(mini6, tmp_path):
    workdir = tmp_path / "run"
    _main("--config=ensemble", "--config.members=logistic,mlp", "--config.context=2",
          "--config.stride=2", *SMOKE, f"--data_dir={mini6}", f"--workdir={workdir}")
    for name in ("config.json", "phones.json", "report.json", "metrics.json",
                 "confusion_matrix.png", "phone_sequence.png",
                 "members/mlp/history.json", "members/logistic/training_curves.png"):
        assert (workdir / name).exists(), name
    assert any((workdir / "members" / "mlp" / "tensorboard").rglob("*tfevents*"))
    m = json.loads((workdir / "metrics.json").read_text())
    assert set(m["members"]) == {"logistic", "mlp"}
    assert set(m["ensemble"]) == {"majority_vote", "max_confidence", "average",
                                  "weighted_average", "weights"}
    assert m["members"]["mlp"]["train_frames_per_sec"] > 0
    assert len(m["per_phone_accuracy"]) == m["num_phones"]
    assert m["utterances"] == {"train": 3, "val": 1, "test": 2}
    # The mlp member is the mlp recipe's network on the run's window.
    assert (m["members"]["mlp"]["width"], m["members"]["mlp"]["depth"]) == (512, 3)
    config = json.loads((workdir / "config.json").read_text())
    assert config["members"] == ["logistic", "mlp"] and config["epochs"] == 1

    # The SavedModel takes one utterance's raw MFCC and reproduces the run's test accuracy.
    loaded = export.load(workdir / "export")
    phones = json.loads((workdir / "phones.json").read_text())
    correct = total = 0
    corpus = data.load_corpus(mini6)
    for name in m["test_utterances"]:
        utt = next(x for x in corpus.utterances if x.name == name)
        out = loaded.serve(utt.features)
        probs = out["probabilities"].numpy()
        assert probs.shape == (utt.num_frames, len(phones))
        np.testing.assert_allclose(probs.sum(1), 1, atol=1e-4)
        labels = [s.decode() for s in out["label"].numpy()]
        correct += sum(a == b for a, b in zip(labels, utt.phones))
        total += utt.num_frames
    assert correct / total == pytest.approx(m["frame_accuracy"], abs=2e-3)


def test_default_run_is_one_member(mini6, tmp_path):
    """`python -m apps.phonemes` (smaller): one mlp, no ensemble rules, an export."""
    workdir = tmp_path / "run"
    m = _main("--config.width=16", "--config.depth=1", *SMOKE, f"--data_dir={mini6}",
              f"--workdir={workdir}")
    assert m["model"] == "mlp" and m["predictor"] == "mlp" and m["ensemble"] is None
    assert set(m["members"]) == {"mlp"} and m["members"]["mlp"]["width"] == 16
    assert (workdir / "members" / "mlp" / "checkpoints" / "best.weights.h5").is_file()
    assert (workdir / "export" / "saved_model.pb").is_file()
    assert json.loads((workdir / "metrics.json").read_text())["frame_accuracy"] == (
        m["frame_accuracy"])


def test_export_matches_the_keras_members(tmp_path):
    rng = np.random.default_rng(0)
    utt = data.Utterance("u", (rng.normal(size=(40, 13)) * 3 + 5).astype(np.float32),
                         np.array(["a"] * 40))
    members = [models.MODELS.build(n, num_classes=4, context=3, width=8, depth=1)
               for n in ("mlp", "resnet_basic")]
    weights = [0.25, 0.75]
    serve.export_utterance_model(members, weights, tmp_path / "e", ["a", "b", "c", "d"],
                                 context=3, stride=2)
    packed = frames.pack([utt], {"a": 0}, pad=6)
    expected = sum(w * train.predict(m, packed, 3, 2) for w, m in zip(weights, members))
    loaded = export.load(tmp_path / "e")  # keep alive while serving
    out = loaded.serve(utt.features)
    np.testing.assert_allclose(out["probabilities"].numpy(), expected, atol=1e-5)
    np.testing.assert_array_equal(out["class_id"].numpy(), expected.argmax(1))


def test_unknown_model(mini_phonemes, tmp_path):
    cfg = CONFIGS.get("ensemble")
    cfg.members = ("nope",)
    with pytest.raises(InputError, match=r"--config.members must be models from logistic, "
                                         r"mlp, .*Received: --config.members='nope'"):
        train.run(cfg, str(tmp_path), str(mini_phonemes))
    cfg = CONFIGS.get("mlp")
    cfg.model = "nope"
    with pytest.raises(InputError, match="--config.model must be one of .*ensemble"):
        train.run(cfg, str(tmp_path), str(mini_phonemes))
    cfg = CONFIGS.get("mlp")
    cfg.members = ("mlp", "mlp")
    with pytest.raises(InputError, match="--config.members must be empty unless "
                                         "--config.model=ensemble"):
        cfg.validate()
    assert not (tmp_path / "config.json").exists()


def test_bad_numbers(tmp_path):
    from tfdl.phonemes.config import Config

    with pytest.raises(InputError, match="--config.dropout must be in"):
        Config(dropout=1.5).validate()
    with pytest.raises(InputError, match="--config.epochs must be a positive integer"):
        Config(epochs=0).validate()


def _run_with_a_truncated_file(source, tmp_path):
    """Copies the first 3 utterances of `source` (arctic_a0002.mfcc cut short) and runs the app.

    Returns the copy's folder after checking the one-line error that names the file.
    """
    root = tmp_path / "phonemes"
    (root / "mfcc").mkdir(parents=True)
    shutil.copytree(source / "lab", root / "lab")
    for i in (1, 2, 3):
        src = source / "mfcc" / f"arctic_a000{i}.mfcc"
        (root / "mfcc" / src.name).write_bytes(src.read_bytes()[:-100] if i == 2
                                               else src.read_bytes())
    with pytest.raises(InputError, match=r"arctic_a0002\.mfcc is truncated") as e:
        _main("--config=ensemble", "--config.members=logistic,mlp", *SMOKE,
              f"--data_dir={root}", f"--workdir={tmp_path / 'w'}")
    assert "\n" not in str(e.value)
    return root


def test_corrupt_file_is_one_line_error_naming_it(mini_phonemes, tmp_path):
    root = _run_with_a_truncated_file(mini_phonemes, tmp_path)
    # The intact copies still read in full.
    assert htk.read(root / "mfcc" / "arctic_a0001.mfcc").num_frames == MINI_PHONEME_FRAMES[0]
    assert htk.read(root / "mfcc" / "arctic_a0003.mfcc").num_frames == MINI_PHONEME_FRAMES[2]


@pytest.mark.dataset("phonemes")
def test_corrupt_real_file_is_one_line_error_naming_it(data_root, tmp_path):
    root = _run_with_a_truncated_file(data_root / "phonemes", tmp_path)
    assert htk.read(root / "mfcc" / "arctic_a0001.mfcc").num_frames == 2278


def _cli(*args):
    env = {**os.environ, "TFDL_NO_DOWNLOAD": "1"}
    env.pop("TF_CPP_MIN_LOG_LEVEL", None)  # the app itself must silence TensorFlow
    return subprocess.run([sys.executable, "-m", "apps.phonemes", *args], cwd=ROOT, env=env,
                          capture_output=True, text=True, timeout=120)


def test_cli_bad_flags_one_line_and_nonzero_exit(tmp_path):
    r = _cli("--config.epochs=0", f"--workdir={tmp_path / 'wd'}")
    assert r.returncode == 2
    assert r.stderr.strip().splitlines() == [
        "error: --config.epochs must be a positive integer. Received: --config.epochs=0"]
    assert "Traceback" not in r.stderr and "oneDNN" not in r.stderr
    assert not (tmp_path / "wd" / "metrics.json").exists()
    for args, message in [
            (["--config=nope"], "unknown phonemes config 'nope'; choose one of default, best"),
            (["--config.nope=1"], "--config.nope: the phonemes config has no field 'nope'"),
            (["--config.epochs=x"], "--config.epochs=x: invalid literal for int()"),
            (["--model=nope"], "--model=nope: value should be one of <logistic|"),
            (["--model=mlp", "--config=best"], "give --config or --model, not both"),
            (["--config=ensemble", "--config.members=mlp,nope"],
             "--config.members must be models from"),
            (["--config.dropout=1"], "--config.dropout must be in [0, 1)"),
            (["nope.mfcc"], "apps.phonemes takes no arguments. Received: nope.mfcc")]:
        code, lines = app_error("phonemes", *args, f"--workdir={tmp_path / 'wd'}")
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
    load_app("phonemes")
    from tfdl import cli

    for args, (model, members, width, epochs) in [
            ([], ("mlp", (), 512, 8)),  # default
            (["--model=resnet_bottleneck"], ("resnet_bottleneck", (), 128, 8)),
            (["--config.epochs=3", "--model=resnet_basic"], ("resnet_basic", (), 512, 3)),
            (["--config.epochs=3", "--config=logistic"], ("logistic", (), 512, 3)),
            (["--config=best"], ("ensemble", ("mlp", "resnet_basic", "resnet_bottleneck"),
                                 512, 8)),
            (["--config=ensemble", "--config.members=mlp,mlp,mlp"],
             ("ensemble", ("mlp",) * 3, 512, 8)),
            (["--config=ensemble", "--config.members=mlp", "--config.members=logistic"],
             ("ensemble", ("mlp", "logistic"), 512, 8))]:
        flags.FLAGS.unparse_flags()
        cli.parse_flags(["phonemes", *args])
        cfg = cli.config().validate()
        assert (cfg.model, cfg.members, cfg.width, cfg.epochs) == (
            model, members, width, epochs), args
    flags.FLAGS.unparse_flags()
    assert CONFIGS.get("resnet_basic").epochs == 8  # the registry's recipes are never edited
    assert CONFIGS.get("logistic").context == 0


def test_every_named_config_is_valid_and_its_model_has_one():
    for name in CONFIGS.names():
        cfg = CONFIGS.get(name).validate()
        assert cfg.model in models.MODELS.names() + ["ensemble"], name
    load_app("phonemes")
    assert flags.FLAGS["model"].parser.enum_values == [
        n for n in CONFIGS.names() if CONFIGS.resolve(n) == n and n != "mlp_frame"]
    assert set(models.MODELS.names()) <= set(flags.FLAGS["model"].parser.enum_values)
