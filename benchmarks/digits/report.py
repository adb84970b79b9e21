"""The digits benchmark's Markdown table: every part recorded so far, against its target."""

import os

from tfdl.digits.configs import CONFIGS

TARGETS = {"mfcc": 0.99, "batchnorm": 0.97, "best": 0.995, "loso": 0.93}
ALIASES = {CONFIGS.resolve(n): n for n in CONFIGS.names() if CONFIGS.resolve(n) != n}


def _threads(n):
    return f"{n} thread{'s' if n > 1 else ''}"


def _config_rows(results):
    """One row per named config: command, accuracy (and target), training, export costs."""
    rows = ["| config | command | test accuracy | target | train time | params | "
            "SavedModel / TFLite: MB, ms per 1 s clip |", "|---|---|---|---|---|---|---|"]
    confs = results.get("configs", {})
    for name, r in confs.items():
        alias = ALIASES.get(name)
        label = f"`{name}`" + (f" (`{alias}`)" if alias else "")
        target = TARGETS.get(name) or TARGETS.get(alias or "")
        if r["split"] == "loso":
            folds = ", ".join(f"{s} {v:.1%}" for s, v in r["fold_accuracy"].items())
            acc = f"{r['mean_accuracy']:.1%} mean over speakers ({folds})"
            if r.get("unadapted_mean_accuracy") is not None:
                acc += f"; {r['unadapted_mean_accuracy']:.1%} without speaker adaptation"
            met = r["mean_accuracy"] >= target if target else None
            train = params = export = "-"
        else:
            acc = f"{r['accuracy']:.1%} ({r['errors']} of {r['test_examples']} wrong)"
            met = r["accuracy"] >= target if target else None
            train = f"{r['train_seconds'] / 60:.1f} min ({r['epochs']} epochs)"
            params = f"{r['params']:,}"
            export = (f"{r['export_bytes'] / 1e6:.2f} / {r['tflite_bytes'] / 1e6:.2f} MB, "
                      f"{r['export_latency_ms_per_clip']:.2f} / "
                      f"{r['tflite_latency_ms_per_clip']:.2f} ms" if "tflite_bytes" in r else "-")
            if "int8_tflite_bytes" in r:
                export += (f"; int8 {r['int8_tflite_bytes'] / 1e6:.2f} MB, "
                           f"{r['int8_tflite_latency_ms_per_clip']:.2f} ms, "
                           f"{r['int8_accuracy']:.1%} right")
        goal = "-" if target is None else f">= {100 * target:.1f} % ({'met' if met else 'not met'})"
        rows.append(f"| {label} | `{r['command']}` | {acc} | {goal} | {train} | {params} | "
                    f"{export} |")
    return rows


def table(results):
    """The Markdown tables of `results`: one row per config, then the measurements."""
    rows = _config_rows(results) if results.get("configs") else []
    rows += ["", "| measurement | result | target | met |", "|---|---|---|---|"]
    th = results.get("throughput")
    if th:
        for name in ("batchnorm", "mfcc"):
            e = th.get(name)
            if not e or "keras_examples_per_sec" not in e:
                continue
            micro = e.get("keras_microbatches", 1)
            keras_how = (f"oneDNN {'on' if e.get('onednn') else 'off'}, fused batch norm and Adam, "
                         f"steps_per_execution={th.get('steps_per_execution')}, "
                         + (f"{micro} micro-batches in parallel, " if micro > 1 else "")
                         + _threads(e["keras_threads"]))
            if name == "mfcc":
                keras_how = "layers after the MFCC layer on precomputed MFCC, " + keras_how
            if "torch_examples_per_sec" not in e:
                rows.append(f"| training examples/sec, `{name}`, batch 32 (Keras, {keras_how}) "
                            f"| {e['keras_examples_per_sec']:.0f} | - | - |")
                continue
            torch_how = f"{e['torch_input']}, {_threads(e['torch_threads'])}"
            rows.append(f"| training examples/sec, `{name}`, batch 32: Keras ({keras_how}) vs "
                        f"PyTorch CPU loop ({torch_how}) | {e['keras_examples_per_sec']:.0f} vs "
                        f"{e['torch_examples_per_sec']:.0f} ({e['speedup']:.2f}x) | >= 1.5x | "
                        f"{'yes' if e['speedup'] >= 1.5 else 'no'} |")
            if "keras_whole_batches_examples_per_sec" in e:
                rows.append(f"| same, Keras with whole batches of 32 "
                            f"({_threads(e['keras_whole_batches_threads'])}) | "
                            f"{e['keras_whole_batches_examples_per_sec']:.0f} "
                            f"({e['speedup_keras_whole_batches']:.2f}x) | - | - |")
            rows.append(f"| same, Keras untuned (plain `keras.optimizers.Adam` and "
                        f"`BatchNormalization`, one step per call) | "
                        f"{e['keras_untuned_examples_per_sec']:.0f} "
                        f"({e['speedup_keras_untuned']:.2f}x) | - | - |")
            if "keras_end_to_end_examples_per_sec" in e:
                rows.append(f"| same, `{name}` end to end (raw audio in, MFCC layer in the "
                            f"model), tuned | {e['keras_end_to_end_examples_per_sec']:.0f} "
                            f"({e['speedup_keras_end_to_end']:.2f}x) | - | - |")
    pr = results.get("profile")
    for name in ("batchnorm", "mfcc") if pr else ():
        e = pr[name]
        peak = pr["peak"]["core_gflops"]
        line = (f"| one training step of `{name}`, batch 32, 1 thread: Keras "
                f"{e['keras']['wall_ms_per_step']:.1f} ms ({e['keras']['gflops']:.1f} GFLOP/s)")
        if "torch" in e:
            line += (f" vs PyTorch {e['torch']['wall_ms_per_step']:.1f} ms "
                     f"({e['torch']['gflops']:.1f} GFLOP/s)")
        rows.append(line + f"; {e['flops_per_example'] / 1e6:.1f} MFLOP per example; "
                    f"core peak {peak:.0f} GFLOP/s | - | - | - |")
    pi = results.get("pipeline")
    if pi:
        rows.append(f"| decode + MFCC of {pi['files']} files, tf.data first pass vs Python "
                    f"loop (psf) | {pi['tfdata_first_pass_files_per_sec']:.0f} vs "
                    f"{pi['python_psf_files_per_sec']:.0f} files/s "
                    f"({pi['speedup_first_pass']:.1f}x) | >= 4x | "
                    f"{'yes' if pi['speedup_first_pass'] >= 4 else 'no'} |")
        rows.append(f"| same, tf.data cached pass | "
                    f"{pi['tfdata_cached_pass_files_per_sec']:.0f} files/s "
                    f"({pi['speedup_cached_pass']:.1f}x) | - | - |")
    loads = sorted({tuple(v["env_start"]["loadavg"]) for v in _walk_envs(results)})
    if loads:
        rows.append("")
        rows.append("Load average (1, 5, 15 min) at the start of the parts: " +
                    "; ".join(", ".join(f"{x:.1f}" for x in la) for la in loads) +
                    f" on {os.cpu_count()} CPUs.")
    return "\n".join(rows)


def _walk_envs(results):
    """Every part and sub-entry of `results` that recorded its environment."""
    for part in results.values():
        if isinstance(part, dict):
            if "env_start" in part:
                yield part
            for v in part.values():
                if isinstance(v, dict) and "env_start" in v:
                    yield v


def profile_tables(results):
    """`docs/performance.md`'s op tables from the profile part: per network and
    framework, ms per step and share of the largest op types."""
    pr = results.get("profile")
    if not pr:
        return ""
    out = []
    for name in ("batchnorm", "mfcc"):
        e = pr[name]
        for fw in ("keras", "torch"):
            if fw not in e:
                continue
            f = e[fw]
            out += [f"`{name}`, {'Keras' if fw == 'keras' else 'PyTorch'}: "
                    f"{f['wall_ms_per_step']:.1f} ms per step (ops {f['total_ms']:.1f} ms), "
                    f"{f['gflops']:.1f} GFLOP/s; a 1024x1024 matrix product "
                    f"{f['gemm_gflops']:.0f} GFLOP/s", "",
                    "| op | ms per step | share |", "|---|---|---|"]
            out += [f"| `{o['op']}` | {o['ms_per_step']:.2f} | {o['share']:.0%} |"
                    for o in f["ops"]]
            out.append("")
    return "\n".join(out)
