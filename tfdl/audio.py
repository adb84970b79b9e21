"""Audio I/O and waveform utilities: decode, mono, pad/trim, normalise, resample.

WAV (16-bit PCM) is decoded with core TensorFlow (`tf.audio.decode_wav`) so it
runs inside tf.data and on any TensorFlow version. Other formats (24-bit or
float WAV, FLAC, OGG) go through `soundfile`. Resampling uses soxr
(`resample`), eagerly or inside tf.data; tensorflow-io is not needed.
"""

import os
import struct
from pathlib import Path

import numpy as np
import tensorflow as tf

from tfdl.errors import InputError

def wav_info(path):
    """Reads a WAV header without decoding samples.

    Args:
        path: a WAV file.

    Returns:
        dict with `sample_rate`, `channels`, `bits`, `format` (1 PCM, 3 float)
        and `frames`.

    Raises:
        InputError: if the file is missing or not a RIFF/WAVE file.
    """
    path = Path(path)
    if not path.is_file():
        raise InputError(f"audio file not found: {path}")
    with open(path, "rb") as f:
        head = f.read(12)
        if len(head) < 12 or head[:4] != b"RIFF" or head[8:12] != b"WAVE":
            raise InputError(f"not a WAV file (no RIFF/WAVE header): {path}")
        fmt = None
        while True:
            ch = f.read(8)
            if len(ch) < 8:
                break
            cid, size = ch[:4], struct.unpack("<I", ch[4:])[0]
            if cid == b"fmt ":
                data = f.read(size)
                if len(data) < 16:
                    raise InputError(f"corrupt WAV fmt chunk: {path}")
                tag, channels, rate, _, block, bits = struct.unpack("<HHIIHH", data[:16])
                if tag == 0xFFFE and len(data) >= 26:  # WAVE_FORMAT_EXTENSIBLE
                    tag = struct.unpack("<H", data[24:26])[0]
                fmt = dict(format=tag, channels=channels, sample_rate=rate, bits=bits,
                           block=block)
                if size % 2:
                    f.seek(1, os.SEEK_CUR)
            elif cid == b"data":
                if fmt is None:
                    raise InputError(f"corrupt WAV (data before fmt): {path}")
                fmt["frames"] = size // max(fmt["block"], 1)
                return fmt
            else:
                f.seek(size + (size % 2), os.SEEK_CUR)
    raise InputError(f"corrupt WAV (no fmt/data chunk): {path}")


def check_wav(path):
    """Checks that `tf.audio.decode_wav` can read `path`: 16-bit PCM, a whole data chunk.

    Returns:
        `wav_info(path)`.

    Raises:
        InputError: one line naming the file (missing, not a WAV, another
            encoding, an empty or truncated data chunk).
    """
    info = wav_info(path)
    if info["format"] != 1 or info["bits"] != 16:
        raise InputError(f"not a 16-bit PCM WAV (format {info['format']}, {info['bits']} bits): "
                         f"{path}")
    if info["frames"] <= 0 or info["frames"] * info["block"] > Path(path).stat().st_size:
        raise InputError(f"corrupt WAV (data chunk empty or longer than the file): {path}")
    return info


def tf_error_message(e):
    """The first line of a TensorFlow error's message, without the graph-function prefix
    (`{{function_node ...}}`) and op suffix (`[Op:DecodeWav] name:`) users cannot act on."""
    import re

    text = (getattr(e, "message", None) or str(e)).splitlines()[0]
    text = re.sub(r"\{\{function_node [^}]*\}\}\s*", "", text)
    return re.sub(r"\s*\[Op:[^\]]*\]( name:.*)?$", "", text).strip()


def decode_wav(contents, desired_channels=1):
    """Decodes 16-bit PCM WAV bytes to float32 in [-1, 1] with core TensorFlow.

    Works eagerly and inside `tf.data` / `tf.function`.

    Args:
        contents: scalar string tensor of WAV file bytes.
        desired_channels: 1 mixes to mono (first channel, as `decode_wav` does
            with `desired_channels=1`); use `to_mono` for an average.

    Returns:
        (waveform [samples], sample_rate int32 scalar) for mono, or
        (waveform [samples, channels], sample_rate) otherwise.
    """
    audio, rate = tf.audio.decode_wav(contents, desired_channels=desired_channels)
    if desired_channels == 1:
        audio = audio[:, 0]
    return audio, rate


def to_mono(audio):
    """Averages channels: [samples, channels] -> [samples]; 1-D input is returned as is."""
    audio = tf.convert_to_tensor(audio)
    if audio.shape.rank == 1:
        return audio
    return tf.reduce_mean(audio, axis=-1)


def read_audio(path, mono=True):
    """Reads any audio file to float32 numpy in [-1, 1].

    16-bit PCM WAV is decoded with `tf.audio.decode_wav`; 24/32-bit, float WAV,
    FLAC and OGG with `soundfile`.

    Args:
        path: audio file path.
        mono: average channels to one.

    Returns:
        (waveform float32 [samples] or [samples, channels], sample_rate int).

    Raises:
        InputError: missing, empty or undecodable file.
    """
    path = Path(path)
    if not path.is_file():
        raise InputError(f"audio file not found: {path}")
    if path.stat().st_size == 0:
        raise InputError(f"audio file is empty: {path}")
    audio = rate = None
    if path.suffix.lower() == ".wav":
        info = wav_info(path)
        if info["format"] == 1 and info["bits"] == 16:
            try:
                a, r = tf.audio.decode_wav(tf.io.read_file(str(path)))
            except (tf.errors.OpError, UnicodeDecodeError) as e:
                raise InputError(f"corrupt WAV file {path}: {tf_error_message(e)}") from None
            audio, rate = a.numpy(), int(r.numpy())
    if audio is None:
        import soundfile as sf

        try:
            audio, rate = sf.read(str(path), dtype="float32", always_2d=True)
        except Exception as e:  # soundfile raises RuntimeError/LibsndfileError.
            raise InputError(f"cannot decode audio file {path}: {e}") from None
    if audio.shape[0] == 0:
        raise InputError(f"audio file has no samples: {path}")
    audio = audio.astype(np.float32)
    if mono:
        audio = audio.mean(axis=1)
    return audio, int(rate)


def write_wav(path, audio, sample_rate):
    """Writes float audio in [-1, 1] as 16-bit PCM WAV (clipped; NaN refused).

    Raises:
        InputError: if the audio holds NaN or Inf.
    """
    audio = np.asarray(audio, dtype=np.float32)
    if not np.all(np.isfinite(audio)):
        raise InputError(f"refusing to write non-finite audio to {path}")
    if audio.ndim == 1:
        audio = audio[:, None]
    data = tf.audio.encode_wav(np.clip(audio, -1.0, 1.0), int(sample_rate))
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    tf.io.write_file(str(path), data)


def clip_warnings(wave, sample_rate, path, min_seconds=0.1):
    """What a classifier should warn about before it answers for a clip, one line each.

    Args:
        wave: mono float samples.
        sample_rate: their rate.
        path: the file (named in the messages).
        min_seconds: shorter clips get a warning.

    Returns:
        A list of warnings (silence, a clip too short to hold a word).

    Raises:
        InputError: NaN or Inf samples (no answer is given for those).
    """
    wave = np.asarray(wave)
    if not np.all(np.isfinite(wave)):
        raise InputError(f"non-finite samples (NaN or Inf) in {path}: refusing to classify it")
    out = []
    if wave.size == 0 or np.abs(wave).max() < 1e-4:
        out.append(f"{path} is silent (peak {np.abs(wave).max() if wave.size else 0:.1e}): "
                   f"the answer means nothing")
    if wave.size < min_seconds * sample_rate:
        out.append(f"{path} is {wave.size / sample_rate * 1000:.0f} ms long: too short to hold "
                   f"a word")
    return out


def pad_or_trim(audio, length):
    """Zero-pads at the end or trims a batch of waveforms to `length` samples.

    Args:
        audio: [..., samples] tensor.
        length: target number of samples (> 0).

    Returns:
        [..., length] tensor.
    """
    if not isinstance(length, int) or length <= 0:
        raise ValueError(f"length must be a positive integer. Received: length={length}")
    audio = tf.convert_to_tensor(audio)
    audio = audio[..., :length]
    pad = length - tf.shape(audio)[-1]
    paddings = tf.concat([tf.zeros([tf.rank(audio) - 1, 2], tf.int32),
                          tf.reshape(tf.stack([0, pad]), [1, 2])], axis=0)
    out = tf.pad(audio, paddings)
    # set_shape, not tf.ensure_shape: the latter is no TFLite built-in op.
    out.set_shape(audio.shape[:-1].concatenate([length]))
    return out


def peak_normalize(audio, eps=1e-8):
    """Scales each waveform (last axis) so its peak magnitude is 1; silence stays 0."""
    audio = tf.convert_to_tensor(audio)
    peak = tf.reduce_max(tf.abs(audio), axis=-1, keepdims=True)
    return audio / tf.maximum(peak, eps)


def _check_rate(name, rate):
    if isinstance(rate, (bool, np.bool_)) or not isinstance(rate, (int, np.integer)) or rate <= 0:
        raise ValueError(f"{name} must be a positive integer sample rate in Hz. "
                         f"Received: {name}={rate!r}")


def resampled_length(samples, rate_in, rate_out):
    """The length `resample` returns: `round(samples * rate_out / rate_in)`."""
    return round(int(samples) * int(rate_out) / int(rate_in))


def _soxr(audio, rate_in, rate_out):
    """NumPy resampling with soxr (the SoX resampler, "HQ": steep anti-alias filter).

    The output is cut or zero-padded by at most a sample to
    `resampled_length`, whatever soxr's own rounding of the length.
    """
    import soxr  # A dependency of librosa, deferred: most runs never resample.

    audio = np.ascontiguousarray(audio, dtype=np.float32)
    rate_in, rate_out = int(rate_in), int(rate_out)
    if rate_in <= 0:
        raise InputError(f"cannot resample audio whose sample rate is {rate_in} Hz")
    if rate_in == rate_out:
        return audio
    n = resampled_length(audio.shape[0], rate_in, rate_out)
    out = soxr.resample(audio, rate_in, rate_out, quality="HQ") if audio.shape[0] else audio
    out = np.asarray(out, np.float32)[:n]
    if out.shape[0] < n:
        out = np.pad(out, [(0, n - out.shape[0])])
    return out


def resample(audio, rate_in, rate_out):
    """Resamples a mono waveform with soxr (no tensorflow-io needed).

    Eagerly, with Python or NumPy inputs, this is a direct call of the `soxr`
    package. With a tensor `rate_in` (a per-file rate read by `decode_wav`)
    or inside a `tf.function` / `tf.data` map it runs as `tf.numpy_function`,
    and files already at `rate_out` skip it (`tf.cond`). Equal Python rates
    return the input unchanged, without any op. The library, not our own
    filter: soxr's "HQ" filter is the reference resampler of librosa and SoX.

    Args:
        audio: [samples] float waveform (NumPy array or tensor).
        rate_in: input sample rate in Hz (int, or an int tensor).
        rate_out: output sample rate in Hz (int > 0).

    Returns:
        [round(samples * rate_out / rate_in)] float32 tensor.

    Raises:
        ValueError: a Python rate that is not a positive integer.
    """
    _check_rate("rate_out", rate_out)
    rate_out = int(rate_out)
    if not tf.is_tensor(rate_in):
        _check_rate("rate_in", rate_in)
        if int(rate_in) == rate_out:
            return tf.convert_to_tensor(audio, tf.float32)
        if not tf.is_tensor(audio) or tf.executing_eagerly():
            return tf.constant(_soxr(np.asarray(audio), int(rate_in), rate_out))
    audio = tf.convert_to_tensor(audio, tf.float32)
    rate_in = tf.cast(rate_in, tf.int64)

    def _do():
        out = tf.numpy_function(_soxr, [audio, rate_in, tf.constant(rate_out, tf.int64)],
                                tf.float32, stateful=False)
        return tf.reshape(out, [-1])

    return tf.cond(tf.equal(rate_in, rate_out), lambda: audio, _do)


def load(path, sample_rate=None):
    """Reads a file to mono float32 numpy, resampled to `sample_rate` if given."""
    audio, rate = read_audio(path)
    if sample_rate and rate != sample_rate:
        audio = resample(audio, rate, sample_rate).numpy()
        rate = sample_rate
    return audio, rate
