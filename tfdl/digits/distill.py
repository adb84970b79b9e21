"""Consistent knowledge distillation for spoken digits (Hinton, Vinyals and Dean 2015;
Beyer et al. 2022, "Knowledge distillation: a good teacher is patient and consistent").

A teacher network (the robust ensemble `compact_pair`: its two members averaged)
labels, batch by batch in the input pipeline, the very augmented view (speed,
shift, noise) that a single small student sees; the student learns those
probabilities and the digit (`tfdl.distill.loss`). The teacher runs one pass per
view: its test-time averaging (7 speeds x 4 shifts) is what the random
augmentation already varies, and would cost 28 times as much per batch.
Leave-one-speaker-out, the student taught this way scored 91.6 % against 90.5 % for
the labels alone; labelled once per recording as recorded (offline), it never beat
the labels alone (docs/experiments/digits.md, 2026-12-05).

The teacher is either a named digits config, trained first on the same training
split (in `<workdir>/teacher`, reused when a resumed run finds it finished; per
fold in a leave-one-speaker-out run, so no fold's teacher has heard its test
speaker), or the folder of a finished digits run (its `config.json` and
checkpoint; a leave-one-speaker-out run's folder gives each fold its own
`fold_<speaker>/`). A given run's training split must be the student's: nothing
here can check that.
"""

import json
from pathlib import Path

from tfdl.errors import InputError


def fold_teacher(cfg, speaker):
    """The teacher of `speaker`'s leave-one-speaker-out fold: `cfg.teacher`'s
    `fold_<speaker>/` when it is a LOSO run's folder, else `cfg.teacher` itself."""
    fold = Path(cfg.teacher) / f"fold_{speaker}" if cfg.teacher else None
    return str(fold) if fold is not None and fold.is_dir() else cfg.teacher


def _teacher_run(cfg, train, test, workdir, strategy, verbose):
    """The teacher's run folder: `cfg.teacher` itself, or the named config trained on `train`
    in `<workdir>/teacher` (reused once finished there)."""
    from tfdl.digits.configs import CONFIGS
    from tfdl.digits.train import train_and_evaluate

    if Path(cfg.teacher).is_dir():
        return Path(cfg.teacher)
    folder = workdir.root / "teacher"
    if (folder / "metrics.json").is_file() and (folder / "config.json").is_file():
        print(f"-- teacher {cfg.teacher}: the finished one in {folder}")
        return folder
    sub = workdir.sub("teacher")  # (a Workdir clears its metrics.json: checked before)
    teacher = CONFIGS.get(cfg.teacher)
    # The student's split, seed and step cap (smoke runs); the teacher's own recipe. Its
    # network is what labels the student's batches: no export needed.
    for field in ("split", "test_speakers", "seed", "steps_per_epoch", "distribute"):
        setattr(teacher, field, getattr(cfg, field))
    teacher.export = False
    sub.write_json("config.json", teacher)
    print(f"-- teacher {cfg.teacher} ({teacher.model}), trained first in {sub.root}")
    train_and_evaluate(teacher.validate(), train, test, sub, strategy, plots=False,
                       verbose=verbose)
    return sub.root


def load_teacher(folder):
    """The network of the finished digits run in `folder`, its weights loaded.

    Raises:
        InputError: `folder` holds no digits run (`config.json` naming a model, and
            `tfdl.workdir.CHECKPOINT`).
    """
    from tfdl.digits.model import MODELS
    from tfdl.workdir import CHECKPOINT

    folder = Path(folder)
    config, weights = folder / "config.json", folder / CHECKPOINT
    if not (config.is_file() and weights.is_file()):
        raise InputError(f"--config.teacher: {folder} is not a finished digits run (no "
                         f"config.json and {CHECKPOINT})")
    model = json.loads(config.read_text()).get("model")
    if model not in MODELS.names():
        raise InputError(f"--config.teacher: {config} names no digits model ({model!r})")
    net = MODELS.build(model)
    net.load_weights(str(weights))
    return net


def teacher_function(cfg, train, test, workdir, strategy=None, verbose="auto"):
    """The teacher as a function of a waveform batch, for the input pipeline
    (`tfdl.digits.data.datasets`) to label every augmented view.

    Args:
        cfg: the student's validated `Config` (`teacher`, `temperature`, `soft_weight`).
        train, test: the run's training split (before any validation hold-out) and test
            split, on which a named teacher trains and is scored.
        workdir: the student's `tfdl.workdir.Workdir`.

    Returns:
        (fn: float32 [batch, samples] -> the teacher's probabilities [batch, 10],
        a description of the teacher for metrics.json), or (None, None) without
        `cfg.teacher`.
    """
    import keras
    import tensorflow as tf

    if not cfg.teacher:
        return None, None
    folder = _teacher_run(cfg, train, test, workdir, strategy, verbose)
    net = load_teacher(folder)

    def fn(waves):
        return tf.stop_gradient(net(waves, training=False))

    about = {"teacher": cfg.teacher, "run": str(folder), "labels": "each augmented view",
             "temperature": cfg.temperature, "soft_weight": cfg.soft_weight}
    if (folder / "metrics.json").is_file():
        about["accuracy"] = json.loads((folder / "metrics.json").read_text())["accuracy"]
    keras.utils.set_random_seed(cfg.seed)  # the student starts the same, teacher trained or not
    return fn, about
