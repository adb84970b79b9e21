"""IDX files (the MNIST format): read and write, gzip-compressed or raw.

An IDX file is a 4-byte magic number (two zero bytes, a dtype code, the
number of dimensions), one big-endian uint32 per dimension, then the data in
big-endian C order. Every malformed file (wrong magic number, truncated or
trailing data, a corrupt gzip stream, images and labels that disagree in
count) raises `InputError` naming the file.
"""

import gzip
import zlib
from pathlib import Path

import numpy as np

from tfdl.errors import InputError

# IDX dtype code -> big-endian numpy dtype.
DTYPES = {
    0x08: np.dtype(np.uint8),
    0x09: np.dtype(np.int8),
    0x0B: np.dtype(">i2"),
    0x0C: np.dtype(">i4"),
    0x0D: np.dtype(">f4"),
    0x0E: np.dtype(">f8"),
}
_CODES = {np.dtype(v).newbyteorder("=") if v.itemsize > 1 else v: k for k, v in DTYPES.items()}


def _read_bytes(path: Path) -> bytes:
    if not path.is_file():
        raise InputError(f"IDX file not found: {path}")
    raw = path.read_bytes()
    if raw[:2] == b"\x1f\x8b":  # gzip magic, whatever the file name says
        try:
            return gzip.decompress(raw)
        except (OSError, EOFError, zlib.error) as e:
            raise InputError(f"corrupt or truncated gzip IDX file {path}: {e}") from None
    return raw


def read_idx(path) -> np.ndarray:
    """Reads an IDX file (`.gz` or raw) into a native-endian numpy array.

    Args:
        path: the file.

    Returns:
        np.ndarray with the file's dimensions and dtype (uint8 for MNIST).

    Raises:
        InputError: missing file, wrong magic number, unknown dtype code,
            truncated or over-long data; the message names the file.
    """
    path = Path(path)
    data = _read_bytes(path)
    if len(data) < 4:
        raise InputError(f"not an IDX file (only {len(data)} bytes): {path}")
    zero, code, ndim = data[:2], data[2], data[3]
    if zero != b"\x00\x00" or code not in DTYPES or ndim == 0:
        raise InputError(f"not an IDX file (bad magic number 0x{data[:4].hex()}; expected "
                         f"0x0000TTDD with a known type TT and DD >= 1 dimensions): {path}")
    header = 4 + 4 * ndim
    if len(data) < header:
        raise InputError(f"truncated IDX header ({len(data)} of {header} bytes): {path}")
    dims = tuple(int(d) for d in np.frombuffer(data, ">u4", count=ndim, offset=4))
    dtype = DTYPES[code]
    expected = header + int(np.prod(dims, dtype=np.int64)) * dtype.itemsize
    if len(data) != expected:
        what = "truncated" if len(data) < expected else "over-long"
        raise InputError(f"{what} IDX file: header says shape {dims} ({expected} bytes) but the "
                         f"file has {len(data)} bytes: {path}")
    arr = np.frombuffer(data, dtype, offset=header).reshape(dims)
    return arr.astype(dtype.newbyteorder("="), copy=True)


def write_idx(path, array) -> Path:
    """Writes `array` as an IDX file, gzip-compressed when `path` ends in `.gz`."""
    array = np.asarray(array)
    native = array.dtype.newbyteorder("=") if array.dtype.itemsize > 1 else array.dtype
    if native not in _CODES:
        raise TypeError(f"array dtype must be one of uint8, int8, int16, int32, float32, "
                        f"float64. Received: dtype={array.dtype}")
    code = _CODES[native]
    head = bytes([0, 0, code, array.ndim]) + np.asarray(array.shape, ">u4").tobytes()
    body = np.ascontiguousarray(array, dtype=DTYPES[code]).tobytes()
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    blob = head + body
    path.write_bytes(gzip.compress(blob, compresslevel=6) if path.suffix == ".gz" else blob)
    return path


def read_images_labels(images_path, labels_path):
    """Reads an image IDX file ([n, rows, cols] uint8) and its label file ([n]).

    Raises:
        InputError: either file malformed, wrong ranks, or different counts
            (the message names both files).
    """
    images = read_idx(images_path)
    labels = read_idx(labels_path)
    if images.ndim != 3:
        raise InputError(f"image IDX file must have 3 dimensions [n, rows, cols]; got shape "
                         f"{images.shape}: {images_path}")
    if labels.ndim != 1:
        raise InputError(f"label IDX file must have 1 dimension [n]; got shape {labels.shape}: "
                         f"{labels_path}")
    if len(images) != len(labels):
        raise InputError(f"{len(images)} images in {images_path} but {len(labels)} labels in "
                         f"{labels_path}")
    return images, labels.astype(np.int64)
