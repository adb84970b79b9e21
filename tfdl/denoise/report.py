"""The report page of a speech-denoising run (`tfdl.report`).

Validation SNR and SI-SDR, the cross-speaker dev set's scores and the
export's real-time factor against the goals, the training curves, the dev
set's table (the model beside the baselines), and what to listen to: the noisy input, the denoised
output and the clean reference of the held-out validation tail, and the noisy
input and denoised output of each `--test` clip, each beside its
spectrograms.
"""

from pathlib import Path

from tfdl.denoise import quality

SOURCE = ("docs/denoise.md (tfdl.denoise.quality.GOALS): validation-tail SNR >= "
          f"{quality.GOALS['tail_snr_db']:g} dB, export real-time factor <= "
          f"{quality.GOALS['rtf']:g}; on the cross-speaker dev set at 0 dB input: SI-SDR "
          f"+{quality.GOALS['si_sdr_improvement_0db']:g} dB, PESQ >= "
          f"{quality.GOALS['pesq_0db']:g}, STOI >= {quality.GOALS['stoi_0db']:g}")


def _headline(page, m):
    snr, sdr, train = m["validation_snr_db"], m["validation_si_sdr_db"], m["training_snr_db"]
    goal = quality.GOALS["tail_snr_db"]
    page.metric("validation SNR", snr["model"], "{:.2f} dB", f">= {goal:g} dB",
                snr["model"] >= goal)
    page.metric("validation SNR of the noisy input", snr["input"], "{:.2f} dB")
    page.metric("noisy-phase oracle (validation)", snr["oracle_noisy_phase"], "{:.2f} dB")
    page.metric("validation SI-SDR (input / model)", (sdr["input"], sdr["model"]),
                "{0[0]:.2f} / {0[1]:.2f} dB")
    page.metric("training-part SNR (input / model / oracle)",
                (train["input"], train["model"], train["oracle_noisy_phase"]),
                "{0[0]:.2f} / {0[1]:.2f} / {0[2]:.2f} dB")
    if "export_real_time_factor_cpu" in m:
        rtf = m["export_real_time_factor_cpu"]
        page.metric("export real-time factor (CPU)", rtf, "{:.4f}",
                    f"<= {quality.GOALS['rtf']:g}", rtf <= quality.GOALS["rtf"])
    dev = m.get("dev_set") or {}
    if "snr_db" in dev:
        for name, (value, met) in quality.goals(dev).items():
            if not name.startswith("tail"):  # the validation SNR above
                if " >= " in name:
                    label, goal = name.rsplit(" >= ", 1)
                    page.metric(label, value, "{:.3g}", f">= {goal}", met)
                else:  # better than noisereduce: the number of (SNR, metric) it loses
                    page.metric(name, value, "lost {:.0f}", "lost 0", met)
    page.metric("epochs", m.get("epochs_run"))
    page.metric("parameters", m.get("params"), "{:,}")


def _dev_set(page, dev):
    """The model beside the baselines on the cross-speaker dev set, one row per input SNR."""
    if "snr_db" not in dev:
        return [page.text(dev.get("skipped", "not scored (--config.dev_set=false)"), note=True)]
    blocks = [(f"{k} dB", v) for k, v in dev["snr_db"].items()]
    blocks.append(("tail (training speaker)", dev["tail"]))
    rows = [(label, name, *[f"{row[name][k]:.{3 if k == 'stoi' else 2}f}"
                            for k in quality.METRICS])
            for label, row in blocks for name in quality.SYSTEMS if name in row]
    where = dev.get("set", {})
    return [page.text(f"Voices never heard in training ({where.get('rule', '')}), mixed with "
                      f"the training noise at each input SNR; means over the clips.",
                      note=True),
            page.table(["input", "system", *[quality.LABELS[k] for k in quality.METRICS]],
                       rows, highlight=[i for i, r in enumerate(rows) if r[1] == quality.MODEL])]


def _tests(page, m):
    blocks = []
    for t in m.get("tests", []):
        name = Path(t["output"]).name.removesuffix("_denoised.wav")
        clips = [page.audio(f"{name}_noisy.wav", f"noisy input: {Path(t['input']).name}"),
                 page.audio(f"{name}_denoised.wav", "denoised")]
        blocks.append(page.section(f"Test clip {Path(t['input']).name}", [
            page.listen(clips, page.figure(Path(t["spectrogram"]).name,
                                           "spectrograms: noisy input, denoised"))], level=3))
    return blocks


def fill(page):
    """Lays out a denoise run's page (`tfdl.report.Page`)."""
    run = page.run
    m = run.metrics
    model = m.get("model") or (run.config or {}).get("model", "?")
    page.title = f"Speech denoising: {model}"
    page.goal_source = SOURCE
    _headline(page, m)
    page.add("Training", [page.figure("training_curves.png", "loss and waveform SNR per "
                                      "epoch (dashed: validation tail)")])
    tail = [page.audio("validation_noisy.wav", "noisy input"),
            page.audio("validation_denoised.wav", "denoised"),
            page.audio("validation_clean.wav", "clean reference")]
    page.add("Listen: the validation tail", [
        page.text(f"The last {m.get('validation_seconds_audio', 0):.1f} s of the training "
                  f"pair, never trained on.", note=True),
        page.listen(tail, page.figure("spectrograms_validation.png",
                                      "spectrograms: noisy, denoised, clean"))])
    page.add("Listen: the test clips", _tests(page, m))
    if "dev_set" in m:
        page.add("Cross-speaker dev set", _dev_set(page, m["dev_set"]))
