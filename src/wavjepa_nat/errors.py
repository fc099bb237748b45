"""The one exception type that means "the user gave bad input".

The CLI turns it into a one-line message and exit code 2, with no traceback.
Library users get an ordinary ValueError subclass.
"""


class InputError(ValueError):
    pass


class Stopped(Exception):
    """A run stopped by a signal after saving what can be resumed: the CLI prints the message on one line
    and exits with `code` (a scheduler's convention: 128 + the signal, 143 for SIGTERM, 130 for Ctrl-C)."""

    def __init__(self, message: str, code: int):
        super().__init__(message)
        self.code = code


def warn(message: str) -> None:
    """A one-line warning on stderr for the person running a command (data changed, a file skipped)."""
    import sys

    print(f"warning: {message}", file=sys.stderr, flush=True)
