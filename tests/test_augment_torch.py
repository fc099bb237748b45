"""The batched torch augmentation gives the numpy path's crops for the same draws (fp32 allclose)."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from scipy.signal import fftconvolve
from test_augment import FS, FakeBank, synth_brir

from wavjepa_nat.data.augment import AugmentConfig, Augmenter, augment_batch
from wavjepa_nat.data.augment_torch import NaturalisticAugment, augment_torch, to_torch_batch
from wavjepa_nat.data.render.batch import convolve_torch

DEVICES = ["cpu"] + (["cuda"] if torch.cuda.is_available() else [])


def _batch(cfg, n=12, s=9000, seed=0):
    bank = FakeBank(n=6)
    rec = np.random.default_rng(1).standard_normal(5000).astype(np.float32)
    aug = Augmenter(bank, cfg, FS, noise_recordings=[rec])
    rng = np.random.default_rng(seed)
    dry = (rng.standard_normal((n, s)) * np.logspace(-5, 1, n)[:, None]).astype(np.float32)  # quiet to loud
    draws = aug.draw(rng, n, s)
    return dry, draws, aug.gather(draws, s)


@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize(
    "cfg",
    [
        AugmentConfig(clean_ratio=0.3, split=None, n_crops=3, crop_samples=3000),
        AugmentConfig(clean_ratio=0.3, split=None, n_crops=2, crop_samples=3000, channels=1),
        AugmentConfig(
            clean_ratio=0.2, split=None, n_crops=2, crop_samples=3000, noise="sources", noise_paths=("x",)
        ),
        AugmentConfig(split="train", n_crops=2, crop_samples=3000, compensate_direct_delay=False),
    ],
    ids=["binaural", "mono", "noise-sources", "no-delay"],
)
def test_torch_matches_numpy(cfg, device):
    dry, draws, inputs = _batch(cfg)
    assert 0 < draws.is_clean.sum() < len(draws) or cfg.clean_ratio == 0
    ref = augment_batch(dry, draws, inputs, cfg)
    batch = {k: v.to(device) for k, v in to_torch_batch(dry, draws, inputs).items()}
    out = NaturalisticAugment(cfg)(batch)
    assert out.shape == ref.shape == (len(dry) * cfg.n_crops, cfg.channels, cfg.crop_samples)
    assert out.dtype == torch.float32 and out.device.type == device
    np.testing.assert_allclose(out.cpu().numpy(), ref, atol=2e-4, rtol=1e-4)


def test_torch_convolution_and_delay_match_scipy():
    rng = np.random.default_rng(2)
    x = rng.standard_normal((3, 4000)).astype(np.float32)
    h = np.stack([synth_brir(rng, length=L) for L in (900, 900, 900)])
    delay = np.array([0, 55, 899])
    out = convolve_torch(torch.from_numpy(x), torch.from_numpy(h), torch.from_numpy(delay)).numpy()
    for b in range(3):
        full = fftconvolve(x[b][None].astype(np.float64), h[b].astype(np.float64), axes=-1)
        ref = np.pad(full, ((0, 0), (0, 4000)))[:, delay[b] : delay[b] + 4000]
        np.testing.assert_allclose(out[b], ref, atol=1e-4 * np.abs(ref).max())


def test_torch_snr_is_exact_for_quiet_and_loud_clips():
    rng = np.random.default_rng(3)
    s = 5000
    amps = np.array([1e-6, 1e-3, 1.0, 1e3])
    dry = (rng.standard_normal((4, s)) * amps[:, None]).astype(np.float32)
    brir = np.stack([synth_brir(rng) for _ in range(4)])
    noise = (rng.standard_normal((4, 2, s)) * np.array([1e-7, 1.0, 1e2, 1e-3])[:, None, None]).astype(
        np.float32
    )
    snr = np.array([5.0, 40.0, -3.0, 20.0])
    delay = np.array([20, 0, 10, 5])
    offsets = np.zeros((4, 1), np.int64)
    # One crop covering the whole clip; the instance normalisation is undone by the fit below.
    wet_mix = augment_torch(
        torch.from_numpy(dry),
        torch.zeros(4, dtype=torch.bool),
        torch.from_numpy(brir),
        torch.from_numpy(noise),
        torch.from_numpy(snr),
        torch.from_numpy(delay),
        torch.from_numpy(offsets),
        crop_samples=s,
    ).numpy()
    for b in range(4):
        full = fftconvolve(dry[b][None].astype(np.float64), brir[b].astype(np.float64), axes=-1)
        wet = np.pad(full, ((0, 0), (0, s)))[:, delay[b] : delay[b] + s]
        # crop = (wet + g * noise - mean) / std: an exact linear fit on [wet, noise, 1] recovers g.
        a = np.vstack([wet.ravel(), noise[b].astype(np.float64).ravel(), np.ones(wet.size)]).T
        coef, *_ = np.linalg.lstsq(a, wet_mix[b].astype(np.float64).ravel(), rcond=None)
        g = coef[1] / coef[0]
        achieved = 10 * np.log10(np.mean(wet**2) / np.mean((g * noise[b].astype(np.float64)) ** 2))
        assert achieved == pytest.approx(snr[b], abs=0.1)


def test_all_clean_and_all_silent_batches_are_finite():
    s = 4000
    dry = torch.zeros(2, s)
    dry[1] = torch.randn(s)
    out = augment_torch(
        dry,
        torch.tensor([True, False]),
        torch.zeros(2, 2, 1),
        torch.zeros(2, 2, s),
        torch.tensor([10.0, 10.0]),
        torch.zeros(2, dtype=torch.long),
        torch.tensor([[0], [100]]),
        crop_samples=1000,
    )
    assert torch.isfinite(out).all() and not out.any()
