"""`--distribute=none|mirrored|multi_worker`: pick a tf.distribute strategy.

`multi_worker` reads the cluster from `TF_CONFIG` (see README, "Distributed
training"); create the strategy before any other TensorFlow op runs.
"""

import json
import os

import tensorflow as tf

from tfdl.errors import InputError

STRATEGIES = ("none", "mirrored", "multi_worker")


def get_strategy(name="none"):
    """Returns the strategy for `name` (the default strategy for "none").

    Raises:
        InputError: unknown name, or `multi_worker` without a usable TF_CONFIG.
    """
    if name == "none":
        return tf.distribute.get_strategy()
    if name == "mirrored":
        return tf.distribute.MirroredStrategy()
    if name == "multi_worker":
        raw = os.environ.get("TF_CONFIG")
        if not raw:
            raise InputError("--distribute=multi_worker needs TF_CONFIG (cluster and task) "
                             "in the environment")
        try:
            cfg = json.loads(raw)
            cfg["cluster"]["worker"], cfg["task"]["index"]
        except (ValueError, KeyError, TypeError) as e:
            raise InputError(f"TF_CONFIG is not a valid cluster spec ({e}). Received: "
                             f"TF_CONFIG={raw}") from None
        return tf.distribute.MultiWorkerMirroredStrategy()
    raise InputError(f"--distribute must be one of {', '.join(STRATEGIES)}. "
                     f"Received: --distribute={name}")


def is_chief():
    """True unless TF_CONFIG names this process as a non-zero worker (only the chief writes files)."""
    raw = os.environ.get("TF_CONFIG")
    if not raw:
        return True
    task = json.loads(raw).get("task", {})
    return task.get("type", "worker") == "chief" or (task.get("type") == "worker" and
                                                      int(task.get("index", 0)) == 0)
