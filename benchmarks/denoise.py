r"""Speech-denoising benchmark: every named config's validation-tail SNR, training time, export RTF.

    TFDL_DATA_DIR=../shared/data python -m benchmarks.denoise                   # every recipe
    TFDL_DATA_DIR=../shared/data python -m benchmarks.denoise --configs=default,fc
    TFDL_DATA_DIR=../shared/data python -m benchmarks.denoise --configs=tcn --rtf_only

Each config runs as `python -m apps.denoise --config=NAME
--test=test_01_x.wav,test_02_x.wav` does (`tfdl.denoise.train.run`): trained
on the first 85 % of the pair, scored on the held-out last 15 % (11.8 s). The
table reports, on that tail, the SNR of the noisy input, of the noisy-phase
oracle (clean magnitude, noisy phase: the ceiling of a magnitude-only model)
and of the model, its SI-SDR, the SNR on the training audio (in-sample)
against its own oracle, training time, and the real-time factor of the
exported SavedModel on CPU (seconds of compute per second of audio, one call
on the tail, median of 3). Goals: a magnitude model >= 14 dB, a phase-aware
model > the 17.0 dB noisy-phase ceiling, RTF <= 0.01.

Results merge into `benchmarks/results/denoise.json` (per config, with the
command, wall time and `os.getloadavg()` before and after: other jobs on the
same CPU slow training down, and the RTF with it). `--rtf_only` re-measures
the RTF of the configs' saved exports (median of 5 calls) without training,
e.g. once the machine is idle. Full runs take hours on 2 cores.
"""

import dataclasses
import json
import os
import sys
import time
from pathlib import Path

import tfdl  # noqa: F401  (quiet TensorFlow)
from absl import app, flags, logging

from benchmarks.common import environment

from tfdl.denoise.configs import CONFIGS

FLAGS = flags.FLAGS
RECIPES = [n for n in CONFIGS.names() if CONFIGS.resolve(n) == n]  # every named recipe
ALIASES = {CONFIGS.resolve(n): n for n in CONFIGS.names() if CONFIGS.resolve(n) != n}
TESTS = ("test_01_x.wav", "test_02_x.wav")
TARGETS = {"magnitude_snr_db": 14.0, "phase_aware_snr_db": 17.0, "rtf": 0.01}
flags.DEFINE_list("configs", RECIPES, "Named configs to run (default: every recipe).")
flags.DEFINE_string("data_dir", None, "Denoise data folder (default: $TFDL_DATA_DIR/denoise).")
flags.DEFINE_string("out", "benchmarks/results/denoise.json", "JSON results file.")
flags.DEFINE_string("runs_dir", "benchmarks/results/denoise_runs", "Workdirs of the runs.")
flags.DEFINE_bool("rtf_only", False, "Re-measure only the export RTF of the configs' saved "
                  "runs (median of 5 calls; no training), e.g. on an idle machine.")


def run_config(name):
    """`python -m apps.denoise --config=NAME` on both test clips: its metrics, time and load."""
    from tfdl.denoise import train

    cfg = CONFIGS.get(name)
    load0, t0 = list(os.getloadavg()), time.perf_counter()
    r = train.run(cfg, str(Path(FLAGS.runs_dir) / name), FLAGS.data_dir, TESTS, verbose=2)
    r.update(command=f"python -m apps.denoise --config={name} --test={','.join(TESTS)}",
             config=dataclasses.asdict(cfg), wall_s=time.perf_counter() - t0,
             loadavg_start=load0, loadavg_end=list(os.getloadavg()), env=environment())
    return r


def remeasure_rtf(r):
    """Re-measures the RTF of a run's export on its validation tail; updates `r`."""
    from tfdl.config import from_dict
    from tfdl.denoise import data, serve
    from tfdl.denoise.config import Config
    from tfdl.export import load

    cfg = from_dict(Config, r["config"])
    split = data.load_split(cfg, r["clean_path"], r["noisy_path"])
    served = load(r["export"])  # kept alive: `serve` uses its variables
    r["rtf_loadavg"] = list(os.getloadavg())
    r["export_real_time_factor_cpu"] = serve.real_time_factor(
        served.serve, split.val_noisy, split.sample_rate, repeats=5)
    r["rtf_remeasured"] = time.strftime("%Y-%m-%d %H:%M")


def _snrs(t):
    return f"{t['input']:.2f} / {t['model']:.2f} / {t['oracle_noisy_phase']:.2f}"


def table(results):
    """A Markdown table, one row per config."""
    rows = ["| config | command | tail SNR: input / model / oracle | model SI-SDR | "
            "training audio SNR: input / model / oracle | epochs | training | params | "
            "export RTF (CPU) | load avg: start / RTF |", "|---" * 10 + "|"]
    for name, r in results.items():
        label = f"`{name}`" + (f" (`{ALIASES[name]}`)" if name in ALIASES else "")
        s = r["validation_snr_db"]
        snr = f"{s['input']:.2f} / **{s['model']:.2f}** / {s['oracle_noisy_phase']:.2f}"
        rtf = r.get("export_real_time_factor_cpu")
        load = r.get("rtf_loadavg", r["loadavg_end"])[0]
        rows.append(f"| {label} | `{r['command']}` | {snr} | "
                    f"{r['validation_si_sdr_db']['model']:.2f} | {_snrs(r['training_snr_db'])} | "
                    f"{r['epochs_run']} | {r['train_seconds'] / 60:.1f} min | {r['params']:,} | "
                    f"{'-' if rtf is None else f'{rtf:.4f}'} | "
                    f"{r['loadavg_start'][0]:.1f} / {load:.1f} |")
    return "\n".join(rows)


def _saved(out):
    """The configs already in the JSON file `out` (none if it does not exist)."""
    return json.loads(out.read_text()).get("configs", {}) if out.exists() else {}


def main(argv):
    del argv
    logging.set_verbosity(logging.WARNING)  # SavedModel writing logs at INFO
    unknown = [c for c in FLAGS.configs if c not in CONFIGS]
    if unknown:
        sys.exit(f"error: unknown --configs {', '.join(unknown)}; choose from "
                 f"{', '.join(CONFIGS.names())}")
    from tfdl.workdir import write_json

    out = Path(FLAGS.out)
    t_all = time.perf_counter()
    for name in map(CONFIGS.resolve, FLAGS.configs):
        if FLAGS.rtf_only:
            result = _saved(out).get(name)
            if not result or "export" not in result:
                sys.exit(f"error: --rtf_only: no exported run of {name} in {out}")
            remeasure_rtf(result)
        else:
            result = run_config(name)
        results = _saved(out)  # re-read: another invocation (other configs) may have written
        results[name] = result
        write_json(out, {"targets": TARGETS, "cpus": os.cpu_count(), "configs": results,
                         "last_run": {"command": "python -m benchmarks.denoise "
                                                 + " ".join(sys.argv[1:]),
                                      "wall_s": time.perf_counter() - t_all}})
    print(f"\nresults: {out}\n")
    print(table(_saved(out)))


if __name__ == "__main__":
    app.run(main)
