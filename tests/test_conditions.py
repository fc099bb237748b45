"""Sweep conditions: --snr / --rt60 parsing, RT60 bins by measured T_mid, and the rendered audio checked
against independent references (scipy convolution, the SNR definition)."""

import numpy as np
import pytest
from scipy.signal import fftconvolve

from wavjepa_nat.errors import InputError
from wavjepa_nat.rir_bank import RIRBank, simulate_bank
from wavjepa_nat.robustness.conditions import CLEAN, Condition, build_conditions, parse_rt60_bins, parse_snr
from wavjepa_nat.robustness.degrade import ScenePools, degrade, degrade_clip
from wavjepa_nat.scenes.config import SceneConfig

FS = 16000


# ---------------------------------------------------------------- parsing


def test_snr_ranges_parse_as_written():
    assert parse_snr("-5..20") == [-5, 0, 5, 10, 15, 20]
    assert parse_snr("-10..-5") == [-10, -5]
    assert parse_snr("0..10:2.5") == [0, 2.5, 5, 7.5, 10]
    assert parse_snr("20,0,10") == [0, 10, 20]
    assert parse_snr("none") == []


@pytest.mark.parametrize("bad", ["20..-5", "abc", "0..10:0", "0..10:-5", "1..", "..5", "nan"])
def test_bad_snr_is_an_input_error(bad):
    with pytest.raises(InputError, match="--snr"):
        parse_snr(bad)


def test_rt60_range_uses_standard_edges_and_merges_slivers():
    # 0.2..1.6: the 1.5-1.6 sliver (0.1 s beside a 0.5 s bin) joins its neighbour; 0.2-0.3 stays.
    assert parse_rt60_bins("0.2..1.6") == [(0.2, 0.3), (0.3, 0.6), (0.6, 1.0), (1.0, 1.6)]
    assert parse_rt60_bins("0.1..1.5") == [(0.1, 0.3), (0.3, 0.6), (0.6, 1.0), (1.0, 1.5)]
    assert parse_rt60_bins("0.25..1.0") == [(0.25, 0.6), (0.6, 1.0)]  # 0.25-0.3 is a sliver of 0.3-0.6
    assert parse_rt60_bins("0.4..0.5") == [(0.4, 0.5)]


def test_rt60_explicit_edges_and_steps():
    assert parse_rt60_bins("0.2,0.5,1.0,1.6") == [(0.2, 0.5), (0.5, 1.0), (1.0, 1.6)]
    assert parse_rt60_bins("0.2..1.0:0.4") == [(0.2, 0.6), (0.6, 1.0)]
    assert parse_rt60_bins("none") == []


@pytest.mark.parametrize("bad", ["1.6..0.2", "abc", "0.5", "0.5..0.5", "-0.1..0.5", "0.3,", "0.2..x"])
def test_bad_rt60_is_an_input_error(bad):
    with pytest.raises(InputError, match="--rt60"):
        parse_rt60_bins(bad)


def test_condition_list_order_and_grid():
    conds = build_conditions([0, 10], [(0.2, 0.5), (0.5, 1.0)], grid=True)
    assert conds[0] == CLEAN
    assert [c.kind for c in conds] == ["clean", "snr", "snr", "rt60", "rt60"] + ["snr_rt60"] * 4
    assert len({c.key for c in conds}) == len(conds)
    assert Condition("snr_rt60", 0.0, (0.2, 0.5)).label == "SNR 0 dB, RT60 0.2-0.5 s"
    assert len(build_conditions([0], [(0.2, 0.5)], grid=False)) == 3


# ---------------------------------------------------------------- a small bank


@pytest.fixture(scope="module")
def bank(tmp_path_factory):
    path = tmp_path_factory.mktemp("bank") / "bank.h5"
    cfg = SceneConfig(
        rt60=(0.2, 0.9),
        noise_bed_seconds=1.0,
        noise_sources=(0, 1),
        scenes_per_room=2,
        split_per_ten_rooms=(4, 2, 4),
        room_length=(3.0, 8.0),
        source_distance=(0.5, 2.0),
    )
    simulate_bank(path, cfg, 20, progress=False)
    return RIRBank(path)


def _bins_with_test_scenes(bank):
    rt = np.sort(bank.rt60()[bank.select(split="test")])
    mid = round(float(np.median(rt)), 3)
    return [(round(rt[0] - 0.01, 3), mid), (mid, round(rt[-1] + 0.01, 3))]


def test_pools_bin_by_measured_rt60(bank):
    bins = _bins_with_test_scenes(bank)
    pools = ScenePools(bank, bins, ("test",))
    measured = bank.rt60()
    for b, pool in pools.by_bin.items():
        assert len(pool) > 0
        assert set(bank.meta["split"][pool]) == {"test"}
        assert np.all((measured[pool] >= b[0]) & (measured[pool] <= b[1]))
    # together the two bins cover every test scene exactly once
    assert sorted(np.concatenate(list(pools.by_bin.values()))) == sorted(bank.select(split="test"))


def test_empty_bin_names_the_bin_and_the_measured_range(bank):
    with pytest.raises(InputError, match=r"RT60 bin 3-5 s: .*spans \d\.\d\d-\d\.\d\d s"):
        ScenePools(bank, [(3.0, 5.0)], ("test",))
    # for probe training an empty bin falls back to the nearest scenes, with a note
    pools = ScenePools(bank, [(3.0, 5.0)], ("train", "val"), strict=False)
    assert len(pools.by_bin[(3.0, 5.0)]) > 0 and pools.notes


def _dry(seed=0, n=FS):
    rng = np.random.default_rng(seed)
    return (rng.standard_normal(n) * np.hanning(n)).astype(np.float32)


def _snr_db(signal, noise):
    return 10 * np.log10(np.mean(signal.astype(np.float64) ** 2) / np.mean(noise.astype(np.float64) ** 2))


def test_snr_condition_is_dry_plus_noise_at_the_snr(bank):
    pools = ScenePools(bank, [], ("test",))
    dry = _dry()
    for snr in (-5.0, 0.0, 20.0):
        audio, az = degrade_clip(dry, Condition("snr", snr), pools, np.random.default_rng(1))
        noise = audio - np.stack([dry, dry])
        assert _snr_db(np.stack([dry, dry]), noise) == pytest.approx(snr, abs=0.01)
        assert np.isnan(az)  # no BRIR: no direction
    audio, _ = degrade_clip(dry, CLEAN, pools, np.random.default_rng(1))
    np.testing.assert_array_equal(audio, np.stack([dry, dry]))


def _match_scene(bank, pool, dry, audio):
    """The scene of `pool` whose direct-delay-compensated convolution (scipy) reproduces audio, or None."""
    for scene in pool:
        delay = round(float(bank.meta["direct_delay_s"][scene]) * bank.fs)
        brir = bank[int(scene)].brir
        ref = np.stack([fftconvolve(dry, brir[e])[delay : delay + len(dry)] for e in range(2)])
        if np.allclose(audio, ref, atol=1e-4 * np.abs(ref).max()):
            return int(scene), ref
    return None


def test_rt60_condition_convolves_with_a_brir_from_the_bin(bank):
    bins = _bins_with_test_scenes(bank)
    pools = ScenePools(bank, bins, ("test",))
    dry = _dry(2)
    for b in bins:
        audio, az = degrade_clip(dry, Condition("rt60", None, b), pools, np.random.default_rng(3))
        found = _match_scene(bank, pools.by_bin[b], dry, audio)
        assert found is not None
        scene, _ = found
        assert b[0] <= bank.rt60()[scene] <= b[1]
        assert az == pytest.approx(bank.meta["azimuth_deg"][scene])


def test_grid_condition_adds_the_scene_noise_at_the_snr(bank):
    bins = _bins_with_test_scenes(bank)
    pools = ScenePools(bank, bins, ("test",))
    dry = _dry(4)
    audio, _ = degrade_clip(dry, Condition("snr_rt60", 5.0, bins[0]), pools, np.random.default_rng(5))
    wet = None
    for scene in pools.by_bin[bins[0]]:  # find the scene by its noiseless rendering
        delay = round(float(bank.meta["direct_delay_s"][scene]) * bank.fs)
        ref = np.stack(
            [fftconvolve(dry, bank[int(scene)].brir[e])[delay : delay + len(dry)] for e in range(2)]
        )
        if _snr_db(ref, audio - ref) == pytest.approx(5.0, abs=0.05):
            wet = ref
    assert wet is not None


def test_renderings_are_seeded_per_condition_and_clip(bank):
    bins = _bins_with_test_scenes(bank)
    pools = ScenePools(bank, bins, ("test",))
    dry = np.stack([_dry(i) for i in range(3)])
    cond = Condition("snr_rt60", 0.0, bins[1])
    a, az_a = degrade(dry, cond, pools, 0, "test", [11, 12, 13])
    b, az_b = degrade(dry, cond, pools, 0, "test", [11, 12, 13])
    np.testing.assert_array_equal(a, b)
    np.testing.assert_array_equal(az_a, az_b)
    # a clip's rendering does not depend on the other clips around it
    c, _ = degrade(dry[1:2], cond, pools, 0, "test", [12])
    np.testing.assert_array_equal(a[1], c[0])
    # another seed or condition gives other audio
    assert not np.array_equal(degrade(dry, cond, pools, 1, "test", [11, 12, 13])[0], a)
    assert not np.array_equal(
        degrade(dry, Condition("snr_rt60", 5.0, bins[1]), pools, 0, "test", [11, 12, 13])[0], a
    )
    # joint instance normalisation over (ears, time): zero mean, unit variance, ILD kept
    flat = a.reshape(3, -1)
    np.testing.assert_allclose(flat.mean(axis=1), 0, atol=1e-5)
    np.testing.assert_allclose(flat.std(axis=1), 1, atol=1e-4)


def test_spatial_rendering_gives_clean_clips_a_direction(bank):
    pools = ScenePools(bank, [], ("test",))
    dry = np.stack([_dry(7)])
    audio, az = degrade(dry, CLEAN, pools, 0, "loc", [1], spatial=True)
    assert np.isfinite(az[0]) and az[0] in set(bank.meta["azimuth_deg"][pools.all])
    assert not np.allclose(audio[0, 0], audio[0, 1])  # two different ears


def test_auto_bins_cover_the_measured_range():
    from wavjepa_nat.robustness.conditions import auto_rt60_bins

    # 0.24-0.75 s measured -> rounded out to 0.2-0.8 s, split at the standard edges 0.3 and 0.6
    assert auto_rt60_bins(np.array([0.24, 0.5, 0.75])) == [(0.2, 0.3), (0.3, 0.6), (0.6, 0.8)]
