r"""Vision benchmark: MNIST MLP, notMNIST CNN ensemble, optimisation trends, NumPy backprop.

    TFDL_DATA_DIR=../shared/data python -m benchmarks.vision                 # every part
    TFDL_DATA_DIR=../shared/data python -m benchmarks.vision --parts=backprop,optimization

Parts (each merges its numbers into `benchmarks/results/vision.json`, so they
can run separately; the Markdown table printed at the end covers every part
recorded so far):
    mnist: `apps.mnist` defaults (5 x 1024 MLP) on the offline 8k/2k split
        (t-SNE off: it does not change the accuracy). Target >= 96.5 %
        (>= 98 % needs the official 60k training set, not available offline).
    notmnist: `apps.notmnist` defaults with `--ensemble=5` on the 8k/2k split.
        Targets: ensemble >= 95 %, ensemble above every member.
    optimization: the optimisation study (5 x 512, five set-ups, SGD lr 1.0
        and Adam) on the 8k training split for `--opt_epochs` epochs; checks
        that sigmoid + N(0, 0.01) with SGD stays near chance and that ReLU + He
        with Adam ends lowest.
    backprop: the NumPy MLP vs Keras SGD from the same weights on the 8k
        split (the app's defaults: lr 0.05, batch 100, 50 epochs), largest
        per-epoch relative loss gap (target: a few percent), and the
        finite-difference gradient check (target < 1e-6).

Every part records wall time and `os.getloadavg()`: other jobs sharing the
2 CPU cores slow the timings down (accuracies are unaffected).
"""

import json
import os
import time
from pathlib import Path

import tfdl  # noqa: F401  (quiet TensorFlow)
from absl import app, flags

from tfdl import studies
from tfdl.workdir import write_json

FLAGS = flags.FLAGS
flags.DEFINE_list("parts", ["backprop", "optimization", "mnist", "notmnist"],
                  "Parts to run: mnist, notmnist, optimization, backprop.")
flags.DEFINE_string("data_dir", None, "Parent of mnist/ and notmnist/ (default $TFDL_DATA_DIR).")
flags.DEFINE_integer("ensemble", 5, "notMNIST ensemble size.")
flags.DEFINE_integer("opt_epochs", 5, "Epochs per optimisation-study run.")
flags.DEFINE_string("out", "benchmarks/results/vision.json", "JSON results file.")
flags.DEFINE_string("runs_dir", "benchmarks/results/vision_runs", "Workdirs of the runs.")

TARGETS = {"mnist": 0.965, "notmnist": 0.95, "grad_check": 1e-6, "loss_gap": 0.03}


def _env():
    return {"loadavg": [round(v, 2) for v in os.getloadavg()], "cpus": os.cpu_count(),
            "time": time.strftime("%Y-%m-%d %H:%M:%S UTC", time.gmtime())}


def part_mnist():
    cfg = studies.MNISTConfig(data_dir=FLAGS.data_dir or "", tsne=False)
    m = studies.run_mnist(cfg, Path(FLAGS.runs_dir) / "mnist")
    return {"test_accuracy": m["test_accuracy"], "num_train": m["num_train"],
            "num_test": m["num_test"], "epochs_run": m["epochs_run"],
            "examples_per_sec": m["examples_per_sec"], "data_source": m["data_source"],
            "command": "python -m apps.mnist --notsne", "target": TARGETS["mnist"],
            "met": m["test_accuracy"] >= TARGETS["mnist"]}


def part_notmnist():
    cfg = studies.NotMNISTConfig(data_dir=FLAGS.data_dir or "", ensemble=FLAGS.ensemble)
    m = studies.run_notmnist(cfg, Path(FLAGS.runs_dir) / "notmnist")
    above = m["test_accuracy"] > max(m["member_test_accuracy"])
    return {"test_accuracy": m["test_accuracy"], "member_test_accuracy": m["member_test_accuracy"],
            "epochs_run": m["epochs_run"], "num_train": m["num_train"], "num_test": m["num_test"],
            "data_source": m["data_source"],
            "command": f"python -m apps.notmnist --ensemble={FLAGS.ensemble}",
            "target": TARGETS["notmnist"], "ensemble_above_members": above,
            "met": m["test_accuracy"] >= TARGETS["notmnist"] and above}


def part_optimization():
    from tfdl.datasets import vision as vision_data

    d = vision_data.load("mnist", FLAGS.data_dir)
    res = studies.optimization_study(d.x_train, d.y_train, epochs=FLAGS.opt_epochs, verbose=2)
    final = {f"{o} {s}": c[-1] for o, runs in res.items() for s, c in runs.items()}
    ranked = sorted(final, key=lambda k: float("inf") if final[k] is None else final[k])
    sig = final["sgd sigmoid+N(0,0.01)"]
    return {"curves": res, "final_training_loss": final, "lowest": ranked[0],
            "sgd_sigmoid_normal_near_chance": sig is not None and sig > 0.95 * 2.302585,
            "relu_he_adam_lowest": ranked[0] == "adam relu+He",
            "command": f"python -m apps.optimization --study=optimization "
                       f"--epochs={FLAGS.opt_epochs}"}


def part_backprop():
    cfg = studies.BackpropConfig(data_dir=FLAGS.data_dir or "")
    m = studies.run_backprop(cfg, Path(FLAGS.runs_dir) / "backprop")
    gap = m["max_relative_loss_gap_numpy_vs_keras_sgd"]
    return {"gradient_check_max_relative_error": m["gradient_check_max_relative_error"],
            "max_relative_loss_gap": gap,
            "max_relative_test_loss_gap": m["max_relative_test_loss_gap_numpy_vs_keras_sgd"],
            "final": m["final"], "num_train": m["num_train"], "epochs": cfg.epochs,
            "command": "python -m apps.backprop",
            "met": m["gradient_check_max_relative_error"] < TARGETS["grad_check"]
            and gap < TARGETS["loss_gap"]}


PARTS = {"mnist": part_mnist, "notmnist": part_notmnist, "optimization": part_optimization,
         "backprop": part_backprop}


def table(results):
    rows = ["| part | measured | target | met | wall (s) | load avg (1 min) |",
            "|---|---|---|---|---|---|"]
    if "mnist" in results:
        r = results["mnist"]
        rows.append(f"| MNIST MLP 5x1024, {r['num_train']} train / {r['num_test']} test | "
                    f"test accuracy {100 * r['test_accuracy']:.2f} % ({r['epochs_run']} epochs) | "
                    f">= 96.5 % | {'yes' if r['met'] else 'NO'} | {r['wall_s']:.0f} | "
                    f"{r['env']['loadavg'][0]} |")
    if "notmnist" in results:
        r = results["notmnist"]
        members = ", ".join(f"{100 * a:.2f}" for a in r["member_test_accuracy"])
        rows.append(f"| notMNIST CNN ensemble of {len(r['member_test_accuracy'])} | "
                    f"{100 * r['test_accuracy']:.2f} % (members {members} %) | >= 95 %, above "
                    f"members | >= 95 %: {'yes' if r['test_accuracy'] >= TARGETS['notmnist'] else 'NO'}"
                    f"; above members: {'yes' if r['ensemble_above_members'] else 'NO'} | "
                    f"{r['wall_s']:.0f} | "
                    f"{r['env']['loadavg'][0]} |")
    if "optimization" in results:
        r = results["optimization"]
        f = r["final_training_loss"]
        fmt = lambda v: "diverged" if v is None else f"{v:.3f}"
        rows.append(f"| optimisation study 5x512, final training loss | SGD sigmoid+N(0,0.01) "
                    f"{fmt(f['sgd sigmoid+N(0,0.01)'])}; Adam ReLU+He {fmt(f['adam relu+He'])}; "
                    f"lowest: {r['lowest']} | SGD sigmoid+N near ln 10; Adam ReLU+He lowest | "
                    f"{'yes' if r['sgd_sigmoid_normal_near_chance'] and r['relu_he_adam_lowest'] else 'NO'}"
                    f" | {r['wall_s']:.0f} | {r['env']['loadavg'][0]} |")
    if "backprop" in results:
        r = results["backprop"]
        rows.append(f"| NumPy MLP vs Keras SGD ({r['num_train']} train, {r['epochs']} epochs) | "
                    f"gradient check {r['gradient_check_max_relative_error']:.1e}; largest "
                    f"per-epoch loss gap {100 * r['max_relative_loss_gap']:.4f} % | < 1e-6; a few "
                    f"% | {'yes' if r['met'] else 'NO'} | {r['wall_s']:.0f} | "
                    f"{r['env']['loadavg'][0]} |")
    return "\n".join(rows)


def main(argv):
    del argv
    out = Path(FLAGS.out)
    results = json.loads(out.read_text()) if out.exists() else {}
    for part in FLAGS.parts:
        if part not in PARTS:
            raise app.UsageError(f"--parts: unknown part {part!r}; choose from {sorted(PARTS)}")
        env = _env()
        t0 = time.time()
        res = PARTS[part]()
        res["wall_s"] = time.time() - t0
        res["env"] = env
        res["loadavg_end"] = [round(v, 2) for v in os.getloadavg()]
        results[part] = res
        write_json(out, results)
        print(f"\n[{part}] done in {res['wall_s']:.0f} s; results in {out}")
    print("\n" + table(results))
    print(f"\nJSON: {out}")


if __name__ == "__main__":
    app.run(main)
