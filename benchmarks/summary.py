"""The README's results table, made from the committed benchmark JSON.

    python -m benchmarks.summary            # rewrites README.md's results block
    python -m benchmarks.summary --check    # exits 1 when README.md's block is out of date

One row per task and named config (`default`, `best` where it is another
recipe, and the configs of `EXTRA` that a task's guide singles out), read from `benchmarks/results/<task>.json` as `python -m
benchmarks.<task>` wrote it: the headline result on its split, the training
time, the export's size and latency where the task measures them, and where
and when it was measured (CPU, TensorFlow, load average at the start, date).
A config that the JSON does not hold yet shows as "not measured", never as an
older or hand-written number.
"""

import json
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "benchmarks" / "results"
README = ROOT / "README.md"
BEGIN = "<!-- results: made by `python -m benchmarks.summary` from benchmarks/results/*.json -->"
END = "<!-- /results -->"


def _configs(task):
    """The task's Configs (vision apps share one JSON file, keyed APP/NAME)."""
    import importlib

    if task in ("mnist", "notmnist", "optimization", "backprop"):
        from tfdl.vision.configs import APPS

        return APPS[task]
    return importlib.import_module(f"tfdl.{task}.configs").CONFIGS


TASKS = ("digits", "keywords", "denoise", "phonemes", "mnist", "notmnist", "optimization",
         "backprop")
# Named configs shown beside default and best: the distilled digits student (with its
# int8 model) and the denoiser trained on the pair alone (the old default).
EXTRA = {"digits": ("compact_student",), "denoise": ("tcn_crm_speed",)}
FILES = {t: "vision" if t in ("mnist", "notmnist", "optimization", "backprop") else t
         for t in TASKS}


def _pct(v):
    return f"{100 * v:.1f} %"


def _digits(r):
    if "mean_accuracy" in r:
        return f"{_pct(r['mean_accuracy'])} leave-one-speaker-out mean"
    return f"{_pct(r['accuracy'])} test accuracy ({r['split']} split, {r['test_examples']} clips)"


def _keywords(r):
    noisy = ", ".join(f"{_pct(v)} at {float(snr):g} dB" for snr, v in
                      r["noisy_test_accuracy"].items())
    return f"{_pct(r['test_accuracy'])} corpus test; held-out noise: {noisy}"


def _denoise(r):
    s = r["validation_snr_db"]
    return (f"{s['model']:.2f} dB SNR on the held-out tail (input {s['input']:.2f} dB), "
            f"SI-SDR {r['validation_si_sdr_db']['model']:.2f} dB" + _dev(r.get("dev_set")))


def _dev(dev):
    """The cross-speaker dev set at 0 dB input, beside the best noisereduce mode."""
    if not dev:
        return ""
    at0 = dev["snr_db"]["0"]
    nr = max((v for k, v in at0.items() if k.startswith("noisereduce")),
             key=lambda v: v["si_sdr"])
    at20 = dev["snr_db"]["20"]
    return (f"; unseen voices at 0 dB input: SI-SDR {at0['model']['si_sdr']:.2f} dB "
            f"(noisy {at0['noisy']['si_sdr']:.2f}, best noisereduce {nr['si_sdr']:.2f}), "
            f"PESQ {at0['model']['pesq']:.2f}, STOI {at0['model']['stoi']:.2f}; at 20 dB "
            f"input: SI-SDR {at20['model']['si_sdr']:.2f} dB (noisy "
            f"{at20['noisy']['si_sdr']:.2f})")


def _phonemes(r):
    return f"{_pct(r['frame_accuracy'])} frame accuracy ({r['frames']['test']:,} test frames)"


def _vision(r):
    if "test_accuracy" in r:
        return f"{_pct(r['test_accuracy'])} test accuracy"
    if "gradient_check_max_relative_error" in r:
        return (f"gradient check {r['gradient_check_max_relative_error']:.1e}, "
                f"relative loss gap to Keras {r['max_relative_loss_gap']:.1e}")
    parts = []
    if "lowest" in r:
        parts.append(f"lowest final loss: {r['lowest']}")
    if "dropout_best_test_accuracy" in r:
        acc = r["dropout_best_test_accuracy"]
        best = max(acc, key=acc.get)
        parts.append(f"best test accuracy {_pct(acc[best])} ({best})")
    return "; ".join(parts)


HEADLINE = {"digits": _digits, "keywords": _keywords, "denoise": _denoise,
            "phonemes": _phonemes}


def _training(r, results=None):
    """Training minutes; a distilled config adds its teacher's (trained first on a fresh
    run), read from the teacher's own row of the same JSON."""
    seconds = r.get("train_seconds", r.get("wall_s"))
    if seconds is None:
        return "-"
    text = f"{seconds / 60:.1f} min"
    teacher = (r.get("config") or {}).get("teacher")
    if teacher and (results or {}).get(teacher, {}).get("train_seconds") is not None:
        text += f" + {results[teacher]['train_seconds'] / 60:.1f} min for the teacher `{teacher}`"
    return text


def _export(r):
    if "export_real_time_factor_cpu" in r:
        return f"real-time factor {r['export_real_time_factor_cpu']:.4f}"
    if "export_bytes" not in r:
        return "-"
    text = (f"SavedModel {r['export_bytes'] / 1e6:.1f} MB, "
            f"{r['export_latency_ms_per_clip']:.1f} ms/clip")
    if r.get("tflite_bytes"):
        text += (f"; TFLite {r['tflite_bytes'] / 1e6:.1f} MB, "
                 f"{r['tflite_latency_ms_per_clip']:.1f} ms/clip")
    if r.get("int8_tflite_bytes"):
        text += (f"; int8 TFLite {r['int8_tflite_bytes'] / 1e6:.1f} MB, "
                 f"{r['int8_tflite_latency_ms_per_clip']:.1f} ms/clip, "
                 f"{100 * r['int8_accuracy']:.1f} %")
    if r.get("stream_real_time_factor") is not None:
        text += f"; stream real-time factor {r['stream_real_time_factor']:.4f}"
    return text


def _measured(r):
    env = r.get("env_start") or r.get("env") or {}
    load = env.get("loadavg", r.get("loadavg_start", [None]))[0]
    return (f"{env.get('cpu', '?')} x{env.get('cpus', '?')}, TF {env.get('tensorflow', '?')}, "
            f"load {'?' if load is None else f'{load:.1f}'}, {env.get('time', '?')[:10]}")


def rows(results_dir=RESULTS):
    """The table's Markdown rows (header included)."""
    out = ["| task | config | result | training | export | measured on |",
           "|---|---|---|---|---|---|"]
    loaded = {}
    for task in TASKS:
        path = Path(results_dir) / f"{FILES[task]}.json"
        if path not in loaded:
            loaded[path] = json.loads(path.read_text()).get("configs", {}) if path.exists() else {}
        configs = _configs(task)
        names = [configs.resolve("default")]
        if configs.resolve("best") != names[0]:
            names.append(configs.resolve("best"))
        headline = list(names)
        names += [n for n in EXTRA.get(task, ()) if n not in names]
        for name in names:
            alias = "default" if name == names[0] else "best"
            same = " = best" if alias == "default" and len(headline) == 1 else ""
            label = f"`{alias}`{same} (`{name}`)" if name in headline else f"`{name}`"
            key = f"{task}/{name}" if FILES[task] == "vision" else name
            r = loaded[path].get(key)
            if r is None:
                out.append(f"| {task} | {label} | not measured: `python -m benchmarks."
                           f"{FILES[task]} --configs={key}` | | | |")
                continue
            result = HEADLINE.get(task, _vision)(r)
            out.append(f"| {task} | {label} | {result} | {_training(r, loaded[path])} | {_export(r)} | "
                       f"{_measured(r)} |")
    return out


def speed_rows(results_dir=RESULTS):
    """The training-speed table from the digits benchmark's throughput part: Keras as the
    app trains against the PyTorch CPU loop, per network, with where it was measured."""
    path = Path(results_dir) / "digits.json"
    th = json.loads(path.read_text()).get("throughput") if path.exists() else None
    if not th:
        return ["Training speed: not measured: `python -m benchmarks.digits "
                "--parts=throughput`"]
    env = th["env_start"]
    out = [f"Training speed, examples/sec at batch 32 with Adam (`python -m benchmarks.digits "
           f"--parts=throughput`; {env['cpu']} x{env['cpus']}, TF {env.get('tensorflow', '?')}, "
           f"load {env['loadavg'][0]:.1f} at the start, {env['time'][:10]}):", "",
           "| network | Keras, as the app trains | PyTorch CPU loop | Keras / PyTorch |",
           "|---|---|---|---|"]
    for name in ("batchnorm", "mfcc"):
        e = th.get(name)
        if not e:
            continue
        micro = e.get("keras_microbatches", 1)
        how = (f"oneDNN {'on' if e.get('onednn') else 'off'}, "
               + (f"{micro} micro-batches, " if micro > 1 else "") + _threads(e["keras_threads"]))
        what = f"`{name}`" + (" (on precomputed MFCC)" if name == "mfcc" else "")
        torch = (f"{e['torch_examples_per_sec']:.0f} ({_threads(e['torch_threads'])}, "
                 f"torch {e['torch_version']}) | {e['speedup']:.2f}x"
                 if "torch_examples_per_sec" in e else "not measured (torch not installed) | -")
        out.append(f"| {what} | {e['keras_examples_per_sec']:.0f} ({how}) | {torch} |")
    return out


def _threads(n):
    return f"{n} thread{'s' if n > 1 else ''}"


def block(results_dir=RESULTS):
    """The README's results block, markers included."""
    note = ("Each row is one run of `python -m benchmarks.<task> --configs=NAME` "
            "(its JSON is in `benchmarks/results/`); training times are on the CPU named.")
    return "\n".join([BEGIN, note, "", *rows(results_dir), "", *speed_rows(results_dir), END])


def render(readme_text, results_dir=RESULTS):
    """`readme_text` with its results block replaced by the current one."""
    start, end = readme_text.index(BEGIN), readme_text.index(END) + len(END)
    return readme_text[:start] + block(results_dir) + readme_text[end:]


def main(argv):
    text = README.read_text()
    new = render(text)
    if "--check" in argv[1:]:
        if new != text:
            print("README.md's results block is out of date: run python -m benchmarks.summary",
                  file=sys.stderr)
            return 1
        return 0
    README.write_text(new)
    print("\n".join(rows()))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
