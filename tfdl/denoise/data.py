"""Speech-denoising data: the sample-aligned training pair, test clips, STFTs, training crops.

The pair (`train_clean_male.wav` / `train_dirty_male.wav`, 16 kHz, found in
the data folder) is cut at `split_point`: the first part trains, the
held-out tail validates. Each part gets its own centred STFT (`spectrum`), so
the tail's metrics are those of denoising that waveform on its own. Training
reads random waveform crops (`chunk_dataset`) with the augmentation of the
config: re-mixed noise, noise gain and flips, speed-perturbed speech;
`mixture_dataset` mixes the cross-speaker training voices with the noise.
"""

import dataclasses
from pathlib import Path

import numpy as np
import tensorflow as tf

from tfdl import audio, features
from tfdl.errors import InputError

DATASET = "denoise"
CLEAN = "train_clean_male.wav"
NOISY = "train_dirty_male.wav"
VOICES_SNR_DB = (-5.0, 20.0)  # input SNRs of the other voices' training crops (as the dev set's)


def resolve(name, data_dir=None, flag="test"):
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
    wave, rate = audio.read_audio(path, mono=False)
    if wave.shape[1] != 1:
        raise InputError(f"--{flag}: {path} has {wave.shape[1]} channels; expected mono")
    return wave[:, 0], rate


def check_not_silent(wave, path, flag):
    """Raises InputError naming `--flag` if `wave` is all zeros or not finite."""
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


def split_point(num_samples, val_fraction):
    """Index of the first validation sample: the last `val_fraction` is held out."""
    return int(round(num_samples * (1.0 - val_fraction)))


@dataclasses.dataclass(frozen=True)
class Split:
    """The training pair, split into the audio that trains and the tail that validates.

    Attributes:
        clean, noisy: the training audio: the training part, or its first
            `train_seconds`.
        val_clean, val_noisy: the held-out tail.
        sample_rate: the pair's rate.
        part_samples: samples in the whole training part; the crops per epoch
            are counted from it, so training on less audio takes as many steps.
    """

    clean: np.ndarray
    noisy: np.ndarray
    val_clean: np.ndarray
    val_noisy: np.ndarray
    sample_rate: int
    part_samples: int


def load_split(cfg, clean_path, noisy_path):
    """The pair at `clean_path` / `noisy_path`, cut as `cfg` says (checked before any work).

    Args:
        cfg: a validated `Config` (`max_seconds`, `val_fraction`,
            `train_seconds`, `fft_length`).

    Returns:
        A `Split`.

    Raises:
        InputError: a bad pair, too little audio for a training part and a
            tail of one STFT frame each, or `train_seconds` out of range.
    """
    clean, noisy, rate = load_pair(clean_path, noisy_path)
    if cfg.max_seconds:
        n = int(cfg.max_seconds * rate)
        clean, noisy = clean[:n], noisy[:n]
        check_not_silent(clean, clean_path, "clean")
    cut = split_point(len(clean), cfg.val_fraction)
    if len(clean) - cut < cfg.fft_length or cut < 2 * cfg.fft_length:
        raise InputError(f"--clean/--noisy: {len(clean)} samples are too few for a training "
                         f"part and a validation tail (--config.val_fraction={cfg.val_fraction}) "
                         f"of at least one STFT frame each "
                         f"(--config.fft_length={cfg.fft_length})")
    end = cut
    if cfg.train_seconds:
        if not cfg.fft_length <= cfg.train_seconds * rate <= cut:
            raise InputError(f"--config.train_seconds must lie between one STFT frame "
                             f"({cfg.fft_length / rate:.3f} s) and the training part "
                             f"({cut / rate:.2f} s). Received: "
                             f"--config.train_seconds={cfg.train_seconds}")
        end = int(round(cfg.train_seconds * rate))
        check_not_silent(clean[:end], clean_path, "clean")
    return Split(clean[:end], noisy[:end], clean[cut:], noisy[cut:], rate, cut)


def load_test(path, sample_rate, fft_length):
    """Reads a test clip to mono at the model's rate (stereo clips are averaged).

    Returns:
        (wave at `sample_rate`, original rate).

    Raises:
        InputError: missing, silent, or shorter than one STFT frame.
    """
    wave, rate = audio.read_audio(path, mono=True)
    check_not_silent(wave, path, "test")
    if rate != sample_rate:
        wave = audio.resample(wave, rate, sample_rate).numpy()
    if len(wave) < fft_length:
        raise InputError(f"--test: {path} is too short: {len(wave)} samples at {sample_rate} Hz "
                         f"< one STFT frame (fft_length={fft_length})")
    return wave, rate


def spectrum(wave, fft_length=1024, frame_step=512):
    """Centred STFT of a mono waveform as real/imag numpy, `[frames, bins, 2]`."""
    s = features.stft(np.asarray(wave, np.float32), fft_length, frame_step, center=True)
    return np.stack([tf.math.real(s).numpy(), tf.math.imag(s).numpy()], axis=-1)


def reconstruct(ri, length, fft_length=1024, frame_step=512):
    """Inverse of `spectrum`: real/imag `[..., frames, bins, 2]` -> waveform `[..., length]`."""
    ri = tf.convert_to_tensor(ri, tf.float32)
    return features.inverse_stft(tf.complex(ri[..., 0], ri[..., 1]), fft_length, frame_step,
                                 center=True, length=length)


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


def default_crops(frames, chunk_frames, batch_size):
    """Crops per epoch: each training frame is seen about four times."""
    return max(batch_size, 4 * frames // int(min(chunk_frames, frames)))


def speed_change(wave, speed):
    """`wave` played `speed` times faster (pitch and tempo together): polyphase resampling
    by the nearest ratio with a denominator <= 100; length about len(wave) / speed."""
    import fractions

    import scipy.signal

    ratio = fractions.Fraction(speed).limit_denominator(100)
    out = scipy.signal.resample_poly(wave, ratio.denominator, ratio.numerator)
    return out.astype(np.float32)


def speech_copies(clean, speech_speed):
    """The training speech as recorded, and played at 1 -+ `speech_speed` (0: as recorded)."""
    if not speech_speed:
        return [clean]
    return [clean] + [speed_change(clean, 1 + sign * speech_speed) for sign in (-1, 1)]


def _end_to_end(waves, length):
    """The `waves` of at least `length` samples, end to end, as constants: the samples,
    each wave's offset (int32) and its number of `length`-sample crop starts (int64)."""
    waves = [w for w in waves if len(w) >= length]
    return (tf.constant(np.concatenate(waves)),
            tf.constant(np.cumsum([0] + [len(w) for w in waves[:-1]]), tf.int32),
            tf.constant([len(w) - length + 1 for w in waves], tf.int64))


def _ri_fn(cfg):
    """The map from a waveform to its real/imag STFT `[frames, bins, 2]` (`cfg`'s STFT)."""
    def ri(wave):
        z = features.stft(wave, cfg.fft_length, cfg.frame_step, cfg.fft_length)
        return tf.stack([tf.math.real(z), tf.math.imag(z)], axis=-1)

    return ri


def _crop_fn(clean, noise, length, cfg):
    """The map from 3 random int64 seeds to one (noisy, clean) real/imag training crop."""
    speech, offsets, starts = _end_to_end(speech_copies(clean, cfg.speech_speed), length)
    copies = int(starts.shape[0])
    noise_starts = tf.constant(len(noise) - length + 1, tf.int64)
    noise = tf.constant(noise)

    ri = _ri_fn(cfg)

    def crop(seeds):
        k = tf.random.uniform([], 0, copies, tf.int32) if copies > 1 else 0
        a = tf.cast(tf.math.floormod(seeds[0], starts[k]), tf.int32)
        u = tf.cast(tf.math.floormod(seeds[2], 1 << 20), tf.float32) / float(1 << 20)
        # Speed-changed speech no longer lines up with the recorded noise: it always
        # gets noise from elsewhere.
        elsewhere = (u < cfg.remix) | (k > 0)
        b = tf.cast(tf.math.floormod(seeds[1], noise_starts), tf.int32)
        b = tf.where(elsewhere, b, a)
        sc = speech[offsets[k] + a:offsets[k] + a + length]
        nc = noise[b:b + length]
        if cfg.noise_flip:
            flips = tf.random.uniform([2]) < 0.5
            nc = tf.where(flips[0], tf.reverse(nc, [0]), nc)
            nc = tf.where(flips[1], -nc, nc)
        if cfg.noise_gain_db:
            db = tf.random.uniform([], -cfg.noise_gain_db, cfg.noise_gain_db)
            nc = nc * 10.0 ** (db / 20.0)
        return ri(sc + nc), ri(sc)

    return crop


def chunk_dataset(clean, noisy, cfg, crops_per_epoch=None, voices=None):
    """Random waveform crops of `cfg.chunk_frames` STFT frames, as real/imag spectra (training).

    A crop starts at any sample, so its frames are new framings of the
    training audio (about `frame_step` times more distinct frames than one
    fixed framing). The augmentation of `cfg`:
    - `remix`: probability that the crop's noise (noisy - clean: the pair is
      sample-aligned) comes from another random place of the training audio,
      added to the clean crop: new mixtures of the same speech and noise.
    - `noise_gain_db`: a random gain in [-g, g] dB on the crop's noise (other
      input SNRs than the recording's).
    - `noise_flip`: the noise time-reversed and negated, each with
      probability 1/2 (four noises from one).
    - `speech_speed`: the crop's speech comes, with equal probability, from
      the clean audio or from it resampled to play at 1 - x or 1 + x times the
      speed (pitch and tempo change together); such crops always get noise
      from elsewhere, whatever `remix`.

    Args:
        clean, noisy: training waveforms (numpy, same length).
        cfg: a `Config` (`chunk_frames`, `batch_size`, `fft_length`,
            `frame_step`, `seed` and the augmentation above). Crops and draws
            are new every epoch.
        crops_per_epoch: default `default_crops` (each frame about 4 times).
        voices: (speech waveforms, noise): with `cfg.voices` = p, a share p of
            the crops comes from `mixture_dataset` of these instead (other
            voices, at an input SNR uniform in `VOICES_SNR_DB`).

    Returns:
        A `tf.data.Dataset` of (noisy, clean) real/imag `[batch, chunk, bins, 2]`.
    """
    n = len(clean)
    frames = 1 + (n - cfg.fft_length) // cfg.frame_step
    if frames < 1:
        raise ValueError(f"the training audio is shorter than one frame. Received: {n} samples")
    chunk = int(min(cfg.chunk_frames, frames))
    length = (chunk - 1) * cfg.frame_step + cfg.fft_length
    count = crops_per_epoch or default_crops(frames, cfg.chunk_frames, cfg.batch_size)
    clean = np.asarray(clean, np.float32)
    noise = np.asarray(noisy, np.float32) - clean
    ds = tf.data.Dataset.random(seed=cfg.seed, rerandomize_each_iteration=True).batch(3)
    if voices is None or not cfg.voices:
        ds = ds.take(count).map(_crop_fn(clean, noise, length, cfg),
                                num_parallel_calls=tf.data.AUTOTUNE)
        return ds.batch(cfg.batch_size).prefetch(2)
    ri = _ri_fn(cfg)
    pair = ds.map(_crop_fn(clean, noise, length, cfg), num_parallel_calls=tf.data.AUTOTUNE)
    other = mixture_dataset(*voices, length, VOICES_SNR_DB, seed=cfg.seed + 1).map(
        lambda x, s: (ri(x), ri(s)), num_parallel_calls=tf.data.AUTOTUNE)
    ds = tf.data.Dataset.sample_from_datasets([pair, other], [1.0 - cfg.voices, cfg.voices],
                                              seed=cfg.seed, rerandomize_each_iteration=True)
    return ds.take(count).batch(cfg.batch_size).prefetch(2)


def mixture_dataset(speech, noise, length, snr_range=(-5.0, 20.0), seed=0):
    """Random (noisy, clean) waveform crops: the cross-speaker training part's voices
    (`tfdl.denoise.devset`) mixed on the fly with its noise at random input SNRs (issue
    #36, item 2).

    Each crop draws a voice (uniformly), a start in it, a start in `noise` and an
    SNR uniform in `snr_range` dB; the noise crop is scaled so that the crop's
    10 log10(sum s^2 / sum n^2) is that SNR. Draws are new every iteration.

    Args:
        speech: float32 waveforms (`tfdl.denoise.devset.speaker_speech` of
            `DevSet.train_speakers`); those shorter than `length` are left out.
        noise: the noise residual (`DevSet.train_noise`), at least `length` long.
        length: samples per crop.
        snr_range: (low, high) input SNR in dB.
        seed: the draws' seed.

    Returns:
        An endless `tf.data.Dataset` of (noisy, clean) float32 `[length]`.

    Raises:
        ValueError: no voice or too little noise for one crop, or a bad range.
    """
    speech = [np.asarray(w, np.float32) for w in speech if len(w) >= length]
    if not speech or len(noise) < length:
        raise ValueError(f"speech and noise must hold at least one crop of length={length}. "
                         f"Received: {len(speech)} long enough voices, {len(noise)} noise samples")
    low, high = map(float, snr_range)
    if not low <= high:
        raise ValueError(f"snr_range must be (low, high) with low <= high. Received: "
                         f"snr_range={snr_range}")
    waves = tf.constant(np.concatenate(speech))
    offsets = tf.constant(np.cumsum([0] + [len(w) for w in speech[:-1]]), tf.int64)
    starts = tf.constant([len(w) - length + 1 for w in speech], tf.int64)
    noise = tf.constant(np.asarray(noise, np.float32))
    noise_starts = len(noise) - length + 1

    def crop(seeds):
        k = tf.math.floormod(seeds[0], len(speech))
        a = offsets[k] + tf.math.floormod(seeds[1], starts[k])
        b = tf.math.floormod(seeds[2], noise_starts)
        snr = low + (high - low) * tf.cast(tf.math.floormod(seeds[3], 1 << 20),
                                           tf.float32) / float(1 << 20)
        s, n = waves[a:a + length], noise[b:b + length]
        gain = tf.sqrt(tf.reduce_sum(s * s) / (tf.reduce_sum(n * n) + 1e-20)
                       / 10.0 ** (snr / 10.0))
        return s + gain * n, s

    return (tf.data.Dataset.random(seed=seed, rerandomize_each_iteration=True).batch(4)
            .map(crop, num_parallel_calls=tf.data.AUTOTUNE))
