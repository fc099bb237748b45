"""WavJEPA(-Nat): context encoder, EMA target encoder and predictor, with the top-K layer-average target.

forward(batch) with batch = MaskCollator output (index sets padded to the batch maximum + validity masks):
  teacher  : target encoder on all C*T tokens (never padded) -> average of the top-K block outputs, each
             instance-normalised over tokens -> targets at `target_idx`
  student  : context encoder on the tokens at `context_idx` only; padded slots are masked-out keys
  predictor: context + one learned mask token per target position -> prediction per target group;
             padded context and target slots are masked-out keys
  loss     : per (crop b, group g): sum of squared errors over the group's VALID target tokens and all
             features / (valid tokens * features); then the mean over the G groups and the B crops. So each
             crop weighs the same whatever the batch pads, and with no padding this is plain MSE.
A batch with nothing padded (or no *_valid keys) runs with attn_mask=None (flash kernels on GPU).
"""

from __future__ import annotations

import copy

import torch
import torch.nn.functional as F
from torch import nn

from wavjepa_nat.nat_model.config import ModelConfig
from wavjepa_nat.nat_model.encoder import EarTimePosition, Encoder, gather_tokens
from wavjepa_nat.nat_model.transformer import Transformer, init_weights


class Predictor(nn.Module):
    def __init__(self, cfg: ModelConfig) -> None:
        super().__init__()
        self.embed = nn.Linear(cfg.embed_dim, cfg.pred_dim)
        self.mask_token = nn.Parameter(torch.zeros(1, 1, cfg.pred_dim))
        self.pos = EarTimePosition(cfg.channels, cfg.pred_dim, cfg.ear_embedding, cfg.pos_embedding)
        self.transformer = Transformer(
            cfg.pred_dim, cfg.pred_depth, cfg.pred_heads, cfg.mlp_ratio, cfg.norm_first, cfg.block_norm_eps
        )
        self.out = nn.Linear(cfg.pred_dim, cfg.embed_dim)
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


def masked_mse(pred: torch.Tensor, target: torch.Tensor, valid: torch.Tensor | None = None) -> torch.Tensor:
    """Per (crop, group) MSE (B, G) in fp32 of pred/target (B, G, Nt, D) over the valid tokens (B, G, Nt).

    sum over valid tokens and features of (pred - target)^2 / (valid tokens * D). Padded slots are
    selected away (not multiplied by 0), so even inf/NaN there cannot leak into the loss or gradients.
    """
    err = pred.float() - target.float()
    if valid is None:
        return err.square().mean((2, 3))
    err = torch.where(valid[..., None], err, torch.zeros((), dtype=err.dtype, device=err.device))
    return err.square().sum((2, 3)) / (valid.sum(2) * err.shape[-1])


def _pool_valid(x: torch.Tensor, valid: torch.Tensor | None) -> torch.Tensor:
    """Mean over tokens (dim 2) of (B, G, Nt, D), over the valid tokens only -> (B, G, D)."""
    if valid is None:
        return x.mean(2)
    w = valid[..., None].to(x.dtype)
    return (x * w).sum(2) / w.sum(2)


def layer_average_target(layers: list[torch.Tensor], k: int) -> torch.Tensor:
    """Mean of the last k block outputs (B, N, D), each instance-normalised over tokens, in fp32."""
    normed = [F.instance_norm(h.float().transpose(1, 2)).transpose(1, 2) for h in layers[-k:]]
    return torch.stack(normed).mean(0)


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
    def __init__(self, cfg: ModelConfig) -> None:
        super().__init__()
        self.config = cfg
        self.encoder = Encoder(cfg)
        self.target_encoder = copy.deepcopy(self.encoder)
        self.target_encoder.requires_grad_(False)
        self.predictor = Predictor(cfg)
        self.set_grad_checkpointing(cfg.grad_checkpointing)

    def set_grad_checkpointing(self, on: bool = True) -> None:
        self.encoder.transformer.grad_checkpointing = on
        self.predictor.transformer.grad_checkpointing = on

    @torch.no_grad()
    def targets(self, audio: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """(all-token targets (B, C*T, D) fp32, raw last teacher layer for the collapse monitor)."""
        _, layers = self.target_encoder.encode(audio, return_layers=True)
        return layer_average_target(layers, self.config.top_k_targets), layers[-1]

    def predict(self, batch: dict[str, torch.Tensor]) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """(predictions (B, G, Nt, D), teacher targets (B, G, Nt, D) fp32, last teacher layer (B, C*T, D)).

        Entries at padded target slots (target_valid False) are meaningless in both.
        """
        audio, ctx_idx, tgt_idx = batch["audio"], batch["context_idx"], batch["target_idx"]
        ctx_valid, tgt_valid = _padding_masks(batch)
        B, G, Nt = tgt_idx.shape
        n_time = self.encoder.n_frames(audio.shape[-1])
        target_all, last = self.targets(audio)
        target = gather_tokens(target_all, tgt_idx.reshape(B, G * Nt)).reshape(B, G, Nt, -1)
        context = self.encoder.encode(audio, keep_idx=ctx_idx, keep_valid=ctx_valid)
        pred = self.predictor(context, ctx_idx, tgt_idx, n_time, ctx_valid, tgt_valid)
        return pred, target, last

    def forward(self, batch: dict[str, torch.Tensor], monitor: bool = False) -> tuple[torch.Tensor, dict]:
        pred, target, last = self.predict(batch)
        valid = batch.get("target_valid")
        loss = masked_mse(pred, target, valid).mean()  # mean over groups and crops (module docstring)
        stats: dict[str, torch.Tensor] = {"loss": loss.detach()}
        if monitor:
            stats.update(collapse_stats(last))
            # std across the batch of each group's mean valid prediction (-> 0 if predictions collapse)
            stats["pred_std"] = _pool_valid(pred.detach().float(), valid).std(0).mean()
        return loss, stats

    @torch.no_grad()
    def ema_update(self, momentum: float) -> None:
        """target <- momentum * target + (1 - momentum) * context, for every parameter and float buffer."""
        t = [p for p in self.target_encoder.parameters()]
        s = [p.detach() for p in self.encoder.parameters()]
        torch._foreach_mul_(t, momentum)
        torch._foreach_add_(t, s, alpha=1.0 - momentum)
        for tb, sb in zip(self.target_encoder.buffers(), self.encoder.buffers()):
            tb.copy_(sb)
