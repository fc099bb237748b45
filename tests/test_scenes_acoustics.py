"""scenes/acoustics.py: the measures (T30 broadband and per octave band, EDT, C50) against independent
computations (pyroomacoustics' T30, a forward-backward octave filter, a direct Schroeder fit)."""

import numpy as np
import pyroomacoustics as pra
import pytest
from scipy.signal import butter, sosfiltfilt

from wavjepa_nat.scenes import SceneConfig, Simulator
from wavjepa_nat.scenes.acoustics import OCTAVE_CENTERS, measure_t30

FS = 16000
CFG = SceneConfig(rt60=(0.2, 1.4), noise_bed_seconds=0.5, noise_sources=(0, 2), scenes_per_room=1)
N = 12


def reference_band_t30(h: np.ndarray, fs: int, center: float) -> float:
    """ISO octave band (order-3 Butterworth, forward-backward) + pyroomacoustics' T30 (its own fit)."""
    sos = butter(3, [center / np.sqrt(2), center * np.sqrt(2)], btype="bandpass", fs=fs, output="sos")
    return float(pra.experimental.measure_rt60(sosfiltfilt(sos, h.astype(np.float64)), fs, decay_db=30))


def reference_edt(h: np.ndarray, fs: int) -> float:
    """A direct Schroeder computation: least squares over 0 .. -10 dB of the backward integral, times 6."""
    energy = h.astype(np.float64) ** 2
    edc = np.cumsum(energy[::-1])[::-1]
    db = 10 * np.log10(edc / edc[0] + 1e-300)
    sel = np.nonzero(db >= -10.0)[0]
    slope = np.polyfit(sel / fs, db[sel], 1)[0]
    return -60.0 / slope


def reference_c50(h: np.ndarray, fs: int, delay: float) -> float:
    energy = h.astype(np.float64) ** 2
    t = np.arange(len(h)) / fs
    early = energy[t < delay + 0.05].sum()
    return 10 * np.log10(early / energy[t >= delay + 0.05].sum())


@pytest.fixture(scope="module")
def scenes():
    sim = Simulator(CFG)
    return [sim.simulate(i) for i in range(N)]


def test_t30_agrees_with_pyroomacoustics_on_exponential_decays():
    rng = np.random.default_rng(0)
    for rt60 in (0.3, 0.8, 1.5):
        t = np.arange(int(2.0 * rt60 * FS)) / FS
        h = rng.standard_normal(len(t)) * np.exp(-6.9078 * t / rt60)
        ours = measure_t30(h, FS)
        reference = pra.experimental.measure_rt60(h, FS, decay_db=30)
        assert ours == pytest.approx(rt60, rel=0.05)
        assert ours == pytest.approx(reference, rel=0.05)


def test_band_t30_edt_c50_agree_with_independent_computations(scenes):
    errors = []
    for scene in scenes:
        m, delay = scene.meta, scene.meta["direct_delay_s"]
        for ear in range(2):
            h = scene.brir[ear]
            for b, center in enumerate(OCTAVE_CENTERS[:6]):  # 125 Hz .. 4 kHz at 16 kHz
                errors.append(m["t30_band"][ear, b] / reference_band_t30(h, 16000, center) - 1)
            assert m["edt"][ear] == pytest.approx(reference_edt(h, 16000), rel=0.02)
            assert m["c50_db"][ear] == pytest.approx(reference_c50(h, 16000, delay), abs=0.01)
        assert np.all(np.isnan(m["t30_band"][:, 6]))  # 8 kHz: its octave reaches past 16 kHz's Nyquist
        assert np.allclose(m["rt60_measured"], m["t30_band"][:, 2:4].mean(axis=1))  # T_mid: 500 Hz and 1 kHz
    errors = np.abs(errors)
    assert np.median(errors) < 0.01 and np.mean(errors < 0.05) >= 0.97, np.round(np.sort(errors)[-5:], 3)


def test_8k_band_where_the_rate_allows():
    cfg = SceneConfig(fs=32000, rt60=(0.4, 0.6), noise_sources=(0, 0), noise_bed_seconds=0.1)
    scene = Simulator(cfg).simulate(0)
    t30 = scene.meta["t30_band"]
    assert np.all(np.isfinite(t30))
    for ear in range(2):
        assert t30[ear, 6] == pytest.approx(reference_band_t30(scene.brir[ear], 32000, 8000.0), rel=0.05)
