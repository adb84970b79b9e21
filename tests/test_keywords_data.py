"""tfdl.keywords.corpus and tfdl.keywords.data: Speech Commands folders, splits, decoding,
noise, augmentation (eagerly and in tf.data), silence and unknown examples."""

import collections
import hashlib

import numpy as np
import pytest
import tensorflow as tf

from conftest import sine, write_wav
from tfdl.errors import InputError
from tfdl.keywords import corpus as sc
from tfdl.keywords import data as kd
from tfdl.keywords.config import Config


def make_corpus(root, words=("a", "b", "c", "d"), speakers=4, takes=2, noise=True,
                lists=True):
    """A tiny Speech Commands-layout folder of tones (word i = tone 300*(i+1) Hz).

    Word "a" is written at 8 kHz, the others at 16 kHz (a mixed-rate folder).
    With `lists`, speaker s0's clips of a/b are validation and s1's are testing.
    """
    rng = np.random.default_rng(0)
    for i, w in enumerate(words):
        rate = 8000 if w == "a" else 16000
        for s in range(speakers):
            for t in range(takes):
                x = sine(300 * (i + 1), 0.3 + 0.05 * t, rate, 0.5)
                write_wav(root / w / f"s{s}_nohash_{t}.wav", x, rate)
    if noise:
        write_wav(root / "_background_noise_" / "white.wav",
                  rng.uniform(-0.5, 0.5, 3 * 16000), 16000)
        write_wav(root / "_background_noise_" / "hum.wav", sine(50, 2.0, 16000, 0.3), 16000)
    if lists:
        listed = [w for w in words[:2]]
        (root / "validation_list.txt").write_text(
            "".join(f"{w}/s0_nohash_{t}.wav\n" for w in listed for t in range(takes)))
        (root / "testing_list.txt").write_text(
            "".join(f"{w}/s1_nohash_{t}.wav\n" for w in listed for t in range(takes)))
    return root


def test_which_set_matches_tensorflow_formula_and_is_stable():
    name = "0a7c2a8d_nohash_0.wav"
    h = int(hashlib.sha1(b"0a7c2a8d").hexdigest(), 16)
    pct = (h % (sc.MAX_NUM_WAVS_PER_CLASS + 1)) * (100.0 / sc.MAX_NUM_WAVS_PER_CLASS)
    expect = "validation" if pct < 10 else "testing" if pct < 20 else "training"
    assert sc.which_set(name, 10, 10) == expect
    assert sc.which_set(f"yes/{name}", 10, 10) == expect  # folder does not matter
    # All takes of a speaker land in one split, and the answer never changes.
    for spk in (f"spk{i}" for i in range(50)):
        sets = {sc.which_set(f"w/{spk}_nohash_{t}.wav", 10, 10) for t in range(6)}
        assert len(sets) == 1


def test_which_set_proportions():
    counts = collections.Counter(sc.which_set(f"{i:08x}_nohash_0.wav", 10, 20)
                                 for i in range(4000))
    assert abs(counts["validation"] / 4000 - 0.10) < 0.02
    assert abs(counts["testing"] / 4000 - 0.20) < 0.025


def test_index_labels_lists_and_hash(tmp_path):
    root = make_corpus(tmp_path / "kw")
    (root / "a" / "README.txt").write_text("not audio")
    (root / "c" / "notes.md").write_text("x")
    c = sc.index(root, ["b", "a"], 25, 25)
    assert c.labels == ["_silence_", "_unknown_", "b", "a"]
    assert c.skipped == 2
    assert c.split_source["a"] == "lists" and c.split_source["c"] == "hash"
    val = {"/".join(p.split("/")[-2:]): y for p, y in c.splits["validation"]["wanted"]}
    assert val == {"b/s0_nohash_0.wav": 2, "b/s0_nohash_1.wav": 2,
                   "a/s0_nohash_0.wav": 3, "a/s0_nohash_1.wav": 3}
    train = c.splits["training"]["wanted"]
    assert len(train) == 2 * 2 * 2 and all(("s0_" not in p and "s1_" not in p) for p, _ in train)
    # Unknown words (not in the lists) are hash-split by speaker: disjoint speakers.
    spk = {s: {sc.speaker_id(p) for p in c.splits[s]["unknown"]} for s in sc.SPLITS}
    assert not (spk["training"] & spk["validation"]) and not (spk["training"] & spk["testing"])
    assert sum(len(c.splits[s]["unknown"]) for s in sc.SPLITS) == 2 * 4 * 2
    assert [p.name for p in c.noise_files] == ["hum.wav", "white.wav"]


def test_index_without_lists_is_speaker_disjoint(tmp_path):
    root = tmp_path / "kw"
    for w in ("x", "y"):
        for s in range(30):
            for t in range(2):
                write_wav(root / w / f"p{s:02d}_nohash_{t}.wav", np.zeros(80), 8000)
    c = sc.index(root, ["x"], 20, 20)
    assert all(v == "hash" for v in c.split_source.values())
    speakers = {s: {sc.speaker_id(p) for p, _ in c.splits[s]["wanted"]} for s in sc.SPLITS}
    assert all(speakers.values())
    assert not (speakers["training"] & speakers["validation"])
    assert not (speakers["training"] & speakers["testing"])
    assert not (speakers["validation"] & speakers["testing"])


@pytest.mark.parametrize("wanted,msg", [(["zz"], "wanted word 'zz' has no folder"),
                                        (["a", "a"], "more than once"),
                                        (["_silence_"], "reserved"),
                                        ([], "at least one word")])
def test_index_bad_wanted_words(tmp_path, wanted, msg):
    root = make_corpus(tmp_path / "kw", noise=False, lists=False)
    with pytest.raises(InputError, match=msg):
        sc.index(root, wanted)


def test_index_empty_folders(tmp_path):
    (tmp_path / "empty").mkdir()
    with pytest.raises(InputError, match="no word folders"):
        sc.index(tmp_path / "empty", ["a"])
    root = make_corpus(tmp_path / "kw", noise=False, lists=False)
    (root / "e").mkdir()
    (root / "e" / "x.txt").write_text("x")
    with pytest.raises(InputError, match="has no .wav files"):
        sc.index(root, ["e"])
    c = sc.index(root, ["a"])  # an empty *unknown* folder is harmless
    assert c.skipped == 1
    with pytest.raises(InputError, match="validation_percentage"):
        sc.index(root, ["a"], 60, 50)


def test_find(tmp_path):
    root = make_corpus(tmp_path / "keywords", lists=False)
    assert sc.find(root) == root
    assert sc.find(tmp_path) == root  # a parent holding keywords/
    with pytest.raises(InputError, match="does not exist"):
        sc.find(tmp_path / "nope")


@pytest.mark.dataset("keywords")
def test_real_keywords_folder(data_root):
    c = sc.index(sc.find(data_root / "keywords"))
    assert c.labels[:2] == ["_silence_", "_unknown_"] and c.labels[2:] == list(
        sc.DEFAULT_WANTED_WORDS)
    counts = c.counts()
    assert counts["training"]["wanted"] == 2000
    assert counts["validation"]["wanted"] == counts["testing"]["wanted"] == 250
    assert sum(counts[s]["unknown"] for s in sc.SPLITS) == 200
    assert len(c.noise_files) == 6 and c.skipped == 0
    # FSDD speakers span splits by design of the list files (takes 0-4 test, 5-9 validation),
    # but no clip is in two splits.
    paths = [p for s in sc.SPLITS for p, _ in c.splits[s]["wanted"]]
    assert len(paths) == len(set(paths)) == 2500


def _cfg(**kwargs):
    """A validated config for the tiny corpus (words a and b at 8 kHz, 0.5 s clips)."""
    base = dict(wanted_words=("a", "b"), sample_rate=8000, clip_duration_ms=500,
                validation_percentage=25, testing_percentage=25, unknown_percentage=50,
                silence_percentage=50, batch_size=4, held_out_noise=())
    base.update(kwargs)
    return Config(**base).validate()


def test_decode_resamples_a_known_sine_and_pads_or_crops(tmp_path):
    p8 = write_wav(tmp_path / "a8.wav", sine(440, 0.25, 8000), 8000)  # short: padded
    p16 = write_wav(tmp_path / "a16.wav", sine(440, 1.0, 16000), 16000)  # long: cropped
    out = kd.decode_clips([p8, p16], 16000, 8000)
    assert out.shape == (2, 8000)
    spec = np.abs(np.fft.rfft(out[0, :4000]))
    assert abs(np.argmax(spec) * 16000 / 4000 - 440) <= 4
    np.testing.assert_allclose(out[0, 4100:], 0.0)  # padded with zeros after 0.25 s
    np.testing.assert_allclose(out[1], sine(440, 0.5, 16000), atol=1e-3)  # cropped at 0.5 s
    # Same tone at the same level (RMS of a 0.5 sine), nothing folded elsewhere.
    np.testing.assert_allclose(np.sqrt(np.mean(out[0, 400:3600] ** 2)), 0.5 / np.sqrt(2),
                               rtol=0.03)
    assert spec[np.abs(np.arange(len(spec)) * 4 - 440) > 40].max() < 0.05 * spec.max()
    assert kd.decode_clips([p8, p16], 16000, 8000) is out  # cached


def test_decode_names_a_bad_file(tmp_path):
    good = write_wav(tmp_path / "g.wav", sine(300, 0.1, 8000), 8000)
    bad = tmp_path / "b.wav"
    bad.write_bytes(b"RIFF\x00\x00\x00\x00WAVEjunk")
    with pytest.raises(InputError, match="b.wav"):
        kd.decode_clips([good, bad], 8000, 800)


def _noise_bank():
    rng = np.random.default_rng(1)
    return kd.noise_bank([rng.uniform(-1, 1, 5000).astype(np.float32)], 1000)


def test_noise_bank_segments_cover_every_offset():
    clip = np.arange(5000, dtype=np.float32)
    bank = kd.noise_bank([clip], 1000)
    assert bank.shape == (4, 2000)
    np.testing.assert_array_equal(bank[1], clip[1000:3000])
    short = kd.noise_bank([np.ones(300, np.float32)], 1000)
    assert short.shape == (1, 2000)


@pytest.mark.parametrize("in_map", [False, True])
def test_augmenter_eager_and_in_dataset_map(in_map):
    tf.random.set_seed(0)
    x = np.zeros(1000, np.float32)
    x[400:600] = 0.5
    fn = kd.augmenter(_noise_bank(), 8000, time_shift_ms=25.0, background_frequency=1.0,
                      background_volume=0.1)
    inputs = (np.stack([x] * 8), np.array([2] * 7 + [0], np.int32))
    if in_map:
        out = list(tf.data.Dataset.from_tensor_slices(inputs).map(fn).as_numpy_iterator())
    else:
        out = [tuple(np.asarray(t) for t in fn(a, b)) for a, b in zip(*inputs)]
    for wave, label in out[:7]:
        assert wave.shape == (1000,) and label == 2
        # Shift <= 200 samples and noise <= 0.1: the pulse stays inside [200, 800).
        assert np.all(np.abs(wave[:200]) <= 0.1 + 1e-6)
        assert np.all(np.abs(wave[800:]) <= 0.1 + 1e-6)
        assert np.mean(np.abs(wave[400:600])) > 0.2 or np.mean(np.abs(wave)) > 0.05
    silence, label = out[7]
    assert label == 0 and np.max(np.abs(silence)) <= 1.0
    shifts = {int(np.argmax(np.abs(w) > 0.3)) for w, _ in out[:7]}
    assert len(shifts) > 1  # random shifts


def test_augmenter_without_noise_is_pure_zero_fill_shift():
    x = np.arange(1, 101, dtype=np.float32) / 100
    fn = kd.augmenter(None, 1000, time_shift_ms=10.0)
    for _ in range(5):
        y, _ = fn(x, 3)
        y = y.numpy()
        nz = np.flatnonzero(y)
        shift = nz[0] - 0 if y[nz[0]] == x[0] else -(int(round(y[0] * 100)) - 1)
        np.testing.assert_allclose(y, np.roll(np.pad(x, 10), shift)[10:110], atol=1e-7)
    fn = kd.augmenter(None, 1000, time_shift_ms=0.0)
    np.testing.assert_array_equal(fn(x, 3)[0].numpy(), x)


def test_mix_noise_reaches_the_snr():
    rng = np.random.default_rng(0)
    clean = np.stack([sine(300, 0.25, 8000)] * 3)
    noise = [rng.standard_normal(8000).astype(np.float32)]
    for snr in (0.0, 10.0):
        mixed = kd.mix_noise(clean, noise, snr, seed=3)
        n = mixed - clean
        got = 10 * np.log10(np.sum(clean ** 2, 1) / np.sum(n ** 2, 1))
        np.testing.assert_allclose(got, snr, atol=0.01)


def test_prepare_labels_and_silence(tmp_path):
    root = make_corpus(tmp_path / "kw")
    data = kd.prepare(_cfg(held_out_noise=("hum.wav",)), root)
    assert data.corpus.labels == ["_silence_", "_unknown_", "a", "b"]
    te = data.splits["testing"]
    # s1's clips of a (8 kHz, resampled) and b, plus unknown and silence examples.
    assert sorted(set(te.labels.tolist())) >= [0, 2, 3]
    assert te.waves.shape[1] == 4000
    assert [p.name for p in data.eval_noise_files] == ["hum.wav"]
    assert [p.name for p in data.train_noise_files] == ["white.wav"]
    # Noise is peak-normalised; test silence is training (white) noise at a volume in [0, 1],
    # never the held-out hum; training silence is drawn per epoch in the pipeline.
    assert np.isclose(np.abs(data.train_noise[0]).max(), 1.0)
    sil = te.waves[te.labels == 0]
    assert len(sil) == 2 and np.all(np.abs(sil) <= 1.0)
    spec = np.abs(np.fft.rfft(sil, axis=1))
    assert np.all(spec[:, 10:40].sum(1) < 0.5 * spec.sum(1))  # not the 50 Hz hum (bin 25)
    assert np.all(data.splits["training"].waves[data.splits["training"].labels == 0] == 0)


def test_prepare_bad_inputs(tmp_path):
    root = make_corpus(tmp_path / "kw", noise=False)
    with pytest.raises(InputError,
                       match="_background_noise_ does not exist.*background_frequency=0"):
        kd.prepare(_cfg(), root)
    data = kd.prepare(_cfg(background_frequency=0.0), root)  # noise off: fine
    assert data.train_noise == []
    root2 = make_corpus(tmp_path / "kw2")
    with pytest.raises(InputError, match="--config.held_out_noise file 'rain.wav'"):
        kd.prepare(_cfg(held_out_noise=("rain.wav",)), root2)
    with pytest.raises(InputError, match="no files left for training"):
        kd.prepare(_cfg(held_out_noise=("hum.wav", "white.wav")), root2)
