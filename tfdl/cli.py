"""Helpers shared by the absl apps: clean errors, a closing summary."""

import sys

from absl import app

from tfdl.errors import InputError


def run(main, flag_values=None):
    """`absl.app.run(main)`, printing an `InputError` as one line with exit status 2.

    `main` may return a result (handy for tests and notebooks); only an int
    return is used as the exit status, since absl's `sys.exit(main(argv))`
    would print any other value and exit 1.

    Args:
        main: the app's `main(argv)`.
        flag_values: an app's private `flags.FlagValues`, if it has one: they
            join the global flags as key flags, so `--help` lists them.
    """
    if flag_values is not None:
        from absl import flags

        flags.FLAGS.append_flag_values(flag_values)
        # Key flags of `main`'s module (absl names the main module after sys.argv[0]).
        module = sys.argv[0] if main.__module__ == "__main__" else main.__module__
        for name in flag_values:
            flags.FLAGS.register_key_flag_for_module(module, flags.FLAGS[name])

    def wrapped(argv):
        try:
            result = main(argv)
        except InputError as e:
            print(f"error: {e}", file=sys.stderr)
            sys.exit(2)
        return result if isinstance(result, int) else None

    app.run(wrapped)


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
