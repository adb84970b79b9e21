"""report.html: one self-contained page per finished run: figures, metrics, sounds.

A run ends (`tfdl.cli`, after its `metrics.json`) with `finish_run`, which
writes `run.json` (the task, the exact command line, the environment: what the
folder does not otherwise hold) and then `report.html`. The page is built from
the folder's own files only, by the task's `report.py` (`TASKS`: imported by
name when a page is built, so this core never imports a task): the headline
metrics with their goals, the training curves, the task's figures, its sounds
(players), one collapsed section per fold, member or trial; then the command
line, the resolved config and the environment. Images and sounds are embedded
as data: URIs and the style is inline, so the file needs nothing else: no
network, no other file. `python -m tfdl.report WORKDIR` rebuilds the page of a
finished run, the same page when `run.json` is there; an older run without it
gets its task from its config's fields and says its command is unknown.
"""

import dataclasses
import importlib
import os
import time
from pathlib import Path

from tfdl.errors import InputError
from tfdl.report.page import Page, Run, cell

REPORT = "report.html"
RUN = "run.json"
# task -> (the module whose `fill(page)` lays out its page, its config class)
TASKS = {
    "digits": ("tfdl.digits.report", "tfdl.digits.config:Config"),
    "keywords": ("tfdl.keywords.report", "tfdl.keywords.config:Config"),
    "denoise": ("tfdl.denoise.report", "tfdl.denoise.config:Config"),
    "phonemes": ("tfdl.phonemes.report", "tfdl.phonemes.config:Config"),
    "mnist": ("tfdl.vision.report", "tfdl.vision.config:MNISTConfig"),
    "notmnist": ("tfdl.vision.report", "tfdl.vision.config:NotMNISTConfig"),
    "optimization": ("tfdl.vision.report", "tfdl.vision.config:OptimizationConfig"),
    "backprop": ("tfdl.vision.report", "tfdl.vision.config:BackpropConfig"),
    "tuning": ("tuning.report", "tuning.config:Config"),
}
FINISHED = {"tuning": "results.json"}  # the file a finished run writes last (else metrics.json)
_HIDDEN = {REPORT, ".lock"}  # not listed among the run's files


def _config_fields(task):
    module, cls = TASKS[task][1].split(":")
    return {f.name for f in dataclasses.fields(getattr(importlib.import_module(module), cls))}


def infer_task(root):
    """The task that wrote the finished run in `root`, from its files (no run.json).

    Raises:
        InputError: nothing in the folder names a task.
    """
    run = Run(root, None)
    if run.exists("search_config.json"):
        return "tuning"
    if run.config is None:
        if "detections" in run.metrics:  # apps.keywords stream
            return "keywords"
        raise InputError(f"cannot tell which task wrote {root}: it holds no config.json")
    keys = set(run.config)
    scores = {t: len(keys & f) / len(keys | f) for t in TASKS
              for f in [_config_fields(t)]}
    task = max(scores, key=scores.get)
    if scores[task] < 0.5:
        raise InputError(f"cannot tell which task wrote {root}: its config.json matches no "
                         f"task's config ({', '.join(TASKS)})")
    return task


def _check_run(workdir):
    """(root, run.json or None, task) of a finished run; one-line InputError otherwise."""
    root = Path(workdir).expanduser()
    if not root.exists():
        raise InputError(f"{root} does not exist")
    if not root.is_dir():
        raise InputError(f"{root} is not a folder")
    info = Run(root, None).json(RUN)
    task = (info or {}).get("task")
    if task is None and not (root / "metrics.json").is_file() and not (
            root / "results.json").is_file():
        raise InputError(f"{root} holds no metrics.json: not a finished run")
    task = task or infer_task(root)
    if task not in TASKS:
        raise InputError(f"{root / RUN} names an unknown task {task!r} ({', '.join(TASKS)})")
    marker = FINISHED.get(task, "metrics.json")
    if not (root / marker).is_file():
        raise InputError(f"{root} holds no {marker}: not a finished run")
    return root, info, task


def _files(page):
    rows = []
    for p in sorted(page.run.root.iterdir()):
        if p.name in _HIDDEN or p.name.startswith("."):
            continue
        rows.append((p.name + ("/" if p.is_dir() else ""),
                     "folder" if p.is_dir() else f"{p.stat().st_size / 1024:.1f} KB"))
    return page.table(["file", "size"], rows)


def _closing(page, config):
    """The sections every page ends with: other figures, command, config, environment, files."""
    others = [p for p in sorted(page.run.root.glob("*.png")) if p.resolve() not in page.used]
    page.add("Other figures", [page.figure(p.name) for p in others])
    info = page.run.info
    if info:
        run = [page.pre(info["command"]),
               page.text(f"in {info.get('cwd', '?')}; finished {info.get('finished', '?')}",
                         note=True)]
    else:
        run = [page.text("The command is unknown: this folder has no run.json (a run "
                         "finished before tfdl wrote one); `python -m tfdl.report` built "
                         "this page from the folder's files.", note=True)]
    page.add("Command", run)
    if config is not None:
        page.add("Config", [page.table(["field", "value"], sorted(config.items()))])
    env = (info or {}).get("environment")
    page.add("Environment", [page.table(["what", "value"], env.items()) if env else
                             page.text("unknown (no run.json)", note=True)])
    page.add("Files", [_files(page)])


def _template():
    import jinja2

    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(str(Path(__file__).parent / "templates")),
        autoescape=True, trim_blocks=False, lstrip_blocks=False, undefined=jinja2.StrictUndefined)
    env.filters["cell"] = cell
    return env.get_template("report.html.j2")


def render(workdir, task=None):
    """The report page of the finished run in `workdir`, as HTML text.

    Args:
        workdir: the run's folder.
        task: the task that wrote it (default: `run.json`'s, else inferred).

    Raises:
        InputError: not a folder, not a finished run, or no known task.
    """
    import tfdl

    root, info, found = _check_run(workdir)
    page = Page(Run(root, task or found, info))
    importlib.import_module(TASKS[page.run.task][0]).fill(page)
    _closing(page, page.config)
    where = (info or {}).get("workdir") or str(root.resolve())
    finished = f"finished {info['finished']}" if info and info.get("finished") else "rebuilt"
    return _template().render(
        title=page.title, subtitle=f"{page.run.task} run in {where} ({finished})",
        headline=page.headline, goal_source=page.goal_source, sections=page.sections,
        tfdl_version=tfdl.__version__)


def write(workdir, task=None):
    """(Re)writes `workdir/report.html` from the run's files; returns its path."""
    from tfdl.workdir import write_text

    return write_text(Path(workdir).expanduser() / REPORT, render(workdir, task))


def finish_run(workdir, task, command):
    """Ends a finished run: writes `run.json` (task, command, environment), then the page.

    Args:
        workdir: the run's folder (its metrics.json written).
        task: a key of `TASKS`.
        command: the command line that started the run.

    Returns:
        The path of report.html.
    """
    from tfdl.report.env import environment
    from tfdl.workdir import write_json

    root = Path(workdir).expanduser()
    write_json(root / RUN, {"task": task, "command": command, "cwd": os.getcwd(),
                            "workdir": str(root.resolve()),
                            "finished": time.strftime("%Y-%m-%d %H:%M:%S UTC", time.gmtime()),
                            "environment": environment()})
    return write(root, task)
