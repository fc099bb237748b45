"""The built-in noises made as periodic spectra (scenes/noise.builtin_spectrum) against the time-domain
generator (builtin_noise) they replace in the noise beds: same spectra, envelopes and level; periodic, so
that the circular convolution of a bed is the steady state of each noise through its BRIR (no seam)."""

import numpy as np
import pytest
import scipy.fft as sfft
import soundfile as sf
from scipy.signal import welch

from wavjepa_nat.errors import InputError
from wavjepa_nat.scenes.noise import (
    BUILTIN_NOISES,
    NoiseMaker,
    builtin_noise,
    builtin_spectrum,
    circular_spectra,
    spectral_power,
)

FS = 16000
N = 4 * FS


def _slope_db_per_octave(x: np.ndarray) -> float:
    f, p = welch(x, fs=FS, nperseg=4096)
    band = (f >= 100) & (f <= 4000)
    return float(np.polyfit(np.log2(f[band]), 10 * np.log10(p[band]), 1)[0])


def _frame_rms_spread(x: np.ndarray) -> float:
    """Coefficient of variation of the 50 ms frame RMS: how strongly a noise is modulated."""
    frames = x[: len(x) // 800 * 800].reshape(-1, 800)
    rms = np.sqrt(np.mean(frames**2, axis=1))
    return float(np.std(rms) / np.mean(rms))


@pytest.mark.parametrize("kind", BUILTIN_NOISES)
def test_unit_rms_and_same_statistics_as_the_time_domain_noise(kind):
    rng = np.random.default_rng(3)
    new = [sfft.irfft(builtin_spectrum(kind, rng, N, FS), N).astype(np.float64) for _ in range(6)]
    old = [builtin_noise(kind, rng, N, FS) for _ in range(6)]
    for x in new:
        assert np.sqrt(np.mean(x**2)) == pytest.approx(1.0, rel=1e-4)
    if kind != "hum":  # lines, not a slope
        assert np.mean([_slope_db_per_octave(x) for x in new]) == pytest.approx(
            np.mean([_slope_db_per_octave(x) for x in old]), abs=0.4
        )
    spread_new = np.mean([_frame_rms_spread(x) for x in new])
    spread_old = np.mean([_frame_rms_spread(x) for x in old])
    assert spread_new == pytest.approx(spread_old, rel=0.3, abs=0.03)


@pytest.mark.parametrize(("kind", "slope"), [("pink", -3.0), ("brown", -6.0), ("babble", -4.5)])
def test_spectrum_slope_per_octave(kind, slope):
    x = sfft.irfft(builtin_spectrum(kind, np.random.default_rng(0), N, FS), N)
    assert _slope_db_per_octave(x) == pytest.approx(slope, abs=0.5)


def test_hum_is_mains_harmonics():
    x = builtin_spectrum("hum", np.random.default_rng(1), N, FS)
    power = np.abs(x) ** 2
    top = np.sort(np.argsort(power)[-8:]) * FS / N  # the eight strongest bins, Hz
    mains = top[0]
    assert mains in (50.0, 60.0)
    assert np.allclose(top, mains * np.arange(1, 9))
    assert np.sum(power[np.argsort(power)[-8:]]) > 0.999 * np.sum(power)


@pytest.mark.parametrize("kind", ["babble", "traffic", "modulated", "pink"])
def test_periodic_no_seam(kind):
    """The wrap from the last sample to the first is like any other step of the signal."""
    steps = []
    for seed in range(20):
        x = sfft.irfft(builtin_spectrum(kind, np.random.default_rng(seed), 8000, FS), 8000)
        typical = np.sqrt(np.mean(np.diff(x) ** 2))
        steps.append(abs(x[0] - x[-1]) / typical)
    assert np.median(steps) < 1.5
    # and the modulation too: the envelope's level just before the wrap matches the level after it
    x = sfft.irfft(builtin_spectrum("traffic", np.random.default_rng(5), 8000, FS), 8000)
    head, tail = np.sqrt(np.mean(x[:400] ** 2)), np.sqrt(np.mean(x[-400:] ** 2))
    assert abs(20 * np.log10(head / tail)) < 6.0


@pytest.mark.parametrize("taps", [300, 2500])
def test_circular_convolution_is_the_steady_state_of_the_periodic_noise(taps):
    """irfft(circular_spectra(h, n) x spectrum) equals the linear convolution of the periodic signal with h,
    also for responses longer than the period (folded)."""
    rng = np.random.default_rng(2)
    n = 1000
    h = rng.standard_normal((2, 2, taps)).astype(np.float32) * np.exp(-np.arange(taps) / 200.0)
    spectrum = builtin_spectrum("pink", rng, n, FS)
    out = sfft.irfft(circular_spectra(h, n) * spectrum, n)
    x = np.tile(sfft.irfft(spectrum, n).astype(np.float64), taps // n + 3)
    start = (taps // n + 1) * n
    for s in range(2):
        for e in range(2):
            ref = np.convolve(x, h[s, e].astype(np.float64))[start : start + n]
            assert np.max(np.abs(out[s, e] - ref)) < 1e-4 * np.max(np.abs(ref))


@pytest.mark.parametrize("n", [1000, 1001])
def test_spectral_power_is_parseval(n):
    rng = np.random.default_rng(4)
    spectrum = rng.standard_normal((3, n // 2 + 1)) + 1j * rng.standard_normal((3, n // 2 + 1))
    x = sfft.irfft(spectrum, n)
    assert spectral_power(spectrum, n) == pytest.approx(np.mean(x**2), rel=1e-9)
    assert spectral_power(spectrum.astype(np.complex64), n) == pytest.approx(np.mean(x**2), rel=1e-5)


def test_centred_uniform_moments_and_determinism():
    from wavjepa_nat.dsp import centred_uniform

    z = centred_uniform(np.random.default_rng(9), (1001, 3))
    assert z.shape == (1001, 3) and z.dtype == np.float32
    assert np.all(np.abs(z) < 0.5)
    big = centred_uniform(np.random.default_rng(1), 2_000_000).astype(np.float64)
    assert abs(np.mean(big)) < 5 * np.sqrt(1 / 12 / big.size)
    assert np.var(big) == pytest.approx(1 / 12, rel=3e-3)
    assert np.array_equal(z, centred_uniform(np.random.default_rng(9), (1001, 3)))


# A NaN in a noise recording was once carried into the noise beds.
def test_noise_recording_with_nan_is_refused_before_any_scene(tmp_path):
    folder = tmp_path / "noises"
    folder.mkdir()
    x = np.random.default_rng(0).standard_normal(8000).astype(np.float32)
    sf.write(folder / "good.wav", x, 16000)
    x[10] = np.nan
    sf.write(folder / "bad.wav", x, 16000, subtype="FLOAT")
    with pytest.raises(InputError, match=r"bad\.wav holds 1 non-finite sample"):
        NoiseMaker(16000, 1000, -30.0, str(folder), np.ones((2, 4)), np.ones(4))
