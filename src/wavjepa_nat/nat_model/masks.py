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
    """Bool (n_time,) union of random spans;
    span count = floor(rate * n_time / length + U(0,1)) (wav2vec 2.0)."""
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


def pad_sets(sets: Sequence[torch.Tensor]) -> tuple[torch.Tensor, torch.Tensor]:
    """Index sets of different sizes -> (idx (n, N_max) long, valid (n, N_max) bool).

    A padded slot repeats its set's first index, so it still points at a real token (gathers stay in
    range); `valid` marks it False so the model masks it out.
    """
    n_max = max(len(s) for s in sets)
    idx = torch.stack([torch.cat([s, s[:1].expand(n_max - len(s))]) for s in sets])
    valid = torch.arange(n_max)[None] < torch.tensor([len(s) for s in sets])[:, None]
    return idx, valid


class MaskCollator:
    """Collate crops [(C, S) float32, ...] -> dict of
        "audio"        (B, C, S) float32
        "context_idx"  (B, Nc) long,    "context_valid" (B, Nc) bool
        "target_idx"   (B, G, Nt) long, "target_valid"  (B, G, Nt) bool

    Indices are ear-major token indices. Every crop keeps exactly the masks its sampler drew: sets are
    padded to the largest in the batch (Nc, Nt = batch maxima) instead of trimmed to the smallest, which
    with per-crop masks would halve the context (~10 % instead of ~20 % of frames). Padded slots repeat
    a valid index and are False in the `*_valid` masks. Deterministic: a torch.Generator seeded from
    `seed` and, inside a DataLoader worker, the worker's seed (which itself follows torch's global seed).
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

    def __call__(
        self, crops: Sequence[np.ndarray | torch.Tensor], generator: torch.Generator | None = None
    ) -> dict[str, torch.Tensor]:
        """`generator` overrides the collator's own (step-indexed training seeds each batch itself)."""
        # as_tensor keeps device tensors where they are (the DataModule collates on the GPU after
        # augmenting there); the index tensors are built on the CPU and moved by the caller.
        audio = torch.stack([torch.as_tensor(c, dtype=torch.float32) for c in crops])
        if audio.dim() != 3 or audio.shape[1] != self.cfg.channels:
            raise InputError(
                f"crops must be ({self.cfg.channels}, samples) arrays for this model, "
                f"got {tuple(audio.shape[1:])}"
            )
        return {"audio": audio, **self.masks(audio.shape[0], audio.shape[2], generator)}

    def masks(self, n_crops: int, crop_samples: int, generator: torch.Generator | None = None) -> dict:
        """The index sets for n_crops crops of crop_samples samples (no audio needed: the training stream
        draws them in the workers also when the crops are made later, on the GPU)."""
        C, T, G = self.cfg.channels, n_frames(crop_samples, self.cfg.conv_spec), self.cfg.target_groups
        gen = generator if generator is not None else self._generator()
        masks = [sample_time_masks(T, self.cfg, gen) for _ in range(n_crops)]
        ctx = [expand_to_tokens(m[0].nonzero().squeeze(1), T, C) for m in masks]
        tgt = [expand_to_tokens(g.nonzero().squeeze(1), T, C) for m in masks for g in m[1]]  # crop-major
        context_idx, context_valid = pad_sets(ctx)
        target_idx, target_valid = pad_sets(tgt)
        return {
            "context_idx": context_idx,
            "context_valid": context_valid,
            "target_idx": target_idx.view(n_crops, G, -1),
            "target_valid": target_valid.view(n_crops, G, -1),
        }
