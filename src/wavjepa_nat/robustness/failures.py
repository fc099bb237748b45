"""Models that break during a sweep: a HEAR module that breaks its API mid-sweep is recorded and left out
from there on, while the other models go on; the sweep then ends with SweepIncomplete."""

from __future__ import annotations

from pathlib import Path

from wavjepa_nat.errors import InputError


class SweepIncomplete(InputError):
    """A model broke during the sweep: the report holds the other models' results (and says what broke).
    `rows` are all the results computed."""

    def __init__(self, message: str, rows: list):
        super().__init__(message)
        self.rows = rows


class ModelFailures:
    """What broke, and which models are out (`broken`)."""

    def __init__(self) -> None:
        self.messages: list[str] = []
        self.broken: set[str] = set()

    def record(self, name: str, stage: str, err: Exception) -> None:
        self.messages.append(f"{err} (during {stage}); {name} has no results from there on")
        self.broken.add(name)

    def raise_if_any(self, rows: list, out_dir: str | Path | None) -> None:
        """SweepIncomplete naming every failure (and where the other models' results are), if any."""
        if not self.messages:
            return
        where = "" if out_dir is None else f"; the other models' results are in {Path(out_dir) / 'report.md'}"
        raise SweepIncomplete("; ".join(self.messages) + where, rows)
