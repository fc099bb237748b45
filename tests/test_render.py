"""data/render: the one renderer.

1. Behaviour kept: the inputs of tests/_render_bank.py rendered through the new code equal the renderings the
   old code paths made of them (frozen in tests/data/render_golden.npz by tests/data/make_render_golden.py,
   run once before the change), to float32 rounding: training (numpy and torch), `render`, every robustness
   condition and nat-hear.
2. The interface for what comes next, checked against scipy and linearity: several sources in one scene, and
   the dry reference beside the rendering; RT60-bin membership and pools.
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
import torch
from _render_bank import FS, ArrayBank, dry_clips, fingerprint, noise_recording
from scipy.signal import fftconvolve

from wavjepa_nat.data.augment import Augmenter, augment_batch, crop_spans
from wavjepa_nat.data.augment_torch import NaturalisticAugment, to_torch_batch
from wavjepa_nat.data.render import ScenePools, Source, in_rt60_bin, render, scenes_in
from wavjepa_nat.data.render.batch import render_torch
from wavjepa_nat.data.scene_clips import SceneClipConfig, render_scene_clips
from wavjepa_nat.robustness.degrade import degrade
from wavjepa_nat.robustness.tasks import nat_hear

sys.path.insert(0, str(Path(__file__).resolve().parent / "data"))
import make_render_golden as golden  # noqa: E402  the cases the golden data holds (its old-code runner unused)

GOLDEN = Path(__file__).resolve().parent / "data" / "render_golden.npz"


@pytest.fixture(scope="module")
def frozen():
    return np.load(GOLDEN)


@pytest.fixture(scope="module")
def inputs(frozen):
    bank, dry, rec = ArrayBank(), dry_clips(), noise_recording()
    assert fingerprint(bank, dry, rec) == str(frozen["fingerprint"]), "the golden inputs did not rebuild"
    return bank, dry, rec


def assert_float32_equal(got, want):
    """Equal to float32 rounding, relative to the signal's scale."""
    want = np.asarray(want)
    assert np.shape(got) == want.shape
    np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-6 * max(float(np.abs(want).max()), 1e-30))


# ---------------------------------------------------------------- 1. the old code paths' renderings


@pytest.mark.parametrize("k", range(len(golden.AUGMENT)), ids=[name for name, _ in golden.AUGMENT])
def test_training_renders_as_before(frozen, inputs, k):
    bank, dry, rec = inputs
    name, cfg = golden.AUGMENT[k]
    aug = Augmenter(bank, cfg, FS, noise_recordings=[rec])
    draws = aug.draw(np.random.default_rng(10 + k), len(dry), dry.shape[-1])
    scene_inputs = aug.gather(draws, dry.shape[-1])
    assert_float32_equal(augment_batch(dry, draws, scene_inputs, cfg), frozen[f"augment/{name}"])
    crops = NaturalisticAugment(cfg)(to_torch_batch(dry, draws, scene_inputs)).numpy()
    assert_float32_equal(crops, frozen[f"augment_torch/{name}"])


@pytest.mark.parametrize("name, cfg", golden.RENDER, ids=[name for name, _ in golden.RENDER])
def test_the_render_command_renders_as_before(frozen, inputs, tmp_path, name, cfg):
    bank, dry, rec = inputs
    if cfg.noise_files:
        sf.write(tmp_path / "rec.wav", rec, FS, subtype="FLOAT")
        cfg = SceneClipConfig(**{**cfg.__dict__, "noise_files": (str(tmp_path / "rec.wav"),)})
    clips = render_scene_clips(bank, dry[1], cfg)
    assert_float32_equal(np.stack([c.audio for c in clips]), frozen[f"render/{name}"])
    np.testing.assert_array_equal(
        [(c.scene, c.snr_db, c.delay) for c in clips], frozen[f"render/{name}/scene_snr_delay"]
    )


@pytest.mark.parametrize("case", golden.DEGRADE, ids=[c[0] for c in golden.DEGRADE])
def test_every_robustness_condition_renders_as_before(frozen, inputs, case):
    bank, dry, _ = inputs
    name, which, cond, spatial, stereo = case
    pools = golden.degrade_pools(bank)
    x = dry[:2] if not stereo else np.stack([dry[:2], dry[1:3] * 0.5], axis=1)
    audio, az, el = degrade(x, cond, pools[which], 7, "test", [3, 4], spatial=spatial, elevation=True)
    assert_float32_equal(audio, frozen[f"degrade/{name}"])
    np.testing.assert_array_equal(np.stack([az, el]), frozen[f"degrade/{name}/az_el"])


@pytest.mark.parametrize("case", golden.NAT_HEAR, ids=[c[0] for c in golden.NAT_HEAR])
def test_nat_hear_renders_each_clip_as_before(frozen, inputs, case):
    bank, dry, _ = inputs
    name, snr, rt60, seed = case
    cfg = nat_hear.NatHearConfig(snr=snr, rt60=rt60, seed=seed)
    pools = nat_hear.scene_pools(bank, cfg)
    wavs, draws = [], []
    for (split, file), clip in zip(golden.NAT_HEAR_CLIPS, dry):
        pool = pools["test" if split == "test" else "train"]
        scene, snr_db, noise_u = nat_hear.draw_clip(cfg, pool.scenes(cfg.rt60_bin), split, file)
        wav, limited = nat_hear.render_clip(clip, pool, scene, snr_db, noise_u)
        wavs.append(wav)
        draws.append((scene, np.nan if snr_db is None else snr_db, limited))
    assert_float32_equal(np.stack(wavs), frozen[f"nat_hear/{name}"])
    np.testing.assert_array_equal(np.array(draws, np.float64), frozen[f"nat_hear/{name}/scene_snr_limited"])


# ---------------------------------------------------------------- 2. several sources, the dry reference


def _brir(rng, length=700, direct=25, itd=4):
    h = rng.standard_normal((2, length)) * np.exp(-np.arange(length) / 150.0) * 0.1
    h[:, : direct + itd + 1] = 0.0
    h[0, direct] += 1.0
    h[1, direct + itd] += 0.7
    return h.astype(np.float32)


def _scipy_at_ears(clip, brir, delay, n):
    full = fftconvolve(clip[None].astype(np.float64), brir.astype(np.float64), axes=-1)
    return np.pad(full, ((0, 0), (0, n)))[:, delay : delay + n]


def test_sources_in_one_scene_sum_linearly_with_their_gains():
    """Before noise: render([a, b]) == ga * render([a]) + gb * render([b]) == the scipy sum, on spans too."""
    rng = np.random.default_rng(0)
    n, delay = 5000, 25
    a, b = rng.standard_normal((2, n)).astype(np.float32)
    ha, hb = _brir(rng), _brir(rng, direct=40, itd=-3 % 7)
    ga, gb = 0.5, -2.0
    both = render([(a, ha, ga), (b, hb, gb)], delay=delay).audio
    alone = ga * render([(a, ha)], delay=delay).audio + gb * render([(b, hb)], delay=delay).audio
    ref = ga * _scipy_at_ears(a, ha, delay, n) + gb * _scipy_at_ears(b, hb, delay, n)
    scale = np.abs(ref).max()
    np.testing.assert_allclose(both, alone, rtol=1e-5, atol=1e-6 * scale)
    np.testing.assert_allclose(both, ref, atol=1e-5 * scale)
    spans = crop_spans(np.array([100, 3000, 3500]), 1000)
    on_spans = render([Source(a, ha, ga), Source(b, hb, gb)], delay=delay, spans=spans).audio
    np.testing.assert_allclose(
        on_spans, np.concatenate([ref[:, x:y] for x, y in spans], axis=1), atol=1e-5 * scale
    )


def test_noise_is_set_against_the_sum_of_the_sources():
    rng = np.random.default_rng(1)
    n = 4000
    a, b = rng.standard_normal((2, n)).astype(np.float32)
    ha, hb = _brir(rng), _brir(rng)
    noise = rng.standard_normal((2, n + 500)).astype(np.float32) * 7.0
    out = render([(a, ha, 1.0), (b, hb, 0.3)], noise=noise, snr_db=6.0).audio
    clean = _scipy_at_ears(a, ha, 0, n) + 0.3 * _scipy_at_ears(b, hb, 0, n)
    snr = 10 * np.log10(np.mean(clean**2) / np.mean((out - clean) ** 2))
    assert snr == pytest.approx(6.0, abs=0.05)
    residual = (out - clean).ravel()
    assert abs(np.corrcoef(residual, noise[:, :n].ravel())[0, 1]) > 0.999  # the noise's own samples


def test_the_dry_reference_is_the_input_in_the_same_window():
    rng = np.random.default_rng(2)
    n = 6000
    a, b = rng.standard_normal((2, n)).astype(np.float32)
    stereo = np.stack([b, 0.5 * b])
    spans = crop_spans(np.array([4000, 200, 900]), 1500)
    got = render([(a, _brir(rng), 2.0), (stereo, _brir(rng))], delay=25, spans=spans, dry_reference=True)
    assert got.dry.shape == (2, got.audio.shape[-1]) == (2, sum(y - x for x, y in spans))
    window = np.concatenate([np.arange(x, y) for x, y in spans])
    np.testing.assert_array_equal(got.dry[0], 2.0 * a[window])
    np.testing.assert_allclose(
        got.dry[1], 0.75 * b[window], rtol=1e-6
    )  # a two-channel source: its ears' mean
    whole = render([(a, _brir(rng))], dry_reference=True)
    np.testing.assert_array_equal(whole.dry, a[None])
    assert render([(a, _brir(rng))]).dry is None


def test_a_source_without_a_brir_reaches_the_ears_as_it_is():
    rng = np.random.default_rng(3)
    a = rng.standard_normal(1000).astype(np.float32)
    np.testing.assert_array_equal(render([(a, None)]).audio, np.stack([a, a]))
    stereo = rng.standard_normal((2, 1000)).astype(np.float32)
    np.testing.assert_array_equal(render([(stereo, None)]).audio, stereo)


def test_render_refuses_what_it_cannot_render():
    a = np.zeros(100, np.float32)
    with pytest.raises(ValueError, match="at least one"):
        render([])
    with pytest.raises(ValueError, match="length"):
        render([(a, None), (np.zeros(50, np.float32), None)])
    with pytest.raises(ValueError, match="snr"):
        render([(a, None)], noise=np.zeros((2, 100), np.float32))


@pytest.mark.parametrize("gains", [None, [[1.0, 0.25], [-0.5, 2.0]]])
def test_torch_sources_sum_like_numpy(gains):
    """render_torch with K sources per clip == numpy render of the same sources, noise included."""
    rng = np.random.default_rng(4)
    b, k, n = 2, 2, 3000
    dry = rng.standard_normal((b, k, n)).astype(np.float32)
    brir = np.stack([np.stack([_brir(rng, direct=20 + 5 * j) for j in range(k)]) for _ in range(b)])
    noise = rng.standard_normal((b, 2, n)).astype(np.float32)
    snr, delay = np.array([3.0, 20.0]), np.array([20, 30])
    g = np.ones((b, k)) if gains is None else np.array(gains)
    got = render_torch(
        torch.from_numpy(dry),
        torch.from_numpy(brir),
        torch.from_numpy(noise),
        torch.from_numpy(snr),
        torch.from_numpy(delay),
        gain=None if gains is None else torch.tensor(gains),
        dry_reference=True,
    )
    for i in range(b):
        sources = [Source(dry[i, j], brir[i, j], float(g[i, j])) for j in range(k)]
        ref = render(sources, delay=int(delay[i]), noise=noise[i], snr_db=snr[i], dry_reference=True)
        scale = np.abs(ref.audio).max()
        np.testing.assert_allclose(got.audio[i].numpy(), ref.audio, atol=2e-5 * scale)
        np.testing.assert_allclose(got.dry[i].numpy(), ref.dry, rtol=1e-6)


# ---------------------------------------------------------------- 3. pools


def test_rt60_bins_are_half_open_but_the_last_holds_its_top():
    measured = np.array([0.2, 0.3, 0.5, 0.6])
    assert in_rt60_bin(measured, (0.2, 0.5)).tolist() == [True, True, False, False]
    assert in_rt60_bin(measured, (0.5, 0.6), last=True).tolist() == [False, False, True, True]


def test_pools_by_split_and_bin():
    bank = ArrayBank()
    split, t_mid = bank.meta["split"], bank.meta["t_mid"]
    assert scenes_in(bank, ("test",)).tolist() == [i for i in range(len(bank)) if split[i] == "test"]
    both = scenes_in(bank, ("train", "val"), rt60=(0.25, 0.6))
    assert both.tolist() == [i for i in range(len(bank)) if split[i] != "test" and 0.25 <= t_mid[i] < 0.6]
    pools = ScenePools(bank, [(0.2, 0.5), (0.5, 0.8)], ("train", "val"), strict=False)
    assert pools.scenes((0.5, 0.8)).tolist() == [4, 6]  # 0.6 and 0.8 s: the top bin holds 0.8
    assert pools.scenes().tolist() == [0, 2, 4, 6]
    assert pools.brir(3)[1] == round(bank.meta["direct_delay_s"][3] * FS)
