"""Misclassified test recordings: saved by a classifier's run, played on its page.

`save_misclassified` (digits and keywords training) writes the most confident
mistakes, `MAX_CLIPS` at most, as 16-bit WAVs under `<workdir>/misclassified/`
and lists them in `<workdir>/misclassified.json`: the file, the true and
predicted label and the predicted label's probability. `cards` turns that list
into players on the page.
"""

import shutil

import numpy as np

MAX_CLIPS = 24
FOLDER = "misclassified"
INDEX = "misclassified.json"


def _safe(name):
    return "".join(c if c.isalnum() or c in "._-" else "_" for c in name)


def save_misclassified(workdir, items, sample_rate=None):
    """Writes the most confident mistakes of a test split for the report page.

    Args:
        workdir: a `tfdl.workdir.Workdir`.
        items: one dict per misclassified example: `file` (its name), `true` and
            `predicted` (labels), `probability` (of the predicted label), and
            either `path` (the recording, copied as it is) or `wave` (float
            samples in [-1, 1] at `sample_rate`).
        sample_rate: Hz of the `wave`s.

    Returns:
        The list written to misclassified.json (without the waves).
    """
    from tfdl.audio import write_wav

    folder = workdir.root / FOLDER
    shutil.rmtree(folder, ignore_errors=True)  # a previous run's clips
    ranked = sorted(items, key=lambda d: -d["probability"])[:MAX_CLIPS]
    saved = []
    for i, item in enumerate(ranked):
        wav = f"{FOLDER}/{i + 1:02d}_{_safe(item['file'])}"
        wav = wav if wav.endswith(".wav") else f"{wav}.wav"
        if "path" in item:
            shutil.copyfile(item["path"], workdir.path(wav))
        else:
            write_wav(workdir.path(wav), np.asarray(item["wave"], np.float32), sample_rate)
        saved.append({"file": item["file"], "true": str(item["true"]),
                      "predicted": str(item["predicted"]),
                      "probability": float(item["probability"]), "wav": wav})
    workdir.write_json(INDEX, {"total": len(items), "saved": saved})
    return saved


def cards(page, run=None):
    """The page blocks of a run's misclassified.json: a line, then one card per clip."""
    run = run or page.run
    index = run.json(INDEX)
    if index is None:
        return [page.text(f"no {INDEX} in this run (written by tfdl 0.2.0 and later)",
                          note=True)]
    if not index["total"]:
        return [page.text("No test recording was misclassified.")]
    shown = len(index["saved"])
    intro = (f"{index['total']} test recordings misclassified"
             + (f"; the {shown} most confident mistakes:" if shown < index["total"] else ":"))
    return [page.text(intro), page.cards([
        ([f"true {c['true']} → predicted {c['predicted']} (p = {c['probability']:.2f})"],
         page.audio(c["wav"], c["file"], run=run)) for c in index["saved"]])]
