"""The digits benchmark's throughput part: Keras training examples/sec against a PyTorch loop.

`bench_throughput` runs one `job` per network, thread count and group of Keras
configurations (`JOB_GROUPS`), each in a fresh process
(`python -m benchmarks.digits --throughput_job=NAME:THREADS:ROUNDS:GROUP`):
TensorFlow's thread pools can only be set before it starts. A job alternates
PyTorch and Keras epochs for its rounds, so both see the same load.
"""

import json
import sys
import time
import typing

from benchmarks.common import environment as _env


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
# kernel), `steps_per_execution=train.STEPS_PER_EXECUTION`, and the app's micro-batches
# (`train.use_microbatches`, threads from `train.cpu_threads`; the config's number, or
# `tfdl.speed`'s choice for this machine, with its oneDNN choice); "whole" = the
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
# Epochs per timed round, and per warm-up: rounds of 10-20 s. With 4 `mfcc` epochs (rounds of
# about 3 s) and a one-epoch warm-up, the app's rate still rose from round to round (2130,
# 3128, 4150 examples/sec on 2026-12-04) and the ratio to PyTorch moved from 1.80x to 1.45x
# between two runs of the same command.
EPOCHS_PER_ROUND = {"batchnorm": 1, "mfcc": 12}


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


class _Clips(typing.NamedTuple):
    """The official split's training clips, loaded once per job."""

    paths: list
    labels: list
    waves: object  # [N, 6000] float32, padded or trimmed
    feats: object  # [N, 74, 13] MFCC, as the mfcc net's MFCC layer gives
    y: object  # [N] int64 labels


def app_microbatches(name, log=print):
    """The micro-batches the app trains `name` with on this machine: its config's, or
    (0) `tfdl.speed`'s cached choice, timed now if the machine has none."""
    from tfdl import speed
    from tfdl.digits.configs import CONFIGS
    from tfdl.digits.data import SAMPLE_RATE

    micro = CONFIGS.get(name).microbatches
    return micro or speed.choose_microbatches("tfdl.digits.model:MODELS", name,
                                              (SAMPLE_RATE,), 10, 32, speed.MIN_STEPS,
                                              log=log)


def _set_threads(name, threads, group):
    """Sets TensorFlow's thread pools for a job (before TensorFlow starts): the app's
    (`tfdl.train.cpu_threads`) for the "app" group of a micro-batched model, else both
    pools at `threads`. Returns the job's micro-batches (the app's, at most `threads`)."""
    import tensorflow as tf

    from tfdl import train as training

    microbatches = min(app_microbatches(name, log=lambda line: None), threads)
    if group == "app" and microbatches > 1:
        training.cpu_threads(threads, microbatches)
    else:
        tf.config.threading.set_intra_op_parallelism_threads(threads)
        tf.config.threading.set_inter_op_parallelism_threads(threads)
    return microbatches


def _load_clips(data_dir):
    """The official split's training clips of the FSDD in `data_dir`, as `_Clips`."""
    import numpy as np

    from tfdl.audio import pad_or_trim, read_audio
    from tfdl.digits import data as fsdd
    from tfdl.features import mfcc

    train, _ = fsdd.split(fsdd.load(data_dir), "official")
    paths, labels = fsdd.paths_and_labels(train)
    waves = np.stack([pad_or_trim(read_audio(p)[0], 6000).numpy() for p in paths])
    feats = mfcc(waves, 8000).numpy()  # [N, 74, 13], as the mfcc net's MFCC layer gives
    return _Clips(paths, labels, waves, feats, np.array(labels, np.int64))


def _keras_model_and_data(model_name, clips):
    """The model `model_name` (a registry name or "mfcc_features") and its batches of 32."""
    import keras
    import tensorflow as tf

    from tfdl.digits import model as digits
    from tfdl.pipeline import waveform_dataset

    if model_name == "mfcc_features":
        full = digits.MODELS.build("mfcc")
        start = [layer.name for layer in full.layers].index("mfcc") + 1
        inputs = keras.Input(full.get_layer("mfcc").output.shape[1:])
        x = inputs
        for layer in full.layers[start:]:
            x = layer(x)
        model = keras.Model(inputs, x)
        ds = (tf.data.Dataset.from_tensor_slices((clips.feats, clips.y)).cache()
              .shuffle(len(clips.paths), seed=0).batch(32).prefetch(tf.data.AUTOTUNE))
    else:  # raw waveforms in, the cached `waveform_dataset` the app feeds
        model = digits.MODELS.build(model_name)
        ds = waveform_dataset(clips.paths, clips.labels, sample_rate=8000, length=6000,
                              batch_size=32, training=True)
    return model, ds


def _keras_run(model_name, config, microbatches, clips, warmup_epochs):
    """(model, dataset) of one Keras configuration (`KERAS_RUNS`), compiled and warmed up
    for `warmup_epochs` epochs."""
    import keras

    from tfdl import train as training

    keras.utils.set_random_seed(0)
    model, ds = _keras_model_and_data(model_name, clips)
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
    model.fit(ds, epochs=warmup_epochs, verbose=0, shuffle=False)  # trace and warm up
    return model, ds


def _torch_run(name, threads, clips, out, warmup_epochs):
    """The PyTorch loop's arguments for `_torch_epochs` after `warmup_epochs` warm-up
    epochs, its entry in `out` made; None (and a note in `out`) when PyTorch is not
    installed."""
    import numpy as np

    try:
        nets, torch = _torch_nets()
        torch.set_num_threads(threads)
        torch.manual_seed(0)
        net = nets[name]
        x = (clips.waves[:, None, :] if name == "batchnorm" else
             clips.feats.transpose(0, 2, 1)[:, None])
        data = torch.utils.data.TensorDataset(torch.from_numpy(x.astype(np.float32)),
                                              torch.from_numpy(clips.y))
        loader = torch.utils.data.DataLoader(data, batch_size=32, shuffle=True,
                                             drop_last=True)
        torch_run = (net, torch, loader, torch.optim.Adam(net.parameters(), lr=1e-3),
                     torch.nn.CrossEntropyLoss())
        _torch_epochs(*torch_run, warmup_epochs)
        out["torch"] = {"version": torch.__version__, "per_round": [],
                        "input": "waveform [N,1,6000]" if name == "batchnorm" else
                        "precomputed MFCC [N,1,13,74]"}
        return torch_run
    except ImportError:
        out["torch_missing"] = "not installed (pip install torch): no PyTorch comparison"
        return None


def job(spec, data_dir=None):
    """One network at one thread count, in this process: a warm-up of one round's epochs
    (`EPOCHS_PER_ROUND`) per framework and configuration, then `rounds` rounds of
    [PyTorch epochs, each Keras configuration's epochs], so both frameworks see the same
    load; prints examples/sec per round as JSON.

    Args:
        spec: "NAME:THREADS:ROUNDS:GROUP" (`--throughput_job`): a network of
            `KERAS_RUNS`, TensorFlow and PyTorch threads, rounds, a `JOB_GROUPS` key.
        data_dir: the FSDD folder (None: $TFDL_DATA_DIR/fsdd).
    """
    name, threads, rounds, group = spec.split(":")
    threads, rounds = int(threads), int(rounds)
    microbatches = _set_threads(name, threads, group)
    import numpy as np
    import tensorflow as tf

    clips = _load_clips(data_dir)
    epochs = EPOCHS_PER_ROUND[name]
    from tfdl.speed import onednn_enabled

    out = {"threads": threads, "group": group, "epochs_per_round": epochs,
           "examples": len(clips.paths), "onednn": onednn_enabled(),
           "inter_op_threads": tf.config.threading.get_inter_op_parallelism_threads(),
           "intra_op_threads": tf.config.threading.get_intra_op_parallelism_threads()}
    runs = []
    for label, model_name, config in KERAS_RUNS[name]:
        if config not in JOB_GROUPS[group]:
            continue
        model, ds = _keras_run(model_name, config, microbatches, clips, epochs)
        runs.append((label, model, ds, _EpochTimer(len(clips.paths))))
        out[label] = {"model": model_name, "config": config, "per_round": [],
                      "microbatches": microbatches if config == "app" else 1}
    torch_run = _torch_run(name, threads, clips, out, epochs)
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


def _subprocess(name, threads, rounds, group, data_dir=None):
    """Runs `job` in a fresh process (TF thread counts can only be set before
    TensorFlow starts)."""
    import subprocess

    cmd = [sys.executable, "-m", "benchmarks.digits",
           f"--throughput_job={name}:{threads}:{rounds}:{group}"]
    if data_dir:
        cmd.append(f"--data_dir={data_dir}")
    out = subprocess.run(cmd, capture_output=True, text=True, check=True).stdout
    line = [x for x in out.splitlines() if x.startswith("THROUGHPUT ")][-1]
    return json.loads(line[len("THROUGHPUT "):])


def bench_throughput(rounds, data_dir=None):
    """The throughput part: per network, the fastest job's examples/sec of each Keras
    configuration and of PyTorch, and Keras' speedups over PyTorch.

    Args:
        rounds: timed rounds per job (`--throughput_rounds`).
        data_dir: the FSDD folder (None: $TFDL_DATA_DIR/fsdd).
    """
    from tfdl import train as training

    res = {"batch_size": 32, "rounds": rounds, "env_start": _env(),
           "steps_per_execution": training.STEPS_PER_EXECUTION,
           "method": "per network, thread count (1, 2) and group of Keras configurations "
                     "(app; whole batches + untuned) one process alternating PyTorch and "
                     "Keras epochs for `rounds` rounds after a warm-up of one round's epochs; "
                     "medians of the rounds; per framework/configuration the fastest job "
                     "kept (PyTorch: the fastest of all its jobs)"}
    for name in ("batchnorm", "mfcc"):
        app_microbatches(name)  # this machine's settings, cached before the jobs start
    for name in ("batchnorm", "mfcc"):
        jobs = {f"{group}_{t}": _subprocess(name, t, rounds, group, data_dir)
                for t in (1, 2) for group in JOB_GROUPS}
        entry = {"jobs": jobs, "examples": jobs["app_1"]["examples"],
                 "onednn": jobs["app_1"]["onednn"]}

        def best(label):
            key = max((k for k in jobs if label in jobs[k]),
                      key=lambda k: jobs[k][label]["examples_per_sec"])
            return jobs[key][label]["examples_per_sec"], jobs[key]["threads"], key

        for label, _, _ in KERAS_RUNS[name]:
            key = label.replace(" ", "_")
            rate, threads, job_key = best(label)
            entry[f"{key}_examples_per_sec"], entry[f"{key}_threads"] = rate, threads
            entry[f"{key}_microbatches"] = jobs[job_key][label]["microbatches"]
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
