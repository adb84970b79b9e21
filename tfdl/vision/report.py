"""The report pages of the four vision apps (`tfdl.report`): mnist, notmnist,
optimization, backprop.

Each shows its headline numbers against the goals of docs/vision.md and its
figures: MNIST's curves, confusion matrix, top images per class and per unit,
PCA and t-SNE of every layer; notMNIST's ensemble and one collapsed section
per member; the optimisation and dropout studies' curves and final values;
backprop's NumPy-against-Keras curves and gradient check.
"""

SOURCE = "docs/vision.md (results table)"
MNIST_GOAL, NOTMNIST_GOAL = 0.965, 0.95
GRADIENT_GOAL, GAP_GOAL = 1e-6, 0.03  # backprop: "< 1e-6; a few %"


def _accuracy(page, name, value, goal):
    page.metric(name, value, "{:.2%}", f">= {goal:.1%}", value >= goal)


def _mnist(page):
    m = page.run.metrics
    page.title = "MNIST MLP"
    _accuracy(page, f"test accuracy ({m.get('num_test')} images)", m["test_accuracy"],
              MNIST_GOAL)
    page.metric("best validation accuracy", m.get("best_val_accuracy"), "{:.2%}")
    page.metric("epochs", m.get("epochs_run"))
    page.metric("training examples/sec", m.get("examples_per_sec"), "{:.0f}")
    page.metric("export parity (max |difference|)", m.get("export_max_abs_diff"), "{:.1e}")
    page.add("Training", [page.figure("training_curves.png", "loss and accuracy per epoch")])
    page.add("Test", [page.figure("confusion_matrix.png", "rows: true digit", narrow=True)])
    page.add("Inside the network", [
        page.figure("top_output.png", "the 10 test images each class is most sure of"),
        page.figure("top_hidden.png", "10 random units of the last hidden layer: the images "
                    "that excite each most"),
        page.figure("pca.png", "PCA of the pixels and of every layer's activations"),
        page.figure("tsne.png", "t-SNE of the same") if (page.run.config or {}).get("tsne")
        else None])


def _notmnist(page):
    run, m = page.run, page.run.metrics
    page.title = f"notMNIST CNN ensemble of {len(m['member_test_accuracy'])}"
    _accuracy(page, f"ensemble test accuracy ({m.get('num_test')} images)", m["test_accuracy"],
              NOTMNIST_GOAL)
    gain = m["ensemble_gain_over_best_member"]
    page.metric("gain over the best member", gain, "{:+.2%}", "> 0 (above every member)",
                gain > 0)
    page.metric("member test accuracies",
                ", ".join(f"{a:.2%}" for a in m["member_test_accuracy"]))
    page.add("Training", [page.figure("training_curves.png", "member 1: loss and accuracy per "
                                      "epoch")])
    page.add("Test", [page.figure("confusion_matrix.png", "the ensemble, rows: true letter",
                                  narrow=True),
                      page.figure("top_output.png", "the 10 test images each letter is most "
                                  "sure of")])
    histories = run.json("history.json") or {}
    for i, acc in enumerate(m["member_test_accuracy"], start=1):
        page.add(f"Member {i}: test accuracy {acc:.2%}", [
            page.history_table(histories.get(f"member_{i}"))], collapsed=True)


def _optimization(page):
    m = page.run.metrics
    page.title = "Optimisation and dropout studies"
    finals = m.get("final_training_loss", {})
    if "adam" in finals and finals["adam"]:
        every = {(o, s): v for o, d in finals.items() for s, v in d.items() if v is not None}
        lowest = min(every, key=every.get)
        page.metric("lowest final training loss", f"{lowest[0]} {lowest[1]}",
                    goal="Adam ReLU+He lowest", met=lowest == ("adam", "relu+He"))
    rows = [(o, s, v) for o, d in finals.items() for s, v in d.items()]
    if "final_training_loss" in m:  # each study's section only if it ran (--config=dropout)
        page.add("Optimisation study", [
            page.figure("optimization_sgd.png", "plain SGD: training loss per epoch"),
            page.figure("optimization_adam.png", "Adam: training loss per epoch"),
            page.table(["optimiser", "set-up", "final training loss"], rows) if rows else None])
    best = m.get("dropout_best_test_accuracy", {})
    if "dropout_final" in m or best:
        page.add("Dropout study", [
            page.figure("dropout_loss.png", "train (solid) and test (dashed) loss"),
            page.figure("dropout_accuracy.png", "train (solid) and test (dashed) accuracy"),
            page.table(["set-up", "best test accuracy"], best.items()) if best else None])


def _backprop(page):
    m = page.run.metrics
    page.title = "Backprop from scratch: NumPy against Keras"
    grad = m["gradient_check_max_relative_error"]
    gap = m["max_relative_loss_gap_numpy_vs_keras_sgd"]
    page.metric("gradient check, max relative error", grad, "{:.1e}", f"< {GRADIENT_GOAL:g}",
                grad < GRADIENT_GOAL)
    page.metric("NumPy vs Keras SGD, largest per-epoch loss gap", gap, "{:.3%}",
                f"a few % (< {GAP_GOAL:.0%})", gap < GAP_GOAL)
    final = m.get("final", {})
    rows = [(k, v.get("loss"), v.get("val_loss"), v.get("val_accuracy"))
            for k, v in final.items()]
    page.add("Curves", [
        page.figure("backprop_sgd.png", "NumPy (markers) and Keras (lines), plain SGD"),
        page.figure("backprop_rmsprop.png", "NumPy SGD against Keras RMSprop"),
        page.figure("backprop_accuracy.png", "accuracy, train and test"),
        page.table(["run", "final train loss", "final test loss", "final test accuracy"],
                   rows)])


def fill(page):
    """Lays out a vision run's page (`tfdl.report.Page`), by the run's task."""
    page.goal_source = SOURCE
    {"mnist": _mnist, "notmnist": _notmnist, "optimization": _optimization,
     "backprop": _backprop}[page.run.task](page)
