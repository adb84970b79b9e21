"""Compile and fit with the suite's standard callbacks, and log to TensorBoard.

`fit` gives every app the same run layout inside a `Workdir`: TensorBoard
logs, the best checkpoint, `BackupAndRestore` (a killed run resumes from its
last finished epoch), early stopping, examples/sec, and `history.json` (the
callbacks are in `tfdl.callbacks`). Also here: the optimizers by name
(`make_optimizer`, the fused `FusedAdam`), steps per execution, and
micro-batches across CPU cores (`use_microbatches`, `cpu_threads`).
"""

import os
import time
import types

import keras
import numpy as np
import tensorflow as tf

from tfdl.callbacks import PROGRESS, Throughput, resumed_history
from tfdl.callbacks import standard as standard_callbacks
from tfdl.errors import TrainingDiverged

OPTIMIZERS = ("sgd", "momentum", "adam", "nadam", "rmsprop", "adamw")
SCHEDULES = ("constant", "cosine", "exponential")


def make_optimizer(name="adam", learning_rate=1e-3, schedule="constant", decay_steps=None,
                   momentum=0.9, weight_decay=None, clipnorm=None):
    """Builds a Keras optimizer by name.

    Args:
        name: one of `OPTIMIZERS` ("momentum" is SGD with `momentum`).
        learning_rate: initial learning rate (> 0).
        schedule: "constant", "cosine" (decay to 0 over `decay_steps`) or
            "exponential" (x0.1 over `decay_steps`).
        decay_steps: total training steps for the schedules.
        momentum: momentum of "momentum".
        weight_decay: decoupled weight decay (adamw, or any optimizer that takes it).
        clipnorm: gradient norm clipping.

    Returns:
        A `keras.optimizers.Optimizer`.
    """
    if name not in OPTIMIZERS:
        raise ValueError(f"optimizer must be one of {OPTIMIZERS}. Received: optimizer={name!r}")
    if schedule not in SCHEDULES:
        raise ValueError(f"schedule must be one of {SCHEDULES}. Received: schedule={schedule!r}")
    if not learning_rate or learning_rate <= 0:
        raise ValueError(f"learning_rate must be positive. Received: "
                         f"learning_rate={learning_rate}")
    lr = learning_rate
    if schedule != "constant":
        if not decay_steps or decay_steps <= 0:
            raise ValueError(f"schedule={schedule!r} needs decay_steps > 0. Received: "
                             f"decay_steps={decay_steps}")
        if schedule == "cosine":
            lr = keras.optimizers.schedules.CosineDecay(learning_rate, int(decay_steps))
        else:
            lr = keras.optimizers.schedules.ExponentialDecay(learning_rate, int(decay_steps), 0.1)
    kw = {"learning_rate": lr}
    if clipnorm:
        kw["clipnorm"] = clipnorm
    if weight_decay and name != "adamw":
        kw["weight_decay"] = weight_decay
    if name == "sgd":
        return keras.optimizers.SGD(**kw)
    if name == "momentum":
        return keras.optimizers.SGD(momentum=momentum, nesterov=False, **kw)
    if name == "adam":
        return FusedAdam(**kw)
    if name == "nadam":
        return keras.optimizers.Nadam(**kw)
    if name == "rmsprop":
        return keras.optimizers.RMSprop(**kw)
    return keras.optimizers.AdamW(weight_decay=weight_decay or 1e-4, **kw)


# Training steps per `tf.function` call in `compile(steps_per_execution=...)`: the steps run
# in a graph loop, so Keras' Python work per step (callbacks, iterator, dispatch) is paid
# once per 16 steps. Callbacks then see every 16th batch (epoch-level ones are unaffected;
# `Throughput` counts the steps from the batch index).
STEPS_PER_EXECUTION = 16


def steps_per_execution(steps_per_epoch):
    """`STEPS_PER_EXECUTION`, but never more than an epoch's steps (Keras' progress bar would
    count past its total: "16/2"), and 1 under a tf.distribute strategy."""
    if tf.distribute.has_strategy():
        return 1
    return max(1, min(STEPS_PER_EXECUTION, int(steps_per_epoch)))


def cpu_threads(cores=None, microbatches=1):
    """TensorFlow's thread pools for `use_microbatches(model, microbatches)` on `cores` cores.

    With micro-batches, each of the `microbatches` parallel branches gets its
    own inter-op thread and `cores // microbatches` intra-op threads: on this
    2-core CPU one each, so the two branches run side by side instead of
    splitting every small op across both cores. Thread pools can only be set
    before TensorFlow's runtime starts; afterwards this changes nothing.

    Returns:
        (inter_op, intra_op) thread counts, or None if the runtime had started.
    """
    cores = cores or os.cpu_count() or 1
    k = max(1, min(int(microbatches), cores))
    inter, intra = (cores, cores) if k == 1 else (k, max(1, cores // k))
    try:
        tf.config.threading.set_inter_op_parallelism_threads(inter)
        tf.config.threading.set_intra_op_parallelism_threads(intra)
    except RuntimeError:  # "... cannot be modified after initialization"
        return None
    return inter, intra


def use_microbatches(model, microbatches):
    """Data parallelism across CPU cores inside each training step of `model.fit`.

    Each batch is cut into `microbatches` parts (sizes differ by at most one)
    whose forward and backward passes are independent branches of the step's
    graph, so TensorFlow's inter-op threads (`cpu_threads`) run them at the
    same time; the step applies the gradient of the whole batch's mean loss,
    as `tf.distribute` replicas over `microbatches` devices would. Batch-norm
    statistics are per part (each part updates the moving statistics once),
    as with unsynchronised replicas. A batch smaller than `microbatches` is
    one part. Whether it pays depends on the CPU: `tfdl.speed` times it per
    machine (on a 2-core AMD EPYC with oneDNN, 2 parts trained the digits'
    `batchnorm` and `mfcc` nets 27-28 % faster than whole batches of 32;
    docs/performance.md).

    Args:
        model: a Keras model (compile it before or after).
        microbatches: parts per batch; 1 restores Keras' own `train_step`.

    Returns:
        `model`.
    """
    if int(microbatches) != microbatches or microbatches < 1:
        raise ValueError(f"microbatches must be a positive integer. Received: "
                         f"microbatches={microbatches}")
    if microbatches == 1:
        model.__dict__.pop("train_step", None)
        return model
    if tf.distribute.has_strategy():
        raise ValueError("use_microbatches does not combine with a tf.distribute strategy "
                         "(its replicas already split the batch)")
    model._tfdl_microbatches = int(microbatches)
    model.train_step = types.MethodType(_microbatch_train_step, model)
    return model


def steady_input(ds):
    """`ds` without tf.data's autotuning, for `use_microbatches` training sets.

    Measured: with autotuning on, the `mfcc` net's parallel micro-batches ran
    at half speed in about half the epochs (each epoch's new iterator starts
    the tuner; the two branches then took turns instead of running side by
    side), e.g. 7,400 vs 12,500 examples/sec; without it every epoch ran at
    the fast rate.
    """
    options = tf.data.Options()
    options.autotune.enabled = False
    return ds.with_options(options)


def _microbatch_train_step(self, data):
    """`use_microbatches`' replacement of Keras' `TensorFlowTrainer.train_step`."""
    x, y, sample_weight = keras.utils.unpack_x_y_sample_weight(data)
    parts = self._tfdl_microbatches
    batch = tf.shape(tf.nest.flatten(x)[0])[0]
    weights = self.trainable_weights

    def branch(xs, ys, ws, fraction):
        with tf.GradientTape() as tape:
            y_pred = self(xs, training=True)
            loss = self._compute_loss(x=xs, y=ys, y_pred=y_pred, sample_weight=ws,
                                      training=True) * fraction
            scaled = self.optimizer.scale_loss(loss)
        grads = tape.gradient(scaled, weights)
        return [tf.zeros_like(w) if g is None else g for g, w in zip(grads, weights)], loss, y_pred

    def split():
        base = batch // parts
        sizes = tf.stack([batch - base * (parts - 1)] + [base] * (parts - 1))

        def cut(structure):  # one split per tensor -> `parts` structures
            flat = [None if t is None else tf.split(t, sizes, num=parts)
                    for t in tf.nest.flatten(structure)]
            return [tf.nest.pack_sequence_as(structure,
                                             [None if f is None else f[i] for f in flat])
                    for i in range(parts)]

        outs = [branch(xs, ys, ws, tf.cast(n, tf.float32) / tf.cast(batch, tf.float32))
                for xs, ys, ws, n in zip(cut(x), cut(y), cut(sample_weight),
                                         tf.unstack(sizes))]
        grads = [tf.add_n(list(g)) for g in zip(*[o[0] for o in outs])]
        y_pred = tf.nest.map_structure(lambda *p: tf.concat(p, 0), *[o[2] for o in outs])
        return grads, tf.add_n([o[1] for o in outs]), y_pred

    grads, loss, y_pred = tf.cond(batch >= parts, split,
                                  lambda: branch(x, y, sample_weight, 1.0))
    self._loss_tracker.update_state(loss, sample_weight=batch)
    if weights:
        self.optimizer.apply_gradients(zip(grads, weights))
    return self.compute_metrics(x, y, y_pred, sample_weight=sample_weight)


@keras.saving.register_keras_serializable(package="tfdl")
class FusedAdam(keras.optimizers.Adam):
    """`keras.optimizers.Adam` whose per-variable update is TensorFlow's fused
    `ResourceApplyAdam` kernel: the same update (to float rounding), one op per
    variable instead of about twenty, which matters for small models on a CPU
    where the optimizer's op count rivals the model's (a training step of the
    digits' `mfcc` net 20 % faster, `batchnorm` 4 %; docs/performance.md). Falls back to Keras'
    update for amsgrad, sparse gradients and under a distribution strategy.
    """

    def _backend_update_step(self, grads, trainable_variables, learning_rate):
        variables = [v.value if isinstance(v, keras.Variable) else v
                     for v in trainable_variables]
        if (self.amsgrad or tf.distribute.has_strategy()
                or any(isinstance(g, tf.IndexedSlices) for g in grads)
                or any(v.dtype != tf.float32 for v in variables)):
            return super()._backend_update_step(grads, trainable_variables, learning_rate)
        # The step-dependent scalars once per step, not once per variable.
        step = tf.cast(self.iterations + 1, tf.float32)
        beta_1, beta_2 = tf.cast(self.beta_1, tf.float32), tf.cast(self.beta_2, tf.float32)
        scalars = dict(beta1_power=tf.pow(beta_1, step), beta2_power=tf.pow(beta_2, step),
                       lr=tf.cast(learning_rate, tf.float32), beta1=beta_1, beta2=beta_2,
                       epsilon=tf.cast(self.epsilon, tf.float32))
        for grad, var in zip(grads, variables):
            index = self._get_variable_index(var)
            tf.raw_ops.ResourceApplyAdam(
                var=var.handle, m=self._momentums[index].value.handle,
                v=self._velocities[index].value.handle, grad=grad, use_locking=False,
                **scalars)


def fit(model, train_ds, val_ds=None, *, workdir, epochs, batch_size, monitor="val_accuracy",
        mode="max", patience=None, examples_per_epoch=None, steps_per_epoch=None,
        callbacks=(), monitors=(), backup=True, verbose="auto"):
    """Fits a compiled model with checkpoints, backup/restore, TensorBoard and throughput.

    After training the model holds the best weights seen on `monitor` (or the
    last ones without validation data). A run killed or interrupted after some
    epochs resumes from its last finished epoch when `fit` is called again on
    the same workdir (`BackupAndRestore`; `tfdl.workdir.Workdir.write_config`
    refuses a resume under another config): the returned history, the best
    checkpoint and early stopping then cover every epoch, as if uninterrupted.

    Args:
        model: a compiled Keras model.
        train_ds, val_ds: batched `tf.data.Dataset`s (`val_ds` may be None).
        workdir: a `tfdl.workdir.Workdir`.
        epochs: maximum epochs (> 0).
        batch_size: examples per batch (for examples/sec).
        monitor, mode: quantity for best checkpoint and early stopping.
        patience: early-stopping patience in epochs, or None for none.
        examples_per_epoch: exact examples per epoch, for throughput.
        steps_per_epoch: cap on steps per epoch (smoke runs).
        callbacks: extra Keras callbacks.
        monitors: callbacks that put `monitor` (or another quantity) in the
            epoch's logs, run before the best checkpoint reads them.
        backup: use `BackupAndRestore` in `workdir/backup`.
        verbose: Keras `fit` verbosity.

    Returns:
        dict: the Keras history (per-epoch lists, every epoch) plus
        `examples_per_sec` per epoch, `steady_examples_per_sec` (median) and
        `train_seconds`; also written to `history.json`.
    """
    from tfdl.workdir import STAMP, write_json

    if not isinstance(epochs, int) or epochs <= 0:
        raise ValueError(f"epochs must be a positive integer. Received: epochs={epochs}")
    if val_ds is None and monitor.startswith("val_"):
        monitor = monitor[4:]
    previous = resumed_history(workdir.backup) if backup else {}
    if previous.get("loss"):
        print(f"resuming the unfinished run in {workdir.root} after epoch "
              f"{len(previous['loss'])}")
    if backup:
        workdir.backup.mkdir(parents=True, exist_ok=True)
        write_json(workdir.backup / STAMP, workdir.config())
    speed = Throughput(batch_size, examples_per_epoch)
    cbs = standard_callbacks(workdir, previous, speed, monitor=monitor, mode=mode,
                             patience=patience, backup=backup,
                             monitors=monitors) + list(callbacks)
    t0 = time.perf_counter()
    hist = model.fit(train_ds, validation_data=val_ds, epochs=epochs, callbacks=cbs,
                     steps_per_epoch=steps_per_epoch, verbose=verbose,
                     shuffle=False)  # tf.data pipelines shuffle themselves.
    seconds = time.perf_counter() - t0 + sum(previous.get("epoch_seconds", []))
    PROGRESS["epoch"] = None
    return _finish(model, workdir, hist.history, previous, speed, seconds)


def _finish(model, workdir, keras_history, previous, speed, seconds):
    """`fit`'s end: the whole run's history (resumed epochs first), checked finite and
    written to `history.json`; the model gets the best checkpoint's weights."""
    history = {k: list(previous.get(k, [])) + [float(v) for v in vals]
               for k, vals in keras_history.items()}
    _check_finite(history)
    if workdir.checkpoint.exists():
        model.load_weights(str(workdir.checkpoint))
    history["examples_per_sec"] = list(previous.get("examples_per_sec", [])) + speed.per_epoch
    out = dict(history)
    speed.per_epoch = history["examples_per_sec"]
    out["steady_examples_per_sec"] = speed.steady
    out["train_seconds"] = seconds
    workdir.write_json("history.json", out)
    return out


def _check_finite(history):
    """Raises `TrainingDiverged` if any epoch's loss is NaN or infinite."""
    for key in ("loss", "val_loss"):
        for epoch, value in enumerate(history.get(key, ()), start=1):
            if not np.isfinite(value):
                raise TrainingDiverged(
                    f"training diverged: {key} is {value} in epoch {epoch}; try a lower "
                    f"--learning_rate (nothing was written as a finished run)")


def log_hparams(workdir, hparams, metrics):
    """Writes one HParams-dashboard session (hyperparameters and final metrics) to TensorBoard."""
    from tensorboard.plugins.hparams import api as hp

    clean = {k: (v if isinstance(v, (bool, int, float, str)) else str(v))
             for k, v in hparams.items()}
    writer = tf.summary.create_file_writer(str(workdir.tensorboard / "hparams"))
    with writer.as_default():
        hp.hparams(clean)
        for k, v in metrics.items():
            tf.summary.scalar(k, float(v), step=0)
    writer.flush()


def log_image(workdir, tag, png_path, step=0):
    """Adds a PNG figure (e.g. the confusion matrix) to TensorBoard's Images tab."""
    image = tf.image.decode_png(tf.io.read_file(str(png_path)), channels=4)
    writer = tf.summary.create_file_writer(str(workdir.tensorboard / "images"))
    with writer.as_default():
        tf.summary.image(tag, image[None], step=step)
    writer.flush()
