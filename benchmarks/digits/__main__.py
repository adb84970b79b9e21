r"""Spoken-digits benchmark: accuracy, leave-one-speaker-out, training and input-pipeline speed.

    TFDL_DATA_DIR=../shared/data python -m benchmarks.digits                  # everything
    TFDL_DATA_DIR=../shared/data python -m benchmarks.digits --parts=pipeline,throughput
    TFDL_DATA_DIR=../shared/data python -m benchmarks.digits --parts=configs --configs=mfcc,loso

Parts (each merges its numbers into `benchmarks/results/digits.json`, so they
can run separately; the Markdown table printed at the end covers all parts
recorded so far):
    configs: `python -m apps.digits --config=NAME` for each named config in
        `--configs` (default: every one): test accuracy on its split (targets:
        mfcc >= 99.0 %, batchnorm >= 97 %, best >= 99.5 % on the official
        split; loso >= 93 %, with and without its speaker adaptation), training
        time, and each export's size on disk and latency per 1 s clip
        (SavedModel and model.tflite).
    throughput: training examples/sec at batch 32 of `batchnorm` and `mfcc`
        against a plain PyTorch CPU loop of the same networks as the reference
        notebook trains them (DataLoader over preloaded tensors, zero_grad,
        forward, cross-entropy, backward, Adam step; MFCC precomputed for the
        mfcc net). Per network, thread count (1 and 2, TF and PyTorch alike) and
        group of Keras configurations (`JOB_GROUPS`: thread pools are per
        process) one process alternates PyTorch and Keras epochs for
        `--throughput_rounds` rounds (`EPOCHS_PER_ROUND` epochs each) after a
        warm-up of one round's epochs, so both see the same
        load; medians of the rounds, the fastest job kept per configuration (for
        PyTorch, the fastest of all its jobs). Keras as the apps train
        (`tfdl.layers.BatchNormalization`: the fused batch-norm kernel;
        `tfdl.train.make_optimizer("adam")`: the fused Adam kernel;
        `steps_per_execution=tfdl.train.STEPS_PER_EXECUTION`; the model's default
        micro-batches, `tfdl.train.use_microbatches`, with the app's thread pools,
        `tfdl.train.cpu_threads`), also with whole batches and untuned (plain
        `keras.optimizers.Adam`, one step per call, Keras' own
        `BatchNormalization` instead of `tfdl.layers`' fused one). `mfcc` is timed
        like for like (its layers after the MFCC layer on precomputed MFCC) and end to
        end from raw audio. Needs PyTorch's CPU build (benchmark only; skipped
        with a note otherwise): `pip install torch --index-url
        https://download.pytorch.org/whl/cpu` (the CUDA build's triton crashes
        when imported after TensorFlow). Goal >= 1.5x. Keras runs with this
        machine's `tfdl.speed` settings, timed first if none are cached.
    profile: one training epoch of `batchnorm` and `mfcc` (on precomputed MFCC) at
        one thread under the TensorFlow profiler and under `torch.profiler`: self
        time per op type and step, FLOPs per training example, GFLOP/s against
        the CPU's peak and a large matrix product's (`benchmarks.digits.profile`).
    pipeline: decode + MFCC of all 2,500 files with
        `tfdl.pipeline.feature_dataset` (first pass and cached pass) against a
        Python loop with scipy + python_speech_features (the reference's way),
        medians of 3 interleaved rounds. Goal >= 4x on the first pass.

Every part records wall time and `os.getloadavg()`: other jobs on the same
CPU slow the numbers down.
"""

import json
import sys
import time
from pathlib import Path

import tfdl  # noqa: F401  (quiet TensorFlow)
from absl import app, flags, logging

from benchmarks.digits import profile, throughput
from benchmarks.digits.accuracy import bench_configs
from benchmarks.digits.pipeline import bench_pipeline
from benchmarks.digits.report import table
from tfdl.digits.configs import CONFIGS

FLAGS = flags.FLAGS
PARTS = ("pipeline", "throughput", "profile", "configs")
RECIPES = [n for n in CONFIGS.names() if CONFIGS.resolve(n) == n]  # every named recipe
flags.DEFINE_list("parts", list(PARTS), f"Parts to run: {', '.join(PARTS)}.")
flags.DEFINE_list("configs", RECIPES, "Named configs for the configs part.")
flags.DEFINE_string("data_dir", None, "FSDD folder (default: $TFDL_DATA_DIR/fsdd).")
flags.DEFINE_integer("throughput_rounds", 5, "Timed rounds (PyTorch, then Keras) per network "
                     "and thread count in the throughput part.")
flags.DEFINE_string("out", "benchmarks/results/digits.json", "JSON results file.")
flags.DEFINE_string("throughput_job", None, "Internal: NAME:THREADS:ROUNDS:GROUP, one "
                    "network's throughput rounds in this process (used by the throughput "
                    "part).")
flags.DEFINE_string("profile_job", None, "Internal: NAME, one network's profile in this "
                    "process (used by the profile part).")
flags.DEFINE_string("runs_dir", "benchmarks/results/digits_runs", "Workdirs of the training runs.")


def main(argv):
    """Runs `--parts` (or one `--throughput_job`), merges them into `--out`, prints the table."""
    del argv
    logging.set_verbosity(logging.WARNING)
    if FLAGS.throughput_job:
        return throughput.job(FLAGS.throughput_job, FLAGS.data_dir)
    if FLAGS.profile_job:
        return profile.job(FLAGS.profile_job, FLAGS.data_dir)
    from tfdl.digits import data as fsdd

    recordings = fsdd.load(FLAGS.data_dir)
    out = Path(FLAGS.out)
    results = json.loads(out.read_text()) if out.is_file() else {}
    unknown = set(FLAGS.parts) - set(PARTS)
    if unknown:
        sys.exit(f"error: unknown --parts {', '.join(sorted(unknown))}")
    unknown = [c for c in FLAGS.configs if c not in CONFIGS]
    if unknown:
        sys.exit(f"error: unknown --configs {', '.join(unknown)}; choose from "
                 f"{', '.join(CONFIGS.names())}")
    t_all = time.perf_counter()
    if "pipeline" in FLAGS.parts:
        results["pipeline"] = bench_pipeline(recordings)
        _save(out, results)
    if "throughput" in FLAGS.parts:
        results["throughput"] = throughput.bench_throughput(FLAGS.throughput_rounds,
                                                             FLAGS.data_dir)
        _save(out, results)
    if "profile" in FLAGS.parts:
        results["profile"] = profile.bench_profile(FLAGS.data_dir)
        _save(out, results)
    if "configs" in FLAGS.parts:
        for name in FLAGS.configs:  # saved after each config: partial results survive
            results.setdefault("configs", {}).update(
                bench_configs([CONFIGS.resolve(name)], FLAGS.data_dir, FLAGS.runs_dir))
            _save(out, results)
    results["last_run"] = {"parts": FLAGS.parts, "wall_s": time.perf_counter() - t_all,
                           "command": "python -m benchmarks.digits " + " ".join(sys.argv[1:])}
    _save(out, results)
    print(table(results))
    print(f"\nresults: {out}")


def _save(out, results):
    """Merges this run's parts into the JSON file (other parts may run concurrently)."""
    from tfdl.workdir import write_json

    current = json.loads(out.read_text()) if out.is_file() else {}
    for part in FLAGS.parts:
        if part in results:
            if part == "configs":  # only this run's configs: others may have run meanwhile
                current.setdefault("configs", {}).update(
                    {c: results["configs"][c] for c in map(CONFIGS.resolve, FLAGS.configs)
                     if c in results["configs"]})
            else:
                current[part] = results[part]
    if "last_run" in results:
        current["last_run"] = results["last_run"]
    write_json(out, current)
    results.update(current)


if __name__ == "__main__":
    app.run(main)
