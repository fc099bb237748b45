"""Training WavJEPA (mono) and WavJEPA-Nat (binaural): data stage + model stage + Lightning.

    from wavjepa_nat.train import TrainConfig, train
    train(TrainConfig(data="corpus/", bank="bank.h5", out="runs/nat", preset="tiny", max_steps=300))

The run directory holds config.yaml (the resolved TrainConfig), last.ckpt, checkpoints/ every
`ckpt_every` steps, and CSV + TensorBoard logs. Checkpoints carry the model config (they
rebuild the model alone) and the train config. `resume=True` continues from last.ckpt exactly:
batches are indexed by step (data.step_stream), so the losses equal those of an unbroken run.
"""

from __future__ import annotations

import dataclasses
import json
import logging
import warnings
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path

import lightning as L
import torch
import yaml
from lightning.pytorch.callbacks import Callback, ModelCheckpoint, RichProgressBar
from lightning.pytorch.loggers import CSVLogger, TensorBoardLogger
from torch.utils.data import DataLoader

from wavjepa_nat import __version__
from wavjepa_nat.data.augment import AugmentConfig
from wavjepa_nat.data.dataset import NaturalisticDataModule
from wavjepa_nat.data.clips import ClipConfig
from wavjepa_nat.data.sources import open_source
from wavjepa_nat.data.step_stream import StepBatches, is_indexable, seeded_collate
from wavjepa_nat.errors import InputError
from wavjepa_nat.nat_model import MaskCollator, get_preset
from wavjepa_nat.nat_model.lightning_module import WavJEPAModule
from wavjepa_nat.rir_bank import RIRBank


@dataclass
class TrainConfig:
    data: str = ""  # folder, manifest (.csv/.jsonl), WebDataset shards (brace pattern) or "builtin"
    bank: str = ""  # the RIR bank (HDF5)
    out: str = "runs/run"
    preset: str = "tiny"  # tiny | small | base | large
    channels: int = 2  # 2: WavJEPA-Nat (binaural), 1: WavJEPA (mono)
    clean_ratio: float = 0.0  # probability (per clip) that a clip stays dry
    snr: tuple[float, float] = (5.0, 40.0)
    max_steps: int = 300
    batch_clips: int = 2  # clips per step per device; each gives n_crops crops
    n_crops: int = 8
    clip_seconds: float = 10.0
    num_workers: int = 2
    ckpt_every: int = 100
    log_every: int = 10
    seed: int = 0
    accelerator: str = "auto"
    devices: str = "auto"
    num_nodes: int = 1
    precision: str = "auto"  # auto: bf16-mixed on GPU, 32-true on CPU (bf16 on CPU is ~10x slower)
    augment_on: str = "cpu"  # cpu: in DataLoader workers; gpu: batched on the device after transfer
    compile: bool = False
    grad_checkpointing: bool = False
    resume: bool = False
    model_overrides: dict = field(default_factory=dict)  # e.g. {"lr": 1e-3, "warmup_steps": 50}

    @classmethod
    def from_sources(cls, yaml_path: str | None, flags: dict) -> "TrainConfig":
        """Defaults <- YAML file <- flags that were given (not None)."""
        values = {}
        if yaml_path:
            path = Path(yaml_path)
            if not path.is_file():
                raise InputError(f"--config file not found: {path}")
            loaded = yaml.safe_load(path.read_text()) or {}
            if not isinstance(loaded, dict):
                raise InputError(f"--config {path} must hold a mapping of option: value")
            values.update(loaded)
        values.update({k: v for k, v in flags.items() if v is not None})
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(values) - known)
        if unknown:
            raise InputError(f"unknown training option(s): {', '.join(unknown)}")
        if "snr" in values:
            values["snr"] = tuple(float(v) for v in values["snr"])
        return cls(**values)


def _check(cfg: TrainConfig) -> None:
    if not cfg.data:
        raise InputError("--data is required (a folder, manifest, shards or 'builtin')")
    if not cfg.bank and cfg.clean_ratio < 1.0:
        raise InputError("--bank is required unless --clean-ratio is 1")
    if cfg.channels not in (1, 2):
        raise InputError(f"--channels must be 1 or 2, got {cfg.channels}")
    if not 0.0 <= cfg.clean_ratio <= 1.0:
        raise InputError(f"--clean-ratio must lie in [0, 1], got {cfg.clean_ratio}")
    if cfg.max_steps < 1 or cfg.batch_clips < 1 or cfg.n_crops < 1:
        raise InputError("--max-steps, --batch-clips and --n-crops must be >= 1")
    if cfg.augment_on not in ("cpu", "gpu"):
        raise InputError(f"--augment-on must be cpu or gpu, got '{cfg.augment_on}'")


def _model_config(cfg: TrainConfig):
    try:
        model_cfg = get_preset(cfg.preset, channels=cfg.channels, grad_checkpointing=cfg.grad_checkpointing,
                               compile=cfg.compile, **cfg.model_overrides)
    except KeyError:
        raise InputError(f"--preset must be one of tiny, small, base, large; got '{cfg.preset}'") from None
    # Short runs: keep the reference's schedule shapes but fit them into max_steps (one replace: the
    # config validates warmup <= total on construction).
    fit = {}
    if "total_steps" not in cfg.model_overrides:
        fit["total_steps"] = cfg.max_steps
    if "warmup_steps" not in cfg.model_overrides:
        fit["warmup_steps"] = min(model_cfg.warmup_steps, max(1, cfg.max_steps // 10))
    if "ema_ramp_steps" not in cfg.model_overrides:
        fit["ema_ramp_steps"] = min(model_cfg.ema_ramp_steps, cfg.max_steps)
    model_cfg = dataclasses.replace(model_cfg, **fit)
    return model_cfg


def _check_resume_channels(ckpt: Path, channels: int) -> None:
    saved = torch.load(ckpt, map_location="cpu", weights_only=False).get("hyper_parameters", {})
    if "channels" in saved and int(saved["channels"]) != channels:
        raise InputError(f"{ckpt} is a {saved['channels']}-channel model but --channels is {channels}")


class _NoAdverts(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        return not str(record.msg).startswith("\U0001f4a1 Tip")  # Lightning's cloud-logger advert


_NO_ADVERTS = _NoAdverts()


def _quiet_lightning() -> None:
    """Drop Lightning messages that say nothing about this run (an advert, an internal deprecation)."""
    logging.getLogger("lightning.pytorch.utilities.rank_zero").addFilter(_NO_ADVERTS)  # a no-op when present
    warnings.filterwarnings("ignore", message=r".*isinstance\(treespec, LeafSpec\)")


class _StepProgressBar(RichProgressBar):
    """Lightning labels the bar "Epoch 0/-2" when a run is bounded by steps; say what it counts."""

    def _get_train_description(self, current_epoch: int) -> str:
        return "train steps"


def train(cfg: TrainConfig, progress: bool = True, callbacks: list | None = None) -> Path:
    """Train; returns the path of the final checkpoint (OUT/last.ckpt). `callbacks`: extra Lightning callbacks."""
    _check(cfg)
    out = Path(cfg.out)
    last = out / "last.ckpt"
    if cfg.resume and not last.is_file():
        raise InputError(f"--resume: no checkpoint to resume at {last}")
    if not cfg.resume and last.is_file():
        raise InputError(f"{out} already holds a run; use --resume to continue it or choose another --out")
    if cfg.resume:
        _check_resume_channels(last, cfg.channels)

    model_cfg = _model_config(cfg)
    if int(round(cfg.clip_seconds * model_cfg.fs)) < model_cfg.crop_samples:
        raise InputError(f"--clip-seconds {cfg.clip_seconds} is shorter than one crop "
                         f"({model_cfg.crop_samples / model_cfg.fs:.2f} s)")
    clip_cfg = ClipConfig(fs=model_cfg.fs, clip_seconds=cfg.clip_seconds)
    aug_cfg = AugmentConfig(clean_ratio=cfg.clean_ratio, snr_db=cfg.snr, channels=cfg.channels, n_crops=cfg.n_crops,
                            crop_samples=model_cfg.crop_samples, seed=cfg.seed)
    if cfg.bank:
        bank = RIRBank(cfg.bank)  # InputError if missing or not a bank
        if bank.fs != model_cfg.fs:
            raise InputError(f"the bank {cfg.bank} is at {bank.fs} Hz but the model and data run at {model_cfg.fs} Hz")
        if cfg.clean_ratio < 1.0 and len(bank.select(split="train")) == 0:
            raise InputError(f"the bank {cfg.bank} has no train-split scenes")
    source = open_source(cfg.data)  # InputError if missing or empty

    out.mkdir(parents=True, exist_ok=True)
    resolved = {"train": asdict(cfg), "model": model_cfg.to_dict(), "clip": asdict(clip_cfg),
                "augment": asdict(aug_cfg), "package_version": __version__}
    (out / "config.yaml").write_text(yaml.safe_dump(json.loads(json.dumps(resolved)), sort_keys=False))

    _quiet_lightning()
    L.seed_everything(cfg.seed, workers=True, verbose=False)
    on_gpu = torch.cuda.is_available() and cfg.accelerator in ("auto", "gpu", "cuda")
    precision = cfg.precision if cfg.precision != "auto" else ("bf16-mixed" if on_gpu else "32-true")
    module = WavJEPAModule(model_cfg)
    datamodule = _DataModule(cfg, source, clip_cfg, aug_cfg, MaskCollator(model_cfg, seed=cfg.seed))

    class StoreConfig(Callback):
        def on_save_checkpoint(self, trainer, pl_module, checkpoint):
            checkpoint["wavjepa_nat_train_config"] = resolved

    trainer = L.Trainer(
        max_steps=cfg.max_steps,
        accelerator=cfg.accelerator,
        devices=cfg.devices if cfg.devices == "auto" else int(cfg.devices),
        num_nodes=cfg.num_nodes,
        strategy="auto",  # DDP when several devices or nodes (torchrun and SLURM are detected)
        precision=precision,
        # One log version per start: a resumed run must not overwrite the earlier metrics.
        logger=[CSVLogger(str(out), name="logs"), TensorBoardLogger(str(out), name="tensorboard")],
        callbacks=[ModelCheckpoint(dirpath=str(out / "checkpoints"), filename="step{step:07d}", auto_insert_metric_name=False,
                                   every_n_train_steps=cfg.ckpt_every, save_top_k=-1, save_last=False), StoreConfig(),
                   *([_StepProgressBar()] if progress else []), *(callbacks or [])],
        log_every_n_steps=cfg.log_every,
        enable_progress_bar=progress,
        enable_model_summary=False,
        num_sanity_val_steps=0,
        limit_val_batches=0,
        use_distributed_sampler=False,  # our streams split themselves across ranks and workers
        deterministic=False,
    )
    trainer.fit(module, datamodule=datamodule, ckpt_path=str(last) if cfg.resume else None)
    trainer.save_checkpoint(str(last), weights_only=False)  # full state, so --resume continues exactly
    return last


class _DataModule(L.LightningDataModule):
    """Step-indexed batches (exact resume) for list sources; the data stage's streaming module for shards."""

    def __init__(self, cfg: TrainConfig, source, clip_cfg: ClipConfig, aug_cfg: AugmentConfig, collator):
        super().__init__()
        self.cfg, self.source, self.clip_cfg, self.aug_cfg, self.collator = cfg, source, clip_cfg, aug_cfg, collator
        self._inner = None

    def train_dataloader(self) -> DataLoader:
        cfg = self.cfg
        if is_indexable(self.source) and cfg.augment_on == "cpu":
            trainer = self.trainer
            stream = StepBatches(self.source, cfg.bank, self.clip_cfg, self.aug_cfg, cfg.batch_clips,
                                 seeded_collate(self.collator, cfg.seed),
                                 start_step=trainer.global_step if trainer else 0,  # restored before this call
                                 rank=trainer.global_rank if trainer else 0, world_size=trainer.world_size if trainer else 1)
            return DataLoader(stream, batch_size=None, num_workers=cfg.num_workers, pin_memory=torch.cuda.is_available())
        # Streaming sources (WebDataset shards) or augmentation on the GPU: the data stage's module
        # (resuming then continues the schedule and weights exactly, but not the data order).
        self._inner = NaturalisticDataModule(cfg.data, cfg.bank, self.clip_cfg, self.aug_cfg, cfg.batch_clips,
                                             cfg.num_workers, collate_fn=self.collator, augment_on=cfg.augment_on)
        self._inner.trainer = self.trainer
        return self._inner.train_dataloader()

    def on_after_batch_transfer(self, batch, dataloader_idx):
        return self._inner.on_after_batch_transfer(batch, dataloader_idx) if self._inner is not None else batch
