"""Training batches indexed by global step, for exact resumption.

Batch b holds the clips at positions b*B .. b*B+B-1 of an endless, epoch-shuffled list of
files, and every random draw for it (crop offsets, clean/wet, scene, SNR, masks) comes from
(seed, b). So the batch a step sees depends on nothing but the step number: a run resumed at
step N gets batch N next, with any number of workers or ranks. Workers take steps in turn
(worker w of W makes steps w, w+W, ...) and the DataLoader's round-robin puts them back in order.

This needs random access to the clip list: folder, manifest and built-in corpus sources have
it. Streaming WebDataset shards do not; they go through data.dataset.NaturalisticCrops instead.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import torch
from torch.utils.data import IterableDataset, get_worker_info

from wavjepa_nat.data.augment import AugmentConfig, Augmenter, keep_freed_memory
from wavjepa_nat.dsp import clip_rng
from wavjepa_nat.data.clips import ClipConfig, prepare_clip
from wavjepa_nat.data.sources import AudioItem, _FileListSource
from wavjepa_nat.errors import InputError
from wavjepa_nat.rir_bank import RIRBank


def is_indexable(source) -> bool:
    return isinstance(source, _FileListSource)


class StepBatches(IterableDataset):
    """Yields collate_fn(list of crops) for steps start, start+1, ... (for this rank), forever."""

    def __init__(self, source: _FileListSource, bank_path: str, clip_cfg: ClipConfig, aug_cfg: AugmentConfig,
                 batch_clips: int, collate_fn: Callable[[list, int], object], start_step: int = 0,
                 rank: int = 0, world_size: int = 1):
        if not is_indexable(source):
            raise InputError("step-indexed batches need a folder, manifest or corpus source")
        if len(source) == 0:
            raise InputError(f"the data source {source!r} lists no audio files")
        self.source, self.bank_path = source, str(bank_path)
        self.clip_cfg, self.aug_cfg = clip_cfg, aug_cfg
        self.batch_clips, self.collate_fn = int(batch_clips), collate_fn
        self.start_step, self.rank, self.world_size = int(start_step), int(rank), int(world_size)
        self._augmenter = None
        self._orders: dict[int, np.ndarray] = {}

    def _order(self, epoch: int) -> np.ndarray:
        """The file order of an epoch: the same permutation in every process."""
        if epoch not in self._orders:
            self._orders = {epoch: np.random.default_rng([self.aug_cfg.seed, epoch, 11]).permutation(len(self.source))}
        return self._orders[epoch]

    def _item(self, position: int) -> AudioItem:
        """The clip at an absolute position of the endless list; unreadable files give way to the next one."""
        n = len(self.source)
        for attempt in range(n):
            p = position + attempt
            entry = self.source.entries[int(self._order(p // n)[p % n])]
            decoded = self.source._decode(entry.path, entry.path)
            if decoded is not None:
                return AudioItem(decoded[0], decoded[1], entry.key, entry.labels, entry.split)
        raise InputError(f"no readable audio in {self.source!r}")

    def batch(self, step: int):
        if self._augmenter is None:
            self._augmenter = Augmenter(RIRBank(self.bank_path), self.aug_cfg, self.clip_cfg.fs)
        global_batch = step * self.world_size + self.rank
        crops = []
        for j in range(self.batch_clips):
            position = global_batch * self.batch_clips + j
            rng = clip_rng(self.aug_cfg.seed, 17, position)
            dry = prepare_clip(self._item(position), self.clip_cfg, rng)
            crops.extend(self._augmenter(dry, rng))
        return self.collate_fn(crops, global_batch)

    def __iter__(self):
        info = get_worker_info()
        if info is not None:
            keep_freed_memory()  # per-clip temporaries reuse freed pages instead of faulting new ones
        worker, n_workers = (0, 1) if info is None else (info.id, info.num_workers)
        step = self.start_step + worker
        while True:
            yield self.batch(step)
            step += n_workers


def seeded_collate(collator, seed: int) -> Callable[[list, int], dict]:
    """Masks for batch b from a generator seeded by (seed, b): independent of workers and restarts."""

    def collate(crops: list, global_batch: int) -> dict:
        generator = torch.Generator().manual_seed(int(seed) * 1_000_003 + int(global_batch))
        return collator([torch.as_tensor(c) for c in crops], generator=generator)

    return collate
