r"""Vision benchmark: every named config of the four vision apps, one result row each.

    TFDL_DATA_DIR=../shared/data python -m benchmarks.vision                   # every recipe
    TFDL_DATA_DIR=../shared/data python -m benchmarks.vision --configs=mnist/mlp,backprop/short

`APP/NAME` is `python -m apps.APP --config=NAME`, run through the library's
`run` (`tfdl.vision.<mnist|notmnist|studies|backprop>.run`) on the offline
8k/2k splits. Each row is merged into `benchmarks/results/vision.json` as soon
as it finishes (with its command, config, wall time and load average before
and after: other jobs on the 2 CPU cores slow the timings, not the
accuracies), and the Markdown table printed at the end covers every row
recorded so far. Checks:
    mnist: test accuracy >= 96.5 % (>= 98 % needs the official 60k training
        set, not available offline).
    notmnist: ensembles >= 95 % and above every member.
    optimization: SGD sigmoid + N(0, 0.01) stays near chance (> 0.95 ln 10)
        and Adam ReLU + He ends with the lowest training loss.
    backprop: gradient check < 1e-6 and NumPy vs Keras SGD loss gap < 3 %.
"""

import dataclasses
import json
import sys
import time
from pathlib import Path

import tfdl  # noqa: F401  (quiet TensorFlow)
from absl import app, flags, logging

from benchmarks.common import environment as _env

from tfdl.vision import backprop, mnist, notmnist, studies
from tfdl.vision.configs import APPS
from tfdl.workdir import write_json

RECIPES = [f"{a}/{n}" for a, configs in APPS.items()
           for n in configs.names() if configs.resolve(n) == n]
FLAGS = flags.FLAGS
flags.DEFINE_list("configs", RECIPES, "APP/NAME of the named configs to run (default: every "
                  "recipe of mnist, notmnist, optimization and backprop).")
flags.DEFINE_string("data_dir", None, "Parent of mnist/ and notmnist/ (default $TFDL_DATA_DIR).")
flags.DEFINE_string("out", "benchmarks/results/vision.json", "JSON results file.")
flags.DEFINE_string("runs_dir", "benchmarks/results/vision_runs", "Workdirs of the runs.")

RUNS = {"mnist": mnist.run, "notmnist": notmnist.run, "optimization": studies.run,
        "backprop": backprop.run}
TARGETS = {"mnist": 0.965, "notmnist": 0.95, "grad_check": 1e-6, "loss_gap": 0.03}
LN10 = 2.302585




def _result(app_name, m):
    """The row's numbers and its check (`met`) from a run's metrics."""
    if app_name == "mnist":
        return {"test_accuracy": m["test_accuracy"], "epochs_run": m["epochs_run"],
                "num_train": m["num_train"], "num_test": m["num_test"],
                "examples_per_sec": m["examples_per_sec"],
                "met": m["test_accuracy"] >= TARGETS["mnist"]}
    if app_name == "notmnist":
        above = (len(m["member_test_accuracy"]) == 1 or
                 m["test_accuracy"] > max(m["member_test_accuracy"]))
        return {"test_accuracy": m["test_accuracy"], "epochs_run": m["epochs_run"],
                "member_test_accuracy": m["member_test_accuracy"], "num_test": m["num_test"],
                "ensemble_above_members": above,
                "met": m["test_accuracy"] >= TARGETS["notmnist"] and above}
    if app_name == "optimization":
        out = {k: m[k] for k in ("final_training_loss", "dropout_best_test_accuracy") if k in m}
        if "final_training_loss" in m:
            final = {f"{o} {s}": v for o, d in m["final_training_loss"].items()
                     for s, v in d.items()}
            lowest = min(final, key=lambda k: float("inf") if final[k] is None else final[k])
            sig = final["sgd sigmoid+N(0,0.01)"]
            out.update(lowest=lowest, met=sig is not None and sig > 0.95 * LN10
                       and lowest == "adam relu+He")
        return out
    gap = m["max_relative_loss_gap_numpy_vs_keras_sgd"]
    return {"gradient_check_max_relative_error": m["gradient_check_max_relative_error"],
            "max_relative_loss_gap": gap, "final": m["final"], "num_train": m["num_train"],
            "met": m["gradient_check_max_relative_error"] < TARGETS["grad_check"]
            and gap < TARGETS["loss_gap"]}


def bench_config(key, data_dir, runs_dir):
    """Runs the named config `key` (APP/NAME): its row."""
    app_name, name = key.split("/", 1)
    cfg = APPS[app_name].get(name)
    t0, env0 = time.perf_counter(), _env()
    m = RUNS[app_name](cfg, f"{runs_dir}/{app_name}_{name}", data_dir)
    return {"command": f"python -m apps.{app_name} --config={name}", "app": app_name,
            "config": dataclasses.asdict(cfg), "data_source": m["data_source"],
            **_result(app_name, m), "wall_s": time.perf_counter() - t0,
            "env_start": env0, "env_end": _env()}


def _measured(key, r):
    app_name = key.split("/")[0]
    if app_name == "mnist":
        return f"test accuracy {100 * r['test_accuracy']:.2f} % ({r['epochs_run']} epochs)"
    if app_name == "notmnist":
        members = ", ".join(f"{100 * a:.2f}" for a in r["member_test_accuracy"])
        return f"{100 * r['test_accuracy']:.2f} % (members {members} %)"
    if app_name == "backprop":
        return (f"gradient check {r['gradient_check_max_relative_error']:.1e}; largest "
                f"per-epoch loss gap {100 * r['max_relative_loss_gap']:.4f} %")
    parts = []
    f = {f"{o} {s}": v for o, d in r.get("final_training_loss", {}).items() for s, v in d.items()}
    if f:
        fmt = lambda v: "diverged" if v is None else f"{v:.3f}"  # noqa: E731
        parts.append(f"final training loss: SGD sigmoid+N(0,0.01) "
                     f"{fmt(f['sgd sigmoid+N(0,0.01)'])}, Adam ReLU+He {fmt(f['adam relu+He'])}; "
                     f"lowest {r['lowest']}")
    best = r.get("dropout_best_test_accuracy", {})
    if best:
        parts.append("best test accuracy: " + ", ".join(
            f"{n} {'-' if v is None else f'{100 * v:.2f} %'}" for n, v in best.items()))
    return "; ".join(parts)


def table(results):
    rows = ["| config | command | measured | met | wall (s) | load avg (1 min) |",
            "|---|---|---|---|---|---|"]
    for key, r in results.get("configs", {}).items():
        met = "-" if "met" not in r else ("yes" if r["met"] else "NO")
        rows.append(f"| `{key}` | `{r['command']}` | {_measured(key, r)} | {met} | "
                    f"{r['wall_s']:.0f} | {r['env_start']['loadavg'][0]} |")
    return "\n".join(rows)


def main(argv):
    del argv
    logging.set_verbosity(logging.WARNING)
    unknown = [c for c in FLAGS.configs if "/" not in c or c.split("/")[0] not in APPS
               or c.split("/", 1)[1] not in APPS[c.split("/")[0]]]
    if unknown:
        sys.exit(f"error: unknown --configs {', '.join(unknown)}; choose from "
                 f"{', '.join(RECIPES)} (or APP/default, APP/best)")
    out = Path(FLAGS.out)
    for key in FLAGS.configs:
        app_name, name = key.split("/", 1)
        key = f"{app_name}/{APPS[app_name].resolve(name)}"
        row = bench_config(key, FLAGS.data_dir, FLAGS.runs_dir)
        # Re-read before merging: other parts may have been written meanwhile.
        results = json.loads(out.read_text()) if out.is_file() else {}
        results.setdefault("configs", {})[key] = row
        write_json(out, results)
        print(f"\n[{key}] done in {row['wall_s']:.0f} s; results in {out}")
    results = json.loads(out.read_text()) if out.is_file() else {}
    print("\n" + table(results))
    print(f"\nJSON: {out}")


if __name__ == "__main__":
    app.run(main)
