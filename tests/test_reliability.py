"""The bad-input and fault matrix, as a user meets it on the command line.

Every row of `CASES` is checked by a test (here, or the one it names), and
docs/reliability.md holds the same table: `test_the_doc_is_the_matrix` fails
when they differ (print the table with `python tests/test_reliability.py`).
"""

import json
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from conftest import app_error, sine, write_wav

ROOT = Path(__file__).resolve().parents[1]
DOC = ROOT / "docs" / "reliability.md"
ENTRY_POINTS = ("apps.digits", "apps.keywords", "apps.denoise", "apps.phonemes", "apps.mnist",
                "apps.notmnist", "apps.optimization", "apps.backprop", "tuning.search")

# (case, what the user sees, the test that checks it)
CASES = [
    ("A second run into a workdir another run is using",
     "exit 2: `error: workdir W is in use by another run (pid N: COMMAND); wait for it to "
     "finish or pass another --workdir`",
     "test_reliability.py::test_a_busy_workdir"),
    ("A workdir that holds the unfinished run (a `backup/`) of another config",
     "exit 2, nothing touched: `error: W holds an unfinished run of another config (W/backup); "
     "add --restart to start over, or pass another --workdir`; with `--restart` the run starts "
     "over",
     "test_reliability.py::test_an_unfinished_run_of_another_config"),
    ("The same command after a kill -9 or a Ctrl-C",
     "`resuming the unfinished run in W after epoch N`; the history, curves and `epochs_run` "
     "cover every epoch, and the weights equal an uninterrupted run's",
     "test_faults.py::test_kill_9_mid_epoch_then_resume_equals_an_uninterrupted_run, "
     "test_reliability.py::test_ctrl_c_then_the_same_command"),
    ("Ctrl-C during training",
     "exit 130: `interrupted in epoch N; run the same command to resume (--restart starts "
     "over)`, no traceback",
     "test_reliability.py::test_ctrl_c_then_the_same_command"),
    ("`--workdir` that is a file, or under a file (every app and tuning.search)",
     "exit 2: `error: --workdir is a file, not a folder: W` / `error: --workdir cannot be "
     "created: F is a file (--workdir=W)`",
     "test_reliability.py::test_a_workdir_that_is_a_file"),
    ("`--workdir` in a read-only folder",
     "exit 2: `error: --workdir is not writable (permission denied): W`",
     "test_faults.py::test_bad_workdirs_are_one_line_errors"),
    ("A typo in `--data_dir` over a finished run",
     "exit 2 naming the folder; the finished run's `metrics.json` and `config.json` stay as "
     "they were (every input is checked before the workdir is written)",
     "test_reliability.py::test_a_data_dir_typo_leaves_a_finished_run_alone"),
    ("Test clips named `validation.wav`, or two with the same name (denoise)",
     "each gets its own output: `validation_2_denoised.wav`, `x_2_denoised.wav`",
     "test_denoise_data.py::test_test_outputs_never_collide"),
    ("An undecodable WAV (e.g. bytes `\\xfe...`) or one with a truncated data chunk",
     "exit 2: `error: not a WAV file (no RIFF/WAVE header): F` / `error: corrupt WAV (data "
     "chunk empty or longer than the file): F`; no TensorFlow internals",
     "test_reliability.py::test_an_undecodable_wav_in_a_keywords_corpus, "
     "test_audio.py::test_undecodable_and_truncated_wavs_are_one_line_errors_without_tf_internals"),
    ("An export's `serve` given int16 PCM, an empty batch, or NaN / Inf samples",
     "the SavedModel fails (`waveforms must be float32 samples in [-1, 1] (int16 PCM: divide "
     "by 32768 ...)`, `waveforms must not be empty`, `waveforms must be finite`); the TFLite "
     "wrapper raises the same as one line",
     "test_core.py::test_tflite_export_metadata_sizes_and_load_errors"),
    ("`predict` / `stream` on a silent or too-short clip",
     "an answer, and one line on stderr: `warning: F is silent (peak 0.0e+00): the answer "
     "means nothing` / `warning: F is 10 ms long: too short to hold a word`",
     "test_reliability.py::test_predict_warns_and_refuses"),
    ("`predict` on a clip with NaN or Inf samples",
     "exit 2: `error: non-finite samples (NaN or Inf) in F: refusing to classify it`",
     "test_reliability.py::test_predict_warns_and_refuses"),
    ("`predict` with another task's export",
     "exit 2: `error: E is a keywords export, not a digits one (pass the --export_dir of a "
     "digits run)`",
     "test_reliability.py::test_predict_refuses_another_tasks_export"),
    ("A bad flag or config field (`--config.epochs=0`, `--config.nope=1`, `--model=nope`)",
     "exit 2 and one line naming the flag: `error: --config.epochs must be a positive "
     "integer. Received: --config.epochs=0`",
     "test_digits_app.py::test_cli_bad_flags_one_line_and_nonzero_exit"),
    ("Progress bars, file modes, log noise",
     "bars end at their total (`steps_per_execution` never above an epoch's steps); JSON "
     "files get the PNGs' mode (0644 less the umask); no absl INFO lines",
     "test_core.py::test_steps_per_execution_never_exceeds_an_epoch, "
     "test_faults.py::test_json_files_get_the_same_mode_as_the_figures, "
     "test_reliability.py::test_ctrl_c_then_the_same_command"),
]


def table():
    """The matrix as the Markdown table docs/reliability.md holds."""
    rows = ["| case | what the user sees | checked by |", "|---|---|---|"]
    rows += [f"| {case} | {sees} | `tests/{test}` |".replace(", test", "`, `tests/test")
             for case, sees, test in CASES]
    return "\n".join(rows)


def _cli(module, *args, **kwargs):
    env = {**os.environ, "TFDL_NO_DOWNLOAD": "1"}
    env.pop("TF_CPP_MIN_LOG_LEVEL", None)  # the app itself must silence TensorFlow
    return subprocess.run([sys.executable, "-m", module, *args], cwd=ROOT, env=env,
                          capture_output=True, text=True, timeout=300, **kwargs)


def _fails(module, *args):
    """`python -m MODULE ARGS`, a command line that must fail, as a CompletedProcess.

    tuning.search runs in a subprocess (the real exit status, no TensorFlow
    start-up noise; `test_a_busy_workdir` and the Ctrl-C test run apps.digits
    so); the apps run in this process through the same `cli.run`
    (`conftest.app_error`), which saves a TensorFlow import per case.
    """
    if module == "tuning.search":
        return _cli(module, *args)
    code, lines = app_error(module.split(".", 1)[1], *args)
    return subprocess.CompletedProcess([module, *args], code, "", "\n".join(lines))


def _one_error_line(r, pattern):
    lines = r.stderr.strip().splitlines()
    assert r.returncode == 2, (r.returncode, r.stderr[-2000:])
    assert len(lines) == 1 and lines[0].startswith("error: "), lines
    assert re.search(pattern, lines[0]), lines[0]
    return lines[0]


TINY = ("--model=mfcc", "--config.epochs=1", "--config.steps_per_epoch=1",
        "--config.batch_size=8", "--config.augment=false", "--config.export=false")


def test_the_doc_is_the_matrix():
    text = DOC.read_text()
    assert table() in text, f"docs/reliability.md differs from the matrix; it should hold:\n" \
                            f"{table()}"
    for _, _, tests in CASES:
        for test in tests.split(", "):
            file, name = test.split("::")
            assert f"def {name}(" in (ROOT / "tests" / file).read_text(), test


def test_a_busy_workdir(tmp_path, tiny_fsdd):
    holder = subprocess.Popen(
        [sys.executable, "-c", "import time; from tfdl.workdir import Workdir; "
         f"Workdir({str(tmp_path / 'w')!r}); print('held', flush=True); time.sleep(120)"],
        cwd=ROOT, stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline().strip() == "held"
        r = _cli("apps.digits", *TINY, f"--data_dir={tiny_fsdd}", f"--workdir={tmp_path / 'w'}")
        _one_error_line(r, rf"workdir .*/w is in use by another run \(pid {holder.pid}: .*\); "
                           rf"wait for it to finish or pass another --workdir$")
    finally:
        holder.kill()
        holder.wait()


def test_an_unfinished_run_of_another_config(tmp_path, tiny_fsdd):
    wd = tmp_path / "w"
    (wd / "backup").mkdir(parents=True)
    (wd / "backup" / "config.json").write_text(json.dumps({"model": "batchnorm"}))
    (wd / "config.json").write_text("{}")
    r = _fails("apps.digits", *TINY, f"--data_dir={tiny_fsdd}", f"--workdir={wd}")
    _one_error_line(r, r"holds an unfinished run of another config .*backup\); add --restart "
                       r"to start over, or pass another --workdir$")
    assert (wd / "config.json").read_text() == "{}" and (wd / "backup").is_dir()
    code, lines = app_error("digits", *TINY, f"--data_dir={tiny_fsdd}", f"--workdir={wd}",
                            "--restart")  # in this process, as `_fails` runs apps.digits
    assert code in (0, None), lines[-5:]
    assert json.loads((wd / "config.json").read_text())["model"] == "mfcc"
    assert (wd / "metrics.json").is_file() and not (wd / "backup").exists()


@pytest.mark.parametrize("module", ENTRY_POINTS)
def test_a_workdir_that_is_a_file(tmp_path, module):
    f = tmp_path / "file"
    f.write_text("x")
    _one_error_line(_fails(module, f"--workdir={f}"), r"--workdir is a file, not a folder: ")
    if module == "apps.digits":
        _one_error_line(_fails(module, f"--workdir={f / 'sub'}"),
                        r"--workdir cannot be created: .*file is a file")
    assert f.read_text() == "x"


@pytest.mark.parametrize("module", ["apps.keywords", "apps.mnist", "apps.notmnist",
                                    "apps.phonemes", "apps.backprop", "apps.digits",
                                    "apps.denoise", "apps.optimization"])
def test_a_data_dir_typo_leaves_a_finished_run_alone(tmp_path, module):
    wd = tmp_path / "w"
    wd.mkdir()
    files = {"metrics.json": '{"accuracy": 0.99}', "config.json": '{"seed": 0}'}
    for name, text in files.items():
        (wd / name).write_text(text)
    r = _fails(module, f"--data_dir={tmp_path / 'typo'}", f"--workdir={wd}")
    _one_error_line(r, r"typo")
    assert {name: (wd / name).read_text() for name in files} == files


def test_an_undecodable_wav_in_a_keywords_corpus(tmp_path):
    root = tmp_path / "kw"
    for word in ("a", "b", "c"):
        for i in range(4):
            write_wav(root / word / f"s{i}_nohash_{i}.wav", sine(300 + 50 * i, 0.5, 8000), 8000)
    write_wav(root / "_background_noise_" / "n.wav", sine(60, 2.0, 8000), 8000)
    bad = root / "a" / "s9_nohash_9.wav"
    bad.write_bytes(b"\xfe" * 100)
    r = _cli("apps.keywords", f"--data_dir={root}", f"--workdir={tmp_path / 'w'}",
             "--config.wanted_words=a,b", "--config.sample_rate=8000",
             "--config.clip_duration_ms=500", "--config.held_out_noise=", "--config.epochs=1")
    line = _one_error_line(r, re.escape(f"not a WAV file (no RIFF/WAVE header): {bad}"))
    assert "function_node" not in line and not (tmp_path / "w").exists()


@pytest.fixture(scope="module")
def digits_export(tmp_path_factory):
    """A tiny classifier exported as a digits run exports (labels 0-9, 8 kHz)."""
    import keras
    import tensorflow as tf

    from tfdl import export

    inputs = keras.Input((None,))
    x = keras.layers.Lambda(lambda t: tf.stack([tf.reduce_mean(t, -1),
                                                tf.reduce_max(t, -1)], -1))(inputs)
    model = keras.Model(inputs, keras.layers.Dense(10, activation="softmax")(x))
    path = tmp_path_factory.mktemp("export") / "export"
    export.export_classifier(model, path, [str(d) for d in range(10)],
                             metadata={"task": "digits", "sample_rate": 8000})
    return path


def test_predict_warns_and_refuses(tmp_path, digits_export):
    import soundfile as sf

    silent = write_wav(tmp_path / "silent.wav", np.zeros(4000, np.float32), 8000)
    short = write_wav(tmp_path / "short.wav", sine(500, 0.01, 8000), 8000)
    r = _cli("apps.digits", "predict", f"--export_dir={digits_export}", str(silent), str(short))
    assert r.returncode == 0, r.stderr[-2000:]
    assert r.stderr.strip().splitlines() == [
        f"warning: {silent} is silent (peak 0.0e+00): the answer means nothing",
        f"warning: {short} is 10 ms long: too short to hold a word"]
    assert f"{silent}: digit" in r.stdout and f"{short}: digit" in r.stdout
    nan = tmp_path / "nan.wav"
    sf.write(nan, np.full(4000, np.nan, np.float32), 8000, subtype="FLOAT")
    _one_error_line(_fails("apps.digits", "predict", f"--export_dir={digits_export}", str(nan)),
                    re.escape(f"non-finite samples (NaN or Inf) in {nan}: refusing to "
                              f"classify it"))


def test_predict_refuses_another_tasks_export(tmp_path):
    export = tmp_path / "export"
    (export / "assets.extra").mkdir(parents=True)
    (export / "saved_model.pb").write_bytes(b"")
    (export / "assets.extra" / "tfdl.json").write_text(json.dumps({"task": "keywords"}))
    clip = write_wav(tmp_path / "a.wav", sine(500, 0.5, 8000), 8000)
    _one_error_line(_fails("apps.digits", "predict", f"--export_dir={export}", str(clip)),
                    re.escape(f"{export} is a keywords export, not a digits one (pass the "
                              f"--export_dir of a digits run)"))


def test_ctrl_c_then_the_same_command(tmp_path, tiny_fsdd):
    wd = tmp_path / "w"
    args = ("apps.digits", "--model=batchnorm", "--config.epochs=12",
            "--config.augment=false", "--config.export=false", "--config.microbatches=1",
            "--config.val_fraction=0", f"--data_dir={tiny_fsdd}", f"--workdir={wd}")
    env = {**os.environ, "TFDL_NO_DOWNLOAD": "1", "PYTHONUNBUFFERED": "1"}
    # SIGINT as a terminal's Ctrl-C finds it: a background job of a non-interactive shell
    # (CI) starts with SIGINT ignored, which Python and its children would inherit.
    proc = subprocess.Popen([sys.executable, "-m", *args], cwd=ROOT, env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))
    deadline = time.monotonic() + 240
    seen = []
    for line in proc.stdout:  # Keras prints "Epoch N/12" (verbose 2: not a terminal)
        seen.append(line)
        if line.startswith("Epoch 3/") or time.monotonic() > deadline:
            break
    proc.send_signal(signal.SIGINT)
    out, err = proc.communicate(timeout=120)
    assert proc.returncode == 130, "".join(seen)[-1500:] + out[-1500:] + err[-2000:]
    last = err.strip().splitlines()[-1]
    m = re.fullmatch(r"interrupted in epoch (\d+); run the same command to resume "
                     r"\(--restart starts over\)", last)
    assert m and "Traceback" not in err, err[-2000:]
    assert not re.search(r"^I\d{4} ", err, re.M)  # no absl INFO lines
    stopped = int(m.group(1))
    r = _cli(*args)
    assert r.returncode == 0, r.stderr[-2000:]
    done = int(re.search(r"resuming the unfinished run in .* after epoch (\d+)", r.stdout)[1])
    assert done in (stopped - 1, stopped)
    history = json.loads((wd / "history.json").read_text())
    metrics = json.loads((wd / "metrics.json").read_text())
    assert len(history["loss"]) == len(history["examples_per_sec"]) == 12
    assert metrics["epochs_run"] == 12 and not (wd / "backup").exists()


if __name__ == "__main__":
    print(table())
