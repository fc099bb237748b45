"""Training WavJEPA (mono) and WavJEPA-Nat (binaural): data stage + model stage + Lightning.

    from wavjepa_nat.train import TrainConfig, train
    train(TrainConfig(data="corpus/", bank="bank.h5", out="runs/nat", preset="tiny", max_steps=300))
    train(TrainConfig(data="corpus/", channels=1, clean_ratio=1.0, out="runs/clean"))   # no bank needed

The run directory holds config.yaml (the resolved TrainConfig), last.ckpt, checkpoints/ every
`ckpt_every` steps, and CSV + TensorBoard logs. Checkpoints carry the model config (they
rebuild the model alone) and the train config. `resume=True` continues from the newest readable
checkpoint (last.ckpt or checkpoints/, so also after a kill -9) exactly, with the run's own model config
and schedule: batches are indexed by step (data.stream), so the losses equal those of an unbroken run.

`TrainConfig` is the one place where an option, its default and its help live: `wavjepa-nat train`
builds its flags from the fields' metadata.
"""

from __future__ import annotations

import dataclasses
import json
import logging
import math
import os
import warnings
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path

import lightning as L
import torch
import yaml
from lightning.pytorch.callbacks import Callback, ModelCheckpoint, RichProgressBar
from lightning.pytorch.loggers import CSVLogger, TensorBoardLogger

from wavjepa_nat.data.augment import AugmentConfig
from wavjepa_nat.data.clips import ClipConfig
from wavjepa_nat.data.sources import open_source
from wavjepa_nat.data.stream import AUGMENT_ON, TrainingData
from wavjepa_nat.errors import InputError, warn
from wavjepa_nat.nat_model import MaskCollator, get_preset
from wavjepa_nat.nat_model.config import PRESETS, ModelConfig
from wavjepa_nat.nat_model.lightning_module import WavJEPAModule
from wavjepa_nat.version import package_version


def _opt(default, help: str, flag: str | None = None, **kw):
    """A TrainConfig field with its CLI help (and flag, when it is not --field-name)."""
    meta = {"help": help, **({"flag": flag} if flag else {})}
    if isinstance(default, (dict, list)):
        return field(default_factory=lambda: type(default)(default), metadata={**meta, **kw})
    return field(default=default, metadata={**meta, **kw})


@dataclass
class TrainConfig:
    data: str = _opt("", "Training audio: a folder, a .csv/.jsonl manifest, WebDataset shards "
                         "('unbal_train{000..869}.tar') or 'builtin'.")
    bank: str = _opt("", "RIR bank (HDF5) from `simulate-rirs`; its train split is used. Not needed when "
                         "--clean-ratio is 1 (every clip dry).")
    out: str = _opt("runs/run", "Run directory: config.yaml, last.ckpt, checkpoints/, logs.")
    preset: str = _opt("tiny", "Model size: tiny (CPU, minutes) | small | base (the paper) | large.")
    channels: int = _opt(2, "2: WavJEPA-Nat (binaural), 1: WavJEPA (mono).")
    clean_ratio: float = _opt(0.0, "Probability that a clip stays dry (drawn per clip).")
    snr: tuple[float, float] = _opt((5.0, 40.0), "SNR range LO..HI in dB for wet clips.", range=True)
    max_steps: int = _opt(300, "Optimizer steps.")
    batch_clips: int = _opt(2, "Clips per step per device; each gives --n-crops crops.")
    n_crops: int = _opt(8, "2.01 s crops per clip.")
    clip_seconds: float = _opt(10.0, "Clips are padded or cut to this length (s).")
    num_workers: int = _opt(2, "DataLoader worker processes.")
    ckpt_every: int = _opt(100, "Save a checkpoint every N steps.")
    log_every: int = _opt(10, "Log metrics every N steps.")
    seed: int = _opt(0, "Seed of data order, augmentation, masks and initialisation.")
    accelerator: str = _opt("auto", "auto | cpu | gpu.")
    devices: str = _opt("auto", "Devices per node (DDP when > 1): auto or a number.")
    num_nodes: int = _opt(1, "Nodes (under torchrun or SLURM).")
    precision: str = _opt("auto", "auto (bf16-mixed on GPU, 32-true on CPU, where bf16 is slow) or a "
                                  "Lightning precision string.")
    augment_on: str = _opt("cpu", "cpu (in DataLoader workers) | gpu (batched on the device after transfer).")
    compile: bool = _opt(False, "torch.compile the model.")
    grad_checkpointing: bool = _opt(False, "Trade compute for activation memory.")
    resume: bool = _opt(False, "Continue OUT/last.ckpt exactly where it stopped.")
    lr: float | None = _opt(None, "Peak learning rate (default: the preset's).")
    ear_norm: str | None = _opt(None, "per_ear (the reference: each ear's first-layer GroupNorm divides out its "
                                      "level, erasing the ILD) | joint (statistics pooled over both ears: the ILD "
                                      "reaches the model). Default: the preset's.")
    model_overrides: dict = _opt({}, "Other ModelConfig fields, e.g. {warmup_steps: 50} (YAML only).", cli=False)

    def __post_init__(self) -> None:
        self.snr = tuple(float(v) for v in self.snr)  # YAML and JSON give lists
        if not str(self.data).strip():
            raise InputError("--data is required (a folder, manifest, shards or 'builtin')")
        if not self.bank and self.clean_ratio < 1.0:
            raise InputError(f"--bank is required unless --clean-ratio is 1 (every clip dry); it is {self.clean_ratio}")
        if self.preset not in PRESETS:
            raise InputError(f"--preset must be one of {', '.join(PRESETS)}; got '{self.preset}'")
        for name in ("max_steps", "batch_clips", "n_crops", "ckpt_every", "log_every", "num_nodes"):
            if getattr(self, name) < 1:
                raise InputError(f"--{name.replace('_', '-')} must be >= 1, got {getattr(self, name)}")
        if self.num_workers < 0 or self.seed < 0:
            raise InputError(f"--num-workers and --seed must be >= 0, got {self.num_workers}, {self.seed}")
        if not (math.isfinite(self.clip_seconds) and self.clip_seconds > 0):
            raise InputError(f"--clip-seconds must be a positive number, got {self.clip_seconds}")
        if self.lr is not None and not (math.isfinite(self.lr) and self.lr > 0):
            raise InputError(f"--lr must be a positive number, got {self.lr}")
        if self.augment_on not in AUGMENT_ON:
            raise InputError(f"--augment-on must be one of {', '.join(AUGMENT_ON)}, got '{self.augment_on}'")
        if self.devices != "auto" and not (str(self.devices).isdigit() and int(self.devices) >= 1):
            raise InputError(f"--devices must be 'auto' or a number >= 1, got '{self.devices}'")
        if not isinstance(self.model_overrides, dict):
            raise InputError(f"model_overrides must be a mapping, got {self.model_overrides!r}")
        self.augment_config(crop_samples=1)  # the augmentation's own checks (clean ratio, SNR, channels)

    @classmethod
    def from_sources(cls, yaml_path: str | None, flags: dict) -> TrainConfig:
        """Defaults <- YAML file <- flags that were given (not None)."""
        values = {}
        if yaml_path:
            path = Path(yaml_path)
            if not path.is_file():
                raise InputError(f"--config file not found: {path}")
            try:
                loaded = yaml.safe_load(path.read_text()) or {}
            except yaml.YAMLError as err:
                raise InputError(f"--config {path} is not valid YAML: {str(err).splitlines()[0]}") from None
            if not isinstance(loaded, dict):
                raise InputError(f"--config {path} must hold a mapping of option: value")
            values.update(loaded)
        values.update({k: v for k, v in flags.items() if v is not None})
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(values) - known)
        if unknown:
            raise InputError(f"unknown training option(s): {', '.join(unknown)}")
        try:
            return cls(**values)
        except TypeError as err:  # e.g. a YAML string where a number belongs
            raise InputError(f"training options: {err}") from None

    def model_config(self):
        overrides = dict(self.model_overrides)
        overrides.update({k: v for k, v in (("lr", self.lr), ("ear_norm", self.ear_norm)) if v is not None})
        model_cfg = get_preset(self.preset, channels=self.channels, grad_checkpointing=self.grad_checkpointing,
                               compile=self.compile, **overrides)
        # Short runs: keep the reference's schedule shapes but fit them into max_steps (one replace: the
        # config validates warmup <= total on construction).
        fit = {}
        if "total_steps" not in overrides:
            fit["total_steps"] = self.max_steps
        if "warmup_steps" not in overrides:
            fit["warmup_steps"] = min(model_cfg.warmup_steps, max(1, self.max_steps // 10))
        if "ema_ramp_steps" not in overrides:
            fit["ema_ramp_steps"] = min(model_cfg.ema_ramp_steps, self.max_steps)
        return dataclasses.replace(model_cfg, **fit)

    def clip_config(self, fs: int) -> ClipConfig:
        return ClipConfig(fs=fs, clip_seconds=self.clip_seconds)

    def augment_config(self, crop_samples: int) -> AugmentConfig:
        return AugmentConfig(clean_ratio=self.clean_ratio, snr_db=self.snr, channels=self.channels,
                             n_crops=self.n_crops, crop_samples=crop_samples, seed=self.seed)


# Options that define the data and the model: a resumed run must keep them, or it would not continue the run.
RESUME_KEEPS = ("data", "bank", "preset", "channels", "clean_ratio", "snr", "batch_clips", "n_crops", "clip_seconds",
                "seed", "lr", "ear_norm", "model_overrides")


def _read_checkpoint(path: Path) -> dict | None:
    """A checkpoint's contents (tensors memory-mapped, no pickled code), or None with a warning when it is
    truncated or not a checkpoint (a run killed while writing it)."""
    try:
        ckpt = torch.load(path, map_location="cpu", weights_only=True, mmap=True)
    except Exception as err:  # noqa: BLE001 - zip, pickle and OS errors alike mean "unusable"
        warn(f"skipping unreadable checkpoint {path} ({str(err).splitlines()[0][:120]})")
        return None
    if not isinstance(ckpt, dict) or "global_step" not in ckpt or "state_dict" not in ckpt:
        warn(f"skipping {path}: not a training checkpoint")
        return None
    return ckpt


def newest_checkpoint(out: Path) -> tuple[Path, dict] | None:
    """The readable checkpoint of a run directory with the most steps (last.ckpt wins a tie)."""
    best = None
    for path in [out / "last.ckpt", *sorted((out / "checkpoints").glob("*.ckpt"))]:
        ckpt = _read_checkpoint(path) if path.is_file() else None
        if ckpt is not None and (best is None or int(ckpt["global_step"]) > int(best[1]["global_step"])):
            best = (path, ckpt)
    return best


def _same_option(name: str, saved, now) -> bool:
    if name in ("data", "bank") and saved and now and saved != now:
        return os.path.realpath(saved) == os.path.realpath(now)  # the same file, spelled another way
    return saved == now


def _resume_point(cfg: TrainConfig, out: Path) -> tuple[Path | None, dict | None]:
    """(checkpoint, its model config) to continue from, after checking that cfg continues that run."""
    found = newest_checkpoint(out) if out.is_dir() else None
    if not cfg.resume:
        if found is not None:
            raise InputError(f"{out} already holds a run (checkpoint at step {found[1]['global_step']}: {found[0]}); "
                             "use --resume to continue it or choose another --out")
        return None, None
    if found is None:
        raise InputError(f"--resume: no readable checkpoint in {out} (last.ckpt or checkpoints/*.ckpt)")
    path, ckpt = found
    saved_model = ckpt.get("hyper_parameters", {})
    if "channels" in saved_model and int(saved_model["channels"]) != cfg.channels:
        raise InputError(f"{path} is a {saved_model['channels']}-channel model but --channels is {cfg.channels}")
    saved = json.loads(json.dumps(ckpt.get("wavjepa_nat_train_config", {}).get("train", {})))  # tuples -> lists
    now = json.loads(json.dumps(asdict(cfg)))
    changed = [k for k in RESUME_KEEPS if k in saved and not _same_option(k, saved[k], now[k])]
    if changed:
        listed = ", ".join(f"--{k.replace('_', '-')} {saved[k]} -> {now[k]}" for k in changed)
        raise InputError(f"--resume continues the run in {out} with its own options; these differ: {listed}")
    total = int(saved_model.get("total_steps", cfg.max_steps))
    if cfg.max_steps != total:
        warn(f"resuming at step {ckpt['global_step']} with the run's own learning-rate and EMA schedule "
             f"(over {total} steps); --max-steps {cfg.max_steps} only sets where training stops"
             + (" (past the schedule's end the learning rate stays at its final value)" if cfg.max_steps > total else ""))
    return path, saved_model


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
    out = Path(cfg.out)
    last = out / "last.ckpt"
    resume_from, saved_model = _resume_point(cfg, out)
    # A resumed run keeps the model config it was started with (its schedule included).
    model_cfg = ModelConfig.from_dict(saved_model) if saved_model else cfg.model_config()
    if int(round(cfg.clip_seconds * model_cfg.fs)) < model_cfg.crop_samples:
        raise InputError(f"--clip-seconds {cfg.clip_seconds} is shorter than one crop "
                         f"({model_cfg.crop_samples / model_cfg.fs:.2f} s)")
    clip_cfg, aug_cfg = cfg.clip_config(model_cfg.fs), cfg.augment_config(model_cfg.crop_samples)
    source = open_source(cfg.data, shuffle=True, seed=cfg.seed, repeat=True)  # InputError if missing or empty
    # Checks the bank (sample rate, train-split scenes) before anything is written.
    data = TrainingData(source, cfg.bank or None, clip_cfg, aug_cfg, cfg.batch_clips, cfg.num_workers,
                        masks=MaskCollator(model_cfg, seed=cfg.seed).masks, augment_on=cfg.augment_on)

    out.mkdir(parents=True, exist_ok=True)
    resolved = {"train": asdict(cfg), "model": model_cfg.to_dict(), "clip": asdict(clip_cfg),
                "augment": asdict(aug_cfg), "package_version": package_version()}
    (out / "config.yaml").write_text(yaml.safe_dump(json.loads(json.dumps(resolved)), sort_keys=False))

    _quiet_lightning()
    L.seed_everything(cfg.seed, workers=True, verbose=False)
    on_gpu = torch.cuda.is_available() and cfg.accelerator in ("auto", "gpu", "cuda")
    precision = cfg.precision if cfg.precision != "auto" else ("bf16-mixed" if on_gpu else "32-true")
    module = WavJEPAModule(model_cfg)

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
        use_distributed_sampler=False,  # the stream splits itself across ranks and workers
        deterministic=False,
    )
    trainer.fit(module, datamodule=data, ckpt_path=str(resume_from) if resume_from else None, weights_only=True)
    trainer.save_checkpoint(str(last), weights_only=False)  # full state (not only weights): --resume continues exactly
    return last
