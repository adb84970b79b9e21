"""HTK parameter files: hand-decoded values, round trips, the real ARCTIC files, bad files."""

import struct

import numpy as np
import pytest

from tfdl.errors import InputError
from tfdl.phonemes import htk


def naive_checksum(words):
    crc = 0
    for w in words:
        crc = (crc * 65536 + int(w)) % 36897
    return crc


def hand_made_compressed(path, checksum=True):
    """2 frames x 2 dims, MFCC_C(_K), written byte by byte (big-endian)."""
    a, b = [2.0, 4.0], [1.0, -2.0]
    v = [3, 5, -1, 10]
    body = struct.pack(">2f", *a) + struct.pack(">2f", *b) + struct.pack(">4h", *v)
    kind = 6 | 0o2000 | (0o10000 if checksum else 0)
    header = struct.pack(">iihh", 2 + 4, 20000, 4, kind)
    tail = b""
    if checksum:
        words = struct.unpack(f">{len(body) // 2}H", body)
        tail = struct.pack(">H", naive_checksum(words))
    path.write_bytes(header + body + tail)
    return path


def test_compressed_file_decodes_as_by_hand(tmp_path):
    p = htk.read(hand_made_compressed(tmp_path / "a.mfcc"))
    # x = (v + B) / A: (3+1)/2, (5-2)/4, (-1+1)/2, (10-2)/4
    np.testing.assert_allclose(p.data, [[2.0, 0.75], [0.0, 2.0]])
    assert p.parm_kind == "MFCC_C_K"
    assert p.sample_period == pytest.approx(0.002)
    assert p.num_frames == 2


def test_checksum_matches_naive_loop():
    words = np.random.default_rng(0).integers(0, 65536, size=10_001)
    assert htk.checksum(words) == naive_checksum(words)
    assert htk.checksum(words[:7]) == naive_checksum(words[:7])
    assert htk.checksum([]) == 0


def test_parm_kind_names():
    assert htk.parm_kind_name(0x1446) == "MFCC_E_C_K"
    assert htk.parse_parm_kind("MFCC_E_C_K") == 0x1446
    assert htk.parse_parm_kind("fbank_d_a") == 7 | 0o400 | 0o1000
    with pytest.raises(ValueError, match="unknown HTK base kind"):
        htk.parse_parm_kind("NOPE_E")


@pytest.mark.parametrize("kind,compress,crc", [("USER", False, False), ("MFCC_E", False, True),
                                               ("MFCC_E", True, False), ("MFCC_E", True, True)])
def test_round_trip(tmp_path, kind, compress, crc):
    x = np.random.default_rng(1).normal(size=(37, 13)).astype(np.float32) * 5
    path = htk.write(tmp_path / "x.htk", x, 0.01, kind, compress=compress, with_checksum=crc)
    raw = path.read_bytes()
    n_header = struct.unpack(">i", raw[:4])[0]
    assert n_header == (37 + 4 if compress else 37)  # compressed nSamples counts the A/B rows
    p = htk.read(path)
    assert p.sample_period == pytest.approx(0.01)
    assert p.parm_kind == kind + ("_C" if compress else "") + ("_K" if crc else "")
    if compress:
        step = (x.max(0) - x.min(0)) / 65534
        assert np.all(np.abs(p.data - x) <= step * 0.51 + 1e-5)
    else:
        np.testing.assert_array_equal(p.data, x)


def test_waveform_kind_holds_shorts(tmp_path):
    x = np.arange(-5, 5, dtype=np.int16)[:, None]
    p = htk.read(htk.write(tmp_path / "w.htk", x, 1 / 16000, "WAVEFORM"))
    assert p.data.dtype == np.int16
    np.testing.assert_array_equal(p.data, x)


def test_little_endian_file(tmp_path):
    x = np.arange(12, dtype=np.float32).reshape(4, 3)
    path = tmp_path / "le.htk"
    path.write_bytes(struct.pack("<iihh", 4, 100000, 12, 9) + x.astype("<f4").tobytes())
    np.testing.assert_array_equal(htk.read(path).data, x)


@pytest.mark.dataset("phonemes")
def test_real_arctic_file(data_root):
    path = data_root / "phonemes" / "mfcc" / "arctic_a0001.mfcc"
    p = htk.read(path)  # verifies the _K checksum
    assert p.parm_kind == "MFCC_E_C_K"
    assert p.sample_period == pytest.approx(0.002)
    assert p.data.shape == (2278, 13)
    assert path.stat().st_size == 12 + (2278 + 4) * 26 + 2
    assert np.all(np.isfinite(p.data)) and np.abs(p.data).max() < 1e3


@pytest.mark.dataset("phonemes")
def test_reencoding_real_file_gives_same_codes(data_root, tmp_path):
    src = data_root / "phonemes" / "mfcc" / "arctic_a0002.mfcc"
    p = htk.read(src)
    dst = htk.write(tmp_path / "copy.mfcc", p.data, p.sample_period, p.parm_kind)
    # Re-encoding the decoded values reproduces HTK's int16 codes exactly.
    a, b = src.read_bytes(), dst.read_bytes()
    assert len(a) == len(b) and a[:12] == b[:12]
    np.testing.assert_array_equal(np.frombuffer(a[12 + 104:-2], ">i2"),
                                  np.frombuffer(b[12 + 104:-2], ">i2"))


def test_truncated_file(tmp_path):
    path = hand_made_compressed(tmp_path / "t.mfcc")
    path.write_bytes(path.read_bytes()[:-5])
    with pytest.raises(InputError, match=r"t\.mfcc is truncated: .* needs 38 bytes, file has 33"):
        htk.read(path)


def test_file_shorter_than_header(tmp_path):
    path = tmp_path / "h.mfcc"
    path.write_bytes(b"\x00\x01")
    with pytest.raises(InputError, match=r"h\.mfcc is truncated"):
        htk.read(path)


def test_trailing_garbage_is_corrupt(tmp_path):
    path = hand_made_compressed(tmp_path / "g.mfcc")
    path.write_bytes(path.read_bytes() + b"\x00" * 8)
    with pytest.raises(InputError, match=r"g\.mfcc is corrupt"):
        htk.read(path)


def test_checksum_mismatch(tmp_path):
    path = hand_made_compressed(tmp_path / "c.mfcc")
    raw = bytearray(path.read_bytes())
    raw[-4] ^= 0x01  # flip one bit of the last int16 value
    path.write_bytes(bytes(raw))
    with pytest.raises(InputError, match=r"c\.mfcc is corrupt: _K checksum mismatch"):
        htk.read(path)
    assert htk.read(path, verify_checksum=False).num_frames == 2


def test_missing_file(tmp_path):
    with pytest.raises(InputError, match="cannot read HTK file"):
        htk.read(tmp_path / "none.mfcc")
