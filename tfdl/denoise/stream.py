"""Denoising live audio chunk by chunk with a causal model: the offline pass's samples.

`Stream` takes samples as they come (`push`) and returns the denoised samples
that are final, then the rest at the end (`flush`). Together they are the
`Denoiser`'s offline output for the whole recording, to float rounding: the
same centred STFT frames (reflect-padded at the start; at the end once the
length is known), each network output frame from the last
`receptive_field` spectra only (a causal TCN sees no more), and overlap-add
normalised by the same window power. A sample is final once every frame over
it is in, one frame (`fft_length` samples) after it arrives: the algorithmic
latency. Each `push` costs the network on its new frames plus the
`receptive_field - 1` before them.

Ours (NumPy and `tf.signal`): no library streams an STFT network with an
exact offline twin.
"""

import numpy as np
import tensorflow as tf

from tfdl import audio, features
from tfdl.errors import InputError


class Stream:
    """A causal denoiser fed chunk by chunk.

    Args:
        frames_fn: noisy STFT real/imag `[1, frames, bins, 2]` -> the estimate, same shape
            (a causal network, or an export's `frames` endpoint).
        offline_fn: `[1, samples]` -> `[1, samples]`, the whole-recording pass, used only
            for a recording shorter than one frame.
        fft_length, frame_step: the centred STFT the network was trained on.
        receptive_field: frames an output frame depends on (itself included).
    """

    def __init__(self, frames_fn, offline_fn, fft_length, frame_step, receptive_field):
        self.frames_fn, self.offline_fn = frames_fn, offline_fn
        self.length, self.hop, self.field = fft_length, frame_step, receptive_field
        self.pad = fft_length // 2
        self.window = tf.signal.hann_window(fft_length).numpy()
        self.received = np.zeros(0, np.float32)  # every sample so far, until framing starts
        self.xp = None  # the padded signal from `xp_start` on (frames still to compute)
        self.xp_start = self.next_frame = self.emitted = 0
        self.history = np.zeros((0, fft_length // 2 + 1, 2), np.float32)
        self.acc = np.zeros(0, np.float64)  # overlap-add and window power from `emitted + pad`
        self.wsum = np.zeros(0, np.float64)
        self.total = 0

    def push(self, chunk):
        """Adds `chunk` (float32 samples); returns the denoised samples now final."""
        chunk = np.asarray(chunk, np.float32).reshape(-1)
        self.total += len(chunk)
        if self.xp is None:
            self.received = np.concatenate([self.received, chunk])
            if len(self.received) < self.length:  # may yet be a clip shorter than a frame
                return np.zeros(0, np.float32)
            head = self.received[1:self.pad + 1][::-1]  # the reflect padding before sample 0
            self.xp, self.received = np.concatenate([head, self.received]), None
        else:
            self.xp = np.concatenate([self.xp, chunk])
        ready = (self.xp_start + len(self.xp) - self.length) // self.hop + 1
        return self._frames_until(ready)

    def flush(self):
        """The remaining denoised samples (the recording has ended)."""
        if self.xp is None:  # shorter than one frame: the offline pass, as the export does
            x = self.received[None]
            return np.asarray(self.offline_fn(tf.constant(x)))[0].astype(np.float32)
        n, before = self.total, self.emitted
        # The end's reflect padding (x[n-2], x[n-3], ...), then zeros to whole frames.
        reflect = self.xp[len(self.xp) - 2:len(self.xp) - 2 - self.pad:-1]
        frames = -(-(n + 2 * self.pad) // self.hop)  # tf.signal.frame(pad_end=True)
        end = (frames - 1) * self.hop + self.length
        zeros = np.zeros(end - self.xp_start - len(self.xp) - len(reflect), np.float32)
        self.xp = np.concatenate([self.xp, reflect, zeros])
        return self._frames_until(frames, final=True)[:n - before]

    def _frames_until(self, ready, final=False):
        """Computes frames `next_frame .. ready - 1`; returns the samples they make final."""
        if ready <= self.next_frame:
            return np.zeros(0, np.float32)
        k0, hop, size = self.next_frame, self.hop, self.length
        seg = self.xp[k0 * hop - self.xp_start:(ready - 1) * hop + size - self.xp_start]
        spec = features.stft(seg, size, hop)  # center=False: the offline pass's frames
        ri = np.stack([np.real(spec), np.imag(spec)], axis=-1).astype(np.float32)
        context = np.concatenate([self.history, ri])
        est = np.asarray(self.frames_fn(tf.constant(context[None])))[0, len(self.history):]
        self.history = context[max(0, len(context) - (self.field - 1)):]
        waves = tf.signal.irfft(tf.complex(est[..., 0], est[..., 1]), [size])[..., :size]
        self._overlap_add(k0, waves.numpy().astype(np.float64) * self.window)
        self.next_frame = ready
        # Keep one frame of samples before the next frame: the end's reflect padding
        # reads up to `pad + 1` samples back.
        keep = max(self.xp_start, ready * hop - size)
        self.xp, self.xp_start = self.xp[keep - self.xp_start:], keep
        base = self.emitted + self.pad  # padded-signal index of acc[0]
        done = len(self.acc) if final else max(0, ready * hop - base)  # no later frame
        out = self.acc[:done] / np.where(self.wsum[:done] > 1e-6, self.wsum[:done], 1.0)
        self.acc, self.wsum = self.acc[done:], self.wsum[done:]
        self.emitted += done
        return out.astype(np.float32)

    def _overlap_add(self, k0, waves):
        """Adds frames `k0, k0 + 1, ...` (windowed) and their window power to the buffers."""
        hop, size = self.hop, self.length
        base = self.emitted + self.pad
        need = (k0 + len(waves) - 1) * hop + size - base
        if need > len(self.acc):
            grow = np.zeros(need - len(self.acc))
            self.acc, self.wsum = np.concatenate([self.acc, grow]), np.concatenate([self.wsum,
                                                                                   grow])
        for j, wave in enumerate(waves):
            at = (k0 + j) * hop - base
            lo = max(0, -at)  # before sample 0 (the start's padding): dropped
            self.acc[at + lo:at + size] += wave[lo:]
            self.wsum[at + lo:at + size] += self.window[lo:] ** 2


def stream_file(export_dir, wav_path, out_path, chunk_seconds=0.1):
    """Denoises the WAV `wav_path` chunk by chunk with a causal denoise export; writes
    `out_path` (a WAV at the export's rate). `python -m apps.denoise stream` calls it.

    Returns:
        {"seconds": audio length, "chunks": pushes, "latency_ms": algorithmic latency}.
    """
    from tfdl import export

    loaded = export.load(export_dir, task="denoise")
    meta = export.read_metadata(export_dir)
    if not meta.get("causal"):
        raise InputError(f"{export_dir} is not a causal denoise export: stream needs one "
                         f"(python -m apps.denoise --config=tcn_crm_causal)")
    wave, _ = audio.load(wav_path, meta["sample_rate"])
    s = Stream(loaded.frames, loaded.serve, meta["fft_length"], meta["frame_step"],
               meta["receptive_field"])
    step = max(1, int(chunk_seconds * meta["sample_rate"]))
    parts = [s.push(wave[i:i + step]) for i in range(0, len(wave), step)] + [s.flush()]
    audio.write_wav(out_path, np.concatenate(parts), meta["sample_rate"])
    return {"seconds": len(wave) / meta["sample_rate"], "chunks": len(parts) - 1,
            "latency_ms": 1000.0 * meta["fft_length"] / meta["sample_rate"]}


def command(args, workdir, export_dir, chunk_ms, usage):
    """`python -m apps.denoise stream NOISY.wav`: denoises it with `stream_file` into
    `<workdir>/stream/<name>_denoised.wav` and prints a summary."""
    from pathlib import Path

    from tfdl import cli

    if len(args) != 1:
        raise InputError(f"stream needs one WAV file: {usage}")
    cli.check_positive("chunk_ms", chunk_ms)
    out = Path(workdir) / "stream" / f"{Path(args[0]).stem}_denoised.wav"
    done = stream_file(export_dir or f"{workdir}/export", args[0], out, chunk_ms / 1000.0)
    cli.summary("denoised chunk by chunk", [("written", out), ("chunks", done["chunks"]),
                                            ("algorithmic latency",
                                             f"{done['latency_ms']:g} ms")])
    return done
