"""The seeded, stratified 70 / 15 / 15 % train/val/test split, for data sets that bring no split of their
own: the built-in corpus (data/corpus.py) and the sweep's labelled tasks (robustness/tasks/task.py)."""

from __future__ import annotations

import zlib
from collections.abc import Sequence

import numpy as np

from wavjepa_nat.scenes.config import SPLITS

SPLIT_FRACTIONS = {"train": 0.7, "val": 0.15, "test": 0.15}


def stratified_split(labels: Sequence[str], seed: int) -> list[str]:
    """A split name for every item, stratified by label: each label's items are shuffled with a generator
    keyed by (seed, label), so a label's split does not depend on which other labels there are.

    Per label with n items: test and val get round(15 % of n) each, at least one while train keeps at
    least one (so n >= 3 fills all three splits, n = 2 gives train and test, n = 1 train only)."""
    groups: dict[str, list[int]] = {}
    for i, label in enumerate(labels):
        groups.setdefault(label, []).append(i)
    out = [SPLITS[0]] * len(labels)
    for label, idx in groups.items():
        n = len(idx)
        n_test = max(1, round(SPLIT_FRACTIONS["test"] * n)) if n >= 2 else 0
        n_val = max(1, round(SPLIT_FRACTIONS["val"] * n)) if n - n_test >= 2 else 0
        order = np.random.default_rng([seed, zlib.crc32(label.encode())]).permutation(n)
        for rank, k in enumerate(order):
            out[idx[k]] = "test" if rank < n_test else ("val" if rank < n_test + n_val else "train")
    return out
