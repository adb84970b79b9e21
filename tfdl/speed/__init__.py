"""Training settings that depend on the CPU, chosen by timing them on this machine.

Two settings decide how fast a small network trains on a CPU, and which is
faster depends on the CPU, the network and TensorFlow's version:

- oneDNN (`TF_ENABLE_ONEDNN_OPTS`): TensorFlow turns its oneDNN kernels on by
  default only on CPUs with AVX-512 VNNI/BF16 or AMX. On a 2-core AMD EPYC
  (AVX2) they train the digits' `batchnorm` net 2.2x faster per step and `mfcc`
  2.1x (`docs/performance.md`);
- micro-batches (`tfdl.train.use_microbatches`, with the thread split of
  `tfdl.train.cpu_threads`).

A config that can use micro-batches says `microbatches=0` ("measure"), and
`choose_microbatches` decides:

- each candidate (oneDNN off / on x micro-batches 1 / one per core, up to
  `MAX_MICROBATCHES`) trains a few steps of the run's own network on random
  input, as the app compiles it (Adam, steps per execution), in a fresh
  process: neither setting can change once TensorFlow has started
  (`python -m tfdl.speed`, `probe`);
- the fastest wins, unless it beats the default (TensorFlow's own oneDNN
  setting, whole batches) by less than `MIN_GAIN`;
- the choice and every rate are logged and cached per machine in
  `~/.cache/tfdl/speed.json` (or `$TFDL_CACHE_DIR/speed.json`), keyed by CPU
  model, core count, TensorFlow version, network and batch size. The oneDNN
  choice is also kept for the machine: `import tfdl` sets
  `TF_ENABLE_ONEDNN_OPTS` from it before TensorFlow starts
  (`apply_cached_onednn`), so it takes effect from the next run of any app;
- `TF_ENABLE_ONEDNN_OPTS=0|1` and `--config.microbatches=N` force a setting;
  runs too short to repay the probe (`MIN_STEPS`), a GPU, a tf.distribute
  strategy or one core keep the defaults without one.

Our own code: a timing loop and a JSON file; no library does this for Keras.
"""

import json
import os
import subprocess
import sys
import time
from pathlib import Path

ONEDNN = "TF_ENABLE_ONEDNN_OPTS"
MAX_MICROBATCHES = 2
MIN_GAIN = 1.05  # a setting must beat the default by 5 % to be chosen
MIN_STEPS = 1000  # runs with fewer training steps skip the probe (2-3 minutes on 2 cores)
PROBE_STEPS = 48  # timed steps per candidate, after one warm-up execution
_CHOSEN = {}  # this process's choices: the app asks before and after TensorFlow starts
_FROM_CACHE = "TFDL_ONEDNN_FROM_CACHE"  # marks a TF_ENABLE_ONEDNN_OPTS that we set, not the user


def cache_path():
    """`$TFDL_CACHE_DIR/speed.json`, else `~/.cache/tfdl/speed.json`."""
    base = os.environ.get("TFDL_CACHE_DIR") or Path.home() / ".cache" / "tfdl"
    return Path(base) / "speed.json"


def machine_key(network=None, batch_size=None):
    """The cache key: CPU model, cores, TensorFlow version, and the network and batch size
    (None: the machine's own entry, which holds the oneDNN choice)."""
    from importlib.metadata import PackageNotFoundError, version

    from tfdl.report.env import cpu_model

    try:
        tf_version = version("tensorflow")
    except PackageNotFoundError:
        tf_version = "?"
    key = f"{cpu_model()} x{os.cpu_count()} | TF {tf_version}"
    return key if network is None else f"{key} | {network} | batch {batch_size}"


def apply_cached_onednn():
    """Sets `TF_ENABLE_ONEDNN_OPTS` from this machine's cached choice, unless the user set
    it; call before TensorFlow is imported (`import tfdl` does). Returns the value set,
    or None."""
    if ONEDNN in os.environ:
        return None
    cache = _read(cache_path())
    entry = cache.get(machine_key()) if cache else None  # no key to work out without one
    if entry is None:
        return None
    os.environ[ONEDNN] = "1" if entry["onednn"] else "0"
    os.environ[_FROM_CACHE] = os.environ[ONEDNN]  # inherited by child processes too
    return os.environ[ONEDNN]


def _user_onednn():
    """The user's `TF_ENABLE_ONEDNN_OPTS` ("0"/"1"), or None (unset, or set from the cache)."""
    value = os.environ.get(ONEDNN)
    return None if value is None or value == os.environ.get(_FROM_CACHE) else value


def onednn_enabled():
    """Whether this process runs TensorFlow's oneDNN kernels."""
    from tensorflow.python.util import _pywrap_util_port

    return bool(_pywrap_util_port.IsMklEnabled())


def choose_microbatches(registry, network, input_shape, classes, batch_size, steps,
                        time_fn=None, log=print):
    """Micro-batches for training `network` of `registry` ("module:NAME" of a
    `tfdl.registry.Registry`) on this machine: cached, else measured with oneDNN off and
    on (module doc); the oneDNN choice is cached for the next run.

    Args:
        registry, network, input_shape, classes: what `probe` builds (one example's
            input shape, number of classes).
        batch_size: the run's batch size.
        steps: the run's training steps in all; below `MIN_STEPS` no probe runs.
        time_fn: examples/sec of one candidate, `time_fn(onednn, microbatches)`
            (default: a `probe` in a fresh process; tests pass their own).
        log: where the one-line decision goes.

    Returns:
        The number of micro-batches (1 = whole batches).
    """
    cores = os.cpu_count() or 1
    key = machine_key(network, batch_size)
    if key in _CHOSEN:
        return _CHOSEN[key]
    micro = sorted({1, min(cores, MAX_MICROBATCHES)})
    onednn = [_user_onednn() == "1"] if _user_onednn() else [False, True]
    if len(micro) == 1 and len(onednn) == 1:
        return _remember(key, 1)
    path = cache_path()
    cache = _read(path)
    forces = ("; TF_ENABLE_ONEDNN_OPTS=0|1 and --config.microbatches=N force a setting)")
    if key in cache:
        entry = cache[key]
        log(f"CPU settings: {_setting(entry)} (measured on this machine on "
            f"{entry['time'][:10]}; cached in {path}{forces}")
        return _remember(key, entry["microbatches"])
    if steps < MIN_STEPS:
        log(f"CPU settings: whole batches (a run of {steps} steps does not repay timing "
            f"the choice{forces}")
        return _remember(key, 1)
    time_fn = time_fn or (lambda d, k: _probe_subprocess(registry, network, input_shape,
                                                         classes, batch_size, d, k))
    candidates = [(d, k) for d in onednn for k in micro]
    log(f"CPU settings: timing {len(candidates)} candidates (oneDNN x micro-batches, "
        f"{PROBE_STEPS} steps each, once per machine)...")
    rates = {_name(d, k): float(time_fn(d, k)) for d, k in candidates}
    default = _name(onednn[0] if len(onednn) == 1 else onednn_enabled(), 1)
    best = max(rates, key=rates.get)
    if rates[best] < MIN_GAIN * rates.get(default, 0.0):
        best = default
    entry = {"onednn": best.startswith("oneDNN on"), "microbatches": int(best.split()[-1]),
             "rates": rates, "time": time.strftime("%Y-%m-%d %H:%M:%S UTC", time.gmtime())}
    cache[key] = entry
    if len(onednn) > 1:
        cache[machine_key()] = {"onednn": entry["onednn"], "time": entry["time"],
                                "measured_on": f"{network}, batch {batch_size}"}
    _write(path, cache)
    rows = ", ".join(f"{k} -> {v:.0f}" for k, v in rates.items())
    log(f"CPU settings: {_setting(entry)} (examples/sec: {rows}; cached in {path}{forces}")
    if len(onednn) > 1 and entry["onednn"] != onednn_enabled():
        log(f"CPU settings: oneDNN {'on' if entry['onednn'] else 'off'} takes effect from "
            f"the next run (TensorFlow has started)")
    return _remember(key, entry["microbatches"])


def _name(onednn, microbatches):
    return f"oneDNN {'on' if onednn else 'off'}, micro-batches {microbatches}"


def _setting(entry):
    micro = entry["microbatches"]
    return (f"oneDNN {'on' if entry['onednn'] else 'off'}, "
            + (f"{micro} micro-batches" if micro > 1 else "whole batches"))


def forget(network, batch_size):
    """Drops the cached choices for `network` at `batch_size` and the machine's oneDNN
    choice, so that the next `choose_microbatches` measures them again."""
    cache = _read(cache_path())
    for key in (machine_key(), machine_key(network, batch_size)):
        cache.pop(key, None)
    _write(cache_path(), cache)
    _CHOSEN.pop(machine_key(network, batch_size), None)


def _remember(key, value):
    _CHOSEN[key] = value
    return value


def _read(path):
    try:
        return json.loads(path.read_text())
    except (OSError, ValueError):  # none yet, or unreadable: measure again
        return {}


def _write(path, cache):
    """Writes the cache atomically; a read-only home only costs the next run a probe."""
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(f".{os.getpid()}.tmp")
        tmp.write_text(json.dumps(cache, indent=1, sort_keys=True))
        tmp.replace(path)
    except OSError:
        pass


def _probe_subprocess(registry, network, input_shape, classes, batch_size, onednn,
                      microbatches):
    cmd = [sys.executable, "-m", "tfdl.speed", registry, network,
           ",".join(map(str, input_shape)), str(classes), str(batch_size), str(microbatches)]
    env = {**os.environ, ONEDNN: "1" if onednn else "0"}
    out = subprocess.run(cmd, capture_output=True, text=True, check=True, env=env).stdout
    return float(out.strip().splitlines()[-1])


def probe(registry, network, input_shape, classes, batch_size, microbatches,
          steps=PROBE_STEPS):
    """Examples/sec of training `network` with `microbatches` in this process (its
    thread pools are set here, so TensorFlow must not have started): Adam, the app's
    steps per execution, random input; the median of three timed thirds of `steps`."""
    import importlib

    import tfdl  # noqa: F401  (quiet TensorFlow)
    from tfdl import train as training

    training.cpu_threads(microbatches=microbatches)
    import keras
    import numpy as np
    import tensorflow as tf

    module, name = registry.split(":")
    model = getattr(importlib.import_module(module), name).build(network)
    keras.utils.set_random_seed(0)
    x = np.random.default_rng(0).standard_normal((batch_size * 8, *input_shape), np.float32)
    y = np.arange(batch_size * 8) % classes
    ds = tf.data.Dataset.from_tensor_slices((x, y)).repeat().batch(batch_size)
    if microbatches > 1:
        training.use_microbatches(model, microbatches)
        ds = training.steady_input(ds)
    spe = training.steps_per_execution(steps // 3)
    model.compile(optimizer=training.make_optimizer("adam"),
                  loss="sparse_categorical_crossentropy", steps_per_execution=spe)
    model.fit(ds, epochs=1, steps_per_epoch=spe, verbose=0)  # trace and warm up
    starts, rates = [], []
    timer = keras.callbacks.LambdaCallback(
        on_epoch_begin=lambda epoch, logs: starts.append(time.perf_counter()),
        on_epoch_end=lambda epoch, logs: rates.append(
            batch_size * (steps // 3) / (time.perf_counter() - starts[-1])))
    model.fit(ds, epochs=3, steps_per_epoch=steps // 3, verbose=0, callbacks=[timer])
    return float(np.median(rates))
