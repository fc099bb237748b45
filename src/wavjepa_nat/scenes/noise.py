"""Noise signals and pre-rendered binaural noise beds.

A scene's noise bed is what its noise sources sound like at the listener's ears: each
noise-source BRIR convolved with a noise signal, summed, plus a diffuse component (the
distant, unlocalised background of a real room), normalised to a fixed RMS level over both
ears. Noise signals are built-in coloured and modulated noises, or the user's recordings.

Built-in noises are made as periodic signals of the bed's length, directly as spectra on its rfft grid
(builtin_spectrum; the modulated ones pass through the time domain once, for their envelopes), and
multiplied by the BRIRs' spectra on the same grid: a circular convolution, so the bed is the steady state
of each noise through its BRIR (no onset ramp, as the 'valid' convolution of recordings) and loops without
a seam. Recordings are not periodic: they are convolved linearly (valid_convolution_sum).
"""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path

import numpy as np
import scipy.fft as sfft

from wavjepa_nat.audio import AUDIO_EXTENSIONS, read_audio
from wavjepa_nat.dsp import centred_uniform, fft_len, mean_power, row_sumsq, trim_tail
from wavjepa_nat.errors import InputError
from wavjepa_nat.scenes.diffuse import stationary_binaural_noise, stationary_binaural_spectrum

BUILTIN_NOISES = ("white", "pink", "brown", "babble", "hum", "traffic", "modulated")


def _random_spectrum(rng: np.random.Generator, bins: int) -> np.ndarray:
    """Complex spectrum of white noise, drawn directly (uniform parts of unit variance: after the inverse
    FFT every sample sums all bins, so it is Gaussian by the central limit), complex64."""
    z = centred_uniform(rng, (bins, 2))
    return z.view(np.complex64)[:, 0]


@lru_cache(maxsize=16)
def _slope(m: int, fs: int, slope_db_per_octave: float) -> np.ndarray:
    f = np.maximum(np.fft.rfftfreq(m, 1.0 / fs), 20.0)
    return ((f / 1000.0) ** (slope_db_per_octave / 20.0 / np.log10(2.0))).astype(np.float32)


def coloured_noise(rng: np.random.Generator, n: int, fs: int, slope_db_per_octave: float) -> np.ndarray:
    """Gaussian noise with a power spectrum sloping by the given dB per octave (pink: -3, brown: -6).
    Made in the frequency domain (one float32 inverse FFT); the scale is arbitrary (callers normalise)."""
    m = fft_len(n)  # awkward lengths make FFTs several times slower
    spectrum = _random_spectrum(rng, m // 2 + 1) * _slope(m, fs, slope_db_per_octave)
    return sfft.irfft(spectrum, m, workers=1)[:n]


def _envelope(rng: np.random.Generator, n: int, fs: int, rate_hz: float, depth: float) -> np.ndarray:
    """A smooth random amplitude envelope: noise low-passed at `rate_hz`, mean 1. Band-limited to a few Hz,
    it is made at a 64th of the rate and interpolated linearly (an error far below its own variation)."""
    step = 64
    k = -(-n // step) + 2  # coarse samples covering n
    m = fft_len(k)
    spectrum = _random_spectrum(rng, m // 2 + 1)
    spectrum[np.fft.rfftfreq(m, step / fs) > rate_hz] = 0.0
    coarse = sfft.irfft(spectrum, m, workers=1)[:k].astype(np.float64)
    coarse /= np.std(coarse) + 1e-12
    env = np.interp(np.arange(n) / step, np.arange(k), coarse)
    return np.maximum(1.0 + depth * env, 0.0)


def builtin_noise(kind: str, rng: np.random.Generator, n: int, fs: int) -> np.ndarray:
    """One of BUILTIN_NOISES, n samples, unit RMS."""
    if kind == "white":
        x = rng.standard_normal(n)
    elif kind == "pink":
        x = coloured_noise(rng, n, fs, -3.0)
    elif kind == "brown":
        x = coloured_noise(rng, n, fs, -6.0)
    elif kind == "babble":
        # Several talkers: speech-shaped noise, each with a syllabic (~4 Hz) envelope.
        x = sum(coloured_noise(rng, n, fs, -4.5) * _envelope(rng, n, fs, 4.0, 0.9) for _ in range(6))
    elif kind == "hum":
        t = np.arange(n) / fs
        mains = rng.choice([50.0, 60.0])
        x = sum(np.sin(2 * np.pi * mains * h * t + rng.uniform(0, 2 * np.pi)) / h for h in range(1, 9))
        x = x + 0.3 * coloured_noise(rng, n, fs, -3.0)
    elif kind == "traffic":
        x = coloured_noise(rng, n, fs, -6.0) * _envelope(rng, n, fs, 0.3, 0.7)
    elif kind == "modulated":
        x = coloured_noise(rng, n, fs, -3.0) * _envelope(rng, n, fs, rng.uniform(0.5, 8.0), 0.8)
    else:
        raise InputError(f"unknown built-in noise '{kind}'; choose from {', '.join(BUILTIN_NOISES)}")
    return x / (np.std(x) + 1e-12)


def spectral_power(spectrum: np.ndarray, n: int) -> float:
    """Mean square of irfft(spectrum, n) over its last axis and all rows jointly, by Parseval: no inverse FFT.
    irfft ignores the imaginary parts of the DC and (n even) Nyquist bins; so does this."""
    rows = np.ascontiguousarray(spectrum).reshape(-1, spectrum.shape[-1])
    parts = rows.view(np.float32 if rows.dtype == np.complex64 else np.float64)
    energy = 2.0 * row_sumsq(parts) - 2.0 * np.abs(rows[:, 0]) ** 2 + rows[:, 0].real.astype(np.float64) ** 2
    if n % 2 == 0:
        energy -= 2.0 * np.abs(rows[:, -1]) ** 2 - rows[:, -1].real.astype(np.float64) ** 2
    return float(np.mean(energy)) / float(n) ** 2


def _periodic_envelopes(
    rng: np.random.Generator, count: int, n: int, fs: int, rate_hz: float, depth: float
) -> np.ndarray:
    """`count` envelopes as _envelope makes them (noise low-passed at rate_hz, scaled to unit deviation,
    1 + depth x that, clipped at 0), but periodic over n samples: the coarse curve is drawn on the bins of
    one period (bin j: j cycles per n samples) and interpolated linearly and circularly.
    (count, n) float32."""
    step = 64
    k = max(-(-n // step), 2)  # coarse samples over one period, at j * n / k
    spectrum = _random_spectrum(rng, count * (k // 2 + 1)).reshape(count, -1)
    spectrum[:, np.arange(k // 2 + 1) * fs > rate_hz * n * (1 + 1e-9)] = 0.0
    coarse = sfft.irfft(spectrum, k, axis=-1, workers=1).astype(np.float64)
    sd = np.std(coarse, axis=-1, keepdims=True)
    # Only the DC bin below rate_hz (a bed shorter than 1 / rate_hz): no variation to scale up.
    coarse = np.where(
        sd > 1e-6 * np.sqrt(np.mean(coarse**2, axis=-1, keepdims=True)), coarse / (sd + 1e-300), 0.0
    ).astype(np.float32)
    if n == k * step:
        ramp = np.arange(step, dtype=np.float32) / np.float32(step)
        rise = np.roll(coarse, -1, axis=-1) - coarse
        env = (coarse[..., None] + rise[..., None] * ramp).reshape(count, n)
    else:
        t = np.arange(n) * (k / n)
        grid = np.arange(k + 1)
        env = np.stack([np.interp(t, grid, np.append(c, c[0])) for c in coarse]).astype(np.float32)
    env *= np.float32(depth)
    env += np.float32(1.0)
    return np.maximum(env, np.float32(0.0), out=env)


def _coloured_spectra(rng: np.random.Generator, count: int, n: int, fs: int, slope_db: float) -> np.ndarray:
    """(count, n // 2 + 1) complex64: coloured_noise's spectra on the rfft grid of n (periodic signals)."""
    return _random_spectrum(rng, count * (n // 2 + 1)).reshape(count, -1) * _slope(n, fs, slope_db)


def _modulated_spectrum(
    rng: np.random.Generator, count: int, n: int, fs: int, slope_db: float, rate_hz: float, depth: float
) -> np.ndarray:
    """The spectrum of the sum of `count` coloured noises, each times its own periodic envelope."""
    x = sfft.irfft(_coloured_spectra(rng, count, n, fs, slope_db), n, axis=-1, workers=1)
    x *= _periodic_envelopes(rng, count, n, fs, rate_hz, depth)
    return sfft.rfft(x.sum(axis=0) if count > 1 else x[0], axis=-1, workers=1)


def _hum_floor(m: int, n: int, fs: int) -> float:
    """The RMS of coloured_noise(.., -3) made at FFT size m relative to the same spectrum on the grid of n.
    builtin_noise's hum adds 0.3 x coloured_noise, whose scale is that of its FFT size (for a 10 s bed, about
    -70 dB under the mains lines): kept so that hum is the signal it was."""
    power = [np.sum(_slope(k, fs, -3.0).astype(np.float64) ** 2) / float(k) ** 2 for k in (m, n)]
    return float(np.sqrt(power[0] / power[1]))


def builtin_spectrum(
    kind: str, rng: np.random.Generator, n: int, fs: int, floor_len: int | None = None
) -> np.ndarray:
    """The rfft (n // 2 + 1,) complex64 of one of BUILTIN_NOISES as a periodic signal of n samples, unit RMS.

    Statistically builtin_noise's signals (same spectra, envelopes, talkers, mains lines), periodic: white,
    pink, brown and the hum's noise are drawn as spectra; the envelopes of babble, traffic and modulated are
    periodic too (drawn on the bins of one period), so a circular convolution has no seam. The mains lines sit
    on the nearest bin of the fundamental (exact when the period holds whole cycles, e.g. any bed of a
    multiple of 0.1 s at 50 or 60 Hz). floor_len: the length builtin_noise would have been asked for (its
    hum's noise floor depends on its FFT size), n by default.
    """
    bins = n // 2 + 1
    if kind == "white":
        x = _random_spectrum(rng, bins)
    elif kind == "pink":
        x = _coloured_spectra(rng, 1, n, fs, -3.0)[0]
    elif kind == "brown":
        x = _coloured_spectra(rng, 1, n, fs, -6.0)[0]
    elif kind == "babble":
        x = _modulated_spectrum(rng, 6, n, fs, -4.5, 4.0, 0.9)
    elif kind == "hum":
        mains = rng.choice([50.0, 60.0])
        k1 = max(int(round(mains * n / fs)), 1)
        x = np.zeros(bins, np.complex64)
        for h in range(1, 9):
            phase = rng.uniform(0, 2 * np.pi)
            if h * k1 < n / 2:  # A sin(2 pi k t / n + phase) has rfft bin k = A n / 2 exp(j (phase - pi / 2))
                x[h * k1] += n / 2 / h * np.exp(1j * (phase - np.pi / 2))
        noise = _coloured_spectra(rng, 1, n, fs, -3.0)[0]
        x += noise * np.float32(0.3 * _hum_floor(fft_len(floor_len or n), n, fs))
    elif kind == "traffic":
        x = _modulated_spectrum(rng, 1, n, fs, -6.0, 0.3, 0.7)
    elif kind == "modulated":
        x = _modulated_spectrum(rng, 1, n, fs, -3.0, rng.uniform(0.5, 8.0), 0.8)
    else:
        raise InputError(f"unknown built-in noise '{kind}'; choose from {', '.join(BUILTIN_NOISES)}")
    x *= np.float32(1.0 / (np.sqrt(spectral_power(x, n)) + 1e-12))
    return x


def circular_spectra(h: np.ndarray, n: int) -> np.ndarray:
    """rfft on the grid of n (..., n // 2 + 1) of responses h (..., L) folded modulo n: what a signal of
    period n meets in a circular convolution. Cut first at the float32 floor of all rows (dsp.trim_tail)."""
    rows = np.asarray(h, np.float32).reshape(-1, h.shape[-1])
    taps = trim_tail(rows).shape[-1]
    rows = rows[:, :taps]
    if taps > n:  # a bed shorter than its responses
        rows = np.pad(rows, ((0, 0), (0, -taps % n))).reshape(len(rows), -1, n).sum(axis=1)
    return sfft.rfft(rows, n, axis=-1, workers=1).reshape(*h.shape[:-1], n // 2 + 1)


def list_noise_files(noise_dir: str | Path) -> list[Path]:
    root = Path(noise_dir)
    if not root.is_dir():
        raise InputError(f"--noise-dir {root} is not a folder")
    files = sorted(p for p in root.rglob("*") if p.suffix.lower() in AUDIO_EXTENSIONS)
    if not files:
        raise InputError(f"--noise-dir {root} holds no audio files ({', '.join(AUDIO_EXTENSIONS)})")
    return files


@lru_cache(maxsize=32)
def _read_noise_file(path: str, fs: int) -> np.ndarray:
    audio, _ = read_audio(path, fs=fs, mono=True)  # InputError naming the file: unreadable, cut, NaN/inf
    x = audio[0].astype(np.float64)
    if not np.any(x):
        raise InputError(f"--noise-dir: noise file {path} is silent")
    return x / (np.std(x) + 1e-12)


def recorded_noise(path: Path, rng: np.random.Generator, n: int, fs: int) -> np.ndarray:
    """n samples of a recording from a random offset, looped when it is shorter."""
    x = _read_noise_file(str(path), fs)
    start = int(rng.integers(0, len(x)))
    reps = int(np.ceil((start + n) / len(x)))
    return np.tile(x, reps)[start : start + n]


class NoiseMaker:
    """Noise signals for the noise sources of a scene, and its noise bed."""

    def __init__(
        self,
        fs: int,
        bed_length: int,
        bed_rms_db: float,
        noise_dir: str | None,
        diffuse_power: np.ndarray,
        diffuse_coherence: np.ndarray,
    ):
        self.fs, self.bed_length, self.bed_rms_db = fs, bed_length, bed_rms_db
        self.files = list_noise_files(noise_dir) if noise_dir else None
        for path in self.files or ():  # every recording is read (and checked) now, before any scene
            _read_noise_file(str(path), fs)
        self.diffuse_power, self.diffuse_coherence = diffuse_power, diffuse_coherence

    def recording(self, rng: np.random.Generator, n: int) -> tuple[np.ndarray, str]:
        """n samples of a random --noise-dir recording, and its file name."""
        path = self.files[int(rng.integers(len(self.files)))]
        return recorded_noise(path, rng, n, self.fs), path.name

    def bed(self, noise_brirs: np.ndarray, rng: np.random.Generator) -> tuple[np.ndarray, list[str]]:
        """(2, bed_length) float32 at bed_rms_db, and the names of the noises used."""
        n_src, _, brir_len = noise_brirs.shape
        target = 10 ** (self.bed_rms_db / 20)
        if n_src == 0:  # one scaling pass, float32 (rounding changes the level by < 1e-6 dB)
            diffuse = stationary_binaural_noise(
                rng, self.bed_length, self.fs, self.diffuse_power, self.diffuse_coherence
            )
            diffuse *= np.float32(target / (np.sqrt(mean_power(diffuse)) + 1e-20))
            return diffuse, []
        if self.files:
            return self._recorded_bed(noise_brirs, rng, target)
        # Built-in noises: everything on the bed's rfft grid, one inverse FFT per ear (see the docstring).
        n = self.bed_length
        diffuse = stationary_binaural_spectrum(rng, n, self.fs, self.diffuse_power, self.diffuse_coherence)
        kinds = [str(rng.choice(BUILTIN_NOISES)) for _ in range(n_src)]
        signals = [builtin_spectrum(kind, rng, n, self.fs, n + brir_len - 1) for kind in kinds]
        gains = 10 ** (rng.uniform(-6.0, 0.0, n_src) / 20)
        h = circular_spectra(noise_brirs, n)  # (S, 2, F)
        point = h[0] * (signals[0] * np.float32(gains[0]))
        for s in range(1, n_src):
            point += h[s] * (signals[s] * np.float32(gains[s]))
        point *= np.float32(1.0 / (np.sqrt(spectral_power(point, n)) + 1e-12))
        level = 10 ** (rng.uniform(-12.0, 0.0) / 20)
        diffuse *= np.float32(level / (np.sqrt(spectral_power(diffuse, n)) + 1e-12))
        point += diffuse
        bed = sfft.irfft(point, n, axis=-1, workers=1)
        bed *= np.float32(target / (np.sqrt(mean_power(bed)) + 1e-20))
        return bed, kinds

    def _recorded_bed(
        self, noise_brirs: np.ndarray, rng: np.random.Generator, target: float
    ) -> tuple[np.ndarray, list[str]]:
        n_src, _, brir_len = noise_brirs.shape
        diffuse = stationary_binaural_noise(
            rng, self.bed_length, self.fs, self.diffuse_power, self.diffuse_coherence
        )
        diffuse /= np.sqrt(mean_power(diffuse)) + 1e-12
        # Noise longer than the bed by one BRIR, then 'valid' convolution: no onset ramp.
        pairs = [self.recording(rng, self.bed_length + brir_len - 1) for _ in range(n_src)]
        signals = np.stack([p[0] for p in pairs]) * 10 ** (rng.uniform(-6.0, 0.0, n_src) / 20)[:, None]
        point = valid_convolution_sum(signals, noise_brirs, self.bed_length)
        point /= np.sqrt(np.mean(point**2)) + 1e-12
        bed = point + diffuse * 10 ** (rng.uniform(-12.0, 0.0) / 20)
        names = [p[1] for p in pairs]
        bed *= target / (np.sqrt(np.mean(bed**2)) + 1e-20)
        return bed.astype(np.float32), names


def valid_convolution_sum(signals: np.ndarray, brirs: np.ndarray, n_out: int) -> np.ndarray:
    """sum over s of the 'valid' convolution of signals (S, n_out + L - 1) with brirs (S, 2, L): (2, n_out).

    One float32 FFT per signal and per BRIR row, the products summed over sources before one inverse FFT
    per ear. Each BRIR is first cut where its remaining energy is below float32 resolution (dsp.trim_tail),
    and the signals' first samples that only the cut zeros would have met are skipped: the same output,
    shorter FFTs.
    """
    n_src, _, brir_len = brirs.shape
    taps = max(trim_tail(np.asarray(b, np.float32)).shape[-1] for b in brirs)
    h = np.asarray(brirs[..., :taps], np.float32)
    x = np.asarray(signals[:, brir_len - taps :], np.float32)  # (S, n_out + taps - 1)
    size = fft_len(x.shape[-1])
    spec_x = sfft.rfft(x, size, axis=-1, workers=1)  # (S, F)
    spec_h = sfft.rfft(h, size, axis=-1, workers=1)  # (S, 2, F)
    total = np.einsum("sf,sef->ef", spec_x, spec_h)
    return sfft.irfft(total, size, axis=-1, workers=1)[:, taps - 1 : taps - 1 + n_out].astype(np.float64)
