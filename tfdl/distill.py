"""Knowledge distillation (Hinton, Vinyals and Dean 2015): the loss, its targets and metric.

A student learns the usual labels and a teacher's probabilities softened at a
temperature T:

    (1 - w) * CE(label, p_s) + w * T^2 * KL(softmax(log p_t / T) || softmax(log p_s / T))

The targets travel through tf.data as one float row per example: the one-hot
label, then the teacher's probabilities (`targets`), so any Keras `fit` and any
input pipeline carry them; the number of classes is half the row. Used by the
digits (`tfdl.digits.distill`) and keyword (`tfdl.keywords.distill`) students.

Ours (a loss over Keras' softmax outputs): Keras ships no distillation loss.
"""

import numpy as np

_EPS = 1e-7


def soften(probs, temperature):
    """`probs` [..., classes] raised to 1/T and renormalised: softmax(log p / T)."""
    import tensorflow as tf

    logits = tf.math.log(tf.clip_by_value(probs, _EPS, 1.0)) / temperature
    return tf.nn.softmax(logits, axis=-1)


def targets(labels, teacher_probs):
    """Training targets [n, 2 * classes]: the one-hot label, then the teacher's probabilities
    ([n, classes])."""
    teacher_probs = np.asarray(teacher_probs, np.float32)
    onehot = np.eye(teacher_probs.shape[-1], dtype=np.float32)[np.asarray(labels)]
    return np.concatenate([onehot, teacher_probs], axis=1)


def _halves(y_true):
    classes = y_true.shape[-1] // 2
    return y_true[..., :classes], y_true[..., classes:]


def loss(temperature, weight):
    """The distillation loss over `targets` rows and the student's softmax output.

    Args:
        temperature: T (1: the teacher's probabilities as they are).
        weight: w, the share of the soft term (0: plain cross-entropy).
    """
    import keras
    import tensorflow as tf

    class Distillation(keras.losses.Loss):
        def call(self, y_true, y_pred):
            hard, soft = _halves(y_true)
            p = tf.clip_by_value(y_pred, _EPS, 1.0)
            ce = -tf.reduce_sum(hard * tf.math.log(p), axis=-1)
            t, s = soften(soft, temperature), soften(p, temperature)
            kl = tf.reduce_sum(t * (tf.math.log(tf.clip_by_value(t, _EPS, 1.0))
                                    - tf.math.log(tf.clip_by_value(s, _EPS, 1.0))), axis=-1)
            return (1.0 - weight) * ce + weight * temperature ** 2 * kl

    return Distillation(name="distillation")


def accuracy():
    """Accuracy on the label (the targets' one-hot half), logged as `accuracy`."""
    import keras
    import tensorflow as tf

    def hard_accuracy(y_true, y_pred):
        truth = tf.argmax(_halves(y_true)[0], axis=-1)
        return tf.cast(tf.equal(truth, tf.argmax(y_pred, axis=-1)), tf.float32)

    return keras.metrics.MeanMetricWrapper(hard_accuracy, name="accuracy")
