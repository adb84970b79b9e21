"""Shared fixtures: tiny synthetic WAVs, small stand-in datasets, and the real-data folder.

The default suite runs anywhere (no `../shared`, no network): tests use the
FSDD recordings in `tests/assets/` and stand-in datasets built here in a
temporary folder (`fsdd_assets`, `mini_denoise`, `voices_root`, `mini_vision`,
`mini_phonemes`). Tests that need whole real datasets carry
`@pytest.mark.dataset(name, ...)` and take the `data_root` fixture: with
`$TFDL_DATA_DIR` set they run on it (a missing dataset fails the test, it
never skips); without it they run on the Keras cache when it holds the
datasets, else they are skipped, and the run ends with one line counting them.
"""

import atexit
import os
import shutil
import tempfile
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
# No machine's cached CPU settings (`tfdl.speed`): tests and the apps they start run with
# TensorFlow's own oneDNN default, the same on every machine.
os.environ["TFDL_CACHE_DIR"] = tempfile.mkdtemp(prefix="tfdl-cache-")
atexit.register(shutil.rmtree, os.environ["TFDL_CACHE_DIR"], True)
# Tests never download: a missing dataset is an error, not a network call.
os.environ["TFDL_NO_DOWNLOAD"] = "1"

import numpy as np  # noqa: E402
import pytest  # noqa: E402
import tensorflow as tf  # noqa: E402


def write_wav(path, audio, sample_rate):
    """Writes float audio (mono [n] or [n, channels]) as 16-bit PCM WAV."""
    audio = np.asarray(audio, np.float32)
    if audio.ndim == 1:
        audio = audio[:, None]
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    tf.io.write_file(str(path), tf.audio.encode_wav(audio, sample_rate))
    return Path(path)


def sine(freq, seconds, sample_rate, amplitude=0.5):
    t = np.arange(int(seconds * sample_rate)) / sample_rate
    return (amplitude * np.sin(2 * np.pi * freq * t)).astype(np.float32)


@pytest.fixture
def wav_factory(tmp_path):
    """Returns `make(name, audio, sample_rate)` writing WAVs into tmp_path."""

    def make(name, audio, sample_rate=8000):
        return write_wav(tmp_path / name, audio, sample_rate)

    return make


def _baseline_flags():
    from absl import flags

    return frozenset(flags.FLAGS)


BASELINE_FLAGS = _baseline_flags()  # absl's own (logging, help): every app keeps these


def load_app(name):
    """Imports `apps.<name>` (or `tuning.<name>`) with only its own absl flags defined.

    absl flags are process-global, and apps define flags with the same names
    (`--config`, `--workdir`, ...) but different choices and defaults. Each app
    runs alone in its own process; a test process imports several, so before
    importing one app this removes every app module and every flag absl did not
    define itself.
    Call it inside a test or fixture, never at module import (collection
    imports every test module before any test runs).
    """
    import importlib
    import sys

    from absl import flags

    target = name if "." in name else f"apps.{name}"
    for mod in [m for m in sys.modules if m.startswith(("apps.", "tuning.", "benchmarks."))]:
        del sys.modules[mod]
    for flag in [f for f in flags.FLAGS if f not in BASELINE_FLAGS]:
        delattr(flags.FLAGS, flag)
    flags.FLAGS.unparse_flags()
    return importlib.import_module(target)


def short_recipe(monkeypatch, configs, name, epochs):
    """Makes `configs.get(name)` give that named config with `epochs` epochs for this test
    (a teacher trained inside a student's test run, in seconds)."""
    named = configs.get

    def get(n):
        cfg = named(n)
        if n == name:
            cfg.epochs = epochs
        return cfg

    monkeypatch.setattr(configs, "get", get)


def app_error(name, *args):
    """Runs `python -m apps.<name> ARGS` in this process, for a command line that must fail.

    Each case in a subprocess costs a TensorFlow import (~5 s); one subprocess
    per app shows the real exit status and the absence of TensorFlow's
    start-up noise, and the other bad command lines of that app go through
    the same `cli.run` here. Returns (exit status, stderr lines).
    """
    import contextlib
    import io
    import sys

    from tfdl import cli

    module = load_app(name)
    err, argv = io.StringIO(), sys.argv
    sys.argv = [f"apps/{name}.py", *args]
    try:
        with contextlib.redirect_stderr(err), pytest.raises(SystemExit) as e:
            cli.run(module.main)
    finally:
        sys.argv = argv
    return e.value.code, err.getvalue().strip().splitlines()


def parse_app(name, *args):
    """`load_app(name)`, then its flags parsed from `args` as a command line would be."""
    from tfdl import cli

    module = load_app(name)
    cli.parse_flags([name, *args])
    return module


# ----------------------------------------------------------------------------- real data

# Folder names under a data root (`../shared/data`, `$TFDL_DATA_DIR`, `~/.keras/datasets`).
DATASETS = ("fsdd", "keywords", "denoise", "phonemes", "mnist", "notmnist", "speech")
LEFT_REASON = "needs TFDL_DATA_DIR"
# Read once, before any test's monkeypatch; a relative path is taken from the invocation folder.
_DATA_DIR_ENV = os.environ.get("TFDL_DATA_DIR", "")
_DATA_DIR = Path(_DATA_DIR_ENV).expanduser().resolve() if _DATA_DIR_ENV else None


def _dataset_names(node):
    """The dataset names of every `dataset` marker on a test (module, class and function)."""
    return [n for m in node.iter_markers("dataset") for n in m.args]


def pytest_runtest_setup(item):
    # The marker and the fixture go together: a marked test without `data_root` would run
    # (and fail on a missing folder) instead of being left to TFDL_DATA_DIR.
    if item.get_closest_marker("dataset") and "data_root" not in item.fixturenames:
        pytest.fail(f"{item.nodeid} is marked dataset(...) but does not take the data_root "
                    f"fixture", pytrace=False)


@pytest.fixture
def data_root(request):
    """The real-data root holding the datasets named by the test's `dataset` marker.

    `$TFDL_DATA_DIR` when set: each named dataset must be a folder there, or the
    test fails (CI never silently skips). Unset: the Keras cache
    (`~/.keras/datasets`, or under `$KERAS_HOME`) when it holds all of them,
    else the test is skipped ("needs TFDL_DATA_DIR").
    """
    from tfdl.data import cache_dir

    names = _dataset_names(request.node)
    if not names:
        pytest.fail(f"{request.node.nodeid} uses data_root without @pytest.mark.dataset(...) "
                    f"naming the datasets it needs (any of {', '.join(DATASETS)})",
                    pytrace=False)
    unknown = sorted(set(names) - set(DATASETS))
    if unknown:
        pytest.fail(f"{request.node.nodeid}: unknown dataset name(s) {unknown} in "
                    f"@pytest.mark.dataset; known: {', '.join(DATASETS)}", pytrace=False)
    request.node.user_properties.append(("datasets", tuple(names)))
    if _DATA_DIR is not None:
        missing = [str(_DATA_DIR / n) for n in names if not (_DATA_DIR / n).is_dir()]
        if missing:
            pytest.fail(f"TFDL_DATA_DIR={_DATA_DIR_ENV} lacks dataset folder(s): "
                        f"{', '.join(missing)}", pytrace=False)
        return _DATA_DIR
    cache = cache_dir()
    if all((cache / n).is_dir() for n in names):
        return cache
    pytest.skip(f"{LEFT_REASON} (or {cache}) holding {', '.join(n + '/' for n in names)}")


def pytest_terminal_summary(terminalreporter):
    """One line saying how many dataset tests were left to TFDL_DATA_DIR, and which folders."""
    left = [r for r in terminalreporter.stats.get("skipped", [])
            if "dataset" in r.keywords and LEFT_REASON in str(r.longrepr)]
    if not left:
        return
    names = sorted({n for r in left for k, v in r.user_properties if k == "datasets" for n in v},
                   key=DATASETS.index)
    terminalreporter.write_line(
        f"{len(left)} dataset test{'s' if len(left) != 1 else ''} left to TFDL_DATA_DIR "
        f"(set it to a folder holding {', '.join(n + '/' for n in names)} to run them)")


# ----------------------------------------------------------------------------- stand-in datasets

ASSETS = Path(__file__).resolve().parent / "assets"
# The FSDD assets: take 0 of each digit by two speakers (tests/assets/ATTRIBUTION.md).
ASSET_SPEAKERS = ("george", "lucas")
# Frames of the mini phoneme corpus's utterances arctic_a0001 ... (2 ms frames).
MINI_PHONEME_FRAMES = (400, 360, 440, 380, 420, 340, 460, 390)
MINI_PHONES = ("aa", "iy", "k", "m", "n", "s", "sil", "t")
MINI_VISION_PER_CLASS = 60  # 600 images: a 480/120 stratified split


@pytest.fixture(scope="session")
def mini_root(tmp_path_factory):
    """A session folder laid out like a data root; the fixtures below fill it."""
    return tmp_path_factory.mktemp("mini_data")


@pytest.fixture(scope="session")
def tiny_fsdd(mini_root):
    """A synthetic FSDD folder: 2 speakers x 10 digits x 7 takes of 0.3 s tones (a pitch per
    digit), 8 kHz; takes 0-4 are the official test split."""
    root = mini_root / "tiny_fsdd"
    rec = root / "recordings"
    rng = np.random.default_rng(0)
    for s, speaker in enumerate(("amy", "ben")):
        for d in range(10):
            for t in range(7):
                x = sine(200 + 150 * d + 20 * s, 0.3, 8000) + rng.normal(0, 0.01, 2400)
                write_wav(rec / f"{d}_{speaker}_{t}.wav", x.astype(np.float32), 8000)
    return root


@pytest.fixture(scope="session")
def fsdd_assets(mini_root):
    """An FSDD dataset folder (`fsdd/recordings/`) holding the 20 real asset recordings.

    A copy of tests/assets/fsdd, so a test that writes into it cannot touch the repository.
    """
    src = ASSETS / "fsdd" / "recordings"
    wavs = sorted(src.glob("*.wav"))
    expected = sorted(f"{d}_{s}_0.wav" for s in ASSET_SPEAKERS for d in range(10))
    assert [p.name for p in wavs] == expected, (
        f"{src} must hold the 20 FSDD recordings listed in tests/assets/ATTRIBUTION.md "
        f"(are *.wav git-ignored?)")
    dst = mini_root / "fsdd"
    shutil.copytree(src, dst / "recordings")
    return dst


def _read_pcm16(path):
    from scipy.io import wavfile

    rate, wave = wavfile.read(path)
    assert wave.dtype == np.int16, path
    return wave.astype(np.float32) / 32768.0, rate


def crackle(n, sample_rate, seed, clicks_per_second=40.0):
    """Impulsive "chip-eating" noise: random decaying crackle bursts over a faint hiss."""
    rng = np.random.default_rng(seed)
    out = 0.003 * rng.standard_normal(n)
    burst = int(0.006 * sample_rate)
    decay = np.exp(-np.arange(burst) / (0.0015 * sample_rate))
    for start in rng.integers(0, n - burst, int(clicks_per_second * n / sample_rate)):
        out[start:start + burst] += rng.uniform(0.05, 0.4) * decay * rng.standard_normal(burst)
    return out.astype(np.float32)


VOICES_RATE = 16000  # `voices_root`'s rate
SPEAKERS_TXT = """; a LibriSpeech-style table
;ID  |SEX| SUBSET           |MINUTES| NAME
{rows}
"""


def voice(seconds, pitch, rate, seed):
    """A voiced-speech stand-in: harmonics of `pitch` under a syllable-rate envelope."""
    t = np.arange(int(seconds * rate)) / rate
    env = np.clip(np.sin(2 * np.pi * 3.0 * t), 0, None) ** 2
    x = sum(np.sin(2 * np.pi * pitch * k * t + k) / k for k in range(1, 6))
    x = env * x + np.random.default_rng(seed).normal(0, 0.003, len(t))
    return (0.2 * x / np.abs(x).max()).astype(np.float32)


@pytest.fixture(scope="session")
def voices_root(tmp_path_factory):
    """A data root for the cross-speaker sets (`tfdl.denoise.devset`): `speech/librispeech`
    (3 women, 3 men, FLAC, one 2.5 s file each),
    `keywords/` (5 Speech Commands speakers in two word folders, one folder at 8 kHz;
    FSDD digit folders and `_background_noise_` that must be skipped) and `denoise/`
    (a 6 s sample-aligned pair with crackle)."""
    import soundfile as sf

    root = tmp_path_factory.mktemp("voices_root")
    lib = root / "speech" / "librispeech"
    rows = []
    for i, (spk, sex) in enumerate([("11", "F"), ("12", "F"), ("13", "F"), ("21", "M"),
                                    ("22", "M"), ("23", "M")]):
        (lib / spk / "100").mkdir(parents=True)
        sf.write(lib / spk / "100" / f"{spk}-100-0000.flac",
                 voice(2.5, 120 + 20 * i, VOICES_RATE, i), VOICES_RATE, subtype="PCM_16")
        rows.append(f"{spk:<5}| {sex} | train-clean-100  | 25.00 | Reader {spk}")
    (lib / "SPEAKERS.TXT").write_text(SPEAKERS_TXT.format(rows="\n".join(rows)))
    kw = root / "keywords"
    for j, spk in enumerate(["aaaa0001", "bbbb0002", "cccc0003", "dddd0004", "eeee0005"]):
        for word, rate in (("yes", VOICES_RATE), ("bed", 8000)):
            for take in range(2):
                write_wav(kw / word / f"{spk}_nohash_{take}.wav",
                          voice(0.8, 150 + 10 * j + take, rate, 10 * j + take), rate)
    write_wav(kw / "zero" / "george_nohash_0.wav", sine(300, 0.5, 8000), 8000)
    write_wav(kw / "_background_noise_" / "white_noise.wav", sine(300, 1.0, VOICES_RATE),
              VOICES_RATE)
    clean = np.concatenate([voice(1.5, 110, VOICES_RATE, 99 + k) for k in range(4)])
    noisy = clean + crackle(len(clean), VOICES_RATE, seed=7)
    write_wav(root / "denoise" / "train_clean_male.wav", clean, VOICES_RATE)
    write_wav(root / "denoise" / "train_dirty_male.wav", noisy, VOICES_RATE)
    return root


@pytest.fixture(scope="session")
def mini_denoise(mini_root, fsdd_assets):
    """A denoise folder laid out like the real one, 16 kHz mono PCM16.

    `train_clean_male.wav`: george's ten asset recordings resampled to 16 kHz
    and joined (4.9 s of speech); `train_dirty_male.wav`: the same plus
    synthetic crackle (sample-aligned, about 3 dB SNR). `test_01_x.wav` /
    `test_02_x.wav`: another speaker (lucas, digits 0-4 / 5-9) with other
    crackle, 2.4 s / 3.4 s.
    """
    from scipy.signal import resample_poly

    rate = 16000

    def speech(speaker, digits):
        waves = [_read_pcm16(fsdd_assets / "recordings" / f"{d}_{speaker}_0.wav")
                 for d in digits]
        assert all(r == 8000 for _, r in waves)
        return np.concatenate([resample_poly(w, 2, 1) for w, _ in waves]).astype(np.float32)

    def noisy(clean, seed, snr_db=3.0):
        noise = crackle(len(clean), rate, seed)
        noise *= np.sqrt(np.mean(clean ** 2) / np.mean(noise ** 2) / 10 ** (snr_db / 10))
        return np.clip(clean + noise, -1, 1)

    folder = mini_root / "denoise"
    clean = np.clip(speech("george", range(10)), -1, 1)
    write_wav(folder / "train_clean_male.wav", clean, rate)
    write_wav(folder / "train_dirty_male.wav", noisy(clean, 1), rate)
    write_wav(folder / "test_01_x.wav", noisy(speech("lucas", range(5)), 2), rate)
    write_wav(folder / "test_02_x.wav", noisy(speech("lucas", range(5, 10)), 3), rate)
    return folder


def _glyphs(per_class, seed, transpose=False):
    """uint8 [10 * per_class, 28, 28] images of two class-placed bars, shifted and noisy."""
    rng = np.random.default_rng(seed)
    base = np.zeros((10, 28, 28), np.float32)
    for c in range(10):
        base[c, 3 + 2 * c:5 + 2 * c, 4:24] = 255  # a row bar whose height names the class
        base[c, 4:24, 22 - 2 * c:24 - 2 * c] = 200  # and a column bar
    if transpose:
        base = base.transpose(0, 2, 1)
    labels = rng.permutation(np.repeat(np.arange(10), per_class)).astype(np.uint8)
    images = np.stack([np.roll(base[y], tuple(rng.integers(-2, 3, 2)), axis=(0, 1))
                       for y in labels])
    images = images + rng.uniform(0, 40, images.shape)
    return np.clip(images, 0, 255).astype(np.uint8), labels


@pytest.fixture(scope="session")
def mini_vision(mini_root):
    """A data root holding `mnist/` and `notmnist/`: 600 synthetic 28x28 images each.

    Only the 10k-test IDX pair, as in ../shared/data (the loader splits it
    stratified: 480 train / 120 test); 60 images per class.
    """
    from tfdl.vision import idx

    for name, seed in (("mnist", 0), ("notmnist", 1)):
        x, y = _glyphs(MINI_VISION_PER_CLASS, seed, transpose=name == "notmnist")
        idx.write_idx(mini_root / name / "t10k-images-idx3-ubyte.gz", x)
        idx.write_idx(mini_root / name / "t10k-labels-idx1-ubyte.gz", y)
    return mini_root


def make_phoneme_corpus(root, frames=MINI_PHONEME_FRAMES, phones=MINI_PHONES, seed=0):
    """An ARCTIC-layout HTK corpus: `mfcc/arctic_a000N.mfcc` + Festival `lab/arctic_a000N.lab`.

    13-dim MFCC_E_C_K features (compressed, checksummed, big-endian) per 2 ms
    frame, drawn around a mean per phone; each utterance is sil, 5-9 phone
    segments of 10-60 frames, sil; labels end exactly at the last frame.
    """
    from tfdl.phonemes import htk

    rng = np.random.default_rng(seed)
    means = {p: rng.normal(size=13) * 3 for p in phones}
    speech = [p for p in phones if p != "sil"]
    (root / "mfcc").mkdir(parents=True, exist_ok=True)
    (root / "lab").mkdir(parents=True, exist_ok=True)
    for i, n in enumerate(frames, start=1):
        inner = []
        while sum(inner) < n - 100:
            inner.append(int(rng.integers(10, 61)))
        inner[-1] -= sum(inner) - (n - 100)  # 50 frames of sil at each end
        segs = [("sil", 50)] + [(str(rng.choice(speech)), k) for k in inner] + \
            [("sil", 50)]
        feats = np.concatenate([means[p] + rng.normal(size=(k, 13)) for p, k in segs])
        assert len(feats) == n
        htk.write(root / "mfcc" / f"arctic_a{i:04d}.mfcc", feats, 0.002, "MFCC_E_C_K")
        lines, end = ["separator ;", "nfields 1", "#"], 0
        for p, k in segs:
            end += k
            lines.append(f"\t{end * 0.002:.3f}\t26\t{p} ; score -1.0 ;")
        (root / "lab" / f"arctic_a{i:04d}.lab").write_text("\n".join(lines) + "\n")
    return root


@pytest.fixture(scope="session")
def mini_phonemes(mini_root):
    """A `phonemes/` folder of 8 synthetic HTK utterances (frames: MINI_PHONEME_FRAMES)."""
    return make_phoneme_corpus(mini_root / "phonemes")


@pytest.fixture(scope="module")
def mini6(mini_phonemes, tmp_path_factory):
    """The first 6 utterances of `mini_phonemes` (3 train, 1 validation, 2 test)."""
    root = tmp_path_factory.mktemp("mini6") / "phonemes"
    for sub, suffix in (("mfcc", ".mfcc"), ("lab", ".lab")):
        (root / sub).mkdir(parents=True)
        for i in range(1, 7):
            shutil.copy(mini_phonemes / sub / f"arctic_a{i:04d}{suffix}", root / sub)
    return root
