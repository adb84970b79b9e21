"""The cross-speaker sets: other voices than the training speaker's, mixed with its noise.

Built from the data folder by this code, the same on every machine (nothing is
stored). Everything below is fixed by rule, not by a random seed:

Speakers. LibriSpeech (`speech/librispeech/<speaker>/*.flac`, 16 kHz, sex
from `SPEAKERS.TXT`) and the Speech Commands word clips of `keywords/<word>/`
(the speaker is the part of the name before `_nohash_`; no sex is recorded).
The digit folders `zero/` .. `nine/` are skipped: they hold the FSDD digits
renamed, not Speech Commands.

Split by speaker (`split_speakers`). Speakers are grouped as LibriSpeech
women, LibriSpeech men and Speech Commands speakers; in each group the
`round(dev_fraction * n)` (at least one) speakers whose SHA-1 of
`<corpus>/<id>` sorts first form the dev part, the others the training part.
So both sexes are in both parts, no speaker is in both, and adding a speaker
to a group moves at most one other.

Clips (`speaker_clean`). One clip per speaker: its files in name order
(word folder, then file), joined whole while they fit in `max_seconds` (a
first file longer than that is cut), resampled to 16 kHz with soxr and scaled
to `SPEECH_DBFS` RMS, the level of the training pair's clean speech (-35.9
dBFS), so the set measures voices, not loudness.

Noise. The "chip-eating" residual `train_dirty - train_clean` of the pair:
its validation tail (`tfdl.denoise.data.split_point`, the tail the runs
validate on) for the dev part, its training part for training.

Mixtures (`mix`). Each dev clip at each input SNR of `SNRS_DB`, with the tail
noise starting at a fixed offset per clip (CRC-32 of the speaker id modulo
the room left), scaled so that 10 log10(sum s^2 / sum n^2) is the target
over the whole clip; where the mixture would peak above 0.99, speech and
noise are scaled down together (the SNR stays).

Training part (`speaker_speech`, and `mixture_dataset`, which is
`tfdl.denoise.data.mixture_dataset`): the training voices, whole, at
`SPEECH_DBFS`, cropped at random and mixed on the fly with the training
part's noise residual at random SNRs, for training on many voices.

Size: 10 LibriSpeech speakers (5 women, 5 men) and 8 Speech Commands
speakers in the dev part, about 80 s of speech at each of 5 SNRs, so that
scoring a model and the baselines on all of it (`tfdl.denoise.quality`)
takes about 2 minutes on 2 CPU cores.
"""

import dataclasses
import hashlib
import zlib
from pathlib import Path

import numpy as np

from tfdl import audio
from tfdl.denoise import data
from tfdl.denoise.data import mixture_dataset  # noqa: F401  (also tfdl.denoise.devset.*)
from tfdl.errors import InputError

SAMPLE_RATE = 16000
SNRS_DB = (-5.0, 0.0, 5.0, 10.0, 20.0)
DEV_FRACTION = 0.2
MAX_SECONDS = 6.0
SPEECH_DBFS = -36.0
PEAK = 0.99
LIBRISPEECH, COMMANDS = "librispeech", "speech_commands"
# keywords/zero .. nine are the FSDD recordings renamed (data README), not Speech Commands.
FSDD_WORDS = ("zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine")


@dataclasses.dataclass(frozen=True)
class Speaker:
    """One voice of the cross-speaker sets.

    Attributes:
        id: `<corpus>/<speaker id>` (e.g. `librispeech/1088`).
        corpus: `LIBRISPEECH` or `COMMANDS`.
        sex: "F", "M", or "?" (Speech Commands records none).
        files: its audio files, in name order.
    """

    id: str
    corpus: str
    sex: str
    files: tuple


@dataclasses.dataclass(frozen=True)
class Mixture:
    """One dev clip at one input SNR.

    Attributes:
        speaker: the `Speaker`.
        snr_db: the target input SNR.
        clean, noisy: float32 waveforms at 16 kHz, same length.
        noise_offset: where in the tail's noise residual the noise starts.
    """

    speaker: Speaker
    snr_db: float
    clean: np.ndarray
    noisy: np.ndarray
    noise_offset: int


@dataclasses.dataclass(frozen=True)
class DevSet:
    """The cross-speaker dev mixtures, the in-domain tail, and what training may use.

    Attributes:
        mixtures: every dev clip at every SNR (clip-major).
        train_speakers, dev_speakers: the split (`split_speakers`).
        tail_clean, tail_noisy: the training speaker's held-out tail (the
            in-domain row).
        train_noise: the noise residual of the pair's training part.
        sample_rate: 16000.
    """

    mixtures: tuple
    train_speakers: tuple
    dev_speakers: tuple
    tail_clean: np.ndarray
    tail_noisy: np.ndarray
    train_noise: np.ndarray
    sample_rate: int = SAMPLE_RATE

    def describe(self):
        """JSON-ready counts: speakers per part, corpus and sex, seconds, SNRs, the rule."""
        def counts(speakers):
            out = {}
            for s in speakers:
                key = f"{s.corpus}_{ {'F': 'female', 'M': 'male'}.get(s.sex, 'unknown')}"
                out[key] = out.get(key, 0) + 1
            return dict(sorted(out.items()))

        snrs = sorted({m.snr_db for m in self.mixtures})
        first = [m for m in self.mixtures if m.snr_db == snrs[0]]
        return {"train_speakers": counts(self.train_speakers),
                "dev_speakers": counts(self.dev_speakers),
                "dev_clips_per_snr": len(first),
                "dev_seconds_per_snr": round(sum(len(m.clean) for m in first)
                                             / self.sample_rate, 2),
                "snrs_db": snrs, "tail_seconds": round(len(self.tail_clean)
                                                       / self.sample_rate, 2),
                "speech_dbfs": SPEECH_DBFS,
                "rule": "per group (LibriSpeech F, LibriSpeech M, Speech Commands) the "
                        "round(dev_fraction * n) speakers with the smallest SHA-1 of "
                        "'<corpus>/<id>' are dev; see tfdl/denoise/devset.py"}


def _librispeech(folder):
    table = folder / "SPEAKERS.TXT"
    if not table.is_file():
        raise InputError(f"LibriSpeech speaker table not found: {table}")
    sexes = {}
    for line in table.read_text().splitlines():
        fields = [f.strip() for f in line.split("|")]
        if line.startswith(";") or len(fields) < 2:
            continue
        sexes[fields[0]] = fields[1]
    out = []
    for d in sorted(p for p in folder.iterdir() if p.is_dir()):
        files = tuple(sorted(d.rglob("*.flac")))
        if not files:
            continue
        if sexes.get(d.name) not in ("F", "M"):
            raise InputError(f"speaker {d.name} of {folder} has no sex in {table}")
        out.append(Speaker(f"{LIBRISPEECH}/{d.name}", LIBRISPEECH, sexes[d.name], files))
    return out


def _speech_commands(folder):
    files = {}
    for d in sorted(p for p in folder.iterdir() if p.is_dir()):
        if d.name.startswith("_") or d.name in FSDD_WORDS:
            continue
        for f in sorted(d.glob("*.wav")):
            if "_nohash_" in f.name:
                files.setdefault(f.name.split("_nohash_")[0], []).append(f)
    return [Speaker(f"{COMMANDS}/{k}", COMMANDS, "?", tuple(v)) for k, v in sorted(files.items())]


def find_speakers(speech_dir, keywords_dir):
    """Every speaker of LibriSpeech (`<speech_dir>/librispeech`) and of the Speech Commands
    word folders in `keywords_dir` (not the FSDD digits).

    Returns:
        A list of `Speaker`, LibriSpeech first, each in id order.

    Raises:
        InputError: a missing folder or speaker table, or no speakers found.
    """
    lib, kw = Path(speech_dir) / "librispeech", Path(keywords_dir)
    for folder in (lib, kw):
        if not folder.is_dir():
            raise InputError(f"cross-speaker set: folder not found: {folder}")
    speakers = _librispeech(lib) + _speech_commands(kw)
    for corpus, folder in ((LIBRISPEECH, lib), (COMMANDS, kw)):
        if not any(s.corpus == corpus for s in speakers):
            raise InputError(f"cross-speaker set: no {corpus} speakers in {folder}")
    return speakers


def _rank(speaker):
    return hashlib.sha1(speaker.id.encode()).hexdigest()


def split_speakers(speakers, dev_fraction=DEV_FRACTION):
    """Splits speakers into a training part and a dev part, per group (corpus and sex).

    Args:
        speakers: `Speaker`s (`find_speakers`).
        dev_fraction: share of each group in the dev part, in (0, 1).

    Returns:
        (train, dev): tuples of `Speaker`, each in id order.

    Raises:
        ValueError: `dev_fraction` out of range, or a group of one speaker (it
            cannot be in both parts).
    """
    if not 0.0 < dev_fraction < 1.0:
        raise ValueError(f"dev_fraction must be in (0, 1). Received: dev_fraction={dev_fraction}")
    groups = {}
    for s in speakers:
        groups.setdefault((s.corpus, s.sex), []).append(s)
    train, dev = [], []
    for key, group in sorted(groups.items()):
        if len(group) < 2:
            raise ValueError(f"each corpus and sex needs 2 speakers or more to be in both parts. "
                             f"Received: {len(group)} speaker in {key}")
        k = min(len(group) - 1, max(1, round(dev_fraction * len(group))))
        ranked = sorted(group, key=_rank)
        dev += ranked[:k]
        train += ranked[k:]
    return tuple(sorted(train, key=lambda s: s.id)), tuple(sorted(dev, key=lambda s: s.id))


def read_file(path, sample_rate=SAMPLE_RATE):
    """A mono file at `sample_rate` (soundfile for FLAC, soxr resampling), float32."""
    wave, rate = audio.read_audio(path)
    if rate != sample_rate:
        wave = audio.resample(wave, rate, sample_rate).numpy()
    return np.asarray(wave, np.float32)


def scale_to_dbfs(wave, dbfs=SPEECH_DBFS):
    """`wave` scaled to an RMS of `dbfs` dB relative to full scale."""
    rms = np.sqrt(np.mean(np.square(wave, dtype=np.float64)))
    if rms == 0:
        raise InputError("cross-speaker set: a silent speech clip")
    return (wave * (10 ** (dbfs / 20) / rms)).astype(np.float32)


def speaker_clean(speaker, max_seconds=MAX_SECONDS, sample_rate=SAMPLE_RATE):
    """One speaker's clean clip: its files joined whole while they fit in `max_seconds`
    (a first file longer than that is cut; 0: all of them), at `SPEECH_DBFS`."""
    cap = int(max_seconds * sample_rate) if max_seconds else None
    waves, total = [], 0
    for f in speaker.files:
        w = read_file(f, sample_rate)
        if cap and total + len(w) > cap:
            if not waves:
                waves, total = [w[:cap]], cap
            break
        waves.append(w)
        total += len(w)
    return scale_to_dbfs(np.concatenate(waves))


def noise_offset(key, clip_samples, noise_samples):
    """The fixed start of a clip's noise: CRC-32 of `key` modulo the room left (0 if none)."""
    room = noise_samples - clip_samples + 1
    return zlib.crc32(key.encode()) % room if room > 0 else 0


def mix(clean, noise, snr_db, offset=0):
    """`clean` plus noise from `noise[offset:]` (repeated if too short) at input SNR `snr_db`.

    The SNR is 10 log10(sum s^2 / sum n^2) over the whole clip; where the mixture
    would peak above `PEAK`, clean and noise are scaled down together.

    Returns:
        (clean, noisy): float32, the clean possibly scaled down with the noise.
    """
    clean = np.asarray(clean, np.float32)
    noise = np.asarray(noise, np.float32)
    need = offset + len(clean)
    if need > len(noise):
        noise = np.tile(noise, -(-need // len(noise)))
    n = noise[offset:need].astype(np.float64)
    s = clean.astype(np.float64)
    power = np.sum(n ** 2)
    if power == 0:
        raise ValueError("the noise segment is silent")
    n *= np.sqrt(np.sum(s ** 2) / power / 10 ** (snr_db / 10))
    peak = np.max(np.abs(s + n))
    g = PEAK / peak if peak > PEAK else 1.0
    return (s * g).astype(np.float32), ((s + n) * g).astype(np.float32)


def noise_residuals(clean_path, noisy_path, val_fraction=0.15):
    """The pair's noise residual (noisy - clean): (training part, validation tail), and the
    tail's clean and noisy waveforms."""
    clean, noisy, rate = data.load_pair(clean_path, noisy_path)
    if rate != SAMPLE_RATE:
        raise InputError(f"cross-speaker set: the pair must be {SAMPLE_RATE} Hz. Received: "
                         f"{rate} Hz ({clean_path})")
    cut = data.split_point(len(clean), val_fraction)
    return noisy[:cut] - clean[:cut], noisy[cut:] - clean[cut:], clean[cut:], noisy[cut:]


def find_roots(data_dir=None):
    """The LibriSpeech and Speech Commands folders (`speech/`, `keywords/`) of the data root
    `data_dir` (else `$TFDL_DATA_DIR`, then the Keras cache).

    Raises:
        InputError: either is missing.
    """
    from tfdl.data import find_dataset

    # Markers, so that a data root without these folders is not taken for one of them.
    return (find_dataset("speech", data_dir, marker="librispeech/SPEAKERS.TXT"),
            find_dataset("keywords", data_dir, marker="yes"))


def build(speech_dir, keywords_dir, clean_path, noisy_path, val_fraction=0.15, snrs=SNRS_DB,
          max_seconds=MAX_SECONDS, dev_fraction=DEV_FRACTION):
    """The `DevSet` from these folders and the training pair (all checked first).

    Args:
        speech_dir, keywords_dir: the `speech/` and `keywords/` data folders.
        clean_path, noisy_path: the sample-aligned training pair (16 kHz).
        val_fraction: the pair's held-out tail (as `Config.val_fraction`).
        snrs: input SNRs in dB.
        max_seconds: cap on each dev speaker's clip.
        dev_fraction: share of each speaker group in the dev part.

    Returns:
        A `DevSet`.
    """
    train_spk, dev_spk = split_speakers(find_speakers(speech_dir, keywords_dir), dev_fraction)
    train_noise, tail_noise, tail_clean, tail_noisy = noise_residuals(clean_path, noisy_path,
                                                                      val_fraction)
    mixtures = []
    for spk in dev_spk:
        clean = speaker_clean(spk, max_seconds)
        offset = noise_offset(spk.id, len(clean), len(tail_noise))
        for snr in snrs:
            c, x = mix(clean, tail_noise, snr, offset)
            mixtures.append(Mixture(spk, float(snr), c, x, offset))
    return DevSet(tuple(mixtures), train_spk, dev_spk, tail_clean, tail_noisy, train_noise)


def load(data_dir=None, val_fraction=0.15, **kwargs):
    """`build` from a data root holding `speech/`, `keywords/` and `denoise/` (`data_dir`,
    else `$TFDL_DATA_DIR`, then the Keras cache); `kwargs` go to `build`."""
    from tfdl.data import find_dataset

    speech_dir, keywords_dir = find_roots(data_dir)
    folder = find_dataset(data.DATASET, data_dir, marker=data.CLEAN)
    return build(speech_dir, keywords_dir, folder / data.CLEAN, folder / data.NOISY,
                 val_fraction, **kwargs)


def speaker_speech(speakers, sample_rate=SAMPLE_RATE):
    """Each speaker's whole speech (all its files joined, no cap) at `SPEECH_DBFS`: the
    training part's voices for training on many speakers."""
    return [speaker_clean(s, 0, sample_rate) for s in speakers]
