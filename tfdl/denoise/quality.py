"""How good a denoiser is: the field's speech-quality metrics, the classic baselines, and
the scoring of a model beside them on the cross-speaker dev set (`tfdl.denoise.devset`).

Metrics per clip (`clip_scores`), each against the clean reference:
- SNR and SI-SDR (dB): own code (`tfdl.metrics.snr`, `tfdl.metrics.si_sdr`):
  two lines of NumPy each, checked by analytic oracles in the tests; the
  SNR is the course's definition that every run of this project reports.
- Wide-band PESQ (ITU-T P.862.2, MOS-LQO 1.04-4.64): the `pesq` package, the
  ITU reference C code; a perceptual model too large and too normed to
  rewrite. 16 kHz only.
- STOI (0-1, intelligibility): the `pystoi` package, the reference port of
  Taal et al. 2011 (its own resampling to 10 kHz and silent-frame removal,
  which a rewrite would have to match exactly).
Scores of a system at one input SNR are means over the clips.

Systems (`baselines`), all on the same mixtures: the noisy input itself,
spectral gating with the `noisereduce` package (stationary and
non-stationary, its default settings: what a user picks today; and
stationary given a recording of the noise, the training part's noise
residual at the level of each mixture's noise: what a user holding a sample
of the noise would pass), and the
noisy-phase oracle (the clean magnitude with the noisy phase at the model's
STFT, `tfdl.denoise.data.oracle_noisy_phase`: the ceiling of a magnitude
mask).
"""

import time
from pathlib import Path

import numpy as np

from tfdl import metrics
from tfdl.denoise import data

METRICS = ("si_sdr", "snr", "pesq", "stoi")
LABELS = {"si_sdr": "SI-SDR (dB)", "snr": "SNR (dB)", "pesq": "PESQ (wb)", "stoi": "STOI"}
MODEL, NOISY, ORACLE = "model", "noisy", "oracle_noisy_phase"
NR_STATIONARY, NR_NONSTATIONARY = "noisereduce_stationary", "noisereduce_nonstationary"
NR_PROFILE = "noisereduce_noise_sample"
NOISEREDUCE = (NR_STATIONARY, NR_NONSTATIONARY, NR_PROFILE)
SYSTEMS = (MODEL, *NOISEREDUCE, NOISY, ORACLE)
# benchmarks/denoise.py and docs/denoise.md: the goals on the dev set.
GOALS = {"si_sdr_improvement_0db": 10.0, "pesq_0db": 2.0, "stoi_0db": 0.85,
         "tail_snr_db": 14.0, "rtf": 0.01}


def pesq_wb(reference, estimate, sample_rate=16000):
    """Wide-band PESQ (MOS-LQO) of `estimate` against `reference`, with the `pesq` package.

    Returns:
        A float, or NaN where PESQ finds no speech in the reference.

    Raises:
        ValueError: `sample_rate` is not 16000 (wide-band PESQ's rate).
    """
    from pesq import NoUtterancesError, pesq

    if sample_rate != 16000:
        raise ValueError(f"wide-band PESQ needs 16 kHz audio. Received: "
                         f"sample_rate={sample_rate}")
    ref, est = _same_length(reference, estimate)
    if not np.any(ref):
        return float("nan")  # silence (the package would divide by its zero peak)
    try:
        return float(pesq(16000, ref, est, "wb"))
    except NoUtterancesError:
        return float("nan")


def stoi(reference, estimate, sample_rate=16000):
    """STOI (0-1) of `estimate` against `reference`, with the `pystoi` package."""
    from pystoi import stoi as _stoi

    ref, est = _same_length(reference, estimate)
    return float(_stoi(ref, est, sample_rate, extended=False))


def _same_length(reference, estimate):
    ref = np.asarray(reference, np.float64).ravel()
    est = np.asarray(estimate, np.float64).ravel()
    n = min(len(ref), len(est))
    return ref[:n], est[:n]


def clip_scores(reference, estimate, sample_rate=16000):
    """SI-SDR, SNR, wide-band PESQ and STOI of one clip: a dict keyed by `METRICS`."""
    return {"si_sdr": metrics.si_sdr(reference, estimate),
            "snr": metrics.snr(reference, estimate),
            "pesq": pesq_wb(reference, estimate, sample_rate),
            "stoi": stoi(reference, estimate, sample_rate)}


def mean_scores(rows):
    """The mean of each metric over clips (NaN PESQs left out; all NaN gives NaN)."""
    out = {}
    for k in METRICS:
        values = np.array([r[k] for r in rows], np.float64)
        out[k] = float(np.nanmean(values)) if np.any(np.isfinite(values)) else float("nan")
    return out


def noisereduce_fn(stationary, sample_rate=16000, noise=None):
    """Spectral gating with `noisereduce.reduce_noise` at its defaults (one job).

    Args:
        stationary: its stationary mode (noise statistics of the whole clip) or
            the non-stationary one (a sliding estimate).
        sample_rate: the audio's rate.
        noise: a recording of the noise alone (stationary mode's `y_noise`),
            scaled each call to the RMS of that mixture's noise (noisy - clean):
            a user's noise sample recorded at the level of the noise in the
            clip; None: the clip alone.
    """
    import noisereduce

    def fn(noisy, clean=None):
        noisy = np.asarray(noisy, np.float32)
        y_noise = None
        if noise is not None:
            rms = np.sqrt(np.mean(np.square(noisy - clean, dtype=np.float64)))
            y_noise = (noise * (rms / np.sqrt(np.mean(np.square(noise, dtype=np.float64))))
                       ).astype(np.float32)
        out = noisereduce.reduce_noise(y=noisy, sr=sample_rate, stationary=stationary,
                                       y_noise=y_noise, n_jobs=1)
        return np.asarray(out, np.float32)[:len(noisy)]

    return fn


def baselines(fft_length, frame_step, sample_rate=16000, noise_sample=None):
    """The reference systems: name -> `fn(noisy, clean) -> estimate`.

    Args:
        fft_length, frame_step: the model's STFT, for the noisy-phase oracle.
        noise_sample: a recording of the noise alone for `NR_PROFILE` (None: left out;
            the dev set's is the training part's noise residual, never the tail's).
    """
    systems = {NR_STATIONARY: noisereduce_fn(True, sample_rate),
               NR_NONSTATIONARY: noisereduce_fn(False, sample_rate)}
    if noise_sample is not None:
        systems[NR_PROFILE] = noisereduce_fn(True, sample_rate, noise_sample)
    return {**systems,
            NOISY: lambda noisy, clean: np.asarray(noisy, np.float32),
            ORACLE: lambda noisy, clean: data.oracle_noisy_phase(
                np.asarray(clean, np.float32), np.asarray(noisy, np.float32), fft_length,
                frame_step)}


def _score_pairs(pairs, systems, sample_rate):
    """Means of `clip_scores` per system over `(clean, noisy)` pairs, and each system's
    compute seconds."""
    rows = {name: [] for name in systems}
    seconds = dict.fromkeys(systems, 0.0)
    for clean, noisy in pairs:
        for name, fn in systems.items():
            t0 = time.perf_counter()
            est = fn(noisy, clean)
            seconds[name] += time.perf_counter() - t0
            if not np.all(np.isfinite(est)):
                raise ValueError(f"{name} gave non-finite samples")
            rows[name].append(clip_scores(clean, est, sample_rate))
    return {name: mean_scores(r) for name, r in rows.items()}, seconds


def score(dev, model_fn=None, fft_length=128, frame_step=32):
    """Scores a model and the baselines on the dev mixtures and on the in-domain tail.

    Args:
        dev: a `tfdl.denoise.devset.DevSet`.
        model_fn: `fn(noisy [samples]) -> denoised [samples]` (numpy), or None
            for the baselines alone.
        fft_length, frame_step: the model's STFT (the oracle uses it).

    Returns:
        A JSON-ready dict: `snr_db` (input SNR as a string -> system -> metric
        means), `tail` (the same on the training speaker's held-out tail),
        `set` (`dev.describe()`), `compute_seconds` per system and
        `wall_seconds`.
    """
    t0 = time.perf_counter()
    systems = baselines(fft_length, frame_step, dev.sample_rate, dev.train_noise)
    if model_fn is not None:
        systems = {MODEL: lambda noisy, clean: np.asarray(model_fn(noisy), np.float32),
                   **systems}
    per_snr, seconds = {}, dict.fromkeys(systems, 0.0)
    for snr in sorted({m.snr_db for m in dev.mixtures}):
        pairs = [(m.clean, m.noisy) for m in dev.mixtures if m.snr_db == snr]
        per_snr[f"{snr:g}"], spent = _score_pairs(pairs, systems, dev.sample_rate)
        seconds = {k: seconds[k] + spent[k] for k in seconds}
    tail, _ = _score_pairs([(dev.tail_clean, dev.tail_noisy)], systems, dev.sample_rate)
    return {"snr_db": per_snr, "tail": tail, "set": dev.describe(),
            "stft": {"fft_length": fft_length, "frame_step": frame_step},
            "compute_seconds": seconds, "wall_seconds": time.perf_counter() - t0}


def score_export(export_dir, dev):
    """`score` of a denoise SavedModel (`tfdl.export.load`; its STFT from its metadata)."""
    import tensorflow as tf

    from tfdl.export import load, read_metadata

    served = load(export_dir, task="denoise")  # kept alive: `serve` uses its variables
    meta = read_metadata(export_dir)

    def fn(noisy):
        return served.serve(tf.constant(np.asarray(noisy, np.float32)[None]))[0].numpy()

    return score(dev, fn, meta.get("fft_length", 1024), meta.get("frame_step", 512))


def goals(scores, rtf=None):
    """The issue's goals checked on a `score` result (with a model): name -> (value, met)."""
    snrs = scores["snr_db"]
    zero = snrs["0"]
    out = {"dev 0 dB: SI-SDR improvement >= +10 dB": zero[MODEL]["si_sdr"] - zero[NOISY]["si_sdr"],
           "dev 0 dB: PESQ >= 2.0": zero[MODEL]["pesq"],
           "dev 0 dB: STOI >= 0.85": zero[MODEL]["stoi"],
           "dev 20 dB: SI-SDR out - in >= 0": snrs["20"][MODEL]["si_sdr"]
           - snrs["20"][NOISY]["si_sdr"],
           "tail SNR >= 14 dB": scores["tail"][MODEL]["snr"]}
    limits = (GOALS["si_sdr_improvement_0db"], GOALS["pesq_0db"], GOALS["stoi_0db"], 0.0,
              GOALS["tail_snr_db"])
    result = {k: (float(v), bool(v >= t)) for (k, v), t in zip(out.items(), limits)}
    losses = [f"{snr} dB {m}" for snr, row in snrs.items() for m in METRICS
              for nr in NOISEREDUCE if nr in row and not row[MODEL][m] > row[nr][m]]
    # The value: the number of (SNR, metric, setting) cases where noisereduce is not worse.
    result["better than noisereduce on every metric and SNR"] = (len(losses), not losses)
    if rtf is not None:
        result["export RTF (CPU) <= 0.01"] = (float(rtf), bool(rtf <= GOALS["rtf"]))
    return result


def table(scores, systems=SYSTEMS):
    """A Markdown table: one row per input SNR and system (then the tail), a column per metric."""
    rows = ["| input SNR | system | " + " | ".join(LABELS[m] for m in METRICS) + " |",
            "|---" * (2 + len(METRICS)) + "|"]
    blocks = [(f"{k} dB", v) for k, v in scores["snr_db"].items()]
    blocks.append(("tail (training speaker)", scores["tail"]))
    for label, row in blocks:
        for name in systems:
            if name not in row:
                continue
            vals = " | ".join(f"{row[name][m]:.2f}" if m != "stoi" else f"{row[name][m]:.3f}"
                              for m in METRICS)
            bold = "**" if name == MODEL else ""
            rows.append(f"| {label} | {bold}{name}{bold} | {vals} |")
    return "\n".join(rows)


def score_run(cfg, denoise_fn, clean_path, noisy_path, dev=None):
    """The `dev_set` entry of a training run's metrics.json: `score` of its model on the
    cross-speaker set built beside the pair's data folder (`<root>/denoise` ->
    `<root>/speech`, `<root>/keywords`; `dev` when the run built it already), or
    `{"skipped": why}` where that data is missing."""
    from tfdl.denoise import devset
    from tfdl.errors import InputError

    if dev is not None:
        return score(dev, denoise_fn, cfg.fft_length, cfg.frame_step)
    root = Path(clean_path).resolve().parent.parent
    try:
        speech_dir, keywords_dir = devset.find_roots(root)
    except InputError as e:
        return {"skipped": f"no cross-speaker data beside the pair: {e}"}
    dev = devset.build(speech_dir, keywords_dir, clean_path, noisy_path, cfg.val_fraction)
    return score(dev, denoise_fn, cfg.fft_length, cfg.frame_step)


def summary(scores):
    """One line for a run's closing summary: the model against the input and the best
    noisereduce at 0 dB on the dev set (or why it was skipped)."""
    if "skipped" in scores:
        return scores["skipped"]
    row = scores["snr_db"]["0"]
    nr = max((n for n in NOISEREDUCE if n in row), key=lambda n: row[n]["si_sdr"])
    return "  ".join(f"{label} {row[NOISY][m]:.2f} -> {row[MODEL][m]:.2f} (noisereduce "
                     f"{row[nr][m]:.2f})" for m, label in (("si_sdr", "SI-SDR"),
                                                             ("pesq", "PESQ"),
                                                             ("stoi", "STOI")))


def load_references(tests, references, data_dir=None):
    """Checks `--reference` clips against their `--test` clips before any training.

    Args:
        tests, references: file names as given (a bare name is looked up in the
            denoise data folder), one reference per test clip, in order.
        data_dir: the app's `--data_dir`.

    Returns:
        A list of (reference waveform, sample rate) per test clip ([] without references).

    Raises:
        InputError: one line: a count mismatch, a missing or undecodable file, or a
            reference whose sample rate or length differs from its test clip's.
    """
    from tfdl import audio
    from tfdl.errors import InputError

    if not references:
        return []
    if len(references) != len(tests):
        raise InputError(f"--reference: give one clean reference per --test clip, in the same "
                         f"order. Received: {len(tests)} --test, {len(references)} --reference")
    out = []
    for test, ref in zip(tests, references):
        test_path, ref_path = data.resolve(test, data_dir, "test"), data.resolve(
            ref, data_dir, "reference")
        test_wave, test_rate = audio.read_audio(test_path)
        wave, rate = audio.read_audio(ref_path)
        if (rate, len(wave)) != (test_rate, len(test_wave)):
            raise InputError(f"--reference: {ref_path} ({len(wave)} samples at {rate} Hz) does "
                             f"not match --test {test_path} ({len(test_wave)} samples at "
                             f"{test_rate} Hz); a reference must be its clean, sample-aligned "
                             f"recording")
        data.check_not_silent(wave, ref_path, "reference")
        out.append((wave, rate))
    return out


def reference_scores(outputs, references, sample_rate=16000):
    """`clip_scores` of each test clip's noisy input and denoised output against its reference.

    Args:
        outputs: `tfdl.denoise.train.run`'s `tests` entries (`input`, `output` paths).
        references: `load_references`'s list, in the same order.
        sample_rate: the rate the scores are measured at (wide-band PESQ: 16 kHz);
            other rates are resampled with soxr.

    Returns:
        A list of {"input": path, "noisy": scores, "denoised": scores}.
    """
    from tfdl import audio

    def at_rate(wave, rate):
        return wave if rate == sample_rate else audio.resample(wave, rate, sample_rate).numpy()

    out = []
    for t, (ref, rate) in zip(outputs, references):
        noisy, _ = audio.read_audio(t["input"])
        denoised, _ = audio.read_audio(t["output"])
        ref = at_rate(ref, rate)
        out.append({"input": t["input"],
                    **{k: clip_scores(ref, at_rate(w, rate), sample_rate)
                       for k, w in (("noisy", noisy), ("denoised", denoised))}})
    return out


def reference_rows(scores):
    """Rows for `tfdl.cli.summary` from `reference_scores`."""
    def line(s):
        return (f"SI-SDR {s['si_sdr']:.2f} dB  SNR {s['snr']:.2f} dB  PESQ {s['pesq']:.2f}  "
                f"STOI {s['stoi']:.3f}")

    return [(f"{name}: {Path(s['input']).name}", line(s[name]))
            for s in scores for name in ("noisy", "denoised")]
