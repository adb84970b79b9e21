"""Speech Commands-layout folders: find, index, label and split (no audio is read here).

A folder holds one sub-folder per word (`yes/`, `zero/`, ...), an optional
`_background_noise_/` with long noise recordings, and optional
`validation_list.txt` / `testing_list.txt` naming clips (`word/file.wav`) that
belong to those splits, as in Warden's Speech Commands dataset and the
TensorFlow `speech_commands` example.

Classes are `_silence_`, `_unknown_` (every word that is not wanted), then the
wanted words in the order given.

Splits: a clip named in a list file goes to that split. A clip that is in no
list goes to training when the list files mention its word at all (the
Speech Commands convention: "everything else is training"); words the list
files do not mention (or every word, when there are no list files) are split
by `which_set`, the TensorFlow example's stable hash of the speaker part of the
name (`<speaker>_nohash_<n>.wav`), so one speaker never spans two splits and
adding files never moves existing ones.
"""

import dataclasses
import hashlib
import re
from pathlib import Path

from tfdl.data import find_dataset
from tfdl.errors import InputError

SILENCE_LABEL = "_silence_"
UNKNOWN_LABEL = "_unknown_"
BACKGROUND_NOISE_DIR = "_background_noise_"
SPLITS = ("training", "validation", "testing")
# The TensorFlow speech_commands example's constant: hashes map into this many buckets.
MAX_NUM_WAVS_PER_CLASS = 2 ** 27 - 1
ORIGIN = "http://download.tensorflow.org/data/speech_commands_v0.02.tar.gz"
DEFAULT_WANTED_WORDS = ("zero", "one", "two", "three", "four", "five", "six", "seven", "eight",
                        "nine")


def speaker_id(filename):
    """The part of a clip's name before `_nohash_` (the whole stem if there is none)."""
    base = Path(str(filename)).name
    return re.sub(r"_nohash_.*$", "", base)


def which_set(filename, validation_percentage, testing_percentage):
    """The split of a clip by a stable hash of its speaker part, as TensorFlow's example does.

    Args:
        filename: clip path or name, e.g. `yes/0a7c2a8d_nohash_0.wav`.
        validation_percentage: share of speakers (0-100) for validation.
        testing_percentage: share of speakers (0-100) for testing.

    Returns:
        "training", "validation" or "testing".
    """
    hashed = hashlib.sha1(speaker_id(filename).encode("utf-8")).hexdigest()
    percentage = ((int(hashed, 16) % (MAX_NUM_WAVS_PER_CLASS + 1))
                  * (100.0 / MAX_NUM_WAVS_PER_CLASS))
    if percentage < validation_percentage:
        return "validation"
    if percentage < validation_percentage + testing_percentage:
        return "testing"
    return "training"


def labels_for(wanted_words):
    """`[_silence_, _unknown_, *wanted_words]`: the class list, index = class id."""
    return [SILENCE_LABEL, UNKNOWN_LABEL, *wanted_words]


@dataclasses.dataclass
class Corpus:
    """An indexed Speech Commands-layout folder.

    Attributes:
        root: the folder.
        labels: class names (`labels_for(wanted_words)`).
        wanted_words: the wanted words.
        splits: split -> {"wanted": [(path, class_id)], "unknown": [path]}.
        noise_files: WAV files in `_background_noise_/` (sorted; empty if none).
        skipped: number of non-WAV files ignored in word folders.
        split_source: word -> "lists" or "hash" (how its clips were split).
    """

    root: Path
    labels: list
    wanted_words: list
    splits: dict
    noise_files: list
    skipped: int
    split_source: dict

    def counts(self):
        """split -> {"wanted": n, "unknown": n} clip counts (before any sampling)."""
        return {s: {"wanted": len(v["wanted"]), "unknown": len(v["unknown"])}
                for s, v in self.splits.items()}


def find(data_dir=None):
    """Locates the keyword folder: `--data_dir` (the folder or a parent holding `keywords/`),
    then `$TFDL_DATA_DIR/keywords`, the Keras cache, or a Speech Commands v0.02 download.

    Raises:
        InputError: if no folder is found.
    """
    if data_dir:
        d = Path(data_dir).expanduser()
        if not d.is_dir():
            raise InputError(f"--data_dir does not exist or is not a folder: {d}")
        holds_clips = any(next(w.glob("*.wav"), None) for w in _word_dirs(d))
        if not holds_clips and (d / "keywords").is_dir():
            return d / "keywords"
        return d
    return find_dataset("keywords", None, marker="", origin=ORIGIN)


def _word_dirs(root):
    return sorted(p for p in Path(root).iterdir()
                  if p.is_dir() and not p.name.startswith(("_", ".")))


def _read_list(path):
    if not path.is_file():
        return None
    with open(path) as f:
        return {line.strip().replace("\\", "/") for line in f if line.strip()}


def check_split(wanted_words, validation_percentage, testing_percentage):
    """Checks the words and hash-split shares of `index`; returns the words as a list.

    Raises:
        InputError: no word, a word twice, a reserved name (starting with "_"),
            or percentages outside [0, 100) or summing to 100 or more; the
            message names the `--config.FIELD` flag.
    """
    words = [str(w).strip() for w in wanted_words]
    if not words or any(not w for w in words):
        raise InputError(f"--config.wanted_words must list at least one word. Received: "
                         f"--config.wanted_words={','.join(words)!r}")
    dupes = sorted({w for w in words if words.count(w) > 1})
    if dupes:
        raise InputError(f"--config.wanted_words lists {', '.join(dupes)} more than once")
    bad = [w for w in words if w.startswith("_")]
    if bad:
        raise InputError(f"--config.wanted_words cannot contain {bad[0]!r}: names starting "
                         f"with '_' are reserved ({SILENCE_LABEL}, {UNKNOWN_LABEL}, "
                         f"{BACKGROUND_NOISE_DIR})")
    for name, value in (("validation_percentage", validation_percentage),
                        ("testing_percentage", testing_percentage)):
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0 <= value < 100:
            raise InputError(f"--config.{name} must be in [0, 100). Received: "
                             f"--config.{name}={value!r}")
    if validation_percentage + testing_percentage >= 100:
        raise InputError(f"--config.validation_percentage + --config.testing_percentage must "
                         f"be < 100. Received: {validation_percentage} + {testing_percentage}")
    return words


def _split_of(root, validation_percentage, testing_percentage):
    """`fn(word, file name) -> split` (list files first, else the speaker hash) and the
    words the list files mention."""
    lists = {"validation": _read_list(root / "validation_list.txt"),
             "testing": _read_list(root / "testing_list.txt")}
    listed = {entry.split("/")[0] for entries in lists.values() if entries for entry in entries}

    def split_of(word, name):
        if word not in listed:
            return which_set(name, validation_percentage, testing_percentage)
        rel = f"{word}/{name}"
        return ("validation" if rel in (lists["validation"] or ()) else
                "testing" if rel in (lists["testing"] or ()) else "training")

    return split_of, listed


def index(root, wanted_words=DEFAULT_WANTED_WORDS, validation_percentage=10.0,
          testing_percentage=10.0):
    """Indexes a Speech Commands-layout folder into labelled, split clip lists.

    Args:
        root: the folder (see `find`).
        wanted_words: words to recognise; all other word folders are `_unknown_`.
        validation_percentage, testing_percentage: hash-split shares (0-100)
            for words the list files do not cover.

    Returns:
        A `Corpus`.

    Raises:
        InputError: a missing folder, a wanted word without a folder, an empty
            wanted-word folder, a folder with no word sub-folders, or bad words
            or percentages (`check_split`).
    """
    root = Path(root)
    if not root.is_dir():
        raise InputError(f"keyword folder not found: {root}")
    wanted_words = check_split(wanted_words, validation_percentage, testing_percentage)
    words = _word_dirs(root)
    if not words:
        raise InputError(f"no word folders in {root} (expected one sub-folder of WAV clips per "
                         f"word, as in Speech Commands)")
    names = {p.name for p in words}
    missing = [w for w in wanted_words if w not in names]
    if missing:
        raise InputError(f"wanted word {missing[0]!r} has no folder {root / missing[0]} "
                         f"(--config.wanted_words); folders found: {', '.join(sorted(names))}")
    split_of, listed = _split_of(root, validation_percentage, testing_percentage)
    labels = labels_for(wanted_words)
    class_of = {w: i for i, w in enumerate(labels)}
    splits = {s: {"wanted": [], "unknown": []} for s in SPLITS}
    skipped = 0
    for word_dir in words:
        files = sorted(p for p in word_dir.iterdir() if p.is_file() and not p.name.startswith("."))
        wavs = [p for p in files if p.suffix.lower() == ".wav"]
        skipped += len(files) - len(wavs)
        if not wavs and word_dir.name in class_of:
            raise InputError(f"wanted word folder has no .wav files: {word_dir}")
        for p in wavs:
            part = splits[split_of(word_dir.name, p.name)]
            if word_dir.name in class_of:
                part["wanted"].append((str(p), class_of[word_dir.name]))
            else:
                part["unknown"].append(str(p))
    noise_dir = root / BACKGROUND_NOISE_DIR
    noise_files = (sorted(p for p in noise_dir.iterdir() if p.suffix.lower() == ".wav")
                   if noise_dir.is_dir() else [])
    split_source = {w.name: "lists" if w.name in listed else "hash" for w in words}
    return Corpus(root=root, labels=labels, wanted_words=wanted_words, splits=splits,
                  noise_files=noise_files, skipped=skipped, split_source=split_source)
