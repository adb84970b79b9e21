"""The report page of a spoken-digits run (`tfdl.report`).

Test accuracy against its goal, the training curves, the confusion matrix, a
recording's waveform and MFCC, per-digit accuracy and the misclassified test
recordings to listen to (true and predicted digit, probability). A
leave-one-speaker-out run shows the folds side by side, then one collapsed
section per fold; an ensemble (`compact_pair`) one per member.
"""

from tfdl.report import clips

# Goals on the official split (docs/experiments/digits.md), per model.
GOALS = {"batchnorm": 0.97, "mfcc": 0.99, "compact_robust": 0.995, "compact_pair": 0.995}
LOSO_GOAL = 0.93
SOURCE = ("docs/experiments/digits.md: official split, batchnorm >= 97 %, mfcc >= 99 %, the "
          "best model >= 99.5 %; leave-one-speaker-out mean >= 93 %")


def _goal(page, name, value, goal):
    if goal is None:
        page.metric(name, value, "{:.2%}")
    else:
        page.metric(name, value, "{:.2%}", f">= {goal:.1%}", value >= goal)


def _per_class(page, m):
    acc = m.get("per_class_accuracy") or {}
    rows = [(d, "-" if a is None else f"{a:.0%}") for d, a in acc.items()]
    return page.table(["digit", "accuracy"], rows, "per-digit accuracy (recall)")


def _test_blocks(page, run):
    """One split's evaluation: curves, confusion matrix, example, per-digit, mistakes."""
    m = run.metrics
    return [page.figure("training_curves.png", "loss and accuracy per epoch (dashed: "
                        "validation)", run=run),
            page.figure("confusion_matrix.png", "test confusion matrix (rows: true digit)",
                        run=run, narrow=True),
            page.section("Misclassified test recordings", clips.cards(page, run), level=3),
            _per_class(page, m),
            page.figure("waveform_mfcc.png", "a test recording and its MFCC", run=run)]


def _members(page, run):
    """One collapsed section per member network of an ensemble."""
    for name, info in run.metrics.get("members", {}).items():
        member = run.sub(name)
        page.add(f"Member {name}", [
            page.text(f"{info['trainable_params']:,} trainable parameters, trained in "
                      f"{info['train_seconds']:.0f} s"),
            page.history_table(member.json("history.json"))], collapsed=True)


def _single(page, run, model, split):
    m = run.metrics
    _goal(page, f"test accuracy ({m.get('num_examples')} recordings)", m["accuracy"],
          GOALS.get(model) if split == "official" else None)
    if "unadapted_accuracy" in m:
        page.metric("without speaker adaptation", m["unadapted_accuracy"], "{:.2%}")
    page.metric("training examples/sec", m.get("examples_per_sec"), "{:.0f}")
    page.metric("training time", m.get("train_seconds"), "{:.0f} s")
    page.metric("epochs", m.get("epochs_run"))
    page.metric("trainable parameters", m.get("trainable_params"), "{:,}")
    page.export_latency(m)
    page.add("Test", _test_blocks(page, run))
    _members(page, run)


def _loso(page, run, model):
    m = run.metrics
    _goal(page, "mean fold accuracy", m["mean_accuracy"], LOSO_GOAL)
    page.metric("pooled accuracy (all folds)", m["accuracy"], "{:.2%}")
    if "unadapted_mean_accuracy" in m:
        page.metric("mean without speaker adaptation", m["unadapted_mean_accuracy"], "{:.2%}")
    unadapted = m.get("unadapted_fold_accuracy", {})
    rows = [(s, a, unadapted.get(s)) for s, a in m["fold_accuracy"].items()]
    page.add("Folds", [
        page.table(["test speaker", "accuracy", "without adaptation"], rows),
        page.figure("confusion_matrix.png", "confusion matrix pooled over the folds")])
    for speaker in m["fold_accuracy"]:
        fold = run.sub(f"fold_{speaker}")
        page.add(f"Fold {speaker}: accuracy {m['fold_accuracy'][speaker]:.2%}",
                 _test_blocks(page, fold), collapsed=True)


def fill(page):
    """Lays out a digits run's page (`tfdl.report.Page`)."""
    run = page.run
    cfg = run.config or {}
    model = run.metrics.get("model", cfg.get("model"))
    split = run.metrics.get("split", cfg.get("split"))
    page.title = f"Spoken digits: {model}, {split} split"
    page.goal_source = SOURCE
    if split == "loso":
        _loso(page, run, model)
    else:
        _single(page, run, model, split)
