"""A search's results: table (CSV + Markdown), metric-vs-parameters figure, TensorBoard
HParams, and the search's report page.

`collect(oracle, project_dir)` turns keras-tuner trials into rows with the
trial id, status, the worker that ran it, every hyperparameter, the trainable
parameter count, the validation metric and the trial's wall time. `fill` lays
out the search's report.html (`tfdl.report`) from results.json.
"""

import csv
import json
from pathlib import Path

from tfdl.workdir import write_json

FIXED = ("trial", "status", "tuner")
TAIL = ("params", "metric", "seconds")

TRIAL_LOG = "ran_by.jsonl"  # one line per run of a trial: which tuner, when, how long


def read_json(path):
    path = Path(path)
    return json.loads(path.read_text()) if path.exists() else None


def _ran_by(project_dir, trial_id):
    log = Path(project_dir) / f"trial_{trial_id}" / TRIAL_LOG
    if not log.exists():
        return []
    return [json.loads(line) for line in log.read_text().splitlines() if line.strip()]


def _metric(trial, name):
    if trial.metrics.exists(name):
        return trial.metrics.get_last_value(name)
    return None


def collect(oracle, project_dir):
    """One dict per trial, in trial order.

    Keys: trial, status, tuner (which process ran it; "a,b" if it ran more
    than once), runs (how many times it ran), hp (dict of hyperparameter
    values), params, metric (the objective's value), seconds.
    """
    rows = []
    for trial_id in sorted(oracle.trials):
        t = oracle.trials[trial_id]
        runs = _ran_by(project_dir, trial_id)
        score = t.score if t.score is not None else _metric(t, oracle.objective.name)
        params = _metric(t, "params")
        seconds = _metric(t, "trial_seconds")
        rows.append({"trial": trial_id, "status": t.status,
                     "tuner": ",".join(r["tuner"] for r in runs), "runs": len(runs),
                     "hp": dict(t.hyperparameters.values),
                     "params": int(params) if params is not None else None,
                     "metric": float(score) if score is not None else None,
                     "seconds": float(seconds) if seconds is not None else None})
    return rows


def best_row(rows, objective):
    done = [r for r in rows if r["metric"] is not None and r["status"] == "COMPLETED"]
    if not done:
        return None
    sign = 1 if objective.direction == "max" else -1
    # Ties go to the smaller model.
    return max(done, key=lambda r: (sign * r["metric"], -(r["params"] or 0)))


def _hp_names(rows):
    names = []
    for r in rows:
        for k in r["hp"]:
            if k not in names:
                names.append(k)
    return names


def _fmt(v):
    if v is None:
        return ""
    if isinstance(v, float):
        return f"{v:.4g}"
    return str(v)


def table(rows, objective):
    """(header, list of row lists) of the results table."""
    names = _hp_names(rows)
    header = [*FIXED, *names, "params", objective.name, "seconds"]
    body = [[r["trial"], r["status"], r["tuner"], *[r["hp"].get(n) for n in names],
             r["params"], r["metric"], r["seconds"]] for r in rows]
    return header, body


def write_csv(rows, path, objective):
    header, body = table(rows, objective)
    with open(path, "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(header)
        w.writerows([["" if v is None else v for v in row] for row in body])
    return Path(path)


def markdown(rows, objective, best=None):
    header, body = table(rows, objective)
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    for r, row in zip(rows, body):
        cells = [_fmt(v) for v in row]
        if best is not None and r["trial"] == best["trial"]:
            cells[0] = f"**{cells[0]}** (best)"
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


def figure(rows, path, objective, max_params=0):
    """Scatter of the validation metric against trainable parameters (log x), best marked."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    done = [r for r in rows if r["metric"] is not None and r["params"]]
    fig, ax = plt.subplots(figsize=(6, 4))
    if done:
        families = sorted({str(r["hp"].get("family", "")) for r in done})
        for fam in families:
            pts = [r for r in done if str(r["hp"].get("family", "")) == fam]
            ax.scatter([r["params"] for r in pts], [r["metric"] for r in pts],
                       label=fam or None, alpha=0.8)
        best = best_row(rows, objective)
        if best is not None:
            ax.scatter([best["params"]], [best["metric"]], s=160, facecolors="none",
                       edgecolors="red", label=f"best (trial {best['trial']})")
        ax.set_xscale("log")
    if max_params:
        ax.axvline(max_params, color="grey", linestyle="--", label="max_params")
    ax.set_xlabel("trainable parameters")
    ax.set_ylabel(objective.name)
    ax.set_title(f"{len(done)} trials")
    ax.grid(True, alpha=0.3)
    if ax.get_legend_handles_labels()[0]:
        ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return Path(path)


def hparams(rows, logdir, objective):
    """Writes the HParams dashboard: one session per completed trial.

    Each session holds the trial's hyperparameters and its validation
    metric, parameter count and seconds; view with `tensorboard --logdir logdir`.
    """
    import tensorflow as tf
    from tensorboard.plugins.hparams import api as hp_api

    logdir = Path(logdir)
    names = _hp_names(rows)
    domains = {}
    for n in names:
        vals = [r["hp"][n] for r in rows if n in r["hp"]]
        if all(isinstance(v, bool) for v in vals):
            domains[n] = hp_api.HParam(n, hp_api.Discrete([False, True]))
        elif all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in vals):
            domains[n] = hp_api.HParam(n, hp_api.RealInterval(float(min(vals)), float(max(vals)))
                                       if len(set(vals)) > 1 else hp_api.Discrete(sorted(set(vals))))
        else:
            domains[n] = hp_api.HParam(n, hp_api.Discrete(sorted({str(v) for v in vals})))
    metrics = [hp_api.Metric(objective.name, display_name=objective.name),
               hp_api.Metric("params", display_name="trainable parameters"),
               hp_api.Metric("seconds", display_name="trial seconds")]
    with tf.summary.create_file_writer(str(logdir)).as_default():
        hp_api.hparams_config(hparams=list(domains.values()), metrics=metrics)
    for r in rows:
        if r["metric"] is None:
            continue
        values = {domains[k]: (v if isinstance(v, (bool, int, float)) else str(v))
                  for k, v in r["hp"].items()}
        with tf.summary.create_file_writer(str(logdir / f"trial_{r['trial']}")).as_default():
            hp_api.hparams(values, trial_id=r["trial"])
            tf.summary.scalar(objective.name, r["metric"], step=0)
            if r["params"] is not None:
                tf.summary.scalar("params", float(r["params"]), step=0)
            if r["seconds"] is not None:
                tf.summary.scalar("seconds", r["seconds"], step=0)
    return logdir


def write_all(rows, project_dir, objective, max_params=0):
    """Writes results.csv, results.md, results.json, params_vs_metric.png and tensorboard/."""
    project_dir = Path(project_dir)
    best = best_row(rows, objective)
    paths = {"csv": write_csv(rows, project_dir / "results.csv", objective),
             "markdown": project_dir / "results.md",
             "json": project_dir / "results.json",
             "figure": figure(rows, project_dir / "params_vs_metric.png", objective, max_params),
             "tensorboard": hparams(rows, project_dir / "tensorboard", objective)}
    paths["markdown"].write_text(markdown(rows, objective, best))
    write_json(paths["json"], {"objective": objective.name, "direction": objective.direction,
                               "max_params": max_params, "best": best, "trials": rows})
    return paths


def print_summary(cfg, project_dir, summary, objective):
    from tfdl.cli import summary as print_rows

    best, final = summary["best"], summary["final"]
    done = sum(1 for r in summary["rows"] if r["status"] == "COMPLETED")
    rows = [("trials", f"{done} completed of {len(summary['rows'])} (--config.max_trials="
                       f"{cfg.max_trials})"),
            ("search time", f"{summary['search_seconds']:.0f} s"),
            ("best trial", f"{best['trial']}: {objective.name}={best['metric']:.4f}, "
                           f"{best['params']} params"),
            ("best hyperparameters", json.dumps(best["hp"]))]
    if cfg.max_params:
        rows.append(("budget", f"--config.max_params={cfg.max_params} (draws over budget: redrawn "
                               f"{summary['redrawn']}, shrunk {summary['shrunk']})"))
    if final:
        rows.append(("final model", f"test accuracy {final['test_accuracy']:.4f} after "
                                    f"{final['final_epochs']} epochs, {final['params']} params"))
        rows.append(("SavedModel", str(Path(project_dir) / "best" / "export")))
    rows += [("results", f"{summary['paths']['markdown']}, {summary['paths']['csv']}"),
             ("figure", summary["paths"]["figure"]),
             ("tensorboard", f"tensorboard --logdir {summary['paths']['tensorboard']}")]
    print_rows(f"Search {cfg.app} ({project_dir})", rows)


# The README's search target (docs/experiments/tuning.md): beat the hand-designed digits
# `mfcc` model (99.2 % official test accuracy, 80,546 parameters) with fewer parameters.
DIGITS_GOAL = {"test_accuracy": 0.992, "params": 80_546}


def _sorted_trials(results):
    """The trials, best score first (unscored ones last)."""
    sign = -1 if results.get("direction") == "max" else 1
    return sorted(results["trials"], key=lambda r: (r["metric"] is None,
                                                    sign * (r["metric"] or 0), r["trial"]))


def _final(page, final):
    if final is None:
        return [page.text("The best architecture was not retrained (--config.final_epochs=0).",
                          note=True)]
    return [page.text(f"Retrained for {final['final_epochs']} epochs on the whole training "
                      f"split, tested once: test accuracy {final['test_accuracy']:.2%}, "
                      f"{final['params']:,} trainable parameters; exported to best/export."),
            page.figure("best/training_curves.png", "the retrained best architecture"),
            page.figure("best/confusion_matrix.png", "its test confusion matrix", narrow=True)]


def fill(page):
    """Lays out a search's page (`tfdl.report.Page`): trials best first, the score against
    the parameters, the best config, one collapsed section per trial."""
    run = page.run
    results, search = run.json("results.json"), run.json("search_config.json") or {}
    final = run.json("best", "metrics.json")
    page.config = search
    app, objective = search.get("app", "?"), results["objective"]
    page.title = f"Architecture search: {app}"
    trials = _sorted_trials(results)
    best = results.get("best") or {}
    done = sum(r["status"] == "COMPLETED" for r in trials)
    page.metric("trials completed", f"{done} of {len(trials)}")
    page.metric(f"best trial's {objective}", best.get("metric"), "{:.4f}")
    page.metric("best trial's parameters", best.get("params"), "{:,}")
    if final is not None:
        acc, params = final["test_accuracy"], final["params"]
        if app == "digits":
            page.goal_source = "docs/experiments/tuning.md"
            page.metric("final test accuracy, parameters", (acc, params),
                        "{0[0]:.2%}, {0[1]:,}", "above 99.2 % with fewer than 80,546 "
                        "(the hand-designed mfcc model)",
                        acc > DIGITS_GOAL["test_accuracy"] and params < DIGITS_GOAL["params"])
        else:
            page.metric("final test accuracy", acc, "{:.2%}")
    names = _hp_names(trials)
    rows = [[r["trial"], r["status"], r["metric"], r["params"], r["seconds"],
             *[r["hp"].get(n) for n in names]] for r in trials]
    page.add("Trials, best first", [
        page.table(["trial", "status", objective, "parameters", "seconds", *names], rows,
                   f"budget: {results.get('max_params') or 'none'} parameters",
                   highlight=[i for i, r in enumerate(trials) if r["trial"] == best.get("trial")]),
        page.figure("params_vs_metric.png", f"{objective} against trainable parameters")])
    page.add("Best config", [page.table(["hyperparameter", "value"], best.get("hp", {}).items()),
                             *_final(page, final)])
    for r in trials:
        score = "-" if r["metric"] is None else f"{r['metric']:.4f}"
        page.add(f"Trial {r['trial']}: {objective} {score}", [
            page.table(["hyperparameter", "value"], r["hp"].items()),
            page.text(f"{r['status']}; parameters {r['params']}; {_fmt(r['seconds'])} s; ran "
                      f"by {r['tuner'] or '?'}", note=True)], collapsed=True)
