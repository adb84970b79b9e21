r"""Keyword spotting on a Speech Commands-layout folder: train, classify clips, stream.

    python -m apps.keywords                                # the default config
    python -m apps.keywords --model=ds_cnn                 # a model's named config
    python -m apps.keywords --config.wanted_words=yes,no --config.epochs=10
    python -m apps.keywords predict a.wav b.wav --export_dir=runs/keywords/export
    python -m apps.keywords stream long.wav --export_dir=runs/keywords/export --threshold=0.7

`stream` also writes `<workdir>/stream/<name>/report.html` (the detections on a
timeline; `--report=false`: none). `--help` lists the named configs;
docs/keywords.md describes the outputs.
"""

from pathlib import Path

import tfdl  # noqa: F401  (quiet TensorFlow start-up; import before TF)
from absl import flags

from tfdl import cli
from tfdl.errors import InputError
from tfdl.keywords import serve, train
from tfdl.keywords.configs import CONFIGS

FLAGS = flags.FLAGS
cli.define_flags(CONFIGS, workdir="runs/keywords",
                 data_help="Speech Commands-layout folder (or a parent holding keywords/); "
                           "else $TFDL_DATA_DIR/keywords, the Keras cache or a download.")
flags.DEFINE_string("export_dir", None, "predict/stream: the SavedModel folder, or its "
                    "model.tflite (default <workdir>/export).")
flags.DEFINE_float("hop_ms", 100.0, "stream: window hop.")
flags.DEFINE_float("average_window_ms", 300.0, "stream: probability averaging window.")
flags.DEFINE_float("threshold", 0.6, "stream: minimum averaged score to report a keyword.")
flags.DEFINE_float("suppression_ms", 750.0, "stream: minimum gap between two reports of a word.")


def main(argv):
    command, args = cli.command(argv, ("train", "predict", "stream"), serve.USAGE)
    export_dir = FLAGS.export_dir or f"{FLAGS.workdir}/export"
    if command == "predict":
        return serve.predict(export_dir, args)
    if command == "stream":
        if len(args) != 1:
            raise InputError(f"stream needs one WAV file: {serve.USAGE}")
        out = f"{FLAGS.workdir}/stream/{Path(args[0]).stem}" if FLAGS.report else None
        found = serve.stream(export_dir, args[0], out, hop_ms=FLAGS.hop_ms,
                             average_window_ms=FLAGS.average_window_ms,
                             threshold=FLAGS.threshold, suppression_ms=FLAGS.suppression_ms)
        cli.finish(out)  # the detections on a timeline: <workdir>/stream/<name>/report.html
        return found
    if args:
        raise InputError(f"train takes no arguments. Received: {' '.join(args)}")
    return train.run(cli.config(), FLAGS.workdir, FLAGS.data_dir, restart=FLAGS.restart)


if __name__ == "__main__":
    cli.run(main)
