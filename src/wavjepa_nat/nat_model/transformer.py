"""Pre-norm transformer blocks on top of `F.scaled_dot_product_attention` (nanoGPT style).

norm_first=False gives post-norm blocks, the arithmetic of torch's stock `nn.TransformerEncoderLayer`
(x = norm1(x + attn(x)); x = norm2(x + mlp(x))), which the reference WavJEPA uses; `qkv` holds the stock
`in_proj_weight` rows (q, k, v), so the reference's weights load unchanged.

Padded batches: `key_valid` (B, N) bool marks real tokens; padded tokens are keys no query may attend
to, so every real token's output equals the unpadded computation (padded outputs are garbage, ignored).
key_valid=None (no padding) keeps attn_mask=None and with it the flash kernels on GPU.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn
from torch.utils.checkpoint import checkpoint


class Attention(nn.Module):
    def __init__(self, dim: int, heads: int) -> None:
        super().__init__()
        self.heads = heads
        self.qkv = nn.Linear(dim, 3 * dim)
        self.proj = nn.Linear(dim, dim)

    def forward(self, x: torch.Tensor, attn_mask: torch.Tensor | None = None) -> torch.Tensor:
        """attn_mask: None or bool, True = may attend, broadcastable to (B, heads, N, N)."""
        B, N, D = x.shape
        q, k, v = self.qkv(x).view(B, N, 3, self.heads, D // self.heads).permute(2, 0, 3, 1, 4)
        # No mask: flash kernels on GPU; a bool mask: memory-efficient kernels.
        y = F.scaled_dot_product_attention(q, k, v, attn_mask=attn_mask)
        return self.proj(y.transpose(1, 2).reshape(B, N, D))


class MLP(nn.Module):
    """fc1 -> GELU -> fc2 (the stock layer's linear1 / linear2)."""

    def __init__(self, dim: int, hidden: int) -> None:
        super().__init__()
        self.fc1 = nn.Linear(dim, hidden)
        self.fc2 = nn.Linear(hidden, dim)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc2(F.gelu(self.fc1(x)))


class Block(nn.Module):
    def __init__(
        self, dim: int, heads: int, mlp_ratio: float, norm_first: bool = True, eps: float = 1e-5
    ) -> None:
        super().__init__()
        hidden = int(dim * mlp_ratio)
        self.norm_first = norm_first
        self.norm1 = nn.LayerNorm(dim, eps=eps)
        self.attn = Attention(dim, heads)
        self.norm2 = nn.LayerNorm(dim, eps=eps)
        self.mlp = MLP(dim, hidden)

    def forward(self, x: torch.Tensor, attn_mask: torch.Tensor | None = None) -> torch.Tensor:
        if not self.norm_first:  # post-norm
            x = self.norm1(x + self.attn(x, attn_mask))
            return self.norm2(x + self.mlp(x))
        x = x + self.attn(self.norm1(x), attn_mask)
        return x + self.mlp(self.norm2(x))


class Transformer(nn.Module):
    """`depth` blocks and a final LayerNorm. Can return every block's output for the teacher."""

    def __init__(
        self,
        dim: int,
        depth: int,
        heads: int,
        mlp_ratio: float,
        norm_first: bool = True,
        norm_eps: float = 1e-5,
    ) -> None:
        super().__init__()
        self.blocks = nn.ModuleList(Block(dim, heads, mlp_ratio, norm_first, norm_eps) for _ in range(depth))
        self.norm = nn.LayerNorm(dim)
        self.grad_checkpointing = False

    def forward(
        self, x: torch.Tensor, return_layers: bool = False, key_valid: torch.Tensor | None = None
    ) -> torch.Tensor | tuple[torch.Tensor, list[torch.Tensor]]:
        """x (B, N, D); key_valid None or (B, N) bool (False = padding, never attended to)."""
        # (B, 1, 1, N): the same key mask for every head and query. Padded queries still see the real
        # keys (every crop has some), so no softmax row is empty and nothing turns NaN.
        mask = None if key_valid is None else key_valid[:, None, None, :]
        layers = []
        for block in self.blocks:
            if self.grad_checkpointing and self.training and torch.is_grad_enabled():
                x = checkpoint(block, x, mask, use_reentrant=False)
            else:
                x = block(x, mask)
            if return_layers:
                layers.append(x)
        x = self.norm(x)
        return (x, layers) if return_layers else x


def init_weights(module: nn.Module) -> None:
    """ViT / I-JEPA initialisation: truncated normal 0.02 for linear layers, unit LayerNorms."""
    for m in module.modules():
        if isinstance(m, nn.Linear):
            nn.init.trunc_normal_(m.weight, std=0.02)
            if m.bias is not None:
                nn.init.zeros_(m.bias)
        elif isinstance(m, nn.LayerNorm):
            nn.init.ones_(m.weight)
            nn.init.zeros_(m.bias)
