"""FSDD: finding the data, parsing names, splits (disjointness), bad folders."""

import pytest

from tfdl.digits import data as fsdd
from tfdl.errors import InputError

SPEAKERS = ("ann", "bob", "cid")


def _fake_recordings(folder, speakers=SPEAKERS, takes=range(8)):
    """Empty files with FSDD names: splitting reads names only."""
    folder.mkdir(parents=True, exist_ok=True)
    for s in speakers:
        for d in range(10):
            for t in takes:
                (folder / f"{d}_{s}_{t}.wav").write_bytes(b"")
    return folder


def test_parse_name():
    r = fsdd.parse_name("/x/7_jackson_32.wav")
    assert (r.digit, r.speaker, r.take) == (7, "jackson", 32)
    for bad in ("7_jackson.wav", "x_jackson_1.wav", "12_jackson_1.wav", "7_jackson_1.flac"):
        with pytest.raises(InputError, match=bad.replace(".", r"\.")):
            fsdd.parse_name(bad)


def test_official_split_is_takes_0_to_4(tmp_path):
    recs = fsdd.list_recordings(_fake_recordings(tmp_path / "recordings"))
    train, test = fsdd.split(recs, "official")
    assert {r.take for r in test} == set(range(5))
    assert {r.take for r in train} == {5, 6, 7}
    assert len(train) + len(test) == len(recs) == 3 * 10 * 8
    assert not {r.path for r in train} & {r.path for r in test}


def test_random_split_is_seeded_and_disjoint(tmp_path):
    recs = fsdd.list_recordings(_fake_recordings(tmp_path / "recordings"))
    train, test = fsdd.split(recs, "random", test_fraction=0.25, seed=3)
    assert len(test) == 60 and len(train) == 180
    assert not {r.path for r in train} & {r.path for r in test}
    assert fsdd.split(recs, "random", test_fraction=0.25, seed=3)[1] == test
    assert fsdd.split(recs, "random", test_fraction=0.25, seed=4)[1] != test
    with pytest.raises(InputError, match="test_fraction"):
        fsdd.split(recs, "random", test_fraction=1.5)


def test_speaker_split_shares_no_speaker(tmp_path):
    recs = fsdd.list_recordings(_fake_recordings(tmp_path / "recordings"))
    train, test = fsdd.split(recs, "speaker", test_speakers=["bob", "cid"])
    assert {r.speaker for r in test} == {"bob", "cid"}
    assert {r.speaker for r in train} == {"ann"}
    with pytest.raises(InputError, match="zed"):
        fsdd.split(recs, "speaker", test_speakers=["zed"])
    with pytest.raises(InputError, match="test_speakers"):
        fsdd.split(recs, "speaker")
    with pytest.raises(InputError, match="empty training"):
        fsdd.split(recs, "speaker", test_speakers=list(SPEAKERS))
    with pytest.raises(InputError, match="--config.split"):
        fsdd.split(recs, "bogus")


def test_leave_one_speaker_out_folds(tmp_path):
    recs = fsdd.list_recordings(_fake_recordings(tmp_path / "recordings"))
    folds = fsdd.loso_folds(recs)
    assert [s for s, _, _ in folds] == sorted(SPEAKERS)
    for s, train, test in folds:
        assert {r.speaker for r in test} == {s}
        assert s not in {r.speaker for r in train}
        assert len(train) + len(test) == len(recs)
    one = fsdd.list_recordings(_fake_recordings(tmp_path / "one", speakers=("ann",)))
    with pytest.raises(InputError, match="at least 2 speakers"):
        fsdd.loso_folds(one)


@pytest.mark.dataset("fsdd")
def test_real_fsdd(data_root):
    recs = fsdd.load(data_root)
    assert len(recs) == 2500
    assert fsdd.speakers(recs) == ["george", "jackson", "lucas", "nicolas", "yweweler"]
    train, test = fsdd.split(recs, "official")
    assert (len(train), len(test)) == (2250, 250)
    assert sorted({r.digit for r in test}) == list(range(10))


def test_find_order_data_dir_then_env(tmp_path, monkeypatch):
    a = _fake_recordings(tmp_path / "a" / "fsdd" / "recordings").parent
    b = _fake_recordings(tmp_path / "b" / "fsdd" / "recordings").parent
    monkeypatch.setenv("TFDL_DATA_DIR", str(tmp_path / "b"))
    assert fsdd.find() == b / "recordings"
    assert fsdd.find(tmp_path / "a") == a / "recordings"  # parent of fsdd/
    assert fsdd.find(a) == a / "recordings"  # the fsdd folder
    assert fsdd.find(a / "recordings") == a / "recordings"


def test_missing_dataset_does_not_download(tmp_path, monkeypatch):
    monkeypatch.setenv("TFDL_DATA_DIR", str(tmp_path / "nothing"))
    monkeypatch.setenv("KERAS_HOME", str(tmp_path / "keras"))
    with pytest.raises(InputError, match="fsdd dataset not found"):
        fsdd.find()
    with pytest.raises(InputError, match="does not exist"):
        fsdd.find(tmp_path / "missing")


def test_empty_and_unparsable_folders(tmp_path):
    empty = tmp_path / "empty" / "recordings"
    empty.mkdir(parents=True)
    with pytest.raises(InputError, match=str(empty)):
        fsdd.load(empty)
    (empty / "README.txt").write_text("no audio here")
    with pytest.raises(InputError, match="no FSDD recordings"):
        fsdd.load(empty)
    bad = _fake_recordings(tmp_path / "bad" / "recordings")
    (bad / "hello.wav").write_bytes(b"")
    with pytest.raises(InputError, match="hello.wav"):
        fsdd.load(bad)
    with pytest.raises(InputError, match="not found"):
        fsdd.list_recordings(tmp_path / "nope")
