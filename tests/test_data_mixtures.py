"""Polyphonic scenes (data/mixtures.py, augment_torch.mixture_torch, WavJEPA.retention_targets) against
independent references: scipy convolution, the TIR measured from the parts, numpy == torch, and the retention
target as the mean of separately computed teacher targets."""

import numpy as np
import pytest
import torch
from scipy.signal import fftconvolve
from test_data_stream import CLIP, bank_clips

from wavjepa_nat.data.augment import AugmentConfig
from wavjepa_nat.data.augment_torch import NaturalisticAugment, mixture_torch
from wavjepa_nat.data.mixtures import (
    MixConfig,
    MixInputs,
    check_positions,
    draw_mixtures,
    mix_clip,
    mixture_crops,
)
from wavjepa_nat.data.stream import TrainingBatches, crops_on_device
from wavjepa_nat.errors import InputError

S, L = 6000, 400


def _scene(seed=0, e=2, on=(True, True)):
    rng = np.random.default_rng(seed)
    dry = rng.standard_normal(S).astype(np.float32)
    brir = (rng.standard_normal((2, L)) * np.exp(-np.arange(L) / 60)).astype(np.float32)
    mix = MixInputs(
        dry=(rng.standard_normal((e, S)) * np.array([[0.3], [2.0]])[:e]).astype(np.float32),
        brir=(rng.standard_normal((e, 2, L)) * np.exp(-np.arange(L) / 80)).astype(np.float32),
        taps=np.full(e, L, np.int64),
        on=np.array(on, bool),
        tir_db=np.array([3.0, 9.5])[:e],
    )
    noise = rng.standard_normal((2, S)).astype(np.float32)
    return dry, brir, mix, noise


def test_the_mixture_is_each_source_through_its_own_brir_at_the_drawn_tir():
    dry, brir, mix, _ = _scene()
    delay = 37
    spans = np.array([[0, S]])
    out = mix_clip(dry, brir, L, mix, delay=delay, noise=None, snr_db=None, spans=spans)
    wet = [
        np.stack(
            [fftconvolve(x.astype(np.float64), h[c].astype(np.float64))[delay : delay + S] for c in (0, 1)]
        )
        for x, h in [(dry, brir), (mix.dry[0], mix.brir[0]), (mix.dry[1], mix.brir[1])]
    ]
    powers = [np.mean(w**2) for w in wet]
    gains = [1.0] + [np.sqrt(powers[0] / (powers[k] * 10 ** (mix.tir_db[k - 1] / 10))) for k in (1, 2)]
    expected = sum(g * w for g, w in zip(gains, wet))
    np.testing.assert_allclose(out.audio, expected, atol=2e-4 * np.abs(expected).max())
    for k in (1, 2):  # the TIR measured from the rendered parts
        tir = 10 * np.log10(np.mean(out.alone[0] ** 2) / np.mean(out.alone[k] ** 2))
        assert tir == pytest.approx(mix.tir_db[k - 1], abs=1e-3)
    np.testing.assert_allclose(out.alone.sum(axis=0), out.audio, atol=1e-4 * np.abs(expected).max())


def test_noise_comes_at_the_snr_of_the_mixture_and_each_source_alone_keeps_it():
    dry, brir, mix, noise = _scene(1)
    spans = np.array([[100, 2100], [3000, 5500]])
    out = mix_clip(dry, brir, L, mix, delay=0, noise=noise, snr_db=10.0, spans=spans)
    sources = mix_clip(dry, brir, L, mix, delay=0, noise=None, snr_db=None, spans=spans).audio
    rest = out.audio - sources
    assert 10 * np.log10(
        np.mean(sources.astype(np.float64) ** 2) / np.mean(rest.astype(np.float64) ** 2)
    ) == (pytest.approx(10.0, abs=1e-3))
    main_only = MixInputs(mix.dry, mix.brir, mix.taps, np.zeros(2, bool), mix.tir_db)
    main = mix_clip(dry, brir, L, main_only, delay=0, noise=None, snr_db=None, spans=spans).audio
    np.testing.assert_allclose(out.alone[0] - rest, main, atol=1e-4)  # the main source alone + the same noise


def test_a_clean_clip_mixes_the_dry_clips_at_the_tirs():
    dry, _, mix, _ = _scene(2, on=(True, False))
    out = mix_clip(dry, None, None, mix, delay=0, noise=None, snr_db=None, spans=np.array([[0, S]]))
    g = np.sqrt(
        np.mean(dry.astype(np.float64) ** 2) / (np.mean(mix.dry[0].astype(np.float64) ** 2) * 10**0.3)
    )
    np.testing.assert_allclose(out.audio[0], dry + g * mix.dry[0], atol=1e-5)
    assert out.alone.shape[0] == 2


@pytest.mark.parametrize("clean", [False, True])
@pytest.mark.parametrize("channels", [1, 2])
@pytest.mark.parametrize("views", [None, "same", "dry"])
def test_numpy_and_torch_give_the_same_mixture_crops(clean, channels, views):
    cfg = AugmentConfig(n_crops=3, crop_samples=1500, channels=channels)
    dry, brir, mix, noise = _scene(3)
    offsets = np.array([200, 1000, 4100])
    np_out = mixture_crops(dry, clean, brir, noise, 12.0, 21, offsets, cfg, L, mix, views, True)
    batch = {
        "dry": torch.from_numpy(dry)[None],
        "is_clean": torch.tensor([clean]),
        "brir": torch.from_numpy(brir)[None],
        "noise": torch.from_numpy(noise)[None],
        "snr_db": torch.tensor([12.0], dtype=torch.float64),
        "delay": torch.tensor([21]),
        "crop_offsets": torch.from_numpy(offsets)[None],
        "mix_dry": torch.from_numpy(mix.dry)[None],
        "mix_brir": torch.from_numpy(mix.brir)[None],
        "mix_on": torch.from_numpy(mix.on)[None],
        "mix_tir_db": torch.from_numpy(mix.tir_db)[None],
    }
    t_out = mixture_torch(
        batch, channels=channels, crop_samples=1500, eps=cfg.norm_eps, views=views, return_dry=True
    )
    torch.testing.assert_close(t_out["audio"], torch.from_numpy(np_out[0]), atol=2e-4, rtol=1e-4)
    torch.testing.assert_close(t_out["dry_audio"], torch.from_numpy(np_out[1]), atol=2e-4, rtol=1e-4)
    if views is not None:
        torch.testing.assert_close(t_out["source_audio"], torch.from_numpy(np_out[2]), atol=2e-4, rtol=1e-4)
        assert torch.allclose(t_out["source_weight"], torch.full((3, 3), 1 / 3))


def test_draws_do_not_depend_on_outcomes_and_p0_mixes_nothing():
    cfg = MixConfig(prob=0.0)
    draws = draw_mixtures(np.random.default_rng(0), 100, cfg)
    assert not draws.is_mix.any()
    other = draw_mixtures(np.random.default_rng(0), 100, MixConfig(prob=0.5))
    np.testing.assert_array_equal(draws.tir_db, other.tir_db)
    assert 30 < other.is_mix.sum() < 70 and set(other.n_sources) == {2, 3}


class _Bank:
    def __init__(self, counts):
        self.counts = counts

    def noise_brirs(self, i):
        return np.zeros((self.counts[i], 2, 8), np.float32)


def test_banks_without_the_positions_are_refused():
    with pytest.raises(InputError, match="no noise-source positions"):
        check_positions(_Bank([0, 0]), np.array([0, 1]), MixConfig(prob=0.5), 0.0)
    with pytest.raises(InputError, match="at most 1"):
        check_positions(_Bank([0, 1]), np.array([0, 1]), MixConfig(prob=0.5, sources=(2, 3)), 0.0)
    check_positions(_Bank([0, 2]), np.array([0, 1]), MixConfig(prob=0.5, sources=(2, 3)), 0.0)


def test_retention_target_is_the_mean_of_each_sources_teacher_targets():
    from wavjepa_nat.nat_model.config import get_preset
    from wavjepa_nat.nat_model.jepa import WavJEPA

    torch.manual_seed(0)
    model = WavJEPA(get_preset("tiny", channels=2)).eval()
    t = model.config.crop_samples
    sources = torch.randn(3, 3, 2, t)
    weight = torch.tensor([[1 / 3, 1 / 3, 1 / 3], [0.5, 0.5, 0.0], [1.0, 0.0, 0.0]])
    got, _ = model.retention_targets(sources, weight, 2)
    for b, k in ((0, 3), (1, 2), (2, 1)):
        each = [model.targets(sources[b, j][None])[0][0] for j in range(k)]
        torch.testing.assert_close(got[b], torch.stack(each).mean(0), atol=1e-5, rtol=1e-5)


def test_mixture_batches_are_step_indexed_and_the_same_on_both_paths(ten_scene_bank, tmp_path):
    source = bank_clips(tmp_path, 6)
    cfg = AugmentConfig(clean_ratio=0.25, n_crops=2, crop_samples=4000, seed=5)
    mix = MixConfig(prob=0.9, sources=(2, 3))
    cpu = TrainingBatches(source, ten_scene_bank, CLIP, cfg, 3, mix=mix)
    again = TrainingBatches(source, ten_scene_bank, CLIP, cfg, 3, start_step=4, mix=mix)
    gpu = TrainingBatches(source, ten_scene_bank, CLIP, cfg, 3, augment_on="gpu", mix=mix)
    first, resumed = cpu.batch_at(4), again.batch_at(4)
    for key in ("audio", "source_audio", "source_weight"):
        torch.testing.assert_close(first[key], resumed[key], rtol=0, atol=0)
    on_device = crops_on_device(gpu.batch_at(4), NaturalisticAugment(cfg, mix=mix))
    for key in ("audio", "source_audio", "source_weight"):
        torch.testing.assert_close(on_device[key], first[key], atol=2e-4, rtol=1e-4)
    assert (first["source_weight"] > 0).sum(1).max() > 1  # some clips are mixtures
    plain = TrainingBatches(source, ten_scene_bank, CLIP, cfg, 3).batch_at(4)
    assert "source_audio" not in plain and plain["audio"].shape == first["audio"].shape
