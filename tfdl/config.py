"""One way to define a run: a typed config, named recipes, field-by-field overrides.

A task's run is a dataclass (`tfdl.<task>.config.Config`); its complete,
named recipes live in a `Configs` registry (`tfdl.<task>.configs.CONFIGS`).
The apps turn them into command-line flags with `tfdl.cli.define_flags`
(absl + `ml_collections.config_flags`, as the flax examples do):

    --config=NAME          one of the task's named configs (default: "default")
    --config.FIELD=VALUE   one field overridden (repeatable)
    --model=NAME           the named config of that model (= --config=NAME)

Checks live once, in each config's `validate()`, and name the flag the user
types (`--config.epochs must be ...`) through the helpers below.
"""

import dataclasses
import typing

from tfdl.errors import InputError


def _flag(field):
    return f"--config.{field}"


def fail(field, must, value):
    """Raises the one-line `InputError` of a bad config field."""
    raise InputError(f"{_flag(field)} must be {must}. Received: {_flag(field)}={value!r}")


def check_positive(cfg, *fields, integer=False):
    """Each field must be a number > 0 (an int where `integer`)."""
    for name in fields:
        v = getattr(cfg, name)
        ok = isinstance(v, int) if integer else isinstance(v, (int, float))
        if isinstance(v, bool) or not ok or not v > 0:
            fail(name, "a positive integer" if integer else "positive", v)


def check_range(cfg, field, low, high, low_open=False, high_open=True):
    """`low <= value < high` (bounds open or closed as given)."""
    v = getattr(cfg, field)
    ok = isinstance(v, (int, float)) and not isinstance(v, bool)
    ok = ok and (v > low if low_open else v >= low) and (v < high if high_open else v <= high)
    if not ok:
        span = f"{'(' if low_open else '['}{low:g}, {high:g}{')' if high_open else ']'}"
        fail(field, f"in {span}", v)


def check_choice(cfg, field, choices):
    """The field's value must be one of `choices`."""
    choices = list(choices)
    if getattr(cfg, field) not in choices:
        fail(field, f"one of {', '.join(map(str, choices))}", getattr(cfg, field))


def check_teacher(cfg, configs, folder="export folder"):
    """Checks the distillation fields `teacher`, `temperature` and `soft_weight` (see
    `tfdl.distill`): the teacher is "" (none), a folder (what kind the task reads,
    `folder`, is checked where it is read), or a named config of `configs` (a `Configs`)
    that is not distilled itself."""
    from pathlib import Path

    check_positive(cfg, "temperature")
    check_range(cfg, "soft_weight", 0.0, 1.0, high_open=False)
    if not cfg.teacher or Path(cfg.teacher).is_dir():
        return
    if cfg.teacher not in configs:
        fail("teacher", f"a named {configs.task} config ({', '.join(configs.names())}) or "
             f"{'an' if folder[0] in 'aeiou' else 'a'} {folder}", cfg.teacher)
    if configs.get(cfg.teacher).teacher:
        fail("teacher", "a config that is not distilled itself", cfg.teacher)


def as_tuple(cfg, field, kind=float):
    """The field as a tuple of `kind`: a command line may give one value, a list, or (for
    strings, which ml_collections keeps whole) "a,b" to be split."""
    v = getattr(cfg, field)
    values = v if isinstance(v, (tuple, list)) else (v,)
    values = [p for x in values
              for p in ([s.strip() for s in x.split(",") if s.strip()]
                        if isinstance(x, str) else [x])]
    try:
        return tuple(kind(x) for x in values)
    except (TypeError, ValueError):
        fail(field, f"a comma-separated list of {kind.__name__}s", v)


def _field_types(cls):
    hints = typing.get_type_hints(cls)
    return {f.name: hints.get(f.name, type(f.default)) for f in dataclasses.fields(cls)}


def from_dict(cls, values):
    """`cls(**values)` from JSON (lists become tuples where the field is a tuple)."""
    types_ = _field_types(cls)
    kw = {}
    for name, v in values.items():
        if name not in types_:
            continue  # a field a newer or older tfdl had
        origin = typing.get_origin(types_[name]) or types_[name]
        kw[name] = tuple(v) if isinstance(v, list) and origin is tuple else v
    return cls(**kw)


class Configs:
    """A task's named configs: complete recipes, each with a one-line description.

    Example:
        CONFIGS = Configs("digits", Config)
        CONFIGS.add("batchnorm", "the course's 1-D CNN with batch norm",
                    model="batchnorm", epochs=60)
        CONFIGS.alias("default", "batchnorm")
        cfg = CONFIGS.get("batchnorm")  # a fresh copy

    Args:
        task: the task's name (messages).
        config_cls: the config dataclass; `add` fills the fields it is not given
            with the class defaults.
    """

    def __init__(self, task, config_cls):
        self.task = task
        self.config_cls = config_cls
        self._configs = {}
        self._descriptions = {}
        self._aliases = {}

    def add(self, name, description, base=None, **fields):
        """Registers `name`: `base`'s recipe (a registered name) or the defaults, plus `fields`."""
        if name in self._configs or name in self._aliases:
            raise ValueError(f"{self.task} config {name!r} is registered twice")
        start = self.get(base) if base else self.config_cls()
        self._configs[name] = dataclasses.replace(start, **fields)
        self._descriptions[name] = description
        return self._configs[name]

    def alias(self, name, target, description=None):
        """`name` is another name of the registered config `target` (e.g. default, best)."""
        if target not in self._configs:
            raise ValueError(f"{self.task} config {target!r} is not registered")
        self._aliases[name] = target
        self._descriptions[name] = description or self._descriptions[target]

    def resolve(self, name):
        """The registered name behind `name` (itself, or an alias's target)."""
        return self._aliases.get(name, name)

    def names(self):
        """Every name, aliases first (default, best, ...), then the recipes."""
        return list(self._aliases) + list(self._configs)

    def get(self, name):
        """A fresh copy of the config called `name`.

        Raises:
            InputError: an unknown name, listing the known ones.
        """
        key = self.resolve(name)
        if key not in self._configs:
            raise InputError(f"unknown {self.task} config {name!r}; choose one of "
                             f"{', '.join(self.names())}")
        return dataclasses.replace(self._configs[key])

    def describe(self, name):
        return self._descriptions[name]

    def help(self):
        """One line per named config, for `--help`."""
        width = max(len(n) for n in self.names())
        lines = []
        for n in self.names():
            target = f"= {self._aliases[n]}: " if n in self._aliases else ""
            lines.append(f"{n.ljust(width)}  {target}{self._descriptions[n]}")
        return "\n".join(lines)

    def __contains__(self, name):
        return self.resolve(name) in self._configs

    def __iter__(self):
        return iter(self.names())


def field_names(config_cls):
    """The names of a config dataclass's fields."""
    return [f.name for f in dataclasses.fields(config_cls)]
