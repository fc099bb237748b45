"""Random crops of a clip and per-crop instance normalisation (numpy and torch, same semantics).

A crop keeps every channel at the same offsets; instance normalisation is joint over (channels, time) so
interaural time and level differences survive (a per-ear normalisation would erase the ILD).
"""

from __future__ import annotations

import numpy as np
import torch


def draw_crop_offsets(rng: np.random.Generator, clip_samples: int, n_crops: int, crop_samples: int) -> np.ndarray:
    """(n_crops,) uniform start offsets of crops that lie fully inside the clip."""
    if clip_samples < crop_samples:
        raise ValueError(f"clips of {clip_samples} samples are shorter than a crop ({crop_samples})")
    return rng.integers(0, clip_samples - crop_samples + 1, size=n_crops).astype(np.int64)


def take_crops(x: np.ndarray, offsets: np.ndarray, crop_samples: int) -> np.ndarray:
    """(C, S) and (n,) offsets -> (n, C, crop_samples); the same offsets for every channel."""
    windows = np.lib.stride_tricks.sliding_window_view(x, crop_samples, axis=-1)  # (C, S-crop+1, crop)
    return np.ascontiguousarray(windows[:, offsets].transpose(1, 0, 2))


def instance_norm(crops: np.ndarray, eps: float = 1e-12) -> np.ndarray:
    """Zero mean, unit variance per crop, jointly over (channels, time): interaural differences survive.

    Statistics in float64 from one pass over the data (sum and sum of squares); then one scaled pass.
    """
    flat = crops.reshape(len(crops), -1)
    mean = flat.mean(axis=1, dtype=np.float64)
    power = np.einsum("ij,ij->i", flat, flat, dtype=np.float64) / max(flat.shape[1], 1)
    scale = 1.0 / np.sqrt(np.maximum(power - mean * mean, 0.0) + eps)
    out = flat * scale.astype(np.float32)[:, None]
    out -= (mean * scale).astype(np.float32)[:, None]
    return out.reshape(crops.shape)


def take_crops_torch(audio: torch.Tensor, offsets: torch.Tensor, crop_samples: int) -> torch.Tensor:
    """(B, C, S) and (B, n) offsets -> (B * n, C, crop_samples), the same offsets for every channel."""
    b, c, s = audio.shape
    n = offsets.shape[1]
    index = offsets.to(torch.long)[:, :, None] + torch.arange(crop_samples, device=audio.device)  # (B, n, T)
    src = audio[:, None].expand(b, n, c, s)
    crops = torch.gather(src, -1, index[:, :, None, :].expand(b, n, c, crop_samples))
    return crops.reshape(b * n, c, crop_samples)


def instance_norm_torch(crops: torch.Tensor, eps: float = 1e-12) -> torch.Tensor:
    """Zero mean, unit variance per crop, jointly over (channels, time)."""
    var, mean = torch.var_mean(crops, dim=(-2, -1), correction=0, keepdim=True)  # Welford: accurate in fp32
    return (crops - mean) * torch.rsqrt(var.double() + eps).float()
