"""Shared fixtures: tiny synthetic WAVs and the real-data folder."""

import os
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
# Tests never download: a missing dataset is an error, not a network call.
os.environ["TFDL_NO_DOWNLOAD"] = "1"

import numpy as np  # noqa: E402
import pytest  # noqa: E402
import tensorflow as tf  # noqa: E402


def write_wav(path, audio, sample_rate):
    """Writes float audio (mono [n] or [n, channels]) as 16-bit PCM WAV."""
    audio = np.asarray(audio, np.float32)
    if audio.ndim == 1:
        audio = audio[:, None]
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    tf.io.write_file(str(path), tf.audio.encode_wav(audio, sample_rate))
    return Path(path)


def sine(freq, seconds, sample_rate, amplitude=0.5):
    t = np.arange(int(seconds * sample_rate)) / sample_rate
    return (amplitude * np.sin(2 * np.pi * freq * t)).astype(np.float32)


@pytest.fixture
def wav_factory(tmp_path):
    """Returns `make(name, audio, sample_rate)` writing WAVs into tmp_path."""

    def make(name, audio, sample_rate=8000):
        return write_wav(tmp_path / name, audio, sample_rate)

    return make


@pytest.fixture(scope="session")
def data_root():
    """The real-data folder ($TFDL_DATA_DIR, else ../shared/data); fails loudly if absent."""
    root = Path(os.environ.get("TFDL_DATA_DIR", Path(__file__).resolve().parents[2] /
                               "shared" / "data"))
    if not root.is_dir():
        pytest.fail(f"real data not found at {root}: set TFDL_DATA_DIR")
    return root


def load_app(name):
    """Imports `apps.<name>` (or `tuning.<name>`) with only its own absl flags defined.

    absl flags are process-global, and apps define flags with the same names
    (`--model`, `--workdir`, ...) but different choices and defaults. Each app
    runs alone in its own process; a test process imports several, so before
    importing one app this removes every other app module that defined flags,
    with its flags.
    Call it inside a test or fixture, never at module import (collection
    imports every test module before any test runs).
    """
    import importlib
    import sys

    from absl import flags

    target = name if "." in name else f"apps.{name}"
    by_module = flags.FLAGS.flags_by_module_dict()
    for mod in [m for m in sys.modules if m.startswith(("apps.", "tuning."))]:
        # Only modules that defined flags (at import) need unloading.
        owned = list(by_module.get(mod, []))  # A copy: deleting a flag edits absl's list.
        if not owned and mod != target:
            continue
        for flag in owned:
            if flag.name in flags.FLAGS:
                delattr(flags.FLAGS, flag.name)
        del sys.modules[mod]
    flags.FLAGS.unparse_flags()
    return importlib.import_module(target)
