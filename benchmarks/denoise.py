r"""Speech-denoising benchmark: validation-tail SNR / SI-SDR of each variant, export RTF.

    TFDL_DATA_DIR=../shared/data python -m benchmarks.denoise
    TFDL_DATA_DIR=../shared/data python -m benchmarks.denoise --variants=magnitude --epochs=20
    TFDL_DATA_DIR=../shared/data python -m benchmarks.denoise --variants=tcn --rtf_only

Each variant is a full `tfdl.denoise.run` (the app's library call) trained on
the first 85 % of the training pair and early-stopped on the SNR of the
reconstructed last 15 %; the table reports, on that tail, the SNR of the noisy
input, of the noisy-phase oracle (clean magnitude, noisy phase: the ceiling of
any magnitude-only model), and of the model, plus SI-SDR, training time and
the real-time factor of the exported SavedModel on CPU (seconds of compute per
second of audio, one call on the 11.8 s tail, median of 3). It also reports the
SNR on the training part itself (in-sample) against its own oracle. Targets: magnitude model >= 14
dB; phase-aware model > the 17.0 dB noisy-phase ceiling; RTF <= 0.01.

Results merge into `benchmarks/results/denoise.json` (per variant, with wall
time and `os.getloadavg()`: other jobs on the same CPU slow training down,
and the RTF with it). `--rtf_only` re-measures the RTF of the saved exports
(median of 5 calls) without training, e.g. once the machine is idle; with
`--reexport` it first rebuilds each export from the run's best checkpoint with
the current library (same weights, e.g. after a faster layer implementation).
"""

import dataclasses
import json
import os
import time
from pathlib import Path

import tfdl  # noqa: F401  (quiet TensorFlow)
from absl import app, flags, logging

from tfdl.denoise import DenoiseConfig, run

FLAGS = flags.FLAGS
# The TCN variants' STFT and training recipe (see the comment above "tcn").
TCN_RECIPE = dict(fft_length=128, frame_step=32, chunk_frames=500, batch_size=8, loss="nsr",
                  clipnorm=5.0, epochs=180, patience=0, remix=1.0)
VARIANTS = {
    # The course's model: magnitude mask with the noisy phase, trained with the default
    # phase-sensitive (real/imag spectrum) MSE ...
    "magnitude": dict(model="fc"),
    # ... and with the course's magnitude MSE.
    "magnitude_mse": dict(model="fc", loss="magnitude"),
    # The magnitude model on a finer STFT (16 ms Hann windows, 4 ms hop; 8 context frames
    # a side = 32 ms, 1 s crops): the crunch noise is impulsive. On this split, one run
    # each: 1024/512 12.95, 1024/256 13.12, 512/256 13.25, 512/128 13.33 (context 8),
    # 256/64 13.40 dB (context 8 and 16 alike).
    "magnitude_fine": dict(model="fc", fft_length=256, frame_step=64, chunk_frames=256,
                           context=8),
    # Phase-aware: complex ratio mask on magnitude + real/imag context frames.
    # 512 units: its first layer sees 3 x 7 x 513 features, and 1024 units would
    # double its training time and its real-time factor.
    "complex_mask": dict(model="fc_crm", units=512),
    # Temporal convolutional network over the whole frame sequence (128/32 STFT: 8 ms
    # windows, 2 ms hop; 1 s crops of 500 frames, batch 8, 180 epochs of 34 steps = about
    # 6,100 steps, every crop re-mixed with noise from elsewhere), trained on the waveform
    # error (`--loss=nsr`), gradient norm clipped at 5: magnitude mask with the noisy
    # phase, and the complex ratio mask. With 90 epochs and half the crops re-mixed they
    # gave 14.27 and 14.16 dB; on a 256/64 STFT (250-frame crops) 13.51 and 13.35 dB.
    "tcn": dict(TCN_RECIPE, model="tcn"),
    "tcn_complex_mask": dict(TCN_RECIPE, model="tcn_crm"),
    # The complex-mask TCN with 192-wide blocks (0.45 M parameters) and the training
    # crops' noise time-reversed and negated at random (`--noise_flip`).
    "tcn_complex_mask_wide": dict(TCN_RECIPE, model="tcn_crm", hidden=192, noise_flip=True),
    # The same with speed-perturbed speech: a third of the crops from the clean audio
    # played at 0.9x, a third at 1.1x (`--speech_speed=0.1`) ...
    "tcn_complex_mask_wide_speed": dict(TCN_RECIPE, model="tcn_crm", hidden=192,
                                        noise_flip=True, speech_speed=0.1),
    # ... and with the 128-wide blocks.
    "tcn_complex_mask_speed": dict(TCN_RECIPE, model="tcn_crm", noise_flip=True,
                                   speech_speed=0.1),
    # The two speed recipes trained for 300 epochs instead of 180 (the cosine schedule
    # stretched over them): a 300-epoch harness run of `tcn_crm` peaked 0.4 dB above 180.
    "tcn_complex_mask_wide_speed_300": dict(TCN_RECIPE, model="tcn_crm", hidden=192,
                                            noise_flip=True, speech_speed=0.1, epochs=300),
    "tcn_complex_mask_speed_300": dict(TCN_RECIPE, model="tcn_crm", noise_flip=True,
                                       speech_speed=0.1, epochs=300),
    # The wide one with 0.95x and 1.05x as well (`--speed_steps=2`: five speeds, a fifth
    # of the crops each; a 180-epoch 128-wide harness run gained 0.04 dB with them).
    "tcn_complex_mask_wide_speed_steps_300": dict(TCN_RECIPE, model="tcn_crm", hidden=192,
                                                  noise_flip=True, speech_speed=0.1,
                                                  speed_steps=2, epochs=300),
}
flags.DEFINE_list("variants", list(VARIANTS), f"Variants to run: {', '.join(VARIANTS)}.")
flags.DEFINE_integer("epochs", None, "Maximum epochs per variant (default: the variant's, "
                     f"else {DenoiseConfig.epochs}).")
flags.DEFINE_string("data_dir", "", "Denoise data folder (default: $TFDL_DATA_DIR/denoise).")
flags.DEFINE_string("out", "benchmarks/results/denoise.json", "JSON results file.")
flags.DEFINE_string("runs_dir", "benchmarks/results/denoise_runs", "Workdirs of the runs.")
flags.DEFINE_integer("seed", 0, "Random seed.")
flags.DEFINE_bool("rtf_only", False, "Re-measure only the export RTF of the variants' saved "
                  "runs (median of 5 calls; no training), e.g. on an idle machine.")
flags.DEFINE_bool("reexport", False, "With --rtf_only: first rebuild each export from its run's "
                  "best checkpoint with the current library (e.g. faster layers; same weights), "
                  "checking that it denoises the tail as the old export did.")

TARGETS = {"magnitude_snr_db": 14.0, "phase_aware_snr_db": 17.0, "rtf": 0.01}


def table(results):
    rows = ["| variant | input SNR | oracle (noisy phase) | model SNR | model SI-SDR | "
            "model + 16 Griffin-Lim SNR | training part: input / model / oracle SNR | epochs | "
            "train s | export RTF (CPU) | load avg: training start / RTF |",
            "|---|---|---|---|---|---|---|---|---|---|---|"]
    for name, r in results.items():
        s, d = r["validation_snr_db"], r["validation_si_sdr_db"]
        gl = s.get("model_griffin_lim16")
        rows.append(f"| {name} | {s['input']:.2f} | {s['oracle_noisy_phase']:.2f} | "
                    f"**{s['model']:.2f}** | {d['model']:.2f} | "
                    f"{'-' if gl is None else f'{gl:.2f}'} | {_train_part(r)} | "
                    f"{r['epochs_run']} | "
                    f"{r['train_seconds']:.0f} | {r.get('export_real_time_factor_cpu', 0):.4f} | "
                    f"{r['loadavg_start'][0]:.1f} / {_rtf_load(r)} |")
    return "\n".join(rows)


def _rtf_load(r):
    """Load average when the RTF was measured: re-measured, else at the end of the run."""
    loadavg = r.get("rtf_loadavg", r.get("loadavg_end"))
    return "-" if loadavg is None else f"{loadavg[0]:.1f}"


def _train_part(r):
    t = r.get("training_snr_db")
    return "-" if t is None else \
        f"{t['input']:.2f} / {t['model']:.2f} / {t['oracle_noisy_phase']:.2f}"


def remeasure_rtf(r):
    """Re-measures the RTF of a run's export on its validation tail; updates `r`."""
    from tfdl.denoise import load_pair, real_time_factor, resolve, split_point
    from tfdl.export import load

    c = r["config"]
    _, noisy, rate = load_pair(resolve(c["clean"], c["data_dir"], "clean"),
                               resolve(c["noisy"], c["data_dir"], "noisy"))
    tail = noisy[split_point(len(noisy), c["val_fraction"]):]
    if FLAGS.reexport:
        rebuild_export(r, tail)
    served = load(r["export"])  # kept alive: `serve` uses its variables
    r["rtf_loadavg"] = list(os.getloadavg())
    r["export_real_time_factor_cpu"] = real_time_factor(served.serve, tail, rate, repeats=5)
    r["rtf_remeasured"] = time.strftime("%Y-%m-%d %H:%M")


def rebuild_export(r, tail):
    """Rewrites `r`'s export from its best checkpoint; records the largest output change."""
    import numpy as np
    import tensorflow as tf

    from tfdl.denoise import Denoiser, build_model, export
    from tfdl.export import load

    cfg = DenoiseConfig(**r["config"])  # written by `train_variant` as `dataclasses.asdict`
    model = build_model(cfg, cfg.fft_length // 2 + 1)
    model.load_weights(Path(r["workdir"]) / "checkpoints" / "best.weights.h5")
    x = tf.constant(tail[None], tf.float32)
    before = load(r["export"])  # kept alive while `serve` runs, as below
    old = before.serve(x)[0].numpy()
    export(Denoiser(model, cfg.fft_length, cfg.frame_step, cfg.griffin_lim), r["export"])
    after = load(r["export"])
    new = after.serve(x)[0].numpy()
    r["reexport_max_abs_diff"] = float(np.max(np.abs(new - old)))
    r["reexported"] = time.strftime("%Y-%m-%d %H:%M")
    if not r["reexport_max_abs_diff"] < 1e-4:
        raise SystemExit(f"error: --reexport: the rebuilt export of {r['workdir']} differs from "
                         f"the old one by {r['reexport_max_abs_diff']:.3g}")


def train_variant(name):
    """One full `run` of variant `name`; returns its metrics with config, time and load."""
    variant = dict(VARIANTS[name])
    if FLAGS.epochs:
        variant["epochs"] = FLAGS.epochs
    cfg = DenoiseConfig(data_dir=FLAGS.data_dir, seed=FLAGS.seed,
                        workdir=str(Path(FLAGS.runs_dir) / name), audio_every=0,
                        test=("test_01_x.wav", "test_02_x.wav"), **variant)
    load0, t0 = os.getloadavg(), time.time()
    r = run(cfg, verbose=2)
    r.update(config=dataclasses.asdict(cfg), wall_seconds=time.time() - t0,
             loadavg_start=list(load0), loadavg_end=list(os.getloadavg()))
    return r


def saved_results(out):
    """The variants already in the JSON file `out` (none if it does not exist)."""
    return json.loads(out.read_text())["variants"] if out.exists() else {}


def main(argv):
    del argv
    logging.set_verbosity(logging.WARNING)  # SavedModel writing logs at INFO.
    unknown = set(FLAGS.variants) - set(VARIANTS)
    if unknown:
        raise SystemExit(f"error: unknown --variants {sorted(unknown)}; choose from "
                         f"{', '.join(VARIANTS)}")
    out = Path(FLAGS.out)
    results = saved_results(out)
    from tfdl.workdir import write_json

    for name in FLAGS.variants:
        if FLAGS.rtf_only:
            if name not in results or "export" not in results[name]:
                raise SystemExit(f"error: --rtf_only: no exported run of {name} in {out}")
            remeasure_rtf(results[name])
            result = results[name]
        else:
            result = train_variant(name)
        # Re-read before writing: another invocation (other variants) may have written.
        results = saved_results(out)
        results[name] = result
        write_json(out, {"targets": TARGETS, "cpus": os.cpu_count(), "variants": results})
    print(f"\nresults: {out}\n")
    print(table(results))


if __name__ == "__main__":
    app.run(main)
