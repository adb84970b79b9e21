r"""Keyword-spotting benchmark: every named config's accuracy, noise robustness, speed and export.

    TFDL_DATA_DIR=../shared/data python -m benchmarks.keywords                # every recipe
    TFDL_DATA_DIR=../shared/data python -m benchmarks.keywords --configs=cnn

Runs `python -m apps.keywords --config=NAME` (the library's `run`) for each
named config in `--configs` on `../shared/data/keywords` (10 digits +
`_silence_` + `_unknown_`): test accuracy on the clean test split and on the
test split mixed with the held-out noise files (`running_tap.wav`,
`doing_the_dishes.wav`, never used in training) at 0 and 10 dB SNR; training
examples/sec (steady-state median over epochs) and time; the size and the
latency per 1 s clip (batch of 1, CPU) of the exported SavedModel and its
`model.tflite`.

Writes `benchmarks/results/keywords.json` after each config (partial results
survive; rows of other configs already there are kept) and prints a Markdown
table. Other developers may share the CPU: each row records the load average
and wall time. `--config.FIELD=VALUE`-style overrides for a quick check:
`--override=epochs=1,steps_per_epoch=2`.
"""

import dataclasses
import json
import sys
import time
from pathlib import Path

import tfdl  # noqa: F401  (quiet TensorFlow)
from absl import app, flags, logging

from benchmarks.common import apply_overrides, override_pairs
from benchmarks.common import environment as _env

from tfdl.keywords import train
from tfdl.keywords.configs import CONFIGS
from tfdl.workdir import write_json

RECIPES = [n for n in CONFIGS.names() if CONFIGS.resolve(n) == n]  # every named recipe
ALIASES = {r: [a for a in CONFIGS.names() if a != r and CONFIGS.resolve(a) == r] for r in RECIPES}
FLAGS = flags.FLAGS
flags.DEFINE_list("configs", RECIPES, "Named configs to run.")
flags.DEFINE_string("data_dir", None, "Keyword folder (default $TFDL_DATA_DIR/keywords).")
flags.DEFINE_string("out", "benchmarks/results/keywords.json", "Result JSON.")
flags.DEFINE_string("runs_dir", "benchmarks/results/keywords_runs", "Workdirs of the runs.")
flags.DEFINE_list("override", [], "FIELD=VALUE overrides of every config (quick checks only; "
                  "recorded in the JSON).")




def _config(name):
    """The named config with `--override` applied (values parsed as JSON where they parse)."""
    return apply_overrides(CONFIGS.get(name), override_pairs(FLAGS.override)).validate()


def bench_config(name):
    """One named config's row: its metrics, command, config, wall time and load."""
    cfg, env0, t0 = _config(name), _env(), time.perf_counter()
    r = train.run(cfg, f"{FLAGS.runs_dir}/{name}", FLAGS.data_dir, verbose=2)
    command = f"python -m apps.keywords --config={name}" + "".join(
        f" --config.{o}" for o in FLAGS.override)
    return {"command": command, "config": dataclasses.asdict(cfg),
            "wall_s": time.perf_counter() - t0, "env_start": env0, "env_end": _env(),
            **{k: v for k, v in r.items() if k not in ("test", "workdir", "export", "tflite",
                                                     "int8_tflite")}}


def table(rows):
    """The Markdown table of the rows (one per named config)."""
    snrs = sorted({s for r in rows.values() for s in r["noisy_test_accuracy"]}, key=float)
    head = (["config", "command", "test acc (clean)"]
            + [f"held-out noise {s} dB" for s in snrs]
            + ["train time", "train examples/s",
               "SavedModel / TFLite: MB, ms per 1 s clip (int8: MB, ms, test acc)",
               "params"])
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for name, r in rows.items():
        aliases = ", ".join(f"`{a}`" for a in ALIASES.get(name, []))
        label = f"`{name}`" + (f" ({aliases})" if aliases else "")
        row = [label, f"`{r['command']}`", f"{r['test_accuracy']:.4f}"]
        row += [f"{r['noisy_test_accuracy'][s]:.4f}" if s in r["noisy_test_accuracy"] else "-"
                for s in snrs]
        row += [f"{r['train_seconds'] / 60:.1f} min ({r['epochs_run']} epochs)",
                f"{r['examples_per_sec']:.0f}"]
        row.append(f"{r['export_bytes'] / 1e6:.2f} / {r['tflite_bytes'] / 1e6:.2f} MB, "
                   f"{r['export_latency_ms_per_clip']:.2f} / "
                   f"{r['tflite_latency_ms_per_clip']:.2f} ms" if "tflite_bytes" in r else "-")
        if "int8_tflite_bytes" in r:
            row[-1] += (f"; int8 {r['int8_tflite_bytes'] / 1e6:.2f} MB, "
                        f"{r['int8_tflite_latency_ms_per_clip']:.2f} ms, "
                        f"{r['int8_accuracy']:.4f}")
        row.append(f"{r['num_params']:,}")
        lines.append("| " + " | ".join(row) + " |")
    loads = "; ".join(", ".join(f"{x:.1f}" for x in r["env_start"]["loadavg"])
                      for r in rows.values())
    return "\n".join(lines) + f"\n\nLoad average (1, 5, 15 min) at each start: {loads}."


def main(argv):
    del argv
    logging.set_verbosity(logging.WARNING)
    unknown = [c for c in FLAGS.configs if c not in CONFIGS]
    if unknown:
        sys.exit(f"error: unknown --configs {', '.join(unknown)}; choose from "
                 f"{', '.join(CONFIGS.names())}")
    out = Path(FLAGS.out)
    results = json.loads(out.read_text()) if out.is_file() else {}
    t_all = time.perf_counter()
    for name in dict.fromkeys(map(CONFIGS.resolve, FLAGS.configs)):
        results.setdefault("configs", {})[name] = bench_config(name)
        write_json(out, results)  # after every config: partial results survive
    results["last_run"] = {"wall_s": time.perf_counter() - t_all,
                           "command": "python -m benchmarks.keywords " + " ".join(sys.argv[1:])}
    write_json(out, results)
    print("\n" + table(results["configs"]))
    print(f"\nresults: {out.resolve()}")


if __name__ == "__main__":
    app.run(main)
