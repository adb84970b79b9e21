"""What every benchmark records beside its numbers (where and when they were measured), and
its `--override` of a config for a quick check."""

import json
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


def override_pairs(items):
    """`--override`'s "FIELD=VALUE" items as (field, value) pairs."""
    return [tuple(item.partition("=")[::2]) for item in items]


def apply_overrides(cfg, pairs):
    """Sets each (field, value) of `pairs` on the config `cfg`, a string value parsed as JSON
    where it parses ("1" is the int 1, "true" True, a path stays a string). Returns `cfg`."""
    for field, value in pairs:
        if isinstance(value, str):
            try:
                value = json.loads(value)
            except json.JSONDecodeError:
                pass
        setattr(cfg, field, value)
    return cfg
