"""Frame-level phoneme data: HTK/Festival files, the CMU 11-785 layout, WAV + labels.

Three on-disk layouts are read into one `Corpus` of utterances, each a
`[T, D]` float32 feature matrix and `T` phone strings (one per frame):

- "htk": `mfcc/*.mfcc` (or `.mfc`/`.htk`) HTK parameter files (`tfdl.htk`)
  and `lab/*.lab` label files, Festival (`end_seconds colour phone`, header
  ending with a `#` line) or HTK (`start end phone`, 100 ns units). This is
  the layout of `../shared/data/phonemes` (CMU ARCTIC, 2 ms frames).
- "npy": the CMU 11-785 HW1P2 layout, `mfcc/*.npy` (`T x D`) and
  `transcript/*.npy` (`T + 2` phone strings, `[SOS]` ... `[EOS]`, which are
  removed).
- "wav": `wav/*.wav` and `lab/*.lab`; features come from the library's
  `tfdl.features.MFCC` layer (python_speech_features-exact MFCC).

Frame t covers `[t * P, (t + 1) * P)` for frame period P and takes the phone
of the segment holding its midpoint `(t + 0.5) * P`. HTK-style analysis drops
the last partial window, so label files end a few frames after the features
(2 frames in the ARCTIC data): up to `tolerance` seconds of overhang is
accepted, more is an error naming the file.

Training frames never exist as a `(2K + 1)`-times-larger copy: each utterance
is normalised (cepstral mean and variance) and padded once with `K * stride`
zero frames on both sides into one `[N_padded, D]` array, and tf.data gathers
the `[batch, 2K + 1, D]` context windows by index per batch.
"""

import os
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from tfdl import htk
from tfdl.data import find_dataset
from tfdl.errors import InputError

NAME = "phonemes"
LAYOUTS = ("auto", "htk", "npy", "wav")
HTK_SUFFIXES = (".mfcc", ".mfc", ".htk")
SOS, EOS = "[SOS]", "[EOS]"


@dataclass
class Utterance:
    """One utterance: `features` [T, D] float32 and `phones` [T] (str)."""

    name: str
    features: np.ndarray
    phones: np.ndarray
    source: str = ""  # the feature file, for error messages

    @property
    def num_frames(self):
        return int(self.features.shape[0])


@dataclass
class Corpus:
    """Utterances of one layout, in sorted name order, with their frame period (seconds)."""

    utterances: list
    frame_period: float
    layout: str
    root: Path

    @property
    def num_frames(self):
        return sum(u.num_frames for u in self.utterances)

    @property
    def num_features(self):
        return int(self.utterances[0].features.shape[1])

    def phone_set(self):
        return sorted(set().union(*(set(np.unique(u.phones)) for u in self.utterances)))


def find(data_dir=None) -> Path:
    """Finds the phonemes folder (`--data_dir`, `$TFDL_DATA_DIR/phonemes`, Keras cache).

    There is no public download (the ARCTIC alignments are for development only).
    """
    for marker in ("mfcc", "wav"):
        try:
            return find_dataset(NAME, data_dir, marker=marker)
        except InputError:
            continue
    return find_dataset(NAME, data_dir, marker="mfcc")  # raises with the standard message


def detect_layout(root) -> str:
    """"npy" (11-785), "htk" or "wav", from the folders present in `root`."""
    root = Path(root)
    mfcc = root / "mfcc"
    if mfcc.is_dir():
        names = os.listdir(mfcc)
        if any(n.endswith(".npy") for n in names):
            return "npy"
        if any(n.endswith(HTK_SUFFIXES) for n in names):
            return "htk"
    if (root / "wav").is_dir():
        return "wav"
    raise InputError(f"no phoneme data in {root}: expected mfcc/*.mfcc + lab/*.lab (HTK), "
                     f"mfcc/*.npy + transcript/*.npy (11-785) or wav/*.wav + lab/*.lab")


# ----------------------------------------------------------------------------- labels


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
    stripped = [ln.strip() for ln in lines]
    festival = "#" in stripped
    if festival:
        lines = lines[stripped.index("#") + 1:]
    else:
        # Without a header: HTK when every line starts with two integer times.
        rows = [ln.split(";")[0].split() for ln in lines if ln.split(";")[0].split()]
        festival = not all(len(r) >= 3 and r[0].isdigit() and r[1].isdigit() for r in rows)
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


def frame_labels(segments, num_frames, frame_period, tolerance=0.01, source="labels"):
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
    if ends[-1] > feature_end + tolerance + 1e-9:
        raise InputError(f"label file {source} ends at {ends[-1]:.3f} s, past the end of the "
                         f"features ({feature_end:.3f} s = {num_frames} frames of "
                         f"{frame_period * 1e3:g} ms)")
    if ends[-1] < feature_end - tolerance - 1e-9:
        raise InputError(f"label file {source} ends at {ends[-1]:.3f} s, before the end of the "
                         f"features ({feature_end:.3f} s = {num_frames} frames of "
                         f"{frame_period * 1e3:g} ms)")
    mids = (np.arange(num_frames) + 0.5) * frame_period
    index = np.minimum(np.searchsorted(ends, mids, side="right"), len(ends) - 1)
    return phones[index]


def parse_phone_map(spec):
    """Parses "sp=sil,l!=l" into {"sp": "sil", "l!": "l"} (empty string -> {})."""
    mapping = {}
    for item in filter(None, (s.strip() for s in str(spec or "").split(","))):
        src, sep, dst = item.partition("=")
        if not sep or not src or not dst:
            raise InputError(f"--phone_map entries must be 'from=to'. Received: {item!r}")
        mapping[src] = dst
    return mapping


def apply_phone_map(corpus, mapping):
    """Renames phones in place by `mapping` (e.g. merging `sp` into `sil`)."""
    if mapping:
        for u in corpus.utterances:
            if len(u.phones):
                u.phones = np.array([mapping.get(p, p) for p in u.phones])
    return corpus


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
                         f"{len(phones)} phones: {listed}{more}; declare a mapping with "
                         f"--phone_map=from=to")
    return index


# ----------------------------------------------------------------------------- loading


def _check_matrix(x, source, dims):
    if x.ndim != 2:
        raise InputError(f"features in {source} must be [frames, dims]; got shape {x.shape}")
    if x.shape[0] == 0:
        raise InputError(f"empty utterance: {source} has 0 frames")
    if dims is not None and x.shape[1] != dims:
        raise InputError(f"feature dimension mismatch: {source} has {x.shape[1]} dims, "
                         f"earlier utterances have {dims}")
    if not np.all(np.isfinite(x)):
        raise InputError(f"features in {source} hold NaN or infinite values")


def _pairs(feature_dir, suffixes, label_dir, label_suffix, max_utterances):
    if not feature_dir.is_dir():
        raise InputError(f"feature folder not found: {feature_dir}")
    files = sorted(p for p in feature_dir.iterdir() if p.name.endswith(suffixes))
    if not files:
        raise InputError(f"no {'/'.join(suffixes)} files in {feature_dir}")
    if max_utterances:
        files = files[:max_utterances]
    pairs = []
    for f in files:
        stem = f.name[:-len(next(s for s in suffixes if f.name.endswith(s)))]
        lab = label_dir / (stem + label_suffix)
        if not lab.exists():
            raise InputError(f"no label file {lab} for {f}")
        pairs.append((stem, f, lab))
    return pairs


def load_corpus(root, layout="auto", max_utterances=None, tolerance=0.01, sample_rate=16000,
                frame_length=None, frame_step=None) -> Corpus:
    """Loads every utterance of a phoneme folder.

    Args:
        root: the dataset folder (see the module docstring for layouts).
        layout: one of `LAYOUTS`; "auto" detects it.
        max_utterances: load only the first N utterances (sorted by name).
        tolerance: seconds labels may overhang the features ("htk", "wav").
        sample_rate, frame_length, frame_step: MFCC analysis for "wav"
            (samples; defaults 25 ms / 10 ms).

    Returns:
        A `Corpus`.

    Raises:
        InputError: missing/corrupt files, empty utterances, a feature
            dimension mismatch, labels past the features, mixed frame periods.
    """
    root = Path(root)
    if layout not in LAYOUTS:
        raise InputError(f"--layout must be one of {', '.join(LAYOUTS)}. Received: {layout!r}")
    if layout == "auto":
        layout = detect_layout(root)
    utterances, dims, period = [], None, None
    if layout == "htk":
        for stem, f, lab in _pairs(root / "mfcc", HTK_SUFFIXES, root / "lab", ".lab",
                                   max_utterances):
            params = htk.read(f)
            x = np.asarray(params.data, np.float32)
            _check_matrix(x, f, dims)
            if period is not None and abs(params.sample_period - period) > 1e-9:
                raise InputError(f"frame period mismatch: {f} has "
                                 f"{params.sample_period * 1e3:g} ms frames, earlier files "
                                 f"{period * 1e3:g} ms")
            dims, period = x.shape[1], params.sample_period
            phones = frame_labels(read_labels(lab), len(x), period, tolerance, source=lab)
            utterances.append(Utterance(stem, x, phones, str(f)))
    elif layout == "npy":
        for stem, f, tr in _pairs(root / "mfcc", (".npy",), root / "transcript", ".npy",
                                  max_utterances):
            try:
                x = np.load(f).astype(np.float32)
                t = np.load(tr, allow_pickle=False)
            except (OSError, ValueError) as e:
                raise InputError(f"cannot read {f} or {tr}: {e}") from None
            _check_matrix(x, f, dims)
            dims = x.shape[1]
            t = np.asarray(t).astype(str)
            if len(t) == len(x) + 2 and t[0] == SOS and t[-1] == EOS:
                t = t[1:-1]  # a slice: no pass over the transcript
            if len(t) != len(x):
                raise InputError(f"transcript {tr} has {len(t)} labels for {len(x)} frames in "
                                 f"{f} (expected T or T + 2 with [SOS]/[EOS])")
            utterances.append(Utterance(stem, x, t, str(f)))
        period = 0.010  # 11-785 features are 10 ms frames
    else:
        from tfdl import audio
        from tfdl.features import MFCC

        layer = MFCC(sample_rate=sample_rate, frame_length=frame_length, frame_step=frame_step)
        period = layer.frame_step / sample_rate
        for stem, f, lab in _pairs(root / "wav", (".wav",), root / "lab", ".lab",
                                   max_utterances):
            wave, _ = audio.load(f, sample_rate)
            if len(wave) < layer.frame_length:
                raise InputError(f"empty utterance: {f} is shorter than one "
                                 f"{layer.frame_length}-sample frame")
            x = np.asarray(layer(wave[None])[0], np.float32)
            _check_matrix(x, f, dims)
            dims = x.shape[1]
            phones = frame_labels(read_labels(lab), len(x), period,
                                  max(tolerance, layer.frame_length / sample_rate), source=lab)
            utterances.append(Utterance(stem, x, phones, str(f)))
    return Corpus(utterances, float(period), layout, root)


# ----------------------------------------------------------------------------- preprocessing


def cmvn(x, variance=True, eps=1e-5):
    """Cepstral mean (and variance) normalisation of one utterance [T, D] (numpy)."""
    x = np.asarray(x, np.float32)
    y = x - x.mean(axis=0, keepdims=True)
    if variance:
        y = y / (x.std(axis=0, keepdims=True) + eps)
    return y.astype(np.float32)


def cmvn_tf(x, variance=True, eps=1e-5):
    """`cmvn` in TensorFlow, for the exported model (same formula, population std)."""
    import tensorflow as tf

    mean = tf.reduce_mean(x, axis=0, keepdims=True)
    y = x - mean
    if variance:
        y = y / (tf.math.reduce_std(x, axis=0, keepdims=True) + eps)
    return y


def window_offsets(context, stride=1):
    """Frame offsets of a +-`context` window: `[-K, ..., K] * stride`."""
    return np.arange(-context, context + 1, dtype=np.int64) * int(stride)


def split_utterances(num, test=50, val=25, seed=0):
    """Utterance-level split (never by frame) of `num` utterances.

    Args:
        num: number of utterances.
        test, val: counts (int >= 1) or fractions (0 < f < 1) of utterances.
        seed: permutation seed.

    Returns:
        dict "train"/"val"/"test" -> sorted utterance indices.
    """
    def count(x):
        return int(round(x * num)) if isinstance(x, float) and x < 1 else int(x)

    n_test, n_val = count(test), count(val)
    if n_test < 1 or n_val < 0 or n_test + n_val >= num:
        raise InputError(f"cannot split {num} utterances into {n_test} test + {n_val} "
                         f"validation + at least 1 training")
    perm = np.random.default_rng(seed).permutation(num)
    return {"test": np.sort(perm[:n_test]), "val": np.sort(perm[n_test:n_test + n_val]),
            "train": np.sort(perm[n_test + n_val:])}


@dataclass
class FrameSet:
    """Utterances packed for context-window gathering.

    Attributes:
        features: [N_padded, D] float32: each utterance normalised and padded
            with `pad` zero frames on both sides, concatenated.
        centers: [N] int64 row of each real frame in `features`.
        labels: [N] int32 phone ids.
        spans: [(name, first, stop)] each utterance's slice of `centers`.
        pad: frames of padding on each side of every utterance.
    """

    features: np.ndarray
    centers: np.ndarray
    labels: np.ndarray
    spans: list = field(default_factory=list)
    pad: int = 0

    def __len__(self):
        return int(len(self.centers))


def pack(utterances, phone_index, pad, normalize=True):
    """Normalises and pads each utterance once and concatenates them into a `FrameSet`."""
    blocks, centers, labels, spans = [], [], [], []
    row, first = 0, 0
    for u in utterances:
        x = cmvn(u.features) if normalize else np.asarray(u.features, np.float32)
        t = len(x)
        blocks.append(np.pad(x, ((pad, pad), (0, 0))))
        centers.append(np.arange(row + pad, row + pad + t, dtype=np.int64))
        labels.append(np.array([phone_index[p] for p in u.phones], np.int32))
        spans.append((u.name, first, first + t))
        row += t + 2 * pad
        first += t
    return FrameSet(np.concatenate(blocks).astype(np.float32), np.concatenate(centers),
                    np.concatenate(labels), spans, pad)


def gather_windows(features, centers, offsets):
    """[batch, 2K+1, D] context windows: `features[centers[:, None] + offsets]` (tf.gather)."""
    import tensorflow as tf

    return tf.gather(features, tf.expand_dims(centers, -1) + offsets)


def frame_dataset(frames, context, stride=1, batch_size=256, training=False, seed=0):
    """tf.data pipeline of (context windows [B, 2K+1, D], labels [B]) batches.

    Training: an endless stream of full batches, a fresh stateless permutation
    of all frames per pass (so `steps_per_epoch` may cover any subsample).
    Evaluation: every frame once, in order. Windows are gathered per batch from
    the padded array; nothing K-times larger is ever stored.
    """
    import tensorflow as tf

    if context * stride > frames.pad:
        raise ValueError(f"context * stride must be <= the packing pad. Received: "
                         f"context={context}, stride={stride}, pad={frames.pad}")
    feats = tf.constant(frames.features)
    centers = tf.constant(frames.centers)
    labels = tf.constant(frames.labels)
    offsets = tf.constant(window_offsets(context, stride))
    n = len(frames)

    def windows(idx):
        c = tf.gather(centers, idx)
        return gather_windows(feats, c, offsets), tf.gather(labels, idx)

    if training:
        steps = n // batch_size
        if steps < 1:
            raise InputError(f"--batch_size={batch_size} is larger than the {n} training frames")

        def permutation(epoch):
            p = tf.random.experimental.stateless_shuffle(
                tf.range(n, dtype=tf.int64), seed=tf.stack([tf.cast(seed, tf.int64), epoch]))
            return tf.reshape(p[:steps * batch_size], [steps, batch_size])

        ds = tf.data.Dataset.range(2 ** 31).map(permutation).unbatch()
    else:
        starts = tf.range(0, n, batch_size, dtype=tf.int64)
        ds = tf.data.Dataset.from_tensor_slices(starts).map(
            lambda s: tf.range(s, tf.minimum(s + batch_size, n)))
    return ds.map(windows, num_parallel_calls=tf.data.AUTOTUNE).prefetch(tf.data.AUTOTUNE)
