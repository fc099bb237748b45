"""Random crops of a clip and per-crop instance normalisation (numpy; the torch versions are in augment_torch).

A crop keeps every channel at the same offsets; instance normalisation is joint over (channels, time) so
interaural time and level differences survive (a per-ear normalisation would erase the ILD).
numpy only: the CLI imports this without paying for torch.
"""

from __future__ import annotations

import numpy as np

_CHUNK = 1024  # float32 partial sums over at most this many samples, combined in float64


def draw_crop_offsets(rng: np.random.Generator, clip_samples: int, n_crops: int, crop_samples: int) -> np.ndarray:
    """(n_crops,) uniform start offsets of crops that lie fully inside the clip."""
    if clip_samples < crop_samples:
        raise ValueError(f"clips of {clip_samples} samples are shorter than a crop ({crop_samples})")
    return rng.integers(0, clip_samples - crop_samples + 1, size=n_crops).astype(np.int64)


def take_crops(x: np.ndarray, offsets: np.ndarray, crop_samples: int) -> np.ndarray:
    """(C, S) and (n,) offsets -> (n, C, crop_samples); the same offsets for every channel."""
    windows = np.lib.stride_tricks.sliding_window_view(x, crop_samples, axis=-1)  # (C, S-crop+1, crop)
    return windows.transpose(1, 0, 2)[np.asarray(offsets)]  # one copy, already (n, C, crop) contiguous


def _row_moments(flat: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Sum and sum of squares of each row of a float32 (n, m) array, as float64.

    float32 partial sums over chunks of <= 1024 samples (relative error ~1e-7, at worst 1024 * 2^-24 = 6e-5),
    added up in float64: as accurate as float64 accumulation for our purpose, ~4x cheaper (no cast pass).
    """
    n, m = flat.shape
    if flat.dtype != np.float32:
        return flat.sum(axis=-1, dtype=np.float64), _row_sumsq(flat)
    q = m - m % _CHUNK
    s = np.einsum("ijk->ij", flat[:, :q].reshape(n, -1, _CHUNK)).sum(axis=-1, dtype=np.float64)  # ~4x .sum
    if q < m:
        s += flat[:, q:].sum(axis=-1, dtype=np.float64)
    return s, _row_sumsq(flat)


def _row_sumsq(flat: np.ndarray) -> np.ndarray:
    """Sum of squares of each row of a float32 (n, m) array, as float64, accumulated as _row_moments says
    (on its own where the sums are not needed, e.g. for signal powers)."""
    n, m = flat.shape
    if flat.dtype != np.float32:
        return np.einsum("ij,ij->i", flat, flat, dtype=np.float64)
    q = m - m % _CHUNK
    head = flat[:, :q].reshape(n, -1, _CHUNK)
    ss = np.einsum("ijk,ijk->ij", head, head).sum(axis=-1, dtype=np.float64)
    if q < m:
        tail = flat[:, q:]
        ss += np.einsum("ij,ij->i", tail, tail, dtype=np.float64)
    return ss


def instance_norm(crops: np.ndarray, eps: float = 1e-12, out: np.ndarray | None = None) -> np.ndarray:
    """Zero mean, unit variance per crop, jointly over (channels, time): interaural differences survive.

    Statistics from one pass (sum and sum of squares, see _row_moments), then one scaled pass into `out`
    (a new array by default; out=crops normalises in place). The result has the dtype of the crops.
    """
    crops = np.asarray(crops)
    if not np.issubdtype(crops.dtype, np.floating):
        crops = crops.astype(np.float32)
    n = len(crops)
    flat = crops.reshape(n, -1)
    s, ss = _row_moments(flat)
    size = max(flat.shape[1], 1)
    mean = s / size
    scale = 1.0 / np.sqrt(np.maximum(ss / size - mean * mean, 0.0) + eps)
    dst = np.empty_like(flat) if out is None else out.reshape(n, -1)
    np.multiply(flat, scale.astype(flat.dtype)[:, None], out=dst)
    dst -= (mean * scale).astype(flat.dtype)[:, None]
    return dst.reshape(crops.shape)
