"""Digits distillation (`tfdl.digits.distill`): the teacher's probabilities on each
augmented view through the input pipeline, and a student run whose teacher is a named
config trained first in the run (then reused) or a finished run's folder."""

import json

import numpy as np
import pytest
from conftest import short_recipe

from tfdl.digits import data, distill
from tfdl.digits.configs import CONFIGS
from tfdl.errors import InputError


def _softmax(z):
    e = np.exp(z - z.max(-1, keepdims=True))
    return e / e.sum(-1, keepdims=True)


def _teacher(x):  # a stand-in teacher: probabilities from the batch's first 10 samples
    import tensorflow as tf

    return tf.nn.softmax(50.0 * x[:, :10], axis=-1)


@pytest.mark.parametrize("speakers", [None, ["amy", "ben"]])
def test_datasets_carry_the_teachers_probabilities_on_each_augmented_view(tiny_fsdd,
                                                                         speakers):
    import tensorflow as tf

    recs = [r for r in data.load(str(tiny_fsdd)) if r.take >= 5]  # 40: 20 per speaker
    cfg = CONFIGS.get("compact")
    cfg.batch_size = 8

    def augment(x):  # a view the teacher could not see without the pipeline's help
        return x + tf.random.normal(tf.shape(x), stddev=0.05)

    train_ds, plain, val, _ = data.datasets(cfg, recs, recs[:8], recs[:4], 8000, augment, 1,
                                            speakers, teacher=_teacher)
    # The plain (adaptation) set keeps int digits; the fitted sets carry the one-hot digit
    # and the teacher's probabilities on the very waveforms of their batch.
    _, y = next(iter(plain))
    assert y.dtype.is_integer
    xv, yv = next(iter(val))
    rows = (yv["probabilities"] if speakers else yv).numpy()
    np.testing.assert_allclose(rows[:, :10], np.eye(10)[[r.digit for r in recs[:8]]])
    np.testing.assert_allclose(rows[:, 10:], _softmax(50.0 * xv.numpy()[:, :10]), atol=1e-6)
    if speakers:
        assert list(yv["speaker"].numpy()) == [speakers.index(r.speaker) for r in recs[:8]]
    clean = np.concatenate([x.numpy()[:, :10] for x, _ in plain])
    digits = []
    for x, y in train_ds:
        rows = (y["probabilities"] if speakers else y).numpy()
        np.testing.assert_allclose(rows[:, 10:], _softmax(50.0 * x.numpy()[:, :10]),
                                   atol=1e-6)
        digits += list(rows[:, :10].argmax(-1))
        # The view is the augmented one: no clip is as recorded.
        gaps = np.abs(x.numpy()[:, None, :10] - clean[None]).max(-1)
        assert gaps.min() > 1e-3
    assert sorted(digits) == sorted(r.digit for r in recs)  # every recording once an epoch


def test_fold_teacher_is_the_loso_runs_fold_when_there_is_one(tmp_path):
    cfg = CONFIGS.get("loso_student")
    assert distill.fold_teacher(cfg, "amy") == "compact_pair"  # a named teacher: per fold
    (tmp_path / "fold_amy").mkdir()
    cfg.teacher = str(tmp_path)
    assert distill.fold_teacher(cfg, "amy") == str(tmp_path / "fold_amy")
    assert distill.fold_teacher(cfg, "ben") == str(tmp_path)  # an official-split run
    cfg.teacher = ""
    assert distill.fold_teacher(cfg, "amy") == ""


def test_a_folder_without_a_finished_run_is_one_line_error(tmp_path):
    with pytest.raises(InputError, match=r"--config.teacher: .* is not a finished digits run"):
        distill.load_teacher(tmp_path)
    (tmp_path / "checkpoints").mkdir()
    (tmp_path / "checkpoints" / "best.weights.h5").write_bytes(b"")
    (tmp_path / "config.json").write_text('{"model": "no_such_model"}')
    with pytest.raises(InputError, match=r"names no digits model \('no_such_model'\)"):
        distill.load_teacher(tmp_path)


def test_student_learns_from_a_teacher_trained_in_the_run(tiny_fsdd, tmp_path, monkeypatch):
    """The named teacher trains first (its own workdir), labels the student's batches, and
    is reused, not retrained, when its folder is finished; that folder, given as the
    teacher, is the same network: it scores the teacher's recorded test accuracy."""
    from tfdl.digits import train
    from tfdl.workdir import Workdir

    short_recipe(monkeypatch, CONFIGS, "mfcc", 3)  # the teacher's own recipe, 3 epochs
    cfg = CONFIGS.get("compact")
    cfg.teacher, cfg.epochs, cfg.steps_per_epoch, cfg.batch_size = "mfcc", 1, 1, 8
    cfg.augment, cfg.export, cfg.val_fraction = False, False, 0.0
    wd = tmp_path / "student"
    report = train.run(cfg.validate(), str(wd), str(tiny_fsdd), verbose=0)
    teacher = json.loads((wd / "teacher" / "metrics.json").read_text())
    assert report["distillation"]["teacher"] == "mfcc"
    assert report["distillation"]["accuracy"] == teacher["accuracy"]
    assert report["distillation"]["run"] == str(wd / "teacher")
    history = json.loads((wd / "history.json").read_text())
    assert len(history["accuracy"]) == 1 and history["loss"][0] > 0
    # A finished teacher is reused (a resumed run), not trained again.
    train_split, test_split = data.split(data.load(str(tiny_fsdd)))
    stamp = (wd / "teacher" / "metrics.json").stat().st_mtime_ns
    fn, about = distill.teacher_function(cfg, train_split, test_split,
                                         Workdir(wd, lock=False), None, 0)
    assert (wd / "teacher" / "metrics.json").stat().st_mtime_ns == stamp
    # The same teacher as a run folder: the network that was scored.
    cfg.teacher = str(wd / "teacher")
    fn2, about = distill.teacher_function(cfg.validate(), train_split, test_split, None)
    assert about["run"] == cfg.teacher and about["accuracy"] == teacher["accuracy"]
    _, plain, _, test_ds = data.datasets(cfg, train_split, [], test_split, 8000, None, 1)
    probs = np.concatenate([fn2(x).numpy() for x, _ in test_ds])
    truth = [r.digit for r in test_split]
    assert np.mean(probs.argmax(-1) == truth) == pytest.approx(teacher["accuracy"])
    np.testing.assert_allclose(np.concatenate([fn(x).numpy() for x, _ in test_ds]), probs)
