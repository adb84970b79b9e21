"""What every benchmark records beside its numbers: where and when they were measured."""

import os
import sys
import time

from tfdl.report.env import cpu_model


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
