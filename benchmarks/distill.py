r"""Distillation side by side (issue #34): each task's teacher, student and plain model,
trained and measured in one run, with every export's float and int8 TFLite.

    TFDL_DATA_DIR=../shared/data python -m benchmarks.distill
    TFDL_DATA_DIR=../shared/data python -m benchmarks.distill --loso   # + speaker folds

Rows (`ROWS`), each the named config of `python -m apps.<task> --config=NAME`, with
`--config.int8=true` except for the teachers (SavedModel, `model.tflite` and, but for
the teachers, `model_int8.tflite`):

- digits: `compact_pair` (the teacher), `compact_student` (taught by that row's
  run, so the teacher trains once) and `mfcc`, on the official split;
- keywords: `cnn_robust` (the default) and `cnn`, on the corpus' test split, also
  under the held-out noise at 0 and 10 dB. Keywords has no distilled row: every
  student tried so far ended below its teacher (docs/experiments/keywords.md).

With `--loso` the digits rows also run their leave-one-speaker-out folds
(`--config.split=loso`; the student's teacher in each fold is that fold of the
teacher row's LOSO run): 51 min in all on a 2-core Intel Xeon, against 14 without.

Latencies are per 1 s clip (batch of 1, median of 30) and all measured in this one
process, so the rows compare. Writes `benchmarks/results/distill.json` after every row
(partial results survive) and prints one Markdown table.
"""

import dataclasses
import json
import sys
import time
from pathlib import Path

import tfdl  # noqa: F401  (quiet TensorFlow)
from absl import app, flags, logging

from benchmarks.common import apply_overrides, environment, override_pairs

# (task, role, named config, overrides); "{teacher}" is the task's teacher row's workdir.
ROWS = (("digits", "teacher", "compact_pair", {}),
        ("digits", "student", "compact_student", {"teacher": "{teacher}"}),
        ("digits", "plain", "mfcc", {}),
        ("keywords", "teacher", "cnn_robust", {}),
        ("keywords", "plain", "cnn", {}))
FLAGS = flags.FLAGS
flags.DEFINE_bool("loso", False, "Also the digits rows' leave-one-speaker-out folds.")
flags.DEFINE_string("data_dir", None, "Data root holding fsdd/ and keywords/ "
                    "(default: $TFDL_DATA_DIR, then ~/.keras/datasets).")
flags.DEFINE_string("out", "benchmarks/results/distill.json", "Result JSON.")
flags.DEFINE_string("runs_dir", "benchmarks/results/distill_runs", "Workdirs of the runs.")
flags.DEFINE_list("override", [], "FIELD=VALUE overrides of every row (quick checks only; "
                  "recorded in the JSON).")

EXPORT_KEYS = ("export_bytes", "tflite_bytes", "int8_tflite_bytes", "export_latency_ms_per_clip",
               "tflite_latency_ms_per_clip", "int8_tflite_latency_ms_per_clip", "int8_accuracy")


def _task(task):
    """The task's config registry and `run` function."""
    if task == "digits":
        from tfdl.digits import train
        from tfdl.digits.configs import CONFIGS
    else:
        from tfdl.keywords import train
        from tfdl.keywords.configs import CONFIGS
    return CONFIGS, train.run


def _data_dir(task):
    return None if FLAGS.data_dir is None else str(Path(FLAGS.data_dir) / (
        "fsdd" if task == "digits" else "keywords"))


def row_config(task, name, overrides):
    """The named config with the row's and `--override`'s values set, and its command."""
    configs, _ = _task(task)
    items = list(overrides.items()) + override_pairs(FLAGS.override)
    cfg = apply_overrides(configs.get(name), items)
    command = f"python -m apps.{task} --config={name}" + "".join(
        f" --config.{k}={json.dumps(v) if isinstance(v, bool) else v}" for k, v in items)
    return cfg.validate(), command


def bench_row(task, role, name, overrides, teacher_run):
    """One row: the run's accuracy, size and latencies (and its LOSO mean with `--loso`,
    the student's taught fold by fold by the teacher row's `<workdir>_loso`)."""
    def teacher(v, suffix=""):
        return v.format(teacher=teacher_run + suffix) if isinstance(v, str) else v

    loso = {k: teacher(v, "_loso") for k, v in overrides.items()}
    overrides = {"int8": role != "teacher", **{k: teacher(v) for k, v in overrides.items()}}
    cfg, command = row_config(task, name, overrides)
    _, run = _task(task)
    env0, t0 = environment(), time.perf_counter()
    workdir = Path(FLAGS.runs_dir) / task / name
    r = run(cfg, str(workdir), _data_dir(task), verbose=2)
    row = {"task": task, "role": role, "config": name, "command": command,
           "settings": dataclasses.asdict(cfg), "workdir": str(workdir),
           "export": str(workdir / "export"),
           "params": r.get("trainable_params", r.get("num_params")),
           "train_seconds": r["train_seconds"], **{k: r[k] for k in EXPORT_KEYS if k in r}}
    if task == "digits":
        row["official_accuracy"] = r["accuracy"]
    else:
        row.update(test_accuracy=r["test_accuracy"], noisy_test_accuracy=r["noisy_test_accuracy"])
    if FLAGS.loso and task == "digits":
        cfg, loso_command = row_config(task, name, {**loso, "split": "loso", "int8": False})
        r = run(cfg, str(workdir) + "_loso", _data_dir(task), verbose=2)
        row.update(loso_mean_accuracy=r["mean_accuracy"], loso_command=loso_command)
    row.update(wall_s=time.perf_counter() - t0, env_start=env0, env_end=environment())
    return row


def _pct(v):
    return "-" if v is None else f"{100 * v:.1f} %"


def table(rows):
    """The Markdown table: one line per row, accuracy then size and speed of each export."""
    lines = ["| task | model | official | LOSO mean | corpus test (noise 0 / 10 dB) | params | "
             "MB: SavedModel / TFLite / int8 | ms per 1 s clip: SavedModel / TFLite / int8 | "
             "int8 accuracy |", "|" + "---|" * 9]
    for r in rows.values():
        test = ("-" if "test_accuracy" not in r else
                f"{_pct(r['test_accuracy'])} ({_pct(r['noisy_test_accuracy']['0'])} / "
                f"{_pct(r['noisy_test_accuracy']['10'])})")
        mb = " / ".join(f"{r[k] / 1e6:.2f}" if k in r else "-"
                        for k in ("export_bytes", "tflite_bytes", "int8_tflite_bytes"))
        ms = " / ".join(f"{r[k]:.2f}" if k in r else "-"
                        for k in ("export_latency_ms_per_clip", "tflite_latency_ms_per_clip",
                                  "int8_tflite_latency_ms_per_clip"))
        lines.append(f"| {r['task']} | `{r['config']}` ({r['role']}) | "
                     f"{_pct(r.get('official_accuracy'))} | {_pct(r.get('loso_mean_accuracy'))} "
                     f"| {test} | {r['params']:,} | {mb} | {ms} | {_pct(r.get('int8_accuracy'))} |")
    loads = "; ".join(f"{r['config']} {r['env_start']['loadavg'][0]:.1f}" for r in rows.values())
    return "\n".join(lines) + f"\n\nLoad average (1 min) at each row's start: {loads}."


def main(argv):
    del argv
    logging.set_verbosity(logging.WARNING)
    from tfdl.workdir import write_json

    out = Path(FLAGS.out)
    results = {"rows": {}, "loso": FLAGS.loso, "override": FLAGS.override}
    t_all, teachers = time.perf_counter(), {}
    for task, role, name, overrides in ROWS:
        row = bench_row(task, role, name, overrides, teachers.get(task, ""))
        if role == "teacher":
            teachers[task] = row["workdir"]
        results["rows"][f"{task}/{name}"] = row
        write_json(out, results)  # after every row: partial results survive
    results["last_run"] = {"wall_s": time.perf_counter() - t_all,
                           "command": "python -m benchmarks.distill " + " ".join(sys.argv[1:])}
    write_json(out, results)
    print("\n" + table(results["rows"]))
    print(f"\nresults: {out.resolve()}")


if __name__ == "__main__":
    app.run(main)
