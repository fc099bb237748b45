"""Waveform encoder (wav2vec 2.0 style) and the token encoder used as context, target and export model.

Token order for C channels is EAR-MAJOR: [ear0 t0..t(T-1), ear1 t0..t(T-1)], so token `c * T + t` is ear `c`
at time frame `t`. Every count (frames, tokens, positions) is derived from the conv spec and the input length.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn
from torch.nn import functional as F

from wavjepa_nat.errors import InputError
from wavjepa_nat.nat_model.config import ModelConfig
from wavjepa_nat.nat_model.interaural import InterauralCues
from wavjepa_nat.nat_model.transformer import Transformer, init_weights

ConvSpec = Sequence[tuple[int, int]]


def n_frames(n_samples: int, conv_spec: ConvSpec) -> int:
    """Output frames of a stack of unpadded Conv1d layers (kernel k, stride s) on `n_samples` inputs."""
    n = int(n_samples)
    for k, s in conv_spec:
        if n < k:
            return 0
        n = (n - k) // s + 1
    return n


def receptive_field(conv_spec: ConvSpec) -> int:
    """Input samples seen by one output frame (= the shortest input that gives one frame)."""
    field, jump = 1, 1
    for k, s in conv_spec:
        field += (k - 1) * jump
        jump *= s
    return field


class WaveformEncoder(nn.Module):
    """Conv1d stack, no bias, GELU after every conv; GroupNorm(conv_dim, conv_dim) after the first conv only
    (wav2vec 2.0). Sub-layers by name: `convs.{i}` is conv layer i, `first_norm` the GroupNorm.

    (B, S) or (B, 1, S) waveform -> (B, T, conv_dim) frames, T = n_frames(S, conv_spec).
    """

    def __init__(self, conv_spec: ConvSpec, conv_dim: int) -> None:
        super().__init__()
        self.conv_spec = [(int(k), int(s)) for k, s in conv_spec]
        in_dims = [1] + [conv_dim] * (len(self.conv_spec) - 1)
        self.convs = nn.ModuleList(
            nn.Conv1d(d, conv_dim, kernel_size=k, stride=s, bias=False)
            for d, (k, s) in zip(in_dims, self.conv_spec)
        )
        self.first_norm = nn.GroupNorm(conv_dim, conv_dim)
        for conv in self.convs:
            nn.init.kaiming_normal_(conv.weight)

    def forward(self, wav: torch.Tensor) -> torch.Tensor:
        if wav.dim() == 2:
            wav = wav.unsqueeze(1)
        return self.later_layers(self.first_norm(self.convs[0](wav)))

    def first_layer(self, wav: torch.Tensor) -> torch.Tensor:
        """(B, S) -> (B, conv_dim, T1): the first convolution, before its GroupNorm."""
        return self.convs[0](wav.unsqueeze(1))

    def after_norm(self, normed: torch.Tensor) -> torch.Tensor:
        """The rest of the stack, from first-layer outputs already normalised (without the affine)."""
        norm = self.first_norm
        return self.later_layers(torch.addcmul(norm.bias[:, None], normed, norm.weight[:, None]))

    def later_layers(self, x: torch.Tensor) -> torch.Tensor:
        """(B, conv_dim, T1) first-layer outputs after the GroupNorm -> (B, T, conv_dim) frames."""
        x = F.gelu(x)
        for conv in self.convs[1:]:
            x = F.gelu(conv(x))
        return x.transpose(1, 2)


class FrameEmbed(nn.Module):
    """One ear's path: waveform encoder -> LayerNorm -> Linear(conv_dim -> embed_dim)."""

    def __init__(self, conv_spec: ConvSpec, conv_dim: int, embed_dim: int) -> None:
        super().__init__()
        self.cnn = WaveformEncoder(conv_spec, conv_dim)
        self.norm = nn.LayerNorm(conv_dim)
        self.proj = nn.Linear(conv_dim, embed_dim)

    def forward(self, wav: torch.Tensor) -> torch.Tensor:
        return self.head(self.cnn(wav))

    def head(self, frames: torch.Tensor) -> torch.Tensor:
        return self.proj(self.norm(frames))


def joint_ear_frames(cnns: list[WaveformEncoder], audio: torch.Tensor) -> torch.Tensor:
    """(B, C, S) -> (B, C, T, conv_dim): each ear's conv stack with the first GroupNorm's statistics pooled
    over the ears and time (cnns: one per ear).

    Per filter, both ears are divided by one standard deviation, so their level ratio (the ILD in that
    filter's band) survives; the model stays invariant to the overall level, like the per-ear norm.
    """
    C = audio.shape[1]
    # The ears side by side in time, so that the native group_norm pools each filter over both.
    h = torch.cat([cnn.first_layer(audio[:, c]) for c, cnn in enumerate(cnns)], dim=-1)  # (B, F, C*T1)
    normed = F.group_norm(h, h.shape[1], eps=cnns[0].first_norm.eps)
    parts = normed.split(h.shape[-1] // C, dim=-1)
    return torch.stack([cnn.after_norm(part) for part, cnn in zip(parts, cnns)], dim=1)


def sincos_1d(n: int, dim: int, device=None, dtype=torch.float32) -> torch.Tensor:
    """Fixed sin-cos embedding (n, dim) of positions 0..n-1 (Transformer / MAE convention)."""
    if dim % 2:
        raise InputError(f"sin-cos positional embedding needs an even dim, got {dim}")
    omega = 1.0 / 10000 ** (torch.arange(dim // 2, device=device, dtype=torch.float64) / (dim / 2))
    pos = torch.arange(n, device=device, dtype=torch.float64)[:, None] * omega[None]
    return torch.cat([pos.sin(), pos.cos()], dim=1).to(dtype)


class EarTimePosition(nn.Module):
    """Positional embedding (C*T, dim) in ear-major order: sin-cos over time + one vector per ear.

    layout "split" (the reference WavJEPA-Nat's): sin-cos over time on the first dim/2 dims only, and a fixed
    ear code on the other half: zeros for ear 0, the dim/2 sin-cos code of position 0 (dim/4 zeros, then
    dim/4 ones) for ear 1. One channel: sin-cos over time on every dim in either layout.
    """

    def __init__(self, channels: int, dim: int, kind: str = "learned", layout: str = "ear_vector") -> None:
        super().__init__()
        self.channels = channels
        self.layout = layout
        if layout == "split":
            half = dim // 2
            code = torch.zeros(channels, dim)
            code[1::2, half + half // 2 :] = 1.0  # sin(0) = 0 on the first quarter, cos(0) = 1 on the second
            self.register_buffer("ear", code, persistent=True)
        elif kind == "learned":
            self.ear = nn.Parameter(torch.zeros(channels, dim))
            nn.init.trunc_normal_(self.ear, std=0.02)
        else:
            # Fixed: ear c gets (-1)^c * 0.5 * [+1, -1, +1, ...]; unlike a second sin-cos it never
            # coincides with a time offset, so (ear, t) pairs stay distinct.
            alt = 0.5 * (1.0 - 2.0 * (torch.arange(dim) % 2).float())
            sign = 1.0 - 2.0 * (torch.arange(channels) % 2).float()
            self.register_buffer("ear", sign[:, None] * alt[None], persistent=True)

    def forward(self, n_time: int, device=None, dtype=torch.float32) -> torch.Tensor:
        dim = self.ear.shape[1]
        if self.channels == 1:
            return sincos_1d(n_time, dim, device=device, dtype=dtype)  # WavJEPA: time only
        if self.layout == "split":
            time = sincos_1d(n_time, dim // 2, device=device, dtype=dtype)
            time = torch.cat([time, time.new_zeros(n_time, dim - dim // 2)], dim=1)
        else:
            time = sincos_1d(n_time, dim, device=device, dtype=dtype)
        pos = time[None] + self.ear.to(dtype)[:, None, :]  # (C, T, dim)
        return pos.reshape(self.channels * n_time, -1)


def gather_tokens(x: torch.Tensor, idx: torch.Tensor) -> torch.Tensor:
    """x (B, N, D), idx (B, M) -> (B, M, D)."""
    return torch.gather(x, 1, idx.unsqueeze(-1).expand(-1, -1, x.shape[-1]))


def check_channels(model: nn.Module, channels: int) -> None:
    """Raise InputError when audio with `channels` channels is given to a model trained on another count."""
    expected = int(getattr(model, "channels", None) or model.config.channels)
    if int(channels) != expected:
        kind = "WavJEPA-Nat (binaural, 2 channels)" if expected == 2 else "WavJEPA (mono, 1 channel)"
        raise InputError(
            f"channel mismatch: the model is {kind} and expects {expected}-channel audio, "
            f"got {channels} channel(s)"
            + ("; duplicate mono audio to both ears" if expected == 2 and channels == 1 else "")
            + ("; pick one ear or average the two" if expected == 1 and channels == 2 else "")
        )


class Encoder(nn.Module):
    """Per-ear frame embedding + ear/time positions + transformer.

    Used as the context encoder, the EMA target encoder, and (exported) the downstream model:
    forward(audio (B, C, S)) -> (B, T, output_dim): the ears' tokens at one time frame concatenated
    (C * embed_dim), or their mean (embed_dim) with ear_pool="mean", as the reference's HEAR runtime does;
    these are the first `semantic_dim` dims. With interaural="gcc_ild_apart" the frame's interaural cues
    follow them: a recognition probe reads the first part, a direction probe all of it.
    """

    def __init__(self, cfg: ModelConfig) -> None:
        super().__init__()
        self.config = cfg
        self.channels = cfg.channels
        self.embed_dim = cfg.embed_dim
        self.output_dim = cfg.embed_dim if cfg.ear_pool == "mean" else cfg.channels * cfg.embed_dim
        self.sample_rate = cfg.fs
        self.crop_samples = cfg.crop_samples
        self.hop_samples = cfg.hop_samples
        self.hop_ms = 1000.0 * self.hop_samples / cfg.fs
        self.receptive_field = receptive_field(cfg.conv_spec)
        n_front = 1 if (cfg.share_ear_encoders or cfg.channels == 1) else cfg.channels
        self.frontends = nn.ModuleList(
            FrameEmbed(cfg.conv_spec, cfg.conv_dim, cfg.embed_dim) for _ in range(n_front)
        )
        # The interaural path: added to the tokens ("gcc_ild"), or kept apart and appended to the output
        # ("gcc_ild_apart", no parameters).
        self.interaural = self.cues_apart = None
        if cfg.interaural == "gcc_ild" and cfg.channels == 2:
            self.interaural = InterauralCues(cfg.embed_dim, self.receptive_field, self.hop_samples, cfg.fs)
            init_weights(self.interaural.proj)
        elif cfg.interaural == "gcc_ild_apart" and cfg.channels == 2:
            self.cues_apart = InterauralCues(None, self.receptive_field, self.hop_samples, cfg.fs)
        # The leading dims that say what is heard; any after them are the interaural cues, for direction.
        self.semantic_dim = self.output_dim
        if self.cues_apart is not None:
            self.output_dim += self.cues_apart.n_features
        self.pos = EarTimePosition(cfg.channels, cfg.embed_dim, cfg.ear_embedding, cfg.pos_embedding)
        self.transformer = Transformer(
            cfg.embed_dim, cfg.depth, cfg.heads, cfg.mlp_ratio, cfg.norm_first, cfg.block_norm_eps
        )
        init_weights(self.transformer)
        for f in self.frontends:
            init_weights(f.proj)

    def n_frames(self, n_samples: int) -> int:
        return n_frames(n_samples, self.config.conv_spec)

    def _check_audio(self, audio: torch.Tensor) -> torch.Tensor:
        if audio.dim() == 2 and self.channels == 1:
            audio = audio.unsqueeze(1)
        if audio.dim() != 3:
            raise InputError(f"audio must be (batch, channels, samples), got shape {tuple(audio.shape)}")
        check_channels(self, audio.shape[1])
        if audio.shape[-1] < self.receptive_field:
            raise InputError(
                f"audio too short: {audio.shape[-1]} samples, "
                f"the encoder needs at least {self.receptive_field}"
            )
        return audio

    def ear_frontends(self, channels: int) -> list[FrameEmbed]:
        """The frame embedding of each ear (the one shared module repeated when the ears share it)."""
        fronts = list(self.frontends)
        return fronts if len(fronts) == channels else fronts * channels

    def frames_and_tokens(self, audio: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """(B, C, S) -> (conv frames (B, C, T, conv_dim): each ear's conv stack output, before the LayerNorm
        and projection; tokens (B, C*T, D): embedded, with the interaural cues and positions, ear-major)."""
        audio = self._check_audio(audio)
        B, C, S = audio.shape
        fronts = self.ear_frontends(C)
        if self.config.ear_norm == "joint" and C > 1:
            frames = joint_ear_frames([f.cnn for f in fronts], audio)
            x = torch.stack([f.head(frames[:, c]) for c, f in enumerate(fronts)], dim=1)
        elif len(self.frontends) == 1:  # one CNN: the ears run as one batch
            frames = self.frontends[0].cnn(audio.reshape(B * C, S))
            x = self.frontends[0].head(frames).reshape(B, C, -1, self.embed_dim)
            frames = frames.reshape(B, C, x.shape[2], -1)
        else:
            frames = torch.stack([f.cnn(audio[:, c]) for c, f in enumerate(fronts)], dim=1)
            x = torch.stack([f.head(frames[:, c]) for c, f in enumerate(fronts)], dim=1)
        T = x.shape[2]
        if self.interaural is not None:  # the frame's interaural cues, on both ears' tokens
            x = x + self.interaural(audio, T)[:, None].to(x.dtype)
        x = x.reshape(B, C * T, self.embed_dim)
        # fp32 positions: under bf16 autocast the sum (the residual stream) stays fp32, so small
        # low-frequency position differences are not rounded away.
        return frames, x + self.pos(T, device=x.device)

    def tokens(self, audio: torch.Tensor) -> torch.Tensor:
        """(B, C, S) -> (B, C*T, D) embedded tokens with positions, ear-major."""
        return self.frames_and_tokens(audio)[1]

    def encode(
        self,
        audio: torch.Tensor,
        keep_idx: torch.Tensor | None = None,
        return_layers: bool = False,
        keep_valid: torch.Tensor | None = None,
    ):
        """Transformer over all tokens, or over the tokens at `keep_idx` (B, M) only (the context).

        keep_valid (B, M) bool marks the real entries of a padded `keep_idx`: padded tokens are masked
        out as attention keys and their outputs are meaningless. None = no padding (fast path).
        """
        x = self.tokens(audio)
        if keep_idx is not None:
            x = gather_tokens(x, keep_idx)
        return self.transformer(x, return_layers=return_layers, key_valid=keep_valid)

    def forward(self, audio: torch.Tensor, frame_valid: torch.Tensor | None = None) -> torch.Tensor:
        """(B, C, S) -> (B, T, output_dim). frame_valid (B, T) bool: False = a padding frame, which no
        token attends to (both ears' tokens of that frame are masked out as keys); its output is unused.
        With interaural="gcc_ild_apart" each frame's interaural cues follow the ears' part."""
        key_valid = None if frame_valid is None else frame_valid.repeat(1, self.channels)  # ear-major tokens
        x = self.encode(audio, keep_valid=key_valid)  # (B, C*T, D)
        B, N, D = x.shape
        T = N // self.channels
        x = x.reshape(B, self.channels, T, D)
        out = x.mean(dim=1) if self.config.ear_pool == "mean" else x.transpose(1, 2).reshape(B, T, -1)
        if self.cues_apart is not None:
            out = torch.cat([out, self.cues_apart(audio, T).to(out.dtype)], dim=-1)
        return out
