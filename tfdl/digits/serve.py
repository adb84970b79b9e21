"""Using a trained digits export: classify audio files at any sample rate."""

import sys
from pathlib import Path

from tfdl.digits.data import SAMPLE_RATE
from tfdl.errors import InputError


def predict(export_dir, files, sample_rate=SAMPLE_RATE):
    """Prints `FILE: digit D (probability P)` per file; returns [(file, digit, prob)].

    `export_dir` is a SavedModel folder or a `.tflite` file written by a run;
    each file is read at its own rate and resampled to the export's rate (its
    metadata's, else `sample_rate`). Silent or too-short files get a one-line
    warning on stderr; files with NaN or Inf samples are refused.

    Raises:
        InputError: no export, another task's export, no files, a bad file.
    """
    from tfdl import audio, export

    export_dir = Path(export_dir)
    if not (export_dir / "saved_model.pb").is_file() and not (
            export_dir.suffix == ".tflite" and export_dir.is_file()):
        raise InputError(f"no SavedModel or .tflite file at --export_dir={export_dir} (train "
                         f"first: python -m apps.digits)")
    if not files:
        raise InputError("predict needs at least one audio file: "
                         "python -m apps.digits predict --export_dir=DIR FILE.wav ...")
    loaded = export.load(export_dir, task="digits")
    sample_rate = export.read_metadata(export.export_dir_of(export_dir)).get("sample_rate",
                                                                             sample_rate)
    waves = [audio.load(f, sample_rate)[0] for f in files]  # every file read before any answer
    out = []
    for f, w in zip(files, waves):
        for line in audio.clip_warnings(w, sample_rate, f):
            print(f"warning: {line}", file=sys.stderr)
        res = loaded.serve(w[None, :])
        digit = res["label"].numpy()[0].decode()
        prob = float(res["probabilities"].numpy()[0].max())
        print(f"{f}: digit {digit} (probability {prob:.3f})")
        out.append((str(f), digit, prob))
    return out
