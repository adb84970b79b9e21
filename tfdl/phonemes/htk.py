"""HTK parameter files: read and write, with `_C` compression and `_K` checksums.

An HTK parameter file (HTK book, section 5.10) is a 12-byte header followed by
the samples, big-endian unless written in "natural" (little-endian) order:

    nSamples   int32   number of frames (+4 when compressed, see below)
    sampPeriod int32   frame period in 100 ns units (20000 = 2 ms)
    sampSize   int16   bytes per frame
    parmKind   int16   base kind (low 6 bits, e.g. 6 = MFCC) + qualifier bits

Qualifiers handled here: `_C` (compressed) stores each value as an int16 `v`
with per-column float32 rows A (scale) and B (offset) in front of the data,
decoded as `x = (v + B) / A`; the two rows take the space of 4 int16 frames,
and HTK's writer adds those 4 to nSamples (so a compressed file of T frames
says nSamples = T + 4; checked against the real MFCC_E_C_K files). `_K`
appends a 2-byte checksum: HTK's `UpdateCRCC`, `crc = (crc * 65536 + w) %
36897` over every big-endian 16-bit word after the header (A and B included).
Uncompressed files hold float32 values, except the WAVEFORM, IREFC and
DISCRETE kinds, which hold int16.

Every malformed file (too short, size not matching the header, bad checksum,
unknown kind) raises `InputError` naming the file.
"""

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from tfdl.errors import InputError

BASE_KINDS = ("WAVEFORM", "LPC", "LPREFC", "LPCEPSTRA", "LPDELCEP", "IREFC", "MFCC", "FBANK",
              "MELSPEC", "USER", "DISCRETE", "PLP")
QUALIFIERS = {"E": 0o100, "N": 0o200, "D": 0o400, "A": 0o1000, "C": 0o2000, "Z": 0o4000,
              "K": 0o10000, "0": 0o20000, "V": 0o40000, "T": 0o100000}
BASEMASK = 0o77
_SHORT_KINDS = ("WAVEFORM", "IREFC", "DISCRETE")  # int16 samples even when not compressed
_CRC_MOD = 36897
_HEADER = 12


def parm_kind_name(kind: int) -> str:
    """Formats a parmKind code as HTK writes it, e.g. 0x1446 -> "MFCC_E_C_K"."""
    base = kind & BASEMASK
    name = BASE_KINDS[base] if base < len(BASE_KINDS) else f"KIND{base}"
    return name + "".join(f"_{q}" for q, bit in QUALIFIERS.items() if kind & bit)


def parse_parm_kind(name: str) -> int:
    """Parses "MFCC_E_C_K" into its parmKind code (inverse of `parm_kind_name`).

    Raises:
        ValueError: unknown base kind or qualifier.
    """
    base, *quals = str(name).upper().split("_")
    if base not in BASE_KINDS:
        raise ValueError(f"unknown HTK base kind {base!r}; choose one of {', '.join(BASE_KINDS)}. "
                         f"Received: parm_kind={name!r}")
    kind = BASE_KINDS.index(base)
    for q in quals:
        if q not in QUALIFIERS:
            raise ValueError(f"unknown HTK qualifier _{q}; choose from "
                             f"{', '.join('_' + k for k in QUALIFIERS)}. "
                             f"Received: parm_kind={name!r}")
        kind |= QUALIFIERS[q]
    return kind


@dataclass(frozen=True)
class HTKParameters:
    """The contents of one HTK parameter file.

    Attributes:
        data: [frames, dims] float32 (int16 for WAVEFORM/DISCRETE kinds).
        sample_period: frame period in seconds (header value * 1e-7).
        parm_kind: the kind as a string, e.g. "MFCC_E_C_K".
    """

    data: np.ndarray
    sample_period: float
    parm_kind: str

    @property
    def num_frames(self) -> int:
        return int(self.data.shape[0])


def checksum(words: np.ndarray) -> int:
    """HTK's `_K` checksum of a sequence of unsigned 16-bit words.

    Computes `crc = (crc * 65536 + w) % 36897` over the words in order, i.e.
    the words read as one base-65536 number modulo 36897, in vectorised blocks.
    """
    w = np.asarray(words, dtype=np.int64).ravel() % _CRC_MOD
    block = 4096
    # powers[i] = 65536^(block-1-i) mod p, so a block folds in as one dot product.
    powers = np.empty(block, np.int64)
    acc = 1
    for i in range(block - 1, -1, -1):
        powers[i] = acc
        acc = (acc * 65536) % _CRC_MOD
    shift = acc  # 65536^block mod p
    crc = 0
    for start in range(0, len(w), block):
        chunk = w[start:start + block]
        p = powers[block - len(chunk):]
        crc = (crc * (shift if len(chunk) == block else pow(65536, len(chunk), _CRC_MOD))
               + int(np.sum((chunk * p) % _CRC_MOD))) % _CRC_MOD
    return int(crc)


def _parse_header(raw: bytes, order: str):
    n, period = np.frombuffer(raw[:8], f"{order}i4")
    size, kind = np.frombuffer(raw[8:12], f"{order}i2")
    return int(n), int(period), int(size), int(kind) & 0xFFFF


def _layout(n, size, kind):
    """Bytes the file should have for a header, or None when the header is impossible."""
    base = kind & BASEMASK
    if n < 0 or size <= 0 or base >= len(BASE_KINDS):
        return None
    compressed = bool(kind & QUALIFIERS["C"])
    short = compressed or BASE_KINDS[base] in _SHORT_KINDS
    if size % (2 if short else 4):
        return None
    if compressed and n < 4:
        return None
    return _HEADER + n * size + (2 if kind & QUALIFIERS["K"] else 0)


def read(path, verify_checksum=True) -> HTKParameters:
    """Reads an HTK parameter file (compressed or not, with or without checksum).

    Big-endian is HTK's default; a file whose header only makes sense read
    little-endian (HTK's NATURALWRITEORDER on x86) is read that way.

    Args:
        path: the file.
        verify_checksum: check the `_K` checksum when present.

    Returns:
        `HTKParameters` with the decoded frames ([T, D]; T may be 0).

    Raises:
        InputError: unreadable, truncated or corrupt file (naming it).
    """
    path = Path(path)
    try:
        raw = path.read_bytes()
    except OSError as e:
        raise InputError(f"cannot read HTK file {path}: {e.strerror or e}") from None
    if len(raw) < _HEADER:
        raise InputError(f"HTK file {path} is truncated: {len(raw)} bytes, shorter than the "
                         f"12-byte header")
    order, (n, period, size, kind) = _header(raw, path)
    has_crc = bool(kind & QUALIFIERS["K"])
    body = raw[_HEADER:len(raw) - (2 if has_crc else 0)]
    if has_crc and verify_checksum:
        words = np.frombuffer(body, f"{order}u2")
        stored = int(np.frombuffer(raw[-2:], f"{order}u2")[0])
        if checksum(words) != stored:
            raise InputError(f"HTK file {path} is corrupt: _K checksum mismatch (stored "
                             f"{stored}, computed {checksum(words)})")
    data = _decode(body, order, n, size, kind, path)
    return HTKParameters(data=data, sample_period=period * 1e-7, parm_kind=parm_kind_name(kind))


def _header(raw, path):
    """(byte order, (nSamples, sampPeriod, sampSize, parmKind)) of a file's bytes.

    Big-endian unless only the little-endian reading matches the file's size.
    """
    for order in (">", "<"):
        n, period, size, kind = _parse_header(raw, order)
        if _layout(n, size, kind) == len(raw) and period > 0:
            return order, (n, period, size, kind)
    n, period, size, kind = _parse_header(raw, ">")
    expected = _layout(n, size, kind)
    if expected is None or period <= 0:
        raise InputError(f"HTK file {path} has an invalid header (nSamples={n}, "
                         f"sampPeriod={period}, sampSize={size}, parmKind={kind:#x})")
    what = "truncated" if len(raw) < expected else "corrupt"
    raise InputError(f"HTK file {path} is {what}: header ({parm_kind_name(kind)}, {n} "
                     f"samples of {size} bytes) needs {expected} bytes, file has {len(raw)}")


def _decode(body, order, n, size, kind, path):
    """[frames, dims] values of a file's body (after the header, without the checksum)."""
    if kind & QUALIFIERS["C"]:
        dims = size // 2
        a = np.frombuffer(body[:4 * dims], f"{order}f4").astype(np.float32)
        b = np.frombuffer(body[4 * dims:8 * dims], f"{order}f4").astype(np.float32)
        if not (np.all(np.isfinite(a)) and np.all(np.isfinite(b))) or np.any(a == 0):
            raise InputError(f"HTK file {path} is corrupt: invalid compression scale/offset rows")
        v = np.frombuffer(body[8 * dims:], f"{order}i2").reshape(n - 4, dims)
        return ((v.astype(np.float32) + b) / a).astype(np.float32)
    if BASE_KINDS[kind & BASEMASK] in _SHORT_KINDS:
        return np.frombuffer(body, f"{order}i2").reshape(n, size // 2).astype(np.int16)
    data = np.frombuffer(body, f"{order}f4").reshape(n, size // 4).astype(np.float32)
    if not np.all(np.isfinite(data)):
        raise InputError(f"HTK file {path} is corrupt: it holds NaN or infinite values")
    return data


def compression_rows(data):
    """HTK's `CalcCompress`: per-column A (scale) and B (offset) so `round(x*A - B)` fits int16."""
    data = np.asarray(data, np.float32)
    lo, hi = data.min(axis=0), data.max(axis=0)
    span = hi - lo
    flat = span == 0
    safe = np.where(flat, 1.0, span)
    a = np.where(flat, 1.0, 2.0 * 32767.0 / safe).astype(np.float32)
    b = np.where(flat, hi, (hi + lo) * 32767.0 / safe).astype(np.float32)
    return a, b


def write(path, data, sample_period, parm_kind="USER", compress=False, with_checksum=False):
    """Writes an HTK parameter file (big-endian, as HTK does by default).

    Args:
        path: output file.
        data: [frames, dims] values.
        sample_period: frame period in seconds (stored in 100 ns units).
        parm_kind: kind name without `_C`/`_K` (e.g. "MFCC_E"), or a full
            name whose `_C`/`_K` qualifiers switch compression/checksum on.
        compress: store int16 values with A/B rows (HTK `_C`).
        with_checksum: append HTK's `_K` checksum.

    Returns:
        The path.
    """
    data = np.asarray(data)
    if data.ndim != 2 or data.shape[1] == 0:
        raise ValueError(f"data must be [frames, dims] with dims > 0. Received: shape={data.shape}")
    kind = parse_parm_kind(parm_kind)
    compress = compress or bool(kind & QUALIFIERS["C"])
    with_checksum = with_checksum or bool(kind & QUALIFIERS["K"])
    kind &= ~(QUALIFIERS["C"] | QUALIFIERS["K"])
    base = BASE_KINDS[kind & BASEMASK]
    if compress:
        if len(data) == 0:
            raise ValueError("a compressed HTK file needs at least one frame. Received: 0 frames")
        kind |= QUALIFIERS["C"]
    if with_checksum:
        kind |= QUALIFIERS["K"]
    n, dims = data.shape
    if compress:
        a, b = compression_rows(data)
        x = data.astype(np.float32) * a - b
        v = np.where(x < 0, x - 0.5, x + 0.5).astype(np.int32)  # HTK rounds half away from 0.
        v = np.clip(v, -32767, 32767).astype(">i2")
        body = a.astype(">f4").tobytes() + b.astype(">f4").tobytes() + v.tobytes()
        n_header, size = n + 4, 2 * dims
    elif base in _SHORT_KINDS:
        body = data.astype(">i2").tobytes()
        n_header, size = n, 2 * dims
    else:
        body = data.astype(">f4").tobytes()
        n_header, size = n, 4 * dims
    period = int(round(sample_period * 1e7))
    header = (np.array([n_header, period], ">i4").tobytes()
              + np.array([size, kind if kind < 0x8000 else kind - 0x10000], ">i2").tobytes())
    tail = b""
    if with_checksum:
        tail = np.array([checksum(np.frombuffer(body, ">u2"))], ">u2").tobytes()
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(header + body + tail)
    return path
