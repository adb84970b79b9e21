"""Random architecture search under a parameter budget, with keras-tuner.

    python -m tuning.search --app=digits --max_trials=20 --epochs=6 --max_params=100000

Each trial builds a model from the app's own registry with sampled depth,
width/filters, kernel size, dropout, batch norm, activation, optimiser and
learning rate (`tuning.hypermodels`), trains it for `--epochs` on the search
training split and scores it on a validation split (never the test set).
With `--max_params`, architectures over budget are redrawn or shrunk before
they are trained (the reference's random search under a parameter budget), and
keras-tuner's `max_model_size` rejects any that slip through.

Writes into `--directory/--project_name` (default `runs/tuning/<app>`):
keras-tuner's trial folders, `results.csv` / `results.md` (trial,
hyperparameters, parameters, validation metric, time), `params_vs_metric.png`,
`tensorboard/` (HParams dashboard: `tensorboard --logdir runs/tuning/<app>/tensorboard`),
and `best/`: the best architecture retrained for `--final_epochs` on the whole
training split, tested once on the test split and exported like the app's own
SavedModel (`best/export`, raw waveforms in), with `best/metrics.json`.

A stopped search continues where it left off when run again (`--resume`,
the default); `--overwrite` starts over. For a search over several processes
(keras-tuner chief/worker mode) see `tuning/distributed.py`.
"""

import dataclasses
import os
import random
import shutil
import time
from pathlib import Path

import tfdl  # noqa: F401  (quiet TensorFlow start-up; before keras/tensorflow)
import keras
import keras_tuner
import numpy as np

from tfdl import cli
from tfdl.errors import InputError
from tuning import distributed, report
from tuning.hypermodels import APPS, trainable_params

TRIAL_LOG = "ran_by.jsonl"


@dataclasses.dataclass(frozen=True)
class Config:
    """A search's settings (the flags of `python -m tuning.search`)."""

    app: str = "digits"
    max_trials: int = 20
    executions_per_trial: int = 1
    epochs: int = 5
    final_epochs: int = 30
    batch_size: int = 0
    seed: int = 0
    directory: str = "runs/tuning"
    project_name: str = ""
    overwrite: bool = False
    resume: bool = True
    max_params: int = 0
    data_dir: str = None
    oracle_timeout: float = 60.0
    threads: int = 0
    verbose: str = "auto"

    @property
    def project(self):
        return self.project_name or self.app

    @property
    def project_dir(self):
        return Path(self.directory).expanduser() / self.project

    def validate(self):
        """Raises InputError naming the flag of the first bad value."""
        cli.check_choice("app", self.app, APPS)
        for name in ("max_trials", "executions_per_trial", "epochs"):
            value = getattr(self, name)
            if not isinstance(value, int) or value <= 0:
                raise InputError(f"--{name} must be a positive integer. Received: "
                                 f"--{name}={value}")
        zero = {"final_epochs": "no retraining", "max_params": "no budget",
                "batch_size": "the app's default"}
        for name, meaning in zero.items():
            value = getattr(self, name)
            if not isinstance(value, int) or value < 0:
                raise InputError(f"--{name} must be an integer >= 0 (0: {meaning}). "
                                 f"Received: --{name}={value}")
        if not isinstance(self.threads, int) or self.threads < 0:
            raise InputError(f"--threads must be an integer >= 0 (0: TensorFlow's default). "
                             f"Received: --threads={self.threads}")
        if not self.oracle_timeout > 0:
            raise InputError(f"--oracle_timeout must be positive. Received: "
                             f"--oracle_timeout={self.oracle_timeout}")
        if not self.directory:
            raise InputError("--directory must not be empty")
        return self


class BudgetRandomSearchOracle(keras_tuner.oracles.RandomSearchOracle):
    """Random search whose trials respect a parameter budget.

    A random draw over budget is redrawn up to `redraws` times; then its size
    hyperparameters are moved down one notch at a time (a random one each
    step) until it fits, as the reference's random search spends a budget
    layer by layer. Only architectures within `max_params` reach training, so
    the search never dies of consecutive oversized failures.

    Args:
        hypermodel: an `AppHyperModel` (counts parameters without training).
        max_params: budget in trainable parameters (0/None: none).
        redraws: fresh draws before shrinking.
        **kwargs: `RandomSearchOracle` arguments (objective, max_trials, seed).
    """

    def __init__(self, hypermodel, max_params=None, redraws=3, **kwargs):
        super().__init__(**kwargs)
        self._hypermodel = hypermodel
        self.max_params = max_params or None
        self.redraws = redraws
        self.redrawn = 0
        self.shrunk = 0

    def populate_space(self, trial_id):
        if not self.max_params:
            return super().populate_space(trial_id)
        for _ in range(20):
            for _ in range(self.redraws + 1):
                values = self._random_values()
                if values is None:
                    return {"status": keras_tuner.engine.trial.TrialStatus.STOPPED,
                            "values": None}
                if self._hypermodel.count(values) <= self.max_params:
                    return {"status": keras_tuner.engine.trial.TrialStatus.RUNNING,
                            "values": values}
                self.redrawn += 1
            rng = random.Random(f"{self.seed}-{self._seed_state}")
            values, _ = self._hypermodel.shrink(values, self.max_params, rng)
            if values is not None and not self._duplicate(values):
                self.shrunk += 1
                return {"status": keras_tuner.engine.trial.TrialStatus.RUNNING, "values": values}
        print("The search space has no new architecture within --max_params: stopping.")
        return {"status": keras_tuner.engine.trial.TrialStatus.STOPPED, "values": None}


class SearchTuner(keras_tuner.Tuner):
    """A keras-tuner `Tuner` that records each trial's parameter count, time and worker.

    In chief/worker mode the chief serves its oracle with
    `tuning.distributed.serve_oracle` (fails clearly if its port is taken).
    """

    def _try_build(self, hp):
        model = super()._try_build(hp)  # Also enforces max_model_size.
        self._params = trainable_params(model)
        return model

    def run_trial(self, trial, *args, **kwargs):
        start = time.time()
        histories = super().run_trial(trial, *args, **kwargs)
        seconds = time.time() - start
        log = Path(self.get_trial_dir(trial.trial_id)) / TRIAL_LOG
        with open(log, "a") as f:
            f.write(f'{{"tuner": "{self.tuner_id}", "pid": {os.getpid()}, "start": {start:.3f}, '
                    f'"seconds": {seconds:.3f}}}\n')
        objective = self.oracle.objective
        results = []
        for h in histories:
            hist = h.history
            values = hist[objective.name]
            best = int(np.argmax(values) if objective.direction == "max" else np.argmin(values))
            out = {k: float(v[best]) for k, v in hist.items() if k != "learning_rate"}
            out["params"] = float(self._params)
            out["trial_seconds"] = seconds / len(histories)
            results.append(out)
        return results

    def search(self, *fit_args, **fit_kwargs):
        if distributed.tuner_role() == "chief":
            self.save()
            ip, port = distributed.oracle_address()
            distributed.serve_oracle(self.oracle, ip, port)
            return
        super().search(*fit_args, **fit_kwargs)


def _check_project(cfg, role):
    """Handles --overwrite / --resume for the process that owns the project folder."""
    root = cfg.project_dir
    if role == "worker" or not root.exists():
        return
    if cfg.overwrite:
        shutil.rmtree(root)
        return
    if not cfg.resume:
        raise InputError(f"a search already exists in {root}: pass --resume to continue it or "
                         f"--overwrite to start over")
    saved = report.read_json(root / "search_config.json")
    if saved and saved.get("app") != cfg.app:
        raise InputError(f"{root} holds a --app={saved.get('app')} search, not --app={cfg.app}: "
                         f"pass another --project_name or --overwrite")


def make_tuner(cfg, hypermodel, role):
    oracle = BudgetRandomSearchOracle(hypermodel, max_params=cfg.max_params,
                                      objective=hypermodel.objective, max_trials=cfg.max_trials,
                                      seed=cfg.seed)
    return SearchTuner(oracle=oracle, hypermodel=hypermodel,
                       max_model_size=cfg.max_params or None,
                       executions_per_trial=cfg.executions_per_trial,
                       directory=str(Path(cfg.directory).expanduser()),
                       project_name=cfg.project, overwrite=False)


def retrain_best(cfg, hypermodel, best_hp, out_dir):
    """Retrains the best architecture on the whole training split, tests it, exports it.

    Returns:
        dict of the final model's metrics (also written to `out_dir/metrics.json`).
    """
    from tfdl import metrics as tfdl_metrics
    from tfdl import plots
    from tfdl.workdir import Workdir

    data = hypermodel.setup()
    shutil.rmtree(out_dir, ignore_errors=True)
    wd = Workdir(out_dir)
    wd.write_json("config.json", {"search": dataclasses.asdict(cfg),
                                  "hyperparameters": best_hp.values})
    keras.utils.set_random_seed(cfg.seed)
    epoch_steps = hypermodel.decay_steps
    hypermodel.decay_steps = data.final_steps_per_epoch * cfg.final_epochs
    try:
        model = hypermodel.build(best_hp)
    finally:
        hypermodel.decay_steps = epoch_steps
    history = hypermodel.final_fit(model, best_hp, wd, cfg.final_epochs, verbose=cfg.verbose)
    plots.training_curves(history, wd.path("training_curves.png"))
    y_true, y_pred = hypermodel.predict_test(model, best_hp)
    rep = tfdl_metrics.classification_report(y_true, y_pred, list(data.labels))
    plots.confusion_matrix(rep["confusion_matrix"], list(data.labels),
                           wd.path("confusion_matrix.png"))
    hypermodel.export(model, wd.export, best_hp)
    result = {"app": cfg.app, "test_accuracy": float(rep["accuracy"]),
              "params": trainable_params(model), "final_epochs": cfg.final_epochs,
              "hyperparameters": best_hp.values, "splits": data.description,
              "per_class_accuracy": rep["per_class_accuracy"]}
    wd.write_json("metrics.json", result)
    return result


def set_threads(threads):
    """Limits TensorFlow to `threads` intra-op and inter-op threads (0: keep its default).

    Must run before TensorFlow executes its first op (the runtime reads the
    setting once). Used by search workers that share a machine: N workers with
    cores/N threads each (`tuning.distributed.launch_search` passes it).

    Returns:
        True if the setting was applied.
    """
    if not threads:
        return False
    import tensorflow as tf

    try:
        tf.config.threading.set_intra_op_parallelism_threads(threads)
        tf.config.threading.set_inter_op_parallelism_threads(threads)
    except RuntimeError:  # The runtime is already running: too late to change.
        return False
    return True


def run(cfg):
    """Runs (or continues) a search; on the chief/single process also reports and retrains.

    Returns:
        dict summary: rows of the results table, best trial, final metrics
        (None on a worker).

    Raises:
        InputError: a bad flag, a budget below the smallest model, an
            unreachable chief, or a project folder that cannot be resumed.
    """
    cfg.validate()
    if cfg.threads:
        applied = set_threads(cfg.threads)
        print(f"TensorFlow threads (intra-op, inter-op): {cfg.threads}" if applied else
              f"--threads={cfg.threads} not applied: TensorFlow was already running")
    role = distributed.tuner_role()
    if role == "worker":
        ip, port = distributed.oracle_address()
        distributed.wait_for_oracle(ip, port, cfg.oracle_timeout)
        distributed.limit_client_timeout(max(600.0, cfg.oracle_timeout))
    keras.utils.set_random_seed(cfg.seed)
    hypermodel = APPS.get(cfg.app)(data_dir=cfg.data_dir, batch_size=cfg.batch_size or None,
                                   seed=cfg.seed, epochs=cfg.epochs)
    if cfg.max_params and role != "worker":  # The chief's oracle enforces the budget.
        n, values = hypermodel.smallest()
        if n > cfg.max_params:
            raise InputError(f"--max_params={cfg.max_params} is smaller than the smallest "
                             f"{cfg.app} model in the search space ({n} parameters: {values})")
    _check_project(cfg, role)
    if role != "worker":
        report.write_json(cfg.project_dir / "search_config.json", dataclasses.asdict(cfg))
    t0 = time.time()
    tuner = make_tuner(cfg, hypermodel, role)
    if role == "chief":
        print(f"chief: serving the oracle on {':'.join(map(str, distributed.oracle_address()))}; "
              f"start the workers now")
        tuner.search()
    else:
        data = hypermodel.setup()
        print(data.description)
        tuner.search(data.train, validation_data=data.val, epochs=cfg.epochs,
                     verbose=cfg.verbose)
    search_seconds = time.time() - t0
    if role == "worker":
        print(f"{os.environ.get(distributed.ENV_ID)}: no trials left; done.")
        return None
    rows = report.collect(tuner.oracle, cfg.project_dir)
    best = report.best_row(rows, hypermodel.objective)
    if best is None:
        raise InputError(f"no trial of the search in {cfg.project_dir} completed: see the trial "
                         f"messages above")
    paths = report.write_all(rows, cfg.project_dir, hypermodel.objective, cfg.max_params)
    final = None
    if cfg.final_epochs:
        best_hp = tuner.oracle.get_best_trials(1)[0].hyperparameters
        final = retrain_best(cfg, hypermodel, best_hp, cfg.project_dir / "best")
    summary = {"rows": rows, "best": best, "final": final, "search_seconds": search_seconds,
               "paths": {k: str(v) for k, v in paths.items()},
               "redrawn": getattr(tuner.oracle, "redrawn", 0),
               "shrunk": getattr(tuner.oracle, "shrunk", 0)}
    report.print_summary(cfg, summary, hypermodel.objective)
    return summary


def main(argv):
    del argv
    import tensorflow as tf
    from absl import flags

    # SavedModel export logs INFO lines through TF's logger: not the user's concern.
    tf.get_logger().setLevel("WARNING")
    f = flags.FLAGS
    cfg = Config(app=f.app, max_trials=f.max_trials, executions_per_trial=f.executions_per_trial,
                 epochs=f.epochs, final_epochs=f.final_epochs, batch_size=f.batch_size,
                 seed=f.seed, directory=f.directory, project_name=f.project_name,
                 overwrite=f.overwrite, resume=f.resume, max_params=f.max_params,
                 data_dir=f.data_dir, oracle_timeout=f.oracle_timeout, threads=f.threads)
    run(cfg)


def define_flags():
    from absl import flags

    d = Config()
    flags.DEFINE_string("app", d.app, f"App to search: one of {', '.join(APPS.names())}.")
    flags.DEFINE_integer("max_trials", d.max_trials, "Architectures to try in total.")
    flags.DEFINE_integer("executions_per_trial", d.executions_per_trial,
                         "Trainings per architecture (their metrics are averaged).")
    flags.DEFINE_integer("epochs", d.epochs, "Training epochs per trial.")
    flags.DEFINE_integer("final_epochs", d.final_epochs,
                         "Epochs to retrain the best architecture on the whole training split "
                         "before testing and export (0: skip).")
    flags.DEFINE_integer("batch_size", d.batch_size, "Examples per batch (0: the app's default: "
                         "digits 32, keywords 64, phonemes 512).")
    flags.DEFINE_integer("seed", d.seed, "Random seed (search and training).")
    flags.DEFINE_string("directory", d.directory, "Folder of search projects.")
    flags.DEFINE_string("project_name", d.project_name, "Project folder (default: the app).")
    flags.DEFINE_boolean("overwrite", d.overwrite, "Delete an existing search and start over.")
    flags.DEFINE_boolean("resume", d.resume, "Continue an existing search where it stopped "
                         "(--noresume: refuse to touch it).")
    flags.DEFINE_integer("max_params", d.max_params,
                         "Parameter budget: architectures with more trainable parameters are "
                         "never trained (0: no budget).")
    flags.DEFINE_string("data_dir", d.data_dir, "The app's data folder (default: the app's own "
                        "search: $TFDL_DATA_DIR, the Keras cache, download).")
    flags.DEFINE_float("oracle_timeout", d.oracle_timeout,
                       "Seconds a worker waits for the chief's oracle before giving up.")
    flags.DEFINE_integer("threads", d.threads, "TensorFlow intra-/inter-op threads of this "
                         "process (0: TensorFlow's default, all cores). Several workers on one "
                         "machine run faster with cores/workers each (tuning.distributed sets it).")


if __name__ == "__main__":
    from tfdl.cli import run as run_app

    define_flags()
    run_app(main)
