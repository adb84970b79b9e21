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
        `--throughput_rounds` rounds after a warm-up epoch, so both see the same
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
        end from raw audio. Needs `pip install torch` (benchmark only; skipped
        with a note otherwise). Goal >= 1.5x.
    pipeline: decode + MFCC of all 2,500 files with
        `tfdl.pipeline.feature_dataset` (first pass and cached pass) against a
        Python loop with scipy + python_speech_features (the reference's way),
        medians of 3 interleaved rounds. Goal >= 4x on the first pass.

Every part records wall time and `os.getloadavg()`: other jobs on the same
CPU slow the numbers down.
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

from tfdl.digits import train as digits_train
from tfdl.digits.configs import CONFIGS

FLAGS = flags.FLAGS
PARTS = ("pipeline", "throughput", "configs")
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
flags.DEFINE_string("runs_dir", "benchmarks/results/digits_runs", "Workdirs of the training runs.")

TARGETS = {"mfcc": 0.99, "batchnorm": 0.97, "best": 0.995, "loso": 0.93}
ALIASES = {CONFIGS.resolve(n): n for n in CONFIGS.names() if CONFIGS.resolve(n) != n}
EXPORT_KEYS = ("export_bytes", "tflite_bytes", "export_latency_ms_per_clip",
               "tflite_latency_ms_per_clip")




# ----------------------------------------------------------------------------- pipeline


def bench_pipeline(recordings):
    import numpy as np
    from python_speech_features import mfcc as psf_mfcc
    from scipy.io import wavfile

    from tfdl import pipeline

    paths = [str(r.path) for r in recordings]
    env0 = _env()

    def reference():  # The reference's loader: read, pad/trim to 6000, scale, MFCC.
        for p in paths:
            rate, w = wavfile.read(p)
            psf_mfcc(np.pad(w, (0, 6000))[:6000] / 32768, rate)

    # Ours: parallel per-file decode + pad, MFCC on whole batches of 256, cache.
    # Trace the map functions once on another dataset so the first pass times the data work.
    for _ in pipeline.feature_dataset(paths[:2], sample_rate=8000, length=6000):
        pass
    # Passes take ~1 s, so other jobs' bursts matter: 3 interleaved rounds, medians. Each
    # round builds a fresh dataset, so its first pass fills an empty cache.
    times = {"psf": [], "first": [], "cached": []}
    for _ in range(3):
        t0 = time.perf_counter()
        reference()
        times["psf"].append(time.perf_counter() - t0)
        ds = pipeline.feature_dataset(paths, sample_rate=8000, length=6000, batch_size=256)
        t0 = time.perf_counter()
        n = sum(int(b.shape[0]) for b in ds)
        times["first"].append(time.perf_counter() - t0)
        t0 = time.perf_counter()
        ours = np.concatenate([b.numpy() for b in ds])
        times["cached"].append(time.perf_counter() - t0)
        assert n == len(ours) == len(paths)
    psf_s, first_s, cached_s = (float(np.median(times[k])) for k in ("psf", "first", "cached"))
    # Same work: same MFCC (shape and values) as the reference loop, on every 100th file.
    check = {}
    for i in range(0, len(paths), 100):
        rate, w = wavfile.read(paths[i])
        ref = psf_mfcc(np.pad(w, (0, 6000))[:6000] / 32768, rate)
        assert ours[i].shape == ref.shape, (ours[i].shape, ref.shape)
        check[i] = float(np.max(np.abs(ours[i] - ref) / (np.abs(ref) + 1)))
    res = {
        "files": len(paths),
        "python_psf_files_per_sec": len(paths) / psf_s,
        "tfdata_first_pass_files_per_sec": n / first_s,
        "tfdata_cached_pass_files_per_sec": n / cached_s,
        "speedup_first_pass": psf_s / first_s,
        "speedup_cached_pass": psf_s / cached_s,
        "mfcc_shape": list(ours.shape[1:]), "batch_size": 256,
        "seconds_per_round": times,
        "max_rel_diff_vs_psf": max(check.values()), "files_checked": len(check),
        "env_start": env0, "env_end": _env(),
    }
    return res


# ----------------------------------------------------------------------------- throughput


def _torch_nets():
    import torch
    from torch import nn

    class Reshape(nn.Module):
        def forward(self, x):
            return x.view(-1, 1, 13, 74)

    batchnorm = nn.Sequential(  # the reference's net_batchnorm
        nn.Conv1d(1, 4, kernel_size=5), nn.BatchNorm1d(4), nn.ReLU(), nn.AvgPool1d(2, 2),
        nn.Conv1d(4, 8, kernel_size=5), nn.BatchNorm1d(8), nn.ReLU(), nn.AvgPool1d(2, 2),
        nn.Conv1d(8, 16, kernel_size=5), nn.BatchNorm1d(16), nn.ReLU(), nn.AvgPool1d(2, 2),
        nn.Conv1d(16, 32, kernel_size=5), nn.BatchNorm1d(32), nn.ReLU(), nn.AvgPool1d(2, 2),
        nn.Flatten(),
        nn.Linear(11872, 128), nn.BatchNorm1d(128), nn.ReLU(),
        nn.Linear(128, 64), nn.BatchNorm1d(64), nn.ReLU(),
        nn.Linear(64, 10))
    mfcc = nn.Sequential(  # the reference's net_batchnorm_mfcc
        Reshape(),
        nn.Conv2d(1, 8, kernel_size=(2, 3)), nn.BatchNorm2d(8), nn.ReLU(), nn.AvgPool2d(2, 2),
        nn.Conv2d(8, 16, kernel_size=3), nn.BatchNorm2d(16), nn.ReLU(),
        nn.Conv2d(16, 32, kernel_size=3), nn.BatchNorm2d(32), nn.ReLU(), nn.AvgPool2d(2, 2),
        nn.Flatten(),
        nn.Linear(512, 128), nn.ReLU(), nn.Linear(128, 64), nn.ReLU(), nn.Linear(64, 10))
    return {"batchnorm": batchnorm, "mfcc": mfcc}, torch


def _torch_epochs(net, torch, loader, opt, loss_fn, epochs):
    """The reference's loop (DataLoader, zero_grad, forward, CE, backward, step) for
    `epochs` passes: examples/sec."""
    net.train()
    n, t0 = 0, time.perf_counter()
    for _ in range(epochs):
        for xb, yb in loader:
            opt.zero_grad()
            loss_fn(net(xb), yb).backward()
            opt.step()
            n += len(yb)
    return n / (time.perf_counter() - t0)


class _EpochTimer:
    """Keras callback factory: examples/sec from the first epoch's start to the last's end
    (iterator creation and every step included; `fit`'s one-off setup not)."""

    def __init__(self, examples):
        import keras

        timer = self

        class Callback(keras.callbacks.Callback):
            def on_train_begin(self, logs=None):
                timer.t0, timer.epochs = None, 0

            def on_epoch_begin(self, epoch, logs=None):
                timer.t0 = timer.t0 or time.perf_counter()

            def on_epoch_end(self, epoch, logs=None):
                timer.epochs += 1
                timer.t1 = time.perf_counter()

        self.examples, self.callback = examples, Callback()

    @property
    def rate(self):
        return self.epochs * self.examples / (self.t1 - self.t0)


# Keras configurations timed against the PyTorch loop, per network: (label, registry model or
# "mfcc_features", configuration). "app" = how `apps.digits` trains: the models'
# `tfdl.layers.BatchNormalization` (fused kernel), `make_optimizer("adam")` (fused Adam
# kernel), `steps_per_execution=train.STEPS_PER_EXECUTION`, and the model's default
# micro-batches (`train.use_microbatches`, threads from `train.cpu_threads`); "whole" = the
# same with whole batches and both thread pools at the job's thread count; "untuned" = Keras'
# own `BatchNormalization`, plain `keras.optimizers.Adam`, one step per call.
# `mfcc_features` = the mfcc net after its MFCC layer on precomputed MFCC, like the PyTorch
# loop (like for like); `mfcc` = end to end from raw audio.
KERAS_RUNS = {"batchnorm": [("keras", "batchnorm", "app"),
                            ("keras whole batches", "batchnorm", "whole"),
                            ("keras untuned", "batchnorm", "untuned")],
              "mfcc": [("keras", "mfcc_features", "app"),
                       ("keras whole batches", "mfcc_features", "whole"),
                       ("keras untuned", "mfcc_features", "untuned"),
                       ("keras end to end", "mfcc", "app")]}
# Thread pools are per process: "app" configurations run in a process of their own.
JOB_GROUPS = {"app": ("app",), "plain": ("whole", "untuned")}
EPOCHS_PER_ROUND = {"batchnorm": 1, "mfcc": 4}  # rounds of a few seconds each


def _with_keras_batchnorm(model):
    """A copy of `model` with `keras.layers.BatchNormalization` for `tfdl.layers`' fused one."""
    import keras

    from tfdl import layers

    def clone(layer):
        cls = type(layer)
        if cls is layers.BatchNormalization:
            cls = keras.layers.BatchNormalization
        return cls.from_config(layer.get_config())

    return keras.models.clone_model(model, clone_function=clone)


def _throughput_job(spec):
    """One network at one thread count, in this process: warm-up, then `rounds` rounds of
    [PyTorch epochs, each Keras configuration's epochs], so both frameworks see the same
    load; prints examples/sec per round as JSON."""
    name, threads, rounds, group = spec.split(":")
    threads, rounds = int(threads), int(rounds)
    import tensorflow as tf

    from tfdl import train as training
    from tfdl.digits import model as digits

    microbatches = min(digits.DEFAULTS[name]["microbatches"], threads)
    if group == "app" and microbatches > 1:
        training.cpu_threads(threads, microbatches)
    else:
        tf.config.threading.set_intra_op_parallelism_threads(threads)
        tf.config.threading.set_inter_op_parallelism_threads(threads)
    import keras
    import numpy as np

    from tfdl.audio import pad_or_trim, read_audio
    from tfdl.digits import data as fsdd
    from tfdl.features import mfcc
    from tfdl.pipeline import waveform_dataset

    train, _ = fsdd.split(fsdd.load(FLAGS.data_dir), "official")
    paths, labels = fsdd.paths_and_labels(train)
    epochs = EPOCHS_PER_ROUND[name]
    waves = np.stack([pad_or_trim(read_audio(p)[0], 6000).numpy() for p in paths])
    feats = mfcc(waves, 8000).numpy()  # [N, 74, 13], as the mfcc net's MFCC layer gives
    y = np.array(labels, np.int64)
    out = {"threads": threads, "group": group, "epochs_per_round": epochs,
           "examples": len(paths),
           "inter_op_threads": tf.config.threading.get_inter_op_parallelism_threads(),
           "intra_op_threads": tf.config.threading.get_intra_op_parallelism_threads()}

    runs = []
    for label, model_name, config in KERAS_RUNS[name]:
        if config not in JOB_GROUPS[group]:
            continue
        keras.utils.set_random_seed(0)
        if model_name == "mfcc_features":
            full = digits.MODELS.build("mfcc")
            start = [layer.name for layer in full.layers].index("mfcc") + 1
            inputs = keras.Input(full.get_layer("mfcc").output.shape[1:])
            x = inputs
            for layer in full.layers[start:]:
                x = layer(x)
            model = keras.Model(inputs, x)
            ds = (tf.data.Dataset.from_tensor_slices((feats, y)).cache()
                  .shuffle(len(paths), seed=0).batch(32).prefetch(tf.data.AUTOTUNE))
        else:  # raw waveforms in, the cached `waveform_dataset` the app feeds
            model = digits.MODELS.build(model_name)
            ds = waveform_dataset(paths, labels, sample_rate=8000, length=6000, batch_size=32,
                                  training=True)
        tuned = config != "untuned"
        if not tuned:
            model = _with_keras_batchnorm(model)
        if config == "app" and microbatches > 1:  # as `tfdl.digits.train_and_evaluate`
            training.use_microbatches(model, microbatches)
            ds = training.steady_input(ds)
        opt = training.make_optimizer("adam", 1e-3) if tuned else keras.optimizers.Adam(1e-3)
        model.compile(optimizer=opt, loss="sparse_categorical_crossentropy",
                      metrics=["accuracy"],
                      steps_per_execution=training.STEPS_PER_EXECUTION if tuned else 1)
        model.fit(ds, epochs=1, verbose=0, shuffle=False)  # trace and warm up
        runs.append((label, model, ds, _EpochTimer(len(paths))))
        out[label] = {"model": model_name, "config": config, "per_round": [],
                      "microbatches": microbatches if config == "app" else 1}

    torch_run = None
    try:
        nets, torch = _torch_nets()
        torch.set_num_threads(threads)
        torch.manual_seed(0)
        net = nets[name]
        x = waves[:, None, :] if name == "batchnorm" else feats.transpose(0, 2, 1)[:, None]
        data = torch.utils.data.TensorDataset(torch.from_numpy(x.astype(np.float32)),
                                              torch.from_numpy(y))
        loader = torch.utils.data.DataLoader(data, batch_size=32, shuffle=True,
                                             drop_last=True)
        torch_run = (net, torch, loader, torch.optim.Adam(net.parameters(), lr=1e-3),
                     torch.nn.CrossEntropyLoss())
        _torch_epochs(*torch_run, 1)  # warm-up
        out["torch"] = {"version": torch.__version__, "per_round": [],
                        "input": "waveform [N,1,6000]" if name == "batchnorm" else
                        "precomputed MFCC [N,1,13,74]"}
    except ImportError:
        out["torch_missing"] = "not installed (pip install torch): no PyTorch comparison"
    for _ in range(rounds):
        if torch_run:
            out["torch"]["per_round"].append(_torch_epochs(*torch_run, epochs))
        for label, model, ds, timer in runs:
            model.fit(ds, epochs=epochs, verbose=0, shuffle=False, callbacks=[timer.callback])
            out[label]["per_round"].append(timer.rate)
    for entry in out.values():
        if isinstance(entry, dict) and "per_round" in entry:
            entry["examples_per_sec"] = float(np.median(entry["per_round"]))
    print("THROUGHPUT " + json.dumps(out))


def _throughput_subprocess(name, threads, rounds, group):
    """Runs `_throughput_job` in a fresh process (TF thread counts can only be set before
    TensorFlow starts)."""
    import subprocess

    cmd = [sys.executable, "-m", "benchmarks.digits",
           f"--throughput_job={name}:{threads}:{rounds}:{group}"]
    if FLAGS.data_dir:
        cmd.append(f"--data_dir={FLAGS.data_dir}")
    out = subprocess.run(cmd, capture_output=True, text=True, check=True).stdout
    line = [x for x in out.splitlines() if x.startswith("THROUGHPUT ")][-1]
    return json.loads(line[len("THROUGHPUT "):])


def bench_throughput(rounds):
    from tfdl import train as training

    res = {"batch_size": 32, "rounds": rounds, "env_start": _env(),
           "steps_per_execution": training.STEPS_PER_EXECUTION,
           "method": "per network, thread count (1, 2) and group of Keras configurations "
                     "(app; whole batches + untuned) one process alternating PyTorch and "
                     "Keras epochs for `rounds` rounds after a warm-up epoch; medians of the "
                     "rounds; per framework/configuration the fastest job kept (PyTorch: "
                     "the fastest of all its jobs)"}
    for name in ("batchnorm", "mfcc"):
        jobs = {f"{group}_{t}": _throughput_subprocess(name, t, rounds, group)
                for t in (1, 2) for group in JOB_GROUPS}
        entry = {"jobs": jobs, "examples": jobs["app_1"]["examples"]}

        def best(label):
            key = max((k for k in jobs if label in jobs[k]),
                      key=lambda k: jobs[k][label]["examples_per_sec"])
            return jobs[key][label]["examples_per_sec"], jobs[key]["threads"], key

        for label, _, _ in KERAS_RUNS[name]:
            key = label.replace(" ", "_")
            rate, threads, job = best(label)
            entry[f"{key}_examples_per_sec"], entry[f"{key}_threads"] = rate, threads
            entry[f"{key}_microbatches"] = jobs[job][label]["microbatches"]
        if "torch" in jobs["app_1"]:
            entry["torch_examples_per_sec"], entry["torch_threads"], _ = best("torch")
            entry["torch_input"] = jobs["app_1"]["torch"]["input"]
            entry["torch_version"] = jobs["app_1"]["torch"]["version"]
            for label, _, _ in KERAS_RUNS[name]:
                key = label.replace(" ", "_")
                entry[f"speedup_{key}"] = (entry[f"{key}_examples_per_sec"] /
                                           entry["torch_examples_per_sec"])
            entry["speedup"] = entry["speedup_keras"]
        res[name] = entry
    res["env_end"] = _env()
    return res


# ----------------------------------------------------------------------------- accuracy


def bench_configs(names, data_dir, workdir):
    """`apps.digits --config=NAME` for each name: its metrics, time and export costs."""
    res = {}
    for name in names:
        t0, env0 = time.perf_counter(), _env()
        cfg = CONFIGS.get(name)
        rep = digits_train.run(cfg, workdir=f"{workdir}/{name}", data_dir=data_dir, verbose=2)
        entry = {"command": f"python -m apps.digits --config={name}", "split": cfg.split,
                 "accuracy": rep["accuracy"], "config": dataclasses.asdict(cfg),
                 "wall_s": time.perf_counter() - t0, "env_start": env0, "env_end": _env()}
        if cfg.split == "loso":
            entry.update({k: rep.get(k) for k in (
                "mean_accuracy", "fold_accuracy", "speaker_adaptation",
                "unadapted_mean_accuracy", "unadapted_fold_accuracy")})
        else:
            entry.update(errors=len(rep["misclassified"]), test_examples=rep["num_examples"],
                         epochs=rep["epochs_run"], examples_per_sec=rep["examples_per_sec"],
                         train_seconds=rep["train_seconds"], params=rep["trainable_params"],
                         **{k: rep[k] for k in EXPORT_KEYS if k in rep})
        res[name] = entry
    return res


# ----------------------------------------------------------------------------- report


def _threads(n):
    return f"{n} thread{'s' if n > 1 else ''}"


def _config_rows(results):
    """One row per named config: command, accuracy (and target), training, export costs."""
    rows = ["| config | command | test accuracy | target | train time | params | "
            "SavedModel / TFLite: MB, ms per 1 s clip |", "|---|---|---|---|---|---|---|"]
    confs = results.get("configs", {})
    for name, r in confs.items():
        alias = ALIASES.get(name)
        label = f"`{name}`" + (f" (`{alias}`)" if alias else "")
        target = TARGETS.get(name) or TARGETS.get(alias or "")
        if r["split"] == "loso":
            folds = ", ".join(f"{s} {v:.1%}" for s, v in r["fold_accuracy"].items())
            acc = f"{r['mean_accuracy']:.1%} mean over speakers ({folds})"
            if r.get("unadapted_mean_accuracy") is not None:
                acc += f"; {r['unadapted_mean_accuracy']:.1%} without speaker adaptation"
            met = r["mean_accuracy"] >= target if target else None
            train = params = export = "-"
        else:
            acc = f"{r['accuracy']:.1%} ({r['errors']} of {r['test_examples']} wrong)"
            met = r["accuracy"] >= target if target else None
            train = f"{r['train_seconds'] / 60:.1f} min ({r['epochs']} epochs)"
            params = f"{r['params']:,}"
            export = (f"{r['export_bytes'] / 1e6:.2f} / {r['tflite_bytes'] / 1e6:.2f} MB, "
                      f"{r['export_latency_ms_per_clip']:.2f} / "
                      f"{r['tflite_latency_ms_per_clip']:.2f} ms" if "tflite_bytes" in r else "-")
        goal = "-" if target is None else f">= {100 * target:.1f} % ({'met' if met else 'not met'})"
        rows.append(f"| {label} | `{r['command']}` | {acc} | {goal} | {train} | {params} | "
                    f"{export} |")
    return rows


def table(results):
    rows = _config_rows(results) if results.get("configs") else []
    rows += ["", "| measurement | result | target | met |", "|---|---|---|---|"]
    th = results.get("throughput")
    if th:
        for name in ("batchnorm", "mfcc"):
            e = th.get(name)
            if not e or "keras_examples_per_sec" not in e:
                continue
            micro = e.get("keras_microbatches", 1)
            keras_how = (f"fused batch norm and Adam, "
                         f"steps_per_execution={th.get('steps_per_execution')}, "
                         + (f"{micro} micro-batches in parallel, " if micro > 1 else "")
                         + _threads(e["keras_threads"]))
            if name == "mfcc":
                keras_how = "layers after the MFCC layer on precomputed MFCC, " + keras_how
            if "torch_examples_per_sec" not in e:
                rows.append(f"| training examples/sec, `{name}`, batch 32 (Keras, {keras_how}) "
                            f"| {e['keras_examples_per_sec']:.0f} | - | - |")
                continue
            torch_how = f"{e['torch_input']}, {_threads(e['torch_threads'])}"
            rows.append(f"| training examples/sec, `{name}`, batch 32: Keras ({keras_how}) vs "
                        f"PyTorch CPU loop ({torch_how}) | {e['keras_examples_per_sec']:.0f} vs "
                        f"{e['torch_examples_per_sec']:.0f} ({e['speedup']:.2f}x) | >= 1.5x | "
                        f"{'yes' if e['speedup'] >= 1.5 else 'no'} |")
            if "keras_whole_batches_examples_per_sec" in e:
                rows.append(f"| same, Keras with whole batches of 32 "
                            f"({_threads(e['keras_whole_batches_threads'])}) | "
                            f"{e['keras_whole_batches_examples_per_sec']:.0f} "
                            f"({e['speedup_keras_whole_batches']:.2f}x) | - | - |")
            rows.append(f"| same, Keras untuned (plain `keras.optimizers.Adam` and "
                        f"`BatchNormalization`, one step per call) | "
                        f"{e['keras_untuned_examples_per_sec']:.0f} "
                        f"({e['speedup_keras_untuned']:.2f}x) | - | - |")
            if "keras_end_to_end_examples_per_sec" in e:
                rows.append(f"| same, `{name}` end to end (raw audio in, MFCC layer in the "
                            f"model), tuned | {e['keras_end_to_end_examples_per_sec']:.0f} "
                            f"({e['speedup_keras_end_to_end']:.2f}x) | - | - |")
    pi = results.get("pipeline")
    if pi:
        rows.append(f"| decode + MFCC of {pi['files']} files, tf.data first pass vs Python "
                    f"loop (psf) | {pi['tfdata_first_pass_files_per_sec']:.0f} vs "
                    f"{pi['python_psf_files_per_sec']:.0f} files/s "
                    f"({pi['speedup_first_pass']:.1f}x) | >= 4x | "
                    f"{'yes' if pi['speedup_first_pass'] >= 4 else 'no'} |")
        rows.append(f"| same, tf.data cached pass | "
                    f"{pi['tfdata_cached_pass_files_per_sec']:.0f} files/s "
                    f"({pi['speedup_cached_pass']:.1f}x) | - | - |")
    loads = sorted({tuple(v["env_start"]["loadavg"]) for v in _walk_envs(results)})
    if loads:
        rows.append("")
        rows.append("Load average (1, 5, 15 min) at the start of the parts: " +
                    "; ".join(", ".join(f"{x:.1f}" for x in la) for la in loads) +
                    f" on {os.cpu_count()} CPUs.")
    return "\n".join(rows)


def _walk_envs(results):
    for part in results.values():
        if isinstance(part, dict):
            if "env_start" in part:
                yield part
            for v in part.values():
                if isinstance(v, dict) and "env_start" in v:
                    yield v


def main(argv):
    del argv
    logging.set_verbosity(logging.WARNING)
    if FLAGS.throughput_job:
        return _throughput_job(FLAGS.throughput_job)
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
        results["throughput"] = bench_throughput(FLAGS.throughput_rounds)
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
