"""Training batches: the one data path of `train`, for every source, augmenting on the CPU or the GPU.

    source (AudioItem) -> prepare_clip (10 s mono) -> draws + scene inputs -> crops -> masks -> batch

One batch per optimizer step, for this rank. Two kinds of source:
- file lists (folders, manifests, the built-in corpus) are **step-indexed**: the batch of global batch
  index g = step * world_size + rank holds the clips at positions g*B .. g*B+B-1 of an endless,
  epoch-shuffled file list, and every random draw for it (crop offsets, clean/wet, scene, SNR, masks) comes
  from (seed, position) and (seed, g). So a batch depends on nothing but the step number: a run resumed at
  step N gets batch N next, with any number of workers or ranks. Worker w of W makes steps w, w+W, ... and
  the DataLoader's round-robin puts them back in order.
- WebDataset shards are **streamed**: each (rank, worker) slot reads its own share of the shards (the
  source splits itself) and groups its clips into batches; the draws come from (seed, start step, slot,
  batch counter). A resumed run continues the schedule and weights exactly, not the data order.

Where the arithmetic runs:
- augment_on="cpu": the workers make the crops; a batch is {"audio": (B*n_crops, C, S), masks...};
  with dry_reference also "dry_audio" (B*n_crops, 1, S): the same crops of the dry source (train
  --teacher-input dry), from the same draws on both paths;
- augment_on="gpu": the workers make the draws and read the scenes; a batch is {"scene": the dict of
  augment_torch.to_torch_batch, masks...} and `TrainingData.on_after_batch_transfer` makes the crops on the
  device. Both consume the same draws, so they give the same crops (up to fp32 rounding).

A bank is needed only when some clips are wet (clean_ratio < 1). It is opened once to check it, then
lazily in each process that iterates (h5py handles must not cross a fork).
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import lightning as L
import numpy as np
import torch
from torch.utils.data import DataLoader, IterableDataset, get_worker_info

from wavjepa_nat.data.augment import AUGMENT_ON, AugmentConfig, Augmenter, augment_batch, keep_freed_memory
from wavjepa_nat.data.augment_torch import NaturalisticAugment, to_torch_batch
from wavjepa_nat.data.clips import ClipConfig, prepare_clip, prepare_clip_and_length
from wavjepa_nat.data.mixtures import (
    MixConfig,
    MixDraws,
    MixInputs,
    check_positions,
    draw_mixtures,
    mix_inputs,
    mixture_crops,
    partner_index,
    source_weights,
)
from wavjepa_nat.data.sources import AudioItem, AudioSource, FileListSource, process_slot
from wavjepa_nat.dsp import clip_rng
from wavjepa_nat.errors import InputError

# (n_crops, crop_samples, generator) -> the mask index tensors of a batch (nat_model.MaskCollator.masks)
MaskFn = Callable[[int, int, torch.Generator], dict]

# Stream ids of clip_rng, so that clip draws, streamed batches and masks never share a random stream.
_CLIP_STREAM, _SHARD_STREAM, _MASK_STREAM, _MIX_STREAM = 17, 23, 29, 31


def open_bank(bank: Any):
    """An RIRBank from a path, a bank-like object passed through (tests, in-memory banks), or None."""
    if bank is None or (isinstance(bank, str) and not bank):
        return None
    if isinstance(bank, (str, Path)):
        from wavjepa_nat.rir_bank import RIRBank  # InputError when missing or not a bank

        return RIRBank(bank)
    return bank


def mask_generator(seed: int, *key: int) -> torch.Generator:
    """The torch generator of one batch's masks, seeded by (seed, key): independent of workers and
    restarts."""
    return torch.Generator().manual_seed(int(clip_rng(seed, _MASK_STREAM, *key).integers(2**62)))


class TrainingBatches(IterableDataset):
    """Yields one training batch (a dict, see the module docstring) per step, from `start_step` on,
    forever."""

    def __init__(
        self,
        source: AudioSource,
        bank: Any,
        clip_cfg: ClipConfig,
        aug_cfg: AugmentConfig,
        batch_clips: int,
        masks: MaskFn | None = None,
        augment_on: str = "cpu",
        start_step: int = 0,
        dry_reference: bool = False,
        mix: MixConfig | None = None,
    ):
        """mix: polyphonic scenes (data/mixtures.py); None or probability 0: none, and batches exactly as
        without it."""
        if augment_on not in AUGMENT_ON:
            raise InputError(f"augment_on must be one of {', '.join(AUGMENT_ON)}, got '{augment_on}'")
        if batch_clips < 1 or start_step < 0:
            raise InputError(f"batch_clips must be >= 1 and start_step >= 0, got {batch_clips}, {start_step}")
        if clip_cfg.n_samples < aug_cfg.crop_samples:
            raise InputError(
                f"clips of {clip_cfg.clip_seconds} s are shorter than a crop ({aug_cfg.crop_samples} samples)"
            )
        if isinstance(source, FileListSource) and len(source) == 0:
            raise InputError(f"the data source {source!r} lists no audio files")
        self.source, self.bank_ref = source, bank
        self.clip_cfg, self.aug_cfg = clip_cfg, aug_cfg
        self.batch_clips, self.masks, self.augment_on = int(batch_clips), masks, augment_on
        self.start_step, self.dry_reference = int(start_step), bool(dry_reference)
        self.mix = mix if mix is not None and mix.on else None
        if self.mix is not None and isinstance(source, FileListSource) and len(source) < 2:
            raise InputError("--mix-prob needs a data source of at least 2 files (the other sources)")
        slot = process_slot()  # TrainingData sets the trainer's rank and world size before iterating
        self.rank, self.world_size = slot.rank, slot.world_size
        self._augmenter: Augmenter | None = None
        self._pid: int | None = None
        self._orders: dict[int, np.ndarray] = {}
        aug = self.augmenter()  # checks the bank against the configs now, in the calling process
        if self.mix is not None:
            check_positions(aug.bank, aug.pool, self.mix, aug_cfg.clean_ratio)

    def augmenter(self) -> Augmenter:
        """Opened once per process: a forked worker never reuses its parent's HDF5 handle."""
        if self._augmenter is None or self._pid != os.getpid():
            self._augmenter = Augmenter(open_bank(self.bank_ref), self.aug_cfg, self.clip_cfg.fs)
            self._pid = os.getpid()
        return self._augmenter

    def __getstate__(self) -> dict:
        state = dict(self.__dict__)
        state["_augmenter"], state["_pid"] = None, None  # workers open their own bank
        return state

    # ---------------------------------------------------------------- one batch from its clips

    def _batch(
        self,
        items: list[AudioItem],
        rngs: list[np.random.Generator],
        generator: torch.Generator,
        mixing: list[tuple[MixDraws, list[np.ndarray | None]]] | None = None,
    ) -> dict:
        aug, n = self.augmenter(), self.clip_cfg.n_samples
        dry, draws, inputs = [], [], []
        for item, rng in zip(items, rngs):
            clip, sound = prepare_clip_and_length(item, self.clip_cfg, rng)
            dry.append(clip)
            draws.append(aug.draw(rng, 1, n, sound))  # crops within the sound, not over the padding
            # Mixtures mix whole noise (made in the workers); otherwise --augment-on gpu makes it from parts.
            inputs.append(aug.gather(draws[-1], n, noise_parts=self.augment_on == "gpu" and mixing is None))
        if mixing is not None:
            mixes = [
                mix_inputs(aug.bank, self.mix, m, p, d, n, aug.brir_len, self.aug_cfg.brir_tail_db)
                for (m, p), d in zip(mixing, draws)
            ]
            return self._mix_batch(dry, draws, inputs, mixes, generator)
        masks = (
            self.masks(len(items) * self.aug_cfg.n_crops, self.aug_cfg.crop_samples, generator)
            if self.masks is not None
            else {}
        )
        if self.augment_on == "gpu":
            scene = [to_torch_batch(d[None], dr, inp) for d, dr, inp in zip(dry, draws, inputs)]
            return {"scene": {k: torch.cat([s[k] for s in scene]) for k in scene[0]}, **masks}
        crops = [
            augment_batch(d[None], dr, inp, self.aug_cfg, self.dry_reference)
            for d, dr, inp in zip(dry, draws, inputs)
        ]
        if self.dry_reference:
            return {
                "audio": torch.from_numpy(np.concatenate([c for c, _ in crops])),
                "dry_audio": torch.from_numpy(np.concatenate([r for _, r in crops])),
                **masks,
            }
        return {"audio": torch.from_numpy(np.concatenate(crops)), **masks}

    # ---------------------------------------------------------------- polyphonic scenes

    def _mix_batch(self, dry, draws, inputs, mixes: list[MixInputs], generator) -> dict:
        masks = (
            self.masks(len(dry) * self.aug_cfg.n_crops, self.aug_cfg.crop_samples, generator)
            if self.masks is not None
            else {}
        )
        if self.augment_on == "gpu":
            scene = [to_torch_batch(d[None], dr, inp, m) for d, dr, inp, m in zip(dry, draws, inputs, mixes)]
            return {"scene": {k: torch.cat([s[k] for s in scene]) for k in scene[0]}, **masks}
        views = None if self.mix.target == "mixture" else ("dry" if self.dry_reference else "same")
        audio, dry_audio, sources, weights = [], [], [], []
        for d, dr, inp, m in zip(dry, draws, inputs, mixes):
            taps = None if inp.taps is None else int(inp.taps[0])
            crops, dry_crops, each = mixture_crops(
                d,
                bool(dr.is_clean[0]),
                inp.brir[0],
                inp.noise[0],
                float(dr.snr_db[0]),
                int(inp.delay[0]),
                dr.crop_offsets[0],
                self.aug_cfg,
                taps,
                m,
                views,
                self.dry_reference,
            )
            audio.append(crops)
            dry_audio.append(dry_crops)
            sources.append(each)
            weights.append(torch.from_numpy(source_weights(m.on, len(crops))))
        batch = {"audio": torch.from_numpy(np.concatenate(audio)), **masks}
        if self.dry_reference:
            batch["dry_audio"] = torch.from_numpy(np.concatenate(dry_audio))
        if views is not None:
            batch["source_audio"] = torch.from_numpy(np.concatenate(sources))
            batch["source_weight"] = torch.from_numpy(np.concatenate(weights))
        return batch

    def _partners_of_position(self, draws: MixDraws, position: int) -> list[np.ndarray | None]:
        """Other files of the list (never the clip's own file), prepared as clips are."""
        n_files, e = len(self.source), self.mix.extra
        partners: list[np.ndarray | None] = [None] * e
        if not draws.is_mix[0]:
            return partners
        own = int(self._order(position // n_files)[position % n_files])
        for slot in range(min(int(draws.n_sources[0]) - 1, e)):
            item = self.source.item(partner_index(float(draws.partner[0, slot]), own, n_files))
            if item is not None:
                rng = clip_rng(self.aug_cfg.seed, _MIX_STREAM, position, slot + 1)
                partners[slot] = prepare_clip(item, self.clip_cfg, rng)
        return partners

    # ---------------------------------------------------------------- step-indexed file lists

    def _order(self, epoch: int) -> np.ndarray:
        """The file order of an epoch: the same permutation in every process."""
        if epoch not in self._orders:
            self._orders = {
                epoch: np.random.default_rng([self.aug_cfg.seed, epoch, 11]).permutation(len(self.source))
            }
        return self._orders[epoch]

    def _item(self, position: int) -> AudioItem:
        """The clip at an absolute position of the endless list; unreadable files give way to the next one."""
        n = len(self.source)
        for attempt in range(n):
            p = position + attempt
            item = self.source.item(int(self._order(p // n)[p % n]))
            if item is not None:
                return item
        raise InputError(f"no readable audio in {self.source!r}")

    def batch_at(self, step: int) -> dict:
        """The batch of a step for this rank (file-list sources)."""
        global_batch = step * self.world_size + self.rank
        positions = [global_batch * self.batch_clips + j for j in range(self.batch_clips)]
        rngs = [clip_rng(self.aug_cfg.seed, _CLIP_STREAM, p) for p in positions]
        items = [self._item(p) for p in positions]
        mixing = None
        if self.mix is not None:
            mix_draws = [
                draw_mixtures(clip_rng(self.aug_cfg.seed, _MIX_STREAM, p), 1, self.mix) for p in positions
            ]
            mixing = [(m, self._partners_of_position(m, p)) for m, p in zip(mix_draws, positions)]
        return self._batch(items, rngs, mask_generator(self.aug_cfg.seed, global_batch), mixing)

    # ---------------------------------------------------------------- streamed shards

    def _streamed(self) -> Iterator[dict]:
        slot = process_slot()
        items: list[AudioItem] = []
        counter = 0
        for item in self.source:
            items.append(item)
            if len(items) < self.batch_clips:
                continue
            key = (self.start_step, slot.index, counter)
            rngs = [clip_rng(self.aug_cfg.seed, _SHARD_STREAM, *key, j) for j in range(len(items))]
            mixing = None if self.mix is None else self._streamed_mixing(items, key)
            yield self._batch(items, rngs, mask_generator(self.aug_cfg.seed, _SHARD_STREAM, *key), mixing)
            items, counter = [], counter + 1

    def _streamed_mixing(self, items: list[AudioItem], key: tuple) -> list:
        """Streamed shards: the interferers are the batch's other clips (K capped at the batch's size)."""
        mixing = []
        for j in range(len(items)):
            draws = draw_mixtures(clip_rng(self.aug_cfg.seed, _MIX_STREAM, *key, j), 1, self.mix)
            partners: list[np.ndarray | None] = [None] * self.mix.extra
            if draws.is_mix[0]:
                for slot in range(min(int(draws.n_sources[0]) - 1, self.mix.extra, len(items) - 1)):
                    rng = clip_rng(self.aug_cfg.seed, _MIX_STREAM, *key, j, slot + 1)
                    partners[slot] = prepare_clip(items[(j + 1 + slot) % len(items)], self.clip_cfg, rng)
            mixing.append((draws, partners))
        return mixing

    def __iter__(self) -> Iterator[dict]:
        info = get_worker_info()
        if info is not None and self.augment_on == "cpu":
            keep_freed_memory()  # a worker process: its per-clip temporaries reuse freed pages
        if not isinstance(self.source, FileListSource):
            yield from self._streamed()
            return
        worker, n_workers = (0, 1) if info is None else (info.id, info.num_workers)
        step = self.start_step + worker
        while True:
            yield self.batch_at(step)
            step += n_workers


def crops_on_device(batch: dict, augment: NaturalisticAugment) -> dict:
    """A batch from augment_on="gpu" (already on the device) -> the same batch with "audio" crops in it (and
    "dry_audio" when the augmentation returns the dry reference's crops)."""
    if "scene" not in batch:
        return batch
    batch = dict(batch)
    crops = augment(batch.pop("scene"))
    if isinstance(crops, dict):  # polyphonic scenes
        batch.update(crops)
    elif isinstance(crops, tuple):
        batch["audio"], batch["dry_audio"] = crops
    else:
        batch["audio"] = crops
    return batch


class StopOnEmptyPass(L.Callback):
    """A streamed source whose every worker ran dry ends the DataLoader's pass with no batch; Lightning would
    start another pass, and another, for ever (a shard list with no audio). Stop with one line instead."""

    def __init__(self, data: str):
        self.data, self.start = data, 0

    def on_train_epoch_start(self, trainer, pl_module) -> None:
        self.start = trainer.global_step

    def on_train_epoch_end(self, trainer, pl_module) -> None:
        if trainer.global_step == self.start:
            raise InputError(f"--data {self.data}: the stream produced no audio (empty or unreadable shards)")


class TrainingData(L.LightningDataModule):
    """The Lightning side of TrainingBatches: a DataLoader that starts at the trainer's step (restored before
    the loader is made, so a resumed run continues its batches), and on-device augmentation."""

    def __init__(
        self,
        source: AudioSource,
        bank: Any,
        clip_cfg: ClipConfig,
        aug_cfg: AugmentConfig,
        batch_clips: int,
        num_workers: int,
        masks: MaskFn | None = None,
        augment_on: str = "cpu",
        dry_reference: bool = False,
        mix: MixConfig | None = None,
    ):
        """dry_reference: batches also carry the dry source's crops ("dry_audio"). mix: polyphonic scenes
        (with the retention target, batches carry "source_audio" and "source_weight")."""
        super().__init__()
        if num_workers < 0:
            raise InputError(f"num_workers must be >= 0, got {num_workers}")
        self.num_workers = int(num_workers)
        self.batches = TrainingBatches(
            source,
            bank,
            clip_cfg,
            aug_cfg,
            batch_clips,
            masks,
            augment_on,
            dry_reference=dry_reference,
            mix=mix,
        )
        self.augment = NaturalisticAugment(aug_cfg, return_dry=dry_reference, mix=self.batches.mix)

    def train_dataloader(self) -> DataLoader:
        if self.trainer is not None:  # restored from the checkpoint before this is called
            batches = self.batches
            batches.start_step = self.trainer.global_step
            batches.rank, batches.world_size = self.trainer.global_rank, self.trainer.world_size
        return DataLoader(
            self.batches, batch_size=None, num_workers=self.num_workers, pin_memory=torch.cuda.is_available()
        )

    def on_after_batch_transfer(self, batch: Any, dataloader_idx: int) -> Any:
        return crops_on_device(batch, self.augment)
