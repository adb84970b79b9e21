"""Distributed search (keras-tuner chief + workers) and multi-worker training, on 127.0.0.1."""

import json
import os
import re
import sys
import time
from pathlib import Path

import numpy as np
import pytest
from test_tuning import make_fsdd

from tfdl.errors import InputError
from tuning import distributed, search
from tuning.config import Config

ROOT = Path(__file__).resolve().parents[1]


def _env():
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join([str(ROOT), env.get("PYTHONPATH", "")])
    return env


def test_chief_and_two_workers_run_every_trial_once(tmp_path, capfd):
    data = make_fsdd(tmp_path)
    runs = tmp_path / "runs"
    args = ["--config=digits", f"--data_dir={data}", f"--workdir={runs / 'digits'}",
            "--config.max_trials=2", "--config.epochs=1", "--config.final_epochs=0",
            "--config.batch_size=8", "--config.max_params=20000"]
    codes = distributed.launch_search(args, workers=2, log_dir=tmp_path / "logs", timeout=300,
                                      cwd=ROOT, env=_env())
    assert codes == {"chief": 0, "worker0": 0, "worker1": 0}, capfd.readouterr()
    results = json.loads((runs / "digits" / "results.json").read_text())
    trials = results["trials"]
    assert sorted(t["trial"] for t in trials) == ["0", "1"]
    for t in trials:  # Each trial ran exactly once, on a worker (the chief only serves).
        assert t["status"] == "COMPLETED" and t["runs"] == 1
        assert t["tuner"] in ("worker0", "worker1")
    best = results["best"]
    assert best["metric"] == max(t["metric"] for t in trials)
    out = capfd.readouterr().out
    assert re.search(rf"best trial\s+{best['trial']}: val_accuracy={best['metric']:.4f}", out)
    # Two workers on one machine split its cores: each runs with cores // 2 TF threads.
    threads = distributed.worker_threads(2)
    for name in ("worker0", "worker1"):
        log = (tmp_path / "logs" / f"{name}.log").read_text()
        assert f"TensorFlow threads (intra-op, inter-op): {threads}" in log


def test_worker_threads_split_the_cores():
    assert distributed.worker_threads(1, cores=2) == 0  # One worker: TensorFlow's default.
    assert distributed.worker_threads(2, cores=2) == 1
    assert distributed.worker_threads(3, cores=2) == 1  # Never below one thread.
    assert distributed.worker_threads(4, cores=16) == 4
    assert search.set_threads(0) is False  # 0 leaves TensorFlow's default alone.
    with pytest.raises(InputError, match="--config.threads must be an integer >= 0"):
        Config(threads=-1).validate()


def test_unreachable_oracle_is_a_clear_error_not_a_hang(tmp_path, monkeypatch):
    port = distributed.free_port()  # Nobody listens here.
    monkeypatch.setenv(distributed.ENV_ID, "worker0")
    monkeypatch.setenv(distributed.ENV_IP, "127.0.0.1")
    monkeypatch.setenv(distributed.ENV_PORT, str(port))
    cfg = Config(oracle_timeout=1.0)
    t0 = time.monotonic()
    with pytest.raises(InputError, match=rf"cannot reach the keras-tuner chief oracle at "
                                         rf"127.0.0.1:{port} within 1 s"):
        search.run(cfg, str(tmp_path / "digits"))
    assert time.monotonic() - t0 < 10


def test_incomplete_tuner_environment_is_rejected():
    assert distributed.tuner_role({}) == "single"
    env = {distributed.ENV_IP: "127.0.0.1", distributed.ENV_PORT: "8000",
           distributed.ENV_ID: "chief"}
    assert distributed.tuner_role(env) == "chief"
    assert distributed.tuner_role(dict(env, **{distributed.ENV_ID: "worker3"})) == "worker"
    with pytest.raises(InputError, match="KERASTUNER_ORACLE_PORT"):
        distributed.tuner_role({distributed.ENV_IP: "127.0.0.1", distributed.ENV_ID: "w"})
    with pytest.raises(InputError, match="must be a TCP port"):
        distributed.tuner_role(dict(env, **{distributed.ENV_PORT: "http"}))


def test_tf_configs_describe_one_local_cluster():
    configs = [json.loads(c) for c in distributed.tf_configs(3)]
    hosts = configs[0]["cluster"]["worker"]
    assert len(set(hosts)) == 3 and all(h.startswith("127.0.0.1:") for h in hosts)
    assert [c["task"] for c in configs] == [{"type": "worker", "index": i} for i in range(3)]
    assert all(c["cluster"] == configs[0]["cluster"] for c in configs)


def test_two_multi_worker_processes_end_with_identical_weights(tmp_path):
    """MultiWorkerMirroredStrategy via TF_CONFIG: different data per worker, all-reduced
    gradients, so both workers must hold the same weights after a few steps."""
    cmd = [sys.executable, "-m", "tuning.distributed", "--mode=check_worker",
           f"--logs={tmp_path}"]
    codes = distributed.launch_multi_worker(cmd, workers=2, log_dir=tmp_path / "logs",
                                            timeout=180, cwd=ROOT, env=_env())
    logs = {p.name: p.read_text()[-2000:] for p in (tmp_path / "logs").glob("*.log")}
    assert codes == {"worker0": 0, "worker1": 0}, logs
    w0, w1 = (np.load(tmp_path / f"weights_{i}.npz") for i in range(2))
    init = np.load(tmp_path / "initial_0.npz")
    assert len(w0.files) == 4
    for k in w0.files:
        np.testing.assert_allclose(w0[k], w1[k], rtol=1e-6, atol=1e-7)
    assert any(not np.allclose(w0[k], init[k]) for k in w0.files)  # It did train.


def _h5_weights(path):
    import h5py

    out = {}
    with h5py.File(path) as f:
        f.visititems(lambda name, obj: out.__setitem__(name, obj[()])
                     if isinstance(obj, h5py.Dataset) else None)
    return out


@pytest.mark.slow
def test_digits_app_multi_worker_workers_end_with_identical_weights(tmp_path):
    """`apps.digits --distribute=multi_worker` on two local workers (TF_CONFIG, free ports).

    The `plain` model has no batch norm: with it, each worker would keep its
    own moving statistics (Keras' BatchNormalization is not synchronised by
    default) while all trainable weights stay identical."""
    data = make_fsdd(tmp_path)
    cmd = [sys.executable, "-m", "apps.digits", "--model=plain", "--distribute=multi_worker",
           f"--data_dir={data}", "--epochs=1", "--batch_size=8", "--steps_per_epoch=3",
           "--val_fraction=0", "--noaugment", f"--workdir={tmp_path}/w{{index}}"]
    codes = distributed.launch_multi_worker(cmd, workers=2, log_dir=tmp_path / "logs",
                                            timeout=500, cwd=ROOT, env=_env())
    logs = {p.name: p.read_text()[-2000:] for p in (tmp_path / "logs").glob("*.log")}
    assert codes == {"worker0": 0, "worker1": 0}, logs
    w0, w1 = (_h5_weights(tmp_path / f"w{i}" / "checkpoints" / "best.weights.h5")
              for i in range(2))
    assert len(w0) > 10 and w0.keys() == w1.keys()
    for k in w0:
        np.testing.assert_array_equal(w0[k], w1[k], err_msg=k)
