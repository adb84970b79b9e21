"""tfdl.denoise.devset and tfdl.denoise.quality: the cross-speaker split and mixtures, the
metrics against analytic oracles and sanity bounds, the baselines, the scoring, and
`apps.denoise --reference` checks. Synthetic corpora, except the tests marked dataset."""

import hashlib
import json

import numpy as np
import pytest
from conftest import ASSETS, app_error, crackle, sine, voice, write_wav

from tfdl import metrics
from tfdl.denoise import devset, quality
from tfdl.errors import InputError

RATE = 16000


def _build(root, **kw):
    return devset.build(root / "speech", root / "keywords", root / "denoise" / "train_clean_male.wav",
                        root / "denoise" / "train_dirty_male.wav", **kw)


def test_speakers_skip_fsdd_digits_and_noise_folders(voices_root):
    speakers = devset.find_speakers(voices_root / "speech", voices_root / "keywords")
    ids = [s.id for s in speakers]
    assert ids[:6] == [f"librispeech/{k}" for k in ("11", "12", "13", "21", "22", "23")]
    assert ids[6:] == [f"speech_commands/{k}" for k in
                       ("aaaa0001", "bbbb0002", "cccc0003", "dddd0004", "eeee0005")]
    assert [s.sex for s in speakers] == list("FFFMMM") + ["?"] * 5
    assert [f.parent.name for f in speakers[6].files] == ["bed", "bed", "yes", "yes"]


def test_split_is_a_fixed_rule_by_speaker_with_both_sexes_in_each_part(voices_root):
    speakers = devset.find_speakers(voices_root / "speech", voices_root / "keywords")
    train, dev = devset.split_speakers(speakers)
    # Same split whatever the order the speakers come in.
    assert (train, dev) == devset.split_speakers(speakers[::-1])
    assert {s.id for s in train} & {s.id for s in dev} == set()
    assert {s.id for s in train} | {s.id for s in dev} == {s.id for s in speakers}
    for part in (train, dev):
        assert {s.sex for s in part if s.corpus == devset.LIBRISPEECH} == {"F", "M"}
        assert any(s.corpus == devset.COMMANDS for s in part)
    # The rule: per group, the round(0.2 n) (at least 1) smallest SHA-1 of the id are dev.
    for corpus_name, sex in ((devset.LIBRISPEECH, "F"), (devset.LIBRISPEECH, "M"),
                             (devset.COMMANDS, "?")):
        group = sorted((s for s in speakers if (s.corpus, s.sex) == (corpus_name, sex)),
                       key=lambda s: hashlib.sha1(s.id.encode()).hexdigest())
        assert [s for s in dev if s in group] == sorted(group[:1], key=lambda s: s.id)
    with pytest.raises(ValueError, match="dev_fraction must be in"):
        devset.split_speakers(speakers, 1.0)
    with pytest.raises(ValueError, match="2 speakers or more"):
        devset.split_speakers(speakers[:1] + speakers[3:])


@pytest.mark.parametrize("snr", devset.SNRS_DB)
def test_mix_hits_the_target_snr_and_never_clips(snr):
    rng = np.random.default_rng(0)
    clean = devset.scale_to_dbfs(voice(1.0, 140, RATE, 1))
    noise = crackle(6000, RATE, seed=3)  # shorter than the clip: repeated
    c, x = devset.mix(clean, noise, snr, offset=1234)
    assert abs(metrics.snr(c, x) - snr) < 0.1
    assert np.abs(x).max() <= devset.PEAK + 1e-6
    loud = rng.normal(0, 0.3, RATE).astype(np.float32)  # would clip: scaled down, SNR kept
    c, x = devset.mix(loud, noise, snr, offset=0)
    assert abs(metrics.snr(c, x) - snr) < 0.1 and np.abs(x).max() <= devset.PEAK + 1e-6
    assert np.array_equal(x, devset.mix(loud, noise, snr, offset=0)[1])


def test_build_is_deterministic_capped_resampled_and_at_target_snrs(voices_root):
    dev = _build(voices_root, max_seconds=2.0)
    again = _build(voices_root, max_seconds=2.0)
    assert [(m.speaker.id, m.snr_db, m.noise_offset) for m in dev.mixtures] == [
        (m.speaker.id, m.snr_db, m.noise_offset) for m in again.mixtures]
    assert all(np.array_equal(a.noisy, b.noisy) for a, b in zip(dev.mixtures, again.mixtures))
    assert len(dev.mixtures) == len(dev.dev_speakers) * len(devset.SNRS_DB)
    for m in dev.mixtures:
        assert abs(metrics.snr(m.clean, m.noisy) - m.snr_db) < 0.1, (m.speaker.id, m.snr_db)
        assert len(m.clean) <= 2.0 * RATE and m.clean.dtype == np.float32
    # Speech Commands clips join whole (0.8 s each, 8 kHz ones resampled): 2 of them in 2 s.
    commands = [m for m in dev.mixtures if m.speaker.corpus == devset.COMMANDS]
    assert {len(m.clean) for m in commands} == {int(1.6 * RATE)}
    # The level of the clean speech where the mixture did not need scaling down.
    quiet = [m for m in dev.mixtures if m.snr_db >= 5]
    assert all(abs(10 * np.log10(np.mean(m.clean.astype(float) ** 2)) - devset.SPEECH_DBFS)
               < 0.01 for m in quiet)
    # The tail noise (dev) and the training part's noise do not overlap: 85 % / 15 %.
    n = len(dev.tail_clean) + len(dev.train_noise)
    assert len(dev.tail_clean) == n - round(n * 0.85)
    info = dev.describe()
    assert info["dev_speakers"] == {"librispeech_female": 1, "librispeech_male": 1,
                                    "speech_commands_unknown": 1}
    assert info["snrs_db"] == list(devset.SNRS_DB)
    json.dumps(info)


def test_find_roots_needs_both_folders(voices_root, tmp_path):
    speech, keywords = devset.find_roots(voices_root)
    assert (speech, keywords) == (voices_root / "speech", voices_root / "keywords")
    with pytest.raises(InputError, match="speech dataset"):
        devset.find_roots(tmp_path)


def _orthogonal(s, n):
    return n - np.dot(n, s) / np.dot(s, s) * s


def test_si_sdr_and_snr_match_their_analytic_values():
    rng = np.random.default_rng(0)
    s = rng.normal(size=4000)
    s -= s.mean()
    n = _orthogonal(s, rng.normal(size=4000))
    n -= n.mean()
    n = _orthogonal(s, n)  # zero mean and orthogonal to s
    for a, k in ((1.0, 0.1), (0.5, 0.3), (3.0, 1.0)):
        est = a * s + k * n
        want = 10 * np.log10(np.sum((a * s) ** 2) / np.sum((k * n) ** 2))
        assert metrics.si_sdr(s, est) == pytest.approx(want, abs=1e-6)
        want_snr = 10 * np.log10(np.sum(s ** 2) / ((1 - a) ** 2 * np.sum(s ** 2)
                                                  + k ** 2 * np.sum(n ** 2)))
        assert metrics.snr(s, est) == pytest.approx(want_snr, abs=1e-6)


def test_training_on_other_voices_selects_the_epoch_on_the_dev_set(voices_root, tmp_path):
    """voices and select_on=dev: each epoch logs the dev mixtures' mean SI-SDR at 0 and
    20 dB, and the run keeps the best epoch by it (its export scores that maximum); without
    the cross-speaker folders it is a one-line error before the workdir is made."""
    import shutil

    from tfdl import export
    from tfdl.denoise import train
    from tfdl.denoise.configs import CONFIGS

    cfg = CONFIGS.get("tcn_crm")
    for k, v in dict(epochs=3, steps_per_epoch=2, batch_size=4, chunk_frames=16, blocks=2,
                     repeats=1, channels=8, hidden=8, voices=0.5, select_on="dev",
                     dev_set=False, patience=0, learning_rate=0.01).items():
        setattr(cfg, k, v)
    wd = tmp_path / "voices"
    m = train.run(cfg, str(wd), str(voices_root / "denoise"), verbose=0)
    history = json.loads((wd / "history.json").read_text())
    assert len(history["dev_si_sdr"]) == m["epochs_run"] == 3
    dev = _build(voices_root)
    served = export.load(wd / "export")
    kept = np.mean([metrics.si_sdr(x.clean, served.serve(x.noisy[None])[0].numpy())
                    for x in dev.mixtures if x.snr_db in train.SELECT_SNRS_DB])
    assert kept == pytest.approx(max(history["dev_si_sdr"]), abs=0.05)
    lone = tmp_path / "lone"
    shutil.copytree(voices_root / "denoise", lone / "denoise")
    with pytest.raises(InputError, match="--config.voices and --config.select_on=dev need"):
        train.run(cfg, str(tmp_path / "never"), str(lone / "denoise"), verbose=0)
    assert not (tmp_path / "never").exists()


@pytest.fixture(scope="module")
def speech16k():
    """Real speech: two FSDD asset recordings (8 kHz) joined and resampled to 16 kHz."""
    from tfdl import audio

    waves = [devset.read_file(ASSETS / "fsdd" / "recordings" / f"{d}_george_0.wav", RATE)
             for d in (3, 7)]
    assert audio.read_audio(ASSETS / "fsdd" / "recordings" / "3_george_0.wav")[1] == 8000
    return np.concatenate(waves)


def test_pesq_and_stoi_are_high_for_clean_and_low_for_noise(speech16k):
    s = speech16k
    noise = np.random.default_rng(1).normal(0, np.std(s), len(s)).astype(np.float32)
    same = quality.clip_scores(s, s)
    assert same["pesq"] > 4.4 and same["stoi"] > 0.99 and same["snr"] > 100
    bad = quality.clip_scores(s, noise)
    assert bad["pesq"] < 1.5 and bad["stoi"] < 0.5
    mid = quality.clip_scores(s, s + 0.3 * noise)
    assert bad["pesq"] < mid["pesq"] < same["pesq"] and bad["stoi"] < mid["stoi"] < same["stoi"]
    assert np.isnan(quality.pesq_wb(np.zeros(RATE), np.zeros(RATE)))
    with pytest.raises(ValueError, match="16 kHz"):
        quality.pesq_wb(s, s, 8000)
    assert quality.mean_scores([same, {**bad, "pesq": float("nan")}])["pesq"] == same["pesq"]


def test_baselines_run_on_a_mixture(speech16k):
    clean = devset.scale_to_dbfs(speech16k)
    noise = crackle(3 * RATE, RATE, seed=5)
    c, x = devset.mix(clean, noise, 0.0, 100)
    systems = quality.baselines(128, 32, RATE, noise_sample=noise)
    assert list(systems) == [quality.NR_STATIONARY, quality.NR_NONSTATIONARY,
                             quality.NR_PROFILE, quality.NOISY, quality.ORACLE]
    outs = {k: fn(x, c) for k, fn in systems.items()}
    for name, out in outs.items():
        assert out.shape == x.shape and np.all(np.isfinite(out)), name
    assert np.array_equal(outs[quality.NOISY], x)
    assert metrics.snr(c, outs[quality.ORACLE]) > metrics.snr(c, x) + 5
    assert not np.allclose(outs[quality.NR_STATIONARY], x)


def test_score_table_and_goals_on_a_small_set(voices_root):
    dev = _build(voices_root, max_seconds=1.0, snrs=(0.0, 20.0))
    scores = quality.score(dev, lambda x: x, 128, 32)  # the identity as the "model"
    assert list(scores["snr_db"]) == ["0", "20"]
    for row in (*scores["snr_db"].values(), scores["tail"]):
        assert row[quality.MODEL] == row[quality.NOISY]
        assert set(row) == set(quality.SYSTEMS)
    assert scores["snr_db"]["20"]["noisy"]["snr"] == pytest.approx(20.0, abs=0.01)
    text = quality.table(scores)
    assert text.count("\n") == 1 + 3 * len(quality.SYSTEMS)
    assert "| 0 dB | **model** |" in text and "| tail (training speaker) | noisy |" in text
    goals = quality.goals(scores, rtf=0.005)
    assert goals["dev 0 dB: SI-SDR improvement >= +10 dB"] == (0.0, False)
    assert goals["dev 20 dB: SI-SDR out - in >= 0"] == (0.0, True)
    assert goals["export RTF (CPU) <= 0.01"] == (0.005, True)
    assert "0 dB input" not in quality.summary(scores) and "SI-SDR" in quality.summary(scores)
    json.dumps(scores)


def test_reference_checks_are_one_line_errors(voices_root, tmp_path):
    test = write_wav(tmp_path / "t.wav", sine(200, 1.0, RATE), RATE)
    ok = write_wav(tmp_path / "ok.wav", sine(200, 1.0, RATE, 0.4), RATE)
    short = write_wav(tmp_path / "short.wav", sine(200, 0.9, RATE), RATE)
    slow = write_wav(tmp_path / "slow.wav", sine(200, 1.0, 8000), 8000)
    assert len(quality.load_references([str(test)], [str(ok)])) == 1
    assert quality.load_references([str(test)], []) == []
    for refs, match in (([str(ok), str(ok)], "one clean reference per --test clip"),
                        ([str(tmp_path / "nope.wav")], "--reference: file not found"),
                        ([str(short)], "does not match --test"),
                        ([str(slow)], "8000 Hz")):
        with pytest.raises(InputError, match=match) as e:
            quality.load_references([str(test)], refs)
        assert "\n" not in str(e.value)
    # The app's command line: one line, exit 2, before any training.
    code, lines = app_error("denoise", f"--data_dir={voices_root / 'denoise'}", f"--test={test}",
                            f"--reference={short}", f"--workdir={tmp_path / 'wd'}")
    assert code == 2 and len(lines) == 1 and "does not match --test" in lines[0], lines
    assert not (tmp_path / "wd").exists()


def test_reference_scores_of_the_denoised_file(tmp_path, speech16k):
    clean = speech16k
    noisy = clean + 0.05 * np.random.default_rng(0).normal(size=len(clean)).astype(np.float32)
    paths = [write_wav(tmp_path / f"{k}.wav", w, RATE)
             for k, w in (("clean", clean), ("noisy", noisy), ("den", clean))]
    refs = quality.load_references([str(paths[1])], [str(paths[0])])
    scores = quality.reference_scores([{"input": str(paths[1]), "output": str(paths[2])}], refs)
    assert scores[0]["denoised"]["pesq"] > 4.4 > scores[0]["noisy"]["pesq"]
    rows = quality.reference_rows(scores)
    assert [k for k, _ in rows] == ["noisy: noisy.wav", "denoised: noisy.wav"]


# The dev part of ../shared/data by the rule (SHA-1 order per group): pinned, so that a
# change of the rule or of the corpus shows.
DEV_SPEAKERS = ["librispeech/1098", "librispeech/1743", "librispeech/200", "librispeech/2002",
                "librispeech/2007", "librispeech/2136", "librispeech/2289", "librispeech/2893",
                "librispeech/3259", "librispeech/696", "speech_commands/2f813234",
                "speech_commands/31583d30", "speech_commands/590750e8",
                "speech_commands/93ec8b84", "speech_commands/a5609cce",
                "speech_commands/a7545b9f", "speech_commands/a9abc695",
                "speech_commands/dabf67d9"]


@pytest.mark.dataset("speech", "denoise", "keywords")
def test_real_dev_set(data_root):
    dev = devset.load(data_root)
    assert [s.id for s in dev.dev_speakers] == DEV_SPEAKERS
    info = dev.describe()
    assert info["train_speakers"] == {"librispeech_female": 20, "librispeech_male": 20,
                                      "speech_commands_unknown": 32}
    assert info["dev_speakers"] == {"librispeech_female": 5, "librispeech_male": 5,
                                    "speech_commands_unknown": 8}
    assert {s.id for s in dev.train_speakers}.isdisjoint(DEV_SPEAKERS)
    assert 80 < info["dev_seconds_per_snr"] < 100 and info["tail_seconds"] == 11.8
    for m in dev.mixtures:
        assert abs(metrics.snr(m.clean, m.noisy) - m.snr_db) < 0.1
    # The in-domain tail: the pair's own input SNR (docs/denoise.md: 3.28 dB).
    assert metrics.snr(dev.tail_clean, dev.tail_noisy) == pytest.approx(3.28, abs=0.01)


def test_mixture_dataset_draws_crops_at_snrs_in_range(voices_root):
    import tensorflow as tf

    dev = _build(voices_root, max_seconds=1.0)
    voices = devset.speaker_speech(dev.train_speakers)
    assert len(voices) == len(dev.train_speakers)
    length = 4000
    ds = devset.mixture_dataset(voices, dev.train_noise, length, (0.0, 10.0), seed=3)
    pairs = [(x.numpy(), s.numpy()) for x, s in ds.take(12)]
    again = [x.numpy() for x, _ in devset.mixture_dataset(voices, dev.train_noise, length,
                                                           (0.0, 10.0), seed=3).take(12)]
    assert all(np.array_equal(a, b) for (a, _), b in zip(pairs, again))  # seeded
    snrs = [metrics.snr(s, x) for x, s in pairs]
    assert all(-0.01 < v < 10.01 for v in snrs) and np.std(snrs) > 1
    assert all(x.shape == (length,) and x.dtype == np.float32 for x, _ in pairs)
    joined = np.concatenate(voices)
    assert all(any(np.array_equal(s, joined[i:i + length])
                   for i in np.flatnonzero(joined == s[0])) for _, s in pairs[:3])
    batch = next(iter(ds.batch(4)))
    assert batch[0].shape == (4, length) and isinstance(batch[0], tf.Tensor)
    with pytest.raises(ValueError, match="at least one crop"):
        devset.mixture_dataset(voices, dev.train_noise[:100], length)
