"""Phone labels: Festival and HTK label files, one phone per feature frame, the vocabulary.

Frame t covers `[t * P, (t + 1) * P)` for frame period P and takes the phone
of the segment holding its midpoint `(t + 0.5) * P`. HTK-style analysis drops
the last partial window, so label files end a few frames after the features
(2 frames in the ARCTIC data): up to `TOLERANCE` seconds of overhang is
accepted, more is an error naming the file.
"""

from pathlib import Path

import numpy as np

from tfdl.errors import InputError

TOLERANCE = 0.01  # seconds the labels may end after (or before) the features


def _is_festival(lines):
    """(festival?, the segment lines): a `#` header line, or lines not `start end phone`."""
    stripped = [ln.strip() for ln in lines]
    if "#" in stripped:
        return True, lines[stripped.index("#") + 1:]
    # Without a header: HTK when every line starts with two integer times.
    rows = [ln.split(";")[0].split() for ln in lines if ln.split(";")[0].split()]
    return not all(len(r) >= 3 and r[0].isdigit() and r[1].isdigit() for r in rows), lines


def read_labels(path):
    """Reads a Festival or HTK label file into (start, end, phone) segments in seconds.

    Festival: optional header lines up to a line `#`, then `end colour phone
    [; ...]` lines (a segment starts where the previous one ends; the first at
    0). HTK: `start end phone [score ...]` lines with integer times in 100 ns.

    Raises:
        InputError: unreadable file, a line that is neither format, times going
            backwards, or no segment at all.
    """
    path = Path(path)
    try:
        lines = path.read_text(errors="replace").splitlines()
    except OSError as e:
        raise InputError(f"cannot read label file {path}: {e.strerror or e}") from None
    festival, lines = _is_festival(lines)
    segments, prev_end = [], 0.0
    for number, line in enumerate(lines, 1):
        tokens = line.split(";")[0].split()
        if not tokens:
            continue
        try:
            if not festival:
                start, end, phone = int(tokens[0]) * 1e-7, int(tokens[1]) * 1e-7, tokens[2]
            elif len(tokens) >= 2:
                start, end = prev_end, float(tokens[0])
                phone = tokens[2] if len(tokens) >= 3 else tokens[1]
            else:
                raise ValueError
        except ValueError:
            raise InputError(f"label file {path} line {number} is not 'end colour phone' "
                             f"(Festival) or 'start end phone' (HTK): {line.strip()!r}") from None
        if end < start - 1e-9 or end < prev_end - 1e-9:
            raise InputError(f"label file {path} line {number}: times go backwards "
                             f"({end:.4f} s after {prev_end:.4f} s)")
        segments.append((start, end, phone))
        prev_end = end
    if not segments:
        raise InputError(f"label file {path} has no segments")
    return segments


def frame_labels(segments, num_frames, frame_period, tolerance=TOLERANCE, source="labels"):
    """Phone of each frame: the segment holding the frame midpoint `(t + 0.5) * P`.

    Args:
        segments: (start, end, phone) in seconds, in time order.
        num_frames: T, the number of feature frames.
        frame_period: P in seconds.
        tolerance: seconds the labels may end after (or before) the features end.
        source: label file name for error messages.

    Returns:
        [T] array of phone strings.

    Raises:
        InputError: the labels end more than `tolerance` past (or short of) the features.
    """
    ends = np.array([s[1] for s in segments], np.float64)
    phones = np.array([s[2] for s in segments])
    feature_end = num_frames * frame_period
    for wrong, where in ((ends[-1] > feature_end + tolerance + 1e-9, "past"),
                         (ends[-1] < feature_end - tolerance - 1e-9, "before")):
        if wrong:
            raise InputError(f"label file {source} ends at {ends[-1]:.3f} s, {where} the end of "
                             f"the features ({feature_end:.3f} s = {num_frames} frames of "
                             f"{frame_period * 1e3:g} ms)")
    mids = (np.arange(num_frames) + 0.5) * frame_period
    index = np.minimum(np.searchsorted(ends, mids, side="right"), len(ends) - 1)
    return phones[index]


def check_vocabulary(corpus, phones):
    """Raises InputError listing every phone of `corpus` missing from `phones` (with a file).

    Returns:
        dict phone -> index in `phones`.
    """
    index = {p: i for i, p in enumerate(phones)}
    unknown = {}
    for u in corpus.utterances:
        for p in map(str, np.unique(u.phones)):
            if p not in index and p not in unknown:
                unknown[p] = u.source or u.name
    if unknown:
        listed = ", ".join(f"{p!r} (e.g. {src})" for p, src in sorted(unknown.items())[:10])
        more = f" and {len(unknown) - 10} more" if len(unknown) > 10 else ""
        raise InputError(f"{len(unknown)} phone label(s) not in the vocabulary of "
                         f"{len(phones)} phones: {listed}{more}")
    return index
