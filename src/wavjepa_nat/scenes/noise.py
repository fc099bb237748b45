"""Noise signals and pre-rendered binaural noise beds.

A scene's noise bed is what its noise sources sound like at the listener's ears: each
noise-source BRIR convolved with a noise signal, summed, plus a diffuse component (the
distant, unlocalised background of a real room), normalised to a fixed RMS level over both
ears. Noise signals are built-in coloured and modulated noises, or the user's recordings.
"""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path

import numpy as np
import scipy.fft as sfft

from wavjepa_nat.audio import AUDIO_EXTENSIONS, read_audio
from wavjepa_nat.dsp import fft_len, mean_power, trim_tail
from wavjepa_nat.errors import InputError
from wavjepa_nat.scenes.diffuse import stationary_binaural_noise

BUILTIN_NOISES = ("white", "pink", "brown", "babble", "hum", "traffic", "modulated")


def _random_spectrum(rng: np.random.Generator, bins: int) -> np.ndarray:
    """Complex spectrum of white noise, drawn directly (uniform parts of unit variance: after the inverse
    FFT every sample sums all bins, so it is Gaussian by the central limit), complex64."""
    z = rng.random((bins, 2), dtype=np.float32)
    z -= 0.5
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
    return np.tile(x, reps)[start: start + n]


class NoiseMaker:
    """Noise signals for the noise sources of a scene, and its noise bed."""

    def __init__(self, fs: int, bed_length: int, bed_rms_db: float, noise_dir: str | None,
                 diffuse_power: np.ndarray, diffuse_coherence: np.ndarray):
        self.fs, self.bed_length, self.bed_rms_db = fs, bed_length, bed_rms_db
        self.files = list_noise_files(noise_dir) if noise_dir else None
        for path in self.files or ():  # every recording is read (and checked) now, before any scene
            _read_noise_file(str(path), fs)
        self.diffuse_power, self.diffuse_coherence = diffuse_power, diffuse_coherence

    def signal(self, rng: np.random.Generator, n: int) -> tuple[np.ndarray, str]:
        if self.files:
            path = self.files[int(rng.integers(len(self.files)))]
            return recorded_noise(path, rng, n, self.fs), path.name
        kind = str(rng.choice(BUILTIN_NOISES))
        return builtin_noise(kind, rng, n, self.fs), kind

    def bed(self, noise_brirs: np.ndarray, rng: np.random.Generator) -> tuple[np.ndarray, list[str]]:
        """(2, bed_length) float32 at bed_rms_db, and the names of the noises used."""
        n_src, _, brir_len = noise_brirs.shape
        diffuse = stationary_binaural_noise(rng, self.bed_length, self.fs, self.diffuse_power,
                                            self.diffuse_coherence)
        target = 10 ** (self.bed_rms_db / 20)
        if n_src == 0:  # one scaling pass, float32 (rounding changes the level by < 1e-6 dB)
            diffuse *= np.float32(target / (np.sqrt(mean_power(diffuse)) + 1e-20))
            return diffuse, []
        diffuse /= np.sqrt(mean_power(diffuse)) + 1e-12
        # Noise longer than the bed by one BRIR, then 'valid' convolution: no onset ramp.
        pairs = [self.signal(rng, self.bed_length + brir_len - 1) for _ in range(n_src)]
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
    x = np.asarray(signals[:, brir_len - taps:], np.float32)  # (S, n_out + taps - 1)
    size = fft_len(x.shape[-1])
    spec_x = sfft.rfft(x, size, axis=-1, workers=1)  # (S, F)
    spec_h = sfft.rfft(h, size, axis=-1, workers=1)  # (S, 2, F)
    total = np.einsum("sf,sef->ef", spec_x, spec_h)
    return sfft.irfft(total, size, axis=-1, workers=1)[:, taps - 1: taps - 1 + n_out].astype(np.float64)
