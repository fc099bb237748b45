"""Naturalistic augmentation (numpy path): checked against scipy, signal-processing identities and
statistics."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from scipy.signal import correlate, fftconvolve

from wavjepa_nat.data.augment import (
    AugmentConfig,
    Augmenter,
    augment_batch,
    augment_clip,
    crop_spans,
    draw_clip_params,
    gather_scenes,
)
from wavjepa_nat.data.crops import take_crops
from wavjepa_nat.data.render import render
from wavjepa_nat.dsp import convolve, convolve_spans, instance_norm, loop_segment, mix_at_snr
from wavjepa_nat.errors import InputError
from wavjepa_nat.rir_bank import RIRBank

FS = 16000


def synth_brir(rng, length=1200, direct=40, itd=8, ild=0.6, decay=300.0):
    """Exponentially decaying noise tail + a direct impulse at `direct` (left) and `direct + itd` (right)."""
    t = np.arange(length)
    tail = rng.standard_normal((2, length)) * np.exp(-t / decay) * 0.05
    tail[:, : direct + itd + 1] = 0.0
    h = tail
    h[0, direct] += 1.0
    h[1, direct + itd] += ild
    return h.astype(np.float32)


class Scene:
    def __init__(self, brir, noise_brirs, noise_bed, meta):
        self.brir, self.noise_brirs, self.noise_bed, self.meta = brir, noise_brirs, noise_bed, meta


class FakeBank:
    """Duck-typed stand-in for rir_bank.RIRBank, with synthetic scenes (deterministic from a seed)."""

    def __init__(self, n=6, fs=FS, length=1200, bed=24000, seed=0, splits=("train", "val")):
        rng = np.random.default_rng(seed)
        self.fs = fs
        self.scenes = []
        for i in range(n):
            direct = 20 + 15 * i
            brir = synth_brir(rng, length, direct=direct, itd=(i % 3) * 4)
            noise_brirs = np.stack([synth_brir(rng, length, direct=30 + 7 * k) for k in range(3)])
            noise_bed = rng.standard_normal((2, bed)).astype(np.float32)
            noise_bed /= np.sqrt(np.mean(noise_bed**2))
            meta = {
                "direct_delay_s": direct / fs,
                "split": splits[i % len(splits)],
                "rt60_measured": 0.2 + 0.1 * i,
                "azimuth_deg": 10.0 * i,
                "distance_m": 1.0 + i,
            }
            self.scenes.append(Scene(brir, noise_brirs, noise_bed, meta))

        self.brir_length = length
        self.noise_bed_length = bed

    def __len__(self):
        return len(self.scenes)

    def __getitem__(self, i):
        return self.scenes[i]

    def scene_meta(self, i):
        return dict(self.scenes[i].meta)

    def brirs(self, indices):
        return np.stack([self.scenes[int(i)].brir for i in indices])

    def brir_head(self, i, n):
        return self.scenes[int(i)].brir[:, :n]

    def noise_bed(self, i):
        return self.scenes[int(i)].noise_bed

    noise_bed_samples = noise_bed

    def noise_brirs(self, i):
        return self.scenes[int(i)].noise_brirs

    def select(self, split=None, rt60=None):
        keep = [
            i
            for i, s in enumerate(self.scenes)
            if (split is None or s.meta["split"] == split)
            and (rt60 is None or rt60[0] <= s.meta["rt60_measured"] <= rt60[1])
        ]
        return np.array(keep, dtype=np.int64)


def power(x):
    x = np.asarray(x, np.float64)
    return float(np.mean(x * x))


# ---------------------------------------------------------------- convolution


@pytest.mark.parametrize("length", [1, 257, 3000])
def test_convolution_matches_scipy(length):
    rng = np.random.default_rng(1)
    x = rng.standard_normal(5000).astype(np.float32)
    h = rng.standard_normal((2, length)).astype(np.float32)
    ref = fftconvolve(x[None].astype(np.float64), h.astype(np.float64), axes=-1)[:, :5000]
    np.testing.assert_allclose(convolve(x, h), ref, rtol=1e-4, atol=1e-4 * np.abs(ref).max())
    # A shifted window of the same full convolution.
    ref_full = fftconvolve(x[None].astype(np.float64), h.astype(np.float64), axes=-1)
    d = min(37, ref_full.shape[-1] - 1)
    ref_d = np.pad(ref_full, ((0, 0), (0, 5000)))[:, d : d + 5000]
    np.testing.assert_allclose(convolve(x, h, d), ref_d, rtol=1e-4, atol=1e-4 * np.abs(ref).max())


@pytest.mark.parametrize("length, delay", [(1, 0), (300, 17), (2500, 0), (2500, 2600)])
def test_convolution_on_spans_equals_the_full_convolution(length, delay):
    """Only the crop spans are computed, and they hold exactly the full convolution's samples (vs scipy)."""
    rng = np.random.default_rng(2)
    s = 9000
    x = rng.standard_normal(s).astype(np.float32)
    h = synth_brir(rng, length=max(length, 1), direct=0, itd=0, decay=max(length, 1) / 3)
    spans = crop_spans(np.array([4000, 50, 1200, 8000, 3000]), 1000)
    assert spans.tolist() == [[50, 1050], [1200, 2200], [3000, 5000], [8000, 9000]]
    full = np.pad(
        fftconvolve(x[None].astype(np.float64), h.astype(np.float64), axes=-1), ((0, 0), (0, s + delay))
    )
    ref = np.concatenate([full[:, delay + a : delay + b] for a, b in spans], axis=1)
    out = convolve_spans(x, h, spans, delay)
    assert out.shape == (2, 5000) and out.dtype == np.float32
    np.testing.assert_allclose(out, ref, rtol=1e-4, atol=1e-5 * np.abs(ref).max())


@pytest.mark.parametrize("seed", range(6))
def test_convolution_on_random_spans_equals_the_full_convolution(seed):
    """Overlap-save blocks shared across short gaps, SIMD-padded row batches, mono or stereo filters and
    delays up to past the clip's end: always the full convolution's samples (vs scipy, float64)."""
    rng = np.random.default_rng(seed)
    s = int(rng.integers(3000, 20000))
    x = rng.standard_normal(s).astype(np.float32)
    length = int(rng.choice([1, 40, 700, 2500, 6000]))
    h = synth_brir(rng, length=max(length, 40), direct=5, itd=3, decay=length / 3 + 1)[:, :length]
    if seed % 3 == 2:
        h = h[0]  # a mono filter
    crop = int(rng.integers(50, s // 2))
    spans = crop_spans(rng.integers(0, s - crop + 1, size=int(rng.integers(1, 12))), crop)
    delay = int(rng.choice([0, 17, length, s + 5]))
    h2 = np.atleast_2d(h).astype(np.float64)
    full = np.pad(fftconvolve(x[None].astype(np.float64), h2, axes=-1), ((0, 0), (0, s + delay)))
    ref = np.concatenate([full[:, delay + a : delay + b] for a, b in spans], axis=1)
    out = convolve_spans(x, h, spans, delay)
    assert out.shape == (ref.shape if h.ndim == 2 else ref.shape[1:]) and out.dtype == np.float32
    np.testing.assert_allclose(np.atleast_2d(out), ref, rtol=1e-4, atol=1e-5 * max(np.abs(ref).max(), 1e-30))


# ---------------------------------------------------------------- SNR


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    log_amp=st.floats(-6.0, 3.0),
    snr=st.floats(-10.0, 50.0),
    seed=st.integers(0, 10_000),
    delay=st.integers(0, 60),
    length=st.sampled_from([64, 500, 1500]),
    noise_amp=st.floats(-8.0, 4.0),
)
def test_snr_is_exact(log_amp, snr, seed, delay, length, noise_amp):
    """SNR measured against an independent reverberant reference (scipy, float64) equals the SNR asked."""
    rng = np.random.default_rng(seed)
    s = 4000
    dry = (rng.standard_normal(s) * 10.0**log_amp).astype(np.float32)
    brir = synth_brir(rng, length=length, direct=min(20, length - 10), itd=3, decay=length / 4)
    noise = (rng.standard_normal((2, s)) * 10.0**noise_amp).astype(np.float32)
    out = render([(dry, brir)], delay=delay, noise=noise, snr_db=snr).audio
    assert out.dtype == np.float32 and out.shape == (2, s) and np.isfinite(out).all()
    full = fftconvolve(dry[None].astype(np.float64), brir.astype(np.float64), axes=-1)
    wet_ref = np.pad(full, ((0, 0), (0, s)))[:, delay : delay + s]
    achieved = 10 * np.log10(power(wet_ref) / power(out.astype(np.float64) - wet_ref))
    assert abs(achieved - snr) < 0.1


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(snr=st.floats(-10.0, 50.0), seed=st.integers(0, 10_000), log_amp=st.floats(-5.0, 3.0))
def test_training_snr_is_exact_over_the_crops(snr, seed, log_amp):
    """augment_clip measures the SNR over the samples its crops cover (scipy float64 reference)."""
    rng = np.random.default_rng(seed)
    s, crop, delay = 12000, 1500, 25
    # louder late
    dry = (rng.standard_normal(s) * np.linspace(0.1, 3.0, s) * 10.0**log_amp).astype(np.float32)
    brir = synth_brir(rng, length=900, direct=20, itd=3, decay=200)
    noise = rng.standard_normal((2, s)).astype(np.float32)
    offsets = rng.integers(0, s - crop + 1, size=4)
    crops = augment_clip(
        dry, False, brir, noise, snr, delay, offsets, AugmentConfig(n_crops=4, crop_samples=crop)
    )
    full = np.pad(
        fftconvolve(dry[None].astype(np.float64), brir.astype(np.float64), axes=-1), ((0, 0), (0, s))
    )
    wet = full[:, delay : delay + s]
    covered = np.zeros(s, bool)
    for o in offsets:
        covered[o : o + crop] = True
    # Each crop is (wet + g noise - mean) / std: an exact linear fit on [wet, noise, 1] recovers g.
    gains = []
    for k, o in enumerate(offsets):
        a = np.vstack(
            [
                wet[:, o : o + crop].ravel(),
                noise[:, o : o + crop].astype(np.float64).ravel(),
                np.ones(2 * crop),
            ]
        ).T
        coef, *_ = np.linalg.lstsq(a, crops[k].astype(np.float64).ravel(), rcond=None)
        gains.append(coef[1] / coef[0])
    g = np.median(gains)
    achieved = 10 * np.log10(power(wet[:, covered]) / (g * g * power(noise[:, covered])))
    assert achieved == pytest.approx(snr, abs=0.1)


def test_noise_sources_mode_sums_every_noise_source():
    """noise="sources": one recording through every noise BRIR of the scene, summed (vs scipy, per source)."""
    bank = FakeBank(n=2, length=800)
    s = 6000
    rec = np.random.default_rng(3).standard_normal(s).astype(np.float32)
    cfg = AugmentConfig(
        split=None, noise="sources", noise_paths=("unused.wav",), n_crops=1, crop_samples=1000
    )
    aug = Augmenter(bank, cfg, FS, noise_recordings=[rec])
    draws = aug.draw(np.random.default_rng(4), 1, s)
    inputs = aug.gather(draws, s)
    noise_brirs = bank.noise_brirs(int(draws.scene[0])).astype(np.float64)
    # The recording is exactly one clip long, so its segment is all of it.
    ref = sum(fftconvolve(rec[None].astype(np.float64), h, axes=-1)[:, :s] for h in noise_brirs)
    np.testing.assert_allclose(inputs.noise[0], ref, atol=1e-4 * np.abs(ref).max())
    # SNR still exact for this binaural noise.
    dry = np.random.default_rng(5).standard_normal(s).astype(np.float32)
    out = render([(dry, inputs.brir[0])], noise=inputs.noise[0], snr_db=12.0).audio
    wet_ref = fftconvolve(dry[None].astype(np.float64), inputs.brir[0].astype(np.float64), axes=-1)[:, :s]
    assert 10 * np.log10(power(wet_ref) / power(out - wet_ref)) == pytest.approx(12.0, abs=0.1)


def test_scene_without_noise_sources_falls_back_to_its_noise_bed():
    bank = FakeBank(n=2)
    for scene in bank.scenes:
        scene.noise_brirs = scene.noise_brirs[:0]
    cfg = AugmentConfig(
        split=None, noise="sources", noise_paths=("unused.wav",), n_crops=1, crop_samples=1000
    )
    aug = Augmenter(bank, cfg, FS, noise_recordings=[np.ones(100, np.float32)])
    draws = aug.draw(np.random.default_rng(6), 1, 5000)
    inputs = aug.gather(draws, 5000)
    np.testing.assert_array_equal(
        inputs.noise[0], loop_segment(bank.scenes[int(draws.scene[0])].noise_bed, draws.noise_u[0], 5000)
    )


def test_silent_signal_or_noise_gives_no_nan():
    rng = np.random.default_rng(4)
    wet = rng.standard_normal((2, 1000)).astype(np.float32)
    zeros = np.zeros((2, 1000), np.float32)
    np.testing.assert_array_equal(mix_at_snr(wet, zeros, 10.0), wet)  # no noise to add
    np.testing.assert_array_equal(mix_at_snr(zeros, wet, 10.0), zeros)  # nothing to be relative to
    cfg = AugmentConfig(n_crops=3, crop_samples=400)
    offsets = np.array([0, 100, 600])
    crops = augment_clip(np.zeros(1000, np.float32), False, synth_brir(rng), wet, 10.0, 5, offsets, cfg)
    assert np.isfinite(crops).all() and not crops.any()


# ---------------------------------------------------------------- per-clip clean decisions


@pytest.mark.parametrize("ratio", [0.0, 0.25, 0.5, 1.0])
def test_clean_fraction_matches_ratio(ratio):
    n = 20000
    cfg = AugmentConfig(clean_ratio=ratio, n_crops=2, crop_samples=100)
    draws = draw_clip_params(np.random.default_rng(5), n, cfg, np.arange(4), 1000)
    frac = draws.is_clean.mean()
    sigma = np.sqrt(ratio * (1 - ratio) / n)
    assert abs(frac - ratio) <= 5 * sigma + 1e-12
    assert np.all(draws.scene[draws.is_clean] == -1) and np.all(draws.scene[~draws.is_clean] >= 0)
    if 0 < ratio < 1:
        # Decided per clip: batches of 16 are mixtures, not all-dry / all-wet as in the reference.
        per_batch = draws.is_clean[: n // 16 * 16].reshape(-1, 16).mean(axis=1)
        assert np.mean((per_batch > 0) & (per_batch < 1)) > 0.5


def test_clean_clips_are_dry_on_both_ears_and_wet_ones_are_not():
    bank = FakeBank()
    cfg = AugmentConfig(clean_ratio=0.5, n_crops=2, crop_samples=2000, split=None)
    aug = Augmenter(bank, cfg, FS)
    rng = np.random.default_rng(6)
    s = 8000
    dry = rng.standard_normal((40, s)).astype(np.float32)
    draws = aug.draw(rng, 40, s)
    crops = augment_batch(dry, draws, aug.gather(draws, s), cfg).reshape(40, 2, 2, 2000)
    for i in range(40):
        same = np.array_equal(crops[i, :, 0], crops[i, :, 1])
        assert same == bool(draws.is_clean[i])
        if draws.is_clean[i]:
            ref = instance_norm(take_crops(np.stack([dry[i], dry[i]]), draws.crop_offsets[i], 2000))
            np.testing.assert_allclose(crops[i], ref, atol=1e-5)


# ---------------------------------------------------------------- crops and normalisation


def test_crops_share_offsets_across_ears():
    x = np.stack([np.arange(1000), -np.arange(1000)]).astype(np.float32)
    crops = take_crops(x, np.array([0, 17, 900]), 100)
    assert crops.shape == (3, 2, 100)
    np.testing.assert_array_equal(crops[1, 0], np.arange(17, 117))
    np.testing.assert_array_equal(crops[1, 1], -np.arange(17, 117))


def test_instance_norm_keeps_itd_and_ild():
    rng = np.random.default_rng(7)
    itd, ild = 7, 0.4
    src = rng.standard_normal(20000)
    left = src[100:10100]
    right = ild * src[100 - itd : 10100 - itd]  # right ear lags by itd samples
    x = (np.stack([left, right]) * 3e-4 + 1e-3).astype(np.float32)  # quiet, with a DC offset
    (crop,) = instance_norm(take_crops(x, np.array([1234]), 4000))
    assert abs(crop.mean()) < 1e-5 and crop.var() == pytest.approx(1.0, abs=1e-3)
    lags = np.arange(-3999, 4000)
    assert lags[np.argmax(correlate(crop[1], crop[0]))] == itd
    raw = x[:, 1234:5234] - x[:, 1234:5234].mean()
    ratio_raw = np.sqrt(power(raw[1]) / power(raw[0]))
    assert np.sqrt(power(crop[1]) / power(crop[0])) == pytest.approx(ratio_raw, rel=1e-3)


def test_mono_mode_averages_the_ears():
    rng = np.random.default_rng(8)
    s = 6000
    dry = rng.standard_normal(s).astype(np.float32)
    brir = synth_brir(rng)
    noise = rng.standard_normal((2, s)).astype(np.float32)
    # the crops cover the clip: the SNR is measured over all of it, as render() does without spans
    offsets = np.array([0, 3000])
    mono = augment_clip(
        dry, False, brir, noise, 15.0, 40, offsets, AugmentConfig(channels=1, crop_samples=3000)
    )
    ref = instance_norm(
        take_crops(
            render([(dry, brir)], delay=40, noise=noise, snr_db=15.0).audio.mean(0, keepdims=True),
            offsets,
            3000,
        )
    )
    assert mono.shape == (2, 1, 3000)
    np.testing.assert_allclose(mono, ref, atol=1e-5)
    clean = augment_clip(
        dry, True, brir, noise, 15.0, 0, offsets, AugmentConfig(channels=1, crop_samples=3000)
    )
    np.testing.assert_allclose(clean, instance_norm(take_crops(dry[None], offsets, 3000)), atol=1e-6)


# ---------------------------------------------------------------- direct-path delay


@pytest.mark.parametrize("compensate", [True, False])
def test_direct_delay_compensation_aligns_wet_with_dry(compensate):
    bank = FakeBank(n=4)
    cfg = AugmentConfig(
        split=None, compensate_direct_delay=compensate, n_crops=1, crop_samples=4000, snr_db=(40.0, 40.0)
    )
    aug = Augmenter(bank, cfg, FS)
    rng = np.random.default_rng(9)
    s = 8000
    dry = rng.standard_normal(s).astype(np.float32)
    for scene in range(4):
        draws = aug.draw(rng, 1, s)
        draws.scene[:] = scene
        draws.crop_offsets[:] = 2000
        inputs = aug.gather(draws, s)
        (crop,) = augment_batch(dry[None], draws, inputs, cfg)
        delay = round(bank[scene].meta["direct_delay_s"] * FS)
        assert inputs.delay[0] == (delay if compensate else 0)
        lags = np.arange(-3999, 4000)
        lag = lags[np.argmax(correlate(crop[0], dry[2000:6000]))]  # left ear: the direct impulse at `delay`
        assert lag == (0 if compensate else delay)


# ---------------------------------------------------------------- scenes, noise, validation


def test_noise_segment_loops_short_beds():
    bed = np.arange(10, dtype=np.float32)[None].repeat(2, 0)
    seg = loop_segment(bed, 0.75, 25)
    np.testing.assert_array_equal(seg[0], (7 + np.arange(25)) % 10)
    long = np.arange(100, dtype=np.float32)
    assert loop_segment(long, 0.999, 30).tolist() == list(range(70, 100))


def test_gather_reads_the_drawn_scene():
    bank = FakeBank(n=4)
    cfg = AugmentConfig(split="train", n_crops=1, crop_samples=1000)
    aug = Augmenter(bank, cfg, FS)
    draws = aug.draw(np.random.default_rng(10), 50, 30000)
    assert set(draws.scene.tolist()) <= set(bank.select("train").tolist())
    inputs = gather_scenes(bank, draws, 30000, cfg)
    i = 3
    np.testing.assert_array_equal(inputs.brir[i], bank[int(draws.scene[i])].brir)
    assert inputs.noise.shape == (50, 2, 30000)


def test_brirs_end_at_their_minus_80_db_point():
    """gather drops the BRIR tail below -80 dB (Schroeder, both ears); the wet error is 1e-8 of the signal."""
    bank = FakeBank(n=2, length=6000)  # tails decay e^(-t/300): -80 dB of energy is reached near sample 2500
    cfg = AugmentConfig(split=None, n_crops=1, crop_samples=1000)
    draws = Augmenter(bank, cfg, FS).draw(np.random.default_rng(11), 1, 20000)
    h = bank[int(draws.scene[0])].brir.astype(np.float64)
    got = gather_scenes(bank, draws, 20000, cfg).brir[0]
    keep = int(np.flatnonzero(np.abs(got).sum(axis=0))[-1]) + 1
    energy = (h**2).sum(axis=0)
    assert 1500 < keep < 4000 and got.shape == h.shape
    np.testing.assert_array_equal(got[:, :keep], h[:, :keep].astype(np.float32))
    assert not got[:, keep:].any()
    assert energy[keep:].sum() <= 1e-8 * energy.sum() < energy[keep - 1 :].sum()  # the shortest such BRIR
    x = np.random.default_rng(12).standard_normal(20000)
    full = fftconvolve(x[None], h, axes=-1)[:, :20000]
    err = full - fftconvolve(x[None], got.astype(np.float64), axes=-1)[:, :20000]
    assert power(err) < 3e-8 * power(full)  # white input: 1e-8 in expectation
    exact = gather_scenes(bank, draws, 20000, AugmentConfig(split=None, brir_tail_db=None)).brir[0]
    np.testing.assert_array_equal(exact, h.astype(np.float32))


def test_the_cut_cache_changes_nothing():
    """A scene's BRIR cut and taps are found on its first read and reused: the same inputs and crops as
    without the cache, and as convolve_spans trimming the BRIR itself (taps=None)."""
    bank = FakeBank(n=3, length=6000)
    for tail_db in (-80.0, None):
        cfg = AugmentConfig(split=None, n_crops=3, crop_samples=2000, brir_tail_db=tail_db)
        aug = Augmenter(bank, cfg, FS)
        draws = aug.draw(np.random.default_rng(13), 12, 20000)
        assert len(set(draws.scene.tolist())) < 12  # some scenes come back: read through the cache
        cached = aug.gather(draws, 20000)
        plain = gather_scenes(bank, draws, 20000, cfg, brir_len=bank.brir_length)
        np.testing.assert_array_equal(cached.brir, plain.brir)
        np.testing.assert_array_equal(cached.taps, plain.taps)
        np.testing.assert_array_equal(cached.noise, plain.noise)
        assert (plain.taps <= bank.brir_length).all() and (plain.taps < bank.brir_length).any()
        dry = np.random.default_rng(14).standard_normal((12, 20000)).astype(np.float32)
        got = augment_batch(dry, draws, cached, cfg)
        plain.taps = None
        np.testing.assert_allclose(got, augment_batch(dry, draws, plain, cfg), rtol=1e-5, atol=1e-5)


def test_bad_configs_and_banks_raise_input_error():
    with pytest.raises(InputError):
        AugmentConfig(clean_ratio=1.5)
    with pytest.raises(InputError):
        AugmentConfig(snr_db=(20.0, 5.0))
    with pytest.raises(InputError):
        AugmentConfig(noise="sources")
    with pytest.raises(InputError):
        AugmentConfig(brir_tail_db=10.0)
    with pytest.raises(InputError, match="Hz"):
        Augmenter(FakeBank(fs=22050), AugmentConfig(), FS)
    with pytest.raises(InputError, match="no scenes"):
        Augmenter(FakeBank(), AugmentConfig(split="test"), FS)


# ---------------------------------------------------------------- with a real bank


def test_cut_cache_reads_brir_heads_from_the_bank(ten_scene_bank):
    """Scenes seen before are read only up to their -80 dB cut (RIRBank.brir_head): same inputs as a first
    read."""
    from wavjepa_nat.data.augment import Augmenter, gather_scenes

    bank = RIRBank(ten_scene_bank)
    np.testing.assert_array_equal(bank.brir_head(3, 500), bank.brirs([3])[0][:, :500])
    cfg = AugmentConfig(split=None, n_crops=2, crop_samples=4000)
    aug = Augmenter(bank, cfg, 16000)
    draws = aug.draw(np.random.default_rng(7), 30, 16000)
    aug.gather(draws, 16000)  # fills the cache
    assert set(aug.cut_cache) == set(draws.scene.tolist())
    cached, plain = (
        aug.gather(draws, 16000),
        gather_scenes(bank, draws, 16000, cfg, brir_len=bank.brir_length),
    )
    for name in ("brir", "noise", "delay", "taps"):
        np.testing.assert_array_equal(getattr(cached, name), getattr(plain, name))
    assert (cached.taps < bank.brir_length).any()  # short-RT60 scenes end before the stored length


def test_crops_from_stored_beds_equal_crops_from_float32_beds(ten_scene_bank, tmp_path):
    """The augmentation reads a format-3 bed's int16 samples without their scale (the SNR sets the level):
    its crops equal those from the same scenes stored as float32 (format 1), to the beds' quantisation, on the
    numpy and the torch path."""
    from wavjepa_nat.data.augment import Augmenter, augment_batch
    from wavjepa_nat.data.augment_torch import NaturalisticAugment, to_torch_batch
    from wavjepa_nat.rir_bank.format_1 import write_format_1

    old_path = tmp_path / "format1.h5"
    write_format_1(ten_scene_bank, old_path)
    new, old = RIRBank(ten_scene_bank), RIRBank(old_path)
    assert new.noise_bed_samples(0).dtype == np.int16 and old.noise_bed_samples(0).dtype == np.float32
    cfg = AugmentConfig(split=None, clean_ratio=0.0, snr_db=(0.0, 5.0), n_crops=3, crop_samples=4000)
    dry = 0.1 * np.random.default_rng(1).standard_normal((1, 16000)).astype(np.float32)
    for seed in range(6):
        got = {}
        for name, bank in (("int16", new), ("float32", old)):
            aug = Augmenter(bank, cfg, 16000)
            draws = aug.draw(np.random.default_rng(seed), 1, 16000)
            inputs = aug.gather(draws, 16000)
            got[name] = augment_batch(dry, draws, inputs, cfg)
            got[name + " torch"] = NaturalisticAugment(cfg)(to_torch_batch(dry, draws, inputs)).numpy()
        for path in ("", " torch"):
            np.testing.assert_allclose(got["int16" + path], got["float32" + path], rtol=0, atol=1e-3)
