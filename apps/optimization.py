r"""Optimisation and dropout studies on MNIST (the reference's "Adult Optimization" figures).

    python -m apps.optimization --data_dir=../shared/data      # the default: both, 5 epochs
    python -m apps.optimization --config=best                  # both at the reference's 20 epochs
    python -m apps.optimization --config=optimization --config.epochs=10

`optimization`: a 5 x 512 MLP in five set-ups (sigmoid / ReLU x N(0, 0.01) /
Xavier / He), plain SGD (lr 1.0) and Adam: training-loss curves. `dropout`: a
5 x 1024 MLP, sigmoid + Xavier and ReLU + He, with and without dropout, Adam:
train and test curves. `--help` lists the named configs; docs/vision.md
describes the figures.
"""

import tfdl  # noqa: F401  (quiet TensorFlow start-up; import before TF)
from absl import flags

from tfdl import cli
from tfdl.errors import InputError
from tfdl.vision import studies
from tfdl.vision.configs import OPTIMIZATION

FLAGS = flags.FLAGS
cli.define_flags(OPTIMIZATION, workdir="runs/optimization", model=False,
                 data_help="MNIST IDX folder or its parent; else $TFDL_DATA_DIR/mnist.")


def main(argv):
    if argv[1:]:
        raise InputError(f"apps.optimization takes no arguments. Received: {' '.join(argv[1:])}")
    return studies.run(cli.config(), FLAGS.workdir, FLAGS.data_dir, restart=FLAGS.restart)


if __name__ == "__main__":
    cli.run(main)
