"""Interaural cues per frame: the binaural encoder's explicit spatial path (ModelConfig.interaural).

Per conv frame t (the same grid: window = the conv stack's receptive field, hop = its total stride, so
frame t covers the samples the conv frame t sees), from the two ears' waveforms:

- GCC-PHAT over lags -max_lag..max_lag (1 ms each side at 16 kHz: +-16 samples): the inverse FFT of the
  phase-transformed cross-spectrum X_R conj(X_L) of the Hann-windowed frame (positive lag = the right ear
  lags = a source on the left);
- ILD per band: 10 log10 of the left over the right energy in `n_bands` mel bands (dB / 10).

interaural="gcc_ild": a linear map of these (2 * max_lag + 1 + n_bands values) to embed_dim is added to
both ears' tokens of the frame. interaural="gcc_ild_apart": the values themselves are appended to the
encoder's output frame, and the transformer never sees them: the tokens (so the JEPA targets and the
semantic part of the embedding) stay those of the reference's layout, and the cues have their own dims,
which a clean-trained probe cannot lean on (they are constant on a dry clip). Measured against each other
in benchmarks/layout_table.py (README, "Spatial hearing").

Why a cue path at all: the conv stacks see one ear each, at 10 ms frames, so no single filter compares the
ears, and a clip embedding (the mean over frames) cannot hold an interaural time difference (a phase
relation between the ears) linearly; the first GroupNorm per ear also divides out each ear's level (the
ILD). Measured in benchmarks/bench_spatial_stages.py.
"""

from __future__ import annotations

import math

import numpy as np
import torch
from torch import nn

from wavjepa_nat.dsp import mel_filterbank


def gcc_phat(
    left: torch.Tensor,
    right: torch.Tensor,
    max_lag: int,
    n: int,
    *,
    sum_dim: int | None = None,
    band: torch.Tensor | None = None,
    eps: float = 1e-8,
) -> torch.Tensor:
    """GCC-PHAT from the two ears' spectra (..., bins): values at lags -max_lag..max_lag (+ = the right ear
    lags = a source on the left) of the inverse FFT (length n; n beyond the frame upsamples) of the
    phase-transformed cross-spectrum X_R conj(X_L). sum_dim: sum the transformed cross-spectra over it first
    (one curve from many frames); band: a weight per bin. The encoder's interaural path and the GCC-PHAT + ILD
    baseline (robustness/models/gcc_ild.py) both use it."""
    cross = right * left.conj()
    phat = cross / cross.abs().clamp_min(eps)
    if sum_dim is not None:
        phat = phat.sum(dim=sum_dim)
    if band is not None:
        phat = phat * band
    cc = torch.fft.irfft(phat, n=n)  # lag k at index k mod n
    return torch.cat([cc[..., -max_lag:], cc[..., : max_lag + 1]], dim=-1)


class InterauralCues(nn.Module):
    """(B, 2, S) waveform -> (B, T, embed_dim): per-frame GCC-PHAT curve and per-band ILD, projected
    (embed_dim None: no projection, (B, T, n_features) as computed)."""

    def __init__(
        self,
        embed_dim: int | None,
        window: int,
        hop: int,
        fs: int,
        max_itd_ms: float = 1.0,
        n_bands: int = 16,
    ) -> None:
        super().__init__()
        self.window, self.hop = int(window), int(hop)
        self.n_fft = 2 ** math.ceil(math.log2(2 * self.window))  # zero-padded: no circular wrap of the lags
        self.max_lag = max(1, round(max_itd_ms * fs / 1000.0))
        fb = mel_filterbank(n_bands, self.n_fft, fs, 50.0, fs / 2.0)
        self.register_buffer("fbank", torch.from_numpy(np.ascontiguousarray(fb)), persistent=False)
        self.register_buffer("hann", torch.hann_window(self.window, periodic=False), persistent=False)
        self.n_features = 2 * self.max_lag + 1 + n_bands
        self.proj = nn.Linear(self.n_features, embed_dim) if embed_dim is not None else nn.Identity()

    def features(self, audio: torch.Tensor) -> torch.Tensor:
        """(B, 2, S) -> (B, T, n_features) float32, T = 1 + (S - window) // hop."""
        x = audio.float().unfold(-1, self.window, self.hop) * self.hann  # (B, 2, T, window)
        spec = torch.fft.rfft(x, n=self.n_fft)
        cc = gcc_phat(spec[:, 0], spec[:, 1], self.max_lag, self.n_fft)  # (B, T, 2 * max_lag + 1)
        power = spec.real**2 + spec.imag**2  # (B, 2, T, bins)
        band = torch.einsum("mf,bctf->bctm", self.fbank, power)
        floor = 1e-6 * band.mean(dim=(1, 2, 3), keepdim=True) + 1e-12  # silence: ILD -> 0, not noise
        ild = torch.log10((band[:, 0] + floor[:, 0]) / (band[:, 1] + floor[:, 0]))  # dB / 10
        return torch.cat([cc, ild], dim=-1)

    def forward(self, audio: torch.Tensor, n_frames: int) -> torch.Tensor:
        """(B, 2, S) -> (B, n_frames, embed_dim); frames beyond the conv stack's count are dropped."""
        return self.proj(self.features(audio)[:, :n_frames])
