r"""Frame-level phoneme benchmark: every named config on the 500 ARCTIC utterances.

    TFDL_DATA_DIR=../shared/data python -m benchmarks.phonemes                  # every recipe
    TFDL_DATA_DIR=../shared/data python -m benchmarks.phonemes --configs=mlp,ensemble

Each config runs as `python -m apps.phonemes --config=NAME` does
(`tfdl.phonemes.train.run`; utterance-level split, seed 0: 50 test, 25
validation, 425 training utterances) and its row is merged into
`benchmarks/results/phonemes.json` (saved after each config, so partial runs
survive) with its command, wall time and load average: other jobs on the same
CPU slow the numbers down. Every accuracy is over all test frames. Targets:
the context window adds >= 8 points (`mlp` against `mlp_frame`), the best
single model reaches >= 80 %, and the ensemble's best rule beats the best
single model. Prints a Markdown table of every row recorded so far.
"""

import dataclasses
import json
import os
import sys
import time
from pathlib import Path

import tfdl  # noqa: F401  (quiet TensorFlow)
from absl import app, flags, logging

from benchmarks.common import environment as _env

from tfdl.phonemes import train
from tfdl.phonemes.configs import CONFIGS

FLAGS = flags.FLAGS
RECIPES = [n for n in CONFIGS.names() if CONFIGS.resolve(n) == n]  # every named recipe
ALIASES = {CONFIGS.resolve(n): n for n in CONFIGS.names() if CONFIGS.resolve(n) != n}
flags.DEFINE_list("configs", RECIPES, "Named configs to run (default: every recipe).")
flags.DEFINE_string("data_dir", None, "Phonemes folder (default: $TFDL_DATA_DIR/phonemes).")
flags.DEFINE_string("out", "benchmarks/results/phonemes.json", "JSON results file.")
flags.DEFINE_string("runs_dir", "benchmarks/results/phonemes_runs",
                    "Workdirs of the training runs.")




def bench_config(name, data_dir, runs_dir):
    """`apps.phonemes --config=NAME`: its accuracy (each member, each rule), time and size."""
    t0, env0 = time.perf_counter(), _env()
    cfg = CONFIGS.get(name)
    m = train.run(cfg, workdir=f"{runs_dir}/{name}", data_dir=data_dir, verbose=2)
    members = m["members"].values()
    return {"command": f"python -m apps.phonemes --config={name}",
            "config": dataclasses.asdict(cfg), "frame_accuracy": m["frame_accuracy"],
            "predictor": m["predictor"], "members": m["members"], "ensemble": m["ensemble"],
            "params": sum(r["params"] for r in members),
            "train_seconds": sum(r["train_seconds"] for r in members),
            "epochs_run": [r["epochs_run"] for r in members],
            "utterances": m["utterances"], "frames": m["frames"],
            "num_phones": m["num_phones"], "wall_s": time.perf_counter() - t0,
            "env_start": env0, "env_end": _env()}


def targets(confs):
    """The task's goals, from whichever rows are recorded."""
    acc = {n: r["frame_accuracy"] for n, r in confs.items()}
    out = {}
    if "mlp" in acc and "mlp_frame" in acc:
        gain = acc["mlp"] - acc["mlp_frame"]
        out.update(context_gain_points=100 * gain, context_gain_ok=bool(gain >= 0.08))
    single = {n: a for n, a in acc.items() if not confs[n]["ensemble"]}
    if single:
        out.update(best_single_model=max(single, key=single.get),
                   best_single_ok=bool(max(single.values()) >= 0.80))
    if single and "ensemble" in confs:
        rules = {k: v for k, v in confs["ensemble"]["ensemble"].items() if k != "weights"}
        out.update(best_rule=max(rules, key=rules.get),
                   best_ensemble_above_best_single=bool(max(rules.values())
                                                        > max(single.values())))
    return out


def table(results):
    """A Markdown table: one row per config, one more per ensemble rule."""
    rows = ["| config | command | test frame accuracy | params | train time | train frames/s |",
            "|---|---|---|---|---|---|"]
    for name, r in results.get("configs", {}).items():
        label = f"`{name}`" + (f" (`{ALIASES[name]}`)" if name in ALIASES else "")
        speed = ", ".join(f"{v['train_frames_per_sec']:,.0f}" for v in r["members"].values())
        rows.append(f"| {label} | `{r['command']}` | {r['frame_accuracy']:.4f} "
                    f"({r['predictor']}) | {r['params']:,} | {r['train_seconds'] / 60:.1f} min "
                    f"({'/'.join(map(str, r['epochs_run']))} epochs) | {speed} |")
        for rule, acc in (r["ensemble"] or {}).items():
            if rule != "weights":
                rows.append(f"| `{name}`: {rule} | | {acc:.4f} | | | |")
    loads = [r["env_start"]["loadavg"] for r in results.get("configs", {}).values()]
    if loads:
        rows += ["", "Load average (1, 5, 15 min) at the start of each run: "
                 + "; ".join(", ".join(f"{x:.1f}" for x in la) for la in loads)
                 + f" on {os.cpu_count()} CPUs."]
    return "\n".join(rows)


def _save(out, names, results):
    """Merges this run's configs into the JSON file (others may have run meanwhile)."""
    from tfdl.workdir import write_json

    current = json.loads(out.read_text()) if out.is_file() else {}
    current.setdefault("configs", {}).update(
        {n: results["configs"][n] for n in names if n in results.get("configs", {})})
    current["targets"] = targets(current["configs"])
    if "last_run" in results:
        current["last_run"] = results["last_run"]
    write_json(out, current)
    return current


def main(argv):
    del argv
    logging.set_verbosity(logging.WARNING)
    unknown = [c for c in FLAGS.configs if c not in CONFIGS]
    if unknown:
        sys.exit(f"error: unknown --configs {', '.join(unknown)}; choose from "
                 f"{', '.join(CONFIGS.names())}")
    names = list(dict.fromkeys(map(CONFIGS.resolve, FLAGS.configs)))
    out, results, t0 = Path(FLAGS.out), {"configs": {}}, time.perf_counter()
    for name in names:
        results["configs"][name] = bench_config(name, FLAGS.data_dir, FLAGS.runs_dir)
        _save(out, names, results)
    results["last_run"] = {"configs": names, "wall_s": time.perf_counter() - t0,
                           "command": "python -m benchmarks.phonemes " + " ".join(sys.argv[1:])}
    current = _save(out, names, results)
    print(table(current))
    print(f"\ntargets: {json.dumps(current['targets'])}\nresults: {out}")


if __name__ == "__main__":
    app.run(main)
