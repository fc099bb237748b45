"""Time-inverse block masking, drawn on TIME frames and expanded to ear-major token indices.

Per crop: the context is the complement of random spans (~13 spans of 10 frames on 200 frames), each of
the G target groups is a union of random spans (~5 of 10 frames); target frames are removed from the
context; redraw until the context keeps >= 10 % of the frames. Result: context ~20 %, each group ~23 %.

Because a mask is a set of time frames and a time frame t is the token set {c * T + t : c < C}, a masked
time step is masked in both ears by construction (the reference's ear-interleaved masks did not match
its ear-major tokens).

`MaskCollator` runs in DataLoader workers, so the GPU never waits for masks.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np
import torch
from torch.utils.data import get_worker_info

from wavjepa_nat.errors import InputError
from wavjepa_nat.nat_model.config import ModelConfig
from wavjepa_nat.nat_model.encoder import n_frames


def sample_spans(n_time: int, rate: float, length: int, gen: torch.Generator) -> torch.Tensor:
    """Bool (n_time,) union of random spans; span count = floor(rate * n_time / length + U(0,1)) (wav2vec 2.0)."""
    length = min(length, n_time)
    n_starts = n_time - length + 1
    n_spans = int(rate * n_time / length + torch.rand((), generator=gen).item())
    n_spans = min(n_spans, n_starts)
    mask = torch.zeros(n_time, dtype=torch.bool)
    if n_spans > 0:
        starts = torch.randperm(n_starts, generator=gen)[:n_spans]
        mask[(starts[:, None] + torch.arange(length)[None]).reshape(-1)] = True
    return mask


def sample_time_masks(
    n_time: int, cfg: ModelConfig, gen: torch.Generator, max_tries: int = 1000
) -> tuple[torch.Tensor, torch.Tensor]:
    """One crop's masks on time frames: context bool (T,), targets bool (G, T); disjoint."""
    need = max(1, math.ceil(cfg.min_context_frac * n_time))
    for _ in range(max_tries):
        context = ~sample_spans(n_time, cfg.context_block_rate, cfg.context_block_len, gen)
        targets = torch.stack(
            [
                sample_spans(n_time, cfg.target_block_rate, cfg.target_block_len, gen)
                for _ in range(cfg.target_groups)
            ]
        )
        context &= ~targets.any(0)
        if int(context.sum()) >= need and bool(targets.any(1).all()):
            return context, targets
    raise InputError(
        f"could not draw masks with >= {cfg.min_context_frac:.0%} context on {n_time} frames; "
        "the crop is too short for the masking parameters"
    )


def expand_to_tokens(time_idx: torch.Tensor, n_time: int, channels: int) -> torch.Tensor:
    """Time-frame indices (..., n) -> ear-major token indices (..., channels * n): [c*T + t for c, for t]."""
    offsets = (torch.arange(channels) * n_time).view(*([1] * (time_idx.dim() - 1)), channels, 1)
    return (time_idx.unsqueeze(-2) + offsets).flatten(-2)


def _subset(idx: torch.Tensor, n: int, gen: torch.Generator) -> torch.Tensor:
    """A random n-subset of idx, sorted (trimming to equal counts without favouring early frames)."""
    if len(idx) == n:
        return idx
    return idx[torch.randperm(len(idx), generator=gen)[:n]].sort().values


class MaskCollator:
    """Collate crops [(C, S) float32, ...] -> {"audio" (B, C, S), "context_idx" (B, Nc), "target_idx" (B, G, Nt)}.

    Indices are ear-major token indices. Counts are equal across the batch (random trimming to the batch
    minimum, as I-JEPA does). Deterministic: a torch.Generator seeded from `seed` and, inside a DataLoader
    worker, the worker's seed (which itself follows torch's global seed).
    """

    def __init__(self, model_config: ModelConfig, seed: int = 0) -> None:
        self.cfg = model_config
        self.seed = int(seed)
        self._gen: torch.Generator | None = None
        self._gen_key: int | None = None

    def _generator(self) -> torch.Generator:
        info = get_worker_info()
        key = None if info is None else int(info.seed)
        if self._gen is None or key != self._gen_key:
            seed = self.seed if key is None else (self.seed * 1_000_003 + key) % (2**63 - 1)
            self._gen = torch.Generator().manual_seed(seed)
            self._gen_key = key
        return self._gen

    def __getstate__(self) -> dict:
        state = self.__dict__.copy()
        state["_gen"] = None  # generators do not pickle; each worker makes its own
        return state

    def __call__(self, crops: Sequence[np.ndarray | torch.Tensor]) -> dict[str, torch.Tensor]:
        audio = torch.stack([torch.as_tensor(np.asarray(c), dtype=torch.float32) for c in crops])
        if audio.dim() != 3 or audio.shape[1] != self.cfg.channels:
            raise InputError(
                f"crops must be ({self.cfg.channels}, samples) arrays for this model, got {tuple(audio.shape[1:])}"
            )
        B, C, S = audio.shape
        T = n_frames(S, self.cfg.conv_spec)
        gen = self._generator()
        masks = [sample_time_masks(T, self.cfg, gen) for _ in range(B)]
        ctx = [m[0].nonzero().squeeze(1) for m in masks]
        tgt = [[g.nonzero().squeeze(1) for g in m[1]] for m in masks]
        n_ctx = min(len(c) for c in ctx)
        n_tgt = min(len(g) for groups in tgt for g in groups)
        context = torch.stack([_subset(c, n_ctx, gen) for c in ctx])
        target = torch.stack([torch.stack([_subset(g, n_tgt, gen) for g in groups]) for groups in tgt])
        return {
            "audio": audio,
            "context_idx": expand_to_tokens(context, T, C),
            "target_idx": expand_to_tokens(target, T, C),
        }
