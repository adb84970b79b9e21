"""What every absl app shares: config flags, one-line errors, a closing summary.

An app defines its flags with `define_flags(CONFIGS, ...)` (a named config,
field overrides, `--model`, `--workdir`, `--data_dir`), reads the run's
config with `config()`, and runs under `run(main)`, which prints any
`InputError` or bad flag as one line with exit status 2, and ends a
finished training run with `finish` (run.json and report.html, unless
`--report=false`). Tests parse a command line with `parse_flags(argv)`.
"""

import signal
import sys

from absl import app, flags

from tfdl.config import field_names
from tfdl.errors import InputError

_CONFIGS = []  # the Configs behind the --config flag of the app in this process
_KEY_FLAGS = []  # the flags `define_flags` made, shown by the app's --help
_PROGRAM = []  # the module that defined the flags (`apps.digits`): its command line's name


def define_flags(configs, *, workdir, data_help=None, model=True):
    """Defines the flags of an app whose runs are `configs` (a `tfdl.config.Configs`).

    Flags: `--config=NAME` and `--config.FIELD=VALUE` (ml_collections), `--model=NAME`
    (when `model`: the named config of a model), `--workdir`, `--restart`,
    `--report` and, when `data_help` is given, `--data_dir`. Call it at the
    app module's top level.
    """
    from ml_collections import config_flags

    _CONFIGS[:] = [configs]
    caller = sys._getframe(1).f_globals  # the app's module: its command line's name
    spec = caller.get("__spec__")
    _PROGRAM[:] = [spec.name.removesuffix(".__main__") if spec else caller["__name__"]]
    holder = config_flags.DEFINE_config_dataclass(
        "config", configs.get("default"),
        f"A named {configs.task} config, then --config.FIELD=VALUE overrides one field "
        f"(fields: {', '.join(field_names(configs.config_cls))}). Named configs:\n"
        f"{configs.help()}",
        parse_fn=lambda v: v if not isinstance(v, str) else configs.get(v),
        sys_argv=sys.argv[:1])  # overrides are registered when parsed (`parse_flags`)
    flags.FLAGS[holder.name].default_as_str = "'default'"  # not the dataclass's repr
    if model:
        names = [n for n in configs.names() if configs.resolve(n) == n and configs.get(n).model == n]
        flags.DEFINE_enum("model", None, names,
                          "The named config of this model (same as --config=NAME).")
    flags.DEFINE_string("workdir", workdir, "Output folder of the run.")
    flags.DEFINE_bool("restart", False, "Start over when --workdir holds the unfinished run of "
                      "another config (its backup is deleted); without it that is refused.")
    flags.DEFINE_bool("report", True, "Write report.html into the workdir when the run ends: "
                      "one self-contained page (metrics, figures, sounds); "
                      "`python -m tfdl.report WORKDIR` rebuilds it.")
    if data_help:
        flags.DEFINE_string("data_dir", None, data_help)
    _KEY_FLAGS[:] = ["config"] + (["model"] if model else []) + ["workdir", "restart",
                                                                 "report"] + (
        ["data_dir"] if data_help else [])


def config():
    """The run's config from the parsed flags (`--config` or `--model`, plus overrides)."""
    return flags.FLAGS.config


def command(argv, commands, usage):
    """(command, arguments) from the positional arguments; the first command is the default.

    Raises:
        InputError: an unknown command, naming `usage`.
    """
    if len(argv) < 2:
        return commands[0], []
    if argv[1] not in commands:
        raise InputError(f"unknown command {argv[1]!r}; use {', '.join(commands)} ({usage})")
    return argv[1], argv[2:]


def _check_fields(argv):
    """A `--config.FIELD` naming no field of the app's config: one-line InputError."""
    configs = _CONFIGS[0]
    fields = field_names(configs.config_cls)
    for arg in argv[1:]:
        if arg == "--":
            break
        for prefix in ("--config.", "--noconfig."):
            if arg.startswith(prefix):
                name = arg[len(prefix):].split("=", 1)[0].split(".", 1)[0]
                if name not in fields:
                    raise InputError(f"{prefix}{name}: the {configs.task} config has no field "
                                     f"{name!r} (fields: {', '.join(fields)})")


def parse_flags(argv):
    """Parses `argv` (program name first) into the global flags, as the command line is.

    `--model=NAME` stands for `--config=NAME`; the named config is parsed
    before its `--config.FIELD` overrides (`--config=default` when none is
    given), whatever their order.

    Raises:
        InputError: both --config and --model, or an unknown config field.
        absl.flags.Error: any other bad flag.
    """
    if not _CONFIGS:
        return flags.FLAGS(argv)
    _check_fields(argv)
    named = [a for a in argv[1:] if a.startswith("--config=")]
    models = [a.split("=", 1)[1] for a in argv[1:] if a.startswith("--model=")]
    if named and models:
        raise InputError(f"give --config or --model, not both (--model={models[-1]} is "
                         f"--config={models[-1]})")
    if models and "model" not in flags.FLAGS:  # an app without models: absl's own error
        raise flags.UnrecognizedFlagError("model", f"--model={models[-1]}")
    choices = flags.FLAGS["model"].parser.enum_values if models else ()
    if models and models[-1] not in choices:  # absl's own enum message, before --config
        raise flags.IllegalFlagValueError(f"flag --model={models[-1]}: value should be one "
                                          f"of <{'|'.join(choices)}>")
    named = named[-1:] or [f"--config={models[-1] if models else 'default'}"]
    argv = argv[:1] + named + [a for a in argv[1:] if not a.startswith("--config=")]
    # ml_collections defines a flag per --config.FIELD it finds in the argv it is given
    # (else in sys.argv, which a test's or notebook's argv is not), at every parse.
    for name in [n for n in flags.FLAGS if n.startswith("config.")]:
        delattr(flags.FLAGS, name)
    flags.FLAGS["config"]._sys_argv = argv
    return flags.FLAGS(argv)


def _parse(argv):
    try:
        return parse_flags(argv)
    except (flags.Error, InputError) as e:
        print(f"error: {e}", file=sys.stderr)
        sys.exit(2)
    except SystemExit as e:  # absl exits 1 after printing --help / --helpfull: a success
        if e.code == 1 and any(a.split("=")[0] in ("--help", "-?", "--helpshort", "--helpfull")
                               for a in argv[1:]):
            sys.exit(0)
        raise


def run(main, flag_values=None):
    """`absl.app.run(main)`, printing an `InputError` or a bad flag as one line, exit 2.

    `main` may return a result (handy for tests and notebooks); only an int
    return is used as the exit status, since absl's `sys.exit(main(argv))`
    would print any other value and exit 1.

    Args:
        main: the app's `main(argv)`.
        flag_values: an app's private `flags.FlagValues`, if it has one: they
            join the global flags as key flags, so `--help` lists them.
    """
    # Key flags of `main`'s module, which --help lists (absl names the main module after
    # sys.argv[0]).
    module = sys.argv[0] if main.__module__ == "__main__" else main.__module__
    if flag_values is not None:
        flags.FLAGS.append_flag_values(flag_values)
    for name in list(flag_values or ()) + _KEY_FLAGS:
        flags.FLAGS.register_key_flag_for_module(module, flags.FLAGS[name])

    def wrapped(argv):
        from absl import logging

        previous = _catch_ctrl_c()

        # SavedModel export logs INFO lines through absl: not the user's concern
        # (`--verbosity=0` shows them again).
        if not flags.FLAGS["verbosity"].present:
            logging.set_verbosity(logging.WARNING)
        try:
            training = len(argv) < 2 or argv[1] == "train"  # not predict / stream
            if training and "workdir" in flags.FLAGS and flags.FLAGS.workdir:  # before any data
                from tfdl.workdir import check_writable

                check_writable(flags.FLAGS.workdir)
            result = main(argv)
            if training and isinstance(result, dict):  # a finished run (a worker returns None)
                finish(result.get("workdir") or getattr(flags.FLAGS, "workdir", None))
        except InputError as e:
            print(f"error: {e}", file=sys.stderr)
            sys.exit(2)
        except KeyboardInterrupt:
            print(f"\n{interrupted_message()}", file=sys.stderr)
            sys.exit(130)
        finally:
            if previous is not None:  # None: a handler not set from Python
                signal.signal(signal.SIGINT, previous)
        return result if isinstance(result, int) else None

    app.run(wrapped, flags_parser=_parse)


def _catch_ctrl_c():
    """Ctrl-C raises `KeyboardInterrupt` as usual and is also remembered, so training
    stops at the next batch even when TensorFlow's C++ code swallowed the exception.

    Returns:
        The SIGINT handler before, to restore.
    """
    from tfdl.callbacks import PROGRESS

    PROGRESS["interrupted"] = False
    previous = signal.getsignal(signal.SIGINT)
    if previous is not signal.default_int_handler:
        return previous  # ignored (SIG_IGN) or someone else's handler: leave it be

    def handler(signum, frame):
        PROGRESS["interrupted"] = True
        raise KeyboardInterrupt

    signal.signal(signal.SIGINT, handler)
    return previous


def finish(workdir):
    """Ends the finished run in `workdir`: run.json and report.html, unless `--report=false`.

    `run` calls it after a training command; an app calls it for another
    command that leaves a folder (keywords `stream`).

    Returns:
        The page's path, or None when there is none to write.
    """
    if not workdir or not _CONFIGS or ("report" in flags.FLAGS and not flags.FLAGS.report):
        return None
    from tfdl import report
    from tfdl.report.env import command_line

    path = report.finish_run(workdir, _CONFIGS[0].task, command_line(_PROGRAM[0]))
    print(f"report: {path}")
    return path


def interrupted_message():
    """The one line a Ctrl-C prints: where it stopped, and how to go on."""
    from tfdl.callbacks import PROGRESS

    if PROGRESS["epoch"] is None:
        return "interrupted"
    return (f"interrupted in epoch {PROGRESS['epoch']}; run the same command to resume "
            f"(--restart starts over)")


def check_positive(flag, value):
    """Raises InputError naming `--flag` unless `value` > 0."""
    if value is None or value <= 0:
        raise InputError(f"--{flag} must be positive. Received: --{flag}={value}")


def check_choice(flag, value, choices):
    """Raises InputError naming `--flag` unless `value` is one of `choices`."""
    choices = list(choices)
    if value not in choices:
        raise InputError(f"--{flag} must be one of {', '.join(map(str, choices))}. "
                         f"Received: --{flag}={value}")


def summary(title, rows):
    """Prints a closing summary block: a title and aligned `key: value` rows."""
    width = max(len(k) for k, _ in rows) if rows else 0
    print(f"\n{title}")
    for k, v in rows:
        print(f"  {k.ljust(width)}  {v}")
