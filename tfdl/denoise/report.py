"""The report page of a speech-denoising run (`tfdl.report`).

Validation SNR and SI-SDR against the goals, the export's real-time factor,
the training curves, and what to listen to: the noisy input, the denoised
output and the clean reference of the held-out validation tail, and the noisy
input and denoised output of each `--test` clip, each beside its
spectrograms.
"""

from pathlib import Path

# docs/experiments/denoise.md: a magnitude model >= 14 dB, a phase-aware one above the
# noisy-phase ceiling (17.0 dB), the export's real-time factor <= 0.01.
MAGNITUDE_GOAL, PHASE_GOAL, RTF_GOAL = 14.0, 17.0, 0.01
SOURCE = ("docs/experiments/denoise.md: magnitude models >= 14 dB, phase-aware (complex "
          "mask) models > 17.0 dB, export real-time factor <= 0.01")


def _headline(page, m, model):
    snr, sdr, train = m["validation_snr_db"], m["validation_si_sdr_db"], m["training_snr_db"]
    if "crm" in model:
        page.metric("validation SNR", snr["model"], "{:.2f} dB", f"> {PHASE_GOAL} dB",
                    snr["model"] > PHASE_GOAL)
    else:
        page.metric("validation SNR", snr["model"], "{:.2f} dB", f">= {MAGNITUDE_GOAL} dB",
                    snr["model"] >= MAGNITUDE_GOAL)
    page.metric("validation SNR of the noisy input", snr["input"], "{:.2f} dB")
    page.metric("noisy-phase oracle (validation)", snr["oracle_noisy_phase"], "{:.2f} dB")
    page.metric("validation SI-SDR (input / model)", (sdr["input"], sdr["model"]),
                "{0[0]:.2f} / {0[1]:.2f} dB")
    page.metric("training-part SNR (input / model / oracle)",
                (train["input"], train["model"], train["oracle_noisy_phase"]),
                "{0[0]:.2f} / {0[1]:.2f} / {0[2]:.2f} dB")
    if "export_real_time_factor_cpu" in m:
        rtf = m["export_real_time_factor_cpu"]
        page.metric("export real-time factor (CPU)", rtf, "{:.4f}", f"<= {RTF_GOAL}",
                    rtf <= RTF_GOAL)
    page.metric("epochs", m.get("epochs_run"))
    page.metric("parameters", m.get("params"), "{:,}")


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
    _headline(page, m, model)
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
