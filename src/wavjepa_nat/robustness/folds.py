"""`--folds all`: one sweep per fold of a k-fold HEAR task, each fold tested once with the fold before it
validating (as HEAR), and a summary of every fold's scores with their mean +- std (report/folds.py)."""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from pathlib import Path

from wavjepa_nat.errors import InputError
from wavjepa_nat.robustness.config import SweepConfig
from wavjepa_nat.robustness.report.folds import write_fold_summary
from wavjepa_nat.robustness.sweep import run_sweep
from wavjepa_nat.robustness.tasks.hear_folder import is_hear_task, read_hear_task


def kfold_count(task: str | Path, test_fold: int | None) -> int:
    """The number of folds of a k-fold HEAR task; anything else is an InputError naming --folds all."""
    if not is_hear_task(task):
        raise InputError(f"--folds all needs a k-fold HEAR task folder; {task} is not a HEAR task")
    hear = read_hear_task(task)
    if hear.split_mode == "trainvaltest":
        raise InputError(
            f"--folds all: HEAR task {hear.name} has train/valid/test splits, not folds (drop --folds all)"
        )
    if test_fold is not None:
        raise InputError("--folds all tests every fold; drop --test-fold")
    return len(hear.roles)


def run_folds(
    models: Sequence[str], task: str | Path, bank, cfg: SweepConfig, out_dir: str | Path, title: str | None
) -> tuple[Path, int]:
    """A sweep per fold into OUT/foldKK/ (embeddings, if exported, under EXPORT/foldKK/); returns the
    summary's path and the number of folds."""
    n_folds = kfold_count(task, cfg.test_fold)
    out = Path(out_dir)
    per_fold = {}
    for k in range(n_folds):
        export = str(Path(cfg.export_embeddings) / f"fold{k:02d}") if cfg.export_embeddings else None
        fold_cfg = dataclasses.replace(cfg, test_fold=k, export_embeddings=export)
        fold_title = f"{title or 'Robustness'} (test fold {k:02d} of {n_folds})"
        per_fold[k] = run_sweep(models, task, bank, fold_cfg, out_dir=out / f"fold{k:02d}", title=fold_title)
    return write_fold_summary(per_fold, out, cfg.probe), n_folds
