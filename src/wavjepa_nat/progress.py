"""One progress bar for every stage: a rich bar over a known number of steps, or nothing.

    with progress_bar(total=len(items), description="embedding", enabled=show) as advance:
        for item in items:
            ...
            advance()                          # one step
            advance(3, description="phase 2")  # several steps, and a new description

rich is imported only when the bar is shown, so importing this module costs nothing.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager

Advance = Callable[..., None]


@contextmanager
def progress_bar(
    total: int, description: str = "", enabled: bool = True, completed: int = 0, transient: bool = False
) -> Iterator[Advance]:
    """Yields advance(n=1, description=None); a no-op when not enabled."""
    if not enabled:
        yield lambda n=1, description=None: None
        return
    from rich.progress import (
        BarColumn,
        MofNCompleteColumn,
        Progress,
        TextColumn,
        TimeElapsedColumn,
        TimeRemainingColumn,
    )

    columns = (
        TextColumn("{task.description:<40}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        TimeRemainingColumn(),
    )
    with Progress(*columns, transient=transient) as bar:
        task = bar.add_task(description, total=total, completed=completed)

        def advance(n: int = 1, description: str | None = None) -> None:
            bar.update(task, advance=n, **({} if description is None else {"description": description}))

        yield advance
