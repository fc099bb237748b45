"""The naturalistic augmentation, batched in torch: same semantics as augment.py, runs on GPU or CPU.

The random draws come from augment.draw_clip_params on the CPU (in DataLoader workers); this module does only
arithmetic (the rendering is render.batch.render_torch), so for the same draws and inputs it returns the same
crops as augment.augment_batch (fp32 allclose).

Per batch of B clips:
    dry (B, S), is_clean (B,), brir (B, 2, L), noise (B, 2, S),
    snr_db (B,), delay (B,), crop_offsets (B, n_crops)  ->  crops (B * n_crops, C, crop_samples), clip-major.
"""

from __future__ import annotations

import numpy as np
import torch
from torch import nn

from wavjepa_nat.data.augment import AugmentConfig, ClipDraws
from wavjepa_nat.data.render import SceneInputs
from wavjepa_nat.data.render.batch import masked_power, render_torch, scene_noise_torch
from wavjepa_nat.dsp import SILENT_POWER

BATCH_KEYS = ("dry", "is_clean", "brir", "noise", "snr_db", "delay", "crop_offsets")
# Noise made per clip, in parts (SceneInputs.noise_signal ...): "noise" then holds the diffuse parts.
NOISE_PART_KEYS = ("noise_signal", "noise_h", "noise_taps")


def take_crops_torch(audio: torch.Tensor, offsets: torch.Tensor, crop_samples: int) -> torch.Tensor:
    """(B, C, S) and (B, n) offsets -> (B * n, C, crop_samples), the same offsets for every channel."""
    b, c, s = audio.shape
    n = offsets.shape[1]
    index = offsets.to(torch.long)[:, :, None] + torch.arange(crop_samples, device=audio.device)  # (B, n, T)
    src = audio[:, None].expand(b, n, c, s)
    crops = torch.gather(src, -1, index[:, :, None, :].expand(b, n, c, crop_samples))
    return crops.reshape(b * n, c, crop_samples)


def instance_norm_torch(crops: torch.Tensor, eps: float = 1e-12) -> torch.Tensor:
    """Zero mean, unit variance per crop, jointly over (channels, time) (as crops.instance_norm)."""
    var, mean = torch.var_mean(crops, dim=(-2, -1), correction=0, keepdim=True)  # Welford: accurate in fp32
    return (crops - mean) * torch.rsqrt(var.double() + eps).float()


def crop_coverage(crop_offsets: torch.Tensor, crop_samples: int, clip_samples: int) -> torch.Tensor:
    """(B, n) crop offsets -> (B, S) float mask, 1 where a crop covers the sample: the SNR is measured
    there."""
    b = crop_offsets.shape[0]
    offsets = crop_offsets.to(torch.long)
    edges = torch.zeros(b, clip_samples + 1, device=offsets.device, dtype=torch.int32)
    ones = torch.ones_like(offsets, dtype=torch.int32)
    edges.scatter_add_(1, offsets, ones).scatter_add_(
        1, (offsets + crop_samples).clamp(max=clip_samples), -ones
    )
    return (edges.cumsum(dim=1)[:, :clip_samples] > 0).float()


def augment_torch(
    dry: torch.Tensor,
    is_clean: torch.Tensor,
    brir: torch.Tensor,
    noise: torch.Tensor,
    snr_db: torch.Tensor,
    delay: torch.Tensor,
    crop_offsets: torch.Tensor,
    *,
    channels: int = 2,
    crop_samples: int = 32160,
    eps: float = 1e-12,
    return_dry: bool = False,
    noise_parts: dict[str, torch.Tensor] | None = None,
) -> torch.Tensor | tuple[torch.Tensor, torch.Tensor]:
    """A batch of dry clips -> instance-normalised crops (B * n_crops, channels, crop_samples), float32;
    return_dry: also the dry reference's crops (B * n_crops, 1, crop_samples) (as augment.augment_clip).
    noise_parts (NOISE_PART_KEYS): the noise is made here from its parts, `noise` being the diffuse parts."""
    dry = dry.float()
    if noise_parts is not None:
        noise = scene_noise_torch(*(noise_parts[k] for k in NOISE_PART_KEYS), noise)
    b, s = dry.shape
    # The SNR over the samples the crops cover (as augment.augment_clip).
    covered = crop_coverage(crop_offsets, crop_samples, s)
    rendering = render_torch(dry, brir, noise, snr_db, delay, covered, dry_reference=return_dry)
    mix = rendering.audio  # (B, 2, S)
    clean = is_clean.to(torch.bool)[:, None, None]
    audio = torch.where(clean, dry[:, None, :].expand(b, 2, s), mix)
    if channels == 1:
        audio = audio.mean(dim=1, keepdim=True)  # (x + x) / 2 == x exactly for clean clips
    crops = instance_norm_torch(take_crops_torch(audio, crop_offsets, crop_samples), eps)
    if not return_dry:
        return crops
    reference = rendering.dry  # (B, 1, S): the source before room and noise, for clean and wet clips alike
    return crops, instance_norm_torch(take_crops_torch(reference, crop_offsets, crop_samples), eps)


def to_torch_batch(
    dry: np.ndarray, draws: ClipDraws, inputs: SceneInputs, mix=None
) -> dict[str, torch.Tensor]:
    """numpy clips + draws + scene inputs (+ one clip's data.mixtures.MixInputs) -> the dict of tensors
    that NaturalisticAugment consumes."""
    batch = {
        "dry": torch.from_numpy(np.ascontiguousarray(dry, np.float32)),
        "is_clean": torch.from_numpy(np.asarray(draws.is_clean, bool)),
        # np.require copies read-only views (of the mapped bank file) into arrays the tensors may own.
        "brir": torch.from_numpy(np.require(inputs.brir, np.float32, ["C", "W"])),
        "noise": torch.from_numpy(np.require(inputs.noise, None, ["C", "W"])).float(),  # stored int16: cast
        "snr_db": torch.from_numpy(np.asarray(draws.snr_db, np.float64)),
        "delay": torch.from_numpy(np.asarray(inputs.delay, np.int64)),
        "crop_offsets": torch.from_numpy(np.asarray(draws.crop_offsets, np.int64)),
    }
    if inputs.noise_signal is not None:
        batch["noise_signal"] = torch.from_numpy(np.ascontiguousarray(inputs.noise_signal, np.float32))
        batch["noise_h"] = torch.from_numpy(np.ascontiguousarray(inputs.noise_h, np.float32))
        batch["noise_taps"] = torch.from_numpy(np.asarray(inputs.noise_taps, np.int64))
    if mix is not None:
        batch["mix_dry"] = torch.from_numpy(np.asarray(mix.dry, np.float32))[None]
        batch["mix_brir"] = torch.from_numpy(np.asarray(mix.brir, np.float32))[None]
        batch["mix_on"] = torch.from_numpy(np.asarray(mix.on, bool))[None]
        batch["mix_tir_db"] = torch.from_numpy(np.asarray(mix.tir_db, np.float64))[None]
    return batch


def mixture_torch(
    batch: dict[str, torch.Tensor],
    *,
    channels: int,
    crop_samples: int,
    eps: float,
    views: str | None,
    return_dry: bool,
) -> dict[str, torch.Tensor]:
    """data/mixtures.py's mixture_crops for a batch, in torch, from the same draws and inputs: {"audio",
    ["dry_audio"], ["source_audio", "source_weight"]}."""
    dry = torch.cat([batch["dry"].float()[:, None], batch["mix_dry"].float()], dim=1)  # (B, K, S)
    brir = torch.cat([batch["brir"].float()[:, None], batch["mix_brir"].float()], dim=1)  # (B, K, 2, L)
    b, k, s = dry.shape
    on = torch.cat([torch.ones_like(batch["mix_on"][:, :1]), batch["mix_on"]], dim=1)  # (B, K)
    clean = batch["is_clean"].to(torch.bool)
    delay = torch.where(clean, torch.zeros_like(batch["delay"]), batch["delay"])
    offsets = batch["crop_offsets"]
    covered = crop_coverage(offsets, crop_samples, s)
    # Each source alone at the ears (dry on both ears for clean clips): the TIR gains come from these.
    alone = render_torch(
        dry.reshape(b * k, s), brir.reshape(b * k, 2, -1), None, None, delay.repeat_interleave(k)
    )
    parts = alone.audio.reshape(b, k, 2, s)
    parts = torch.where(clean[:, None, None, None], dry[:, :, None].expand(b, k, 2, s), parts)
    power = masked_power(parts.reshape(b * k, 2, s), covered.repeat_interleave(k, dim=0)).reshape(b, k)
    p0 = power[:, :1]
    tir = torch.cat([torch.zeros_like(batch["mix_tir_db"][:, :1]), batch["mix_tir_db"]], dim=1).double()
    ok = on & (p0 > SILENT_POWER) & (power > SILENT_POWER)
    gain = torch.where(ok, torch.sqrt(p0 / (power.clamp(min=SILENT_POWER) * 10.0 ** (tir / 10.0))), 0.0)
    gain[:, 0] = 1.0
    rendering = render_torch(
        dry, brir, batch["noise"], batch["snr_db"], delay, covered, gain=gain.float(), dry_reference=True
    )
    wet = parts * gain.float()[:, :, None, None]
    mixed = torch.where(clean[:, None, None], wet.sum(dim=1), rendering.audio)
    rest = mixed - wet.sum(dim=1)
    single = on.sum(dim=1) == 1
    each = torch.where(single[:, None, None, None], mixed[:, None].expand(b, k, 2, s), wet + rest[:, None])
    if channels == 1:
        mixed, each = mixed.mean(dim=1, keepdim=True), each.mean(dim=2, keepdim=True)
    out = {"audio": instance_norm_torch(take_crops_torch(mixed, offsets, crop_samples), eps)}
    reference = rendering.dry  # (B, K, S) each dry source times its gain (0 for unused slots)
    if return_dry:
        dry_mix = reference.sum(dim=1, keepdim=True)
        out["dry_audio"] = instance_norm_torch(take_crops_torch(dry_mix, offsets, crop_samples), eps)
    if views is not None:
        each = each if views == "same" else reference[:, :, None]
        n = offsets.shape[1]
        c = each.shape[2]
        crops = take_crops_torch(each.reshape(b, k * c, s), offsets, crop_samples)  # (B*n, K*c, T)
        crops = instance_norm_torch(crops.reshape(b * n * k, c, crop_samples), eps).reshape(b * n, k, c, -1)
        used = on[:, None, :].expand(b, n, k).reshape(b * n, k)
        out["source_audio"] = torch.where(used[:, :, None, None], crops, torch.zeros_like(crops))
        out["source_weight"] = used.float() / used.sum(dim=1, keepdim=True).float()
    return out


class NaturalisticAugment(nn.Module):
    """nn.Module wrapper: a dict batch (keys BATCH_KEYS) -> crops (B * n_crops, C, T), and with return_dry
    the dry reference's crops (B * n_crops, 1, T) beside them."""

    def __init__(self, cfg: AugmentConfig, return_dry: bool = False, mix=None):
        """mix: data.mixtures.MixConfig of polyphonic scenes (their batches give a dict, see
        mixture_torch)."""
        super().__init__()
        self.cfg, self.return_dry, self.mix = cfg, bool(return_dry), mix

    @torch.no_grad()
    def forward(
        self, batch: dict[str, torch.Tensor]
    ) -> torch.Tensor | tuple[torch.Tensor, torch.Tensor] | dict:
        if "mix_dry" in batch:
            views = (
                None
                if self.mix is None or self.mix.target == "mixture"
                else "dry"
                if self.return_dry
                else "same"
            )
            return mixture_torch(
                batch,
                channels=self.cfg.channels,
                crop_samples=self.cfg.crop_samples,
                eps=self.cfg.norm_eps,
                views=views,
                return_dry=self.return_dry,
            )
        return augment_torch(
            batch["dry"],
            batch["is_clean"],
            batch["brir"],
            batch["noise"],
            batch["snr_db"],
            batch["delay"],
            batch["crop_offsets"],
            channels=self.cfg.channels,
            crop_samples=self.cfg.crop_samples,
            eps=self.cfg.norm_eps,
            return_dry=self.return_dry,
            noise_parts={k: batch[k] for k in NOISE_PART_KEYS} if NOISE_PART_KEYS[0] in batch else None,
        )
