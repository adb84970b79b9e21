"""The callbacks `tfdl.train.fit` adds to every run, and the history a resumed run starts from.

`standard` builds them: `Throughput` (examples/sec), the epoch tracker behind
`PROGRESS` (which also stops at the next batch after a Ctrl-C), the best
checkpoint, TensorBoard, and, for a run that can resume, the epoch log and
`BackupAndRestore`; `resumed_history` reads back the epochs a killed run
finished, so the history, the best checkpoint and early stopping carry on as if
uninterrupted.
"""

import json
import time

import keras
import numpy as np


class Throughput(keras.callbacks.Callback):
    """Measures training examples/sec per epoch (training steps only, not validation).

    Args:
        batch_size: examples per step.
        examples_per_epoch: exact count for the epoch (handles a short last batch).
    """

    def __init__(self, batch_size, examples_per_epoch=None):
        super().__init__()
        self.batch_size = batch_size
        self.examples_per_epoch = examples_per_epoch
        self.per_epoch = []

    def on_epoch_begin(self, epoch, logs=None):
        self._steps, self._time, self._t0 = 0, 0.0, None

    def on_train_batch_begin(self, batch, logs=None):
        self._t0 = time.perf_counter()

    def on_train_batch_end(self, batch, logs=None):
        self._time += time.perf_counter() - self._t0
        # `batch` is the index of the last step run (several with steps_per_execution > 1).
        self._steps = batch + 1

    def on_epoch_end(self, epoch, logs=None):
        n = self._steps * self.batch_size
        if self.examples_per_epoch:
            n = min(n, self.examples_per_epoch)
        rate = n / self._time if self._time else 0.0
        self.per_epoch.append(rate)
        if logs is not None:
            logs["examples_per_sec"] = rate

    @property
    def steady(self):
        """Median examples/sec over epochs after the first (which includes tracing)."""
        rates = self.per_epoch[1:] or self.per_epoch
        return float(np.median(rates)) if rates else 0.0


# The epoch (1-based) running now, for an interrupted run's message, and whether Ctrl-C
# was pressed (`tfdl.cli.run` sets it).
PROGRESS = {"epoch": None, "interrupted": False}


class _Progress(keras.callbacks.Callback):
    """Tracks the epoch, and raises `KeyboardInterrupt` at the next batch after a Ctrl-C
    whose exception TensorFlow's C++ code swallowed (seen in 2 of 7 runs of
    tests/test_reliability.py::test_ctrl_c_then_the_same_command before this check)."""

    def on_epoch_begin(self, epoch, logs=None):
        PROGRESS["epoch"] = epoch + 1
        self._check()

    def on_train_batch_end(self, batch, logs=None):
        self._check()

    def on_epoch_end(self, epoch, logs=None):
        self._check()

    @staticmethod
    def _check():
        if PROGRESS["interrupted"]:
            raise KeyboardInterrupt


class _EpochLog(keras.callbacks.Callback):
    """Keeps every finished epoch's logs in `<backup>/history.json`, before
    `BackupAndRestore` saves that epoch, so a resumed run's history covers every epoch.

    Args:
        path: the JSON file.
        previous: the history of the epochs already run (resumed), or {}.
        speed: the run's `Throughput` (its examples/sec per epoch join the log).
    """

    def __init__(self, path, previous, speed):
        super().__init__()
        self.path, self.history, self.speed = path, previous, speed

    def on_epoch_begin(self, epoch, logs=None):
        self._t0 = time.perf_counter()

    def on_epoch_end(self, epoch, logs=None):
        from tfdl.workdir import write_json

        if not all(np.isfinite(float(v)) for v in (logs or {}).values()):
            return  # diverged: `fit` raises TrainingDiverged, nothing resumes from here
        for k, v in (logs or {}).items():
            self.history.setdefault(k, []).append(float(v))
        self.history.setdefault("examples_per_sec", []).append(self.speed.per_epoch[-1])
        self.history.setdefault("epoch_seconds", []).append(time.perf_counter() - self._t0)
        write_json(self.path, self.history)


class _ResumedEarlyStopping(keras.callbacks.EarlyStopping):
    """`EarlyStopping` that starts from the best value and wait count of the epochs a
    resumed run already trained, so it stops where an uninterrupted run would."""

    def __init__(self, previous, **kwargs):
        super().__init__(**kwargs)
        self.previous = previous.get(self.monitor, [])

    def on_train_begin(self, logs=None):
        super().on_train_begin(logs)
        if self.previous and self.monitor_op is None:
            self._set_monitor_op()  # Keras sets it at the first epoch's end; `mode` is given
        for value in self.previous:
            if self.best is None or self._is_improvement(value, self.best):
                self.best, self.wait = value, 0
            else:
                self.wait += 1


def resumed_history(backup_dir):
    """The history of the epochs a backup in `backup_dir` holds ({} if none): our epoch
    log, cut to the epochs Keras' `BackupAndRestore` saved (a kill between the two writes
    leaves one more in ours; that epoch is trained again)."""
    meta, log = backup_dir / "training_metadata.json", backup_dir / "history.json"
    if not (meta.is_file() and log.is_file()):
        return {}
    done = int(json.loads(meta.read_text())["epoch"])
    return {k: v[:done] for k, v in json.loads(log.read_text()).items()}


def _best(values, mode):
    return (max if mode == "max" else min)(values) if values else None


def standard(workdir, previous, speed, *, monitor, mode, patience, backup, monitors=()):
    """The callbacks of a `tfdl.train.fit` run, in the order they run.

    Args:
        workdir: the run's `tfdl.workdir.Workdir`.
        previous: `resumed_history(workdir.backup)`, or {} for a fresh run.
        speed: the run's `Throughput` (first in the list).
        monitor, mode: quantity for the best checkpoint and early stopping.
        patience: early-stopping patience in epochs, or None for none.
        backup: add the epoch log and `BackupAndRestore` in `workdir.backup`
            (the folder must exist).
        monitors: callbacks that put a quantity (e.g. `monitor`) in the epoch's
            logs: they run before the checkpoint, after the throughput clock.

    Returns:
        A list of Keras callbacks.
    """
    cbs = [speed, _Progress(), keras.callbacks.TerminateOnNaN(), *monitors,
           keras.callbacks.ModelCheckpoint(
               str(workdir.checkpoint), monitor=monitor, mode=mode, save_best_only=True,
               save_weights_only=True,
               initial_value_threshold=_best(previous.get(monitor), mode)),
           keras.callbacks.TensorBoard(str(workdir.tensorboard), histogram_freq=0,
                                       write_graph=False, profile_batch=0)]
    if backup:
        log = {k: list(v) for k, v in previous.items()}  # a copy: `previous` stays as it was
        cbs += [_EpochLog(workdir.backup / "history.json", log, speed),
                keras.callbacks.BackupAndRestore(str(workdir.backup))]
    if patience:
        cbs.append(_ResumedEarlyStopping(previous, monitor=monitor, mode=mode,
                                         patience=patience))
    return cbs
