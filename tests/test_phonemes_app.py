"""`apps.phonemes` smoke run on a few stand-in utterances (conftest `mini_phonemes`: synthetic
HTK files), export parity, bad inputs."""

import dataclasses
import json
import shutil

import numpy as np
import pytest
from absl import flags
from absl.testing import flagsaver

from conftest import MINI_PHONEME_FRAMES, load_app
from tfdl import export, htk
from tfdl.datasets import phonemes as data
from tfdl.errors import InputError
from tfdl import phonemes as phonemes_lib
from tfdl.models import phonemes as models

app = DEFAULTS = SMOKE = None  # Set by the `_load_app` fixture before the first test.


@pytest.fixture(autouse=True, scope="module")
def _load_app():
    # Other apps in this pytest process define flags with the same names (absl flags
    # are global): load_app leaves only this app's flags, and every flag is set explicitly.
    global app, DEFAULTS, SMOKE
    app = load_app("phonemes")
    flags.FLAGS(["test"])
    DEFAULTS = {**dataclasses.asdict(app.Config()), "models": ["mlp"]}
    SMOKE = dict(DEFAULTS, max_utterances=6, test_utterances=2, val_utterances=1,
                 models=["logistic", "mlp"],
                 epochs=1, frames_per_epoch=1024, width=16, depth=1, context=2, stride=2,
                 batch_size=256)


def test_smoke_run_writes_every_artifact(mini_phonemes, tmp_path):
    workdir = tmp_path / "run"
    with flagsaver.flagsaver(**dict(SMOKE, data_dir=str(mini_phonemes), workdir=str(workdir))):
        app.main(["phonemes"])
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

    # The SavedModel takes one utterance's raw MFCC and reproduces the run's test accuracy.
    loaded = export.load(workdir / "export")
    phones = json.loads((workdir / "phones.json").read_text())
    correct = total = 0
    corpus = data.load_corpus(mini_phonemes, max_utterances=6)
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


def test_export_matches_the_keras_members(tmp_path):
    rng = np.random.default_rng(0)
    utt = data.Utterance("u", (rng.normal(size=(40, 13)) * 3 + 5).astype(np.float32),
                         np.array(["a"] * 40))
    members = [models.MODELS.build(n, num_classes=4, context=3, width=8, depth=1)
               for n in ("mlp", "resnet_basic")]
    weights = [0.25, 0.75]
    phonemes_lib.export_utterance_model(members, weights, tmp_path / "e", ["a", "b", "c", "d"],
                                  context=3, stride=2)
    frames = data.pack([utt], {"a": 0}, pad=6)
    expected = sum(w * phonemes_lib.predict(m, frames, 3, 2) for w, m in zip(weights, members))
    loaded = export.load(tmp_path / "e")  # keep alive while serving
    out = loaded.serve(utt.features)
    np.testing.assert_allclose(out["probabilities"].numpy(), expected, atol=1e-5)
    np.testing.assert_array_equal(out["class_id"].numpy(), expected.argmax(1))


def test_unknown_model_flag(mini_phonemes, tmp_path):
    with flagsaver.flagsaver(**dict(DEFAULTS, data_dir=str(mini_phonemes), workdir=str(tmp_path),
                                    models=["nope"])):
        with pytest.raises(InputError, match="--models: unknown model 'nope'"):
            app.main(["phonemes"])


def test_bad_numbers(tmp_path):
    with pytest.raises(InputError, match="--dropout must be in"):
        app.Config(dropout=1.5).validate()
    with pytest.raises(InputError, match="--epochs must be positive"):
        app.Config(epochs=0).validate()


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
    with flagsaver.flagsaver(**dict(SMOKE, data_dir=str(root), workdir=str(tmp_path / "w"))):
        with pytest.raises(InputError, match=r"arctic_a0002\.mfcc is truncated") as e:
            app.main(["phonemes"])
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
