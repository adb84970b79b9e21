"""Frame-level phoneme data: find it, read it (three layouts), split it by utterance.

Three on-disk layouts are read into one `Corpus` of utterances, each a
`[T, D]` float32 feature matrix and `T` phone strings (one per frame); the
layout is recognised from the folders present:

- "htk": `mfcc/*.mfcc` (or `.mfc`/`.htk`) HTK parameter files
  (`tfdl.phonemes.htk`) and `lab/*.lab` label files, Festival or HTK
  (`tfdl.phonemes.labels`). This is the layout of `../shared/data/phonemes`
  (CMU ARCTIC, 2 ms frames).
- "npy": the CMU 11-785 HW1P2 layout, `mfcc/*.npy` (`T x D`) and
  `transcript/*.npy` (`T + 2` phone strings, `[SOS]` ... `[EOS]`, which are
  removed).
- "wav": `wav/*.wav` and `lab/*.lab`; features come from the library's
  `tfdl.features.MFCC` layer (python_speech_features-exact MFCC).

The context windows and their tf.data pipeline are in `tfdl.phonemes.frames`.
"""

import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from tfdl.data import find_dataset
from tfdl.errors import InputError
from tfdl.phonemes import htk
from tfdl.phonemes.labels import TOLERANCE, frame_labels, read_labels

NAME = "phonemes"
HTK_SUFFIXES = (".mfcc", ".mfc", ".htk")
SOS, EOS = "[SOS]", "[EOS]"
NPY_FRAME_PERIOD = 0.010  # 11-785 features are 10 ms frames


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
    """(stem, feature file, label file) of every utterance, sorted by name."""
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


def _load_htk(root, max_utterances):
    utterances, dims, period = [], None, None
    for stem, f, lab in _pairs(root / "mfcc", HTK_SUFFIXES, root / "lab", ".lab",
                               max_utterances):
        params = htk.read(f)
        x = np.asarray(params.data, np.float32)
        _check_matrix(x, f, dims)
        if period is not None and abs(params.sample_period - period) > 1e-9:
            raise InputError(f"frame period mismatch: {f} has {params.sample_period * 1e3:g} ms "
                             f"frames, earlier files {period * 1e3:g} ms")
        dims, period = x.shape[1], params.sample_period
        phones = frame_labels(read_labels(lab), len(x), period, source=lab)
        utterances.append(Utterance(stem, x, phones, str(f)))
    return utterances, period


def _load_npy(root, max_utterances):
    utterances, dims = [], None
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
    return utterances, NPY_FRAME_PERIOD


def _load_wav(root, max_utterances, sample_rate, frame_length, frame_step):
    from tfdl import audio
    from tfdl.features import MFCC

    layer = MFCC(sample_rate=sample_rate, frame_length=frame_length, frame_step=frame_step)
    period = layer.frame_step / sample_rate
    # Labels of a whole recording overhang its last full analysis window.
    tolerance = max(TOLERANCE, layer.frame_length / sample_rate)
    utterances, dims = [], None
    for stem, f, lab in _pairs(root / "wav", (".wav",), root / "lab", ".lab", max_utterances):
        wave, _ = audio.load(f, sample_rate)
        if len(wave) < layer.frame_length:
            raise InputError(f"empty utterance: {f} is shorter than one "
                             f"{layer.frame_length}-sample frame")
        x = np.asarray(layer(wave[None])[0], np.float32)
        _check_matrix(x, f, dims)
        dims = x.shape[1]
        phones = frame_labels(read_labels(lab), len(x), period, tolerance, source=lab)
        utterances.append(Utterance(stem, x, phones, str(f)))
    return utterances, period


def load_corpus(root, max_utterances=None, sample_rate=16000, frame_length=None,
                frame_step=None) -> Corpus:
    """Loads every utterance of a phoneme folder (its layout recognised by `detect_layout`).

    Args:
        root: the dataset folder (see the module docstring for layouts).
        max_utterances: load only the first N utterances (sorted by name).
        sample_rate, frame_length, frame_step: MFCC analysis for "wav"
            (samples; defaults 25 ms / 10 ms).

    Returns:
        A `Corpus`.

    Raises:
        InputError: missing/corrupt files, empty utterances, a feature
            dimension mismatch, labels past the features, mixed frame periods.
    """
    root = Path(root)
    layout = detect_layout(root)
    if layout == "htk":
        utterances, period = _load_htk(root, max_utterances)
    elif layout == "npy":
        utterances, period = _load_npy(root, max_utterances)
    else:
        utterances, period = _load_wav(root, max_utterances, sample_rate, frame_length,
                                       frame_step)
    return Corpus(utterances, float(period), layout, root)


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
