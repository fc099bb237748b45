"""The `wavjepa-nat` command line. Each sub-command lives in its own module and stays thin.

Every bad input ends the same way: one line on stderr (`error: ...`) and exit code 2, no traceback; usage
errors of the option parser (an unknown option, a value that is not a number) included.
"""

from __future__ import annotations

import errno
import importlib
import sys

import typer

from wavjepa_nat.cli.app import app
from wavjepa_nat.errors import InputError, Stopped
from wavjepa_nat.interrupts import INTERRUPT_EXIT, SIGTERM_EXIT, Terminated, sigterm_raises

# Importing a command module registers its commands on `app`, in pipeline order (as --help lists them).
for _module in (
    "bank",
    "corpus",
    "render",
    "train",
    "export",
    "weights",
    "embed",
    "robustness",
    "nat_hear",
    "report",
    "demo",
):
    importlib.import_module(f"wavjepa_nat.cli.{_module}")


def one_line(message: str) -> str:
    """A message on one line: its lines joined (a library's multi-line advice must not spread the error)."""
    return "; ".join(part.strip() for part in str(message).splitlines() if part.strip())


def _fail(message: str, code: int = 2) -> None:
    print(f"error: {one_line(message)}", file=sys.stderr, flush=True)
    sys.exit(code)


# A full or read-only disk, or a file the user may not read or write, is a fact about the machine, not a bug:
# one line naming the path, whichever command met it and wherever.
DISK_ERRORS = {
    errno.ENOSPC: "no space left on the device for {}",
    errno.EDQUOT: "disk quota exceeded writing {}",
    errno.EROFS: "{}: the file system is read-only",
    errno.EACCES: "{}: permission denied",
}


def disk_error_message(err: OSError) -> str:
    return DISK_ERRORS[err.errno].format(err.filename if err.filename is not None else "an output file")


def main() -> None:
    try:
        with sigterm_raises():
            code = app(standalone_mode=False)
    except Terminated:  # a scheduler's SIGTERM, after every `finally` ran (temporary files removed)
        print("stopped: terminated (SIGTERM)", file=sys.stderr, flush=True)
        sys.exit(SIGTERM_EXIT)
    except InputError as err:
        _fail(str(err))
    except Stopped as err:  # a signal, after saving what can be resumed: say so, exit 128 + the signal
        print(f"stopped: {one_line(str(err))}", file=sys.stderr, flush=True)
        sys.exit(err.code)
    except OSError as err:
        if err.errno not in DISK_ERRORS:
            raise
        _fail(disk_error_message(err))
    except typer.Abort:
        _fail("aborted", 1)
    except typer.TyperException as err:  # the parser's usage errors (typer's click.ClickException)
        if type(err).__name__ == "NoArgsIsHelpError":  # a bare group: its help, as --help shows it
            err.show()
            sys.exit(2)
        ctx = getattr(err, "ctx", None)
        hint = f" (see {ctx.command_path} --help)" if ctx is not None else ""
        _fail(f"{err.format_message()}{hint}", int(getattr(err, "exit_code", 2)))
    if code == INTERRUPT_EXIT:  # typer's answer to Ctrl-C (KeyboardInterrupt): the exit status alone
        print("stopped: interrupted (Ctrl-C)", file=sys.stderr, flush=True)
    if isinstance(code, int) and code:
        sys.exit(code)
