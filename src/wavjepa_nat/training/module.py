"""Lightning wrapper: AdamW + linear warm-up + cosine decay per step, EMA after every optimizer step (EMA
teacher only), gradient clipping from the config, collapse monitor. The hparams ARE the ModelConfig dict, so
a .ckpt of the reference recipe rebuilds the model on its own (`WavJEPAModule.load_from_checkpoint(path)`);
the recipe (nat_model.jepa.Recipe) and a frozen teacher's origin are stored beside it
(checkpoint["wavjepa_nat_recipe"], ["wavjepa_nat_teacher"]); the frozen teacher's weights are not.

Precision is the Trainer's choice: bf16-mixed on GPU, 32-true on CPU (bf16 autocast on CPU is ~10x slower).
"""

from __future__ import annotations

import math
from dataclasses import asdict
from typing import Any

import lightning as L
import torch

from wavjepa_nat.nat_model.config import ModelConfig, stored_config
from wavjepa_nat.nat_model.jepa import Recipe, WavJEPA
from wavjepa_nat.nat_model.targets import FrozenTeacher
from wavjepa_nat.nat_model.weights.names import current_names
from wavjepa_nat.version import package_version


def lr_at(step: int, cfg: ModelConfig) -> float:
    """Linear warm-up from 0 to cfg.lr over warmup_steps, then cosine decay to final_lr at total_steps."""
    if step < cfg.warmup_steps:
        return cfg.lr * step / cfg.warmup_steps
    span = max(1, cfg.total_steps - cfg.warmup_steps)
    progress = min(1.0, (step - cfg.warmup_steps) / span)
    return cfg.final_lr + (cfg.lr - cfg.final_lr) * 0.5 * (1.0 + math.cos(math.pi * progress))


def ema_momentum_at(step: int, cfg: ModelConfig) -> float:
    """EMA momentum ramped linearly from ema_start to ema_end over ema_ramp_steps, then held."""
    if cfg.ema_ramp_steps <= 0:
        return cfg.ema_end
    frac = min(1.0, step / cfg.ema_ramp_steps)
    return cfg.ema_start + (cfg.ema_end - cfg.ema_start) * frac


class WavJEPAModule(L.LightningModule):
    def __init__(
        self,
        config: ModelConfig | dict | None = None,
        monitor_every: int = 25,
        recipe: Recipe | None = None,
        teacher: FrozenTeacher | None = None,
        **fields: Any,
    ) -> None:
        """Build from a ModelConfig, or a stored config: a dict, or its fields as keywords (how
        load_from_checkpoint calls), read as config.stored_config reads a checkpoint's. recipe, teacher:
        as WavJEPA's (default: the reference recipe)."""
        super().__init__()
        if isinstance(config, ModelConfig):
            cfg = config
        else:
            cfg = stored_config({**(config or {}), **fields})
        self.cfg = cfg
        self.monitor_every = max(1, int(monitor_every))
        self.save_hyperparameters(cfg.to_dict())
        self.model = WavJEPA(cfg, recipe, teacher)
        self.recipe = self.model.recipe
        if cfg.compile:
            self.model.compile()  # in place: state_dict keys stay free of "_orig_mod."

    def training_step(self, batch: dict[str, torch.Tensor], batch_idx: int) -> torch.Tensor:
        monitor = self.global_step % self.monitor_every == 0
        loss, stats = self.model(batch, monitor=monitor)
        bs = batch["audio"].shape[0]
        self.log("train/loss", loss, prog_bar=True, batch_size=bs)
        for k, v in stats.items():
            if k != "loss":
                self.log(f"train/{k}", v, batch_size=bs)
        self.log("lr", self.optimizers().param_groups[0]["lr"], batch_size=bs)
        if self.model.target_encoder is not None:
            self.log("ema_momentum", ema_momentum_at(self.global_step, self.cfg), batch_size=bs)
        return loss

    def configure_optimizers(self):
        decay, no_decay = [], []
        for name, p in self.model.named_parameters():
            if not p.requires_grad:
                continue  # the EMA target encoder (a frozen teacher is not among the parameters at all)
            # Biases, norms, ear embeddings and the mask token are not decayed (ViT/I-JEPA convention).
            (no_decay if p.ndim < 2 or "pos.ear" in name or "mask_token" in name else decay).append(p)
        groups = [
            {"params": decay, "weight_decay": self.cfg.weight_decay},
            {"params": no_decay, "weight_decay": 0.0},
        ]
        fused = all(p.is_cuda for p in decay + no_decay)
        opt = torch.optim.AdamW(groups, lr=self.cfg.lr, betas=self.cfg.betas, fused=fused or None)
        sched = torch.optim.lr_scheduler.LambdaLR(opt, lambda step: lr_at(step, self.cfg) / self.cfg.lr)
        return {"optimizer": opt, "lr_scheduler": {"scheduler": sched, "interval": "step"}}

    def configure_gradient_clipping(self, optimizer, gradient_clip_val=None, gradient_clip_algorithm=None):
        # The config owns the clip value, so every run of a preset clips the same way.
        params = [p for g in optimizer.param_groups for p in g["params"]]
        norm = torch.nn.utils.clip_grad_norm_(
            params, self.cfg.grad_clip if self.cfg.grad_clip > 0 else math.inf
        )
        if self._trainer is not None:
            self.log("train/grad_norm", norm)

    def optimizer_step(self, *args: Any, **kwargs: Any) -> None:
        super().optimizer_step(*args, **kwargs)
        self.model.ema_update(ema_momentum_at(self.global_step, self.cfg))

    def on_save_checkpoint(self, checkpoint: dict[str, Any]) -> None:
        checkpoint["wavjepa_nat_version"] = package_version()
        checkpoint["wavjepa_nat_recipe"] = asdict(self.recipe)
        if self.model.frozen_teacher is not None:
            checkpoint["wavjepa_nat_teacher"] = dict(self.model.frozen_teacher.origin)

    def on_load_checkpoint(self, checkpoint: dict[str, Any]) -> None:
        # Before the weights are loaded (resume, load_from_checkpoint): earlier module names -> today's.
        checkpoint["state_dict"] = current_names(checkpoint["state_dict"])
