"""A run's working directory: config, history, metrics, figures, logs, export.

Files are written atomically (temp file + rename), and `metrics.json` is the
last thing a run writes, so a folder without it is an unfinished run.
"""

import dataclasses
import json
import os
import tempfile
from pathlib import Path

import numpy as np


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


def write_json(path, obj):
    """Writes `obj` as indented JSON to `path` atomically (NaN refused)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    text = json.dumps(obj, indent=2, default=_default, allow_nan=False)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
    with os.fdopen(fd, "w") as f:
        f.write(text + "\n")
    os.replace(tmp, path)


class Workdir:
    """Paths and writers for one run's folder.

    Args:
        path: the folder; created if missing.
    """

    def __init__(self, path):
        self.root = Path(path).expanduser()
        self.root.mkdir(parents=True, exist_ok=True)
        # A re-run into the same folder must not look finished before it is.
        (self.root / "metrics.json").unlink(missing_ok=True)

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
        return self.path("checkpoints", "best.weights.h5")

    @property
    def backup(self) -> Path:
        return self.root / "backup"

    def write_json(self, name, obj) -> Path:
        p = self.root / name
        write_json(p, obj)
        return p
