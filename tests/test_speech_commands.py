import collections
import hashlib

import numpy as np
import pytest

from conftest import sine, write_wav
from tfdl.datasets import speech_commands as sc
from tfdl.errors import InputError


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
