"""The one seeded, stratified 70/15/15 split (data/splits.py), used by the corpus and the sweep's tasks."""

from collections import Counter

import pytest

from wavjepa_nat.data.splits import stratified_split


@pytest.mark.parametrize(
    "n, expected",
    [
        (1, {"train": 1}),
        (2, {"train": 1, "test": 1}),
        (3, {"train": 1, "val": 1, "test": 1}),
        (10, {"train": 6, "val": 2, "test": 2}),
        (40, {"train": 28, "val": 6, "test": 6}),
    ],
)
def test_counts_per_label(n, expected):
    assert Counter(stratified_split(["a"] * n, seed=0)) == expected


def test_seeded_stratified_and_independent_of_other_labels():
    labels = ["a"] * 20 + ["b"] * 7
    first = stratified_split(labels, seed=1)
    assert first == stratified_split(labels, seed=1)
    assert first != stratified_split(labels, seed=2)
    assert Counter(s for s, lab in zip(first, labels) if lab == "b") == {"train": 5, "val": 1, "test": 1}
    # a label's split does not depend on which other labels are present, nor on the order of items
    assert first[:20] == stratified_split(["a"] * 20, seed=1)
    mixed = stratified_split(["b"] * 7 + ["a"] * 20, seed=1)
    assert mixed[7:] == first[:20]
