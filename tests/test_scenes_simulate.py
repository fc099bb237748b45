"""scenes/simulate.py: the simulated scenes against acoustics: RT60, ITD/ILD, direct-path delay, diffuse
coherence, noise beds, seeds and geometry."""

import numpy as np
import pytest
from scipy.signal import coherence

from tests.scene_helpers import render_at
from wavjepa_nat.scenes import SceneConfig, Simulator
from wavjepa_nat.scenes.acoustics import ild_db, itd_seconds
from wavjepa_nat.scenes.brir import FastEngine
from wavjepa_nat.scenes.hrtf import KEMAR_PATH, load_hrtf

FS = 16000
HRTFS = [
    "spherical",
    pytest.param(
        "kemar",
        marks=pytest.mark.skipif(
            not KEMAR_PATH.is_file(), reason="apt-get install libmysofa1 for the KEMAR HRTF"
        ),
    ),
]


@pytest.fixture(scope="module", params=HRTFS)
def engine(request):
    # Short, fairly dry rooms: the direct sound stands clear of the first reflections.
    cfg = SceneConfig(hrtf=request.param, rt60=(0.25, 0.4), room_length=(8.0, 12.0))
    return FastEngine(cfg, load_hrtf(cfg.hrtf, FS)), cfg


@pytest.mark.parametrize("hrtf", HRTFS)
def test_measured_rt60_matches_target_across_the_range(hrtf):
    sim = Simulator(SceneConfig(hrtf=hrtf, rt60=(0.2, 1.5), noise_sources=(0, 0), noise_bed_seconds=0.1))
    errors = []
    for room in range(12):  # 12 rooms over the whole range
        meta = sim.simulate(room * 4).meta
        errors.append(np.mean(meta["rt60_measured"]) / meta["rt60_target"] - 1)
    assert np.mean(np.abs(errors) <= 0.10) >= 0.9, np.round(errors, 3)


def test_itd_and_ild_follow_azimuth(engine):
    eng, cfg = engine
    measured = {}
    for az in (90.0, -90.0, 0.0, 45.0):
        brir, spec = render_at(eng, cfg, 0, az)
        delay = spec.distance_m[0] / 343.0
        measured[az] = (itd_seconds(brir, FS, delay), ild_db(brir, FS, delay))
    # Woodworth for an adult head: a/c (theta + sin theta) = 0.66 ms at 90 degrees; left leads for +90.
    assert 0.58e-3 <= measured[90.0][0] <= 0.78e-3
    assert -0.78e-3 <= measured[-90.0][0] <= -0.58e-3
    assert abs(measured[0.0][0]) < 0.07e-3
    assert 0.2e-3 < measured[45.0][0] < measured[90.0][0]
    # Head shadow: over 10 dB above 3 kHz at the side, near zero in front.
    assert measured[90.0][1] > 10.0 and measured[-90.0][1] < -10.0
    assert abs(measured[0.0][1]) < 3.0


def test_direct_path_delay_is_distance_over_c(engine):
    eng, cfg = engine
    for distance in (0.8, 1.4, 2.0):
        brir, _ = render_at(eng, cfg, 4, 0.0, distance=distance)
        expected = distance / 343.0
        window = int((expected + 0.002) * FS)
        arrival = np.mean(np.argmax(np.abs(brir[:, :window]), axis=1)) / FS  # frontal: both ears together
        assert arrival == pytest.approx(expected, abs=0.1e-3)


@pytest.mark.parametrize("hrtf", HRTFS)
def test_late_tail_interaural_coherence(hrtf):
    cfg = SceneConfig(hrtf=hrtf, rt60=(1.0, 1.2), room_length=(8.0, 12.0))
    brir, _ = render_at(FastEngine(cfg, load_hrtf(hrtf, FS)), cfg, 8, 30.0)
    late = brir[:, int(0.1 * FS) : int(0.9 * FS)].astype(np.float64)
    # Flatten the decay (20 ms RMS envelope, both ears jointly) so Welch averaging sees a stationary signal.
    envelope = np.sqrt(np.convolve(np.mean(late**2, axis=0), np.ones(320) / 320, mode="same"))
    f, msc = coherence(late[0] / envelope, late[1] / envelope, fs=FS, nperseg=512)
    assert np.mean(msc[(f > 30) & (f < 200)]) > 0.7
    assert np.mean(msc[(f > 1500) & (f < 6000)]) < 0.15


def test_noise_bed_length_and_level(tmp_path):
    import soundfile as sf

    # resampled to the bank rate
    sf.write(tmp_path / "fan.wav", 0.1 * np.sin(np.linspace(0, 3000, 24000)), 24000)
    for noise_dir in (None, str(tmp_path)):
        cfg = SceneConfig(noise_bed_seconds=1.5, noise_bed_rms_db=-27.0, noise_dir=noise_dir, rt60=(0.2, 0.4))
        sim = Simulator(cfg)
        for index in range(3):
            scene = sim.simulate(index)
            assert scene.noise_bed.shape == (2, int(1.5 * FS))
            level = 10 * np.log10(np.mean(scene.noise_bed.astype(np.float64) ** 2))
            assert level == pytest.approx(-27.0, abs=0.01)
            if noise_dir and scene.meta["n_noise"]:
                assert set(scene.meta["noise_signals"].split(",")) == {"fan.wav"}


def test_same_seed_same_scene_other_seed_other_scene():
    cfg = SceneConfig(rt60=(0.2, 0.4), noise_bed_seconds=0.5)
    a, b = Simulator(cfg).simulate(5), Simulator(cfg).simulate(5)
    assert np.array_equal(a.brir, b.brir) and np.array_equal(a.noise_bed, b.noise_bed)
    assert np.array_equal(a.noise_brirs, b.noise_brirs)
    c = Simulator(SceneConfig(rt60=(0.2, 0.4), noise_bed_seconds=0.5, seed=1)).simulate(5)
    assert not np.array_equal(a.brir[:, :100], c.brir[:, :100])


def test_sampled_geometry_is_consistent():
    from wavjepa_nat.scenes.hrtf import directions_to_unit
    from wavjepa_nat.scenes.sampler import sample_scene

    cfg = SceneConfig()
    for index in range(0, 200, 7):
        spec = sample_scene(cfg, index)
        dims = spec.room.dims
        assert np.all(spec.sources > 0) and np.all(spec.sources < dims)
        for pos, az, el, d in zip(spec.sources, spec.azimuth_deg, spec.elevation_deg, spec.distance_m):
            assert np.allclose(pos, spec.listener + d * directions_to_unit(az + spec.yaw_deg, el), atol=1e-6)
            assert cfg.source_distance[0] - 1e-9 <= d <= cfg.source_distance[1]
        assert cfg.noise_sources[0] <= len(spec.sources) - 1 <= cfg.noise_sources[1]
