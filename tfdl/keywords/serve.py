"""Using a trained keywords export: classify clips, spot keywords in a long recording.

`Spotter` loads an export (the SavedModel folder or its `model.tflite`) with
its metadata (sample rate, clip length, labels). `detect` slides a clip-long
window over a long recording and reports keywords with their times
(smoothing and suppression as the TensorFlow example's `RecognizeCommands`);
`stream` prints them and, with an `out_dir`, writes a folder for a report page
(the recording, its timeline, the detections).
"""

import sys
import time
from pathlib import Path

import numpy as np
import tensorflow as tf

from tfdl import audio, export
from tfdl.errors import InputError
from tfdl.keywords.corpus import SILENCE_LABEL, UNKNOWN_LABEL

STREAM_SECONDS = 120.0  # of a streamed recording kept beside its report page
USAGE = ("python -m apps.keywords predict a.wav ... | stream long.wav "
         "[--export_dir=runs/keywords/export]")


def _warn(lines):
    for line in lines:
        print(f"warning: {line}", file=sys.stderr)


def predict_probs(model_or_fn, waves, batch_size=128):
    """Class probabilities [n, classes] for waveforms [n, samples] (Keras model or serve fn)."""
    out = []
    for i in range(0, len(waves), batch_size):
        x = tf.constant(waves[i:i + batch_size], tf.float32)
        y = model_or_fn(x)
        if isinstance(y, dict):
            y = y["probabilities"]
        out.append(np.asarray(y))
    return np.concatenate(out) if out else np.zeros([0, 0], np.float32)


class Spotter:
    """An exported keyword model and its metadata (sample rate, clip length, labels).

    Args:
        export_dir: SavedModel folder written by a run, or its `model.tflite`.
        sample_rate: overrides / replaces the rate stored in the export.

    Raises:
        InputError: no SavedModel or .tflite file at `export_dir`, or another task's export.
    """

    def __init__(self, export_dir, sample_rate=None):
        export_dir = Path(export_dir)
        if not (export_dir / "saved_model.pb").is_file() and not (
                export_dir.suffix == ".tflite" and export_dir.is_file()):
            raise InputError(f"no SavedModel or .tflite file at --export_dir={export_dir} "
                             f"(expected {export_dir / 'saved_model.pb'}; train first)")
        meta = export.read_metadata(export.export_dir_of(export_dir))
        self.sample_rate = int(sample_rate or meta.get("sample_rate") or 16000)
        self.clip_samples = int(meta.get("clip_samples") or self.sample_rate)
        self._loaded = export.load(export_dir, task="keywords")
        self.labels = meta.get("labels")
        if self.labels is None:
            out = self._loaded.serve(tf.zeros([1, self.clip_samples]))
            self.labels = [None] * int(out["probabilities"].shape[-1])

    def probabilities(self, waves, batch_size=64):
        """[n, classes] probabilities for [n, samples] waveforms at `sample_rate`."""
        return predict_probs(self._loaded.serve, np.asarray(waves, np.float32), batch_size)

    def classify_files(self, paths):
        """[(path, label, probability)] for WAV files (resampled to the model's rate).

        Silent or too-short clips get a one-line warning on stderr; a clip with NaN
        or Inf samples is refused (InputError).
        """
        out = []
        for p in paths:
            x, _ = audio.load(p, self.sample_rate)
            _warn(audio.clip_warnings(x, self.sample_rate, p))
            res = self._loaded.serve(tf.constant(x[None], tf.float32))
            cid = int(res["class_id"][0])
            out.append((str(p), res["label"][0].numpy().decode(),
                        float(res["probabilities"][0, cid])))
        return out


def detect(probs_fn, waveform, sample_rate, clip_samples, labels, hop_ms=100.0,
           average_window_ms=300.0, threshold=0.6, suppression_ms=750.0):
    """Streaming keyword detection over a long waveform.

    A clip-long window slides by `hop_ms`; class probabilities are averaged
    over the windows of the last `average_window_ms`; a keyword (not
    `_silence_`/`_unknown_`) is reported when its averaged score reaches
    `threshold` and the previous report of the same word is at least
    `suppression_ms` earlier.

    Args:
        probs_fn: `fn([n, clip_samples] float32) -> [n, classes]` probabilities.
        waveform: [samples] float array at `sample_rate`.
        sample_rate: Hz.
        clip_samples: window length.
        labels: class names.
        hop_ms, average_window_ms, threshold, suppression_ms: see above.

    Returns:
        List of dicts {start_s, end_s (the window that triggered), time_s (its
        centre), label, score}, in time order.

    Raises:
        InputError: `hop_ms` <= 0 or `threshold` outside (0, 1].
    """
    if hop_ms <= 0:
        raise InputError(f"--hop_ms must be positive. Received: --hop_ms={hop_ms}")
    if not 0 < threshold <= 1:
        raise InputError(f"--threshold must be in (0, 1]. Received: --threshold={threshold}")
    x = np.asarray(waveform, np.float32)
    hop = max(1, int(round(sample_rate * hop_ms / 1000.0)))
    if len(x) < clip_samples:
        x = np.pad(x, (0, clip_samples - len(x)))
    n = 1 + (len(x) - clip_samples) // hop
    windows = np.lib.stride_tricks.sliding_window_view(x, clip_samples)[::hop][:n]
    probs = np.asarray(probs_fn(np.ascontiguousarray(windows)), np.float64)
    span = max(1, int(round(average_window_ms / hop_ms)))
    reserved = {SILENCE_LABEL, UNKNOWN_LABEL}
    detections, last = [], {}
    for i in range(n):
        avg = probs[max(0, i - span + 1):i + 1].mean(axis=0)
        k = int(avg.argmax())
        label = labels[k]
        t = (i * hop + clip_samples / 2) / sample_rate
        if label in reserved or avg[k] < threshold:
            continue
        if label in last and (t - last[label]) * 1000 < suppression_ms:
            last[label] = t  # Still the same utterance: extend the suppression.
            continue
        last[label] = t
        detections.append({"start_s": round(i * hop / sample_rate, 3),
                           "end_s": round((i * hop + clip_samples) / sample_rate, 3),
                           "time_s": round(t, 3), "label": label, "score": float(avg[k])})
    return detections


def predict(export_dir, files):
    """Prints `FILE<tab>LABEL<tab>PROBABILITY` per WAV file; returns [(file, label, prob)].

    Raises:
        InputError: no file given, or no export at `export_dir`.
    """
    if not files:
        raise InputError(f"predict needs WAV files: {USAGE}")
    out = Spotter(export_dir).classify_files(files)
    for path, label, prob in out:
        print(f"{path}\t{label}\t{prob:.3f}")
    return out


def stream(export_dir, wav_path, out_dir=None, **kwargs):
    """`detect` over a WAV file with an exported model; prints and returns the detections.

    Args:
        export_dir: the SavedModel folder or its `model.tflite`.
        wav_path: the long recording (any sample rate: resampled).
        out_dir: a folder for the report page (`write_stream`), or None.
        **kwargs: `detect`'s `hop_ms`, `average_window_ms`, `threshold`, `suppression_ms`.
    """
    spotter = Spotter(export_dir)
    x, _ = audio.load(wav_path, spotter.sample_rate)
    _warn(audio.clip_warnings(x, spotter.sample_rate, wav_path,
                              min_seconds=spotter.clip_samples / spotter.sample_rate))
    t0 = time.perf_counter()
    found = detect(spotter.probabilities, x, spotter.sample_rate, spotter.clip_samples,
                   spotter.labels, **kwargs)
    rtf = (time.perf_counter() - t0) / max(len(x) / spotter.sample_rate, 1e-9)
    for d in found:
        print(f"{d['start_s']:8.2f}-{d['end_s']:.2f}s\t{d['label']}\t{d['score']:.3f}")
    print(f"{len(found)} keyword(s) detected in {wav_path} (real-time factor {rtf:.4f}: "
          f"compute seconds per second of audio)")
    if out_dir is not None:
        write_stream(out_dir, x, spotter.sample_rate, found, wav_path, export_dir, kwargs, rtf)
    return found


def stream_real_time_factor(export_dir, waves, hop_ms=100.0, repeats=3):
    """`stream`'s real-time factor with an export: seconds of `detect` compute per second of
    audio, over `waves` ([n, samples] clips at the export's rate) joined end to end, at
    `hop_ms` (the median of `repeats` passes, after a warm-up pass)."""
    spotter = Spotter(export_dir)
    x = np.concatenate(list(np.asarray(waves, np.float32)))
    seconds = export.median_seconds(
        lambda: detect(spotter.probabilities, x, spotter.sample_rate, spotter.clip_samples,
                       spotter.labels, hop_ms=hop_ms), repeats)
    return seconds / (len(x) / spotter.sample_rate)


def write_stream(out_dir, wave, sample_rate, detections, wav_path, export_dir, settings,
                 real_time_factor=None):
    """A stream's folder for its report page: the recording (its first `STREAM_SECONDS`),
    timeline.png (the detections over the waveform) and, last, metrics.json."""
    from tfdl import plots
    from tfdl.workdir import Workdir

    wd = Workdir(out_dir)
    kept = wave[:int(STREAM_SECONDS * sample_rate)]
    audio.write_wav(wd.path("recording.wav"), kept, sample_rate)
    plots.detections_timeline(wave, sample_rate, detections, wd.path("timeline.png"),
                              title=f"{Path(wav_path).name}: {len(detections)} keyword(s)")
    wd.write_json("metrics.json", {
        "recording": str(wav_path), "export_dir": str(export_dir), "sample_rate": sample_rate,
        "seconds": len(wave) / sample_rate, "recording_seconds_kept": len(kept) / sample_rate,
        "settings": settings, "real_time_factor": real_time_factor,
        "detections": detections})
    return wd.root
