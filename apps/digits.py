r"""Spoken digits (FSDD): train, evaluate, plot and export a classifier.

    python -m apps.digits --model=batchnorm
    python -m apps.digits --model=compact --split=speaker --test_speakers=george
    python -m apps.digits --model=compact --split=loso          # or --cv
    python -m apps.digits --model=compact_pair --split=loso     # ours for unseen speakers
    python -m apps.digits predict --export_dir=runs/digits/export FILE.wav ...

Training writes a workdir (default `runs/digits`): config.json, history.json,
PNG figures (training curves, confusion matrix, a waveform and its MFCC),
TensorBoard logs, the best checkpoint, `export/` (a SavedModel that takes raw
8 kHz waveforms of any length) and, last, metrics.json (test accuracy,
per-class accuracy, confusion matrix). Unset flags take the model's defaults
from `tfdl.models.digits.DEFAULTS` (the settings the benchmark used).

`predict` reads any audio file at any sample rate, resamples it to 8 kHz and
prints the digit and its probability.
"""

import tfdl  # noqa: F401  (silences TensorFlow's start-up logs; import before TF)
from absl import flags

from tfdl import cli
from tfdl.digits import SPLITS, Config, predict, run  # noqa: F401  (the app's library)
from tfdl.errors import InputError
from tfdl.models.digits import MODELS

FLAGS = flags.FLAGS

flags.DEFINE_enum("model", "batchnorm", MODELS.names(), "Model from the registry.")
flags.DEFINE_enum("split", "official", SPLITS,
                  "official: takes 0-4 test; random: --test_fraction at random; speaker: "
                  "--test_speakers held out; loso: leave-one-speaker-out cross-validation.")
flags.DEFINE_list("test_speakers", [], "Held-out speakers for --split=speaker.")
flags.DEFINE_float("test_fraction", 0.1, "Test share for --split=random.")
flags.DEFINE_float("val_fraction", None,
                   "Share of the training split held out for validation (best checkpoint, "
                   "early stopping); 0 trains on all of it (default: the model's).")
flags.DEFINE_bool("cv", False, "Leave-one-speaker-out cross-validation (same as --split=loso).")
flags.DEFINE_integer("epochs", None, "Epochs (default: the model's).")
flags.DEFINE_integer("batch_size", None, "Batch size (default: the model's).")
flags.DEFINE_float("learning_rate", None, "Initial learning rate (default: the model's).")
flags.DEFINE_enum("optimizer", None, ["sgd", "momentum", "adam", "nadam", "rmsprop", "adamw"],
                  "Optimizer (default: the model's).")
flags.DEFINE_enum("schedule", None, ["constant", "cosine", "exponential"],
                  "Learning-rate schedule (default: the model's).")
flags.DEFINE_bool("augment", None,
                  "Training augmentation: random time shift and background noise "
                  "(default: the model's).")
flags.DEFINE_string("noise_dir", None,
                    "Folder of background-noise WAVs for --augment (default: "
                    "$TFDL_DATA_DIR/keywords/_background_noise_ if present).")
flags.DEFINE_float("noise_volume", 0.1, "Maximum background-noise gain for --augment.")
flags.DEFINE_float("max_shift_ms", 100.0, "Maximum random time shift for --augment.")
flags.DEFINE_float("speed_change", None,
                   "Speed perturbation for --augment: each training example is played at a "
                   "random speed in [1 - x, 1 + x] (pitch and formants move with it); "
                   "default: the model's (0.1 for compact_robust/pcen/pair, else 0).")
flags.DEFINE_integer("microbatches", None,
                     "Split each batch into this many parts trained in parallel on separate "
                     "CPU cores, gradients averaged (default: the model's; 1 on a GPU or "
                     "with --distribute).")
flags.DEFINE_list("test_speeds", None,
                  "Test-time augmentation: average the probabilities over these playback "
                  "speeds, in evaluation and in the exported model (e.g. 0.9,1,1.1; empty: "
                  "none; default: the model's).")
flags.DEFINE_list("test_shifts_ms", None,
                  "Test-time augmentation: also average over these time shifts (ms of "
                  "silence put in front of the recording), in evaluation and in the exported "
                  "model (e.g. 0,20,40,60; empty: none; default: the model's).")
flags.DEFINE_bool("speaker_adaptation", None,
                  "With --split=speaker or loso: unsupervised adaptation to each test speaker "
                  "(batch-norm statistics re-estimated on half of the speaker's unlabeled "
                  "recordings score the other half, and vice versa); default: the model's "
                  "(on for compact_robust/pcen/pair).")
flags.DEFINE_float("speaker_adversary", None,
                   "Domain-adversarial training against the training speakers: weight of the "
                   "reversed gradient from a speaker classifier on the pooled features (0: "
                   "off; default: the model's, 0.3 for compact_robust/pcen/pair).")
flags.DEFINE_integer("patience", None, "Early-stopping patience in epochs (default: none).")
flags.DEFINE_integer("steps_per_epoch", None, "Cap on steps per epoch (smoke runs).")
flags.DEFINE_integer("seed", 0, "Random seed (weights, shuffling, augmentation, splits).")
flags.DEFINE_string("data_dir", None,
                    "FSDD folder (or its parent, or its recordings/ folder); default "
                    "$TFDL_DATA_DIR/fsdd, then ~/.keras/datasets/fsdd, else download.")
flags.DEFINE_string("workdir", "runs/digits", "Output folder of the run.")
flags.DEFINE_bool("jit_compile", False,
                  "Compile the train step with XLA (about 2x faster for the 1-D CNNs on CPU; "
                  "slower for `mfcc`).")
flags.DEFINE_enum("distribute", "none", ["none", "mirrored", "multi_worker"],
                  "tf.distribute strategy.")
flags.DEFINE_string("export_dir", "runs/digits/export",
                    "For `predict`: the SavedModel folder, or its model.tflite.")


def _numbers(flag, values):
    if values is None:
        return None
    try:
        return tuple(float(v) for v in values)
    except ValueError:
        raise InputError(f"--{flag} must be a comma-separated list of numbers. "
                         f"Received: --{flag}={','.join(values)}") from None


def config_from_flags():
    split = "loso" if FLAGS.cv else FLAGS.split
    return Config(model=FLAGS.model, split=split, test_speakers=tuple(FLAGS.test_speakers),
                  test_fraction=FLAGS.test_fraction, val_fraction=FLAGS.val_fraction,
                  epochs=FLAGS.epochs, batch_size=FLAGS.batch_size,
                  learning_rate=FLAGS.learning_rate, optimizer=FLAGS.optimizer,
                  schedule=FLAGS.schedule, augment=FLAGS.augment, noise_dir=FLAGS.noise_dir,
                  noise_volume=FLAGS.noise_volume, max_shift_ms=FLAGS.max_shift_ms,
                  speed_change=FLAGS.speed_change, microbatches=FLAGS.microbatches,
                  test_speeds=_numbers("test_speeds", FLAGS.test_speeds),
                  test_shifts_ms=_numbers("test_shifts_ms", FLAGS.test_shifts_ms),
                  speaker_adaptation=FLAGS.speaker_adaptation,
                  speaker_adversary=FLAGS.speaker_adversary,
                  patience=FLAGS.patience, steps_per_epoch=FLAGS.steps_per_epoch,
                  seed=FLAGS.seed, data_dir=FLAGS.data_dir, workdir=FLAGS.workdir,
                  distribute=FLAGS.distribute, jit_compile=FLAGS.jit_compile)


def main(argv):
    from absl import logging

    # SavedModel export logs INFO lines through absl: not the user's concern
    # (`--verbosity=0` shows them again).
    if not FLAGS["verbosity"].present:
        logging.set_verbosity(logging.WARNING)
    if len(argv) > 1 and argv[1] == "predict":
        return predict(FLAGS.export_dir, argv[2:])
    if len(argv) > 1:
        raise InputError(f"unexpected arguments {' '.join(argv[1:])} (did you mean "
                         f"`python -m apps.digits predict --export_dir=DIR FILE.wav`?)")
    run(config_from_flags())


if __name__ == "__main__":
    cli.run(main)
