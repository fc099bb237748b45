"""Training WavJEPA (mono) and WavJEPA-Nat (binaural): data stage + model stage + Lightning.

    from wavjepa_nat.training.loop import TrainConfig, train
    train(TrainConfig(data="corpus/", bank="bank.h5", out="runs/nat", preset="tiny", max_steps=300))
    train(TrainConfig(data="corpus/", channels=1, clean_ratio=1.0, out="runs/clean"))   # no bank needed

The run directory holds config.yaml (the resolved TrainConfig), last.ckpt, checkpoints/ every
`ckpt_every` steps, and CSV + TensorBoard logs. Checkpoints carry the model config (they
rebuild the model alone) and the train config. `resume=True` continues from the newest readable
checkpoint (last.ckpt or checkpoints/, so also after a kill -9) exactly, with the run's own model config
and schedule: batches are indexed by step (data.stream), so the losses equal those of an unbroken run.

The options are training.config.TrainConfig (one place for each option, its default and its help).
The recipe options (--objective, --teacher, --teacher-input, --loss) choose what the one loop trains
(nat_model.jepa.Recipe); a frozen teacher is loaded and checked (training/teachers.py) before anything is
written, and its origin (path, sha256) is stored in config.yaml and every checkpoint.
"""

from __future__ import annotations

import contextlib
import logging
import os
import signal
import warnings
from pathlib import Path

import lightning as L
import torch
import yaml
from lightning.pytorch.callbacks import Callback, ModelCheckpoint, RichProgressBar
from lightning.pytorch.loggers import CSVLogger, TensorBoardLogger
from lightning.pytorch.trainer.states import TrainerStatus
from lightning.pytorch.utilities.exceptions import SIGTERMException

from wavjepa_nat.checks import check_disk, check_memory, check_not_an_input, check_output_dir
from wavjepa_nat.data.sources import check_readable, open_source
from wavjepa_nat.data.stream import StopOnEmptyPass, TrainingData
from wavjepa_nat.errors import InputError, Stopped, warn
from wavjepa_nat.files import exclusive_lock, write_text_atomic
from wavjepa_nat.interrupts import INTERRUPT_EXIT, SIGTERM_EXIT
from wavjepa_nat.nat_model import MaskCollator, ModelConfig
from wavjepa_nat.nat_model.config import stored_config
from wavjepa_nat.nat_model.weights.init_from import init_from_weights, init_model_config
from wavjepa_nat.serialise import config_dict
from wavjepa_nat.training.checkpoint_io import AtomicCheckpointIO, SaveOnSigterm
from wavjepa_nat.training.config import TrainConfig
from wavjepa_nat.training.module import WavJEPAModule
from wavjepa_nat.training.teachers import check_resumed_teacher, load_teacher
from wavjepa_nat.version import package_version

__all__ = ["TrainConfig", "newest_checkpoint", "train"]


# Options that define the data and the model: a resumed run must keep them, or it would not continue the run.
RESUME_KEEPS = (
    "data",
    "bank",
    "preset",
    "channels",
    "clean_ratio",
    "snr",
    "batch_clips",
    "n_crops",
    "clip_seconds",
    "seed",
    "lr",
    "ear_norm",
    "layout",
    "model_overrides",
)
# Recipe options: a resumed run keeps them too; runs from before they existed had these values.
RESUME_KEEPS_RECIPE = {
    "teacher_input": "same",
    "objective": "jepa",
    "loss": "mse",
    # runs from before mixtures had none
    "mix_prob": 0.0,
    "mix_sources": [2, 3],
    "mix_tir": [0.0, 12.0],
    "mix_target": None,
}


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
    """(checkpoint, its model config) to continue from, after checking that cfg continues that run (its
    teacher included)."""
    found = newest_checkpoint(out) if out.is_dir() else None
    if not cfg.resume:
        if found is not None:
            raise InputError(
                f"{out} already holds a run "
                f"(checkpoint at step {found[1]['global_step']}: {found[0]}); "
                "use --resume to continue it or choose another --out"
            )
        return None, None
    if found is None:
        raise InputError(f"--resume: no readable checkpoint in {out} (last.ckpt or checkpoints/*.ckpt)")
    path, ckpt = found
    saved_model = ckpt.get("hyper_parameters", {})
    if "channels" in saved_model and int(saved_model["channels"]) != cfg.channels:
        raise InputError(
            f"{path} is a {saved_model['channels']}-channel model but --channels is {cfg.channels}"
        )
    saved = config_dict(ckpt.get("wavjepa_nat_train_config", {}).get("train", {}))
    now = config_dict(cfg)
    changed = [k for k in RESUME_KEEPS if k in saved and not _same_option(k, saved[k], now[k])]
    changed += [k for k, default in RESUME_KEEPS_RECIPE.items() if saved.get(k, default) != now[k]]
    saved = {**RESUME_KEEPS_RECIPE, **saved}
    if changed:
        listed = ", ".join(f"--{k.replace('_', '-')} {saved[k]} -> {now[k]}" for k in changed)
        raise InputError(f"--resume continues the run in {out} with its own options; these differ: {listed}")
    check_resumed_teacher(saved, ckpt.get("wavjepa_nat_teacher"), cfg.teacher, out)
    total = int(saved_model.get("total_steps", cfg.max_steps))
    if cfg.max_steps != total:
        warn(
            f"resuming at step {ckpt['global_step']} with the run's own learning-rate and EMA schedule "
            f"(over {total} steps); --max-steps {cfg.max_steps} only sets where training stops"
            + (
                " (past the schedule's end the learning rate stays at its final value)"
                if cfg.max_steps > total
                else ""
            )
        )
    return path, saved_model


class _NoAdverts(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        message = str(record.msg)
        return not (
            message.startswith("\U0001f4a1 Tip")  # Lightning's cloud-logger advert
            or "Detected KeyboardInterrupt" in message  # our own `stopped:` line says so, with the step
        )


_NO_ADVERTS = _NoAdverts()


def _quiet_lightning() -> None:
    """Drop Lightning messages that say nothing about this run (an advert, an internal deprecation)."""
    logging.getLogger("lightning.pytorch.utilities.rank_zero").addFilter(_NO_ADVERTS)  # a no-op when present
    warnings.filterwarnings("ignore", message=r".*isinstance\(treespec, LeafSpec\)")


class _StepProgressBar(RichProgressBar):
    """Lightning labels the bar "Epoch 0/-2" when a run is bounded by steps; say what it counts (N of
    --max-steps, also when resumed)."""

    def _get_train_description(self, current_epoch: int) -> str:
        return "train steps"

    @property
    def total_train_batches(self) -> int | float:
        # Lightning counts the remaining steps but shows the step reached: a resumed run read "25/5".
        return self.trainer.max_steps if self.trainer.max_steps > 0 else super().total_train_batches


def _check_hardware(cfg: TrainConfig) -> None:
    """--accelerator and --devices against this machine, before anything is read or written."""
    wants_gpu = cfg.accelerator in ("gpu", "cuda")
    if wants_gpu and not torch.cuda.is_available():
        raise InputError(f"--accelerator {cfg.accelerator}: no CUDA GPU is available on this machine")
    if cfg.devices == "auto":
        return
    on_gpu = wants_gpu or (cfg.accelerator == "auto" and torch.cuda.is_available())
    have = torch.cuda.device_count() if on_gpu else os.cpu_count() or 1
    if cfg.accelerator in ("auto", "cpu", "gpu", "cuda") and int(cfg.devices) > have:
        kind = "GPU" if on_gpu else "CPU core"
        raise InputError(f"--devices {cfg.devices}: this machine has {have} {kind}(s)")


def _check_batch_memory(cfg: TrainConfig, model_cfg: ModelConfig) -> None:
    """One step's clips and crops (in each DataLoader worker, and the one being trained on) fit in memory."""
    clip = round(cfg.clip_seconds * model_cfg.fs)
    per_clip = 4 * cfg.channels * (8 * clip + 3 * cfg.n_crops * model_cfg.crop_samples)  # float32, renderings
    if cfg.teacher_input == "dry":  # the dry reference beside the rendering, and its crops
        per_clip += 4 * (clip + 2 * cfg.n_crops * model_cfg.crop_samples)
    check_memory(
        (1 + cfg.num_workers) * cfg.batch_clips * per_clip,
        f"a batch of --batch-clips {cfg.batch_clips} x --clip-seconds {cfg.clip_seconds:g} s "
        f"({cfg.n_crops} crops each, {1 + cfg.num_workers} batches in flight)",
        "use a smaller --batch-clips, --clip-seconds or --num-workers",
    )


def train(cfg: TrainConfig, progress: bool = True, callbacks: list | None = None) -> Path:
    """Train; returns the path of the final checkpoint (OUT/last.ckpt). `callbacks`: extra Lightning
    callbacks."""
    out = check_output_dir(cfg.out, "--out")
    check_not_an_input(out, [cfg.data, cfg.bank or None, cfg.init_from or None, cfg.teacher_source or None])
    last = out / "last.ckpt"
    _check_hardware(cfg)
    resume_from, saved_model = _resume_point(cfg, out)
    # A resumed run keeps the model config it was started with (its schedule included).
    model_cfg = stored_config(saved_model) if saved_model else cfg.model_config()
    init = None
    if cfg.init_from and not saved_model:  # --init-from: the weights' architecture, this run's schedule
        model_cfg, init = init_model_config(cfg.init_from, model_cfg, cfg.channels)
    if int(round(cfg.clip_seconds * model_cfg.fs)) < model_cfg.crop_samples:
        raise InputError(
            f"--clip-seconds {cfg.clip_seconds} is shorter than one crop "
            f"({model_cfg.crop_samples / model_cfg.fs:.2f} s)"
        )
    teacher = load_teacher(cfg.teacher_source, model_cfg) if cfg.teacher_source else None
    if cfg.teacher_input == "dry" and cfg.clean_ratio >= 1.0:
        warn("--teacher-input dry with --clean-ratio 1: every clip stays dry, so the teacher hears the same")
    clip_cfg, aug_cfg = cfg.clip_config(model_cfg.fs), cfg.augment_config(model_cfg.crop_samples)
    _check_batch_memory(cfg, model_cfg)
    source = open_source(cfg.data, shuffle=True, seed=cfg.seed, repeat=True)  # InputError if missing or empty
    check_readable(source, cfg.data)
    # Checks the bank (sample rate, train-split scenes) before anything is written.
    data = TrainingData(
        source,
        cfg.bank or None,
        clip_cfg,
        aug_cfg,
        cfg.batch_clips,
        cfg.num_workers,
        masks=MaskCollator(model_cfg, seed=cfg.seed).masks,
        augment_on=cfg.augment_on,
        dry_reference=cfg.teacher_input == "dry",
        mix=cfg.mix_config(),
    )

    check_disk(
        out,
        2 * checkpoint_bytes(model_cfg, cfg, teacher),  # last.ckpt and the one being written beside it
        f"two checkpoints of this model ({cfg.preset} preset)",
        "free some space or choose another --out",
    )
    out.parent.mkdir(parents=True, exist_ok=True)
    # One run per --out: a second run into the same folder (before the first wrote a checkpoint) would mix
    # their files. DDP's other ranks run this function too, into the same folder, so only rank 0 locks.
    with exclusive_lock(out) if _is_rank_zero() else contextlib.nullcontext():
        return _fit(
            cfg,
            out,
            last,
            resume_from,
            model_cfg,
            init,
            teacher,
            clip_cfg,
            aug_cfg,
            data,
            callbacks,
            progress,
        )


def checkpoint_bytes(model_cfg: ModelConfig, cfg: TrainConfig, teacher) -> int:
    """A checkpoint's size, known from the parameter count before the first step: every weight and buffer
    (float32) and Adam's two moments of each trainable weight. The model is built on the meta device:
    no memory, no time."""
    with torch.device("meta"):
        module = WavJEPAModule(model_cfg, recipe=cfg.recipe(), teacher=teacher)
    stored = sum(t.numel() for t in module.state_dict().values())
    trainable = sum(p.numel() for p in module.parameters() if p.requires_grad)
    return 4 * (stored + 2 * trainable)


def _is_rank_zero() -> bool:
    return all(os.environ.get(k, "0") == "0" for k in ("RANK", "LOCAL_RANK", "NODE_RANK", "SLURM_PROCID"))


def _fit(cfg, out, last, resume_from, model_cfg, init, teacher, clip_cfg, aug_cfg, data, callbacks, progress):
    out.mkdir(parents=True, exist_ok=True)
    resolved = {
        "train": config_dict(cfg),
        "model": config_dict(model_cfg),
        "clip": config_dict(clip_cfg),
        "augment": config_dict(aug_cfg),
        **({"mix": config_dict(cfg.mix_config())} if cfg.mix_prob > 0 else {}),
        "package_version": package_version(),
    }
    if teacher is not None:
        resolved["teacher"] = teacher.origin
    write_text_atomic(out / "config.yaml", yaml.safe_dump(config_dict(resolved), sort_keys=False))

    _quiet_lightning()
    L.seed_everything(cfg.seed, workers=True, verbose=False)
    on_gpu = torch.cuda.is_available() and cfg.accelerator in ("auto", "gpu", "cuda")
    precision = cfg.precision if cfg.precision != "auto" else ("bf16-mixed" if on_gpu else "32-true")
    module = WavJEPAModule(model_cfg, recipe=cfg.recipe(), teacher=teacher)
    if init is not None:
        init_from_weights(module.model, init)

    class StoreConfig(Callback):
        def on_save_checkpoint(self, trainer, pl_module, checkpoint):
            checkpoint["wavjepa_nat_train_config"] = resolved

    on_sigterm = SaveOnSigterm(last)
    trainer = L.Trainer(
        plugins=[AtomicCheckpointIO()],
        max_steps=cfg.max_steps,
        accelerator=cfg.accelerator,
        devices=cfg.devices if cfg.devices == "auto" else int(cfg.devices),
        num_nodes=cfg.num_nodes,
        strategy="auto",  # DDP when several devices or nodes (torchrun and SLURM are detected)
        precision=precision,
        # One log version per start: a resumed run must not overwrite the earlier metrics.
        logger=[CSVLogger(str(out), name="logs"), TensorBoardLogger(str(out), name="tensorboard")],
        callbacks=[
            ModelCheckpoint(
                dirpath=str(out / "checkpoints"),
                filename="step{step:07d}",
                auto_insert_metric_name=False,
                every_n_train_steps=cfg.ckpt_every,
                save_top_k=-1,
                save_last=False,
            ),
            StoreConfig(),
            on_sigterm,
            StopOnEmptyPass(str(cfg.data)),
            *([_StepProgressBar()] if progress else []),
            *(callbacks or []),
        ],
        log_every_n_steps=cfg.log_every,
        enable_progress_bar=progress,
        enable_model_summary=False,
        num_sanity_val_steps=0,
        limit_val_batches=0,
        use_distributed_sampler=False,  # the stream splits itself across ranks and workers
        deterministic=False,
    )
    try:
        trainer.fit(
            module, datamodule=data, ckpt_path=str(resume_from) if resume_from else None, weights_only=True
        )
    except SIGTERMException:
        saved = (
            f"saved {last} at step {on_sigterm.saved_at}"
            if on_sigterm.saved_at is not None
            else "nothing saved"
        )
        raise Stopped(f"SIGTERM received; {saved}; --resume continues the run", SIGTERM_EXIT) from None
    except SystemExit:  # Lightning's answer to Ctrl-C: exit status 1, as if the run had failed
        if trainer.state.status != TrainerStatus.INTERRUPTED:
            raise
        signal.signal(signal.SIGINT, signal.default_int_handler)  # Lightning ignored it while shutting down
        found = newest_checkpoint(out)
        resumable = (
            f"--resume continues from step {found[1]['global_step']} ({found[0].name})"
            if found is not None
            else "no checkpoint was saved yet"
        )
        raise Stopped(
            f"interrupted (Ctrl-C) at step {trainer.global_step}; {resumable}", INTERRUPT_EXIT
        ) from None
    # full state (not only weights): --resume continues exactly
    trainer.save_checkpoint(str(last), weights_only=False)
    return last
