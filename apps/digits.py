r"""Spoken digits (FSDD): train, evaluate, plot and export a classifier.

    python -m apps.digits                                  # the default config
    python -m apps.digits --model=batchnorm                # a model's named config
    python -m apps.digits --config=best --config.split=loso
    python -m apps.digits --config=compact --config.split=speaker --config.test_speakers=george
    python -m apps.digits predict --export_dir=runs/digits/export FILE.wav ...

`--help` lists the named configs; docs/digits.md describes the outputs.
"""

import tfdl  # noqa: F401  (quiet TensorFlow start-up; import before TF)
from absl import flags

from tfdl import cli
from tfdl.digits import serve, train
from tfdl.digits.configs import CONFIGS
from tfdl.errors import InputError

FLAGS = flags.FLAGS
cli.define_flags(CONFIGS, workdir="runs/digits",
                 data_help="FSDD folder (or its parent, or its recordings/ folder); "
                           "else $TFDL_DATA_DIR/fsdd, ~/.keras/datasets/fsdd or a download.")
flags.DEFINE_string("export_dir", "runs/digits/export",
                    "For `predict`: the SavedModel folder, or its model.tflite.")


def main(argv):
    command, files = cli.command(argv, ("train", "predict"),
                                 "python -m apps.digits predict --export_dir=DIR FILE.wav")
    if command == "predict":
        return serve.predict(FLAGS.export_dir, files)
    if files:
        raise InputError(f"train takes no arguments. Received: {' '.join(files)}")
    return train.run(cli.config(), FLAGS.workdir, FLAGS.data_dir, restart=FLAGS.restart)


if __name__ == "__main__":
    cli.run(main)
