"""Finding datasets on disk: `--data_dir`, then `$TFDL_DATA_DIR`, then the Keras cache.

Public datasets are downloaded into `~/.keras/datasets` on first use with
`keras.utils.get_file`, as `keras.datasets` does. Set `TFDL_NO_DOWNLOAD=1`
(tests and CI do) to turn a missing dataset into an error instead.
"""

import os
from pathlib import Path

from tfdl.errors import InputError

ENV_VAR = "TFDL_DATA_DIR"


def cache_dir() -> Path:
    """The Keras datasets cache, `~/.keras/datasets` (or under `$KERAS_HOME`)."""
    base = os.environ.get("KERAS_HOME", os.path.join(os.path.expanduser("~"), ".keras"))
    return Path(base) / "datasets"


def find_dataset(name: str, data_dir=None, marker: str = "", origin: str = "",
                 extract_subdir: str = "") -> Path:
    """Locates the folder of dataset `name`.

    Search order: `data_dir` (the app's `--data_dir`; either the dataset folder
    itself or a parent holding `name/`), `$TFDL_DATA_DIR/name`, the Keras cache
    `~/.keras/datasets/name`, and finally a download of `origin` into the cache.

    Args:
        name: dataset folder name, e.g. "fsdd".
        data_dir: explicit folder from a flag, or None.
        marker: relative path that must exist inside the dataset folder
            (e.g. "recordings"); an empty string accepts any existing folder.
        origin: URL of an archive to download when nothing is found, or "" if
            the dataset cannot be downloaded.
        extract_subdir: path inside the extracted archive that becomes the
            dataset folder (e.g. "free-spoken-digit-dataset-master").

    Returns:
        The dataset folder.

    Raises:
        InputError: if the folder cannot be found and not downloaded.
    """
    def ok(p: Path) -> bool:
        return p.is_dir() and (p / marker).exists()

    if data_dir:
        d = Path(data_dir).expanduser()
        if not d.exists():
            raise InputError(f"--data_dir does not exist: {d}")
        for cand in (d, d / name):
            if ok(cand):
                return cand
        raise InputError(f"no {name} dataset in --data_dir={d} (expected {d / name / marker} "
                         f"or {d / marker})")
    env = os.environ.get(ENV_VAR)
    if env:
        cand = Path(env).expanduser() / name
        if ok(cand):
            return cand
    cand = cache_dir() / name
    if ok(cand):
        return cand
    if not origin or os.environ.get("TFDL_NO_DOWNLOAD"):
        where = f"${ENV_VAR}/{name}" if env else f"{cand}"
        raise InputError(f"{name} dataset not found (looked in {where}); pass --data_dir or "
                         f"set {ENV_VAR}")
    return _download(name, origin, marker, extract_subdir)


def _download(name, origin, marker, extract_subdir):
    """`find_dataset`'s last resort: downloads and extracts `origin` into the Keras cache and
    links `<cache>/name` to the dataset folder in it (arguments as there)."""
    import keras  # Deferred: only a download needs it.

    archive = keras.utils.get_file(fname=f"{name}.zip", origin=origin, extract=True,
                                   cache_dir=str(cache_dir().parent), cache_subdir="datasets")
    extracted = Path(archive).parent
    root = extracted / extract_subdir if extract_subdir else extracted
    if not (root / marker).exists():
        # Keras >= 3.4 extracts next to the archive under "<fname>_extracted".
        alt = Path(str(archive) + "_extracted")
        alt = alt / extract_subdir if extract_subdir else alt
        if (alt / marker).exists():
            root = alt
    if not (root / marker).exists():
        raise InputError(f"downloaded {origin} but found no {marker} in {root}")
    target = cache_dir() / name
    if not target.exists():
        target.symlink_to(root.resolve(), target_is_directory=True)
    return target
