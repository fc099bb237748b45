"""The report section of `--room-probes` (robustness/rooms.py): per model, each room target's probe error
and R^2 beside chance (the training mean), with 95 % intervals."""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence

from wavjepa_nat.robustness.report.document import Section, Table, with_ci

NOTE = (
    "Ridge probes from each clip embedding to its scene's acoustics, trained on clips rendered through "
    "train/val-split scenes, scored on clips rendered through test-split scenes (rooms never seen in "
    "training). Error: mean absolute error; chance: the training mean predicted for every clip. "
    "[95 % bootstrap interval over test clips]."
)


def room_rows_dicts(rows: Sequence) -> list[dict]:
    return [
        {"model": r.model, "target": r.target, "unit": r.unit, **dataclasses.asdict(r.result)} for r in rows
    ]


def room_sections(rows: Sequence[dict]) -> list[Section]:
    if not rows:
        return []
    head = ["model", "target", "error", "chance error", "R^2", "chance R^2"]
    body = [
        [
            r["model"],
            f"{r['target']} ({r['unit']})",
            with_ci(r["mae"], r["mae_ci"]),
            with_ci(r["chance_mae"], r["chance_mae_ci"]),
            with_ci(r["r2"], r["r2_ci"]),
            with_ci(r["chance_r2"], r["chance_r2_ci"]),
        ]
        for r in rows
    ]
    return [
        Section("Room probes (T_mid, DRR, distance, log room volume)", items=[NOTE]),
        Section("Room probe scores", table=Table(head, body, id="room-probes")),
    ]
