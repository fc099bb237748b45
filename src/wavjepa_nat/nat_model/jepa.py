"""WavJEPA(-Nat): context encoder, EMA target encoder and predictor, with the top-K layer-average target.

forward(batch) with batch = MaskCollator output:
  teacher  : target encoder on all C*T tokens -> average of the top-K block outputs, each instance-normalised
             over tokens -> targets at `target_idx`
  student  : context encoder on the tokens at `context_idx` only
  predictor: context + one learned mask token per target position -> prediction per target group
  loss     : MSE over target tokens, averaged over features, tokens and groups
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
        self.pos = EarTimePosition(cfg.channels, cfg.pred_dim, cfg.ear_embedding)
        self.transformer = Transformer(cfg.pred_dim, cfg.pred_depth, cfg.pred_heads, cfg.mlp_ratio)
        self.out = nn.Linear(cfg.pred_dim, cfg.embed_dim)
        init_weights(self)
        nn.init.trunc_normal_(self.mask_token, std=0.02)

    def forward(
        self, context: torch.Tensor, context_idx: torch.Tensor, target_idx: torch.Tensor, n_time: int
    ) -> torch.Tensor:
        """context (B, Nc, D) at token indices context_idx (B, Nc); target_idx (B, G, Nt) -> (B, G, Nt, D)."""
        B, G, Nt = target_idx.shape
        Nc = context.shape[1]
        x = self.embed(context)
        pos = self.pos(n_time, device=x.device)  # (C*T, Dp) fp32, ear-major like the tokens
        x = x + pos[context_idx]
        # All G groups in one pass: each group sees the same context plus its own mask tokens.
        x = x.repeat_interleave(G, dim=0)  # (B*G, Nc, Dp)
        m = (self.mask_token + pos[target_idx.reshape(B * G, Nt)]).to(x.dtype)
        y = self.transformer(torch.cat([x, m], dim=1))[:, Nc:]
        return self.out(y).reshape(B, G, Nt, -1)


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

    def forward(self, batch: dict[str, torch.Tensor], monitor: bool = False) -> tuple[torch.Tensor, dict]:
        audio, ctx_idx, tgt_idx = batch["audio"], batch["context_idx"], batch["target_idx"]
        B, G, Nt = tgt_idx.shape
        n_time = self.encoder.n_frames(audio.shape[-1])
        target_all, last = self.targets(audio)
        target = gather_tokens(target_all, tgt_idx.reshape(B, G * Nt)).reshape(B, G, Nt, -1)
        context = self.encoder.encode(audio, keep_idx=ctx_idx)
        pred = self.predictor(context, ctx_idx, tgt_idx, n_time)
        loss = F.mse_loss(pred.float(), target)
        stats: dict[str, torch.Tensor] = {"loss": loss.detach()}
        if monitor:
            stats.update(collapse_stats(last))
            stats["pred_std"] = pred.detach().float().std(0).mean()
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
