"""The parts of a report page: a finished run's files, and blocks that embed them.

`Run` reads a run's folder (its JSON files, once). `Page` is what a task's
`report.py` fills: headline metrics (with their goals), sections of blocks
(figures, sounds, tables, text), and nothing else. Every image becomes a
`data:image/png` URI and every sound a `data:audio/flac` one (16-bit FLAC:
about half a WAV's size, played by every current browser), so the page needs
no other file and no network. Sounds are capped: `MAX_CLIP_SECONDS` per clip
and `MAX_AUDIO_BYTES` per page; the page says what was trimmed or left out.
"""

import base64
import io
import json
import struct
from pathlib import Path

MAX_CLIP_SECONDS = 30.0
MAX_AUDIO_BYTES = 12 * 2 ** 20  # encoded sound per page, before base64 (x 4/3)


class Run:
    """A finished run's folder.

    Args:
        root: the folder.
        task: the task that wrote it (`tfdl.report.TASKS`).
        info: its `run.json` (command line, environment), or None.
    """

    def __init__(self, root, task, info=None):
        self.root = Path(root)
        self.task = task
        self.info = info
        self.metrics = self.json("metrics.json") or {}
        self.config = self.json("config.json")

    def json(self, *parts):
        """The parsed JSON file at `root/parts`, or None if there is none."""
        path = self.root.joinpath(*parts)
        return json.loads(path.read_text()) if path.is_file() else None

    def exists(self, *parts):
        return self.root.joinpath(*parts).exists()

    def sub(self, *parts):
        """A sub-folder of the run (a fold, a member) as a `Run` of the same task."""
        return Run(self.root.joinpath(*parts), self.task)

    def folders(self, pattern):
        """Sub-folders matching `pattern`, sorted by name."""
        return sorted(p for p in self.root.glob(pattern) if p.is_dir())


def png_size(data):
    """(width, height) from a PNG's header, or (None, None)."""
    if data[:8] != b"\x89PNG\r\n\x1a\n" or data[12:16] != b"IHDR":
        return None, None
    return struct.unpack(">II", data[16:24])


def encode_audio(path, max_seconds=MAX_CLIP_SECONDS):
    """A sound file as mono 16-bit FLAC bytes, cut to `max_seconds`.

    Returns:
        (FLAC bytes, seconds kept, seconds in the file).
    """
    import soundfile as sf

    wave, rate = sf.read(str(path), dtype="float32", always_2d=True)
    wave = wave.mean(axis=1)
    total = len(wave) / rate
    wave = wave[:int(max_seconds * rate)]
    buf = io.BytesIO()
    sf.write(buf, wave.clip(-1, 1), rate, format="FLAC", subtype="PCM_16")
    return buf.getvalue(), len(wave) / rate, total


def _uri(mime, data):
    return f"data:{mime};base64,{base64.b64encode(data).decode('ascii')}"


class Page:
    """What a task's `report.py` fills for one run.

    Attributes:
        run: the `Run`.
        title: the page's title (the task module sets it).
        headline: rows of `metric`.
        goal_source: where the goals come from (a doc), shown under the headline.
        sections: top-level `section` blocks, in page order.
        config: the config the page shows (default: the run's config.json).
        used: resolved paths of the files already embedded (others are listed at the end).
    """

    def __init__(self, run):
        self.run = run
        self.title = f"{run.task}: {run.root.name}"
        self.headline = []
        self.goal_source = ""
        self.sections = []
        self.config = run.config
        self.used = set()
        self._audio_bytes = 0
        self._ids = set()

    def _path(self, name, run=None):
        path = (run or self.run).root / name
        self.used.add(path.resolve())
        return path

    def _file(self, path):
        return path.relative_to(self.run.root).as_posix()

    def metric(self, name, value, fmt="{}", goal="", met=None):
        """A headline row; `value` None shows as "-"; `met` True/False/None (no goal)."""
        text = "-" if value is None else fmt.format(value)
        self.headline.append({"name": name, "value": text, "goal": goal, "met": met})

    def export_latency(self, metrics):
        """The classifier export's latency row (SavedModel / TFLite), when the run measured it."""
        if "tflite_latency_ms_per_clip" in metrics:
            self.metric("export latency (SavedModel / TFLite)",
                        (metrics["export_latency_ms_per_clip"],
                         metrics["tflite_latency_ms_per_clip"]),
                        "{0[0]:.2f} / {0[1]:.2f} ms per clip")
        if "int8_tflite_latency_ms_per_clip" in metrics:
            self.metric("int8 TFLite (test accuracy, latency)",
                        (metrics["int8_accuracy"], metrics["int8_tflite_latency_ms_per_clip"]),
                        "{0[0]:.2%}, {0[1]:.2f} ms per clip")

    def figure(self, name, caption="", run=None, narrow=False):
        """A PNG of `run` (default: the page's run) embedded, or a "missing figure" line;
        `narrow`: at most about half the page wide (a square figure on a wide screen)."""
        path = self._path(name, run)
        block = {"kind": "figure", "file": self._file(path), "src": None, "caption": caption,
                 "narrow": narrow}
        if path.is_file():
            data = path.read_bytes()
            block["width"], block["height"] = png_size(data)
            block["src"] = _uri("image/png", data)
        return block

    def audio(self, name, label, run=None, max_seconds=MAX_CLIP_SECONDS):
        """A sound file embedded as FLAC with a player (trimmed to `max_seconds`, or left out
        once the page holds `MAX_AUDIO_BYTES` of sound)."""
        path = self._path(name, run)
        block = {"kind": "audio", "file": self._file(path), "label": label, "src": None,
                 "mime": "audio/flac", "note": ""}
        if not path.is_file():
            block["note"] = f"missing sound: {block['file']}"
            return block
        if self._audio_bytes >= MAX_AUDIO_BYTES:
            block["note"] = (f"{block['file']} not embedded: the page already holds "
                             f"{MAX_AUDIO_BYTES // 2 ** 20} MB of sound")
            return block
        data, kept, total = encode_audio(path, max_seconds)
        self._audio_bytes += len(data)
        block["src"] = _uri("audio/flac", data)
        block["seconds"] = kept
        if kept < total:
            block["note"] = f"the first {kept:.0f} s of {total:.1f} s"
        return block

    def listen(self, clips, figure):
        """Players beside a figure (a sound's spectrograms): side by side on a wide screen."""
        return {"kind": "listen", "clips": clips, "figure": figure}

    def cards(self, cards):
        """Small cards, each some lines of text above a player: `[(lines, audio block)]`."""
        return {"kind": "cards", "cards": [{"lines": lines, "clip": clip} for lines, clip in cards]}

    def table(self, header, rows, caption="", highlight=()):
        """A table; numbers are right-aligned and floats shown to 4 significant digits."""
        return {"kind": "table", "header": list(header), "rows": [list(r) for r in rows],
                "caption": caption, "highlight": list(highlight)}

    def text(self, text, note=False):
        return {"kind": "text", "text": text, "note": note}

    def pre(self, text):
        return {"kind": "pre", "text": text}

    def section(self, title, blocks, collapsed=False, level=2):
        """A titled group of blocks; `collapsed`: a closed `<details>` (folds, members, trials)."""
        base = "".join(c if c.isalnum() else "-" for c in title.lower()).strip("-") or "s"
        ident, n = base, 1
        while ident in self._ids:
            n += 1
            ident = f"{base}-{n}"
        self._ids.add(ident)
        return {"kind": "section", "title": title, "blocks": [b for b in blocks if b],
                "collapsed": collapsed, "level": level, "id": ident}

    def add(self, title, blocks, collapsed=False):
        """Appends a top-level section (skipped when it has no blocks)."""
        blocks = [b for b in blocks if b]
        if blocks:
            self.sections.append(self.section(title, blocks, collapsed))

    def history_table(self, history, caption="last epoch"):
        """The last value of each per-epoch series of a history, as a table (or None)."""
        rows = [(k, v[-1]) for k, v in (history or {}).items()
                if isinstance(v, list) and v and isinstance(v[-1], (int, float))]
        return self.table(["series", "value"], rows, caption) if rows else None


def cell(value):
    """How a table cell shows a value: floats to 4 significant digits, None as "-"."""
    if value is None:
        return "-"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, float):
        return f"{value:.4g}"
    if isinstance(value, (list, dict)):
        return json.dumps(value)
    return str(value)
