"""The report page of a phoneme-classification run (`tfdl.report`).

Frame accuracy against its goal, the members and the four ensemble rules,
the confusion matrix, one test utterance's true and predicted phones,
per-phone accuracy, and one collapsed section per member (its curves).
"""

GOAL = 0.80
SOURCE = ("docs/experiments/phonemes.md: the best single model >= 80 % of test frames; an "
          "ensemble above its best member")


def _headline(page, m):
    acc = m["frame_accuracy"]
    page.metric(f"test frame accuracy ({m.get('predictor')})", acc, "{:.2%}",
                f">= {GOAL:.0%}", acc >= GOAL)
    members = m.get("members", {})
    if m.get("ensemble") and members:
        best = max(r["test_frame_accuracy"] for r in members.values())
        page.metric("ensemble gain over the best member", acc - best, "{:+.2%}", "> 0",
                    acc > best)
    page.metric("phones", m.get("num_phones"))
    frames = m.get("frames", {})
    page.metric("frames (train / val / test)",
                (frames.get("train"), frames.get("val"), frames.get("test")),
                "{0[0]} / {0[1]} / {0[2]}")
    page.metric("wall time", m.get("wall_seconds"), "{:.0f} s")


def _members(page, m):
    rows = [(name, r["model"], r["width"], r["depth"], r["params"], r["test_frame_accuracy"],
             r["val_frame_accuracy"], r["epochs_run"], r["train_frames_per_sec"])
            for name, r in m.get("members", {}).items()]
    blocks = [page.table(["member", "model", "width", "depth", "parameters", "test accuracy",
                          "validation accuracy", "epochs", "train frames/s"], rows)]
    ens = m.get("ensemble")
    if ens:
        weights = ens.get("weights", {})
        blocks.append(page.table(["rule", "test frame accuracy"],
                                 [(k, v) for k, v in ens.items() if k != "weights"],
                                 "the four ensemble rules; the export serves the weighted "
                                 "average, weights fitted on the validation frames: "
                                 + ", ".join(f"{k} {v:.2f}" for k, v in weights.items())))
    return blocks


def fill(page):
    """Lays out a phonemes run's page (`tfdl.report.Page`)."""
    run = page.run
    m = run.metrics
    page.title = f"Phoneme frames: {m.get('model', '?')}"
    page.goal_source = SOURCE
    _headline(page, m)
    page.add("Members", _members(page, m))
    per_phone = [(p, "-" if a is None else f"{a:.0%}")
                 for p, a in m.get("per_phone_accuracy", {}).items()]
    page.add("Test", [
        page.figure("phone_sequence.png", "the first test utterance: true phones (top) and "
                    "the predicted ones, frame by frame"),
        page.figure("confusion_matrix.png", "test frames, rows: true phone"),
        page.table(["phone", "accuracy"], per_phone, "per-phone accuracy (recall)")])
    for name in m.get("members", {}):
        member = run.sub("members", name)
        page.add(f"Member {name}", [
            page.figure(f"members/{name}/training_curves.png", f"{name}: loss and accuracy "
                        f"per epoch (dashed: validation)"),
            page.history_table(member.json("history.json"))], collapsed=True)
