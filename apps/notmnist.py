r"""notMNIST letters A-J: an ensemble of CNNs (batch norm, dropout, L2, augmentation), an export.

    python -m apps.notmnist --data_dir=../shared/data          # the default config (5 CNNs)
    python -m apps.notmnist --config=cnn --config.epochs=10    # one CNN, quicker
    python -m apps.notmnist --config.ensemble=3

Data: the IDX files in `--data_dir` (or `$TFDL_DATA_DIR/notmnist`, then
`~/.keras/datasets/notmnist`); a single 10k pair is split 8k/2k. `--help`
lists the named configs; docs/vision.md describes the outputs (members, figures,
`export/` SavedModel of the averaged ensemble, raw-pixel input).
"""

import tfdl  # noqa: F401  (quiet TensorFlow start-up; import before TF)
from absl import flags

from tfdl import cli
from tfdl.errors import InputError
from tfdl.vision import notmnist
from tfdl.vision.configs import NOTMNIST

FLAGS = flags.FLAGS
cli.define_flags(NOTMNIST, workdir="runs/notmnist", model=False,
                 data_help="notMNIST IDX folder or its parent; else "
                           "$TFDL_DATA_DIR/notmnist or ~/.keras/datasets/notmnist.")


def main(argv):
    if argv[1:]:
        raise InputError(f"apps.notmnist takes no arguments. Received: {' '.join(argv[1:])}")
    return notmnist.run(cli.config(), FLAGS.workdir, FLAGS.data_dir, restart=FLAGS.restart)


if __name__ == "__main__":
    cli.run(main)
