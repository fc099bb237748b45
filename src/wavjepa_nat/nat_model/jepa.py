"""WavJEPA(-Nat): context encoder, teacher and predictor, with the top-K layer-average target.

forward(batch) with batch = MaskCollator output (index sets padded to the batch maximum + validity masks):
  teacher  : on all C*T tokens (never padded) -> targets at `target_idx` (nat_model/targets.py); by the
             Recipe: the EMA target encoder (the reference), a frozen loaded encoder (SALT; any width, depth
             and channel count on the same frame grid), or each token's log-mel spectrum (SALT's stage 1,
             objective "reconstruct"). The teacher encodes the student's crops, or (teacher_input "dry")
             batch["dry_audio"]: the dry sources of the same crops (before room and noise).
             Encoder targets: the average of the top-K block outputs, each instance-normalised over tokens.
  student  : context encoder on the tokens at `context_idx` only; padded slots are masked-out keys
  predictor: context + one learned mask token per target position -> prediction per target group, in the
             targets' dimension; padded context and target slots are masked-out keys
  loss     : per (crop b, group g): sum of squared (loss "mse", the reference) or absolute (loss "l1", SALT)
             errors over the group's VALID target tokens and all features / (valid tokens * features); then
             the mean over the G groups and the B crops. So each crop weighs the same whatever the batch
             pads, and with no padding this is plain MSE (or L1).
A batch with nothing padded (or no *_valid keys) runs with attn_mask=None (flash kernels on GPU).
"""

from __future__ import annotations

import copy
from dataclasses import dataclass

import torch
from torch import nn

from wavjepa_nat.errors import InputError
from wavjepa_nat.nat_model.config import ModelConfig
from wavjepa_nat.nat_model.encoder import EarTimePosition, Encoder, gather_tokens, receptive_field
from wavjepa_nat.nat_model.targets import (
    FrozenTeacher,
    LogMelTargets,
    layer_average_target,
    teacher_targets,
    teacher_view,
)
from wavjepa_nat.nat_model.transformer import Transformer, init_weights

__all__ = ["LOSSES", "Recipe", "WavJEPA", "layer_average_target", "masked_error", "masked_mse"]

LOSSES = ("mse", "l1")
OBJECTIVES = ("jepa", "reconstruct")
TEACHERS = ("ema", "frozen")
TEACHER_INPUTS = ("same", "dry")


@dataclass(frozen=True)
class Recipe:
    """What the student learns to predict, and how the error is measured (the defaults: the reference)."""

    objective: str = "jepa"  # "jepa": a teacher's latents | "reconstruct": each token's log-mel spectrum
    teacher: str = "ema"  # "ema": the student's moving average | "frozen": a loaded encoder (FrozenTeacher)
    teacher_input: str = "same"  # "same": the student's crops | "dry": their dry sources
    loss: str = "mse"  # "mse" | "l1"

    def __post_init__(self) -> None:
        for name, allowed in (
            ("objective", OBJECTIVES),
            ("teacher", TEACHERS),
            ("teacher_input", TEACHER_INPUTS),
            ("loss", LOSSES),
        ):
            if getattr(self, name) not in allowed:
                raise InputError(f"{name} must be one of {', '.join(allowed)}, got {getattr(self, name)!r}")
        if self.objective == "reconstruct" and self.teacher != "ema":
            raise InputError("objective reconstruct predicts log-mel spectra: it takes no frozen teacher")


class Predictor(nn.Module):
    def __init__(self, cfg: ModelConfig, out_dim: int | None = None) -> None:
        super().__init__()
        self.embed = nn.Linear(cfg.embed_dim, cfg.pred_dim)
        self.mask_token = nn.Parameter(torch.zeros(1, 1, cfg.pred_dim))
        self.pos = EarTimePosition(cfg.channels, cfg.pred_dim, cfg.ear_embedding, cfg.pos_embedding)
        self.transformer = Transformer(
            cfg.pred_dim, cfg.pred_depth, cfg.pred_heads, cfg.mlp_ratio, cfg.norm_first, cfg.block_norm_eps
        )
        self.out = nn.Linear(cfg.pred_dim, cfg.embed_dim if out_dim is None else int(out_dim))
        init_weights(self)
        nn.init.trunc_normal_(self.mask_token, std=0.02)

    def forward(
        self,
        context: torch.Tensor,
        context_idx: torch.Tensor,
        target_idx: torch.Tensor,
        n_time: int,
        context_valid: torch.Tensor | None = None,
        target_valid: torch.Tensor | None = None,
    ) -> torch.Tensor:
        """context (B, Nc, D) at token indices context_idx (B, Nc); target_idx (B, G, Nt) -> (B, G, Nt, D).

        context_valid (B, Nc) / target_valid (B, G, Nt) bool: False = padding, masked out as a key; None =
        nothing padded. Predictions at padded target slots are meaningless.
        """
        B, G, Nt = target_idx.shape
        Nc = context.shape[1]
        x = self.embed(context)
        pos = self.pos(n_time, device=x.device)  # (C*T, Dp) fp32, ear-major like the tokens
        x = x + pos[context_idx]
        # All G groups in one pass: each group sees the same context plus its own mask tokens.
        x = x.repeat_interleave(G, dim=0)  # (B*G, Nc, Dp)
        m = (self.mask_token + pos[target_idx.reshape(B * G, Nt)]).to(x.dtype)
        key_valid = None
        if context_valid is not None or target_valid is not None:
            ones = torch.ones((), dtype=torch.bool, device=x.device)
            cv = ones.expand(B, Nc) if context_valid is None else context_valid
            tv = ones.expand(B, G, Nt) if target_valid is None else target_valid
            key_valid = torch.cat([cv.repeat_interleave(G, dim=0), tv.reshape(B * G, Nt)], dim=1)
        y = self.transformer(torch.cat([x, m], dim=1), key_valid=key_valid)[:, Nc:]
        return self.out(y).reshape(B, G, Nt, -1)


def masked_error(
    pred: torch.Tensor, target: torch.Tensor, valid: torch.Tensor | None = None, loss: str = "mse"
) -> torch.Tensor:
    """Per (crop, group) mean error (B, G) in fp32 of pred/target (B, G, Nt, D) over the valid tokens
    (B, G, Nt): "mse" squares the differences, "l1" takes their absolute values.

    sum over valid tokens and features of err / (valid tokens * D). Padded slots are selected away (not
    multiplied by 0), so even inf/NaN there cannot leak into the loss or gradients.
    """
    if loss not in LOSSES:
        raise ValueError(f"loss must be one of {LOSSES}, got {loss!r}")
    err = pred.float() - target.float()
    if valid is not None:
        err = torch.where(valid[..., None], err, torch.zeros((), dtype=err.dtype, device=err.device))
    err = err.square() if loss == "mse" else err.abs()
    if valid is None:
        return err.mean((2, 3))
    return err.sum((2, 3)) / (valid.sum(2) * err.shape[-1])


def masked_mse(pred: torch.Tensor, target: torch.Tensor, valid: torch.Tensor | None = None) -> torch.Tensor:
    """masked_error with loss "mse"."""
    return masked_error(pred, target, valid, "mse")


def _pool_valid(x: torch.Tensor, valid: torch.Tensor | None) -> torch.Tensor:
    """Mean over tokens (dim 2) of (B, G, Nt, D), over the valid tokens only -> (B, G, D)."""
    if valid is None:
        return x.mean(2)
    w = valid[..., None].to(x.dtype)
    return (x * w).sum(2) / w.sum(2)


@torch.no_grad()
def collapse_stats(features: torch.Tensor, max_tokens: int = 2048) -> dict[str, torch.Tensor]:
    """Collapse monitor on features (B, N, D).

    target_std: std across the batch of the token-mean features, averaged over features (-> 0 on collapse).
    target_erank: effective rank exp(H(p)), p = normalised singular values of the centred token matrix.
    """
    f = features.float()
    std = f.mean(1).std(0).mean()
    tok = f.reshape(-1, f.shape[-1])
    if tok.shape[0] > max_tokens:  # a strided subset keeps the SVD cheap
        tok = tok[:: tok.shape[0] // max_tokens][:max_tokens]
    s = torch.linalg.svdvals(tok - tok.mean(0, keepdim=True))
    p = s / s.sum().clamp_min(1e-12)
    erank = torch.exp(-(p * torch.log(p.clamp_min(1e-12))).sum())
    return {"target_std": std, "target_erank": erank}


def _padding_masks(batch: dict[str, torch.Tensor]) -> tuple[torch.Tensor | None, torch.Tensor | None]:
    """(context_valid, target_valid), each None when absent or all True: the unmasked fast path."""
    ctx, tgt = batch.get("context_valid"), batch.get("target_valid")
    checks = [m.all() for m in (ctx, tgt) if m is not None]
    if not checks or checks[0].is_meta:  # meta tensors (FLOP counting) hold no values: keep the masks
        return ctx, tgt
    full = torch.stack(checks).tolist()  # one host sync for both, before this step queues any kernel
    if ctx is not None:
        ctx = None if full.pop(0) else ctx
    if tgt is not None:
        tgt = None if full.pop(0) else tgt
    return ctx, tgt


class WavJEPA(nn.Module):
    """teacher: the FrozenTeacher of a Recipe with teacher "frozen" (None otherwise)."""

    def __init__(self, cfg: ModelConfig, recipe: Recipe | None = None, teacher: FrozenTeacher | None = None):
        super().__init__()
        recipe = recipe or Recipe()
        if (teacher is not None) != (recipe.teacher == "frozen"):
            raise ValueError("a FrozenTeacher is given exactly when the recipe's teacher is 'frozen'")
        self.config, self.recipe = cfg, recipe
        self.encoder = Encoder(cfg)
        ema = recipe.objective == "jepa" and recipe.teacher == "ema"
        self.target_encoder = copy.deepcopy(self.encoder) if ema else None
        if self.target_encoder is not None:
            self.target_encoder.requires_grad_(False)
        self.frozen_teacher = teacher  # a plain attribute: not a submodule (see FrozenTeacher)
        self.log_mel = None
        out_dim = None
        if recipe.objective == "reconstruct":
            self.log_mel = LogMelTargets(cfg.fs, cfg.hop_samples, receptive_field(cfg.conv_spec))
            out_dim = self.log_mel.dim
        elif teacher is not None:
            out_dim = teacher.embed_dim
        self.predictor = Predictor(cfg, out_dim)
        self.set_grad_checkpointing(cfg.grad_checkpointing)

    def set_grad_checkpointing(self, on: bool = True) -> None:
        self.encoder.transformer.grad_checkpointing = on
        self.predictor.transformer.grad_checkpointing = on

    @torch.no_grad()
    def targets(
        self, audio: torch.Tensor, dry: torch.Tensor | None = None
    ) -> tuple[torch.Tensor, torch.Tensor | None]:
        """(all-token targets (B, C*T, D) fp32, raw last teacher layer for the collapse monitor, None when
        the targets are log-mel spectra). dry: the dry crops (B, 1, S) the teacher encodes instead."""
        channels = audio.shape[1]
        if self.log_mel is not None:
            view = teacher_view(audio, dry, channels)
            return self.log_mel(view, self.encoder.n_frames(audio.shape[-1])), None
        if self.target_encoder is not None:
            teacher, k = self.target_encoder, self.config.top_k_targets
        else:
            teacher, k = self.frozen_teacher.on(audio.device), self.frozen_teacher.top_k
        return teacher_targets(teacher, teacher_view(audio, dry, teacher.channels), k, channels)

    @torch.no_grad()
    def retention_targets(
        self, sources: torch.Tensor, weight: torch.Tensor, channels: int
    ) -> tuple[torch.Tensor, torch.Tensor | None]:
        """SSLAM's source retention: per crop, the weighted sum (weights 1/K) of the targets of each source
        alone. sources (B, K, C', S): each source's crops (C' = the student's channels, or 1: dry sources);
        weight (B, K): 0 for unused slots, which the teacher never encodes."""
        b, k = weight.shape
        used = (weight > 0).reshape(-1)
        crop = torch.arange(b, device=weight.device).repeat_interleave(k)[used]
        views = sources.reshape(b * k, *sources.shape[2:])[used]
        audio = views.expand(-1, channels, -1) if views.shape[1] != channels else views
        target, last = self.targets(audio, None if views.shape[1] == channels else views)
        w = weight.reshape(-1)[used].to(target.dtype)[:, None, None]
        total = torch.zeros(b, *target.shape[1:], dtype=target.dtype, device=target.device)
        return total.index_add_(0, crop, target * w), last

    def predict(
        self, batch: dict[str, torch.Tensor]
    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor | None]:
        """(predictions (B, G, Nt, D), teacher targets (B, G, Nt, D) fp32, last teacher layer (B, C*T, D)
        or None).

        Entries at padded target slots (target_valid False) are meaningless in both.
        """
        audio, ctx_idx, tgt_idx = batch["audio"], batch["context_idx"], batch["target_idx"]
        dry = None
        if self.recipe.teacher_input == "dry":
            if "dry_audio" not in batch:
                raise ValueError("teacher_input 'dry' needs the batch's dry crops ('dry_audio')")
            dry = batch["dry_audio"]
        ctx_valid, tgt_valid = _padding_masks(batch)
        B, G, Nt = tgt_idx.shape
        n_time = self.encoder.n_frames(audio.shape[-1])
        if "source_audio" in batch:  # train --mix-target retention
            target_all, last = self.retention_targets(
                batch["source_audio"], batch["source_weight"], audio.shape[1]
            )
        else:
            target_all, last = self.targets(audio) if dry is None else self.targets(audio, dry)
        target = gather_tokens(target_all, tgt_idx.reshape(B, G * Nt)).reshape(B, G, Nt, -1)
        context = self.encoder.encode(audio, keep_idx=ctx_idx, keep_valid=ctx_valid)
        pred = self.predictor(context, ctx_idx, tgt_idx, n_time, ctx_valid, tgt_valid)
        return pred, target, last

    def forward(self, batch: dict[str, torch.Tensor], monitor: bool = False) -> tuple[torch.Tensor, dict]:
        pred, target, last = self.predict(batch)
        valid = batch.get("target_valid")
        # mean over groups and crops (module docstring)
        loss = masked_error(pred, target, valid, self.recipe.loss).mean()
        stats: dict[str, torch.Tensor] = {"loss": loss.detach()}
        if monitor:
            if last is not None:
                stats.update(collapse_stats(last))
            # std across the batch of each group's mean valid prediction (-> 0 if predictions collapse)
            stats["pred_std"] = _pool_valid(pred.detach().float(), valid).std(0).mean()
        return loss, stats

    @torch.no_grad()
    def ema_update(self, momentum: float) -> None:
        """target <- momentum * target + (1 - momentum) * context, for every parameter and float buffer
        (nothing without an EMA teacher)."""
        if self.target_encoder is None:
            return
        t = [p for p in self.target_encoder.parameters()]
        s = [p.detach() for p in self.encoder.parameters()]
        torch._foreach_mul_(t, momentum)
        torch._foreach_add_(t, s, alpha=1.0 - momentum)
        for tb, sb in zip(self.target_encoder.buffers(), self.encoder.buffers()):
            tb.copy_(sb)
