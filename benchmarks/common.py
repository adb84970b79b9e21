"""What every benchmark records beside its numbers: where and when they were measured."""

import os
import platform
import sys
import time


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


def environment():
    """Load average, CPUs, CPU model, Python / TensorFlow / Keras versions and the time (UTC)."""
    versions = {"python": sys.version.split()[0]}
    for name in ("tensorflow", "keras"):
        module = sys.modules.get(name)
        if module is not None:
            versions[name] = module.__version__
    return {"loadavg": [round(v, 2) for v in os.getloadavg()], "cpus": os.cpu_count(),
            "cpu": cpu_model(), **versions,
            "time": time.strftime("%Y-%m-%d %H:%M:%S UTC", time.gmtime())}
