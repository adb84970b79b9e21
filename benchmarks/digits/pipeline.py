"""The digits benchmark's pipeline part: decode + MFCC of every file, tf.data vs a Python loop.

`tfdl.pipeline.feature_dataset` (first and cached pass) against scipy +
python_speech_features in a loop (the reference's way), medians of 3
interleaved rounds (`python -m benchmarks.digits --parts=pipeline`).
"""

import time

from benchmarks.common import environment as _env


def bench_pipeline(recordings):
    """The pipeline part: files/sec of decode + MFCC, tf.data against the Python loop."""
    import numpy as np
    from python_speech_features import mfcc as psf_mfcc
    from scipy.io import wavfile

    from tfdl import pipeline

    paths = [str(r.path) for r in recordings]
    env0 = _env()

    def reference():  # The reference's loader: read, pad/trim to 6000, scale, MFCC.
        for p in paths:
            rate, w = wavfile.read(p)
            psf_mfcc(np.pad(w, (0, 6000))[:6000] / 32768, rate)

    # Ours: parallel per-file decode + pad, MFCC on whole batches of 256, cache.
    # Trace the map functions once on another dataset so the first pass times the data work.
    for _ in pipeline.feature_dataset(paths[:2], sample_rate=8000, length=6000):
        pass
    # Passes take ~1 s, so other jobs' bursts matter: 3 interleaved rounds, medians. Each
    # round builds a fresh dataset, so its first pass fills an empty cache.
    times = {"psf": [], "first": [], "cached": []}
    for _ in range(3):
        t0 = time.perf_counter()
        reference()
        times["psf"].append(time.perf_counter() - t0)
        ds = pipeline.feature_dataset(paths, sample_rate=8000, length=6000, batch_size=256)
        t0 = time.perf_counter()
        n = sum(int(b.shape[0]) for b in ds)
        times["first"].append(time.perf_counter() - t0)
        t0 = time.perf_counter()
        ours = np.concatenate([b.numpy() for b in ds])
        times["cached"].append(time.perf_counter() - t0)
        assert n == len(ours) == len(paths)
    psf_s, first_s, cached_s = (float(np.median(times[k])) for k in ("psf", "first", "cached"))
    # Same work: same MFCC (shape and values) as the reference loop, on every 100th file.
    check = {}
    for i in range(0, len(paths), 100):
        rate, w = wavfile.read(paths[i])
        ref = psf_mfcc(np.pad(w, (0, 6000))[:6000] / 32768, rate)
        assert ours[i].shape == ref.shape, (ours[i].shape, ref.shape)
        check[i] = float(np.max(np.abs(ours[i] - ref) / (np.abs(ref) + 1)))
    res = {
        "files": len(paths),
        "python_psf_files_per_sec": len(paths) / psf_s,
        "tfdata_first_pass_files_per_sec": n / first_s,
        "tfdata_cached_pass_files_per_sec": n / cached_s,
        "speedup_first_pass": psf_s / first_s,
        "speedup_cached_pass": psf_s / cached_s,
        "mfcc_shape": list(ours.shape[1:]), "batch_size": 256,
        "seconds_per_round": times,
        "max_rel_diff_vs_psf": max(check.values()), "files_checked": len(check),
        "env_start": env0, "env_end": _env(),
    }
    return res
