"""A run's working directory: one run at a time, config, history, metrics, figures, export.

* `Workdir(path)` checks the folder can be written (one-line errors for a file,
  a read-only folder, a path under a file), creates it and takes its lock: a
  second run into a busy workdir fails at once, naming the other process. The
  lock is `fcntl.flock` on `<workdir>/.lock`, so the kernel frees it when the
  process ends, a SIGKILL included.
* `write_config(cfg, restart)` writes `config.json`, and refuses to touch a
  workdir that holds the unfinished run (a `backup/` from a killed or
  interrupted run) of another config, unless `restart`; the same config
  resumes (`tfdl.train.fit`).
* Files are written atomically (temp file + rename, mode 0644 less the umask,
  like the PNGs beside them), and `metrics.json` is the last result a run
  writes, so a folder without it is an unfinished run (only `run.json` and
  `report.html`, its page, follow it: `tfdl.report`).
"""

import dataclasses
import fcntl
import json
import os
import shutil
import sys
import tempfile
from pathlib import Path

import numpy as np

from tfdl.errors import InputError

LOCK_FILE = ".lock"
_HELD = {}  # resolved workdir -> lock fd held by this process (a later run here reuses it)
BACKUP = "backup"
CHECKPOINT = Path("checkpoints", "best.weights.h5")  # the best weights, in a workdir
STAMP = "config.json"  # <workdir>/backup/config.json: the config the backup belongs to


def _default(o):
    if dataclasses.is_dataclass(o):
        return dataclasses.asdict(o)
    if isinstance(o, np.generic):
        return o.item()
    if isinstance(o, np.ndarray):
        return o.tolist()
    if isinstance(o, Path):
        return str(o)
    if isinstance(o, (set, tuple)):
        return list(o)
    raise TypeError(f"not JSON serialisable: {type(o).__name__}")


def _umask():
    mask = os.umask(0)
    os.umask(mask)
    return mask


def to_json(obj):
    """`obj` as it is written to JSON (dataclasses as dicts, tuples as lists)."""
    return json.loads(json.dumps(obj, default=_default, allow_nan=False))


def write_text(path, text):
    """Writes `text` (UTF-8) to `path` atomically, mode 0644 - umask; returns the path."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
    with os.fdopen(fd, "w", encoding="utf-8") as f:
        f.write(text)
    os.chmod(tmp, 0o666 & ~_umask())
    os.replace(tmp, path)
    return path


def write_json(path, obj):
    """Writes `obj` as indented JSON to `path` atomically (NaN refused), mode 0644 - umask."""
    write_text(path, json.dumps(obj, indent=2, default=_default, allow_nan=False) + "\n")


def check_writable(path, flag="--workdir"):
    """The folder `path` can be created and written: returns it; else a one-line InputError."""
    path = Path(path).expanduser()
    if path.exists() and not path.is_dir():
        raise InputError(f"{flag} is a file, not a folder: {path}")
    parent = path
    while not parent.exists():
        parent = parent.parent
    if not parent.is_dir():
        raise InputError(f"{flag} cannot be created: {parent} is a file ({flag}={path})")
    if not os.access(parent, os.W_OK | os.X_OK):
        what = "is not writable" if parent == path else f"cannot be created in {parent}"
        raise InputError(f"{flag} {what} (permission denied): {path}")
    return path


def _lock(root):
    """Takes `<root>/.lock` for this process (released when it ends), or InputError."""
    key = root.resolve()
    if key in _HELD:
        return _HELD[key]
    fd = os.open(root / LOCK_FILE, os.O_RDWR | os.O_CREAT, 0o666 & ~_umask())
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError:
        owner = os.read(fd, 200).decode(errors="replace").strip() or "another process"
        os.close(fd)
        raise InputError(f"workdir {root} is in use by another run ({owner}); wait for it to "
                         f"finish or pass another --workdir") from None
    os.ftruncate(fd, 0)
    os.write(fd, f"pid {os.getpid()}: {' '.join(sys.argv)[:150]}".encode())
    _HELD[key] = fd
    return fd


class Workdir:
    """Paths and writers for one run's folder, held by this process.

    Args:
        path: the folder; created if missing.
        lock: take the folder's lock (sub-folders of a locked run need not).

    Raises:
        InputError: the folder cannot be written, or another run holds it.
    """

    def __init__(self, path, lock=True):
        self.root = check_writable(path)
        self.top = self.root  # the folder of the whole run (a `sub` folder's parent run)
        try:
            self.root.mkdir(parents=True, exist_ok=True)
            self._lock_fd = _lock(self.root) if lock else None
            # A re-run into the same folder must not look finished before it is, nor show
            # the last run's page.
            for name in ("metrics.json", "run.json", "report.html"):
                (self.root / name).unlink(missing_ok=True)
        except OSError as e:  # what os.access could not tell (read-only file system, ...)
            raise InputError(f"--workdir cannot be written: {self.root} ({e.strerror})") from None

    def sub(self, *parts):
        """A sub-folder's `Workdir` (a fold, an ensemble member), under this run's lock."""
        child = Workdir(self.root.joinpath(*parts), lock=False)
        child.top = self.top
        return child

    def path(self, *parts) -> Path:
        p = self.root.joinpath(*parts)
        p.parent.mkdir(parents=True, exist_ok=True)
        return p

    @property
    def tensorboard(self) -> Path:
        return self.root / "tensorboard"

    @property
    def export(self) -> Path:
        return self.root / "export"

    @property
    def checkpoint(self) -> Path:
        return self.path(*CHECKPOINT.parts)

    @property
    def backup(self) -> Path:
        return self.root / BACKUP

    def write_json(self, name, obj) -> Path:
        p = self.root / name
        write_json(p, obj)
        return p

    def unfinished(self):
        """The backup folders of unfinished training under this workdir (folds, members)."""
        return sorted(p for p in self.root.rglob(BACKUP) if p.is_dir())

    def write_config(self, cfg, restart=False) -> Path:
        """Writes `config.json` unless an unfinished run of another config is here.

        An unfinished run (a `backup/` left by a killed or interrupted run) of the
        same config resumes from its last finished epoch; of another config, it is
        refused, touching nothing, unless `restart` deletes it first.

        Raises:
            InputError: an unfinished run of another config, without `restart`.
        """
        config = to_json(cfg)
        backups = self.unfinished()
        if restart:
            for b in backups:
                shutil.rmtree(b)
        else:
            for b in backups:
                stamp = b / STAMP
                old = json.loads(stamp.read_text()) if stamp.is_file() else None
                if old != config:
                    what = ("of another config" if old is not None else
                            "whose config is unknown")
                    raise InputError(f"{self.root} holds an unfinished run {what} ({b}); "
                                     f"add --restart to start over, or pass another "
                                     f"--workdir")
        return self.write_json("config.json", config)

    def config(self):
        """The whole run's config as `write_config` wrote it (None if it did not)."""
        path = self.top / "config.json"
        return json.loads(path.read_text()) if path.is_file() else None
