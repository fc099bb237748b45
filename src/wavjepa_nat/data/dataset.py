"""Training crops from audio sources and an RIR bank: an IterableDataset and a LightningDataModule.

    source (AudioItem) -> prepare_clip (10 s, 16 kHz mono) -> naturalistic augmentation -> n_crops crops

Two places to augment:
- augment_on="cpu": DataLoader workers run augment.py and yield crops (C, crop_samples); a batch of
  B clips is B * n_crops consecutive crops of one worker.
- augment_on="gpu": workers yield the dry clip with its random draws, BRIR and noise (dicts of tensors);
  the DataModule's `on_after_batch_transfer` runs augment_torch on the device.
Both consume the same draws, so for one seed they give the same crops (up to fp32 rounding).

Every random number of a clip comes from a generator seeded by (seed, process slot, epoch, clip counter),
where the slot numbers DDP ranks x DataLoader workers: reproducible and independent across workers.
The bank is opened lazily in the process that iterates (h5py handles must not cross a fork).
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable, Iterator
from dataclasses import asdict
from pathlib import Path
from typing import Any

import lightning as L
import torch
from torch.utils.data import DataLoader, IterableDataset, default_collate, get_worker_info

from wavjepa_nat.data.augment import AugmentConfig, Augmenter, augment_batch, keep_freed_memory
from wavjepa_nat.dsp import clip_rng
from wavjepa_nat.data.augment_torch import NaturalisticAugment, is_dry_batch, to_torch_batch
from wavjepa_nat.data.clips import ClipConfig, prepare_clip
from wavjepa_nat.errors import InputError

MODES = ("cpu", "gpu")


def open_bank(bank: Any):
    """An RIRBank from a path, or a bank-like object passed through (tests, in-memory banks)."""
    if isinstance(bank, (str, Path)):
        if not Path(bank).is_file():
            raise InputError(f"RIR bank not found: {bank}")
        from wavjepa_nat.rir_bank import RIRBank

        return RIRBank(bank)
    return bank


def _process_slot() -> tuple[int, int]:
    """(slot, n_slots) of this process among DDP ranks x DataLoader workers."""
    if torch.distributed.is_available() and torch.distributed.is_initialized():
        rank, world = torch.distributed.get_rank(), torch.distributed.get_world_size()
    else:
        rank, world = int(os.environ.get("RANK", "0")), int(os.environ.get("WORLD_SIZE", "1"))
    info = get_worker_info()
    worker, n_workers = (info.id, info.num_workers) if info is not None else (0, 1)
    return rank * n_workers + worker, world * n_workers


def _splits_itself(source: Any) -> bool:
    """Sources from data.sources split their items across ranks and workers on their own."""
    from wavjepa_nat.data.sources import AudioSource

    return isinstance(source, AudioSource)


def check_bank(bank: Any, clip_cfg: ClipConfig, aug_cfg: AugmentConfig) -> None:
    """Bank and clips must share a sample rate, and the split must hold scenes (unless every clip is dry)."""
    if int(bank.fs) != int(clip_cfg.fs):
        raise InputError(f"the RIR bank is at {bank.fs} Hz but clips are at {clip_cfg.fs} Hz; they must match")
    if aug_cfg.clean_ratio < 1.0 and len(bank.select(split=aug_cfg.split, rt60=aug_cfg.rt60)) == 0:
        rt = f" with RT60 in {aug_cfg.rt60}" if aug_cfg.rt60 else ""
        raise InputError(f"the RIR bank has no scenes in split '{aug_cfg.split}'{rt}")
    if clip_cfg.n_samples < aug_cfg.crop_samples:
        raise InputError(f"clips of {clip_cfg.clip_seconds} s are shorter than a crop ({aug_cfg.crop_samples} samples)")


class NaturalisticCrops(IterableDataset):
    """Yields crops (C, crop_samples) float32 (mode "cpu") or per-clip dicts for augment_torch (mode "gpu")."""

    def __init__(
        self,
        source: Iterable,
        bank: Any,
        clip_cfg: ClipConfig | None = None,
        aug_cfg: AugmentConfig | None = None,
        mode: str = "cpu",
    ):
        super().__init__()
        if mode not in MODES:
            raise InputError(f"mode must be one of {MODES}, got '{mode}'")
        self.source, self.bank_ref, self.mode = source, bank, mode
        self.clip_cfg = clip_cfg or ClipConfig()
        self.aug_cfg = aug_cfg or AugmentConfig()
        self.epoch = 0
        self._augmenter: Augmenter | None = None
        self._pid: int | None = None

    def set_epoch(self, epoch: int) -> None:
        self.epoch = int(epoch)

    def augmenter(self) -> Augmenter:
        """Opened once per process: a forked worker never reuses its parent's HDF5 handle."""
        if self._augmenter is None or self._pid != os.getpid():
            bank = open_bank(self.bank_ref)
            check_bank(bank, self.clip_cfg, self.aug_cfg)
            self._augmenter = Augmenter(bank, self.aug_cfg, self.clip_cfg.fs)
            self._pid = os.getpid()
        return self._augmenter

    def __getstate__(self) -> dict:
        state = dict(self.__dict__)
        state["_augmenter"], state["_pid"] = None, None  # workers open their own bank
        return state

    def _items(self, epoch: int) -> Iterator:
        if hasattr(self.source, "set_epoch"):
            self.source.set_epoch(epoch)
        if _splits_itself(self.source):
            yield from self.source
            return
        slot, n_slots = _process_slot()
        for i, item in enumerate(self.source):
            if i % n_slots == slot:
                yield item

    def __iter__(self) -> Iterator:
        # As in data.sources: a persistent worker advances its own copy, a fresh one gets the loader's epoch.
        epoch, self.epoch = self.epoch, self.epoch + 1
        if get_worker_info() is not None and self.mode == "cpu":
            keep_freed_memory()  # a worker process: its per-clip temporaries reuse mapped memory
        aug = self.augmenter()
        slot, _ = _process_slot()
        n = self.clip_cfg.n_samples
        for counter, item in enumerate(self._items(epoch)):
            rng = clip_rng(self.aug_cfg.seed, slot, epoch, counter)
            dry = prepare_clip(item, self.clip_cfg, rng)
            draws = aug.draw(rng, 1, n)
            inputs = aug.gather(draws, n)
            if self.mode == "cpu":
                yield from augment_batch(dry[None], draws, inputs, self.aug_cfg)
            else:
                yield {k: v[0] for k, v in to_torch_batch(dry[None], draws, inputs).items()}


class _EpochLoader(DataLoader):
    """A DataLoader that tells its dataset the epoch before each pass (workers copy the dataset then)."""

    def __iter__(self):
        if not hasattr(self, "_passes"):
            self._passes = 0
        self.dataset.set_epoch(self._passes)
        self._passes += 1
        return super().__iter__()


def stack_crops(crops: list) -> torch.Tensor:
    """Default collate for crops: (B * n_crops, C, S) float32."""
    return torch.stack([torch.as_tensor(c) for c in crops])


def _to_device(obj: Any, device: torch.device) -> Any:
    if isinstance(obj, torch.Tensor):
        return obj.to(device, non_blocking=True)
    if isinstance(obj, dict):
        return {k: _to_device(v, device) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return type(obj)(_to_device(v, device) for v in obj)
    return obj


class NaturalisticDataModule(L.LightningDataModule):
    """Batches of B clips -> B * n_crops naturalistic crops, collated by `collate_fn` (e.g. the MaskCollator).

    source_spec: a string for data.sources.open_source (folder, manifest, shards, "builtin") or an iterable
    of AudioItem. bank_path: the HDF5 RIR bank. With augment_on="gpu" the augmentation runs in
    `on_after_batch_transfer` on the training device, and collate_fn is applied to the crops there.
    """

    def __init__(
        self,
        source_spec: Any,
        bank_path: Any,
        clip_cfg: ClipConfig | None = None,
        aug_cfg: AugmentConfig | None = None,
        batch_size: int = 16,
        num_workers: int = 2,
        collate_fn: Callable[[list], Any] | None = None,
        augment_on: str = "cpu",
        val_source_spec: Any = None,
        val_split: str | None = "val",
    ):
        super().__init__()
        if augment_on not in MODES:
            raise InputError(f"augment_on must be one of {MODES}, got '{augment_on}'")
        if batch_size < 1 or num_workers < 0:
            raise InputError(f"batch_size must be >= 1 and num_workers >= 0, got {batch_size}, {num_workers}")
        self.source_spec, self.bank_path = source_spec, bank_path
        self.val_source_spec, self.val_split = val_source_spec, val_split
        self.clip_cfg = clip_cfg or ClipConfig()
        self.aug_cfg = aug_cfg or AugmentConfig()
        self.batch_size, self.num_workers = int(batch_size), int(num_workers)
        self.collate_fn, self.augment_on = collate_fn, augment_on
        self.augment = NaturalisticAugment(self.aug_cfg)
        self.val_augment = NaturalisticAugment(self._val_cfg())
        self._validated = False

    def _val_cfg(self) -> AugmentConfig:
        # Validation scenes come from their own split, with a fixed seed stream (independent of training).
        return AugmentConfig(**{**asdict(self.aug_cfg), "split": self.val_split, "seed": self.aug_cfg.seed + 1})

    def config(self) -> dict:
        """JSON-serialisable description, to be stored inside checkpoints."""
        return {
            "source": str(self.source_spec),
            "bank": str(self.bank_path),
            "clip": asdict(self.clip_cfg),
            "augment": asdict(self.aug_cfg),
            "batch_size": self.batch_size,
            "augment_on": self.augment_on,
        }

    def _check(self, aug_cfg: AugmentConfig) -> None:
        bank = open_bank(self.bank_path)
        try:
            check_bank(bank, self.clip_cfg, aug_cfg)
        finally:
            if hasattr(bank, "close"):
                bank.close()  # workers open their own

    def setup(self, stage: str | None = None) -> None:
        if not self._validated:
            self._check(self.aug_cfg)
            if self.val_source_spec is not None:
                self._check(self._val_cfg())
            self._validated = True

    def _source(self, spec: Any, train: bool) -> Iterable:
        if isinstance(spec, (str, Path)):
            from wavjepa_nat.data.sources import open_source

            return open_source(spec, **({"shuffle": True, "seed": self.aug_cfg.seed} if train else {}))
        return spec

    def _loader(self, spec: Any, aug_cfg: AugmentConfig, train: bool) -> DataLoader:
        dataset = NaturalisticCrops(self._source(spec, train), self.bank_path, self.clip_cfg, aug_cfg, self.augment_on)
        if self.augment_on == "cpu":
            batch, collate = self.batch_size * aug_cfg.n_crops, self.collate_fn or stack_crops
        else:
            batch, collate = self.batch_size, default_collate
        loader_cls = _EpochLoader if train else DataLoader
        return loader_cls(
            dataset,
            batch_size=batch,
            num_workers=self.num_workers,
            collate_fn=collate,
            pin_memory=torch.cuda.is_available(),
            persistent_workers=False,
        )

    def train_dataloader(self) -> DataLoader:
        self.setup()
        return self._loader(self.source_spec, self.aug_cfg, train=True)

    def val_dataloader(self) -> DataLoader | list:
        if self.val_source_spec is None:
            return []
        self.setup()
        return self._loader(self.val_source_spec, self._val_cfg(), train=False)

    def on_after_batch_transfer(self, batch: Any, dataloader_idx: int) -> Any:
        if not is_dry_batch(batch):
            return batch  # augmented in the workers already
        training = self.trainer is None or self.trainer.training
        crops = (self.augment if training else self.val_augment)(batch)
        if self.collate_fn is None:
            return crops
        return _to_device(self.collate_fn(list(crops)), crops.device)
