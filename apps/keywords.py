"""Keyword spotting on a Speech Commands-layout folder, with time-shift and noise augmentation.

Train (writes runs/keywords: config.json, history.json, metrics.json, PNG
figures, TensorBoard logs, export/ SavedModel taking raw waveforms):

    python -m apps.keywords --data_dir=../shared/data/keywords \
        --held_out_noise=running_tap.wav,doing_the_dishes.wav

Classify WAV files, and spot keywords in a long recording, with the export:

    python -m apps.keywords predict a.wav b.wav --export_dir=runs/keywords/export
    python -m apps.keywords stream long.wav --export_dir=runs/keywords/export

Classes are `_silence_`, `_unknown_` (all other words) and `--wanted_words`.
Splits come from `validation_list.txt`/`testing_list.txt`, else from a stable
hash of the speaker part of the file names. Noise files named by
`--held_out_noise` are kept out of training and used to evaluate the test
split at `--eval_snr_db`.
"""

import json

import tfdl  # noqa: F401  (quiet TensorFlow start-up; must precede tensorflow)
from absl import flags

from tfdl import cli
from tfdl import keywords as kw
from tfdl.errors import InputError
from tfdl.models.keywords import MODELS, PREPROCESS
from tfdl.train import OPTIMIZERS, SCHEDULES

D = kw.KeywordsConfig()
FLAGS = flags.FLAGS
flags.DEFINE_string("data_dir", None, "Speech Commands-layout folder (or a parent holding "
                    "keywords/); default $TFDL_DATA_DIR/keywords.")
flags.DEFINE_string("workdir", D.workdir, "Run folder for logs, metrics, figures and export.")
flags.DEFINE_list("wanted_words", list(D.wanted_words), "Words to recognise (folder names); "
                  "all other word folders become _unknown_.")
flags.DEFINE_integer("sample_rate", D.sample_rate, "Model sample rate (Hz); clips at other "
                     "rates are resampled.")
flags.DEFINE_float("clip_duration_ms", D.clip_duration_ms, "Clip length; longer clips are "
                   "cropped, shorter ones zero-padded.")
flags.DEFINE_float("window_size_ms", D.window_size_ms, "Feature analysis window.")
flags.DEFINE_float("window_stride_ms", D.window_stride_ms, "Feature hop.")
flags.DEFINE_integer("feature_bin_count", D.feature_bin_count, "MFCC coefficients or mel bins.")
flags.DEFINE_enum("preprocess", D.preprocess, list(PREPROCESS), "Features computed in the model.")
flags.DEFINE_float("silence_percentage", D.silence_percentage, "Silence examples, as a "
                   "percentage of each split's wanted-word clips.")
flags.DEFINE_float("unknown_percentage", D.unknown_percentage, "Unknown-word examples, as a "
                   "percentage of each split's wanted-word clips.")
flags.DEFINE_float("time_shift_ms", D.time_shift_ms, "Maximum random time shift (training); "
                   "0 turns it off.")
flags.DEFINE_float("background_frequency", D.background_frequency, "Share of training clips "
                   "mixed with background noise; 0 turns noise augmentation off.")
flags.DEFINE_float("background_volume", D.background_volume, "Maximum background noise volume.")
flags.DEFINE_list("held_out_noise", list(D.held_out_noise), "_background_noise_ files kept out "
                  "of training; the test split is also scored mixed with them.")
flags.DEFINE_list("eval_snr_db", [f"{v:g}" for v in D.eval_snr_db], "SNRs (dB) of the noisy "
                  "test evaluation with --held_out_noise.")
flags.DEFINE_float("validation_percentage", D.validation_percentage, "Hash-split share for "
                   "words not covered by validation_list.txt/testing_list.txt.")
flags.DEFINE_float("testing_percentage", D.testing_percentage, "Hash-split test share.")
flags.DEFINE_enum("model", D.model, MODELS.names(), "Model architecture.")
flags.DEFINE_string("model_kwargs", json.dumps(D.model_kwargs), "JSON dict of builder "
                    "hyperparameters, e.g. '{\"filters\": [32, 16], \"dropout\": 0.2}' "
                    "(every builder takes dropout and batchnorm).")
flags.DEFINE_enum("optimizer", D.optimizer, list(OPTIMIZERS), "Optimizer.")
flags.DEFINE_float("learning_rate", D.learning_rate, "Initial learning rate.")
flags.DEFINE_enum("schedule", D.schedule, list(SCHEDULES), "Learning-rate schedule.")
flags.DEFINE_integer("epochs", D.epochs, "Training epochs.")
flags.DEFINE_integer("batch_size", D.batch_size, "Examples per batch.")
flags.DEFINE_integer("patience", D.patience, "Early-stopping patience (0: none).")
flags.DEFINE_integer("steps_per_epoch", D.steps_per_epoch, "Cap on steps per epoch (0: all).")
flags.DEFINE_integer("seed", D.seed, "Random seed.")
flags.DEFINE_string("export_dir", None, "predict/stream: the SavedModel folder, or its "
                    "model.tflite (default <workdir>/export).")
flags.DEFINE_float("hop_ms", 100.0, "stream: window hop.")
flags.DEFINE_float("average_window_ms", 300.0, "stream: probability averaging window.")
flags.DEFINE_float("threshold", 0.6, "stream: minimum averaged score to report a keyword.")
flags.DEFINE_float("suppression_ms", 750.0, "stream: minimum gap between two reports of a word.")


def config_from_flags():
    """The frozen, validated `KeywordsConfig` from the flags."""
    try:
        model_kwargs = json.loads(FLAGS.model_kwargs)
    except json.JSONDecodeError as e:
        raise InputError(f"--model_kwargs is not valid JSON: {e}") from None
    if not isinstance(model_kwargs, dict):
        raise InputError(f"--model_kwargs must be a JSON object. Received: {FLAGS.model_kwargs}")
    try:
        snrs = tuple(float(v) for v in FLAGS.eval_snr_db)
    except ValueError:
        raise InputError(f"--eval_snr_db must be numbers. Received: "
                         f"{','.join(FLAGS.eval_snr_db)}") from None
    cfg = kw.KeywordsConfig(
        data_dir=FLAGS.data_dir or "", workdir=FLAGS.workdir,
        wanted_words=tuple(FLAGS.wanted_words), sample_rate=FLAGS.sample_rate,
        clip_duration_ms=FLAGS.clip_duration_ms, window_size_ms=FLAGS.window_size_ms,
        window_stride_ms=FLAGS.window_stride_ms, feature_bin_count=FLAGS.feature_bin_count,
        preprocess=FLAGS.preprocess, silence_percentage=FLAGS.silence_percentage,
        unknown_percentage=FLAGS.unknown_percentage, time_shift_ms=FLAGS.time_shift_ms,
        background_frequency=FLAGS.background_frequency,
        background_volume=FLAGS.background_volume,
        held_out_noise=tuple(FLAGS.held_out_noise), eval_snr_db=snrs,
        validation_percentage=FLAGS.validation_percentage,
        testing_percentage=FLAGS.testing_percentage, model=FLAGS.model,
        model_kwargs=model_kwargs, optimizer=FLAGS.optimizer,
        learning_rate=FLAGS.learning_rate, schedule=FLAGS.schedule, epochs=FLAGS.epochs,
        batch_size=FLAGS.batch_size, patience=FLAGS.patience,
        steps_per_epoch=FLAGS.steps_per_epoch, seed=FLAGS.seed)
    return cfg.validate()


def _export_dir():
    return FLAGS.export_dir or f"{FLAGS.workdir}/export"


def main(argv):
    command, args = (argv[1], argv[2:]) if len(argv) > 1 else ("train", [])
    if command == "train":
        if args:
            raise InputError(f"train takes no positional arguments. Received: {' '.join(args)}")
        result = kw.run(config_from_flags())
        rows = [("test accuracy", f"{result['test_accuracy']:.4f}"),
                ("validation accuracy", f"{result['validation_accuracy']:.4f}")]
        rows += [(f"test accuracy, held-out noise {snr} dB", f"{acc:.4f}")
                 for snr, acc in result["noisy_test_accuracy"].items()]
        rows += [("training examples/sec", f"{result['examples_per_sec']:.1f}"),
                 ("workdir", result["workdir"]),
                 ("metrics", f"{result['workdir']}/metrics.json")]
        if result["export"]:
            rows += [("export", result["export"]),
                     ("export latency", f"{result['export_latency_ms_per_clip']:.2f} ms/clip"),
                     ("TFLite", f"{result['tflite']} "
                                f"({result['tflite_latency_ms_per_clip']:.2f} ms/clip)")]
        rows.append(("tensorboard", f"tensorboard --logdir {result['workdir']}/tensorboard"))
        cli.summary("keywords: done", rows)
    elif command == "predict":
        if not args:
            raise InputError("predict needs WAV files: python -m apps.keywords predict a.wav ...")
        spotter = kw.Spotter(_export_dir())
        for path, label, prob in spotter.classify_files(args):
            print(f"{path}\t{label}\t{prob:.3f}")
    elif command == "stream":
        if len(args) != 1:
            raise InputError("stream needs one WAV file: python -m apps.keywords stream long.wav")
        found = kw.stream(_export_dir(), args[0], hop_ms=FLAGS.hop_ms,
                          average_window_ms=FLAGS.average_window_ms, threshold=FLAGS.threshold,
                          suppression_ms=FLAGS.suppression_ms)
        for d in found:
            print(f"{d['start_s']:8.2f}-{d['end_s']:.2f}s\t{d['label']}\t{d['score']:.3f}")
        print(f"{len(found)} keyword(s) detected in {args[0]}")
    else:
        raise InputError(f"unknown command {command!r}; use train (default), predict or stream")


if __name__ == "__main__":
    cli.run(main)
