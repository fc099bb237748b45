"""Embedding drift: how far a corrupted clip's embedding moved from the clean one of the same clip."""

from __future__ import annotations

import numpy as np


def row_cosines(clean: np.ndarray, other: np.ndarray) -> np.ndarray:
    """The cosine similarity of each pair of matching rows, in [-1, 1]."""
    a, b = np.asarray(clean, np.float64), np.asarray(other, np.float64)
    a = a / np.maximum(np.linalg.norm(a, axis=1, keepdims=True), 1e-12)
    b = b / np.maximum(np.linalg.norm(b, axis=1, keepdims=True), 1e-12)
    return np.clip(np.sum(a * b, axis=1), -1.0, 1.0)


def cosine_to_clean(clean: np.ndarray, other: np.ndarray) -> float:
    """Embedding drift: the mean cosine similarity of matching rows, in [-1, 1] (1 = no drift)."""
    return float(np.clip(np.mean(row_cosines(clean, other)), -1.0, 1.0))
