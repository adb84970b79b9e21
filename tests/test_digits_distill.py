"""Digits distillation (`tfdl.digits.distill`): the soft targets through the input
pipeline, and a student run whose teacher is a named config trained first in the run
(then reused) or an export folder."""

import json

import numpy as np
import pytest
from conftest import short_recipe

from tfdl.digits import data, distill
from tfdl.digits.configs import CONFIGS


def _softmax(z):
    e = np.exp(z - z.max(-1, keepdims=True))
    return e / e.sum(-1, keepdims=True)


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


def test_student_learns_from_a_teacher_trained_in_the_run(tiny_fsdd, tmp_path, monkeypatch):
    """The named teacher trains first (its own workdir and export), labels the student's
    training recordings, and is reused, not retrained, when its folder is finished; an
    export folder serves as a teacher too."""
    from tfdl.digits import train

    short_recipe(monkeypatch, CONFIGS, "mfcc", 3)  # the teacher's own recipe, 3 epochs
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
