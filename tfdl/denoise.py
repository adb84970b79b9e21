"""Speech denoising in the STFT domain: data, training, reconstruction, metrics, export.

The course problem (reference 004, problem 2): a fully connected network maps
noisy STFT magnitude frames to clean ones; the clean estimate is the
predicted magnitude with the noisy phase, brought back to a waveform by the
inverse STFT. SNR = 10 log10(sum s^2 / sum (s - s_hat)^2).

Layout of a run (`run(config)`):

1. `load_pair`: the sample-aligned clean/noisy pair (mono, same rate, same
   length, not silent), optionally cut to `max_seconds`.
2. Split at sample `round((1 - val_fraction) * n)`: the first part trains, the
   held-out tail validates. Each part gets its own centred STFT
   (`tfdl.features.stft(center=True)`, Hann, `fft_length`/`frame_step`), so
   the tail's metrics are those of denoising that waveform on its own.
3. Training on random waveform crops of `chunk_frames` STFT frames (context
   frames need neighbours; a crop may start at any sample, and with
   probability `remix` its noise, noisy - clean, comes from elsewhere in the
   training part; the crop's noise gets a random gain (`noise_gain_db`, centred
   on `noise_gain_offset_db`) and, with `noise_flip`, is time-reversed and
   negated at random; with `loud_noise`, noise from elsewhere is drawn in
   proportion to its energy (the loud crunches more often), and with
   `noise_speed` played faster or slower; with `polarity_flip` the whole crop
   is negated at random; with `speech_speed`
   (and `speed_steps`), the crop's speech may come from a copy of the clean
   training audio played faster or slower, and with `speech_tilt_db` its spectrum is
   tilted at random; with `extra_speech`, it may come from other recordings'
   clean speech (`load_extra_speech`): `chunk_dataset`); every
   model maps noisy real/imag STFT frames to a clean real/imag estimate
   (`tfdl.models.denoise`; the TCNs can also see a longer-window STFT's
   magnitude, `long_window`, and phase changes instead of the noisy phase,
   `phase_features`). Losses: "magnitude" (MSE of magnitudes, the
   course's), "spectrum" (MSE of real/imag; the default for `fc`/`fc_crm`:
   with the noisy phase it is the phase-sensitive approximation),
   "nsr" (error energy over signal energy of the batch's inverse-STFT waveforms,
   the default for `tcn`/`tcn_crm`) or "snr" (minus that ratio in dB). The Keras metric
   `snr` is the waveform SNR of each batch; its validation value `val_snr`
   drives the best checkpoint and early stopping; `ValidationMonitor` also
   logs the exact tail SNR and audio to TensorBoard.
4. Reconstruction (`Denoiser`): STFT -> network -> optional Griffin-Lim
   consistency iterations that start from the network's phase -> inverse
   STFT trimmed to the input length. The same `tf.function` is exported as a
   SavedModel taking raw waveforms, so in-process and served outputs agree.
"""

import dataclasses
import os
import time
from pathlib import Path

import keras
import numpy as np
import tensorflow as tf

from tfdl import audio as taudio
from tfdl import features, metrics, plots
from tfdl.errors import InputError
from tfdl.models.denoise import MODELS, PHASE_FEATURES, FeatureNorm

LOSSES = ("auto", "magnitude", "spectrum", "snr", "nsr")
# "spectrum" for the magnitude model too: with the noisy phase, the MSE of the real/imag
# spectrum is the phase-sensitive approximation (the mask learns |S| cos(phase error) / |X|,
# the waveform-error optimum), measured +0.27 and +0.57 dB over "magnitude" on the
# validation tail (seeds 0 and 1: 13.01 vs 12.74, 12.97 vs 12.40 dB).
# The TCNs train on the waveform error ("nsr") itself (measured for `tcn` on the 256/64
# STFT: 13.55 dB on the validation tail).
DEFAULT_LOSS = {"fc": "spectrum", "fc_crm": "spectrum", "tcn": "nsr", "tcn_crm": "nsr"}
GL_ITERATIONS = 16  # Griffin-Lim iterations also evaluated after training
DATASET = "denoise"


# ----------------------------------------------------------------------------- config


@dataclasses.dataclass(frozen=True)
class DenoiseConfig:
    """Everything a denoising run needs; `validate()` checks it before any work.

    Paths `clean`, `noisy` and `test` may be bare names, resolved in the data
    folder (`data_dir`, else `$TFDL_DATA_DIR/denoise`, else the Keras cache).
    """

    data_dir: str = ""
    clean: str = "train_clean_male.wav"
    noisy: str = "train_dirty_male.wav"
    test: tuple = ()
    workdir: str = "runs/denoise"
    model: str = "fc"
    hidden_layers: int = 3
    units: int = 1024
    activation: str = "relu"
    dropout: float = 0.2
    context: int = 3
    blocks: int = 8
    repeats: int = 2
    channels: int = 64
    hidden: int = 128
    block_dropout: float = 0.0
    log_compression: bool = True
    log_offset: float = 1.0
    phase_features: str = "absolute"
    long_window: int = 0
    filter_taps: int = 0
    output: str = "mask"
    loss: str = "auto"
    fft_length: int = 1024
    frame_step: int = 512
    val_fraction: float = 0.15
    epochs: int = 30
    batch_size: int = 16
    chunk_frames: int = 32
    optimizer: str = "adam"
    learning_rate: float = 1e-3
    weight_decay: float = 0.0
    schedule: str = "cosine"
    patience: int = 12
    clipnorm: float = 0.0
    griffin_lim: int = 0
    remix: float = 0.5
    noise_gain_db: float = 6.0
    noise_gain_offset_db: float = 0.0
    noise_flip: bool = False
    polarity_flip: bool = False
    loud_noise: float = 0.0
    speech_speed: float = 0.0
    speed_steps: int = 1
    noise_speed: float = 0.0
    speech_tilt_db: float = 0.0
    extra_speech: tuple = ()
    gain_db: float = 0.0
    max_seconds: float = 0.0
    train_seconds: float = 0.0
    steps_per_epoch: int = 0
    audio_every: int = 10
    export: bool = True
    seed: int = 0

    @property
    def resolved_loss(self):
        return DEFAULT_LOSS.get(self.model, "magnitude") if self.loss == "auto" else self.loss

    def validate(self):
        """Raises InputError naming the flag for any bad value."""
        from tfdl.train import OPTIMIZERS, SCHEDULES
        from tfdl.models.denoise import ACTIVATIONS, MAGNITUDE_OUTPUTS

        def bad(flag, why):
            raise InputError(f"--{flag} {why}. Received: --{flag}={getattr(self, flag)}")

        if self.model not in MODELS:
            bad("model", f"must be one of {', '.join(MODELS.names())}")
        for name in ("units", "epochs", "batch_size", "chunk_frames", "fft_length",
                     "frame_step", "learning_rate", "blocks", "repeats", "channels", "hidden"):
            if not getattr(self, name) or getattr(self, name) <= 0:
                bad(name, "must be positive")
        if self.hidden_layers < 2:
            bad("hidden_layers", "must be at least 2")
        if self.activation not in ACTIVATIONS:
            bad("activation", f"must be one of {', '.join(ACTIVATIONS)}")
        if not 0 <= self.dropout < 1:
            bad("dropout", "must be in [0, 1)")
        if not 0 <= self.block_dropout < 1:
            bad("block_dropout", "must be in [0, 1)")
        if self.context < 0:
            bad("context", "must be >= 0")
        if self.model in ("fc", "tcn") and self.output not in MAGNITUDE_OUTPUTS:
            bad("output", f"must be one of {', '.join(MAGNITUDE_OUTPUTS)} for "
                f"--model={self.model}")
        if self.loss not in LOSSES:
            bad("loss", f"must be one of {', '.join(LOSSES)}")
        if self.fft_length & (self.fft_length - 1):
            bad("fft_length", "must be a power of two")
        if self.frame_step > self.fft_length // 2:
            bad("frame_step", f"must be <= fft_length/2={self.fft_length // 2} (overlap-add "
                "needs at least 50% overlap)")
        if not 0 <= self.remix <= 1:
            bad("remix", "must be in [0, 1]")
        if not 0 <= self.loud_noise <= 1:
            bad("loud_noise", "must be in [0, 1]")
        if not 0 < self.val_fraction < 1:
            bad("val_fraction", "must be in (0, 1)")
        if self.schedule not in SCHEDULES:
            bad("schedule", f"must be one of {', '.join(SCHEDULES)}")
        if self.optimizer not in OPTIMIZERS:
            bad("optimizer", f"must be one of {', '.join(OPTIMIZERS)}")
        if self.long_window and (not self.model.startswith("tcn") or self.long_window
                                 & (self.long_window - 1) or self.long_window <= self.fft_length):
            bad("long_window", f"must be 0 or a power of two > --fft_length={self.fft_length}, "
                "with --model=tcn or tcn_crm")
        if self.filter_taps and self.model != "tcn_crm" or self.filter_taps < 0:
            bad("filter_taps", "must be >= 0, and 0 unless --model=tcn_crm")
        if not 0 <= self.speech_speed < 0.5:
            bad("speech_speed", "must be in [0, 0.5)")
        if self.speed_steps < 1:
            bad("speed_steps", "must be >= 1")
        if self.phase_features not in PHASE_FEATURES:
            bad("phase_features", f"must be one of {', '.join(PHASE_FEATURES)}")
        if self.phase_features != "absolute" and not self.model.startswith("tcn"):
            bad("phase_features", "applies to the tcn models only")
        if not self.log_offset > 0:
            bad("log_offset", "must be > 0")
        if not 0 <= self.noise_speed < 0.5:
            bad("noise_speed", "must be in [0, 0.5)")
        if not 0 <= self.speech_tilt_db <= 24:
            bad("speech_tilt_db", "must be in [0, 24]")
        for name in ("patience", "griffin_lim", "steps_per_epoch", "audio_every", "gain_db",
                     "noise_gain_db", "max_seconds", "train_seconds", "clipnorm",
                     "weight_decay"):
            if getattr(self, name) < 0:
                bad(name, "must be >= 0")
        return self


# ----------------------------------------------------------------------------- data


def resolve(name, data_dir="", flag="test"):
    """Finds an audio file: as given, else a bare name inside the denoise data folder.

    Raises:
        InputError: naming `--flag` and where it looked.
    """
    p = Path(name).expanduser()
    if p.is_file():
        return p
    if not p.is_absolute() and len(p.parts) == 1:
        from tfdl.data import find_dataset

        try:
            folder = find_dataset(DATASET, data_dir or None)
        except InputError as e:
            raise InputError(f"--{flag}={name} not found in the current folder, and {e}") from None
        if (folder / name).is_file():
            return folder / name
        raise InputError(f"--{flag}: file not found: {name} (looked in . and {folder})")
    raise InputError(f"--{flag}: file not found: {p}")


def read_mono(path, flag):
    """Reads a mono file; a file with more channels is an InputError naming `--flag`."""
    wave, rate = taudio.read_audio(path, mono=False)
    if wave.shape[1] != 1:
        raise InputError(f"--{flag}: {path} has {wave.shape[1]} channels; expected mono")
    return wave[:, 0], rate


def check_not_silent(wave, path, flag):
    if not np.any(wave):
        raise InputError(f"--{flag}: {path} is silent (all samples are zero)")
    if not np.all(np.isfinite(wave)):
        raise InputError(f"--{flag}: {path} holds NaN or infinite samples")


def load_pair(clean_path, noisy_path):
    """Loads and checks the sample-aligned training pair.

    Returns:
        (clean [n] float32, noisy [n] float32, sample_rate).

    Raises:
        InputError: missing/undecodable file, stereo, different sample rates,
            different lengths, or silence.
    """
    clean, rc = read_mono(clean_path, "clean")
    noisy, rn = read_mono(noisy_path, "noisy")
    if rc != rn:
        raise InputError(f"--clean and --noisy have different sample rates: {clean_path} is "
                         f"{rc} Hz, {noisy_path} is {rn} Hz")
    if len(clean) != len(noisy):
        raise InputError(f"--clean and --noisy differ in length: {clean_path} has "
                         f"{len(clean)} samples, {noisy_path} has {len(noisy)}; they must "
                         f"be sample-aligned")
    check_not_silent(clean, clean_path, "clean")
    check_not_silent(noisy, noisy_path, "noisy")
    return clean, noisy, rc


def load_extra_speech(patterns, sample_rate, reference, top_db=30.0):
    """Clean speech from other recordings, for training crops (`extra_speech`).

    Every file matching the glob `patterns` is read (mono), resampled to
    `sample_rate`, trimmed of leading and trailing silence (`top_db` below its
    peak; librosa keeps up to a 2048-sample frame of it) and scaled so that the
    RMS of its non-silent stretches is that of `reference`'s (the training
    speech); all are joined end to end in sorted path order.

    Args:
        patterns: file paths or glob patterns.
        sample_rate: the training pair's rate.
        reference: the clean training waveform (numpy).
        top_db: silence threshold in dB below the peak (librosa's `trim`/`split`).

    Returns:
        (waveform [n] float32, number of files).

    Raises:
        InputError: a pattern that matches no file, a multichannel or silent file.
    """
    import glob

    import librosa

    paths = {}  # in order, each once
    for pattern in patterns:
        found = sorted(glob.glob(os.path.expanduser(pattern), recursive=True))
        if not found:
            raise InputError(f"--extra_speech: no file matches {pattern}")
        paths.update(dict.fromkeys(found))

    def active_rms(wave):
        parts = librosa.effects.split(np.asarray(wave, np.float32), top_db=top_db)
        return np.sqrt(np.mean(np.concatenate([wave[a:b] for a, b in parts]) ** 2))

    target = active_rms(reference)
    pieces = []
    for path in paths:
        wave, rate = read_mono(path, "extra_speech")
        check_not_silent(wave, path, "extra_speech")
        if rate != sample_rate:
            wave = taudio.resample(wave, rate, sample_rate).numpy()
        wave, _ = librosa.effects.trim(wave, top_db=top_db)
        pieces.append(wave * (target / max(active_rms(wave), 1e-8)))
    return np.concatenate(pieces).astype(np.float32), len(paths)


def split_point(num_samples, val_fraction):
    """Index of the first validation sample: the last `val_fraction` is held out."""
    return int(round(num_samples * (1.0 - val_fraction)))


def spectrum(wave, fft_length=1024, frame_step=512):
    """Centred STFT of a mono waveform as real/imag numpy, `[frames, bins, 2]`."""
    s = features.stft(np.asarray(wave, np.float32), fft_length, frame_step, center=True)
    return np.stack([tf.math.real(s).numpy(), tf.math.imag(s).numpy()], axis=-1)


def _complex(ri):
    ri = tf.convert_to_tensor(ri, tf.float32)
    return tf.complex(ri[..., 0], ri[..., 1])


def reconstruct(ri, length, fft_length=1024, frame_step=512):
    """Inverse of `spectrum`: real/imag `[..., frames, bins, 2]` -> waveform `[..., length]`."""
    return features.inverse_stft(_complex(ri), fft_length, frame_step, center=True,
                                 length=length)


def oracle_noisy_phase(clean, noisy, fft_length=1024, frame_step=512):
    """The noisy-phase ceiling: clean magnitude with noisy phase, inverse STFT.

    Returns:
        The reconstructed waveform (numpy, the clean signal's length).
    """
    s = features.stft(clean, fft_length, frame_step, center=True)
    x = features.stft(noisy, fft_length, frame_step, center=True)
    mag = tf.abs(x)
    phase = tf.where(mag > 0, x / tf.cast(tf.maximum(mag, 1e-30), tf.complex64),
                     tf.ones_like(x))
    est = tf.cast(tf.abs(s), tf.complex64) * phase
    return features.inverse_stft(est, fft_length, frame_step, center=True,
                                 length=len(clean)).numpy()


# ----------------------------------------------------------------------------- losses, metric


def _istft_chunk(ri, fft_length, frame_step):
    return features.inverse_stft(_complex(ri), fft_length, frame_step)


def make_loss(name, fft_length=1024, frame_step=512):
    """A Keras loss on (clean real/imag, estimated real/imag) `[batch, frames, bins, 2]`.

    Args:
        name: "magnitude" (MSE of |S| vs |S_hat|), "spectrum" (MSE of the
            real and imaginary parts), "nsr" (error energy over signal energy of
            the inverse-STFT waveforms, pooled over the batch, without each
            chunk's first and last half-window, where the overlap-add is
            incomplete) or "snr" (minus the SNR in dB of the
            inverse-STFT waveforms, energy pooled over the batch). Measured:
            "snr" does not train these models on 1 s crops (the mean of
            per-batch dB values is dominated by crops with little speech,
            where silencing everything is optimal); use "spectrum" for a
            waveform-error (phase-sensitive) objective.
    """
    if name == "magnitude":
        def magnitude(y_true, y_pred):
            return tf.reduce_mean(tf.square(tf.norm(y_true, axis=-1) -
                                            tf.sqrt(tf.reduce_sum(y_pred ** 2, -1) + 1e-12)))
        return magnitude
    if name == "spectrum":
        def spectrum_mse(y_true, y_pred):
            return tf.reduce_mean(tf.square(y_true - y_pred))
        return spectrum_mse
    if name == "nsr":
        trim = fft_length // 2  # the chunk's first and last half-window: incomplete overlap-add

        def nsr(y_true, y_pred):
            s = _istft_chunk(y_true, fft_length, frame_step)[..., trim:-trim]
            e = _istft_chunk(y_pred, fft_length, frame_step)[..., trim:-trim]
            return tf.reduce_sum((s - e) ** 2) / (tf.reduce_sum(s ** 2) + 1e-8)
        return nsr
    if name == "snr":
        def neg_snr(y_true, y_pred):
            s = _istft_chunk(y_true, fft_length, frame_step)
            e = _istft_chunk(y_pred, fft_length, frame_step)
            num = tf.reduce_sum(s ** 2) + 1e-8
            den = tf.reduce_sum((s - e) ** 2) + 1e-8
            return -10.0 * tf.math.log(num / den) / tf.math.log(10.0)
        return neg_snr
    raise ValueError(f"loss must be one of {LOSSES[1:]}. Received: loss={name!r}")


class WaveformSNR(keras.metrics.Metric):
    """SNR (dB) of the inverse-STFT waveforms, energies summed over all batches.

    `trim` samples are dropped at both ends (the centred STFT's padding), so
    on a whole centred signal this is within a few hundredths of a dB of the
    SNR of the trimmed reconstruction.
    """

    def __init__(self, fft_length=1024, frame_step=512, trim=0, name="snr", **kwargs):
        super().__init__(name=name, **kwargs)
        self.fft_length, self.frame_step, self.trim = fft_length, frame_step, trim
        self.signal = self.add_variable(shape=(), initializer="zeros", name="signal")
        self.error = self.add_variable(shape=(), initializer="zeros", name="error")

    def update_state(self, y_true, y_pred, sample_weight=None):
        s = _istft_chunk(y_true, self.fft_length, self.frame_step)
        e = _istft_chunk(y_pred, self.fft_length, self.frame_step)
        if self.trim:
            s, e = s[..., self.trim:-self.trim], e[..., self.trim:-self.trim]
        self.signal.assign_add(tf.reduce_sum(s ** 2))
        self.error.assign_add(tf.reduce_sum((s - e) ** 2))

    def result(self):
        return 10.0 * tf.math.log((self.signal + 1e-12) / (self.error + 1e-12)) / tf.math.log(10.0)

    def reset_state(self):
        self.signal.assign(0.0)
        self.error.assign(0.0)


# ----------------------------------------------------------------------------- datasets


def default_crops(frames, chunk_frames, batch_size):
    """Crops per epoch: each training frame is seen about four times."""
    return max(batch_size, 4 * frames // int(min(chunk_frames, frames)))


def chunk_dataset(clean, noisy, chunk_frames, batch_size, fft_length=1024, frame_step=512,
                  seed=0, crops_per_epoch=None, remix=0.0, gain_db=0.0, noise_gain_db=0.0,
                  noise_gain_offset_db=0.0, noise_flip=False, loud_noise=0.0,
                  speech_speed=0.0, speed_steps=1, speech_tilt_db=0.0, sample_rate=16000,
                  extra_speech=None, noise_speed=0.0, polarity_flip=False):
    """Random waveform crops of `chunk_frames` STFT frames, as real/imag spectra (training).

    A crop starts at any sample, so its frames are new framings of the
    training audio (about `frame_step` times more distinct frames than one
    fixed framing). With probability `remix` the crop's noise (noisy - clean,
    the pair is sample-aligned) is taken from another random place of the
    training part and added to the clean crop: new mixtures of the same
    speech and the same noise type.

    Args:
        clean, noisy: training-part waveforms (numpy, same length).
        chunk_frames: STFT frames per crop (fewer if the audio is shorter).
        batch_size: crops per batch.
        fft_length, frame_step: the STFT.
        seed: crop positions and remix draws (re-drawn every epoch).
        crops_per_epoch: default `default_crops` (each frame about 4 times).
        remix: probability of re-mixing a crop with noise from elsewhere.
        gain_db: random gain in [-gain_db, gain_db] on both noisy and clean.
        noise_gain_db: random gain in [-noise_gain_db, noise_gain_db] on the
            noise alone (other input SNRs than the recording's).
        noise_gain_offset_db: centre of that range (> 0: louder noise, lower
            input SNRs than the recording's).
        noise_flip: time-reverse and negate the noise crop, each with
            probability 1/2 (four noises from one).
        loud_noise: probability that noise taken from elsewhere is drawn in
            proportion to its energy over the crop instead of uniformly: the
            loudest stretches of noise (the crunches) come up more often.
        speech_speed: speed perturbation of the speech (0: off). Each crop's
            speech comes, with equal probability, from the clean audio or from
            it resampled to play at 1 - speech_speed or 1 + speech_speed times
            the speed (pitch and tempo change together); such crops always
            get noise from elsewhere, whatever `remix`.
        speed_steps: with `speech_speed`, the number of speeds on each side of
            1, evenly spaced: 2 gives 1 -+ speech_speed / 2 and 1 -+ speech_speed
            as well (five copies of the speech, each as likely).
        speech_tilt_db: spectral tilt of the speech (0: off): each crop's
            clean spectrum is multiplied by a gain that is 0 dB at 1 kHz and
            rises linearly in log frequency to t dB at 8 kHz (-t dB at 125 Hz
            and below), t uniform in [-speech_tilt_db, speech_tilt_db]; the
            target is the tilted speech (brighter and duller voices).
        sample_rate: the audio's rate (for `speech_tilt_db`'s frequencies).
        extra_speech: clean speech from elsewhere (`load_extra_speech`), one
            more copy to crop speech from, as likely as each of the others; its
            crops always get noise from the training part.
        noise_speed: speed perturbation of the noise (0: off). Noise taken
            from elsewhere comes, with equal probability, from the training
            part's noise as recorded or played at 1 - noise_speed or
            1 + noise_speed times the speed (crunches of other pitches and
            lengths); `loud_noise` draws apply to the recorded noise only.
        polarity_flip: negate the whole crop, speech and noise (the target
            too), with probability 1/2: the right output for -x is minus that
            for x (measured worse on the tail: this speech is not symmetric
            in polarity, so its sign is information; see README).

    Returns:
        A `tf.data.Dataset` of (noisy, clean) real/imag `[batch, chunk, bins, 2]`.
    """
    n = len(clean)
    frames = 1 + (n - fft_length) // frame_step
    if frames < 1:
        raise ValueError(f"the training audio is shorter than one frame. Received: {n} samples")
    chunk = int(min(chunk_frames, frames))
    length = (chunk - 1) * frame_step + fft_length
    count = crops_per_epoch or default_crops(frames, chunk_frames, batch_size)
    clean = np.asarray(clean, np.float32)
    noise = np.asarray(noisy, np.float32) - clean
    starts = n - length + 1
    # The noise copies, end to end, as the speech copies below.
    v, noise_offsets, noise_starts = _end_to_end(
        [noise] + [speed_change(noise, 1 + sign * noise_speed) for sign in (-1, 1)
                   if noise_speed], length)
    if loud_noise:  # inverse CDF of the crop-length windows' noise energy
        e = np.concatenate([[0.0], np.cumsum(np.square(np.asarray(noisy, np.float64) - clean))])
        cdf = np.cumsum(e[length:] - e[:-length])
        cdf = tf.constant(cdf / cdf[-1] if cdf[-1] > 0 else np.arange(1, starts + 1) / starts)
    # The speech copies, end to end: offsets and number of crop starts of each.
    shifts = [speech_speed * i / speed_steps for i in range(1, speed_steps + 1)]
    copies = [clean] + [speed_change(clean, 1 + sign * d) for d in shifts if d
                        for sign in (-1, 1)]
    if extra_speech is not None and len(extra_speech):
        copies.append(np.asarray(extra_speech, np.float32))
    s, offsets, copy_starts = _end_to_end(copies, length)

    def ri(wave):
        z = features.stft(wave, fft_length, frame_step, fft_length)
        return tf.stack([tf.math.real(z), tf.math.imag(z)], axis=-1)

    freqs = np.arange(fft_length // 2 + 1) * sample_rate / fft_length
    octaves = tf.constant(np.clip(np.log2(np.maximum(freqs, 1.0) / 1000.0), -3, 3) / 3,
                          tf.float32)[:, None]

    def crop(seeds):
        k = tf.random.uniform([], 0, len(copy_starts), tf.int32) if len(copy_starts) > 1 else 0
        a = tf.cast(tf.math.floormod(seeds[0], copy_starts[k]), tf.int32)
        u = tf.cast(tf.math.floormod(seeds[2], 1 << 20), tf.float32) / float(1 << 20)
        elsewhere = (u < remix) | (k > 0)
        j = tf.random.uniform([], 0, len(noise_starts), tf.int32) if len(noise_starts) > 1 else 0
        j = tf.where(elsewhere, j, 0)
        b = tf.cast(tf.math.floormod(seeds[1], noise_starts[j]), tf.int32)
        if loud_noise:
            w = tf.random.uniform([2], dtype=tf.float64)
            loud = tf.cast(tf.searchsorted(cdf, w[1:]), tf.int32)[0]
            b = tf.where((w[0] < loud_noise) & (j == 0), tf.minimum(loud, starts - 1), b)
        b = tf.where(elsewhere, b, a)
        sc = s[offsets[k] + a:offsets[k] + a + length]
        nc = v[noise_offsets[j] + b:noise_offsets[j] + b + length]
        if noise_flip:
            flips = tf.random.uniform([2]) < 0.5
            nc = tf.where(flips[0], tf.reverse(nc, [0]), nc)
            nc = tf.where(flips[1], -nc, nc)
        if noise_gain_db or noise_gain_offset_db:
            db = noise_gain_offset_db + tf.random.uniform([], -noise_gain_db, noise_gain_db)
            nc = nc * 10.0 ** (db / 20.0)
        if gain_db:
            g = 10.0 ** (tf.random.uniform([], -gain_db, gain_db) / 20.0)
            sc, nc = sc * g, nc * g
        if polarity_flip:
            sign = tf.where(tf.random.uniform([]) < 0.5, -1.0, 1.0)
            sc, nc = sc * sign, nc * sign
        if not speech_tilt_db:
            return ri(sc + nc), ri(sc)
        t = tf.random.uniform([], -speech_tilt_db, speech_tilt_db)
        sr = ri(sc) * 10.0 ** (t * octaves / 20.0)
        return sr + ri(nc), sr

    ds = tf.data.Dataset.random(seed=seed, rerandomize_each_iteration=True).batch(3)
    ds = ds.take(count).map(crop, num_parallel_calls=tf.data.AUTOTUNE)
    return ds.batch(batch_size).prefetch(2)


def _end_to_end(waves, length):
    """The `waves` of at least `length` samples, end to end, as constants: the samples,
    each wave's offset (int32) and its number of `length`-sample crop starts (int64)."""
    waves = [w for w in waves if len(w) >= length]
    return (tf.constant(np.concatenate(waves)),
            tf.constant(np.cumsum([0] + [len(w) for w in waves[:-1]]), tf.int32),
            tf.constant([len(w) - length + 1 for w in waves], tf.int64))


def speed_change(wave, speed):
    """`wave` played `speed` times faster (pitch and tempo together): polyphase resampling
    by the nearest ratio with a denominator <= 100; length about len(wave) / speed."""
    import fractions
    import scipy.signal

    ratio = fractions.Fraction(speed).limit_denominator(100)
    out = scipy.signal.resample_poly(wave, ratio.denominator, ratio.numerator)
    return out.astype(np.float32)


# ----------------------------------------------------------------------------- denoiser


class Denoiser(tf.Module):
    """Raw waveform in, denoised waveform out: STFT, network, (Griffin-Lim), inverse STFT.

    `__call__` takes `[batch, samples]` float32 (any length; inputs shorter
    than one FFT frame are zero-padded internally) and returns `[batch,
    samples]`. This is the function exported as the SavedModel's `serve`.

    Args:
        model: a `tfdl.models.denoise` network.
        fft_length, frame_step: the STFT it was trained with.
        griffin_lim: consistency iterations keeping the estimated magnitude
            and starting from the network's phase (0: none).
    """

    def __init__(self, model, fft_length=1024, frame_step=512, griffin_lim=0):
        super().__init__()
        self.model = model
        self.fft_length, self.frame_step, self.griffin_lim = fft_length, frame_step, griffin_lim

    def _stft(self, x):
        return features.stft(x, self.fft_length, self.frame_step, center=True)

    @tf.function(input_signature=[tf.TensorSpec([None, None], tf.float32, name="waveforms")])
    def __call__(self, waveforms):
        n = tf.shape(waveforms)[-1]
        x = tf.pad(waveforms, [[0, 0], [0, tf.maximum(self.fft_length - n, 0)]])
        padded = tf.shape(x)[-1]
        spec = self._stft(x)
        ri = tf.stack([tf.math.real(spec), tf.math.imag(spec)], axis=-1)
        est = _complex(self.model(ri, training=False))
        if self.griffin_lim:
            mag = tf.cast(tf.abs(est), tf.complex64)
            for _ in range(self.griffin_lim):
                y = features.inverse_stft(est, self.fft_length, self.frame_step, center=True,
                                          length=padded)
                z = self._stft(y)
                za = tf.abs(z)
                phase = tf.where(za > 0, z / tf.cast(tf.maximum(za, 1e-30), tf.complex64),
                                 tf.ones_like(z))
                est = mag * phase
        out = features.inverse_stft(est, self.fft_length, self.frame_step, center=True,
                                    length=padded)
        return out[:, :n]

    def denoise(self, wave):
        """Numpy mono `[samples]` -> denoised numpy `[samples]`."""
        return self(tf.constant(np.asarray(wave, np.float32)[None]))[0].numpy()


def export(denoiser, export_dir):
    """Writes a SavedModel whose `serve([batch, samples]) -> [batch, samples]` denoises."""
    from tfdl.export import export_function

    return export_function(denoiser.model, export_dir, denoiser.__call__,
                           [tf.TensorSpec([None, None], tf.float32, name="waveforms")])


def real_time_factor(fn, wave, sample_rate, repeats=3):
    """Median seconds of compute per second of audio for `fn([1, samples])` (after a warm-up)."""
    x = tf.constant(np.asarray(wave, np.float32)[None])
    fn(x)
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        np.asarray(fn(x))
        times.append(time.perf_counter() - t0)
    return float(np.median(times)) / (len(wave) / sample_rate)


# ----------------------------------------------------------------------------- callbacks


class ValidationMonitor(keras.callbacks.Callback):
    """Exact SNR of the reconstructed validation tail each epoch, and its audio, in TensorBoard.

    Writes scalars `validation/snr_db` and audio `validation/denoised` (every
    `audio_every` epochs; `noisy` and `clean` once) under `logdir`, and keeps
    the per-epoch SNRs in `self.snrs`.
    """

    def __init__(self, denoiser, noisy, clean, sample_rate, logdir, audio_every=10):
        super().__init__()
        self.denoiser, self.noisy, self.clean = denoiser, noisy, clean
        self.rate, self.audio_every = sample_rate, audio_every
        self.writer = tf.summary.create_file_writer(str(logdir))
        self.snrs = []

    def _audio(self, tag, wave, step):
        tf.summary.audio(tag, np.clip(wave, -1, 1)[None, :, None].astype(np.float32),
                         self.rate, step=step, max_outputs=1)

    def on_train_begin(self, logs=None):
        with self.writer.as_default():
            self._audio("validation/noisy", self.noisy, 0)
            self._audio("validation/clean", self.clean, 0)

    def on_epoch_end(self, epoch, logs=None):
        out = self.denoiser.denoise(self.noisy)
        value = metrics.snr(self.clean, out)
        self.snrs.append(value)
        if logs is not None:
            logs["val_snr_exact"] = value
        with self.writer.as_default():
            tf.summary.scalar("validation/snr_db", value, step=epoch)
            if self.audio_every and (epoch + 1) % self.audio_every == 0:
                self._audio("validation/denoised", out, epoch)
        self.writer.flush()

    def on_train_end(self, logs=None):
        with self.writer.as_default():
            self._audio("validation/denoised_final", self.denoiser.denoise(self.noisy),
                        len(self.snrs))
        self.writer.flush()


# ----------------------------------------------------------------------------- runs


def build_model(cfg, bins):
    if cfg.model.startswith("tcn"):
        kw = dict(bins=bins, blocks=cfg.blocks, repeats=cfg.repeats, channels=cfg.channels,
                  hidden=cfg.hidden, log_compression=cfg.log_compression,
                  log_offset=cfg.log_offset, long_window=cfg.long_window,
                  frame_step=cfg.frame_step, dropout=cfg.block_dropout,
                  phase=cfg.phase_features)
        if cfg.model == "tcn":
            kw["output"] = cfg.output
        else:
            kw["taps"] = cfg.filter_taps
        return MODELS.build(cfg.model, **kw)
    kw = dict(bins=bins, hidden_layers=cfg.hidden_layers, units=cfg.units,
              activation=cfg.activation, dropout=cfg.dropout, context=cfg.context,
              log_compression=cfg.log_compression, log_offset=cfg.log_offset)
    if cfg.model == "fc":
        kw["output"] = cfg.output
    return MODELS.build(cfg.model, **kw)


def adapt_normalisation(model, noisy_ri):
    """Sets the model's `FeatureNorm` statistics from its features of the training frames."""
    feats = model.get_layer("features")(tf.constant(noisy_ri[None], tf.float32)).numpy()
    norm = model.get_layer("normalize")
    assert isinstance(norm, FeatureNorm)
    norm.adapt(feats)


def load_test(path, sample_rate, fft_length):
    """Reads a test clip to mono at the model's rate.

    Returns:
        (wave at `sample_rate`, original rate).

    Raises:
        InputError: missing, silent, or shorter than one STFT frame.
    """
    wave, rate = taudio.read_audio(path, mono=True)  # Stereo test clips are averaged.
    check_not_silent(wave, path, "test")
    if rate != sample_rate:
        wave = taudio.resample(wave, rate, sample_rate).numpy()
    if len(wave) < fft_length:
        raise InputError(f"--test: {path} is too short: {len(wave)} samples at {sample_rate} Hz "
                         f"< one STFT frame (fft_length={fft_length})")
    return wave, rate


def _spectrogram_png(panels, rate, cfg, path):
    mags = [(t, np.abs(features.stft(w, cfg.fft_length, cfg.frame_step, center=True).numpy()))
            for t, w in panels]
    return plots.spectrograms(mags, rate, cfg.frame_step, path)


def run(cfg, verbose="auto"):
    """Trains, evaluates, denoises the test clips and exports; returns the metrics dict.

    Writes into `cfg.workdir`: config.json, history.json, training_curves.png,
    validation_denoised.wav, spectrograms_validation.png, `<test>_denoised.wav`
    and spectrograms_<test>.png per test clip, TensorBoard logs, export/, and
    metrics.json last.
    """
    from tfdl.train import fit, make_optimizer
    from tfdl.workdir import Workdir

    cfg.validate()
    clean_path = resolve(cfg.clean, cfg.data_dir, "clean")
    noisy_path = resolve(cfg.noisy, cfg.data_dir, "noisy")
    tests = [resolve(t, cfg.data_dir, "test") for t in cfg.test]
    clean, noisy, rate = load_pair(clean_path, noisy_path)
    if cfg.max_seconds:
        n = int(cfg.max_seconds * rate)
        clean, noisy = clean[:n], noisy[:n]
        check_not_silent(clean, clean_path, "clean")
    cut = split_point(len(clean), cfg.val_fraction)
    if len(clean) - cut < cfg.fft_length or cut < 2 * cfg.fft_length:
        raise InputError(f"--clean/--noisy: {len(clean)} samples are too few for a training "
                         f"part and a validation tail (--val_fraction={cfg.val_fraction}) of "
                         f"at least one STFT frame each (--fft_length={cfg.fft_length})")
    train_end = cut  # the training audio: clean[:train_end], all of the part by default
    if cfg.train_seconds:
        if not cfg.fft_length <= cfg.train_seconds * rate <= cut:
            raise InputError(f"--train_seconds must lie between one STFT frame "
                             f"({cfg.fft_length / rate:.3f} s) and the training part "
                             f"({cut / rate:.2f} s). Received: "
                             f"--train_seconds={cfg.train_seconds}")
        train_end = int(round(cfg.train_seconds * rate))
        check_not_silent(clean[:train_end], clean_path, "clean")
    test_waves = [(p, *load_test(p, rate, cfg.fft_length)) for p in tests]
    extra, extra_files = (load_extra_speech(cfg.extra_speech, rate, clean[:cut])
                          if cfg.extra_speech else (None, 0))

    keras.utils.set_random_seed(cfg.seed)
    wd = Workdir(cfg.workdir)
    wd.write_json("config.json", {**dataclasses.asdict(cfg), "loss": cfg.resolved_loss,
                                  "clean_path": str(clean_path), "noisy_path": str(noisy_path),
                                  "sample_rate": rate, "extra_speech_files": extra_files,
                                  "extra_speech_seconds": 0 if extra is None
                                  else round(len(extra) / rate, 2)})
    fl, fs = cfg.fft_length, cfg.frame_step
    # Crops per epoch from the whole training part (its centred STFT has 1 + cut // fs
    # frames), also with --train_seconds: less audio, as many optimizer steps.
    crops = default_crops(1 + cut // fs, cfg.chunk_frames, cfg.batch_size)
    clean_tr, noisy_tr = clean[:train_end], noisy[:train_end]
    clean_va, noisy_va = clean[cut:], noisy[cut:]
    xtr = spectrum(noisy_tr, fl, fs)
    xva, yva = spectrum(noisy_va, fl, fs), spectrum(clean_va, fl, fs)

    model = build_model(cfg, fl // 2 + 1)
    adapt_normalisation(model, xtr)
    train_ds = chunk_dataset(clean_tr, noisy_tr, cfg.chunk_frames, cfg.batch_size, fl, fs,
                             cfg.seed, remix=cfg.remix, gain_db=cfg.gain_db,
                             noise_gain_db=cfg.noise_gain_db,
                             noise_gain_offset_db=cfg.noise_gain_offset_db,
                             noise_flip=cfg.noise_flip, loud_noise=cfg.loud_noise,
                             speech_speed=cfg.speech_speed, speed_steps=cfg.speed_steps,
                             noise_speed=cfg.noise_speed,
                             polarity_flip=cfg.polarity_flip,
                             speech_tilt_db=cfg.speech_tilt_db, sample_rate=rate,
                             extra_speech=extra, crops_per_epoch=crops)
    val_ds = tf.data.Dataset.from_tensors((xva[None], yva[None]))
    steps = cfg.steps_per_epoch or -(-crops // cfg.batch_size)
    model.compile(optimizer=make_optimizer(cfg.optimizer, cfg.learning_rate, cfg.schedule,
                                           decay_steps=steps * cfg.epochs,
                                           weight_decay=cfg.weight_decay or None,
                                           clipnorm=cfg.clipnorm or None),
                  loss=make_loss(cfg.resolved_loss, fl, fs),
                  metrics=[WaveformSNR(fl, fs, trim=fl // 2)])
    denoiser = Denoiser(model, fl, fs, cfg.griffin_lim)
    monitor = ValidationMonitor(denoiser, noisy_va, clean_va, rate,
                                wd.tensorboard / "validation", cfg.audio_every)
    history = fit(model, train_ds, val_ds, workdir=wd, epochs=cfg.epochs,
                  batch_size=cfg.batch_size, monitor="val_snr", mode="max",
                  patience=cfg.patience or None, steps_per_epoch=steps,
                  examples_per_epoch=steps * cfg.batch_size, callbacks=[monitor],
                  verbose=verbose)
    plots.training_curves({k: v for k, v in history.items() if isinstance(v, list)},
                          wd.path("training_curves.png"), title=f"denoise {cfg.model}")

    # Validation-tail metrics with the best weights (restored by `fit`).
    est = denoiser.denoise(noisy_va)
    oracle = oracle_noisy_phase(clean_va, noisy_va, fl, fs)
    snr = {"input": metrics.snr(clean_va, noisy_va), "model": metrics.snr(clean_va, est),
           "oracle_noisy_phase": metrics.snr(clean_va, oracle)}
    # The same on the training part (in-sample): how far the model is from the oracle
    # on audio it trained on tells under-fitting from over-fitting.
    train_snr = {"input": metrics.snr(clean_tr, noisy_tr),
                 "model": metrics.snr(clean_tr, denoiser.denoise(noisy_tr)),
                 "oracle_noisy_phase": metrics.snr(
                     clean_tr, oracle_noisy_phase(clean_tr, noisy_tr, fl, fs))}
    si_sdr = {"input": metrics.si_sdr(clean_va, noisy_va),
              "model": metrics.si_sdr(clean_va, est),
              "oracle_noisy_phase": metrics.si_sdr(clean_va, oracle)}
    if not cfg.griffin_lim:
        # Phase reconstruction without retraining: Griffin-Lim consistency
        # iterations from the network's (noisy) phase, same magnitude estimate.
        gl = Denoiser(model, fl, fs, GL_ITERATIONS).denoise(noisy_va)
        snr[f"model_griffin_lim{GL_ITERATIONS}"] = metrics.snr(clean_va, gl)
        si_sdr[f"model_griffin_lim{GL_ITERATIONS}"] = metrics.si_sdr(clean_va, gl)
    taudio.write_wav(wd.path("validation_denoised.wav"), est, rate)
    _spectrogram_png([("noisy (validation tail)", noisy_va), ("denoised", est),
                      ("clean", clean_va)], rate, cfg, wd.path("spectrograms_validation.png"))

    outputs = []
    for path, wave, orig_rate in test_waves:
        out = denoiser.denoise(wave)
        if not np.all(np.isfinite(out)):
            raise InputError(f"--test: denoising {path} gave non-finite samples; nothing written")
        panels = [(f"noisy: {path.name}", wave), ("denoised", out)]
        if orig_rate != rate:
            out = taudio.resample(out, rate, orig_rate).numpy()
        wav = wd.path(f"{path.stem}_denoised.wav")
        taudio.write_wav(wav, out, orig_rate)
        png = _spectrogram_png(panels, rate, cfg, wd.path(f"spectrograms_{path.stem}.png"))
        outputs.append({"input": str(path), "output": str(wav), "spectrogram": str(png),
                        "sample_rate": orig_rate, "seconds": len(out) / orig_rate})

    result = {
        "model": cfg.model, "loss": cfg.resolved_loss, "sample_rate": rate,
        "train_seconds_audio": len(clean_tr) / rate, "validation_seconds_audio": (len(clean) - cut) / rate,
        "train_frames": int(xtr.shape[0]), "validation_frames": int(xva.shape[0]),
        "validation_snr_db": snr, "validation_si_sdr_db": si_sdr, "training_snr_db": train_snr,
        "validation_snr_per_epoch": monitor.snrs,
        "best_val_snr_metric": max(history.get("val_snr", [float("nan")])),
        "epochs_run": len(history.get("loss", [])),
        "train_seconds": history.get("train_seconds"),
        "params": int(model.count_params()),
        "tests": outputs,
    }
    if cfg.export:
        from tfdl.export import load

        export(denoiser, wd.export)
        served = load(wd.export)
        result["export"] = str(wd.export)
        result["export_real_time_factor_cpu"] = real_time_factor(served.serve, noisy_va, rate)
        result["export_max_abs_diff"] = float(np.max(np.abs(
            served.serve(tf.constant(noisy_va[None]))[0].numpy() - est)))
    result["loadavg"] = list(os.getloadavg())
    wd.write_json("metrics.json", result)
    result["workdir"] = str(wd.root)
    return result


def summary_rows(result):
    """Rows for `tfdl.cli.summary` from a `run` result."""
    snr, sdr = result["validation_snr_db"], result["validation_si_sdr_db"]
    rows = [("validation SNR (dB)", f"input {snr['input']:.2f}  model {snr['model']:.2f}  "
                                    f"oracle(noisy phase) {snr['oracle_noisy_phase']:.2f}"),
            ("validation SI-SDR (dB)", f"input {sdr['input']:.2f}  model {sdr['model']:.2f}"),
            ("training-part SNR (dB)", "input {input:.2f}  model {model:.2f}  oracle(noisy "
                                       "phase) {oracle_noisy_phase:.2f}".format(
                                           **result["training_snr_db"])),
            ("epochs", str(result["epochs_run"]))]
    if "export_real_time_factor_cpu" in result:
        rows.append(("export RTF (CPU)", f"{result['export_real_time_factor_cpu']:.4f}"))
    for t in result["tests"]:
        rows.append(("denoised", t["output"]))
    wd = result["workdir"]
    rows += [("workdir", wd), ("export", result.get("export", "(off)")),
             ("tensorboard", f"tensorboard --logdir {wd}/tensorboard")]
    return rows
