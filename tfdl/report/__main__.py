"""`python -m tfdl.report WORKDIR [WORKDIR ...]`: (re)builds report.html of finished runs.

A run writes its page when it ends; this builds it again (after a change to
the page's layout, or for a run older than the pages): from the folder's files
and its `run.json`, the same page; without `run.json`, the task is told from
the config's fields and the page says the command is unknown.
"""

import tfdl  # noqa: F401  (quiet TensorFlow start-up; import before TF)
from tfdl import cli
from tfdl.errors import InputError

USAGE = "python -m tfdl.report WORKDIR [WORKDIR ...]"


def main(argv):
    from tfdl import report

    if len(argv) < 2:
        raise InputError(f"give the folder of a finished run: {USAGE}")
    for workdir in argv[1:]:
        print(f"report: {report.write(workdir)}")


if __name__ == "__main__":
    cli.run(main)
