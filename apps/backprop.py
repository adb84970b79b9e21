r"""Backpropagation from scratch: a NumPy MLP next to the same network in Keras.

    python -m apps.backprop --data_dir=../shared/data
    python -m apps.backprop --epochs=10 --train_size=2000

The network is 784-100 sigmoid-50 ReLU-10 softmax with cross-entropy. The
NumPy version (`tfdl.numpy_mlp`, float64, hand-written backprop, plain
mini-batch SGD) and a Keras twin start from the same weights and see the
same batches in the same order with the same learning rate, batch size and
epochs; a second Keras twin trains with RMSprop. A finite-difference gradient
check runs first.

The workdir (default `runs/backprop`) gets config.json, history.json (all
curves), backprop_sgd.png (NumPy vs Keras SGD losses), backprop_rmsprop.png
(NumPy SGD vs Keras RMSprop), backprop_accuracy.png, numpy_weights.npz,
TensorBoard scalars and, last, metrics.json (gradient-check error, the largest
per-epoch loss gap between NumPy and Keras, final values).
"""

import tfdl  # noqa: F401  (silences TensorFlow's start-up logs; import before TF)
from absl import flags

from tfdl import cli, studies

# A private FlagValues: several apps' flags (data_dir, epochs, ...) share one test process.
FLAGS = flags.FlagValues()
studies.define_config_flags(studies.BackpropConfig, FLAGS, {
    "data_dir": "MNIST IDX folder or its parent (default $TFDL_DATA_DIR/mnist).",
    **studies.DATA_FLAG_HELP,
    "seed": "Seed of the data split and subsets.",
    "epochs": "Epochs (same for NumPy and Keras).",
    "batch_size": "Mini-batch size (same for NumPy and Keras).",
    "learning_rate": "Plain SGD learning rate (NumPy and Keras SGD).",
    "rmsprop_learning_rate": "Keras RMSprop learning rate.",
    "init_seed": "Seed of the shared initial weights (Glorot uniform, zero biases).",
    "grad_check_examples": "Examples in the finite-difference gradient check.",
})
flags.DEFINE_string("workdir", "runs/backprop", "Output folder of the run.", flag_values=FLAGS)


def main(argv):
    if not FLAGS.is_parsed():
        FLAGS(argv)
    cfg = studies.config_from_flags(studies.BackpropConfig, FLAGS).validate()
    m = studies.run_backprop(cfg, FLAGS.workdir)
    f = m["final"]
    cli.summary("backprop from scratch", [
        ("data", m["data_source"]),
        ("gradient check", f"max relative error {m['gradient_check_max_relative_error']:.2e}"),
        ("NumPy vs Keras SGD", f"largest per-epoch training-loss gap "
                               f"{100 * m['max_relative_loss_gap_numpy_vs_keras_sgd']:.3f} %"),
        ("final train loss", f"NumPy {f['numpy']['loss']:.4f}, Keras SGD "
                             f"{f['keras_sgd']['loss']:.4f}, Keras RMSprop "
                             f"{f['keras_rmsprop']['loss']:.4f}"),
        ("final test accuracy", f"NumPy {f['numpy']['val_accuracy']:.4f}, Keras SGD "
                                f"{f['keras_sgd']['val_accuracy']:.4f}, Keras RMSprop "
                                f"{f['keras_rmsprop']['val_accuracy']:.4f}"),
        ("figures", f"{FLAGS.workdir}/backprop_{{sgd,rmsprop,accuracy}}.png"),
        ("metrics", f"{FLAGS.workdir}/metrics.json"),
        ("TensorBoard", f"tensorboard --logdir {FLAGS.workdir}/tensorboard"),
    ])


if __name__ == "__main__":
    cli.run(main, FLAGS)
