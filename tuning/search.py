"""Random architecture search under a parameter budget, with keras-tuner.

    python -m tuning.search                                  # the digits search (default)
    python -m tuning.search --config=keywords --config.max_trials=4
    python -m tuning.search --config.max_params=50000 --workdir=runs/tuning/small

Each trial builds a model from the app's own registry with sampled depth,
width/filters, kernel size, dropout, batch norm, activation, optimiser and
learning rate (`tuning.hypermodels`), trains it for `epochs` on the search
training split and scores it on a validation split (never the test set).
With `max_params`, architectures over budget are redrawn or shrunk before
they are trained (the reference's random search under a parameter budget), and
keras-tuner's `max_model_size` rejects any that slip through. A search is a
named config (`tuning/configs.py`) with `--config.FIELD` overrides.

Writes into `--workdir` (default `runs/tuning/<app>`):
keras-tuner's trial folders, `results.csv` / `results.md` (trial,
hyperparameters, parameters, validation metric, time), `params_vs_metric.png`,
`tensorboard/` (HParams dashboard: `tensorboard --logdir runs/tuning/<app>/tensorboard`),
`report.html` (trials best first, the score against the parameters, the best config;
`--report=false`: none), and `best/`: the best architecture retrained for `--final_epochs` on the whole
training split, tested once on the test split and exported like the app's own
SavedModel (`best/export`, raw waveforms in), with `best/metrics.json`.

A stopped search continues where it left off when run again; `--restart` starts
over, `--noresume` refuses to touch it. For a search over several processes
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
from absl import flags

from tfdl import cli
from tfdl.errors import InputError
from tuning import distributed, report
from tuning.report import TRIAL_LOG
from tuning.configs import CONFIGS
from tuning.hypermodels import APPS, trainable_params



@dataclasses.dataclass(frozen=True)
class Project:
    """Where a search lives: keras-tuner's `directory` / `project_name` folder."""

    dir: Path

    @classmethod
    def of(cls, cfg, workdir=None):
        return cls(Path(workdir or f"runs/tuning/{cfg.app}").expanduser())


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


def _check_project(cfg, project, role, restart=False, resume=True):
    """Handles --restart / --noresume for the process that owns the project folder."""
    from tfdl.workdir import check_writable

    root = check_writable(project.dir)
    if role == "worker" or not root.exists():
        return
    if restart:
        shutil.rmtree(root)
        return
    if not resume:
        raise InputError(f"a search already exists in {root}: drop --noresume to continue it "
                         f"or pass --restart to start over")
    saved = report.read_json(root / "search_config.json")
    if saved and saved.get("app") != cfg.app:
        raise InputError(f"{root} holds a --config.app={saved.get('app')} search, not "
                         f"--config.app={cfg.app}: pass another --workdir or --restart")


def make_tuner(cfg, hypermodel, project):
    oracle = BudgetRandomSearchOracle(hypermodel, max_params=cfg.max_params,
                                      objective=hypermodel.objective, max_trials=cfg.max_trials,
                                      seed=cfg.seed)
    return SearchTuner(oracle=oracle, hypermodel=hypermodel,
                       max_model_size=cfg.max_params or None,
                       executions_per_trial=cfg.executions_per_trial,
                       directory=str(project.dir.parent), project_name=project.dir.name,
                       overwrite=False)


def retrain_best(cfg, hypermodel, best_hp, out_dir, verbose="auto"):
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
    wd.write_config({"search": dataclasses.asdict(cfg), "hyperparameters": best_hp.values})
    keras.utils.set_random_seed(cfg.seed)
    epoch_steps = hypermodel.decay_steps
    hypermodel.decay_steps = data.final_steps_per_epoch * cfg.final_epochs
    try:
        model = hypermodel.build(best_hp)
    finally:
        hypermodel.decay_steps = epoch_steps
    history = hypermodel.final_fit(model, best_hp, wd, cfg.final_epochs, verbose=verbose)
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


def run(cfg, workdir=None, data_dir=None, restart=False, resume=True, verbose="auto"):
    """Runs (or continues) a search; on the chief/single process also reports and retrains.

    Args:
        cfg: a `tuning.config.Config` (validated here).
        workdir: the search's folder (default `runs/tuning/<app>`).
        data_dir: the task's data folder (default: the task's own search).
        restart: delete an existing search in `workdir` and start over.
        resume: continue an existing search (False: refuse to touch it).
        verbose: Keras' `fit` verbosity.

    Returns:
        dict summary: rows of the results table, best trial, final metrics
        (None on a worker).

    Raises:
        InputError: a bad flag, a budget below the smallest model, an
            unreachable chief, or a project folder that cannot be resumed.
    """
    cfg.validate()
    role = _join(cfg)
    keras.utils.set_random_seed(cfg.seed)
    project = Project.of(cfg, workdir)
    hypermodel = _make_hypermodel(cfg, data_dir, role)
    _check_project(cfg, project, role, restart, resume)
    if role != "worker":
        report.write_json(project.dir / "search_config.json", dataclasses.asdict(cfg))
    t0 = time.time()
    tuner = make_tuner(cfg, hypermodel, project)
    _search(cfg, hypermodel, tuner, role, verbose)
    search_seconds = time.time() - t0
    if role == "worker":
        print(f"{os.environ.get(distributed.ENV_ID)}: no trials left; done.")
        return None
    return _finish(cfg, hypermodel, tuner, project, search_seconds, verbose)


def _join(cfg):
    """Applies `cfg.threads` and, on a worker, waits for the chief's oracle.

    Returns:
        this process's role (`tuning.distributed.tuner_role`): "single", "chief" or "worker".
    """
    if cfg.threads:
        applied = set_threads(cfg.threads)
        print(f"TensorFlow threads (intra-op, inter-op): {cfg.threads}" if applied else
              f"--threads={cfg.threads} not applied: TensorFlow was already running")
    role = distributed.tuner_role()
    if role == "worker":
        ip, port = distributed.oracle_address()
        distributed.wait_for_oracle(ip, port, cfg.oracle_timeout)
        distributed.limit_client_timeout(max(600.0, cfg.oracle_timeout))
    return role


def _make_hypermodel(cfg, data_dir, role):
    """The app's `AppHyperModel`; outside a worker, checks that the smallest model fits
    `cfg.max_params` (raises `InputError` if not)."""
    hypermodel = APPS.get(cfg.app)(data_dir=data_dir, batch_size=cfg.batch_size or None,
                                   seed=cfg.seed, epochs=cfg.epochs)
    if cfg.max_params and role != "worker":  # The chief's oracle enforces the budget.
        n, values = hypermodel.smallest()
        if n > cfg.max_params:
            raise InputError(f"--config.max_params={cfg.max_params} is smaller than the smallest "
                             f"{cfg.app} model in the search space ({n} parameters: {values})")
    return hypermodel


def _search(cfg, hypermodel, tuner, role, verbose):
    """Runs the trials: the chief serves its oracle, the others load the data and train."""
    if role == "chief":
        print(f"chief: serving the oracle on {':'.join(map(str, distributed.oracle_address()))}; "
              f"start the workers now")
        tuner.search()
    else:
        data = hypermodel.setup()
        print(data.description)
        tuner.search(data.train, validation_data=data.val, epochs=cfg.epochs, verbose=verbose)


def _finish(cfg, hypermodel, tuner, project, search_seconds, verbose):
    """Writes the search's reports, retrains the best architecture, prints the summary.

    Returns:
        the summary dict `run` returns.
    """
    rows = report.collect(tuner.oracle, project.dir)
    best = report.best_row(rows, hypermodel.objective)
    if best is None:
        raise InputError(f"no trial of the search in {project.dir} completed: see the trial "
                         f"messages above")
    paths = report.write_all(rows, project.dir, hypermodel.objective, cfg.max_params)
    final = None
    if cfg.final_epochs:
        best_hp = tuner.oracle.get_best_trials(1)[0].hyperparameters
        final = retrain_best(cfg, hypermodel, best_hp, project.dir / "best", verbose)
    summary = {"workdir": str(project.dir), "rows": rows, "best": best, "final": final,
               "search_seconds": search_seconds,
               "paths": {k: str(v) for k, v in paths.items()},
               "redrawn": getattr(tuner.oracle, "redrawn", 0),
               "shrunk": getattr(tuner.oracle, "shrunk", 0)}
    report.print_summary(cfg, project.dir, summary, hypermodel.objective)
    return summary


def define_flags():
    """The command line's flags (only when run as `python -m tuning.search`: the module is
    also a library, imported by benchmarks and tests that define flags of their own)."""
    cli.define_flags(CONFIGS, workdir="", model=False,
                     data_help="The task's data folder (default: the task's own search: "
                               "$TFDL_DATA_DIR, the Keras cache, download).")
    flags.DEFINE_bool("resume", True, "Continue an existing search where it stopped "
                      "(--noresume: refuse to touch it; --restart starts over).")


def main(argv):
    if len(argv) > 1:
        raise InputError(f"tuning.search takes no arguments. Received: {' '.join(argv[1:])}")
    import tensorflow as tf

    # SavedModel export logs INFO lines through TF's logger: not the user's concern.
    tf.get_logger().setLevel("WARNING")
    f = flags.FLAGS
    # The summary (None on a worker) ends the run: `tfdl.cli.run` writes report.html in
    # its workdir.
    return run(cli.config(), f.workdir or None, f.data_dir, f.restart, f.resume)


if __name__ == "__main__":
    define_flags()
    cli.run(main)
