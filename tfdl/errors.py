"""One exception type for user-facing input problems.

Apps catch `InputError` and print its one-line message with a non-zero exit,
so a bad path or flag never reaches the user as a TensorFlow traceback.
"""


class InputError(ValueError):
    """A bad file, folder or argument, with a one-line message naming it."""


class TrainingDiverged(InputError):
    """The training loss became NaN or infinite (usually too high a learning rate)."""
