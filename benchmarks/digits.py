r"""Spoken-digits benchmark: accuracy, leave-one-speaker-out, training and input-pipeline speed.

    TFDL_DATA_DIR=../shared/data python -m benchmarks.digits                  # everything
    TFDL_DATA_DIR=../shared/data python -m benchmarks.digits --parts=pipeline,throughput
    TFDL_DATA_DIR=../shared/data python -m benchmarks.digits --parts=accuracy --models=mfcc
    TFDL_DATA_DIR=../shared/data python -m benchmarks.digits --parts=loso --loso_model=compact

Parts (each merges its numbers into `benchmarks/results/digits.json`, so they
can run separately; the Markdown table printed at the end covers all parts
recorded so far):
    accuracy: `apps.digits` with each model's default flags on the official
        split (takes 0-4 test); targets mfcc >= 99.0 %, batchnorm >= 97 %,
        best >= 99.5 %.
    loso: leave-one-speaker-out mean accuracy of `--loso_model` (target >= 93 %).
    throughput: training examples/sec at batch 32 of `batchnorm` and `mfcc`
        against a plain PyTorch CPU loop of the same networks as the reference
        notebook trains them (DataLoader over preloaded tensors; MFCC
        precomputed for the mfcc net; 40 timed batches after 5 warm-up ones,
        with 1 and with 2 threads, the faster kept). Keras `fit` runs in one
        subprocess per configuration (1 or 2 TF threads; `batchnorm` with and
        without `jit_compile`; `mfcc_features` = the mfcc net after its MFCC
        layer on precomputed MFCC, like for like; `mfcc` end to end from raw
        audio), first epoch not timed, the fastest like-for-like one kept.
        Needs `pip install torch` (benchmark only; skipped with a note
        otherwise). Goal >= 1.5x.
    pipeline: decode + MFCC of all 2,500 files with
        `tfdl.pipeline.feature_dataset` (first pass and cached pass) against a
        Python loop with scipy + python_speech_features (the reference's way),
        medians of 3 interleaved rounds. Goal >= 4x on the first pass.

Every part records wall time and `os.getloadavg()`: other jobs on the same
CPU slow the numbers down.
"""

import json
import os
import sys
import time
from pathlib import Path

import tfdl  # noqa: F401  (quiet TensorFlow)
from absl import app, flags, logging

from apps import digits as digits_app  # also defines --data_dir (shared with the app)

FLAGS = flags.FLAGS
flags.DEFINE_list("parts", ["pipeline", "throughput", "accuracy", "loso"],
                  "Parts to run: pipeline, throughput, accuracy, loso.")
flags.DEFINE_list("models", ["mfcc", "batchnorm", "compact"], "Models for the accuracy part.")
flags.DEFINE_string("loso_model", "compact", "Model for the leave-one-speaker-out part.")
flags.DEFINE_integer("loso_epochs", None, "Epochs per LOSO fold (default: the model's).")
flags.DEFINE_integer("throughput_epochs", 3, "Epochs timed per framework (first is warm-up).")
flags.DEFINE_string("out", "benchmarks/results/digits.json", "JSON results file.")
flags.DEFINE_string("keras_rate_job", None, "Internal: NAME:THREADS:JIT:EPOCHS, one Keras "
                    "throughput timing in this process (used by the throughput part).")
flags.DEFINE_string("runs_dir", "benchmarks/results/digits_runs", "Workdirs of the training runs.")

TARGETS = {"mfcc": 0.99, "batchnorm": 0.97, "best": 0.995, "loso": 0.93}


def _env():
    return {"loadavg": [round(v, 2) for v in os.getloadavg()], "cpus": os.cpu_count(),
            "time": time.strftime("%Y-%m-%d %H:%M:%S UTC", time.gmtime())}


# ----------------------------------------------------------------------------- pipeline


def bench_pipeline(recordings):
    import numpy as np
    import tensorflow as tf
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


def _torch_rate(net, torch, x, y, threads, batch_size=32, warmup=5, steps=40):
    """The reference's loop (DataLoader, zero_grad, forward, CE, backward, step): examples/sec
    over `steps` batches after `warmup` batches, with `threads` intra-op threads."""
    torch.set_num_threads(threads)
    data = torch.utils.data.TensorDataset(torch.from_numpy(x), torch.from_numpy(y))
    loader = torch.utils.data.DataLoader(data, batch_size=batch_size, shuffle=True,
                                         drop_last=True)
    opt = torch.optim.Adam(net.parameters(), lr=1e-3)
    loss_fn = torch.nn.CrossEntropyLoss()
    net.train()
    n, t0 = 0, None
    while True:
        for i, (xb, yb) in enumerate(loader):
            if n == 0 and i == warmup:
                t0 = time.perf_counter()
            if t0 is not None:
                n += 1
            opt.zero_grad()
            loss_fn(net(xb), yb).backward()
            opt.step()
            if n == steps:
                return steps * batch_size / (time.perf_counter() - t0)


def _keras_rate(name, train, epochs, batch_size=32, jit_compile=False):
    """Keras `fit` examples/sec per epoch. `name` is a registry model (raw waveforms in,
    cached `waveform_dataset` as the app feeds it) or `mfcc_features`: the `mfcc` model's
    layers after its MFCC layer, trained on precomputed MFCC like the PyTorch loop."""
    import keras
    import numpy as np
    import tensorflow as tf

    from tfdl.datasets import fsdd
    from tfdl.features import mfcc
    from tfdl.models import digits
    from tfdl.pipeline import waveform_dataset
    from tfdl.train import Throughput

    keras.utils.set_random_seed(0)
    paths, labels = fsdd.paths_and_labels(train)
    if name == "mfcc_features":
        full = digits.MODELS.build("mfcc")
        start = [layer.name for layer in full.layers].index("mfcc") + 1
        inputs = keras.Input(full.get_layer("mfcc").output.shape[1:])
        x = inputs
        for layer in full.layers[start:]:
            x = layer(x)
        model = keras.Model(inputs, x)
        waves = waveform_dataset(paths, labels, sample_rate=8000, length=6000, batch_size=256)
        feats = np.concatenate([mfcc(w, 8000).numpy() for w, _ in waves])
        ds = (tf.data.Dataset.from_tensor_slices((feats, np.array(labels))).cache()
              .shuffle(len(paths), seed=0).batch(batch_size).prefetch(tf.data.AUTOTUNE))
    else:
        model = digits.MODELS.build(name)
        ds = waveform_dataset(paths, labels, sample_rate=8000, length=6000,
                              batch_size=batch_size, training=True)
    model.compile(optimizer=keras.optimizers.Adam(1e-3), loss="sparse_categorical_crossentropy",
                  metrics=["accuracy"], jit_compile=jit_compile)
    speed = Throughput(batch_size, len(paths))
    model.fit(ds, epochs=epochs, callbacks=[speed], verbose=0, shuffle=False)
    return [float(r) for r in speed.per_epoch]


def _keras_rate_subprocess(name, threads, jit_compile, epochs):
    """Runs `_keras_rate` in a fresh process with `threads` TF intra/inter-op threads (they
    can only be set before TensorFlow starts): examples/sec per epoch."""
    import subprocess

    cmd = [sys.executable, "-m", "benchmarks.digits",
           f"--keras_rate_job={name}:{threads}:{int(jit_compile)}:{epochs}"]
    if FLAGS.data_dir:
        cmd.append(f"--data_dir={FLAGS.data_dir}")
    out = subprocess.run(cmd, capture_output=True, text=True, check=True).stdout
    line = [x for x in out.splitlines() if x.startswith("KERAS_RATE ")][-1]
    return json.loads(line[len("KERAS_RATE "):])


def _keras_rate_job(spec):
    name, threads, jit, epochs = spec.split(":")
    import tensorflow as tf

    tf.config.threading.set_intra_op_parallelism_threads(int(threads))
    tf.config.threading.set_inter_op_parallelism_threads(int(threads))
    from tfdl.datasets import fsdd

    train, _ = fsdd.split(fsdd.load(FLAGS.data_dir), "official")
    print("KERAS_RATE " + json.dumps(_keras_rate(name, train, int(epochs),
                                                 jit_compile=bool(int(jit)))))


# Keras configurations timed per network: (name, jit_compile), each with 1 and 2 threads.
KERAS_RUNS = {"batchnorm": [("batchnorm", False), ("batchnorm", True)],
              "mfcc": [("mfcc_features", False), ("mfcc", False)]}


def bench_throughput(recordings, epochs):
    import numpy as np

    from tfdl.datasets import fsdd
    from tfdl.features import mfcc

    train, _ = fsdd.split(recordings, "official")
    res = {"batch_size": 32, "train_examples": len(train), "env_start": _env()}
    try:
        nets, torch = _torch_nets()
        res["torch_version"] = torch.__version__
        res["torch_threads"] = default_threads = torch.get_num_threads()
    except ImportError:
        nets = None
        res["torch"] = "not installed (pip install torch): no PyTorch comparison"
    from tfdl.audio import read_audio, pad_or_trim

    waves = np.stack([pad_or_trim(read_audio(r.path)[0], 6000).numpy() for r in train])
    y = np.array([r.digit for r in train], np.int64)
    for name in ("batchnorm", "mfcc"):
        entry = {"keras": {}}
        for kname, jit in KERAS_RUNS[name]:
            for threads in (1, 2):
                rates = _keras_rate_subprocess(kname, threads, jit, epochs)
                entry["keras"][f"{kname}{' jit_compile' if jit else ''}, {threads} thread"
                               f"{'s' if threads > 1 else ''}"] = {
                    "per_epoch": rates, "examples_per_sec": float(np.median(rates[1:] or rates)),
                    "model": kname, "jit_compile": jit, "threads": threads}
        # Like for like: the PyTorch loop trains on waveforms (batchnorm) or precomputed MFCC.
        like = {k: v for k, v in entry["keras"].items()
                if v["model"] in ("batchnorm", "mfcc_features")}
        best = max(like, key=lambda k: like[k]["examples_per_sec"])
        entry["keras_best"] = best
        entry["keras_examples_per_sec"] = like[best]["examples_per_sec"]
        if name == "mfcc":
            entry["keras_end_to_end_examples_per_sec"] = max(
                v["examples_per_sec"] for v in entry["keras"].values() if v["model"] == "mfcc")
        if nets is not None:
            x = waves[:, None, :] if name == "batchnorm" else \
                mfcc(waves, 8000).numpy().transpose(0, 2, 1)[:, None]  # [N, 1, 13, 74]
            # Oversubscribed CPUs hurt OpenMP threads: time 1 and 2 threads, keep the faster.
            by_threads = {t: _torch_rate(nets[name], torch, x.astype(np.float32), y, t)
                          for t in sorted({1, default_threads, 2})}
            entry["torch_examples_per_sec_by_threads"] = by_threads
            entry["torch_examples_per_sec"] = float(max(by_threads.values()))
            entry["torch_input"] = "waveform [N,1,6000]" if name == "batchnorm" else \
                "precomputed MFCC [N,1,13,74]"
            entry["speedup"] = entry["keras_examples_per_sec"] / entry["torch_examples_per_sec"]
            if name == "mfcc":
                entry["speedup_end_to_end"] = (entry["keras_end_to_end_examples_per_sec"] /
                                               entry["torch_examples_per_sec"])
        res[name] = entry
    res["env_end"] = _env()
    return res


# ----------------------------------------------------------------------------- accuracy


def bench_accuracy(models, data_dir, workdir):
    res = {}
    for name in models:
        t0, env0 = time.perf_counter(), _env()
        cfg = digits_app.Config(model=name, data_dir=data_dir, workdir=f"{workdir}/{name}",
                                verbose=2)
        rep = digits_app.run(cfg)
        res[name] = {"accuracy": rep["accuracy"], "errors": len(rep["misclassified"]),
                     "test_examples": rep["num_examples"], "epochs": rep["epochs_run"],
                     "examples_per_sec": rep["examples_per_sec"],
                     "config": json.loads(Path(cfg.workdir, "config.json").read_text()),
                     "wall_s": time.perf_counter() - t0, "env_start": env0, "env_end": _env()}
    return res


def bench_loso(model, data_dir, workdir, epochs):
    t0, env0 = time.perf_counter(), _env()
    cfg = digits_app.Config(model=model, split="loso", data_dir=data_dir, epochs=epochs,
                            workdir=f"{workdir}/{model}_loso", verbose=2)
    rep = digits_app.run(cfg)
    return {"model": model, "mean_accuracy": rep["mean_accuracy"],
            "fold_accuracy": rep["fold_accuracy"],
            "config": json.loads(Path(cfg.workdir, "config.json").read_text()),
            "wall_s": time.perf_counter() - t0, "env_start": env0, "env_end": _env()}


# ----------------------------------------------------------------------------- report


def table(results):
    rows = ["| measurement | result | target | met |", "|---|---|---|---|"]
    acc = results.get("accuracy", {})
    for name, r in sorted(acc.items()):
        target = TARGETS.get(name)
        rows.append(f"| official split accuracy, `{name}` ({r['epochs']} epochs) | "
                    f"{r['accuracy']:.1%} ({r['errors']} of {r['test_examples']} wrong) | "
                    f"{'>= %.1f %%' % (100 * target) if target else '-'} | "
                    f"{('yes' if r['accuracy'] >= target else 'no') if target else '-'} |")
    if acc:
        best = max(acc, key=lambda k: acc[k]["accuracy"])
        a = acc[best]["accuracy"]
        rows.append(f"| best model on the official split (`{best}`) | {a:.1%} | >= 99.5 % | "
                    f"{'yes' if a >= TARGETS['best'] else 'no'} |")
    lo = results.get("loso")
    if lo:
        folds = ", ".join(f"{s} {v:.1%}" for s, v in lo["fold_accuracy"].items())
        rows.append(f"| leave-one-speaker-out mean, `{lo['model']}` ({folds}) | "
                    f"{lo['mean_accuracy']:.1%} | >= 93 % | "
                    f"{'yes' if lo['mean_accuracy'] >= TARGETS['loso'] else 'no'} |")
    th = results.get("throughput")
    if th:
        for name in ("batchnorm", "mfcc"):
            e = th.get(name)
            if not e:
                continue
            if "torch_examples_per_sec" in e:
                how = e.get("keras_best", "")
                rows.append(f"| training examples/sec, `{name}`, batch 32: Keras ({how}) vs "
                            f"PyTorch CPU loop ({e.get('torch_input', '')}) | "
                            f"{e['keras_examples_per_sec']:.0f} vs "
                            f"{e['torch_examples_per_sec']:.0f} ({e['speedup']:.2f}x) | "
                            f">= 1.5x | {'yes' if e['speedup'] >= 1.5 else 'no'} |")
                if "speedup_end_to_end" in e:
                    rows.append(f"| same, `{name}` end to end (raw audio in, MFCC layer in "
                                f"the model) vs the same PyTorch loop | "
                                f"{e['keras_end_to_end_examples_per_sec']:.0f} vs "
                                f"{e['torch_examples_per_sec']:.0f} "
                                f"({e['speedup_end_to_end']:.2f}x) | - | - |")
            else:
                rows.append(f"| training examples/sec, `{name}`, batch 32 (Keras) | "
                            f"{e['keras_examples_per_sec']:.0f} | - | - |")
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
    if FLAGS.keras_rate_job:
        return _keras_rate_job(FLAGS.keras_rate_job)
    from tfdl.datasets import fsdd

    recordings = fsdd.load(FLAGS.data_dir)
    out = Path(FLAGS.out)
    results = json.loads(out.read_text()) if out.is_file() else {}
    unknown = set(FLAGS.parts) - {"pipeline", "throughput", "accuracy", "loso"}
    if unknown:
        sys.exit(f"error: unknown --parts {', '.join(sorted(unknown))}")
    t_all = time.perf_counter()
    if "pipeline" in FLAGS.parts:
        results["pipeline"] = bench_pipeline(recordings)
        _save(out, results)
    if "throughput" in FLAGS.parts:
        results["throughput"] = bench_throughput(recordings, FLAGS.throughput_epochs)
        _save(out, results)
    if "accuracy" in FLAGS.parts:
        results.setdefault("accuracy", {}).update(
            bench_accuracy(FLAGS.models, FLAGS.data_dir, FLAGS.runs_dir))
        _save(out, results)
    if "loso" in FLAGS.parts:
        results["loso"] = bench_loso(FLAGS.loso_model, FLAGS.data_dir, FLAGS.runs_dir,
                                     FLAGS.loso_epochs)
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
            if part == "accuracy":
                current.setdefault("accuracy", {}).update(results["accuracy"])
            else:
                current[part] = results[part]
    if "last_run" in results:
        current["last_run"] = results["last_run"]
    write_json(out, current)
    results.update(current)


if __name__ == "__main__":
    app.run(main)
