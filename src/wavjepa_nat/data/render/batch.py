"""The renderer's arithmetic batched in torch (GPU or CPU): render/mix.py's render for B clips at once, from
the same draws and scene inputs (fp32 allclose to the numpy path).

    render_torch(dry (B, S), brir (B, 2, L), noise (B, 2, S), snr_db (B,), delay (B,), measured (B, S))
        -> Rendering(audio (B, 2, S))

Several sources per clip: dry (B, K, S), brir (B, K, 2, L) and gain (B, K); the rendering is the gains'
sum of the sources at the ears, the SNR relative to that sum. Instead of spans, the SNR is measured over a
(B, S) 0/1 mask (training: the samples the crops cover); the whole clip is rendered.

scene_noise_torch: a clip's noise made per clip (render/noise.py's mix_parts) from the same parts, on the
device: with --augment-on gpu the workers only read the recording and draw the diffuse part.
"""

from __future__ import annotations

import torch

from wavjepa_nat.data.render.mix import Rendering
from wavjepa_nat.dsp import SILENT_POWER, fft_len


def convolve_torch(x: torch.Tensor, h: torch.Tensor, delay: torch.Tensor | None = None) -> torch.Tensor:
    """Linear convolution of x (B, S) with h (B, C, L); samples [delay_b, delay_b + S) of each result.

    The per-clip shift is a phase ramp in the frequency domain (a circular shift of a zero-padded linear
    convolution, exact for integer delays): no per-clip gather in the time domain.
    """
    _b, s = x.shape
    length = h.shape[-1]
    dmax = 0 if delay is None else max(int(delay.max()), 0)  # one host sync per batch
    nfft = fft_len(s + max(length - 1, dmax))
    X = torch.fft.rfft(x.float(), n=nfft)  # one rfft of the clip serves both ears
    if delay is not None:  # the shift goes on X (B, F), half the work of shifting Y (B, 2, F)
        k = torch.arange(nfft // 2 + 1, device=x.device, dtype=torch.long)
        # exact integers
        turns = torch.remainder(k[None] * delay.to(torch.long)[:, None], nfft).float() / nfft
        X = X * torch.polar(torch.ones_like(turns), (2 * torch.pi) * turns)
    return torch.fft.irfft(torch.fft.rfft(h.float(), n=nfft) * X[:, None], n=nfft)[..., :s]


def masked_power(x: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """(B, C, S) and a (B, S) 0/1 mask -> (B,) mean square over the masked samples of all channels, in
    float64."""
    energy = torch.linalg.vector_norm(x * mask[:, None], dim=(1, 2), dtype=torch.float64).square()
    return energy / (mask.sum(dim=1, dtype=torch.float64) * x.shape[1]).clamp(min=1.0)


def scene_noise_torch(
    signal: torch.Tensor, h: torch.Tensor, taps: torch.Tensor, diffuse: torch.Tensor
) -> torch.Tensor:
    """render/noise.py's mix_parts for B clips: (B, N) recording segments through (B, 2, L) summed noise
    BRIRs, each clip's 'valid' part (samples taps_b - 1 .. of the convolution; signals and BRIRs
    zero-padded to common lengths), set to unit power over both ears, plus the (B, 2, n) diffuse parts
    -> (B, 2, n). A clip with taps 0 (no noise sources) is its diffuse part alone."""
    n = diffuse.shape[-1]
    point = convolve_torch(signal, h, (taps - 1).clamp(min=0))[..., :n]
    ones = torch.ones(point.shape[0], n, device=point.device)
    power = masked_power(point, ones)
    scale = torch.where(power > SILENT_POWER, power.clamp(min=SILENT_POWER).rsqrt(), torch.zeros_like(power))
    return point * scale.float()[:, None, None] + diffuse.float()


def _sources_at_ears(dry: torch.Tensor, brir: torch.Tensor, delay, gain) -> torch.Tensor:
    """(B, K, S) sources through (B, K, 2, L) BRIRs, times (B, K) gains, summed -> (B, 2, S)."""
    b, k, s = dry.shape
    flat_delay = None if delay is None else delay.repeat_interleave(k)
    wet = convolve_torch(dry.reshape(b * k, s), brir.reshape(b * k, *brir.shape[2:]), flat_delay)
    wet = wet.reshape(b, k, -1, s)
    if gain is not None:
        wet = wet * gain.to(wet)[:, :, None, None]
    return wet.sum(dim=1)


def render_torch(
    dry: torch.Tensor,
    brir: torch.Tensor,
    noise: torch.Tensor | None,
    snr_db: torch.Tensor | None,
    delay: torch.Tensor | None = None,
    measured: torch.Tensor | None = None,
    gain: torch.Tensor | None = None,
    dry_reference: bool = False,
) -> Rendering:
    """Rendering(audio (B, 2, S) float32, dry (B, K, S) sources times gains when dry_reference) (see the
    module docstring). measured: the (B, S) samples the SNR is measured over (None: all)."""
    dry = dry.float()
    if dry.ndim == 2:
        wet = convolve_torch(dry, brir, delay)  # (B, 2, S)
    else:
        wet = _sources_at_ears(dry, brir, delay, gain)
    s = dry.shape[-1]
    audio = wet
    if noise is not None:
        noise = noise[..., :s].float()
        if measured is None:
            measured = torch.ones(dry.shape[0], s, device=dry.device)
        # Powers over both ears jointly and over the measured samples (as mix_at_snr), in float64: exact
        # SNRs for very quiet and very loud clips.
        p_sig = masked_power(wet, measured)
        p_noise = masked_power(noise, measured)
        ok = (p_sig > SILENT_POWER) & (p_noise > SILENT_POWER)
        p_noise = torch.where(ok, p_noise, torch.ones_like(p_noise))
        target = torch.where(ok, p_sig / 10.0 ** (snr_db.double() / 10.0), torch.zeros_like(p_sig))
        # Two float32 factors (to unit power, then to the target power): each fits float32 where the one
        # combined gain might not, and the noise is never copied to float64.
        unit, level = p_noise.rsqrt().float(), target.sqrt().float()
        audio = wet + (noise * unit[:, None, None]) * level[:, None, None]
    reference = None
    if dry_reference:
        sources = dry if dry.ndim == 3 else dry[:, None]
        reference = sources if gain is None else sources * gain.to(sources)[:, :, None]
    return Rendering(audio, reference)
