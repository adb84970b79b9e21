"""Keywords distillation (`tfdl.keywords.distill`): the soft rows through the augmented
pipeline, and a student run whose teacher is a named config trained
first in the run (then reused) or an export folder."""

import json

import numpy as np
import pytest

from conftest import short_recipe
from test_keywords_app import SMOKE, main
from test_keywords_data import make_corpus
from tfdl import distill
from tfdl.errors import InputError
from tfdl.keywords import data as kd
from tfdl.keywords.configs import CONFIGS


def test_rows_follow_their_clips_and_silence_still_gets_noise():
    n, samples = 12, 400
    waves = np.zeros([n, samples], np.float32)
    waves[:, :3] = np.arange(n)[:, None] + 1  # each clip's first samples name it
    labels = np.array([0, 0] + [1, 2, 3] * 3 + [2], np.int32)  # two silence clips
    split = kd.Split(waves, labels, [""] * n)
    probs = np.random.default_rng(0).dirichlet(np.ones(4), n).astype(np.float32)
    rows = distill.targets(labels, probs)
    cfg = CONFIGS.get("cnn")
    cfg.sample_rate, cfg.time_shift_ms, cfg.batch_size = 8000, 0.0, 5
    cfg.background_frequency = 0.0  # words untouched; silence still becomes noise
    bank = np.full([2, 2 * samples], 0.25, np.float32)
    seen = {}
    for x, y in kd.train_dataset(split, cfg, bank, soft=rows):
        for wave, row in zip(x.numpy(), y.numpy()):
            if row[0] == 1.0:  # one-hot silence: a noise crop, not the stored zeros
                assert np.abs(wave).max() > 0 and wave[0] not in range(1, n + 1)
                continue
            seen[int(wave[0]) - 1] = row
    assert sorted(seen) == list(range(2, n))
    for i, row in seen.items():
        np.testing.assert_array_equal(row, rows[i])


def test_student_learns_from_a_teacher_trained_in_the_run(tmp_path, monkeypatch):
    """The named teacher trains first (its own workdir and export), labels the student's
    clips and is reused, not retrained, by a second run; an export folder teaches too,
    and one with other labels is refused in one line."""
    short_recipe(monkeypatch, CONFIGS, "cnn", 2)  # the teacher's own recipe, 2 epochs
    root = make_corpus(tmp_path / "kw")
    student = ("--model=ds_cnn", *SMOKE, "--config.wanted_words=a,b",
               "--config.held_out_noise=hum.wav", f"--data_dir={root}",
               "--config.teacher=cnn", "--config.export=false")
    main(*student, f"--workdir={tmp_path / 'run'}")
    teacher = json.loads((tmp_path / "run" / "teacher" / "metrics.json").read_text())
    m = json.loads((tmp_path / "run" / "metrics.json").read_text())
    assert m["distillation"]["teacher"] == "cnn"
    assert m["distillation"]["test_accuracy"] == teacher["test_accuracy"]
    assert 0.0 <= m["distillation"]["training_agreement"] <= 1.0
    assert json.loads((tmp_path / "run" / "teacher" / "config.json").read_text())[
        "sample_rate"] == 8000  # the student's corpus and clips, the teacher's own recipe
    history = json.loads((tmp_path / "run" / "history.json").read_text())
    assert len(history["accuracy"]) == 1 and history["loss"][0] > 0
    stamp = (tmp_path / "run" / "teacher" / "metrics.json").stat().st_mtime_ns
    main(*student, f"--workdir={tmp_path / 'run'}")  # the finished teacher is reused
    assert (tmp_path / "run" / "teacher" / "metrics.json").stat().st_mtime_ns == stamp
    export = tmp_path / "run" / "teacher" / "export"
    main(*student[:-2], f"--config.teacher={export}", "--config.export=false",
         f"--workdir={tmp_path / 'run2'}")
    m2 = json.loads((tmp_path / "run2" / "metrics.json").read_text())
    assert m2["distillation"]["export"] == str(export)
    assert not (tmp_path / "run2" / "teacher").exists()
    with pytest.raises(InputError, match=r"its labels \(_silence_, _unknown_, a, b\) are not "
                                         r"this run's \(_silence_, _unknown_, a, b, c\)"):
        main("--model=ds_cnn", *SMOKE, "--config.wanted_words=a,b,c",
             "--config.held_out_noise=hum.wav", f"--data_dir={root}",
             f"--config.teacher={export}", f"--workdir={tmp_path / 'run3'}")
