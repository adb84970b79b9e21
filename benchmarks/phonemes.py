"""Frame-level phoneme classification benchmark on the 500 ARCTIC utterances.

    TFDL_DATA_DIR=../shared/data python -m benchmarks.phonemes

Utterance-level split (seed 0): 50 test, 25 validation (early stopping and
ensemble weights), 425 training utterances. Trains logistic regression on
single frames, an MLP without context, an MLP with a +-K context window, the
residual basic-block MLP and the bottleneck MLP (same window), then combines
the context models with the four ensemble rules. Every accuracy is on all test
frames. Writes benchmarks/results/phonemes.json and prints a Markdown table.
"""

import argparse
import json
import os
import time
from pathlib import Path

import tfdl  # noqa: F401
import numpy as np

from tfdl import ensemble
from tfdl.datasets import phonemes as data
from tfdl.phonemes import predict, train_member
from tfdl.workdir import Workdir


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data_dir", default=None)
    ap.add_argument("--context", type=int, default=15)
    ap.add_argument("--stride", type=int, default=3)
    ap.add_argument("--epochs", type=int, default=8)
    ap.add_argument("--frames_per_epoch", type=int, default=250_000)
    ap.add_argument("--batch_size", type=int, default=512)
    ap.add_argument("--workdir", default="runs/benchmark_phonemes")
    ap.add_argument("--out", default="benchmarks/results/phonemes.json")
    args = ap.parse_args()

    t0, load0 = time.time(), os.getloadavg()
    corpus = data.load_corpus(data.find(args.data_dir))
    phones = corpus.phone_set()
    index = data.check_vocabulary(corpus, phones)
    split = data.split_utterances(len(corpus.utterances), 50, 25, seed=0)
    K, S = args.context, args.stride
    sets = {k: data.pack([corpus.utterances[i] for i in v], index, K * S)
            for k, v in split.items()}
    common = dict(num_classes=len(phones), batch_size=args.batch_size,
                  frames_per_epoch=args.frames_per_epoch, learning_rate=1e-3,
                  schedule="cosine", patience=3, verbose=2)
    runs = [
        ("logistic (single frame)", "logistic", 0, dict(epochs=3)),
        ("MLP, no context", "mlp", 0, dict(width=512, depth=3, dropout=0.1, epochs=6)),
        (f"MLP, context +-{K} x{S}", "mlp", K, dict(width=512, depth=3, dropout=0.3,
                                                    epochs=args.epochs)),
        (f"residual basic MLP, context +-{K} x{S}", "resnet_basic", K,
         dict(width=512, depth=2, dropout=0.3, epochs=args.epochs)),
        (f"residual bottleneck MLP, context +-{K} x{S}", "resnet_bottleneck", K,
         dict(width=128, depth=2, dropout=0.3, epochs=args.epochs)),
    ]
    rows, val_probs, test_probs = [], {}, {}
    y_val, y_test = sets["val"].labels, sets["test"].labels
    for i, (title, arch, ctx, kw) in enumerate(runs):
        print(f"\n== {title}", flush=True)
        model, hist = train_member(arch, sets["train"], sets["val"], context=ctx,
                                   stride=S if ctx else 1,
                                   workdir=Workdir(Path(args.workdir) / arch / str(ctx)),
                                   seed=i, **common, **kw)
        vp = predict(model, sets["val"], ctx, S if ctx else 1)
        tp = predict(model, sets["test"], ctx, S if ctx else 1)
        val_probs[title], test_probs[title] = vp, tp
        rows.append({"model": title, "name": arch, "context": ctx, "stride": S if ctx else 1,
                     "params": int(model.count_params()),
                     "epochs_run": len(hist["loss"]),
                     "test_frame_accuracy": float(np.mean(tp.argmax(1) == y_test)),
                     "val_frame_accuracy": float(np.mean(vp.argmax(1) == y_val)),
                     "train_frames_per_sec": hist["steady_examples_per_sec"],
                     "train_seconds": hist["train_seconds"]})
        print(json.dumps(rows[-1]), flush=True)

    members = [r["model"] for r in rows if r["context"] > 0]
    rules = ensemble.evaluate(np.stack([test_probs[m] for m in members]), y_test,
                              np.stack([val_probs[m] for m in members]), y_val)
    ens = {r: rules[r]["accuracy"] for r in ensemble.RULES}
    best_rule = max(ensemble.RULES, key=ens.get)
    val_rules = ensemble.evaluate(np.stack([val_probs[m] for m in members]), y_val)
    by_acc = {r["model"]: r["test_frame_accuracy"] for r in rows}
    no_ctx = by_acc["MLP, no context"]
    ctx_acc = by_acc[f"MLP, context +-{K} x{S}"]
    best_single = max(by_acc.values())
    result = {
        "command": "TFDL_DATA_DIR=../shared/data python -m benchmarks.phonemes",
        "args": vars(args),
        "split": {k: int(len(v)) for k, v in split.items()},
        "frames": {k: len(s) for k, s in sets.items()},
        "frame_period_ms": corpus.frame_period * 1e3,
        "num_phones": len(phones),
        "models": rows,
        "ensemble_members": members,
        "ensemble_test_accuracy": ens,
        "ensemble_val_accuracy_equal_weights": {r: val_rules[r]["accuracy"]
                                                for r in ensemble.RULES},
        "ensemble_weights": dict(zip(members, rules["weights"])),
        "best_ensemble": {"rule": best_rule, "test_frame_accuracy": ens[best_rule]},
        "targets": {
            "context_gain_points": 100 * (ctx_acc - no_ctx),
            "context_gain_ok": bool(ctx_acc - no_ctx >= 0.08),
            "best_single_model": best_single,
            "best_single_ok": bool(best_single >= 0.80),
            "best_ensemble_above_best_single": bool(ens[best_rule] > best_single),
        },
        "loadavg_start": load0,
        "loadavg_end": os.getloadavg(),
        "wall_seconds": time.time() - t0,
    }
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(result, indent=2) + "\n")

    print(f"\n{out}\n")
    print("| model | context | params | test frame accuracy | train frames/s |")
    print("|---|---|---|---|---|")
    for r in rows:
        ctx = f"+-{r['context']} x{r['stride']}" if r["context"] else "none"
        print(f"| {r['model']} | {ctx} | {r['params']:,} | {r['test_frame_accuracy']:.4f} | "
              f"{r['train_frames_per_sec']:,.0f} |")
    for rule in ensemble.RULES:
        print(f"| ensemble of the 3 context models: {rule} | | | {ens[rule]:.4f} | |")


if __name__ == "__main__":
    main()
