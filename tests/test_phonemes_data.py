"""Phoneme data: label alignment, layouts, bad inputs, context-window gathering."""

import numpy as np
import pytest
import tensorflow as tf

from conftest import sine, write_wav
from tfdl.errors import InputError
from tfdl.phonemes import data, frames, htk
from tfdl.phonemes import labels as phone_labels

FESTIVAL = """separator ;
nfields 1
#
\t0.01\t26\ta ; score -1.0 ;
\t0.016\t26\tb ; score -2.0 ;
\t0.016\t26\tsp ; score -0.1 ;
\t0.024\t26\tc ; score -3.0 ;
"""


def test_festival_labels_to_frames(tmp_path):
    lab = tmp_path / "x.lab"
    lab.write_text(FESTIVAL)
    segs = phone_labels.read_labels(lab)
    assert segs == [(0.0, 0.01, "a"), (0.01, 0.016, "b"), (0.016, 0.016, "sp"),
                    (0.016, 0.024, "c")]
    # 2 ms frames, midpoints 1, 3, ..., 23 ms; the zero-length "sp" owns no frame.
    phones = phone_labels.frame_labels(segs, 12, 0.002)
    assert list(phones) == ["a"] * 5 + ["b"] * 3 + ["c"] * 4


def test_festival_integer_times_are_not_htk(tmp_path):
    lab = tmp_path / "y.lab"
    lab.write_text("#\n 0.5 26 sil ;\n 1 26 y ;\n 1.25 26 sil ;\n")
    assert [s[1] for s in phone_labels.read_labels(lab)] == [0.5, 1.0, 1.25]


def test_htk_labels(tmp_path):
    lab = tmp_path / "h.lab"
    lab.write_text("0 100000 sil\n100000 300000 a -12.5\n300000 400000 sil\n")
    segs = phone_labels.read_labels(lab)
    assert segs == [(0.0, 0.01, "sil"), (0.01, 0.03, "a"), (0.03, 0.04, "sil")]
    assert list(phone_labels.frame_labels(segs, 4, 0.01)) == ["sil", "a", "a", "sil"]


def test_labels_past_the_features(tmp_path):
    segs = [(0.0, 0.03, "a")]
    # 2 frames of overhang (the ARCTIC case) is within the default 10 ms tolerance ...
    assert list(phone_labels.frame_labels(segs, 13, 0.002)) == ["a"] * 13
    # ... 30 ms of labels over 10 ms of features is not.
    with pytest.raises(InputError, match=r"x\.lab ends at 0\.030 s, past the end of the "
                                         r"features \(0\.010 s = 5 frames of 2 ms\)"):
        phone_labels.frame_labels(segs, 5, 0.002, source="x.lab")
    with pytest.raises(InputError, match="before the end of the features"):
        phone_labels.frame_labels(segs, 50, 0.002, source="x.lab")


def test_bad_label_lines(tmp_path):
    lab = tmp_path / "bad.lab"
    lab.write_text("#\n 0.5 26 sil\n oops\n")
    with pytest.raises(InputError, match=r"bad\.lab line 2"):
        phone_labels.read_labels(lab)
    lab.write_text("#\n 0.5 26 sil\n 0.2 26 a\n")
    with pytest.raises(InputError, match="times go backwards"):
        phone_labels.read_labels(lab)


def make_htk_corpus(root, lengths=(30, 41, 25), dims=13, period=0.002, seed=0):
    rng = np.random.default_rng(seed)
    for i, t in enumerate(lengths):
        htk.write(root / "mfcc" / f"u{i}.mfcc", rng.normal(size=(t, dims)) * 3 + 1, period,
                  "MFCC_E_C_K")
        cut = t * period / 2
        (root / "lab").mkdir(parents=True, exist_ok=True)
        (root / "lab" / f"u{i}.lab").write_text(
            f"#\n {cut:.3f} 26 sil ;\n {t * period:.3f} 26 {'ab'[i % 2]} ;\n")
    return root


def test_load_htk_corpus(tmp_path):
    corpus = data.load_corpus(make_htk_corpus(tmp_path))
    assert corpus.layout == "htk" and corpus.frame_period == pytest.approx(0.002)
    assert [u.num_frames for u in corpus.utterances] == [30, 41, 25]
    assert corpus.phone_set() == ["a", "b", "sil"]
    assert list(corpus.utterances[0].phones[:15]) == ["sil"] * 15


def test_empty_utterance(tmp_path):
    make_htk_corpus(tmp_path)
    htk.write(tmp_path / "mfcc" / "u1.mfcc", np.zeros((0, 13)), 0.002, "MFCC_E")
    with pytest.raises(InputError, match=r"empty utterance: .*u1\.mfcc has 0 frames"):
        data.load_corpus(tmp_path)


def test_dimension_mismatch(tmp_path):
    make_htk_corpus(tmp_path)
    htk.write(tmp_path / "mfcc" / "u2.mfcc", np.ones((25, 12)), 0.002, "MFCC_E")
    with pytest.raises(InputError, match=r"dimension mismatch: .*u2\.mfcc has 12 dims, "
                                         r"earlier utterances have 13"):
        data.load_corpus(tmp_path)


def test_labels_longer_than_features_name_the_file(tmp_path):
    make_htk_corpus(tmp_path)
    (tmp_path / "lab" / "u1.lab").write_text("#\n 1.000 26 sil ;\n")
    with pytest.raises(InputError, match=r"u1\.lab ends at 1\.000 s, past the end"):
        data.load_corpus(tmp_path)


def test_truncated_htk_file_in_corpus(tmp_path):
    make_htk_corpus(tmp_path)
    f = tmp_path / "mfcc" / "u0.mfcc"
    f.write_bytes(f.read_bytes()[:100])
    with pytest.raises(InputError, match=r"u0\.mfcc is truncated"):
        data.load_corpus(tmp_path)


def test_missing_label_file(tmp_path):
    make_htk_corpus(tmp_path)
    (tmp_path / "lab" / "u2.lab").unlink()
    with pytest.raises(InputError, match=r"no label file .*u2\.lab"):
        data.load_corpus(tmp_path)


def test_unknown_phones(tmp_path):
    corpus = data.load_corpus(make_htk_corpus(tmp_path))
    with pytest.raises(InputError, match=r"1 phone label\(s\) not in the vocabulary of 2 "
                                         r"phones: 'b' \(e\.g\. .*u1\.mfcc\)"):
        phone_labels.check_vocabulary(corpus, ["a", "sil"])
    assert phone_labels.check_vocabulary(corpus, ["a", "b", "sil"]) == {"a": 0, "b": 1,
                                                                        "sil": 2}


def test_npy_layout_strips_sos_eos(tmp_path):
    (tmp_path / "mfcc").mkdir()
    (tmp_path / "transcript").mkdir()
    x = np.random.default_rng(0).normal(size=(6, 27)).astype(np.float32)
    np.save(tmp_path / "mfcc" / "1-2-3.npy", x)
    np.save(tmp_path / "transcript" / "1-2-3.npy",
            np.array(["[SOS]", "AA", "AA", "B", "SIL", "SIL", "B", "[EOS]"]))
    corpus = data.load_corpus(tmp_path)
    assert corpus.layout == "npy" and corpus.num_features == 27
    assert list(corpus.utterances[0].phones) == ["AA", "AA", "B", "SIL", "SIL", "B"]
    np.save(tmp_path / "transcript" / "1-2-3.npy", np.array(["[SOS]", "AA", "[EOS]"]))
    with pytest.raises(InputError, match=r"1-2-3\.npy has 3 labels for 6 frames"):
        data.load_corpus(tmp_path)


def test_wav_layout_uses_the_mfcc_layer(tmp_path):
    from tfdl.audio import load
    from tfdl.features import mfcc

    audio = sine(440, 0.5, 8000)
    write_wav(tmp_path / "wav" / "s.wav", audio, 8000)
    (tmp_path / "lab").mkdir()
    (tmp_path / "lab" / "s.lab").write_text("#\n 0.2 26 sil ;\n 0.5 26 a ;\n")
    corpus = data.load_corpus(tmp_path, sample_rate=8000)
    u = corpus.utterances[0]
    assert corpus.layout == "wav" and corpus.frame_period == pytest.approx(0.01)
    stored, _ = load(tmp_path / "wav" / "s.wav")  # 16-bit quantised
    expected = mfcc(tf.constant(stored[None]), 8000)[0].numpy()
    np.testing.assert_allclose(u.features, expected, atol=1e-4)
    assert list(u.phones[:20]) == ["sil"] * 20 and u.phones[-1] == "a"


@pytest.mark.dataset("phonemes")
def test_real_data_first_utterances(data_root):
    corpus = data.load_corpus(data_root / "phonemes", max_utterances=3)
    assert corpus.layout == "htk" and corpus.num_features == 13
    assert corpus.utterances[0].num_frames == 2278
    assert corpus.utterances[0].phones[0] == "sil" and corpus.utterances[0].phones[-1] == "sil"


def test_cmvn_numpy_and_tf_agree():
    x = np.random.default_rng(0).normal(size=(50, 13)).astype(np.float32) * 4 + 2
    y = frames.cmvn(x)
    np.testing.assert_allclose(y.mean(0), 0, atol=1e-5)
    np.testing.assert_allclose(y.std(0), 1, atol=1e-3)
    np.testing.assert_allclose(frames.cmvn_tf(tf.constant(x)).numpy(), y, atol=1e-5)


def naive_windows(utterances, context, stride):
    """[N, 2K+1, D] by brute force: zero outside each (normalised) utterance."""
    out = []
    for u in utterances:
        x = frames.cmvn(u.features)
        for t in range(len(x)):
            w = [x[t + o] if 0 <= t + o < len(x) else np.zeros(x.shape[1], np.float32)
                 for o in range(-context * stride, context * stride + 1, stride)]
            out.append(np.stack(w))
    return np.stack(out)


@pytest.mark.parametrize("context,stride", [(0, 1), (3, 1), (2, 4)])
def test_context_windows_equal_naive_construction(tmp_path, context, stride):
    corpus = data.load_corpus(make_htk_corpus(tmp_path, lengths=(7, 12, 5)))
    index = {p: i for i, p in enumerate(corpus.phone_set())}
    packed = frames.pack(corpus.utterances, index, pad=context * stride)
    # One copy of the corpus plus the padding, not 2K+1 copies.
    assert packed.features.shape == (24 + 3 * 2 * context * stride, 13)
    ds = frames.frame_dataset(packed, context, stride, batch_size=5)
    got = np.concatenate([x.numpy() for x, _ in ds])
    labels = np.concatenate([y.numpy() for _, y in ds])
    np.testing.assert_allclose(got, naive_windows(corpus.utterances, context, stride), atol=1e-6)
    expected_labels = [index[p] for u in corpus.utterances for p in u.phones]
    np.testing.assert_array_equal(labels, expected_labels)


def test_training_stream_covers_every_frame_once_per_pass(tmp_path):
    corpus = data.load_corpus(make_htk_corpus(tmp_path, lengths=(7, 12, 5)))
    index = {p: i for i, p in enumerate(corpus.phone_set())}
    packed = frames.pack(corpus.utterances, index, pad=2)
    naive = naive_windows(corpus.utterances, 1, 2)
    ds = frames.frame_dataset(packed, 1, 2, batch_size=8, training=True, seed=3)
    batches = list(ds.take(3))  # 24 frames // 8 = 3 batches per pass
    windows = np.concatenate([x.numpy() for x, _ in batches])
    # Each window is one of the naive windows, and a pass visits each frame once.
    match = [int(np.argmin(np.abs(naive - w).sum(axis=(1, 2)))) for w in windows]
    assert sorted(match) == list(range(24))
    second = np.concatenate([x.numpy() for x, _ in ds.skip(3).take(3)])
    assert not np.allclose(second, windows)  # a fresh permutation


def test_split_is_by_utterance():
    s = data.split_utterances(100, test=10, val=0.05, seed=0)
    assert (len(s["test"]), len(s["val"]), len(s["train"])) == (10, 5, 85)
    assert sorted(np.concatenate(list(s.values()))) == list(range(100))
    with pytest.raises(InputError, match="cannot split 5 utterances"):
        data.split_utterances(5, test=4, val=1)


def test_no_validation_utterances_pack_to_an_empty_set():
    empty = frames.pack([], {}, pad=4)
    assert len(empty) == 0 and empty.spans == [] and empty.pad == 4
