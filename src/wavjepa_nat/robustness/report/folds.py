"""`--folds all` on a k-fold HEAR task: every fold's score per model and condition, and their mean +-
standard deviation over folds (the convention of published HEAR tables), written beside the fold reports
as folds.md and folds.json."""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from wavjepa_nat.files import atomic_path
from wavjepa_nat.robustness.report.rows import ResultRow


def fold_summary(per_fold: dict[int, Sequence[ResultRow]]) -> list[dict]:
    """One entry per (model, condition): the metric, each fold's score, mean and std (ddof 0, as numpy)."""
    table: dict[tuple[str, str], dict] = {}
    for fold, rows in sorted(per_fold.items()):
        for r in rows:
            entry = table.setdefault(
                (r.model, r.cond.label), {"model": r.model, "condition": r.cond.label, "metric": r.metric}
            )
            entry.setdefault("folds", {})[fold] = float(r.score)
    for entry in table.values():
        scores = np.asarray(list(entry["folds"].values()), np.float64)
        entry["mean"], entry["std"] = float(scores.mean()), float(scores.std())
    return list(table.values())


def write_fold_summary(per_fold: dict[int, Sequence[ResultRow]], out_dir: str | Path, probe: str) -> Path:
    summary = fold_summary(per_fold)
    folds = sorted(per_fold)
    out = Path(out_dir)
    lines = [
        f"# Every fold ({len(folds)} folds; each fold tested once, the fold before it validating; "
        f"probe {probe})",
        "",
        "| model | condition | metric | " + " | ".join(f"fold{f:02d}" for f in folds) + " | mean +- std |",
        "|" + "---|" * (len(folds) + 4),
    ]
    for e in summary:
        cells = [f"{e['folds'][f]:.3f}" if f in e["folds"] else "" for f in folds]
        lines.append(
            f"| {e['model']} | {e['condition']} | {e['metric']} | "
            + " | ".join(cells)
            + f" | {e['mean']:.3f} +- {e['std']:.3f} |"
        )
    lines += ["", "Per-fold reports: " + ", ".join(f"fold{f:02d}/report.md" for f in folds), ""]
    with atomic_path(out / "folds.json") as tmp:
        tmp.write_text(json.dumps({"probe": probe, "folds": folds, "scores": summary}, indent=1))
    with atomic_path(out / "folds.md") as tmp:
        tmp.write_text("\n".join(lines))
    return out / "folds.md"
