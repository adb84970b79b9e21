r"""Architecture-search benchmark: budgeted search on digits, and 1 vs 2 search workers.

    TFDL_DATA_DIR=../shared/data python -m benchmarks.tuning                   # both parts
    TFDL_DATA_DIR=../shared/data python -m benchmarks.tuning --parts=search
    TFDL_DATA_DIR=../shared/data python -m benchmarks.tuning --parts=workers --worker_trials=6

Parts (each merges its numbers into `benchmarks/results/tuning.json`):
    search: `python -m tuning.search --config=NAME` for each named search in
        `--configs` (default: digits: 20 trials under 100,000 parameters, scored
        on takes 5-9 after training on takes 10-49, then the best architecture
        retrained on takes 5-49 and tested once on the official test takes 0-4).
        Target: higher official-split accuracy than the hand-designed `mfcc`
        model, with fewer trainable parameters. The mfcc accuracy is read from
        `benchmarks/results/digits.json` (`python -m benchmarks.digits
        --parts=configs --configs=mfcc`); its parameter count from the registry.
    workers: the same search (`--worker_trials` trials of `--worker_epochs`
        epochs, same seed, so the same architectures) run in the order of
        `--worker_schedule` (default 1,2,1,2 alternating, then 1 worker with 1
        thread for context): one worker keeps TensorFlow's default threading
        (the baseline), two workers get cores // 2 threads each, as
        `tuning.distributed.launch_search` sets them. Reports every run and the
        ratio of mean wall times. Goal > 1.3x.

Every part records wall time and `os.getloadavg()`: other jobs on the same two
cores slow the numbers down, the worker comparison most of all.
"""

import json
import sys
import time
from pathlib import Path

import tfdl  # noqa: F401  (quiet TensorFlow)
from absl import app, flags

from benchmarks.common import environment as _env

FLAGS = flags.FLAGS
flags.DEFINE_list("parts", ["search", "workers"], "Parts to run: search, workers.")
flags.DEFINE_list("configs", ["digits"], "Named searches of the search part.")
flags.DEFINE_integer("max_params", 100000, "Parameter budget of the workers part.")
flags.DEFINE_integer("worker_trials", 6, "Trials of the workers part.")
flags.DEFINE_integer("worker_epochs", 2, "Epochs per trial (workers part).")
flags.DEFINE_list("worker_schedule", ["1:0", "2", "1:0", "2", "1:1"],
                  "Workers part: runs in order, WORKERS[:THREADS] (THREADS per worker; 0: "
                  "TensorFlow's default; none: the launcher's cores // workers). Speedup: mean "
                  "of 1:0 over mean of 2.")
flags.DEFINE_integer("seed", 0, "Search seed.")
flags.DEFINE_string("data_dir", None, "FSDD folder (default: $TFDL_DATA_DIR/fsdd).")
flags.DEFINE_string("out", "benchmarks/results/tuning.json", "JSON results file.")
flags.DEFINE_string("runs_dir", "benchmarks/results/tuning_runs", "Search projects.")
flags.DEFINE_string("digits_results", "benchmarks/results/digits.json",
                    "The digits benchmark's JSON (mfcc official-split accuracy).")

ROOT = Path(__file__).resolve().parents[1]




def _mfcc_reference():
    from tfdl.digits.model import MODELS, trainable_params

    ref = {"params": trainable_params(MODELS.build("mfcc")), "accuracy": None, "source": None}
    path = Path(FLAGS.digits_results)
    if path.exists():
        entry = json.loads(path.read_text()).get("configs", {}).get("mfcc")
        if isinstance(entry, dict) and entry.get("accuracy") is not None:
            ref.update(accuracy=float(entry["accuracy"]), source=f"{path} (configs.mfcc)")
    return ref


def part_search(name):
    from tuning import search
    from tuning.configs import CONFIGS

    cfg = CONFIGS.get(name)
    cfg.seed = FLAGS.seed
    data_dir = FLAGS.data_dir if cfg.app == "digits" else None
    env_start, t0 = _env(), time.perf_counter()
    out = search.run(cfg, str(Path(FLAGS.runs_dir) / f"{name}_search"), data_dir,
                     restart=True, verbose=2)
    wall = time.perf_counter() - t0
    ref = _mfcc_reference()
    final, best = out["final"], out["best"]
    done = [r for r in out["rows"] if r["status"] == "COMPLETED"]
    result = {
        "command": f"python -m tuning.search --config={name} --config.seed={cfg.seed}",
        "trials_completed": len(done), "max_trials": cfg.max_trials,
        "max_trial_params": max(r["params"] for r in done),
        "redrawn": out["redrawn"], "shrunk": out["shrunk"],
        "best_trial": best["trial"], "best_val_accuracy": best["metric"],
        "best_hyperparameters": best["hp"], "best_params": final["params"],
        "best_test_accuracy": final["test_accuracy"], "search_seconds": out["search_seconds"],
        "mfcc_params": ref["params"], "mfcc_test_accuracy": ref["accuracy"],
        "mfcc_source": ref["source"],
        "beats_mfcc": (None if ref["accuracy"] is None else
                       bool(final["test_accuracy"] > ref["accuracy"] and
                            final["params"] < ref["params"])),
        "results_table": out["paths"]["markdown"], "wall_s": wall,
        "env_start": env_start, "env_end": _env()}
    return result


def _parse_schedule(entries):
    """"W:T" entries -> (workers, threads per worker or None for the launcher's default)."""
    runs = []
    for e in entries:
        w, _, t = e.partition(":")
        if not w.isdigit() or int(w) < 1 or (t and t != "auto" and not t.isdigit()):
            raise SystemExit(f"--worker_schedule entries are WORKERS[:THREADS|auto]. Received: {e}")
        runs.append((int(w), None if t in ("", "auto") else int(t)))
    return runs


def _label(workers, threads):
    from tuning.distributed import worker_threads

    t = worker_threads(workers) if threads is None else threads
    return f"{workers}w_{'tfdefault' if t == 0 else f'{t}thr'}"


def part_workers():
    from tuning import distributed

    args = ["--config=digits", f"--config.max_trials={FLAGS.worker_trials}",
            f"--config.epochs={FLAGS.worker_epochs}", "--config.final_epochs=0",
            f"--config.max_params={FLAGS.max_params}", f"--config.seed={FLAGS.seed}",
            "--restart"]
    if FLAGS.data_dir:
        args.append(f"--data_dir={FLAGS.data_dir}")
    runs = []
    for workers, threads in _parse_schedule(FLAGS.worker_schedule):
        label = _label(workers, threads)
        directory = Path(FLAGS.runs_dir) / f"workers_{label}"
        env_start, t0 = _env(), time.perf_counter()
        print(f"-- {label} (load {env_start['loadavg']})", flush=True)
        codes = distributed.launch_search([*args, f"--workdir={directory / 'digits'}"],
                                          workers=workers,
                                          log_dir=directory / "logs", cwd=ROOT, threads=threads)
        wall = time.perf_counter() - t0
        if any(c != 0 for c in codes.values()):
            raise SystemExit(f"search with {workers} worker(s) failed: {codes} "
                             f"(logs in {directory / 'logs'})")
        res = json.loads((directory / "digits" / "results.json").read_text())
        trials = res["trials"]
        runs.append({
            "label": label, "workers": workers,
            "threads_per_worker": distributed.worker_threads(workers) if threads is None
            else threads,
            "wall_s": wall, "trials": len(trials),
            "trial_seconds_sum": sum(t["seconds"] or 0 for t in trials),
            "per_worker": {w: sum(1 for t in trials if t["tuner"] == w)
                           for w in sorted({t["tuner"] for t in trials})},
            "best_val_accuracy": res["best"]["metric"],
            "env_start": env_start, "env_end": _env()})
        print(f"   {label}: {wall:.1f} s", flush=True)
    walls = {}
    for r in runs:
        walls.setdefault(r["label"], []).append(r["wall_s"])
    mean = {k: sum(v) / len(v) for k, v in walls.items()}
    base, fast = _label(1, 0), _label(2, None)
    speedup = mean[base] / mean[fast] if base in mean and fast in mean else None
    return {"command": "python -m tuning.distributed --mode=search --workers=N [--threads=T] -- "
                       + " ".join(args[:-1] + ["--workdir=..."]),
            "schedule": FLAGS.worker_schedule, "runs": runs, "mean_wall_s": mean,
            "baseline": base, "compared": fast, "speedup": speedup, "goal": 1.3}


def table(results):
    lines = ["| part | measurement | value |", "|---|---|---|"]
    for name, s in results.get("search", {}).items():
        acc = s["mfcc_test_accuracy"]
        lines += [
            f"| search `{name}` | command | `{s['command']}` |",
            f"| search | trials completed / max | {s['trials_completed']} / {s['max_trials']} "
            f"(largest {s['max_trial_params']:,} params; budget draws redrawn "
            f"{s['redrawn']}, shrunk {s['shrunk']}) |",
            f"| search | best trial (val accuracy, takes 5-9) | {s['best_trial']}: "
            f"{s['best_val_accuracy']:.2%} |",
            f"| search | best architecture | `{json.dumps(s['best_hyperparameters'])}` |",
            f"| search | best retrained: official test accuracy, params | "
            f"{s['best_test_accuracy']:.2%}, {s['best_params']:,} |",
            f"| search | hand-designed mfcc: official test accuracy, params | "
            f"{'n/a' if acc is None else f'{acc:.2%}'}, {s['mfcc_params']:,} |",
            f"| search | beats mfcc with fewer params | {s['beats_mfcc']} |",
            f"| search | wall time (search + retrain), load avg start/end | "
            f"{s['wall_s']:.0f} s, {s['env_start']['loadavg'][0]} / "
            f"{s['env_end']['loadavg'][0]} |"]
    w = results.get("workers")
    if w and isinstance(w.get("runs"), list):
        for i, r in enumerate(w["runs"], 1):
            lines.append(f"| workers | run {i}: chief + {r['workers']} worker(s), "
                         f"{r['threads_per_worker'] or 'TF default'} thread(s) each, "
                         f"{r['trials']} trials | {r['wall_s']:.0f} s (per worker "
                         f"{r['per_worker']}; load avg {r['env_start']['loadavg'][0]} / "
                         f"{r['env_end']['loadavg'][0]}) |")
        for k, v in w["mean_wall_s"].items():
            lines.append(f"| workers | mean wall time {k} | {v:.0f} s |")
        if w["speedup"] is not None:
            lines.append(f"| workers | speedup {w['compared']} vs {w['baseline']} "
                         f"(goal > {w['goal']}x) | {w['speedup']:.2f}x |")
    return "\n".join(lines)


def main(argv):
    del argv
    out = Path(FLAGS.out)
    results = json.loads(out.read_text()) if out.exists() else {}
    t0 = time.perf_counter()
    for part in FLAGS.parts:
        if part not in ("search", "workers"):
            raise SystemExit(f"--parts must name search and/or workers. Received: {part}")
        print(f"== {part} ==", flush=True)
        if part == "search":
            results.setdefault("search", {}).update({c: part_search(c) for c in FLAGS.configs})
        else:
            results[part] = part_workers()
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_text(json.dumps(results, indent=1, default=str) + "\n")
    results["last_run"] = {"parts": FLAGS.parts, "wall_s": time.perf_counter() - t0,
                           "command": "python -m benchmarks.tuning " + " ".join(sys.argv[1:])}
    out.write_text(json.dumps(results, indent=1, default=str) + "\n")
    print(table(results))
    print(f"\nwrote {out}")


if __name__ == "__main__":
    app.run(main)
