"""What a run's folder does not hold and its page shows: the command line and the machine.

`environment()` is the record a run keeps in `run.json` (and a benchmark may
keep beside its numbers): tfdl, Python, TensorFlow, Keras and NumPy versions,
the platform, the CPU model and cores, the GPUs TensorFlow sees, and
TensorFlow's thread settings.
"""

import os
import platform
import shlex
import sys


def cpu_model():
    """The CPU's model name (from /proc/cpuinfo on Linux), or the platform's processor."""
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def _gpus(tf):
    names = []
    for gpu in tf.config.list_physical_devices("GPU"):
        try:
            names.append(tf.config.experimental.get_device_details(gpu).get("device_name")
                         or gpu.name)
        except (RuntimeError, ValueError):
            names.append(gpu.name)
    return names


def environment():
    """The software and machine of this process, as a JSON-ready dict.

    TensorFlow's GPUs and threads are read only if TensorFlow is already
    imported (this never starts it). Thread settings of 0 mean TensorFlow's
    default (about one per core).
    """
    import numpy

    import tfdl

    env = {"tfdl": tfdl.__version__, "python": platform.python_version(),
           "numpy": numpy.__version__, "platform": platform.platform(), "cpu": cpu_model(),
           "cpu_cores": os.cpu_count()}
    if hasattr(os, "sched_getaffinity"):
        env["cpu_cores_usable"] = len(os.sched_getaffinity(0))
    tf = sys.modules.get("tensorflow")
    if tf is not None:
        env["tensorflow"] = tf.__version__
        env["gpus"] = _gpus(tf)
        env["threads_intra_op"] = tf.config.threading.get_intra_op_parallelism_threads()
        env["threads_inter_op"] = tf.config.threading.get_inter_op_parallelism_threads()
    keras = sys.modules.get("keras")
    if keras is not None:
        env["keras"] = keras.__version__
    return env


def command_line(module, argv=None):
    """The command that started this run, as a user types it: `python -m MODULE ARGS...`.

    Args:
        module: the program's module (`apps.digits`, `tuning.search`).
        argv: the program's arguments, program name first (default `sys.argv`).
    """
    argv = sys.argv if argv is None else argv
    return shlex.join(["python", "-m", module, *argv[1:]])

