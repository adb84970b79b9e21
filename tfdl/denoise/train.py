"""Speech denoising: train, evaluate on the held-out tail, denoise test clips, export.

`run(cfg, workdir, data_dir, tests)` is what `python -m apps.denoise` calls.
Every model maps noisy real/imag STFT frames to a clean real/imag estimate;
SNR = 10 log10(sum s^2 / sum (s - s_hat)^2). The Keras metric `snr` is the
waveform SNR of each batch; its validation value `val_snr` drives the best
checkpoint and early stopping, and `ValidationMonitor` logs the exact tail
SNR and audio to TensorBoard. The run writes the workdir: config.json,
history.json, training_curves.png, validation_{noisy,denoised,clean}.wav,
spectrograms_validation.png, `<test>_denoised.wav`, `<test>_noisy.wav` (the
input) and `spectrograms_<test>.png` per test clip (`<test>_2`, ... where two
clips share a name, or one is called validation), TensorBoard logs, `export/`
and, last, metrics.json (with `dev_set`: the model beside the baselines on the
cross-speaker dev set, `tfdl.denoise.quality`).
"""

import os
from pathlib import Path

import keras
import numpy as np
import tensorflow as tf

from tfdl import audio as taudio
from tfdl import cli, metrics, plots
from tfdl.denoise import data, quality
from tfdl.denoise import model as models
from tfdl.denoise.serve import Denoiser, export, real_time_factor
from tfdl.errors import InputError

SELECT_SNRS_DB = (0.0, 20.0)  # dev-set input SNRs of `select_on="dev"`: the goals' two rows


class ValidationMonitor(keras.callbacks.Callback):
    """Exact SNR of the reconstructed validation tail each epoch, and its audio, in TensorBoard.

    Writes scalars `validation/snr_db` and audio `validation/denoised` (every
    `audio_every` epochs; `noisy` and `clean` once) under `logdir`, and keeps
    the per-epoch SNRs in `self.snrs`.
    """

    def __init__(self, denoiser, noisy, clean, sample_rate, logdir, audio_every=10):
        super().__init__()
        self.denoiser, self.noisy, self.clean = denoiser, noisy, clean
        self.rate, self.audio_every = sample_rate, audio_every
        self.writer = tf.summary.create_file_writer(str(logdir))
        self.snrs = []

    def _audio(self, tag, wave, step):
        tf.summary.audio(tag, np.clip(wave, -1, 1)[None, :, None].astype(np.float32),
                         self.rate, step=step, max_outputs=1)

    def on_train_begin(self, logs=None):
        with self.writer.as_default():
            self._audio("validation/noisy", self.noisy, 0)
            self._audio("validation/clean", self.clean, 0)

    def on_epoch_end(self, epoch, logs=None):
        out = self.denoiser.denoise(self.noisy)
        value = metrics.snr(self.clean, out)
        self.snrs.append(value)
        if logs is not None:
            logs["val_snr_exact"] = value
        with self.writer.as_default():
            tf.summary.scalar("validation/snr_db", value, step=epoch)
            if self.audio_every and (epoch + 1) % self.audio_every == 0:
                self._audio("validation/denoised", out, epoch)
        self.writer.flush()

    def on_train_end(self, logs=None):
        with self.writer.as_default():
            self._audio("validation/denoised_final", self.denoiser.denoise(self.noisy),
                        len(self.snrs))
        self.writer.flush()


class DevMonitor(keras.callbacks.Callback):
    """Mean SI-SDR (dB) of the denoised cross-speaker dev `mixtures` each epoch, as
    `dev_si_sdr` in the epoch's logs (what `select_on="dev"` keeps the best epoch on)."""

    def __init__(self, denoiser, mixtures):
        super().__init__()
        self.denoiser, self.mixtures = denoiser, mixtures

    def on_epoch_end(self, epoch, logs=None):
        if logs is not None:
            logs["dev_si_sdr"] = float(np.mean([
                metrics.si_sdr(m.clean, self.denoiser.denoise(m.noisy)) for m in self.mixtures]))


def cross_speaker(cfg, clean_path, noisy_path):
    """The cross-speaker `DevSet` when `cfg` trains on other voices or selects on it, else None.

    Raises:
        InputError: it is needed and `speech/` or `keywords/` is not beside `denoise/`.
    """
    from tfdl.denoise import devset

    if not cfg.voices and cfg.select_on != "dev":
        return None
    try:
        roots = devset.find_roots(Path(clean_path).resolve().parent.parent)
    except InputError as e:
        raise InputError(f"--config.voices and --config.select_on=dev need the cross-speaker "
                         f"data beside the pair: {e} (--config=tcn_crm_speed trains on the "
                         f"pair alone)") from None
    return devset.build(*roots, clean_path, noisy_path, cfg.val_fraction)


def train(cfg, split, wd, verbose="auto", dev=None):
    """Builds, adapts, compiles and fits `cfg`'s network on `split`; keeps the best weights.

    `dev` (`cross_speaker`) gives the other voices of `cfg.voices` and the
    mixtures of `cfg.select_on="dev"`.

    Returns:
        (denoiser, history, per-epoch exact tail SNRs).
    """
    from tfdl.train import fit, make_optimizer

    fl, fs = cfg.fft_length, cfg.frame_step
    # Crops per epoch from the whole training part (its centred STFT has 1 + part // fs
    # frames), also with train_seconds: less audio, as many optimizer steps.
    crops = data.default_crops(1 + split.part_samples // fs, cfg.chunk_frames, cfg.batch_size)
    model = models.build(cfg)
    models.adapt_normalisation(model, data.spectrum(split.noisy, fl, fs))
    voices = None
    if cfg.voices:
        from tfdl.denoise.devset import speaker_speech

        voices = (speaker_speech(dev.train_speakers), dev.train_noise)
    train_ds = data.chunk_dataset(split.clean, split.noisy, cfg, crops_per_epoch=crops,
                                  voices=voices)
    val = tuple(data.spectrum(w, fl, fs)[None] for w in (split.val_noisy, split.val_clean))
    steps = cfg.steps_per_epoch or -(-crops // cfg.batch_size)
    model.compile(optimizer=make_optimizer(cfg.optimizer, cfg.learning_rate, cfg.schedule,
                                           decay_steps=steps * cfg.epochs,
                                           weight_decay=cfg.weight_decay or None,
                                           clipnorm=cfg.clipnorm or None),
                  loss=models.make_loss(cfg.loss, fl, fs),
                  metrics=[models.WaveformSNR(fl, fs, trim=fl // 2)])
    denoiser = Denoiser(model, fl, fs)
    monitor = ValidationMonitor(denoiser, split.val_noisy, split.val_clean, split.sample_rate,
                                wd.tensorboard / "validation", cfg.audio_every)
    selection = [] if cfg.select_on != "dev" else [
        DevMonitor(denoiser, [m for m in dev.mixtures if m.snr_db in SELECT_SNRS_DB])]
    history = fit(model, train_ds, tf.data.Dataset.from_tensors(val), workdir=wd,
                  epochs=cfg.epochs, batch_size=cfg.batch_size, mode="max",
                  monitor="dev_si_sdr" if cfg.select_on == "dev" else "val_snr",
                  patience=cfg.patience or None, steps_per_epoch=steps,
                  examples_per_epoch=steps * cfg.batch_size, callbacks=[monitor],
                  monitors=selection, verbose=verbose)
    plots.training_curves({k: v for k, v in history.items() if isinstance(v, list)},
                          wd.path("training_curves.png"), title=f"denoise {cfg.model}")
    return denoiser, history, monitor.snrs


def _spectrogram_png(panels, rate, cfg, path):
    from tfdl import features

    mags = [(t, np.abs(features.stft(w, cfg.fft_length, cfg.frame_step, center=True).numpy()))
            for t, w in panels]
    return plots.spectrograms(mags, rate, cfg.frame_step, path)


def _snrs(clean, noisy, estimate, cfg, measure=metrics.snr):
    """`measure` (dB) of the input, the model and the noisy-phase oracle against `clean`."""
    oracle = data.oracle_noisy_phase(clean, noisy, cfg.fft_length, cfg.frame_step)
    return {"input": measure(clean, noisy), "model": measure(clean, estimate),
            "oracle_noisy_phase": measure(clean, oracle)}


def evaluate(cfg, split, denoiser, wd):
    """SNR and SI-SDR on the validation tail (and SNR on the training audio, in-sample: how
    far the model is from the oracle on audio it trained on tells under-fitting from
    over-fitting); writes the denoised tail and its spectrograms."""
    est = denoiser.denoise(split.val_noisy)
    for name, wave in (("noisy", split.val_noisy), ("denoised", est), ("clean", split.val_clean)):
        taudio.write_wav(wd.path(f"validation_{name}.wav"), wave, split.sample_rate)
    _spectrogram_png([("noisy (validation tail)", split.val_noisy), ("denoised", est),
                      ("clean", split.val_clean)], split.sample_rate, cfg,
                     wd.path("spectrograms_validation.png"))
    return {"validation_snr_db": _snrs(split.val_clean, split.val_noisy, est, cfg),
            "validation_si_sdr_db": _snrs(split.val_clean, split.val_noisy, est, cfg,
                                          metrics.si_sdr),
            "training_snr_db": _snrs(split.clean, split.noisy,
                                     denoiser.denoise(split.noisy), cfg)}, est


def output_names(paths, reserved=("validation",)):
    """A distinct output name per test clip: its stem, or `<stem>_2`, `<stem>_3`, ... when
    another clip (or the validation tail's outputs) already has that name."""
    used, names = set(reserved), []
    for path in paths:
        name, n = path.stem, 1
        while name in used:
            n += 1
            name = f"{path.stem}_{n}"
        used.add(name)
        names.append(name)
    return names


def denoise_tests(cfg, denoiser, tests, rate, wd):
    """Denoises each `(path, wave at rate, original rate)`; writes its WAV (at its own rate),
    the input at `rate` (`<name>_noisy.wav`, for the report page) and spectrograms, named by
    `output_names`. Returns one dict per clip."""
    outputs = []
    names = output_names([path for path, _, _ in tests])
    for (path, wave, orig_rate), name in zip(tests, names):
        out = denoiser.denoise(wave)
        if not np.all(np.isfinite(out)):
            raise InputError(f"--test: denoising {path} gave non-finite samples; nothing written")
        panels = [(f"noisy: {path.name}", wave), ("denoised", out)]
        if orig_rate != rate:
            out = taudio.resample(out, rate, orig_rate).numpy()
        wav = wd.path(f"{name}_denoised.wav")
        taudio.write_wav(wav, out, orig_rate)
        taudio.write_wav(wd.path(f"{name}_noisy.wav"), wave, rate)
        png = _spectrogram_png(panels, rate, cfg, wd.path(f"spectrograms_{name}.png"))
        outputs.append({"input": str(path), "output": str(wav), "spectrogram": str(png),
                        "sample_rate": orig_rate, "seconds": len(out) / orig_rate})
    return outputs


def _export(cfg, denoiser, split, est, wd):
    """Writes `export/`, reloads it, and measures its real-time factor and its parity."""
    from tfdl.export import load

    meta = {"task": "denoise", "sample_rate": split.sample_rate, "model": cfg.model,
            "fft_length": cfg.fft_length, "frame_step": cfg.frame_step}
    if cfg.causal:  # what `python -m apps.denoise stream` needs, and its delay
        meta.update(causal=True, receptive_field=models.receptive_field(cfg.blocks,
                                                                        cfg.repeats),
                    algorithmic_latency_ms=models.latency_ms(cfg, split.sample_rate))
    export(denoiser, wd.export, meta)
    served = load(wd.export)
    again = served.serve(tf.constant(split.val_noisy[None]))[0].numpy()
    return {"export": str(wd.export),
            "export_real_time_factor_cpu": real_time_factor(served.serve, split.val_noisy,
                                                            split.sample_rate),
            "export_max_abs_diff": float(np.max(np.abs(again - est))),
            **({"algorithmic_latency_ms": meta["algorithmic_latency_ms"]} if cfg.causal else {})}


def run(cfg, workdir="runs/denoise", data_dir=None, tests=(), clean=data.CLEAN,
        noisy=data.NOISY, verbose="auto", restart=False):
    """Trains, evaluates, denoises the test clips, exports, and prints a summary.

    Every input is checked before the workdir is written.

    Args:
        cfg: a `Config` (validated here).
        workdir: the run's folder.
        data_dir: the denoise data folder (None: `$TFDL_DATA_DIR/denoise`, then
            the Keras cache).
        tests: noisy clips to denoise (a bare name is looked up in the data folder).
        clean, noisy: the sample-aligned training pair (bare names: in the data folder).
        verbose: Keras' `fit` verbosity (2: one line per epoch, for logs).
        restart: start over if `workdir` holds the unfinished run of another config.

    Returns:
        The metrics dict written to `<workdir>/metrics.json`, plus `workdir`.
    """
    from tfdl.workdir import Workdir

    cfg.validate()
    clean_path, noisy_path = data.resolve(clean, data_dir, "clean"), data.resolve(
        noisy, data_dir, "noisy")
    test_paths = [data.resolve(t, data_dir, "test") for t in tests]
    split = data.load_split(cfg, clean_path, noisy_path)
    test_waves = [(p, *data.load_test(p, split.sample_rate, cfg.fft_length)) for p in test_paths]
    dev = cross_speaker(cfg, clean_path, noisy_path)
    keras.utils.set_random_seed(cfg.seed)
    wd = Workdir(workdir)
    wd.write_config(cfg, restart)
    denoiser, history, snrs = train(cfg, split, wd, verbose, dev)
    scores, est = evaluate(cfg, split, denoiser, wd)
    rate = split.sample_rate
    result = {
        "model": cfg.model, "loss": cfg.loss, "sample_rate": rate,
        "clean_path": str(clean_path), "noisy_path": str(noisy_path),
        "train_seconds_audio": len(split.clean) / rate,
        "validation_seconds_audio": len(split.val_clean) / rate, **scores,
        "validation_snr_per_epoch": snrs,
        "best_val_snr_metric": max(history.get("val_snr", [float("nan")])),
        "epochs_run": len(history.get("loss", [])), "train_seconds": history["train_seconds"],
        "params": int(denoiser.model.count_params()),
        "tests": denoise_tests(cfg, denoiser, test_waves, rate, wd)}
    if cfg.export:
        result.update(_export(cfg, denoiser, split, est, wd))
    if cfg.dev_set:
        result["dev_set"] = quality.score_run(cfg, denoiser.denoise, clean_path, noisy_path,
                                              dev)
    result["loadavg"] = list(os.getloadavg())
    wd.write_json("metrics.json", result)
    result["workdir"] = str(wd.root)
    cli.summary("speech denoising: done", summary_rows(result))
    return result


def summary_rows(result):
    """Rows for `tfdl.cli.summary` from a `run` result."""
    snr, sdr = result["validation_snr_db"], result["validation_si_sdr_db"]
    rows = [("validation SNR (dB)", (f"input {snr['input']:.2f}  model {snr['model']:.2f}  "
                                     f"oracle(noisy phase) {snr['oracle_noisy_phase']:.2f}")),
            ("validation SI-SDR (dB)", f"input {sdr['input']:.2f}  model {sdr['model']:.2f}"),
            ("training-part SNR (dB)", "input {input:.2f}  model {model:.2f}  oracle(noisy "
                                       "phase) {oracle_noisy_phase:.2f}".format(
                                           **result["training_snr_db"])),
            ("epochs", str(result["epochs_run"]))]
    if "dev_set" in result:
        rows.append(("dev set, 0 dB input", quality.summary(result["dev_set"])))
    if "export_real_time_factor_cpu" in result:
        rows.append(("export RTF (CPU)", f"{result['export_real_time_factor_cpu']:.4f}"))
    rows += [("denoised", t["output"]) for t in result["tests"]]
    wd = result["workdir"]
    rows += [("workdir", wd), ("export", result.get("export", "(off)")),
             ("tensorboard", f"tensorboard --logdir {wd}/tensorboard")]
    return rows
