r"""Speech-denoising benchmark: every named config's validation-tail SNR, training time, export RTF.

    TFDL_DATA_DIR=../shared/data python -m benchmarks.denoise                   # every recipe
    TFDL_DATA_DIR=../shared/data python -m benchmarks.denoise --configs=default,fc
    TFDL_DATA_DIR=../shared/data python -m benchmarks.denoise --configs=tcn --rtf_only
    TFDL_DATA_DIR=../shared/data python -m benchmarks.denoise --configs=default --dev_only
    TFDL_DATA_DIR=../shared/data python -m benchmarks.denoise --dev_exports=runs/denoise/export

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

The cross-speaker dev set (`tfdl.denoise.devset`: 18 voices the model never
heard, mixed with the tail's noise at input SNRs -5, 0, 5, 10 and 20 dB) is
scored at the end of every run (`dev_set` in each result: SI-SDR, SNR,
wide-band PESQ and STOI of the model, `noisereduce` in three settings, the
noisy input and the noisy-phase oracle, per input SNR, and the same on the
training speaker's tail). `--dev_only` re-scores the configs' saved exports
on it without training (about 2 minutes each); `--dev_exports=DIR,...`
scores any denoise exports (merged under `dev_exports` in the JSON, by
path). Each prints a Markdown table and the issue's goals
(`tfdl.denoise.quality.goals`).
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

from tfdl.denoise import quality
from tfdl.denoise.configs import CONFIGS

FLAGS = flags.FLAGS
RECIPES = [n for n in CONFIGS.names() if CONFIGS.resolve(n) == n]  # every named recipe
ALIASES = {CONFIGS.resolve(n): n for n in CONFIGS.names() if CONFIGS.resolve(n) != n}
TESTS = ("test_01_x.wav", "test_02_x.wav")
TARGETS = {"magnitude_snr_db": 14.0, "phase_aware_snr_db": 17.0, "rtf": 0.01,
           "dev_set": quality.GOALS}
flags.DEFINE_list("configs", RECIPES, "Named configs to run (default: every recipe).")
flags.DEFINE_string("data_dir", None, "Denoise data folder (default: $TFDL_DATA_DIR/denoise).")
flags.DEFINE_string("out", "benchmarks/results/denoise.json", "JSON results file.")
flags.DEFINE_string("runs_dir", "benchmarks/results/denoise_runs", "Workdirs of the runs.")
flags.DEFINE_bool("rtf_only", False, "Re-measure only the export RTF of the configs' saved "
                  "runs (median of 5 calls; no training), e.g. on an idle machine.")
flags.DEFINE_bool("dev_only", False, "Re-score only the configs' saved exports on the "
                  "cross-speaker dev set (no training).")
flags.DEFINE_list("dev_exports", [], "Score these denoise export folders on the cross-speaker "
                  "dev set (no training; results under `dev_exports` by path).")


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


def rescore_dev(r):
    """Re-scores a saved run's export on the cross-speaker dev set; updates `r`."""
    from tfdl.config import from_dict
    from tfdl.denoise.config import Config

    cfg = from_dict(Config, r["config"])
    r["dev_set"] = score_export_dev(r["export"], r["clean_path"], r["noisy_path"],
                                    cfg.val_fraction)


def score_export_dev(export_dir, clean_path, noisy_path, val_fraction=0.15):
    """`tfdl.denoise.quality.score_export` on the dev set built beside the pair's folder,
    with the environment and the time."""
    from tfdl.denoise import devset

    speech_dir, keywords_dir = devset.find_roots(Path(clean_path).resolve().parent.parent)
    dev = devset.build(speech_dir, keywords_dir, clean_path, noisy_path, val_fraction)
    scores = quality.score_export(export_dir, dev)
    scores.update(env=environment(), scored=time.strftime("%Y-%m-%d %H:%M"))
    return scores


def dev_report(label, scores, rtf=None):
    """The dev-set table and the goals of one model, as Markdown."""
    lines = [f"### {label}", "", quality.table(scores), "", "| goal | value | met |",
             "|---|---|---|"]
    for goal, (value, met) in quality.goals(scores, rtf).items():
        value = f"{value:.3f}" if isinstance(value, float) else f"lost {value}"
        lines.append(f"| {goal} | {value} | {'yes' if met else '**no**'} |")
    return "\n".join(lines)


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
    if FLAGS.dev_exports:
        return score_exports(out, FLAGS.dev_exports)
    for name in map(CONFIGS.resolve, FLAGS.configs):
        if FLAGS.dev_only:
            result = _saved(out).get(name)
            if not result or "export" not in result:
                sys.exit(f"error: --dev_only: no exported run of {name} in {out}")
            rescore_dev(result)
        elif FLAGS.rtf_only:
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
    for name, r in _saved(out).items():
        if "snr_db" in r.get("dev_set", {}):
            print("\n" + dev_report(f"`{name}` on the cross-speaker dev set", r["dev_set"],
                                    r.get("export_real_time_factor_cpu")))


def score_exports(out, exports):
    """`--dev_exports`: scores each export on the dev set (the pair found as the app finds
    it), merges them into `out` under `dev_exports`, prints their tables."""
    from tfdl.denoise import data
    from tfdl.workdir import write_json

    clean = data.resolve(data.CLEAN, FLAGS.data_dir, "clean")
    noisy = data.resolve(data.NOISY, FLAGS.data_dir, "noisy")
    for export_dir in exports:
        scores = score_export_dev(export_dir, clean, noisy)
        saved = json.loads(out.read_text()) if out.exists() else {}
        saved.setdefault("dev_exports", {})[str(export_dir)] = {
            **scores, "command": "python -m benchmarks.denoise " + " ".join(sys.argv[1:])}
        write_json(out, saved)
        print("\n" + dev_report(f"`{export_dir}` on the cross-speaker dev set", scores))
    print(f"\nresults: {out}")


if __name__ == "__main__":
    app.run(main)
