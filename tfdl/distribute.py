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
        return _keras_compatible(tf.distribute.MultiWorkerMirroredStrategy())
    raise InputError(f"--distribute must be one of {', '.join(STRATEGIES)}. "
                     f"Received: --distribute={name}")


def _keras_compatible(strategy):
    """Works around two Keras 3 bugs in `fit` under MultiWorkerMirroredStrategy.

    1. Before training, Keras builds the model on one batch it gets with
       `strategy.reduce("MEAN", (x, y, ...), axis=None)`, which this strategy
       cannot do eagerly for a nested structure ("Attempt to convert a value
       (PerReplica...) to a Tensor"): that call falls back to this worker's own
       batch (Keras only needs its shapes).
    2. Keras averages per-replica scalar metrics with `reduce("MEAN", v,
       axis=0)`, which fails on a scalar ("Invalid reduction dimension 0"):
       scalars are reduced with `axis=None` (the mean across replicas).

    The first fails before any collective op is issued, identically on every
    worker; the second is recognised by the value's rank. Every other reduce is
    untouched.
    """
    reduce = strategy.reduce

    def patched(reduce_op, value, axis=None):
        if axis is not None:
            first = strategy.experimental_local_results(value)[0]
            if getattr(first, "shape", None) is not None and first.shape.rank == 0:
                axis = None
        try:
            return reduce(reduce_op, value, axis=axis)
        except (ValueError, TypeError):
            if axis is not None or not isinstance(value, (tuple, list)):
                raise
            return tf.nest.map_structure(
                lambda v: (strategy.experimental_local_results(v)[0]
                           if isinstance(v, tf.distribute.DistributedValues) else v), value)

    strategy.reduce = patched
    return strategy


def is_chief():
    """True unless TF_CONFIG names this process as a non-zero worker (only the chief writes files)."""
    raw = os.environ.get("TF_CONFIG")
    if not raw:
        return True
    task = json.loads(raw).get("task", {})
    return task.get("type", "worker") == "chief" or (task.get("type") == "worker" and
                                                      int(task.get("index", 0)) == 0)
