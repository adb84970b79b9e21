"""The digits benchmark's profile part: where a training step's time goes, op by op.

Per network (`batchnorm`; `mfcc` on precomputed MFCC, like for like), in a fresh
process with one thread for both frameworks (`--profile_job=NAME`; one thread so
that op times add up to the step time instead of overlapping across cores):

- Keras as the app trains it (fused batch norm and Adam, steps per execution),
  one epoch under the TensorFlow profiler (`tf.profiler.experimental`); the
  trace (`*.xplane.pb`) is read here: each op's self time (its span minus the
  spans of the ops nested in it, e.g. the body of the steps-per-execution loop),
  summed per op type;
- the PyTorch loop of the throughput part, one epoch under `torch.profiler`,
  self CPU time per `aten::` op;
- FLOPs per training example counted from the Keras layers (`training_flops`),
  and the GFLOP/s each framework reaches against this CPU's peak and against a
  large matrix product's (`gemm_gflops`: the most either framework's kernels
  get out of this CPU).

Written to `benchmarks/results/digits.json` ("profile") and, as tables, to
`docs/performance.md` by hand from the printed output.
"""

import collections
import json
import re
import sys
import tempfile
import time
from pathlib import Path

from benchmarks.common import environment as _env

_OP_EVENT = re.compile(r"^[^:\s]+:([A-Za-z_][A-Za-z0-9_]*)$")  # TraceMe "name:Type" of a TF op
TOP_OPS = 8  # rows per framework and network; the rest is summed as "other"


def layer_macs(model):
    """Multiply-accumulates of one forward pass of one example, per layer, from the
    layers' shapes (Conv1D, Conv2D, Dense; every other layer does no products).

    Returns:
        {layer name: MACs}.
    """
    import keras

    out = {}
    for layer in model.layers:
        if isinstance(layer, (keras.layers.Conv1D, keras.layers.Conv2D)):
            kernel = layer.kernel.shape  # [*kernel_size, in, out]
            positions = 1
            for d in layer.output.shape[1:-1]:
                positions *= d
            per_position = 1
            for d in kernel:
                per_position *= d
            out[layer.name] = positions * per_position // (layer.groups or 1)
        elif isinstance(layer, keras.layers.Dense):
            out[layer.name] = layer.kernel.shape[0] * layer.kernel.shape[1]
    return out


def training_flops(model):
    """FLOPs of one training example through `model`: 2 per multiply-accumulate, 3
    passes (forward, gradient of the input, gradient of the weights), less the first
    layer's input gradient, which nothing needs. Element-wise work (batch norm,
    activations, pooling, the optimizer) is left out: it is a small share of the FLOPs
    but not of the time, which the op table shows."""
    macs = list(layer_macs(model).values())
    return 2 * (3 * sum(macs) - (macs[0] if macs else 0))


def gemm_gflops(framework, n=1024, repeats=10):
    """GFLOP/s of an n x n float32 matrix product in `framework` ("tensorflow" or
    "torch") on the threads already set: the best of `repeats`."""
    if framework == "torch":
        import torch

        a, b = torch.randn(n, n), torch.randn(n, n)
        run = lambda: torch.mm(a, b)  # noqa: E731
    else:
        import tensorflow as tf

        a, b = tf.random.normal([n, n]), tf.random.normal([n, n])
        run = lambda: tf.linalg.matmul(a, b).numpy()  # noqa: E731
    run()
    best = min(_seconds(run) for _ in range(repeats))
    return 2 * n ** 3 / best / 1e9


def _seconds(fn):
    t0 = time.perf_counter()
    fn()
    return time.perf_counter() - t0


def xplane_op_times(logdir):
    """Self time (ms) per TensorFlow op type in the profiler trace under `logdir`.

    An op's self time is its span less the spans of ops nested in it on the same
    thread (control flow and function calls contain the ops they run); tf.data's
    events are summed as "tf.data input pipeline" (self time, nesting as for ops)."""
    from tensorflow.tsl.profiler.protobuf import xplane_pb2

    path = next(Path(logdir).rglob("*.xplane.pb"))
    space = xplane_pb2.XSpace()
    space.ParseFromString(path.read_bytes())
    times = collections.Counter()
    for plane in space.planes:
        if not plane.name.startswith("/host:CPU"):
            continue
        names = {k: m.name for k, m in plane.event_metadata.items()}
        for line in plane.lines:
            events = []
            for ev in line.events:
                name = names.get(ev.metadata_id, "")
                match = _OP_EVENT.match(name)
                kind = (match.group(1).lstrip("_") if match else
                        "tf.data input pipeline" if name.startswith("Iterator::") else None)
                if kind:
                    events.append((ev.offset_ps, ev.offset_ps + ev.duration_ps, kind))
            events.sort(key=lambda e: (e[0], -e[1]))
            stack = []  # [start, end, kind, child time]
            for start, end, kind in events:
                while stack and stack[-1][1] <= start:
                    _close(stack, times)
                stack.append([start, end, kind, 0])
            while stack:
                _close(stack, times)
    return {k: v / 1e9 for k, v in times.items()}  # ps -> ms


def _close(stack, times):
    start, end, kind, children = stack.pop()
    times[kind] += max(0, end - start - children)
    if stack:
        stack[-1][3] += end - start


def _keras_profile(name, clips, logdir):
    """Keras as the app trains `name` (one thread: whole batches), one epoch profiled:
    (op self times in ms per step, wall ms per step)."""
    import tensorflow as tf

    from benchmarks.digits.throughput import _keras_run

    model_name = "mfcc_features" if name == "mfcc" else name
    model, ds = _keras_run(model_name, "app", 1, clips)
    steps = int(ds.cardinality())
    tf.profiler.experimental.start(logdir)
    t0 = time.perf_counter()
    model.fit(ds, epochs=1, verbose=0, shuffle=False)
    wall = time.perf_counter() - t0
    tf.profiler.experimental.stop()
    ops = xplane_op_times(logdir)
    return {k: v / steps for k, v in ops.items()}, 1e3 * wall / steps, model


def _torch_profile(name, clips):
    """The throughput part's PyTorch loop for `name`, one epoch profiled: (self CPU ms
    per step per op, wall ms per step)."""
    from torch.profiler import ProfilerActivity, profile

    from benchmarks.digits.throughput import _torch_epochs, _torch_run

    run = _torch_run(name, 1, clips, {})
    steps = len(run[2])
    with profile(activities=[ProfilerActivity.CPU]) as prof:
        t0 = time.perf_counter()
        _torch_epochs(*run, 1)
        wall = time.perf_counter() - t0
    ops = collections.Counter()
    for avg in prof.key_averages():
        if avg.key.startswith("aten::") or avg.key.startswith("Optimizer."):
            ops[avg.key] += avg.self_cpu_time_total / 1e3  # us -> ms
    return {k: v / steps for k, v in ops.items()}, 1e3 * wall / steps


def _top(ops):
    """The `TOP_OPS` largest op types in ms per step, then "other"; with shares."""
    total = sum(ops.values())
    ranked = sorted(ops.items(), key=lambda kv: -kv[1])
    rows = ranked[:TOP_OPS]
    rest = sum(v for _, v in ranked[TOP_OPS:])
    if rest:
        rows.append(("other", rest))
    return {"total_ms": total,
            "ops": [{"op": k, "ms_per_step": v, "share": v / total} for k, v in rows]}


def job(name, data_dir=None):
    """One network's profile at one thread, in this process; prints it as JSON."""
    import tensorflow as tf

    tf.config.threading.set_intra_op_parallelism_threads(1)
    tf.config.threading.set_inter_op_parallelism_threads(1)
    from benchmarks.digits.throughput import _load_clips

    clips = _load_clips(data_dir)
    out = {"threads": 1, "batch_size": 32, "examples": len(clips.paths)}
    with tempfile.TemporaryDirectory() as logdir:
        ops, wall, model = _keras_profile(name, clips, logdir)
    flops = training_flops(model)
    out["flops_per_example"] = flops
    out["keras"] = {"wall_ms_per_step": wall, **_top(ops),
                    "gflops": flops * 32 / wall / 1e6,
                    "gemm_gflops": gemm_gflops("tensorflow")}
    try:
        import torch

        torch.set_num_threads(1)
        ops, wall = _torch_profile(name, clips)
        out["torch"] = {"version": torch.__version__, "wall_ms_per_step": wall, **_top(ops),
                        "gflops": flops * 32 / wall / 1e6, "gemm_gflops": gemm_gflops("torch")}
    except ImportError:
        out["torch_missing"] = "not installed (pip install torch): no PyTorch profile"
    print("PROFILE " + json.dumps(out))


def bench_profile(data_dir=None):
    """The profile part: `job` per network in a fresh process, the CPU's peak beside."""
    import subprocess

    from tfdl.report.env import cpu_model

    res = {"env_start": _env(), "cpu": cpu_model(), "peak": peak_gflops()}
    for name in ("batchnorm", "mfcc"):
        cmd = [sys.executable, "-m", "benchmarks.digits", f"--profile_job={name}"]
        if data_dir:
            cmd.append(f"--data_dir={data_dir}")
        out = subprocess.run(cmd, capture_output=True, text=True, check=True).stdout
        line = [x for x in out.splitlines() if x.startswith("PROFILE ")][-1]
        res[name] = json.loads(line[len("PROFILE "):])
    res["env_end"] = _env()
    return res


def peak_gflops():
    """This CPU's float32 peak for one core and for all, from /proc/cpuinfo: clock x
    FLOPs per cycle (AVX2 + FMA: 2 FMA units x 8 lanes x 2 = 32; AVX-512: 64; SSE: 8).
    Zen 1 cores split 256-bit FMAs in two (16 per cycle); a virtual machine's CPU model
    may hide which core it runs on, so the peak is an upper bound."""
    import os

    text = Path("/proc/cpuinfo").read_text() if Path("/proc/cpuinfo").is_file() else ""
    mhz = re.search(r"cpu MHz\s*:\s*([\d.]+)", text)
    flags = set((re.search(r"flags\s*:\s*(.*)", text) or re.match("()", "")).group(1).split())
    per_cycle = 64 if "avx512f" in flags else 32 if {"avx2", "fma"} <= flags else 8
    ghz = float(mhz.group(1)) / 1e3 if mhz else None
    cores = os.cpu_count()
    return {"ghz": ghz, "flops_per_cycle": per_cycle, "cores": cores,
            "core_gflops": ghz * per_cycle if ghz else None,
            "gflops": ghz * per_cycle * cores if ghz else None}
