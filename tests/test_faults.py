"""Faults a run must survive: kill -9 and resume, a busy workdir, a changed config, bad
workdirs, Ctrl-C. Tiny models on tiny data; the kills happen in subprocesses."""

import json
import os
import signal
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest

from tfdl import cli, train
from tfdl.errors import InputError
from tfdl.workdir import Workdir, write_json

ROOT = Path(__file__).resolve().parents[1]

# One deterministic training: full-batch SGD with momentum on fixed data, so an
# interrupted and resumed run must end with the same weights as an uninterrupted one.
FIT_SCRIPT = textwrap.dedent("""
    import os, signal, sys
    import tfdl, keras, numpy as np, tensorflow as tf
    from tfdl import train
    from tfdl.workdir import Workdir

    workdir, kill_epoch, epochs = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
    keras.utils.set_random_seed(0)
    x = np.linspace(-1, 1, 64, dtype=np.float32).reshape(32, 2)
    y = (x[:, :1] - 2 * x[:, 1:] > 0).astype(np.float32)
    ds = tf.data.Dataset.from_tensor_slices((x, y)).batch(32)
    model = keras.Sequential([keras.Input((2,)), keras.layers.Dense(4, activation="tanh"),
                              keras.layers.Dense(1, activation="sigmoid")])
    model.compile(keras.optimizers.SGD(0.5, momentum=0.9), "binary_crossentropy",
                  metrics=["accuracy"])

    class Kill(keras.callbacks.Callback):
        def on_train_batch_begin(self, batch, logs=None):
            if train.PROGRESS["epoch"] == kill_epoch:
                os.kill(os.getpid(), signal.SIGKILL)  # mid-epoch: no cleanup at all

    wd = Workdir(workdir)
    wd.write_config({"epochs": epochs})
    out = train.fit(model, ds, ds, workdir=wd, epochs=epochs, batch_size=32,
                    monitor="val_loss", mode="min", patience=50, verbose=0,
                    callbacks=[Kill()] if kill_epoch else [])
    np.save(os.path.join(workdir, "weights.npy"),
            np.concatenate([w.numpy().ravel() for w in model.weights]))
""")


def _fit(workdir, kill_epoch=0, epochs=6):
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    return subprocess.run([sys.executable, "-c", FIT_SCRIPT, str(workdir), str(kill_epoch),
                           str(epochs)], env=env, capture_output=True, text=True, timeout=300)


def test_kill_9_mid_epoch_then_resume_equals_an_uninterrupted_run(tmp_path):
    whole, killed = tmp_path / "whole", tmp_path / "killed"
    assert _fit(whole).returncode == 0
    r = _fit(killed, kill_epoch=3)
    assert r.returncode == -signal.SIGKILL
    assert (killed / "backup").is_dir() and not (killed / "history.json").exists()
    r = _fit(killed)  # the same command again: resumes after epoch 2
    assert r.returncode == 0, r.stderr
    assert "resuming the unfinished run" in r.stdout and "after epoch 2" in r.stdout
    a = json.loads((whole / "history.json").read_text())
    b = json.loads((killed / "history.json").read_text())
    assert len(b["loss"]) == len(a["loss"]) == 6 and len(b["examples_per_sec"]) == 6
    np.testing.assert_allclose(b["loss"], a["loss"], rtol=1e-5, atol=1e-7)
    np.testing.assert_allclose(np.load(killed / "weights.npy"), np.load(whole / "weights.npy"),
                               rtol=1e-5, atol=1e-7)
    assert not (killed / "backup").exists()  # a finished run leaves no backup


def test_a_second_run_into_a_busy_workdir_fails_naming_the_other(tmp_path):
    holder = subprocess.Popen(
        [sys.executable, "-c", "import sys, time; from tfdl.workdir import Workdir; "
         f"Workdir({str(tmp_path / 'w')!r}); print('held', flush=True); time.sleep(60)"],
        cwd=ROOT, stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline().strip() == "held"
        with pytest.raises(InputError, match=rf"in use by another run \(pid {holder.pid}") as e:
            Workdir(tmp_path / "w")
        assert "\n" not in str(e.value)
    finally:
        holder.kill()
        holder.wait()
    Workdir(tmp_path / "w")  # the kernel freed the lock with the process


def test_a_changed_config_is_refused_and_touches_nothing(tmp_path):
    wd = Workdir(tmp_path / "w")
    wd.write_config({"model": "a", "epochs": 6})
    (wd.backup).mkdir()
    write_json(wd.backup / "config.json", wd.config())  # a killed run of that config
    wd.write_config({"model": "a", "epochs": 6})  # the same config: resumes
    before = (wd.root / "config.json").read_text()
    with pytest.raises(InputError, match="unfinished run of another config.*--restart"):
        wd.write_config({"model": "b", "epochs": 3})
    assert (wd.root / "config.json").read_text() == before and wd.backup.is_dir()
    wd.write_config({"model": "b", "epochs": 3}, restart=True)
    assert not wd.backup.exists() and json.loads((wd.root / "config.json").read_text()) == {
        "model": "b", "epochs": 3}


def test_bad_workdirs_are_one_line_errors(tmp_path, monkeypatch):
    (tmp_path / "file").write_text("x")
    for path, match in [(tmp_path / "file", "--workdir is a file, not a folder"),
                        (tmp_path / "file" / "sub", "--workdir cannot be created: .* is a file")]:
        with pytest.raises(InputError, match=match) as e:
            Workdir(path)
        assert "\n" not in str(e.value)
    monkeypatch.setattr(os, "access", lambda *a: False)  # root can write anywhere: pretend
    with pytest.raises(InputError, match="not writable|permission denied"):
        Workdir(tmp_path / "ro")


def test_json_files_get_the_same_mode_as_the_figures(tmp_path):
    write_json(tmp_path / "a.json", {"x": 1})
    (tmp_path / "b.png").write_bytes(b"")
    assert (tmp_path / "a.json").stat().st_mode == (tmp_path / "b.png").stat().st_mode


def test_interrupted_message_names_the_epoch():
    train.PROGRESS["epoch"] = 3
    try:
        assert cli.interrupted_message() == ("interrupted in epoch 3; run the same command to "
                                             "resume (--restart starts over)")
    finally:
        train.PROGRESS["epoch"] = None
    assert cli.interrupted_message() == "interrupted"
