"""The report page of a keyword-spotting run or stream (`tfdl.report`).

A training run: test accuracy (clean, and with held-out noise) against its
goal, the training curves, the confusion matrix, an augmented training
example, per-class accuracy and the misclassified test clips to listen to. A
`stream` folder (`tfdl.keywords.serve.write_stream`): the recording with a
player, its detections on a timeline and in a table.
"""

from pathlib import Path

from tfdl.report import clips

GOAL = 0.97
SOURCE = "docs/experiments/keywords.md: test accuracy >= 97 %"


def _stream(page):
    m = page.run.metrics
    page.title = f"Keyword stream: {Path(m['recording']).name}"
    page.metric("keywords detected", len(m["detections"]))
    page.metric("recording", m["seconds"], "{:.1f} s")
    rows = [(d["time_s"], d["start_s"], d["end_s"], d["label"], d["score"])
            for d in m["detections"]]
    kept = m["recording_seconds_kept"]  # the whole recording, up to 2 minutes
    note = (f"the first {kept:.0f} s of the recording were kept beside this page"
            if kept < m["seconds"] else "")
    page.add("Detections", [
        page.listen([page.audio("recording.wav", m["recording"], max_seconds=kept + 1)],
                    page.figure("timeline.png", "each detection: the window that triggered "
                                "it (shaded) and its centre (line), with its averaged score")),
        page.text(note, note=True) if note else None,
        page.table(["time (s)", "window start (s)", "window end (s)", "keyword", "score"], rows),
        page.table(["setting", "value"], sorted(m["settings"].items()),
                   f"export: {m['export_dir']}")])


def fill(page):
    """Lays out a keywords run's page (`tfdl.report.Page`)."""
    run = page.run
    m = run.metrics
    if "detections" in m:
        return _stream(page)
    cfg = run.config or {}
    page.title = f"Keyword spotting: {cfg.get('model', '?')}"
    page.goal_source = SOURCE
    acc = m["test_accuracy"]
    page.metric("test accuracy", acc, "{:.2%}", f">= {GOAL:.0%}", acc >= GOAL)
    page.metric("validation accuracy", m.get("validation_accuracy"), "{:.2%}")
    for snr, noisy in m.get("noisy_test_accuracy", {}).items():
        page.metric(f"test accuracy, held-out noise at {snr} dB", noisy, "{:.2%}")
    page.metric("training examples/sec", m.get("examples_per_sec"), "{:.0f}")
    page.metric("epochs", m.get("epochs_run"))
    page.metric("parameters", m.get("num_params"), "{:,}")
    page.export_latency(m)
    test = m.get("test", {})
    per_class = [(k, "-" if v is None else f"{v:.0%}")
                 for k, v in test.get("per_class_accuracy", {}).items()]
    page.add("Training", [
        page.figure("training_curves.png", "loss and accuracy per epoch (dashed: validation)"),
        page.figure("augmented_example.png", "a training example after augmentation, and the "
                    "features the model computes from it")])
    page.add("Test", [
        page.figure("confusion_matrix.png", "test confusion matrix (rows: true class)",
                    narrow=True),
        page.table(["class", "accuracy"], per_class, "per-class accuracy (recall)"),
        page.text(f"examples: {m.get('num_examples')}; noise for training: "
                  f"{', '.join(m.get('train_noise', [])) or 'none'}; held out: "
                  f"{', '.join(m.get('held_out_noise', [])) or 'none'}", note=True)])
    page.add("Misclassified test clips", clips.cards(page))
