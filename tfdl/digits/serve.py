"""Using a trained digits export: classify audio files at any sample rate."""

from pathlib import Path

from tfdl.digits.data import SAMPLE_RATE
from tfdl.errors import InputError


def predict(export_dir, files, sample_rate=SAMPLE_RATE):
    """Prints `FILE: digit D (probability P)` per file; returns [(file, digit, prob)].

    `export_dir` is a SavedModel folder or a `.tflite` file written by a run;
    each file is read at its own rate and resampled to `sample_rate`.
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
    waves = [audio.load(f, sample_rate)[0] for f in files]
    loaded = export.load(export_dir)
    out = []
    for f, w in zip(files, waves):
        res = loaded.serve(w[None, :])
        digit = res["label"].numpy()[0].decode()
        prob = float(res["probabilities"].numpy()[0].max())
        print(f"{f}: digit {digit} (probability {prob:.3f})")
        out.append((str(f), digit, prob))
    return out
