"""Keyword spotting benchmark: accuracy, augmentation study, throughput and latency on CPU.

    TFDL_DATA_DIR=../shared/data python -m benchmarks.keywords

Trains the same model on `../shared/data/keywords` (10 digits + _silence_ +
_unknown_) twice: with the training-only augmentation (time shift +
background noise) and without it. Two of the six `_background_noise_` files
(`--held_out_noise`) are never used in training; each model is scored on the
clean test split and on the test split mixed with the held-out noise at 0 dB
and 10 dB SNR. Also records training examples/sec (steady-state median over
epochs), and the size and latency per 1 s clip (batch of 1, CPU) of the exported
SavedModel and its `model.tflite`.

Writes `benchmarks/results/keywords.json` (and prints its path) and a Markdown
table. Other developers may share the CPU: the JSON records the load average.
"""

import dataclasses
import json
import os
import platform
import sys
import time
from pathlib import Path

import tfdl  # noqa: F401
from absl import app, flags

from tfdl import keywords as kw
from tfdl.workdir import write_json

flags.DEFINE_string("data_dir", None, "Keyword folder (default $TFDL_DATA_DIR/keywords).")
flags.DEFINE_string("out", "benchmarks/results/keywords.json", "Result JSON.")
flags.DEFINE_string("workdir", "runs/bench_keywords", "Parent folder of the runs' workdirs.")
flags.DEFINE_string("model", "cnn", "Model for both runs of the study.")
flags.DEFINE_string("model_kwargs", '{"dropout": 0.25, "batchnorm": true}', "Builder kwargs.")
flags.DEFINE_enum("preprocess", "mfcc", ["mfcc", "log-mel"], "Features (a run may "
                  "override them).")
flags.DEFINE_integer("epochs", 30, "Epochs per training.")
flags.DEFINE_list("held_out_noise", ["running_tap.wav", "doing_the_dishes.wav"],
                  "Noise files kept out of training, used for the noisy test.")
flags.DEFINE_list("runs", ["augmented", "no_augmentation"], "Which runs (see RUNS).")
FLAGS = flags.FLAGS

RUNS = {
    "augmented": {},
    "no_augmentation": {"time_shift_ms": 0.0, "background_frequency": 0.0},
    "noise_only": {"time_shift_ms": 0.0},
    "shift_only": {"background_frequency": 0.0},
    "augmented_log_mel": {"preprocess": "log-mel"},
    "no_augmentation_log_mel": {"preprocess": "log-mel", "time_shift_ms": 0.0,
                                "background_frequency": 0.0},
    "ffnn_augmented": {"model": "ffnn", "model_kwargs": {}},
    "augmented_sgd": {"optimizer": "momentum", "learning_rate": 0.01},
}


def table(results):
    snrs = sorted({s for r in results.values() for s in r["noisy_test_accuracy"]}, key=float)
    head = (["run", "model", "test acc (clean)"] + [f"test acc, held-out noise {s} dB"
                                                    for s in snrs]
            + ["train examples/s", "latency ms/clip SavedModel / TFLite",
               "size MB SavedModel / TFLite", "params", "epochs"])
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for name, r in results.items():
        row = [name, r["model"], f"{r['test_accuracy']:.4f}"]
        row += [f"{r['noisy_test_accuracy'].get(s, float('nan')):.4f}" for s in snrs]
        row += [f"{r['examples_per_sec']:.0f}",
                f"{r['export_latency_ms_per_clip']:.2f} / {r['tflite_latency_ms_per_clip']:.2f}",
                f"{r['export_bytes'] / 1e6:.2f} / {r['tflite_bytes'] / 1e6:.2f}",
                f"{r['num_params']:,}", str(r["epochs_run"])]
        lines.append("| " + " | ".join(row) + " |")
    return "\n".join(lines)


def main(argv):
    del argv
    base = kw.KeywordsConfig(data_dir=FLAGS.data_dir or "", model=FLAGS.model,
                             preprocess=FLAGS.preprocess,
                             model_kwargs=json.loads(FLAGS.model_kwargs), epochs=FLAGS.epochs,
                             held_out_noise=tuple(FLAGS.held_out_noise), verbose=2)
    out = {"command": "python -m benchmarks.keywords " + " ".join(sys.argv[1:]),
           "host": {"platform": platform.platform(), "cpus": os.cpu_count()},
           "loadavg_start": os.getloadavg(), "runs": {}}
    t_all = time.time()
    data = None
    for name in FLAGS.runs:
        if name not in RUNS:
            raise SystemExit(f"unknown run {name!r}; choose from {', '.join(RUNS)}")
        cfg = dataclasses.replace(base, workdir=f"{FLAGS.workdir}/{name}", **RUNS[name])
        if data is None:
            data = kw.prepare(cfg)  # Same splits, noise and decoded audio for every run.
        t0 = time.time()
        load0 = os.getloadavg()
        r = kw.run(cfg, data)
        r.pop("test")
        r.update(model=cfg.model, config=dataclasses.asdict(cfg), wall_seconds=time.time() - t0,
                 loadavg_before=load0, loadavg_after=os.getloadavg())
        out["runs"][name] = r
        out["wall_seconds"] = time.time() - t_all
        write_json(FLAGS.out, out)  # After every run: partial results survive.
    print("\n" + table(out["runs"]))
    print(f"\nwrote {Path(FLAGS.out).resolve()}")


if __name__ == "__main__":
    app.run(main)
