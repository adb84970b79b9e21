"""The distillation loss and metric (`tfdl.distill`) against a NumPy oracle, for any number
of classes, and the teacher checks (`tfdl.config.check_teacher`) of each task's config."""

import importlib

import numpy as np
import pytest

from tfdl import distill
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


@pytest.mark.parametrize("temperature,weight,classes", [(1.0, 0.0, 10), (3.0, 0.7, 10),
                                                        (2.0, 1.0, 12)])
def test_loss_matches_the_numpy_oracle(temperature, weight, classes):
    rng = np.random.default_rng(0)
    labels = rng.integers(0, classes, 6)
    teacher = _softmax(rng.normal(0, 3, (6, classes)))
    student = _softmax(rng.normal(0, 2, (6, classes)))
    y = distill.targets(labels, teacher)
    assert y.shape == (6, 2 * classes) and (y[:, :classes].argmax(-1) == labels).all()
    got = distill.loss(temperature, weight)(y, student.astype(np.float32))
    want = _oracle(y[:, :classes], teacher, student, temperature, weight).mean()
    np.testing.assert_allclose(float(got), want, rtol=2e-5)
    # A student that matches its teacher pays only the hard term.
    same = distill.loss(temperature, 1.0)(y, teacher.astype(np.float32))
    assert abs(float(same)) < 1e-5


def test_accuracy_reads_the_label_half_of_the_targets():
    metric = distill.accuracy()
    y = distill.targets([1, 2, 3], np.full((3, 10), 0.1))
    pred = np.eye(10, dtype=np.float32)[[1, 2, 0]]
    metric.update_state(y, pred)
    assert metric.name == "accuracy" and float(metric.result()) == pytest.approx(2 / 3)


@pytest.mark.parametrize("task,student,teacher,folder", [
    ("digits", "compact", "compact_pair", "a digits run folder"),
    ("keywords", "ds_cnn", "cnn_robust", "an export folder")])
def test_teacher_must_be_a_named_config_or_a_folder(task, student, teacher, folder, tmp_path,
                                                    monkeypatch):
    configs = importlib.import_module(f"tfdl.{task}.configs").CONFIGS
    cfg = configs.get(student)
    cfg.teacher = "no_such_config"
    with pytest.raises(InputError, match=rf"--config.teacher must be a named {task} config "
                                         rf"\(.*{teacher}.*\) or {folder}"):
        cfg.validate()
    cfg.teacher, cfg.soft_weight = teacher, 1.5
    with pytest.raises(InputError, match=r"--config.soft_weight must be in \[0, 1\]"):
        cfg.validate()
    cfg.soft_weight, cfg.temperature = 0.5, 0.0
    with pytest.raises(InputError, match=r"--config.temperature must be"):
        cfg.validate()
    cfg.temperature, cfg.teacher = 2.0, str(tmp_path)
    assert cfg.validate().teacher == str(tmp_path)
    named = configs.get

    def distilled(name):  # the teacher as if it were a student itself
        got = named(name)
        if name == teacher:
            got.teacher = student
        return got

    monkeypatch.setattr(configs, "get", distilled)
    cfg.teacher = teacher
    with pytest.raises(InputError, match="a config that is not distilled itself"):
        cfg.validate()
