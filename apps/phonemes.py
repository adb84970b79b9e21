r"""Frame-level phoneme classification from MFCC frames with a context window.

    python -m apps.phonemes                            # the default config (one MLP)
    python -m apps.phonemes --model=resnet_basic       # a model's named config
    python -m apps.phonemes --config=best              # 3 members and the ensemble rules
    python -m apps.phonemes --config=ensemble --config.members=mlp,mlp,mlp   # seed ensemble
    python -m apps.phonemes --data_dir=path/to/11785 --config.context=20 --config.stride=1

Trains the config's network (or each ensemble member) on an utterance-level
split of the phonemes data (HTK MFCC + Festival labels, the CMU 11-785 `.npy`
layout, or WAV + labels), combines members with the four ensemble rules and
writes `--workdir`: metrics, figures, TensorBoard logs and `export/` (a
SavedModel taking one utterance's raw MFCC). `--help` lists the named
configs; docs/phonemes.md describes the outputs.
"""

import tfdl  # noqa: F401  (quiet TensorFlow start-up; import before TF)
from absl import flags

from tfdl import cli
from tfdl.errors import InputError
from tfdl.phonemes import train
from tfdl.phonemes.configs import CONFIGS

FLAGS = flags.FLAGS
cli.define_flags(CONFIGS, workdir="runs/phonemes",
                 data_help="Phoneme data folder (else $TFDL_DATA_DIR/phonemes, then "
                           "~/.keras/datasets/phonemes).")


def main(argv):
    if len(argv) > 1:
        raise InputError(f"apps.phonemes takes no arguments. Received: {' '.join(argv[1:])}")
    return train.run(cli.config(), FLAGS.workdir, FLAGS.data_dir, restart=FLAGS.restart)


if __name__ == "__main__":
    cli.run(main)
