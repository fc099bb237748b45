"""The one exception type that means "the user gave bad input".

The CLI turns it into a one-line message and exit code 2, with no traceback.
Library users get an ordinary ValueError subclass.
"""


class InputError(ValueError):
    pass
