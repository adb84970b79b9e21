"""Raw waveform in, denoised waveform out: the `Denoiser` that is validated and exported.

The same `tf.function` (STFT -> network -> inverse STFT) denoises the
validation tail and the test clips in process and is the exported
SavedModel's `serve`, so in-process and served outputs agree.
"""

import numpy as np
import tensorflow as tf

from tfdl import features
from tfdl.export import median_seconds


class Denoiser(tf.Module):
    """Raw waveform in, denoised waveform out: centred STFT, network, inverse STFT.

    `__call__` takes `[batch, samples]` float32 (any length; inputs shorter
    than one FFT frame are zero-padded internally) and returns `[batch,
    samples]`. This is the function exported as the SavedModel's `serve`.

    Args:
        model: a `tfdl.denoise.model` network.
        fft_length, frame_step: the STFT it was trained with.
    """

    def __init__(self, model, fft_length=1024, frame_step=512):
        super().__init__()
        self.model = model
        self.fft_length, self.frame_step = fft_length, frame_step

    @tf.function(input_signature=[tf.TensorSpec([None, None], tf.float32, name="waveforms")])
    def __call__(self, waveforms):
        n = tf.shape(waveforms)[-1]
        x = tf.pad(waveforms, [[0, 0], [0, tf.maximum(self.fft_length - n, 0)]])
        spec = features.stft(x, self.fft_length, self.frame_step, center=True)
        ri = tf.stack([tf.math.real(spec), tf.math.imag(spec)], axis=-1)
        est = self.model(ri, training=False)
        out = features.inverse_stft(tf.complex(est[..., 0], est[..., 1]), self.fft_length,
                                    self.frame_step, center=True, length=tf.shape(x)[-1])
        return out[:, :n]

    def denoise(self, wave):
        """Numpy mono `[samples]` -> denoised numpy `[samples]`."""
        return self(tf.constant(np.asarray(wave, np.float32)[None]))[0].numpy()


def export(denoiser, export_dir, metadata=None):
    """Writes a SavedModel whose `serve([batch, samples]) -> [batch, samples]` denoises.

    `serve` takes float32 samples in [-1, 1] and fails on empty, non-finite or
    unscaled (int16 PCM) input (`tfdl.export.checked_waveforms`).

    Args:
        denoiser: a `Denoiser`.
        export_dir: the SavedModel folder.
        metadata: a JSON-ready dict for `assets.extra/tfdl.json` (None: none); with
            `"causal": true`, the SavedModel also has a `frames` endpoint (noisy STFT
            real/imag `[batch, frames, bins, 2]` -> the estimate) for streaming.

    Returns:
        The folder, as a string.
    """
    from tfdl.export import WAVEFORM_SPEC, checked_waveforms, export_function, write_metadata

    extra = None
    if (metadata or {}).get("causal"):  # `frames`: the network alone, for `tfdl.denoise.stream`
        bins = denoiser.fft_length // 2 + 1
        spec = tf.TensorSpec([None, None, bins, 2], tf.float32, name="noisy_stft")
        extra = {"frames": (lambda ri: denoiser.model(ri, training=False), [spec])}
    out = export_function(denoiser.model, export_dir,
                          lambda w: denoiser(checked_waveforms(w)), [WAVEFORM_SPEC],
                          extra=extra)
    if metadata:
        write_metadata(export_dir, metadata)
    return out


def real_time_factor(fn, wave, sample_rate, repeats=3):
    """Median seconds of compute per second of audio for `fn([1, samples])` (after a warm-up)."""
    x = tf.constant(np.asarray(wave, np.float32)[None])
    return median_seconds(lambda: np.asarray(fn(x)), repeats) / (len(wave) / sample_rate)
