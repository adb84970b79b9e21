"""tfdl: TensorFlow/Keras reference apps for classic deep-learning tasks on audio and images.

Importing `tfdl` before TensorFlow keeps TensorFlow's start-up noise (oneDNN,
CUDA, TensorRT messages) away from the user: `TF_CPP_MIN_LOG_LEVEL` defaults to
3. TensorFlow 2.17+ writes some of that noise from C++ before its logging is
set up, ignoring the variable, so TensorFlow is imported here with the
process's stderr pointed at /dev/null for the import alone (errors still raise
as usual). Set `TF_CPP_MIN_LOG_LEVEL=0` to see every message again.

Before that import, `TF_ENABLE_ONEDNN_OPTS` is set from this machine's measured
choice (`tfdl.speed`), unless it is set already.
"""

import os as _os
import sys as _sys

__version__ = "0.2.0"


def _import_tensorflow_quietly():
    level = _os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    if level == "0" or "tensorflow" in _sys.modules:
        return
    try:
        _sys.stderr.flush()
        saved, devnull = _os.dup(2), _os.open(_os.devnull, _os.O_WRONLY)
    except OSError:  # No usable fd 2 (an embedded interpreter): import as usual.
        return
    try:
        _os.dup2(devnull, 2)
        import tensorflow  # noqa: F401
    finally:
        _os.dup2(saved, 2)
        _os.close(saved)
        _os.close(devnull)


def _apply_cpu_settings():
    """This machine's measured oneDNN choice (`tfdl.speed`), before TensorFlow starts."""
    if "tensorflow" not in _sys.modules:
        from tfdl import speed

        speed.apply_cached_onednn()


_apply_cpu_settings()
_import_tensorflow_quietly()
