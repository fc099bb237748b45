"""Typed model configuration and the tiny/small/base/large presets.

A `ModelConfig` is saved into every checkpoint and export (as a plain dict / JSON), so a file rebuilds
its model with nothing else (read back with `stored_config`). `base` follows the WavJEPA paper
(arXiv 2509.23238). `ModelConfig()` is the `base` preset: every default is this project's model, with the
"apart" binaural layout; the reference WavJEPA-Nat's layout is `BINAURAL_LAYOUTS["reference"]`.
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass, field
from typing import Any

from wavjepa_nat.errors import InputError
from wavjepa_nat.serialise import config_dict

# wav2vec 2.0 feature extractor without its last (2, 2) layer: total stride 160 = 10 ms at 16 kHz.
BASE_CONV_SPEC: list[tuple[int, int]] = [(10, 5), (3, 2), (3, 2), (3, 2), (3, 2), (2, 2)]


INTERAURAL_PATHS = ("none", "gcc_ild", "gcc_ild_apart")
MAX_LR = 1.0  # beyond any AdamW learning rate; --lr 1e300 passed the checks and failed in training


@dataclass
class ModelConfig:
    # --- input -------------------------------------------------------------------------------------
    channels: int = 2  # 2 = WavJEPA-Nat (binaural), 1 = WavJEPA (mono)
    share_ear_encoders: bool = False  # True: one CNN for both ears (the reference uses one per ear)
    fs: int = 16000
    crop_samples: int = 32160  # 2.01 s -> 200 frames with the base conv spec
    # --- waveform encoder ----------------------------------------------------------------------------
    conv_spec: list[tuple[int, int]] = field(default_factory=lambda: list(BASE_CONV_SPEC))  # (kernel, stride)
    conv_dim: int = 512
    ear_embedding: str = "learned"  # "learned" | "fixed" (fixed: +-1 pattern scaled by 0.02)
    # Statistics of the first layer's GroupNorm. "per_ear" (the reference) normalises each ear's filter
    # outputs over time on their own, which erases the level of each ear and so the ILD; "joint" pools
    # the statistics over both ears, so the interaural level ratio of every filter reaches the transformer.
    ear_norm: str = "per_ear"
    # The per-frame interaural cues (nat_model/interaural.py: GCC-PHAT over +-1 ms and ILD in 16 bands).
    # "gcc_ild_apart": appended to each output frame, unseen by the transformer; "gcc_ild": projected and
    # added to both ears' tokens; "none": the reference's ears meet only in attention.
    interaural: str = "gcc_ild_apart"
    # --- context / target encoder --------------------------------------------------------------------
    embed_dim: int = 768
    depth: int = 12
    heads: int = 12
    mlp_ratio: float = 4.0
    # --- predictor --------------------------------------------------------------------------------------
    pred_dim: int = 384
    pred_depth: int = 12
    pred_heads: int = 12
    # --- targets and EMA ------------------------------------------------------------------------------
    top_k_targets: int = 8  # average of the top-K teacher layers, each instance-normalised
    ema_start: float = 0.999
    ema_end: float = 0.99999
    ema_ramp_steps: int = 100_000
    # --- optimisation -----------------------------------------------------------------------------------
    lr: float = 4e-4
    final_lr: float = 0.0  # end of the cosine decay
    betas: tuple[float, float] = (0.9, 0.98)
    weight_decay: float = 0.04
    warmup_steps: int = 100_000
    total_steps: int = 375_000
    grad_clip: float = 5.0
    # --- time-inverse block masking (on time frames) ------------------------------------------------
    context_block_rate: float = 0.65  # expected spans = rate * T / span; the context is their complement
    context_block_len: int = 10
    target_groups: int = 4
    target_block_rate: float = 0.25
    target_block_len: int = 10
    min_context_frac: float = 0.10  # redraw until the context keeps at least this fraction of frames
    # --- variants that let imported reference weights (labhamlet/wavjepa) run exactly ---------------------
    # The defaults are this project's model; nat_model/weights/reference.py sets the reference's values.
    # "ear_vector": sin-cos over time on every dim plus one vector per ear. "split": the reference's binaural
    # layout: sin-cos over time on the first half of the dims; on the second half ear 0 gets zeros and ear 1
    # the sin-cos code of position 0 (zeros, then ones). One channel: plain sin-cos over time in both.
    pos_embedding: str = "ear_vector"
    norm_first: bool = True  # pre-norm blocks; False: post-norm (torch's TransformerEncoderLayer default)
    block_norm_eps: float = 1e-5  # eps of the LayerNorms inside the blocks (the reference: 1e-6)
    ear_pool: str = "concat"  # a frame's output: the ears' tokens concatenated | "mean" of both (reference)
    # Inference input handling (nat_model/inference.py): "native" = this project's Embedder; "wavjepa" = the
    # reference's HEAR runtime: RMS to -14 dBFS, 2.01 s windows back to back, each instance-normalised over
    # (channels, time), the zero padding of the last one masked out as attention keys.
    runtime: str = "native"
    # --- runtime switches -----------------------------------------------------------------------------
    grad_checkpointing: bool = False
    compile: bool = False

    def __post_init__(self) -> None:
        try:
            self.conv_spec = [(int(k), int(s)) for k, s in self.conv_spec]
            self.betas = (float(self.betas[0]), float(self.betas[1]))
        except (TypeError, ValueError, IndexError):  # a model_overrides value of another shape
            raise InputError(
                f"invalid model config: conv_spec must be [kernel, stride] pairs and betas two numbers, "
                f"got {self.conv_spec!r}, {self.betas!r}"
            ) from None
        self.validate()

    def validate(self) -> None:
        problems = []
        if self.channels not in (1, 2):
            problems.append(f"channels must be 1 or 2, got {self.channels}")
        if not self.conv_spec or any(k < 1 or s < 1 for k, s in self.conv_spec):
            problems.append(f"conv_spec needs (kernel>=1, stride>=1) pairs, got {self.conv_spec}")
        elif self.crop_samples < self.receptive_field:
            problems.append(
                f"crop_samples {self.crop_samples} is shorter than the conv stack's receptive field "
                f"({self.receptive_field} samples): not one frame"
            )
        if not (math.isfinite(self.mlp_ratio) and self.mlp_ratio > 0):
            problems.append(f"mlp_ratio must be a positive number, got {self.mlp_ratio}")
        if not (math.isfinite(self.lr) and 0 < self.lr <= MAX_LR):
            problems.append(f"lr must lie in (0, {MAX_LR:g}], got {self.lr}")
        if self.embed_dim % self.heads:
            problems.append(f"embed_dim {self.embed_dim} is not divisible by heads {self.heads}")
        if self.pred_dim % self.pred_heads:
            problems.append(f"pred_dim {self.pred_dim} is not divisible by pred_heads {self.pred_heads}")
        if not 1 <= self.top_k_targets <= self.depth:
            problems.append(f"top_k_targets must be in 1..depth={self.depth}, got {self.top_k_targets}")
        if not 0.0 <= self.ema_start <= self.ema_end <= 1.0:
            problems.append(f"need 0 <= ema_start <= ema_end <= 1, got {self.ema_start}, {self.ema_end}")
        if self.total_steps < 1 or not 0 <= self.warmup_steps <= self.total_steps:
            problems.append(
                f"need 0 <= warmup_steps <= total_steps, got {self.warmup_steps}, {self.total_steps}"
            )
        if self.ear_embedding not in ("learned", "fixed"):
            problems.append(f"ear_embedding must be 'learned' or 'fixed', got {self.ear_embedding!r}")
        if self.ear_norm not in ("per_ear", "joint"):
            problems.append(f"ear_norm must be 'per_ear' or 'joint', got {self.ear_norm!r}")
        if self.interaural not in INTERAURAL_PATHS:
            paths = ", ".join(INTERAURAL_PATHS)
            problems.append(f"interaural must be one of {paths}, got {self.interaural!r}")
        if self.pos_embedding not in ("ear_vector", "split"):
            problems.append(f"pos_embedding must be 'ear_vector' or 'split', got {self.pos_embedding!r}")
        if self.pos_embedding == "split" and self.channels > 1 and (self.embed_dim % 4 or self.pred_dim % 4):
            problems.append("pos_embedding 'split' needs embed_dim and pred_dim divisible by 4")
        if not 0.0 < self.block_norm_eps < 1.0:
            problems.append(f"block_norm_eps must be in (0, 1), got {self.block_norm_eps}")
        if self.ear_pool not in ("concat", "mean"):
            problems.append(f"ear_pool must be 'concat' or 'mean', got {self.ear_pool!r}")
        if self.runtime not in ("native", "wavjepa"):
            problems.append(f"runtime must be 'native' or 'wavjepa', got {self.runtime!r}")
        if self.target_groups < 1 or not 0.0 < self.min_context_frac < 1.0:
            problems.append("target_groups must be >= 1 and min_context_frac in (0, 1)")
        if problems:
            raise InputError("invalid model config: " + "; ".join(problems))

    @property
    def receptive_field(self) -> int:
        """Input samples one output frame sees: each conv kernel, spread by the strides before it."""
        frame, spread = 1, 1
        for kernel, stride in self.conv_spec:
            frame += (kernel - 1) * spread
            spread *= stride
        return frame

    @property
    def hop_samples(self) -> int:
        """Input samples between two output frames: the product of the conv strides."""
        return math.prod(s for _, s in self.conv_spec)

    def to_dict(self) -> dict[str, Any]:
        return config_dict(self)

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> ModelConfig:
        known = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(d) - known)
        if unknown:
            raise InputError(f"unknown model config keys: {', '.join(unknown)}")
        return cls(**d)


# Fields that define the network and how it reads audio (not how it is trained): a model initialised from
# saved weights takes these from the weights (train --init-from).
ARCHITECTURE_FIELDS = (
    "channels",
    "share_ear_encoders",
    "fs",
    "crop_samples",
    "conv_spec",
    "conv_dim",
    "ear_embedding",
    "ear_norm",
    "interaural",
    "embed_dim",
    "depth",
    "heads",
    "mlp_ratio",
    "pred_dim",
    "pred_depth",
    "pred_heads",
    "pos_embedding",
    "norm_first",
    "block_norm_eps",
    "ear_pool",
    "runtime",
)


# Binaural layouts (sets of ModelConfig fields; mono models ignore them), measured against each other in
# benchmarks/layout_table.py (README, "Spatial hearing"):
# - "apart", the default (so every preset's): the reference's tokens (per-ear norm and CNN, no cue in the
#   transformer), with each frame's GCC-PHAT curve and ILDs appended to the output. Recognition keeps the
#   reference's robustness; localisation gets the cues.
# - "spatial", the previous default: the first GroupNorm pools both ears (the ILD survives), one CNN for
#   both ears, and the cues are added to every token, so the embedding of a sound moves with the room.
# - "reference": the reference WavJEPA-Nat's (the weights importer sets it).
BINAURAL_LAYOUTS: dict[str, dict[str, Any]] = {
    "apart": {"ear_norm": "per_ear", "share_ear_encoders": False, "interaural": "gcc_ild_apart"},
    "spatial": {"ear_norm": "joint", "share_ear_encoders": True, "interaural": "gcc_ild"},
    "reference": {"ear_norm": "per_ear", "share_ear_encoders": False, "interaural": "none"},
}


def stored_config(values: dict[str, Any]) -> ModelConfig:
    """The ModelConfig of a checkpoint or export's stored dict (every field as it was saved).

    Files store every field, so a missing layout field means the file predates it: ear_norm and interaural
    were added later, and until then every model had the reference layout (per-ear norm, no interaural
    path), which was also the default then. Those files still load as what they were.
    """
    return ModelConfig.from_dict({**BINAURAL_LAYOUTS["reference"], **values})


PRESETS: dict[str, ModelConfig] = {
    # Trains a few hundred steps on a 2-core CPU in minutes; same 6-layer stride-160 conv stack.
    "tiny": ModelConfig(
        conv_dim=64,
        embed_dim=128,
        depth=3,
        heads=4,
        pred_dim=64,
        pred_depth=2,
        pred_heads=4,
        top_k_targets=2,
        lr=1e-3,
        warmup_steps=20,
        total_steps=1000,
        ema_start=0.99,
        ema_end=0.999,
        ema_ramp_steps=500,
    ),
    "small": ModelConfig(
        conv_dim=256,
        embed_dim=384,
        depth=6,
        heads=6,
        pred_dim=192,
        pred_depth=6,
        pred_heads=6,
        top_k_targets=4,
        lr=6e-4,
        warmup_steps=10_000,
        total_steps=100_000,
        ema_ramp_steps=30_000,
    ),
    "base": ModelConfig(),  # the paper's sizes
    "large": ModelConfig(embed_dim=1024, depth=24, heads=16, pred_dim=512, pred_depth=12, pred_heads=16),
}


def get_preset(name: str, **overrides: Any) -> ModelConfig:
    """A fresh copy of preset `name` with `overrides` applied (validated)."""
    if name not in PRESETS:
        raise InputError(f"unknown model preset {name!r}; choose one of {', '.join(PRESETS)}")
    d = PRESETS[name].to_dict()
    unknown = sorted(set(overrides) - set(d))
    if unknown:
        raise InputError(f"unknown model config keys: {', '.join(unknown)}")
    d.update(overrides)
    return ModelConfig.from_dict(d)
