r"""Speech denoising: train on a clean/noisy pair, denoise test clips, export raw-audio model.

    python -m apps.denoise --test=test_02_x.wav                 # the default config
    python -m apps.denoise --model=fc --test=test_02_x.wav      # the course's MLP
    python -m apps.denoise --config=best --test=test_02_x.wav   # best on new voices (~40 min)
    python -m apps.denoise --config=tcn_crm --config.epochs=60 --test=test_01_x.wav,test_02_x.wav
    python -m apps.denoise --test=noisy.wav --reference=clean.wav  # + SI-SDR, SNR, PESQ, STOI
    python -m apps.denoise --config=tcn_crm_causal --test=test_02_x.wav  # for live audio
    python -m apps.denoise stream noisy.wav --export_dir=runs/denoise/export  # chunk by chunk

Trains on the first 85 % of `train_dirty_male.wav` -> `train_clean_male.wav`
(in `--data_dir`, `$TFDL_DATA_DIR/denoise` or `~/.keras/datasets/denoise`),
keeps the best epoch on the SNR of the held-out last 15 %, denoises each
`--test` clip (a bare name is looked up in the data folder) and writes
`--workdir`. `stream` denoises a WAV 100 ms at a time (`--chunk_ms`) with a
causal export, as live audio would be, into `<workdir>/stream/`. `--help`
lists the named configs; docs/denoise.md describes the outputs and the export.
"""

import tfdl  # noqa: F401  (quiet TensorFlow start-up; import before TF)
from absl import flags

from tfdl import cli
from tfdl.denoise import data, quality, stream, train
from tfdl.denoise.configs import CONFIGS
from tfdl.errors import InputError

FLAGS = flags.FLAGS
cli.define_flags(CONFIGS, workdir="runs/denoise",
                 data_help="Folder holding the denoise WAVs (or its parent); else "
                           "$TFDL_DATA_DIR/denoise or ~/.keras/datasets/denoise.")
flags.DEFINE_multi_string("test", [], "Noisy clip(s) to denoise; repeat the flag or use "
                          "commas (a bare name: in the data folder).")
flags.DEFINE_multi_string("reference", [], "Clean, sample-aligned recording of each --test "
                          "clip, in order: prints the metrics of the noisy and denoised clip.")
flags.DEFINE_string("clean", data.CLEAN, "Clean training WAV (a bare name: in the data folder).")
flags.DEFINE_string("noisy", data.NOISY, "Noisy training WAV, sample-aligned with --clean.")
flags.DEFINE_string("export_dir", None, "stream: a causal denoise export (default "
                    "<workdir>/export).")
flags.DEFINE_float("chunk_ms", 100.0, "stream: audio per chunk.")
USAGE = "python -m apps.denoise stream NOISY.wav --export_dir=DIR"


def main(argv):
    if len(argv) > 1 and argv[1] == "stream":
        return stream.command(argv[2:], FLAGS.workdir, FLAGS.export_dir, FLAGS.chunk_ms, USAGE)
    args = argv[2:] if len(argv) > 1 and argv[1] == "train" else argv[1:]
    if args:
        raise InputError(f"apps.denoise takes no arguments (clips to denoise: --test=FILE). "
                         f"Received: {' '.join(args)} (to stream a clip: {USAGE})")
    tests, refs = ([t.strip() for item in flag for t in item.split(",") if t.strip()]
                   for flag in (FLAGS.test, FLAGS.reference))
    references = quality.load_references(tests, refs, FLAGS.data_dir)  # checked before training
    result = train.run(cli.config(), FLAGS.workdir, FLAGS.data_dir, tests, FLAGS.clean,
                       FLAGS.noisy, restart=FLAGS.restart)
    if references:
        cli.summary("against --reference", quality.reference_rows(
            quality.reference_scores(result["tests"], references)))
    return result


if __name__ == "__main__":
    cli.run(main)
