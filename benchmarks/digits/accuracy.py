"""The digits benchmark's configs part: `apps.digits --config=NAME`'s accuracy, time and exports."""

import dataclasses
import time

from benchmarks.common import environment as _env
from tfdl.digits import train as digits_train
from tfdl.digits.configs import CONFIGS

EXPORT_KEYS = ("export_bytes", "tflite_bytes", "export_latency_ms_per_clip",
               "tflite_latency_ms_per_clip", "int8_tflite_bytes",
               "int8_tflite_latency_ms_per_clip", "int8_accuracy")


def bench_configs(names, data_dir, workdir):
    """`apps.digits --config=NAME` for each name: its metrics, time and export costs."""
    res = {}
    for name in names:
        t0, env0 = time.perf_counter(), _env()
        cfg = CONFIGS.get(name)
        rep = digits_train.run(cfg, workdir=f"{workdir}/{name}", data_dir=data_dir, verbose=2)
        entry = {"command": f"python -m apps.digits --config={name}", "split": cfg.split,
                 "accuracy": rep["accuracy"], "config": dataclasses.asdict(cfg),
                 "wall_s": time.perf_counter() - t0, "env_start": env0, "env_end": _env()}
        if cfg.split == "loso":
            entry.update({k: rep.get(k) for k in (
                "mean_accuracy", "fold_accuracy", "speaker_adaptation",
                "unadapted_mean_accuracy", "unadapted_fold_accuracy")})
        else:
            entry.update(errors=len(rep["misclassified"]), test_examples=rep["num_examples"],
                         epochs=rep["epochs_run"], examples_per_sec=rep["examples_per_sec"],
                         train_seconds=rep["train_seconds"], params=rep["trainable_params"],
                         **{k: rep[k] for k in EXPORT_KEYS if k in rep})
        res[name] = entry
    return res
