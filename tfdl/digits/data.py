"""Free Spoken Digit Dataset (FSDD): find, parse, split; the tf.data pipelines of a run.

The data is found by `tfdl.data.find_dataset`: `--data_dir`, then
`$TFDL_DATA_DIR/fsdd`, then `~/.keras/datasets/fsdd`, else the GitHub archive
is downloaded there with `keras.utils.get_file`.

Splits:
    official: takes 0-4 of every digit and speaker are the test set (the
        dataset's README split), takes 5-49 the training set.
    random: a seeded random `test_fraction` of all recordings is the test set.
    speaker: the recordings of `test_speakers` are the test set; train and test
        share no speaker.
    loso: leave-one-speaker-out cross-validation, one fold per speaker
        (`loso_folds`).

Normalisation statistics never see the test set: the models adapt their
`keras.layers.Normalization` layers on the training split only
(`tfdl.digits.model.adapt`). Augmentation (speed, time shift, background
noise) runs in tf.data on the training split only (`datasets`).
"""

import dataclasses
import os
import random
import re
import sys
from pathlib import Path

from tfdl.data import find_dataset
from tfdl.errors import InputError

NAME = "fsdd"
ORIGIN = "https://github.com/Jakobovski/free-spoken-digit-dataset/archive/refs/heads/master.zip"
EXTRACT_SUBDIR = "free-spoken-digit-dataset-master"
SAMPLE_RATE = 8000
LABELS = tuple(str(d) for d in range(10))
SPLITS = ("official", "random", "speaker", "loso")
OFFICIAL_TEST_TAKES = range(0, 5)

_NAME_RE = re.compile(r"^(\d)_([A-Za-z][A-Za-z0-9]*)_(\d+)\.wav$")


@dataclasses.dataclass(frozen=True)
class Recording:
    """One FSDD file and the fields parsed from its name."""

    path: Path
    digit: int
    speaker: str
    take: int


def find(data_dir=None) -> Path:
    """The folder of FSDD WAVs (`.../fsdd/recordings`), found or downloaded.

    Args:
        data_dir: `--data_dir`: the FSDD folder, its parent, or the
            `recordings` folder itself; None searches `$TFDL_DATA_DIR` and the
            Keras cache, then downloads.

    Raises:
        InputError: the folder does not exist or holds no FSDD data.
    """
    if data_dir:
        d = Path(data_dir).expanduser()
        if d.is_dir() and d.name == "recordings":
            return d
    root = find_dataset(NAME, data_dir, marker="recordings", origin=ORIGIN,
                        extract_subdir=EXTRACT_SUBDIR)
    return root / "recordings"


def parse_name(path) -> Recording:
    """Parses `{digit}_{speaker}_{take}.wav`.

    Raises:
        InputError: naming the file if its name does not parse.
    """
    path = Path(path)
    m = _NAME_RE.match(path.name)
    if not m:
        raise InputError(f"FSDD file name does not parse as {{digit}}_{{speaker}}_{{take}}.wav: "
                         f"{path}")
    return Recording(path, int(m.group(1)), m.group(2), int(m.group(3)))


def list_recordings(folder) -> list:
    """All recordings in `folder`, sorted by (speaker, digit, take).

    Raises:
        InputError: the folder is missing or empty, holds no WAV file, or a
            WAV file's name does not parse.
    """
    folder = Path(folder)
    if not folder.is_dir():
        raise InputError(f"FSDD folder not found: {folder}")
    wavs = sorted(p for p in folder.iterdir() if p.suffix.lower() == ".wav" and p.is_file())
    if not wavs:
        raise InputError(f"no FSDD recordings ({{digit}}_{{speaker}}_{{take}}.wav) in {folder}")
    recs = [parse_name(p) for p in wavs]
    return sorted(recs, key=lambda r: (r.speaker, r.digit, r.take))


def load(data_dir=None) -> list:
    """`list_recordings(find(data_dir))`."""
    return list_recordings(find(data_dir))


def speakers(recordings) -> list:
    """Sorted speaker names."""
    return sorted({r.speaker for r in recordings})


def split(recordings, split="official", test_speakers=(), test_fraction=0.1, seed=0):
    """Splits recordings into (train, test) lists.

    Args:
        recordings: from `list_recordings`.
        split: "official", "random" or "speaker" (see the module docstring;
            "loso" is `loso_folds`).
        test_speakers: speakers held out by "speaker" (one or more).
        test_fraction: test share of "random", in (0, 1).
        seed: seed of "random".

    Returns:
        (train, test): lists of `Recording`, both non-empty.

    Raises:
        InputError: unknown split, unknown or missing test speakers, a bad
            fraction, or an empty side.
    """
    recordings = list(recordings)
    if split == "official":
        test = [r for r in recordings if r.take in OFFICIAL_TEST_TAKES]
        train = [r for r in recordings if r.take not in OFFICIAL_TEST_TAKES]
    elif split == "random":
        if not 0.0 < test_fraction < 1.0:
            raise InputError(f"--config.test_fraction must be in (0, 1). Received: "
                             f"--config.test_fraction={test_fraction}")
        order = list(range(len(recordings)))
        random.Random(seed).shuffle(order)
        n_test = max(1, int(round(test_fraction * len(recordings))))
        test_idx = set(order[:n_test])
        test = [r for i, r in enumerate(recordings) if i in test_idx]
        train = [r for i, r in enumerate(recordings) if i not in test_idx]
    elif split == "speaker":
        test_speakers = [s for s in (test_speakers or ()) if s]
        if not test_speakers:
            raise InputError("--config.split=speaker needs --config.test_speakers (e.g. "
                             "--config.test_speakers=george)")
        known = speakers(recordings)
        unknown = [s for s in test_speakers if s not in known]
        if unknown:
            raise InputError(f"unknown --config.test_speakers {', '.join(unknown)}; the data "
                             f"has {', '.join(known)}")
        held = set(test_speakers)
        test = [r for r in recordings if r.speaker in held]
        train = [r for r in recordings if r.speaker not in held]
    elif split == "loso":
        raise InputError("--config.split=loso is cross-validation: use loso_folds (the app runs "
                         "all folds)")
    else:
        raise InputError(f"--config.split must be one of {', '.join(SPLITS)}. Received: "
                         f"--config.split={split}")
    if not train or not test:
        raise InputError(f"--config.split={split} leaves an empty "
                         f"{'training' if not train else 'test'} set ({len(train)} train, "
                         f"{len(test)} test recordings)")
    return train, test


def loso_folds(recordings):
    """Leave-one-speaker-out folds.

    Returns:
        list of (speaker, train, test), one per speaker, in speaker order.

    Raises:
        InputError: fewer than two speakers.
    """
    recordings = list(recordings)
    names = speakers(recordings)
    if len(names) < 2:
        raise InputError(f"leave-one-speaker-out needs at least 2 speakers. Received: "
                         f"{len(names)} ({', '.join(names)})")
    return [(s, [r for r in recordings if r.speaker != s], [r for r in recordings if r.speaker == s])
            for s in names]


def paths_and_labels(recordings):
    """(list of path strings, list of int digits)."""
    return [str(r.path) for r in recordings], [r.digit for r in recordings]


def check_wavs(recordings):
    """`tfdl.audio.check_wav` of every recording: a file tf.audio.decode_wav cannot read is
    an InputError naming it."""
    from tfdl.audio import check_wav

    for r in recordings:
        check_wav(r.path)


def default_noise_dir():
    """The Speech Commands `_background_noise_` folder under `$TFDL_DATA_DIR/keywords`, or None."""
    root = os.environ.get("TFDL_DATA_DIR")
    if root:
        d = Path(root) / "keywords" / "_background_noise_"
        if d.is_dir():
            return d
    return None


def noise_bank(noise_dir, sample_rate, seconds=30.0):
    """Background-noise clips from `noise_dir`, resampled, as a [clips, samples] array."""
    from tfdl import audio, augment

    files = sorted(p for p in Path(noise_dir).iterdir()
                   if p.suffix.lower() in (".wav", ".flac", ".ogg"))
    if not files:
        raise InputError(f"no noise files (.wav/.flac/.ogg) in {noise_dir}")
    clips = []
    for f in files:
        x, rate = audio.read_audio(f)
        x = x[:int(seconds * rate)]
        clips.append(audio.resample(x, rate, sample_rate).numpy())
    return augment.noise_bank(clips, int(seconds * sample_rate))


def make_augment(cfg, sample_rate=SAMPLE_RATE):
    """The training-only waveform transform for `cfg`, and a description for the log."""
    from tfdl import augment

    if not cfg.augment:
        return None, "none"
    max_shift = int(cfg.max_shift_ms * sample_rate / 1000)
    noise_dir = Path(cfg.noise_dir) if cfg.noise_dir else default_noise_dir()
    noises = None
    if noise_dir is not None and cfg.noise_volume > 0:
        noises = noise_bank(noise_dir, sample_rate)
    if noises is None:
        print("augment: no background-noise folder (pass --config.noise_dir or put "
              "_background_noise_ under $TFDL_DATA_DIR/keywords); using time shift only",
              file=sys.stderr)

    def fn(x):
        x = augment.speed_perturb(x, cfg.speed_change)
        x = augment.time_shift(x, max_shift)
        if noises is not None:
            x = augment.add_background_noise(x, noises, cfg.noise_volume)
        return x

    desc = f"time shift +-{cfg.max_shift_ms:g} ms"
    if cfg.speed_change:
        desc = f"speed x[{1 - cfg.speed_change:g}, {1 + cfg.speed_change:g}], " + desc
    if noises is not None:
        desc += f", background noise from {noise_dir} (gain <= {cfg.noise_volume:g})"
    return fn, desc


def holdout(train, fraction, seed):
    """(train, validation): a seeded random `fraction` of `train` held out (none for 0)."""
    if fraction <= 0:
        return train, []
    order = list(range(len(train)))
    random.Random(seed).shuffle(order)
    n_val = max(1, int(round(fraction * len(train))))
    return ([train[i] for i in sorted(order[n_val:])],
            [train[i] for i in sorted(order[:n_val])])


def datasets(cfg, train, val, test, length, augment_fn, microbatches, speakers=None,
             teacher=None):
    """(training, training without augmentation, validation or None, test) datasets.

    With `speakers` (the training speakers, for `speaker_adversary`), the labels of the
    training and validation sets are `{"probabilities": digit, "speaker": index}`. With
    `teacher` (a function of a waveform batch: its probabilities, for distillation), their
    digit label is the `tfdl.distill.targets` row of the digit and the teacher's
    probabilities on that very batch, augmented as the model sees it.
    """
    import tensorflow as tf

    from tfdl.pipeline import waveform_dataset
    from tfdl.train import steady_input

    n = len(LABELS)

    def ds(recs, training, fitted=False):
        paths, labels = paths_and_labels(recs)
        with_speakers = fitted and speakers is not None
        if with_speakers:  # one int label through the pipeline, split into two after it
            labels = [y + n * speakers.index(r.speaker) for y, r in zip(labels, recs)]
        out = waveform_dataset(paths, labels, sample_rate=SAMPLE_RATE, length=length,
                               batch_size=cfg.batch_size, training=training, seed=cfg.seed,
                               augment=augment_fn if training else None)
        taught = fitted and teacher is not None

        def target(x, y):
            digit = y % n
            return tf.concat([tf.one_hot(digit, n), teacher(x)], axis=-1) if taught else digit

        if with_speakers:
            out = out.map(lambda x, y: (x, {"probabilities": target(x, y), "speaker": y // n}))
        elif taught:
            out = out.map(lambda x, y: (x, target(x, y)))
        return steady_input(out) if training and microbatches > 1 else out

    return (ds(train, True, True), ds(train, False), ds(val, False, True) if val else None,
            ds(test, False))
