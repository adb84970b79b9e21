"""Knowledge distillation for spoken digits (Hinton, Vinyals and Dean 2015).

A teacher (the robust ensemble with its test-time passes: `compact_pair`)
labels every training recording with its probabilities; a single small
student (one pass, no test-time averaging) learns them under its own training
augmentations. The loss (`tfdl.distill.loss`) mixes the usual cross-entropy on
the digit with the teacher's probabilities softened at a temperature T.

The soft labels are computed once per run, on each recording as recorded
(offline distillation): the teacher's 56 passes per clip on every augmented
batch would cost more than the student's training. The teacher is either a
named digits config, trained first on the same training split (in
`<workdir>/teacher`, reused when a resumed run finds it finished; per fold in
a leave-one-speaker-out run, so no fold's teacher has heard its test
speaker), or the export folder of a digits run (its training split must be the
student's: nothing here can check that).
"""

from pathlib import Path

import numpy as np

from tfdl.digits import data
from tfdl.distill import targets


def _teacher_export(cfg, train, test, workdir, strategy, verbose):
    """The teacher's export folder: `cfg.teacher` itself, or the named config trained on
    `train` in `<workdir>/teacher` (reused once finished there)."""
    from tfdl.digits.configs import CONFIGS
    from tfdl.digits.train import train_and_evaluate

    if Path(cfg.teacher).is_dir():
        return Path(cfg.teacher), None
    folder = workdir.root / "teacher"
    if (folder / "metrics.json").is_file() and (folder / "export").is_dir():
        print(f"-- teacher {cfg.teacher}: the finished one in {folder}")
        return folder / "export", folder / "metrics.json"
    sub = workdir.sub("teacher")  # (a Workdir clears its metrics.json: checked before)
    teacher = CONFIGS.get(cfg.teacher)
    # The student's split, seed and step cap (smoke runs); the teacher's own recipe.
    for field in ("split", "test_speakers", "seed", "steps_per_epoch", "distribute"):
        setattr(teacher, field, getattr(cfg, field))
    teacher.export = True
    print(f"-- teacher {cfg.teacher} ({teacher.model}), trained first in {sub.root}")
    train_and_evaluate(teacher.validate(), train, test, sub, strategy, plots=False,
                       verbose=verbose)
    return sub.export, sub.root / "metrics.json"


def teacher_targets(cfg, train, test, recordings, workdir, strategy=None, verbose="auto"):
    """Soft targets for `recordings` (the student's training and validation recordings).

    Args:
        cfg: the student's validated `Config` (`teacher`, `batch_size`).
        train, test: the run's training split (before any validation hold-out) and test
            split, on which a named teacher trains and is scored.
        recordings: the recordings to label.
        workdir: the student's `tfdl.workdir.Workdir`.

    Returns:
        ({recording path: `targets` row}, a description of the teacher for metrics.json),
        or (None, None) without `cfg.teacher`.
    """
    import json

    import keras

    from tfdl import export
    from tfdl.pipeline import waveform_dataset

    if not cfg.teacher:
        return None, None
    export_dir, metrics = _teacher_export(cfg, train, test, workdir, strategy, verbose)
    served = export.load(export_dir, task="digits")
    paths, digits = data.paths_and_labels(recordings)
    ds = waveform_dataset(paths, digits, sample_rate=data.SAMPLE_RATE, length=data.SAMPLE_RATE,
                          batch_size=cfg.batch_size)
    probs = np.concatenate([served.serve(x)["probabilities"].numpy() for x, _ in ds])
    rows = targets(digits, probs)
    about = {"teacher": cfg.teacher, "export": str(export_dir),
             "temperature": cfg.temperature, "soft_weight": cfg.soft_weight,
             "training_agreement": float(np.mean(probs.argmax(-1) == np.asarray(digits)))}
    if metrics is not None:
        about["accuracy"] = json.loads(metrics.read_text())["accuracy"]
    keras.utils.set_random_seed(cfg.seed)  # the student starts the same, teacher trained or not
    return {str(p): row for p, row in zip(paths, rows)}, about
