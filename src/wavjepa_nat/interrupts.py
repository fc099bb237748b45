"""Ctrl-C and a scheduler's SIGTERM must stop a run cleanly, even inside a library that catches them.

scikit-learn's MLP fit catches KeyboardInterrupt, warns "Training interrupted by user" and returns a
half-trained model, so a sweep would carry on and write a report from it. Inside `kept_interrupts()` a
Ctrl-C is remembered and raised again when the block ends.

SIGTERM's default kills the process where it stands: no `finally` runs, so temporary files stay beside the
outputs and locks on disk. Inside `sigterm_raises()` it raises Terminated instead (not an Exception: no
`except Exception` swallows it), which the CLI reports on one line with exit 143.
"""

from __future__ import annotations

import contextlib
import signal
import threading
from collections.abc import Iterator


@contextlib.contextmanager
def kept_interrupts() -> Iterator[None]:
    if threading.current_thread() is not threading.main_thread():
        yield  # signals reach the main thread only
        return
    previous = signal.getsignal(signal.SIGINT)
    if previous is not signal.default_int_handler:
        yield  # someone else handles Ctrl-C here: leave it to them
        return
    seen = []

    def remember(signum, frame):
        seen.append(signum)
        raise KeyboardInterrupt

    signal.signal(signal.SIGINT, remember)
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, previous)
    if seen:
        raise KeyboardInterrupt


INTERRUPT_EXIT = 130  # 128 + SIGINT, as a shell reports a job stopped by Ctrl-C
SIGTERM_EXIT = 143  # 128 + SIGTERM: what schedulers and shells record for a terminated job


class Terminated(BaseException):
    """A SIGTERM, raised in the main thread."""


@contextlib.contextmanager
def sigterm_raises() -> Iterator[None]:
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def terminate(signum, frame):
        # Lightning calls the handler it found as well as its own; while it handles SIGTERM (saving a
        # resumable checkpoint at the step's end) this one must not cut the step short.
        if signal.getsignal(signal.SIGTERM) is terminate:
            raise Terminated

    previous = signal.signal(signal.SIGTERM, terminate)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)
