r"""Backpropagation from scratch: a NumPy MLP next to the same network in Keras.

    python -m apps.backprop --data_dir=../shared/data          # the reference: 50 epochs
    python -m apps.backprop --config=short                     # 10 epochs on 2,000 images

784-100 sigmoid-50 ReLU-10 softmax with cross-entropy: the NumPy version
(`tfdl.vision.numpy_mlp`, float64, hand-written backprop, plain mini-batch SGD)
and a Keras twin start from the same weights and see the same batches; a
second twin trains with RMSprop; a finite-difference gradient check runs
first. `--help` lists the named configs; docs/vision.md describes the outputs.
"""

import tfdl  # noqa: F401  (quiet TensorFlow start-up; import before TF)
from absl import flags

from tfdl import cli
from tfdl.errors import InputError
from tfdl.vision import backprop
from tfdl.vision.configs import BACKPROP

FLAGS = flags.FLAGS
cli.define_flags(BACKPROP, workdir="runs/backprop", model=False,
                 data_help="MNIST IDX folder or its parent; else $TFDL_DATA_DIR/mnist.")


def main(argv):
    if argv[1:]:
        raise InputError(f"apps.backprop takes no arguments. Received: {' '.join(argv[1:])}")
    return backprop.run(cli.config(), FLAGS.workdir, FLAGS.data_dir, restart=FLAGS.restart)


if __name__ == "__main__":
    cli.run(main)
