"""The one exception type that means "the user gave bad input".

The CLI turns it into a one-line message and exit code 2, with no traceback.
Library users get an ordinary ValueError subclass.
"""


class InputError(ValueError):
    pass


def warn(message: str) -> None:
    """A one-line warning on stderr for the person running a command (data changed, a file skipped)."""
    import sys

    print(f"warning: {message}", file=sys.stderr, flush=True)
