"""`wavjepa-nat train`."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Optional

import typer

from wavjepa_nat.cli.app import app
from wavjepa_nat.ranges import parse_interval


@app.command("train")
def train_command(
    data: Optional[str] = typer.Option(None, "--data", help="Training audio: a folder, a .csv/.jsonl manifest, "
                                                          "WebDataset shards ('unbal_train{000..869}.tar') or 'builtin'."),
    bank: Optional[str] = typer.Option(None, "--bank", help="RIR bank (HDF5) from `simulate-rirs`; its train split is used."),
    out: Optional[str] = typer.Option(None, "--out", help="Run directory: config.yaml, last.ckpt, checkpoints/, logs."),
    config: Optional[Path] = typer.Option(None, "--config", help="YAML file of options (keys as below, with _); "
                                                                 "flags given on the command line override it."),
    preset: Optional[str] = typer.Option(None, "--preset", help="tiny (CPU, minutes) | small | base (the paper) | large."),
    channels: Optional[int] = typer.Option(None, "--channels", help="2: WavJEPA-Nat (binaural), 1: WavJEPA (mono)."),
    clean_ratio: Optional[float] = typer.Option(None, "--clean-ratio",
                                                help="Probability that a clip stays dry (drawn per clip). Default 0."),
    snr: Optional[str] = typer.Option(None, "--snr", help="SNR range LO..HI in dB for wet clips. Default 5..40."),
    max_steps: Optional[int] = typer.Option(None, "--max-steps", help="Optimizer steps. Default 300."),
    batch_clips: Optional[int] = typer.Option(None, "--batch-clips", help="Clips per step per device. Default 2."),
    n_crops: Optional[int] = typer.Option(None, "--n-crops", help="2.01 s crops per clip. Default 8."),
    clip_seconds: Optional[float] = typer.Option(None, "--clip-seconds",
                                                 help="Clips are padded or cut to this length. Default 10."),
    num_workers: Optional[int] = typer.Option(None, "--num-workers", help="DataLoader worker processes. Default 2."),
    ckpt_every: Optional[int] = typer.Option(None, "--ckpt-every", help="Save a checkpoint every N steps. Default 100."),
    seed: Optional[int] = typer.Option(None, "--seed", help="Seed of data order, augmentation, masks and init."),
    accelerator: Optional[str] = typer.Option(None, "--accelerator", help="auto | cpu | gpu."),
    devices: Optional[str] = typer.Option(None, "--devices", help="Devices per node (DDP when > 1)."),
    num_nodes: Optional[int] = typer.Option(None, "--num-nodes", help="Nodes (under torchrun or SLURM)."),
    precision: Optional[str] = typer.Option(None, "--precision", help="auto (bf16-mixed on GPU, fp32 on CPU) or a "
                                                                       "Lightning precision string."),
    augment_on: Optional[str] = typer.Option(None, "--augment-on", help="cpu (DataLoader workers) | gpu (after transfer)."),
    compile: Optional[bool] = typer.Option(None, "--compile/--no-compile", help="torch.compile the model."),
    grad_checkpointing: Optional[bool] = typer.Option(None, "--grad-checkpointing/--no-grad-checkpointing",
                                                      help="Trade compute for activation memory."),
    resume: bool = typer.Option(False, "--resume", help="Continue OUT/last.ckpt exactly where it stopped."),
    lr: Optional[float] = typer.Option(None, "--lr", help="Peak learning rate (overrides the preset)."),
    ear_norm: Optional[str] = typer.Option(None, "--ear-norm", help="per_ear (the reference: each ear's first-layer "
                                           "GroupNorm divides out its level, erasing the ILD) | joint (statistics "
                                           "pooled over both ears: the ILD reaches the model)."),
) -> None:
    """Train WavJEPA-Nat (binaural, naturalistic scenes) or WavJEPA (mono, --channels 1).

    Each clip is rendered on the fly: with probability --clean-ratio it stays dry, otherwise it is convolved with
    a random train-split BRIR of the bank and mixed with that scene's binaural noise at an SNR from --snr; then
    8 random 2.01 s crops are instance-normalised over (ears, time) and masked for the JEPA objective.

    Example: wavjepa-nat train --data corpus/ --bank bank.h5 --clean-ratio 0.0 --channels 2 --preset tiny
    --max-steps 300 --out runs/nat
    """
    from wavjepa_nat.train import TrainConfig, train

    flags = dict(data=data, bank=bank, out=out, preset=preset, channels=channels, clean_ratio=clean_ratio,
                 snr=parse_interval(snr, "--snr") if snr else None, max_steps=max_steps, batch_clips=batch_clips,
                 n_crops=n_crops, clip_seconds=clip_seconds, num_workers=num_workers, ckpt_every=ckpt_every, seed=seed, accelerator=accelerator,
                 devices=devices, num_nodes=num_nodes, precision=precision, augment_on=augment_on, compile=compile,
                 grad_checkpointing=grad_checkpointing, resume=resume or None)
    cfg = TrainConfig.from_sources(str(config) if config else None, flags)
    if lr is not None:
        cfg.model_overrides = {**cfg.model_overrides, "lr": lr}
    if ear_norm is not None:
        cfg.model_overrides = {**cfg.model_overrides, "ear_norm": ear_norm}
    last = train(cfg)
    if os.environ.get("LOCAL_RANK", "0") == "0" and os.environ.get("NODE_RANK", "0") == "0":  # once per run, not per process
        typer.echo(f"done: {last}")
