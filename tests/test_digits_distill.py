"""Digits distillation (`tfdl.digits.distill`): the loss against a NumPy oracle, the soft
targets through the input pipeline, and a student run whose teacher is a named config
trained first in the run (then reused) or an export folder."""

import json

import numpy as np
import pytest

from tfdl.digits import data, distill
from tfdl.digits.configs import CONFIGS
from tfdl.errors import InputError


def _softmax(z):
    e = np.exp(z - z.max(-1, keepdims=True))
    return e / e.sum(-1, keepdims=True)


def _oracle(hard, soft, p, temperature, weight):
    """Hinton et al.'s loss, written out in NumPy (float64)."""
    ce = -(hard * np.log(p)).sum(-1)
    t = _softmax(np.log(soft) / temperature)
    s = _softmax(np.log(p) / temperature)
    return (1 - weight) * ce + weight * temperature ** 2 * (t * np.log(t / s)).sum(-1)


@pytest.mark.parametrize("temperature,weight", [(1.0, 0.0), (3.0, 0.7), (2.0, 1.0)])
def test_loss_matches_the_numpy_oracle(temperature, weight):
    rng = np.random.default_rng(0)
    digits = rng.integers(0, 10, 6)
    teacher = _softmax(rng.normal(0, 3, (6, 10)))
    student = _softmax(rng.normal(0, 2, (6, 10)))
    y = distill.targets(digits, teacher)
    assert y.shape == (6, 20) and (y[:, :10].argmax(-1) == digits).all()
    got = distill.loss(temperature, weight)(y, student.astype(np.float32))
    want = _oracle(y[:, :10], teacher, student, temperature, weight).mean()
    np.testing.assert_allclose(float(got), want, rtol=2e-5)
    # A student that matches its teacher pays only the hard term.
    same = distill.loss(temperature, 1.0)(y, teacher.astype(np.float32))
    assert abs(float(same)) < 1e-5


def test_accuracy_reads_the_digit_half_of_the_targets():
    metric = distill.accuracy()
    y = distill.targets([1, 2, 3], np.full((3, 10), 0.1))
    pred = np.eye(10, dtype=np.float32)[[1, 2, 0]]
    metric.update_state(y, pred)
    assert metric.name == "accuracy" and float(metric.result()) == pytest.approx(2 / 3)


@pytest.mark.parametrize("speakers", [None, ["amy", "ben"]])
def test_datasets_carry_each_recordings_own_row(tiny_fsdd, speakers):
    recs = [r for r in data.load(str(tiny_fsdd)) if r.take >= 5]  # 40: 20 per speaker
    rng = np.random.default_rng(1)
    soft = {str(r.path): distill.targets([r.digit], _softmax(rng.normal(0, 1, (1, 10))))[0]
            for r in recs}
    cfg = CONFIGS.get("compact")
    cfg.batch_size = 8
    train_ds, plain, val, _ = data.datasets(cfg, recs, recs[:8], recs[:4], 8000, None, 1,
                                            speakers, soft=soft)
    # The plain (adaptation) set keeps int digits; the fitted sets carry the rows, in file
    # order where not shuffled, and every row once per epoch where shuffled.
    x, y = next(iter(plain))
    assert y.dtype.is_integer
    _, yv = next(iter(val))
    rows = yv["probabilities"] if speakers else yv
    np.testing.assert_allclose(rows.numpy(), [soft[str(r.path)] for r in recs[:8]])
    if speakers:
        assert list(yv["speaker"].numpy()) == [speakers.index(r.speaker) for r in recs[:8]]
    seen = np.concatenate([(b["probabilities"] if speakers else b).numpy()
                           for _, b in train_ds])
    want = np.stack([soft[str(r.path)] for r in recs])
    assert seen.shape == want.shape
    np.testing.assert_allclose(np.sort(seen, axis=0), np.sort(want, axis=0))


def test_teacher_must_be_a_named_config_or_an_export(tmp_path):
    cfg = CONFIGS.get("compact")
    cfg.teacher = "no_such_config"
    with pytest.raises(InputError, match=r"--config.teacher must be a named digits config"):
        cfg.validate()
    cfg.teacher, cfg.soft_weight = "compact_pair", 1.5
    with pytest.raises(InputError, match=r"--config.soft_weight must be in \[0, 1\]"):
        cfg.validate()
    cfg.soft_weight, cfg.teacher = 0.5, str(tmp_path)
    assert cfg.validate().teacher == str(tmp_path)


def test_student_learns_from_a_teacher_trained_in_the_run(tiny_fsdd, tmp_path, monkeypatch):
    """The named teacher trains first (its own workdir and export), labels the student's
    training recordings, and is reused, not retrained, when its folder is finished; an
    export folder serves as a teacher too."""
    from tfdl.digits import train

    named = CONFIGS.get

    def short(name):  # the teacher's own recipe, 3 epochs instead of 60 (test time)
        cfg = named(name)
        if name == "mfcc":
            cfg.epochs = 3
        return cfg

    monkeypatch.setattr(CONFIGS, "get", short)
    cfg = CONFIGS.get("compact")
    cfg.teacher, cfg.epochs, cfg.steps_per_epoch, cfg.batch_size = "mfcc", 1, 1, 8
    cfg.augment, cfg.export, cfg.val_fraction = False, False, 0.0
    wd = tmp_path / "student"
    report = train.run(cfg.validate(), str(wd), str(tiny_fsdd), verbose=0)
    teacher = json.loads((wd / "teacher" / "metrics.json").read_text())
    assert report["distillation"]["teacher"] == "mfcc"
    assert report["distillation"]["accuracy"] == teacher["accuracy"]
    assert 0.0 <= report["distillation"]["training_agreement"] <= 1.0
    assert (wd / "teacher" / "export" / "saved_model.pb").is_file()
    history = json.loads((wd / "history.json").read_text())
    assert len(history["accuracy"]) == 1 and history["loss"][0] > 0
    # A finished teacher is reused (a resumed run), not trained again.
    from tfdl.workdir import Workdir

    train_split, test_split = data.split(data.load(str(tiny_fsdd)))
    stamp = (wd / "teacher" / "metrics.json").stat().st_mtime_ns
    export_dir, _ = distill._teacher_export(cfg, train_split, test_split,
                                            Workdir(wd, lock=False), None, 0)
    assert export_dir == wd / "teacher" / "export"
    assert (wd / "teacher" / "metrics.json").stat().st_mtime_ns == stamp
    # The same teacher as an export folder labels the same recordings the same way.
    cfg.teacher = str(wd / "teacher" / "export")
    soft, about = distill.teacher_targets(cfg.validate(), train_split, test_split, train_split,
                                          None)
    assert about["export"] == cfg.teacher and "accuracy" not in about
    assert about["training_agreement"] == report["distillation"]["training_agreement"]
    assert len(soft) == len(train_split) == 40
