r"""MNIST: a fully connected net, its top-image grids and embeddings, an export.

    python -m apps.mnist --data_dir=../shared/data             # the default config (5 x 1024)
    python -m apps.mnist --config=quick                        # 3 x 512, no t-SNE
    python -m apps.mnist --config.width=512 --config.tsne=false --config.epochs=10

Data: the IDX files in `--data_dir` (or `$TFDL_DATA_DIR/mnist`, then
`~/.keras/datasets/mnist`, else `keras.datasets.mnist`); a single 10k pair is
split 8k/2k. `--help` lists the named configs; docs/vision.md describes the
outputs (figures, `export/` SavedModel of raw pixels).
"""

import tfdl  # noqa: F401  (quiet TensorFlow start-up; import before TF)
from absl import flags

from tfdl import cli
from tfdl.errors import InputError
from tfdl.vision import mnist
from tfdl.vision.configs import MNIST

FLAGS = flags.FLAGS
cli.define_flags(MNIST, workdir="runs/mnist", model=False,
                 data_help="MNIST IDX folder or its parent; else $TFDL_DATA_DIR/mnist, "
                           "~/.keras/datasets/mnist or keras.datasets.mnist.")


def main(argv):
    if argv[1:]:
        raise InputError(f"apps.mnist takes no arguments. Received: {' '.join(argv[1:])}")
    return mnist.run(cli.config(), FLAGS.workdir, FLAGS.data_dir, restart=FLAGS.restart)


if __name__ == "__main__":
    cli.run(main)
