"""Ctrl-C must stop a run, even inside a library that catches it.

scikit-learn's MLP fit catches KeyboardInterrupt, warns "Training interrupted by user" and returns a
half-trained model, so a sweep would carry on and write a report from it. Inside `kept_interrupts()` a
Ctrl-C is remembered and raised again when the block ends.
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
