"""Distillation for keyword spotting, offline (the digits' recipe before it labelled each
augmented batch: `tfdl.digits.distill`; no keywords student has beaten its teacher yet,
docs/experiments/keywords.md, so the consistent recipe is untried here).

A teacher labels every training and validation clip with its probabilities,
once per run, on the clip as decoded (offline distillation; training silence
is the stored zeros the pipeline replaces with noise); the student learns them
under its own augmentations with `tfdl.distill.loss`. The teacher is either a
named keywords config, trained first on the same corpus and splits (in
`<workdir>/teacher`, reused when a resumed run finds it finished), or the
export folder of a keywords run, whose labels must be the student's (its
training split should be too: nothing here can check that).
"""

import json
from pathlib import Path

from tfdl import distill
from tfdl.errors import InputError

# The fields a named teacher takes from its student: the same corpus, splits and clips
# (so the soft labels are for the student's own examples), and the smoke runs' step cap.
SHARED_FIELDS = ("sample_rate", "clip_duration_ms", "wanted_words", "silence_percentage",
                 "unknown_percentage", "validation_percentage", "testing_percentage",
                 "held_out_noise", "seed", "steps_per_epoch")


def _teacher_export(cfg, workdir, data_dir, verbose, restart):
    """The teacher's export folder and metrics.json (None for an export folder given):
    `cfg.teacher` itself, or the named config trained in `<workdir>/teacher`."""
    from tfdl.keywords.configs import CONFIGS
    from tfdl.keywords.train import run

    if Path(cfg.teacher).is_dir():
        return Path(cfg.teacher), None
    folder = Path(workdir) / "teacher"
    if (folder / "metrics.json").is_file() and (folder / "export").is_dir():
        print(f"-- teacher {cfg.teacher}: the finished one in {folder}")
        return folder / "export", folder / "metrics.json"
    teacher = CONFIGS.get(cfg.teacher)
    for field in SHARED_FIELDS:
        setattr(teacher, field, getattr(cfg, field))
    teacher.export = True
    print(f"-- teacher {cfg.teacher} ({teacher.model}, {teacher.preprocess}), trained first "
          f"in {folder}")
    run(teacher, str(folder), data_dir, verbose=verbose, restart=restart)
    return folder / "export", folder / "metrics.json"


def teacher_targets(cfg, data, workdir, data_dir=None, verbose="auto", restart=False):
    """Soft targets for the student's training and validation splits.

    Args:
        cfg: the student's validated `Config` (`teacher`, `temperature`, `soft_weight`).
        data: the student's `tfdl.keywords.data.KeywordData`.
        workdir: the student's run folder.
        data_dir: the run's `data_dir` (a named teacher trains on the same corpus).
        verbose, restart: as `tfdl.keywords.train.run`'s, for a named teacher's run (an
            unfinished one of the same config resumes).

    Returns:
        ({"training": rows, "validation": rows}, each `tfdl.distill.targets` rows in
        the split's order, and a description of the teacher for metrics.json), or
        (None, None) without `cfg.teacher`.

    Raises:
        InputError: the teacher's labels are not the student's.
    """
    import numpy as np

    from tfdl.keywords.serve import Spotter

    if not cfg.teacher:
        return None, None
    export_dir, metrics = _teacher_export(cfg, workdir, data_dir, verbose, restart)
    spotter = Spotter(export_dir, sample_rate=cfg.sample_rate)
    labels = list(data.corpus.labels)
    if list(spotter.labels) != labels:
        theirs = ", ".join(map(str, spotter.labels))
        raise InputError(f"--config.teacher={cfg.teacher}: its labels ({theirs}) are not this "
                         f"run's ({', '.join(labels)})")
    rows, agreement = {}, {}
    for name in ("training", "validation"):
        split = data.splits[name]
        probs = spotter.probabilities(split.waves)
        rows[name] = distill.targets(split.labels, probs)
        agreement[name] = float(np.mean(probs.argmax(-1) == split.labels))
    about = {"teacher": cfg.teacher, "export": str(export_dir), "temperature": cfg.temperature,
             "soft_weight": cfg.soft_weight, "training_agreement": agreement["training"],
             "validation_agreement": agreement["validation"]}
    if metrics is not None:
        m = json.loads(Path(metrics).read_text())
        about.update({k: m[k] for k in ("test_accuracy", "noisy_test_accuracy", "num_params")
                      if k in m})
    return rows, about
