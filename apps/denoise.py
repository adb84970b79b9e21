"""Speech denoising with a fully connected network on STFT frames.

    python -m apps.denoise --test=test_02_x.wav

Trains on the first 85 % of `train_dirty_male.wav` -> `train_clean_male.wav`
(found in `--data_dir`, `$TFDL_DATA_DIR/denoise` or `~/.keras/datasets/denoise`),
early-stops on the SNR of the reconstructed held-out last 15 %, denoises each
`--test` clip (a bare name is looked up in the data folder), and writes into
`--workdir` (default runs/denoise): `<test>_denoised.wav`, spectrogram PNGs,
metrics.json (validation SNR / SI-SDR of the input, the model and the
noisy-phase oracle), TensorBoard logs and an `export/` SavedModel whose
`serve(waveforms [batch, samples]) -> [batch, samples]` denoises raw audio.

Phase-aware variant (complex ratio mask trained on the complex-spectrum MSE):

    python -m apps.denoise --model=fc_crm --test=test_02_x.wav

Best measured SNR (15.7 dB on the held-out tail): the temporal convolutional network
with a complex ratio mask on an 8 ms / 2 ms STFT, 192-wide blocks, trained for 300
epochs on the waveform error with every training crop re-mixed, its noise flipped at
random and its speech sped up or slowed down by 10 % for two thirds of the crops:

    python -m apps.denoise --model=tcn_crm --fft_length=128 --frame_step=32 --chunk_frames=500 \
        --batch_size=8 --clipnorm=5 --epochs=300 --patience=0 --remix=1 --hidden=192 \
        --noise_flip --speech_speed=0.1 --test=test_02_x.wav
"""

import tfdl  # noqa: F401  (quiet TensorFlow start-up)

from absl import flags, logging

from tfdl import cli
from tfdl.denoise import LOSSES, DenoiseConfig, run, summary_rows
from tfdl.models.denoise import ACTIVATIONS, MAGNITUDE_OUTPUTS, MODELS
from tfdl.train import OPTIMIZERS, SCHEDULES

D = DenoiseConfig()
FLAGS = flags.FLAGS
flags.DEFINE_string("data_dir", D.data_dir, "Folder holding the denoise WAVs (or its parent).")
flags.DEFINE_string("clean", D.clean, "Clean training WAV (a bare name: in the data folder).")
flags.DEFINE_string("noisy", D.noisy, "Noisy training WAV, sample-aligned with --clean.")
flags.DEFINE_multi_string("test", [], "Noisy clip(s) to denoise; repeat the flag or use commas.")
flags.DEFINE_string("workdir", D.workdir, "Run folder.")
flags.DEFINE_enum("model", D.model, MODELS.names(),
                  "fc: magnitude with the noisy phase; fc_crm: complex ratio mask; tcn, "
                  "tcn_crm: the same on a temporal convolutional network.")
flags.DEFINE_integer("hidden_layers", D.hidden_layers, "Hidden layers (>= 2).")
flags.DEFINE_integer("units", D.units, "Units per hidden layer.")
flags.DEFINE_enum("activation", D.activation, list(ACTIVATIONS), "Hidden activation.")
flags.DEFINE_float("dropout", D.dropout, "Dropout after each hidden layer.")
flags.DEFINE_integer("context", D.context, "Neighbouring frames on each side of a frame.")
flags.DEFINE_integer("blocks", D.blocks,
                     "tcn/tcn_crm: residual blocks per repeat (dilations 1, 2, 4, ...).")
flags.DEFINE_integer("repeats", D.repeats, "tcn/tcn_crm: stacks of --blocks.")
flags.DEFINE_integer("channels", D.channels, "tcn/tcn_crm: residual width.")
flags.DEFINE_integer("hidden", D.hidden, "tcn/tcn_crm: width inside each block.")
flags.DEFINE_float("block_dropout", D.block_dropout,
                   "tcn/tcn_crm: spatial dropout of each block's hidden channels (0: off).")
flags.DEFINE_bool("log_compression", D.log_compression,
                  "Feed log(|X| + --log_offset) instead of |X|.")
flags.DEFINE_enum("phase_features", D.phase_features, ["absolute", "delta"],
                  "The tcn models' phase features: the noisy phase's cosine and sine "
                  "(absolute) or those of its change from the previous frame (delta).")
flags.DEFINE_float("log_offset", D.log_offset,
                   "Offset inside the log of the magnitude features (> 0; 1: log1p).")
flags.DEFINE_integer("long_window", D.long_window,
                     "tcn/tcn_crm: also feed the log magnitude of a STFT with this longer "
                     "window at the same hop (finer frequency resolution; 0: off).")
flags.DEFINE_integer("filter_taps", D.filter_taps,
                     "tcn_crm: a complex filter over the 2 * N + 1 frames around each frame "
                     "instead of one complex mask value per bin (deep filtering; 0: off).")
flags.DEFINE_enum("output", D.output, list(MAGNITUDE_OUTPUTS),
                  "fc output: bounded mask on |X|, or a softplus magnitude.")
flags.DEFINE_enum("loss", D.loss, list(LOSSES),
                  "auto: real/imag spectrum MSE (phase-sensitive); magnitude: the course's "
                  "magnitude MSE; nsr: error over signal energy of the waveform (inverse "
                  "STFT); snr: minus its dB per batch.")
flags.DEFINE_integer("fft_length", D.fft_length, "STFT size (= window length).")
flags.DEFINE_integer("frame_step", D.frame_step, "STFT hop.")
flags.DEFINE_float("val_fraction", D.val_fraction, "Held-out tail of the training pair.")
flags.DEFINE_integer("epochs", D.epochs, "Maximum epochs.")
flags.DEFINE_integer("batch_size", D.batch_size, "Crops per batch.")
flags.DEFINE_integer("chunk_frames", D.chunk_frames, "Consecutive frames per training crop.")
flags.DEFINE_enum("optimizer", D.optimizer, list(OPTIMIZERS), "Optimizer.")
flags.DEFINE_float("learning_rate", D.learning_rate, "Learning rate.")
flags.DEFINE_float("weight_decay", D.weight_decay,
                   "Decoupled weight decay: each step shrinks the weights by learning rate "
                   "x this (e.g. 0.05; 0: off, or 1e-4 with --optimizer=adamw).")
flags.DEFINE_enum("schedule", D.schedule, list(SCHEDULES),
                  "Learning-rate schedule over --epochs (cosine: decay to 0).")
flags.DEFINE_integer("patience", D.patience, "Early-stopping patience on val SNR (0: off).")
flags.DEFINE_float("clipnorm", D.clipnorm, "Gradient norm clipping (0: off).")
flags.DEFINE_integer("griffin_lim", D.griffin_lim,
                     "Griffin-Lim iterations from the network's phase at inference (0: off).")
flags.DEFINE_float("remix", D.remix,
                   "Probability that a training crop gets noise from elsewhere in the pair.")
flags.DEFINE_float("noise_gain_db", D.noise_gain_db,
                   "Random gain in +-dB on the training crops' noise (0: off).")
flags.DEFINE_float("noise_gain_offset_db", D.noise_gain_offset_db,
                   "Centre of that noise gain (> 0: louder noise, lower input SNRs).")
flags.DEFINE_bool("noise_flip", D.noise_flip,
                  "Time-reverse and negate each training crop's noise, each with p = 1/2.")
flags.DEFINE_bool("polarity_flip", D.polarity_flip,
                  "Negate each training crop, speech and noise (and the target), with p = 1/2.")
flags.DEFINE_float("loud_noise", D.loud_noise,
                   "Probability that a crop's noise from elsewhere is drawn in proportion to "
                   "its energy (the loudest noise more often; 0: uniform).")
flags.DEFINE_float("speech_speed", D.speech_speed,
                   "Speed perturbation x: a third of the training crops' speech played at "
                   "1 - x times the speed, a third at 1 + x (e.g. 0.1; 0: off; more "
                   "speeds with --speed_steps).")
flags.DEFINE_integer("speed_steps", D.speed_steps,
                     "Speeds on each side of 1 with --speech_speed=x, evenly spaced: k gives "
                     "1 -+ x/k, ..., 1 -+ x (2k + 1 copies of the speech, each as likely).")
flags.DEFINE_float("noise_speed", D.noise_speed,
                   "Speed perturbation x of the noise: noise from elsewhere comes, each a "
                   "third of the time, as recorded or played at 1 - x or 1 + x times the "
                   "speed (0: off).")
flags.DEFINE_float("speech_tilt_db", D.speech_tilt_db,
                   "Random spectral tilt of the training crops' speech, +-dB at 8 kHz and "
                   "125 Hz around 1 kHz, linear in log frequency (0: off).")
flags.DEFINE_list("extra_speech", list(D.extra_speech),
                  "Clean speech from other recordings to train on as well, comma-separated "
                  "files or globs (resampled, trimmed, levelled to the training speech; one "
                  "more source of crop speech, mixed with the pair's noise; default: none).")
flags.DEFINE_float("gain_db", D.gain_db, "Random training gain in +-dB (0: off).")
flags.DEFINE_float("max_seconds", D.max_seconds, "Use only the first N s of the pair (0: all).")
flags.DEFINE_float("train_seconds", D.train_seconds,
                   "Train on only the first N s of the training part (0: all; the validation "
                   "tail and the crops per epoch stay as for the whole part).")
flags.DEFINE_integer("steps_per_epoch", D.steps_per_epoch, "Cap on steps per epoch (0: all).")
flags.DEFINE_integer("audio_every", D.audio_every, "TensorBoard audio every N epochs.")
flags.DEFINE_bool("export", D.export, "Write the export/ SavedModel.")
flags.DEFINE_integer("seed", D.seed, "Random seed.")


def config_from_flags():
    tests = tuple(t.strip() for item in FLAGS.test for t in item.split(",") if t.strip())
    names = [f.name for f in DenoiseConfig.__dataclass_fields__.values()]
    values = {n: getattr(FLAGS, n) for n in names if n != "test"}
    values["extra_speech"] = tuple(values["extra_speech"])
    return DenoiseConfig(test=tests, **values).validate()


def main(argv):
    del argv
    logging.set_verbosity(logging.WARNING)  # SavedModel writing logs at INFO.
    result = run(config_from_flags())
    cli.summary("denoise", summary_rows(result))


if __name__ == "__main__":
    cli.run(main)
