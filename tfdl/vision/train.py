"""What the MNIST and notMNIST runs share: fit a classifier, score it, export it.

Image models take raw pixels, float32 [batch, 28, 28] in 0..255, and the
SavedModels export exactly that signature (`IMAGE_SPEC`): a client sends
`uint8_image.astype("float32")`.
"""

import math

import numpy as np
import tensorflow as tf

from tfdl import export, metrics, plots
from tfdl import train as training
from tfdl.vision import data as vision_data

IMAGE_SPEC = [tf.TensorSpec([None, 28, 28], tf.float32, name="pixels")]


def compile_classifier(model, optimizer, learning_rate, schedule="constant", decay_steps=None):
    """Compiles `model` for integer labels (sparse cross-entropy, accuracy). Returns it."""
    model.compile(optimizer=training.make_optimizer(optimizer, learning_rate, schedule,
                                                    decay_steps),
                  loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    return model


def fit_classifier(model, cfg, optimizer, train_xy, val_xy, workdir, seed, verbose="auto"):
    """Compiles and trains `model` as `cfg` says; the model ends on its best weights.

    Args:
        model: an uncompiled classifier of raw pixels.
        cfg: an `MNISTConfig` or `NotMNISTConfig` (learning_rate, schedule,
            epochs, batch_size, patience, steps_per_epoch).
        optimizer: the optimiser's name.
        train_xy, val_xy: (images, labels) of the training and validation splits.
        workdir: a `tfdl.workdir.Workdir` (checkpoint, TensorBoard, history.json).
        seed: the shuffling seed.
        verbose: Keras' `fit` verbosity.

    Returns:
        The history dict of `tfdl.train.fit`.
    """
    n = len(train_xy[1])
    steps = math.ceil(n / cfg.batch_size)
    if cfg.steps_per_epoch:
        steps = min(steps, cfg.steps_per_epoch)
    compile_classifier(model, optimizer, cfg.learning_rate, cfg.schedule, cfg.epochs * steps)
    tds, vds = vision_data.datasets(train_xy, val_xy, cfg.batch_size, seed)
    return training.fit(model, tds, vds, workdir=workdir, epochs=cfg.epochs,
                        batch_size=cfg.batch_size, patience=cfg.patience or None,
                        steps_per_epoch=cfg.steps_per_epoch or None, examples_per_epoch=n,
                        verbose=verbose)


def evaluate(model, data, workdir, title):
    """Scores `model` on the test split and draws confusion_matrix.png.

    Returns:
        (test probabilities [n, classes], `tfdl.metrics.classification_report`).
    """
    probs = model.predict(data.x_test.astype(np.float32), batch_size=512, verbose=0)
    report = metrics.classification_report(data.y_test, probs.argmax(1), data.labels)
    png = plots.confusion_matrix(report["confusion_matrix"], data.labels,
                                 workdir.path("confusion_matrix.png"),
                                 f"{title}: test accuracy {report['accuracy']:.4f}")
    training.log_image(workdir, "confusion_matrix", png)
    return probs, report


def export_and_check(model, workdir, labels, x_check, task):
    """Exports the SavedModel (raw-pixel input) and reloads it.

    Returns:
        The largest |probability| difference between the reloaded export and
        `model` on `x_check`.
    """
    export.export_classifier(model, workdir.export, labels, input_signature=IMAGE_SPEC,
                             metadata={"task": task})
    loaded = export.load(workdir.export)
    served = loaded.serve(tf.constant(x_check, tf.float32))["probabilities"].numpy()
    direct = model.predict(x_check, verbose=0)
    return float(np.max(np.abs(served - direct)))
