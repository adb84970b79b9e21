"""Run a search or a training job on more than one process.

Distributed search (keras-tuner chief/worker mode): one chief process holds the
oracle and serves it over gRPC; N worker processes ask it for trials, train
them and report back. Each process reads its role from the environment:
`KERASTUNER_TUNER_ID` ("chief", or a unique worker id), `KERASTUNER_ORACLE_IP`
and `KERASTUNER_ORACLE_PORT` (where the chief listens). Start a chief and two
workers on this machine with:

    python -m tuning.distributed --mode=search --workers=2 -- \
        --config=digits --config.max_trials=20

Several workers on one machine each get `--config.threads=cores // workers`
TensorFlow threads (`--threads` overrides it), so they do not fight over the
same cores. (On several machines, run `python -m tuning.search ...` on each with the
three variables set; the chief must be started first, and every process needs
the same `--workdir`, e.g. on a shared file system).

Multi-worker training (`tf.distribute.MultiWorkerMirroredStrategy`): every
worker runs the same command with its own `TF_CONFIG`. Start two local
workers on free ports with:

    python -m tuning.distributed --mode=train --workers=2 -- \
        python -m apps.digits --distribute=multi_worker

`--mode=check` trains a tiny model for a few steps on each worker and checks
that all workers end with identical weights (a quick test of a cluster).
"""

import json
import os
import socket
import subprocess
import sys
import time
from pathlib import Path

from tfdl.errors import InputError

CHIEF_ID = "chief"
ENV_ID, ENV_IP, ENV_PORT = "KERASTUNER_TUNER_ID", "KERASTUNER_ORACLE_IP", "KERASTUNER_ORACLE_PORT"


def free_port(host="127.0.0.1"):
    """Returns a TCP port on `host` that was free a moment ago."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind((host, 0))
        return s.getsockname()[1]


def tuner_role(environ=None):
    """Returns "single", "chief" or "worker" from the keras-tuner variables.

    Raises:
        InputError: the variables are incomplete or the port is not a number.
    """
    env = os.environ if environ is None else environ
    if ENV_IP not in env:
        return "single"
    for name in (ENV_PORT, ENV_ID):
        if not env.get(name):
            raise InputError(f"{ENV_IP} is set but {name} is not: a distributed search needs "
                             f"{ENV_ID}, {ENV_IP} and {ENV_PORT}")
    port = env[ENV_PORT]
    if not port.isdigit() or not 0 < int(port) < 65536:
        raise InputError(f"{ENV_PORT} must be a TCP port number. Received: {ENV_PORT}={port}")
    return "chief" if CHIEF_ID in env[ENV_ID] else "worker"


def oracle_address(environ=None):
    env = os.environ if environ is None else environ
    return env[ENV_IP], int(env[ENV_PORT])


def wait_for_oracle(ip, port, timeout):
    """Waits until the chief's gRPC oracle at ip:port accepts connections.

    keras-tuner's own client waits up to an hour for an unreachable chief;
    workers call this first so a wrong address fails fast and clearly.

    Raises:
        InputError: not reachable within `timeout` seconds.
    """
    import grpc

    # Poll the port first: gRPC's reconnect back-off would add seconds after a
    # chief that is still starting opens its port.
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
            s.settimeout(0.5)
            if s.connect_ex((ip, port)) == 0:
                break
        time.sleep(0.2)
    channel = grpc.insecure_channel(f"{ip}:{port}")
    try:
        grpc.channel_ready_future(channel).result(timeout=max(0.1, deadline - time.monotonic()))
    except grpc.FutureTimeoutError:
        raise InputError(f"cannot reach the keras-tuner chief oracle at {ip}:{port} within "
                         f"{timeout:g} s (set by {ENV_IP}/{ENV_PORT}): start the chief first "
                         f"or fix the address") from None
    finally:
        channel.close()


def limit_client_timeout(seconds):
    """Caps how long a worker waits on one oracle call (keras-tuner's default: 1 hour)."""
    from keras_tuner.src.distribute import oracle_client

    oracle_client.TIMEOUT = seconds


def serve_oracle(oracle, ip, port, poll=0.2):
    """Serves `oracle` to the workers until the search is over (the chief's job).

    Same protocol as keras-tuner's `oracle_chief.start_server`, with a clear
    error when the port cannot be bound and a short poll instead of its 20 s
    sleep once the last trial has been handed out.

    Raises:
        InputError: `ip:port` cannot be bound.
    """
    from concurrent import futures

    import grpc
    from keras_tuner.src import protos
    from keras_tuner.src.distribute import oracle_chief

    server = grpc.server(futures.ThreadPoolExecutor(max_workers=1))
    servicer = oracle_chief.OracleServicer(oracle)
    protos.get_service_grpc().add_OracleServicer_to_server(servicer, server)
    try:
        bound = server.add_insecure_port(f"{ip}:{port}")
    except RuntimeError:
        bound = 0
    if not bound:
        raise InputError(f"the chief cannot listen on {ip}:{port} ({ENV_IP}/{ENV_PORT}): the "
                         f"port is in use or the address is not on this machine")
    server.start()
    try:
        while not (servicer.stop_triggered and oracle_chief.exit_chief(oracle)):
            time.sleep(poll)
    finally:
        server.stop(grace=1)


def tuner_env(tuner_id, ip, port, base=None):
    """The environment of one search process (chief or worker)."""
    env = dict(os.environ if base is None else base)
    env.update({ENV_ID: tuner_id, ENV_IP: ip, ENV_PORT: str(port)})
    return env


def _wait_port(ip, port, proc, timeout):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            return False
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
            s.settimeout(0.5)
            if s.connect_ex((ip, port)) == 0:
                return True
        time.sleep(0.2)
    return False


def _open_log(log_dir, name):
    if log_dir is None:
        return None
    path = Path(log_dir) / f"{name}.log"
    path.parent.mkdir(parents=True, exist_ok=True)
    return open(path, "w")


def _finish(procs, timeout):
    """Waits for (name, Popen, log) triples; kills the rest when one fails or time runs out."""
    deadline = None if timeout is None else time.monotonic() + timeout
    codes = {}
    try:
        while len(codes) < len(procs):
            for name, proc, _ in procs:
                if name not in codes and proc.poll() is not None:
                    codes[name] = proc.returncode
            if any(c != 0 for c in codes.values()):
                break
            if deadline is not None and time.monotonic() > deadline:
                break
            time.sleep(0.2)
    finally:
        for name, proc, log in procs:
            if proc.poll() is None:
                proc.kill()
                proc.wait()
                codes.setdefault(name, "killed")
            if log:
                log.close()
    return codes


def worker_threads(workers, cores=None):
    """TensorFlow threads per search worker when `workers` share this machine.

    One worker keeps TensorFlow's default (0); several split the cores
    evenly (at least 1 each), so they do not fight over the same cores.
    """
    if workers <= 1:
        return 0
    return max(1, (cores or os.cpu_count() or 1) // workers)


def launch_search(search_args, workers=2, ip="127.0.0.1", port=None, log_dir=None,
                  timeout=None, start_timeout=120, python=sys.executable, cwd=None, env=None,
                  threads=None):
    """Starts a chief and `workers` workers of `python -m tuning.search` on this machine.

    The chief and the workers start together; the workers wait (up to
    `start_timeout`) until the chief's oracle port is open.
    Worker output goes to `log_dir/<tuner id>.log` (None: this terminal); the
    chief prints to this terminal (its closing summary reports the search).

    Args:
        search_args: flags for `tuning.search`, e.g. ["--config=digits",
            "--config.max_trials=4"].
        workers: number of worker processes (> 0).
        ip, port: where the chief listens (port: a free one by default).
        log_dir: folder for per-process logs.
        timeout: seconds for the whole search (None: no limit).
        start_timeout: seconds for the chief to open its port.
        threads: TensorFlow threads per worker (`--config.threads` of `tuning.search`);
            None: `worker_threads(workers)` (cores // workers, TensorFlow's
            default for one worker); 0: TensorFlow's default. Ignored when
            `search_args` already has `--config.threads`.

    Returns:
        dict tuner id -> exit status ("killed" if stopped by the timeout).

    Raises:
        InputError: `workers` < 1, or the chief failed to start.
    """
    if workers < 1:
        raise InputError(f"--workers must be at least 1. Received: --workers={workers}")
    port = port or free_port(ip)
    cmd = [python, "-m", "tuning.search", *search_args]
    if threads is None:
        threads = worker_threads(workers)
    worker_cmd = list(cmd)
    if threads and not any(a.startswith("--config.threads") for a in search_args):
        worker_cmd.append(f"--config.threads={threads}")
    if not any(a.startswith("--config.oracle_timeout") for a in search_args):
        worker_cmd.append(f"--config.oracle_timeout={start_timeout}")
    procs = []
    chief = subprocess.Popen(cmd, env=tuner_env(CHIEF_ID, ip, port, env), cwd=cwd)
    procs.append((CHIEF_ID, chief, None))
    # Workers start with the chief (their TensorFlow start-up overlaps its own) and
    # wait for its oracle port (`wait_for_oracle`) before they touch the project.
    for i in range(workers):
        name = f"worker{i}"
        log = _open_log(log_dir, name)
        proc = subprocess.Popen(worker_cmd, env=tuner_env(name, ip, port, env), cwd=cwd,
                                stdout=log, stderr=subprocess.STDOUT if log else None)
        procs.append((name, proc, log))
    if not _wait_port(ip, port, chief, start_timeout):
        codes = _finish(procs, 0)
        raise InputError(f"the tuning chief did not open {ip}:{port} within {start_timeout} s "
                         f"(chief exit status: {codes[CHIEF_ID]})")
    return _finish(procs, timeout)


def tf_configs(workers, ip="127.0.0.1"):
    """One `TF_CONFIG` JSON string per worker of a local cluster on free ports."""
    hosts = [f"{ip}:{free_port(ip)}" for _ in range(workers)]
    return [json.dumps({"cluster": {"worker": hosts}, "task": {"type": "worker", "index": i}})
            for i in range(workers)]


def launch_multi_worker(cmd, workers=2, ip="127.0.0.1", log_dir=None, timeout=None, cwd=None,
                        env=None):
    """Runs `cmd` once per worker, each with its own `TF_CONFIG` (worker 0 is the chief).

    Args:
        cmd: the command (list), e.g. [python, "-m", "apps.digits", "--distribute=multi_worker"];
            "{index}" in an argument becomes the worker's index (e.g. one workdir each).
        workers: number of workers (> 0).
        log_dir: folder for `worker<i>.log` files (None: inherit the terminal).
        timeout: seconds for the whole job (None: no limit).

    Returns:
        dict "worker<i>" -> exit status ("killed" if stopped by the timeout).
    """
    if workers < 1:
        raise InputError(f"--workers must be at least 1. Received: --workers={workers}")
    procs = []
    for i, tf_config in enumerate(tf_configs(workers, ip)):
        name = f"worker{i}"
        log = _open_log(log_dir, name)
        penv = dict(os.environ if env is None else env, TF_CONFIG=tf_config)
        argv = [a.replace("{index}", str(i)) for a in cmd]
        proc = subprocess.Popen(argv, env=penv, cwd=cwd, stdout=log,
                                stderr=subprocess.STDOUT if log else None)
        procs.append((name, proc, log))
    return _finish(procs, timeout)


def check_worker(out_dir, steps=5, seed=0):
    """One worker of `--mode=check`: a few MultiWorkerMirroredStrategy steps, then saves weights.

    Each worker feeds different (per-worker seeded) data; gradients are
    all-reduced, so all workers must end with the same weights. Writes
    `out_dir/weights_<task index>.npz`.
    """
    import keras
    import numpy as np

    from tfdl.distribute import get_strategy

    strategy = get_strategy("multi_worker")
    index = json.loads(os.environ["TF_CONFIG"])["task"]["index"]
    keras.utils.set_random_seed(seed)  # Same initial weights everywhere.
    with strategy.scope():
        model = keras.Sequential([keras.Input((8,)), keras.layers.Dense(16, activation="relu"),
                                  keras.layers.Dense(3, activation="softmax")])
        model.compile(keras.optimizers.SGD(0.1), "sparse_categorical_crossentropy")
    Path(out_dir).mkdir(parents=True, exist_ok=True)
    np.savez(Path(out_dir) / f"initial_{index}.npz", *model.get_weights())
    rng = np.random.default_rng(seed + 1 + index)  # Different data on each worker.
    x = rng.normal(size=(steps * 8, 8)).astype("float32")
    y = rng.integers(0, 3, steps * 8)
    import tensorflow as tf

    ds = tf.data.Dataset.from_tensor_slices((x, y)).batch(8)
    options = tf.data.Options()  # Each worker keeps its own data (no sharding).
    options.experimental_distribute.auto_shard_policy = tf.data.experimental.AutoShardPolicy.OFF
    model.fit(ds.with_options(options), epochs=1, verbose=0)
    np.savez(Path(out_dir) / f"weights_{index}.npz", *model.get_weights())


def _main(argv):
    from absl import flags

    f = flags.FLAGS
    rest = argv[1:]
    if f.mode == "search":
        codes = launch_search(rest, workers=f.workers, ip=f.ip, port=f.port or None,
                              log_dir=f.logs, timeout=f.timeout or None,
                              threads=None if f.threads < 0 else f.threads)
    elif f.mode == "train":
        if not rest:
            raise InputError("--mode=train needs the command after `--`, e.g. -- python -m "
                             "apps.digits --distribute=multi_worker")
        codes = launch_multi_worker(rest, workers=f.workers, ip=f.ip, log_dir=f.logs,
                                    timeout=f.timeout or None)
    elif f.mode == "check_worker":
        check_worker(f.logs)
        return
    else:
        codes = launch_multi_worker([sys.executable, "-m", "tuning.distributed",
                                     "--mode=check_worker", f"--logs={f.logs}"],
                                    workers=f.workers, ip=f.ip, timeout=f.timeout or None)
        if all(c == 0 for c in codes.values()):
            import numpy as np

            ws = [np.load(Path(f.logs) / f"weights_{i}.npz") for i in range(f.workers)]
            same = all(np.allclose(w[k], ws[0][k]) for w in ws for k in ws[0].files)
            print(f"{f.workers} workers end with {'identical' if same else 'DIFFERENT'} weights")
            if not same:
                sys.exit(1)
    failed = {k: v for k, v in codes.items() if v != 0}
    print("exit status: " + ", ".join(f"{k}={v}" for k, v in codes.items()))
    if failed:
        sys.exit(1)


if __name__ == "__main__":
    import tfdl  # noqa: F401  (quiet TensorFlow start-up in the children)
    from absl import flags

    from tfdl.cli import run

    flags.DEFINE_enum("mode", "search", ["search", "train", "check", "check_worker"],
                      "search: chief + workers of tuning.search; train: the command after `--` "
                      "on each worker with TF_CONFIG; check: a tiny multi-worker run that "
                      "checks identical weights.")
    flags.DEFINE_integer("workers", 2, "Number of worker processes.")
    flags.DEFINE_string("ip", "127.0.0.1", "Address the chief / workers listen on.")
    flags.DEFINE_integer("port", 0, "Chief oracle port for --mode=search (0: a free one).")
    flags.DEFINE_string("logs", "runs/distributed", "Folder for per-process logs (and the check's weights).")
    flags.DEFINE_integer("threads", -1, "--mode=search: TensorFlow threads per worker (-1: "
                         "cores // workers, TensorFlow's default for one worker; 0: TensorFlow's "
                         "default).")
    flags.DEFINE_integer("timeout", 0, "Seconds before all processes are stopped (0: none).")
    run(_main)
