"""Binaural diffuse noise: two ear signals with a given spectrum and interaural coherence.

Used twice: for the late reverberation tail (with a per-frequency exponential decay) and for
the diffuse part of the noise beds (stationary). The noise is made directly in the STFT domain:
independent complex Gaussian frames Z1, Z2 (256 samples, hop 128) are mixed per bin,
left = Z1, right = g Z1 + sqrt(1 - g^2) Z2, where g is the diffuse-field coherence of the head,
shaped by the bin gains, inverse-transformed and overlap-added with a square-root Hann window.
The window's squares sum to one at this hop, so the per-sample power is exactly the mean of the
squared bin gains (over the two-sided spectrum), at every sample, as for white noise through
those gains.
"""

from __future__ import annotations

import numpy as np
import scipy.fft as sfft

from wavjepa_nat.dsp import centred_uniform

STFT_LEN = 256
HOP = STFT_LEN // 2
# sqrt of the periodic Hann window: its squares overlap-add to exactly 1 at a hop of half a frame.
_WINDOW = np.sqrt(0.5 - 0.5 * np.cos(2 * np.pi * np.arange(STFT_LEN) / STFT_LEN))


def binaural_diffuse_noises(
    rng: np.random.Generator,
    count: int,
    n_samples: int,
    fs: int,
    power: np.ndarray,
    coherence: np.ndarray,
    rt60: np.ndarray | None = None,
) -> np.ndarray:
    """(count, 2, n_samples) float32: `count` independent binaural diffuse noises with the same spectrum,
    coherence and decay (the sources of one room), in one pass. The draws are those of `count` calls with
    count=1 in a row.

    power: (2, STFT_LEN // 2 + 1) per-ear power spectrum (per-sample power of white noise = 1);
    coherence: (STFT_LEN // 2 + 1,) interaural coherence; rt60: optional per-bin decay time (s),
    which makes the amplitude fall by 60 dB over rt60 seconds from t = 0 (frame m is centred at m * HOP).
    """
    n_frames = -(-n_samples // HOP) + 1
    bins = STFT_LEN // 2 + 1
    # E|X_k|^2 = STFT_LEN G_k^2 gives a frame power of mean_k G_k^2 after irfft (1 / N normalisation);
    # real and imaginary parts carry half each, the DC and Nyquist bins are real. The parts are uniform with
    # unit variance, not Gaussian (4x cheaper to draw): each output sample sums hundreds of them, so it is
    # Gaussian all the same (central limit), and only second moments (spectrum, coherence) are specified.
    # rng.random, not dsp.centred_uniform: the tails (and so each scene's measured T30, EDT, C50, DRR) stay
    # the realisations they were.
    z = rng.random((count, 2, n_frames, bins, 2), dtype=np.float32)
    z -= 0.5
    z[..., 0, 1] = 0.0
    z[..., -1, 1] = 0.0
    z = z.view(np.complex64)[..., 0]  # (count, 2, frames, bins)
    scale = np.full(bins, np.sqrt(STFT_LEN / 2.0) * np.sqrt(12.0))
    scale[[0, -1]] = np.sqrt(STFT_LEN) * np.sqrt(12.0)
    gains = (scale * np.sqrt(np.asarray(power, np.float64)))[:, None, :]  # (2, 1, bins): all real factors
    if rt60 is not None:
        times = np.arange(n_frames) * (HOP / fs)
        gains = gains * np.exp(-6.9078 * times[:, None] / np.asarray(rt60, np.float64)[None, :])[None]
    g = np.asarray(coherence, np.float64)
    right = z[:, 1] * np.sqrt(np.maximum(1 - g**2, 0.0)).astype(np.float32)
    right += z[:, 0] * g.astype(np.float32)
    z[:, 1] = right
    z *= gains.astype(np.float32)
    frames = sfft.irfft(z, STFT_LEN, axis=-1, workers=1)
    frames *= _WINDOW.astype(np.float32)
    out = np.empty((count, 2, n_frames + 1, HOP), np.float32)  # buffer sample b is output sample b - HOP
    out[:, :, :n_frames] = frames[..., :HOP]
    out[:, :, n_frames] = 0.0
    out[:, :, 1:] += frames[..., HOP:]
    return np.ascontiguousarray(out.reshape(count, 2, -1)[..., HOP : HOP + n_samples])  # rows read fastest


def stationary_binaural_noise(
    rng: np.random.Generator, n_samples: int, fs: int, power: np.ndarray, coherence: np.ndarray
) -> np.ndarray:
    """(2, n_samples) float32 stationary diffuse noise, as binaural_diffuse_noises with no decay, but made in
    one FFT of the whole signal: the spectrum and coherence (on the STFT grid) are interpolated onto its bins.
    The result is periodic: it loops without a seam."""
    z = stationary_binaural_spectrum(rng, n_samples, fs, power, coherence)
    return sfft.irfft(z, n_samples, axis=-1, workers=1)


def stationary_binaural_spectrum(
    rng: np.random.Generator, n_samples: int, fs: int, power: np.ndarray, coherence: np.ndarray
) -> np.ndarray:
    """The rfft (2, n_samples // 2 + 1) complex64 of stationary_binaural_noise (the same draws): for callers
    that combine it with other spectra before one inverse FFT."""
    bins = n_samples // 2 + 1
    gains, g = _fine_spectra(n_samples, fs, np.asarray(power, np.float64), np.asarray(coherence, np.float64))
    z = centred_uniform(rng, (2, bins, 2))
    z = z.view(np.complex64)[..., 0]  # unit-variance uniform parts (see binaural_diffuse_noises)
    z *= np.float32(np.sqrt(12.0 * n_samples / 2.0))
    z[:, 0] = z[:, 0].real * np.float32(np.sqrt(2.0))
    if n_samples % 2 == 0:
        z[:, -1] = z[:, -1].real * np.float32(np.sqrt(2.0))
    right = g * z[0]
    right += np.sqrt(np.maximum(1 - g**2, 0.0)) * z[1]
    z[1] = right
    z *= gains
    return z


_FINE: dict[tuple, tuple[np.ndarray, np.ndarray]] = {}


def _fine_spectra(n_samples: int, fs: int, power: np.ndarray, coherence: np.ndarray):
    """Gains (2, bins) and coherence (bins,) on the rfft grid of n_samples, float32; cached."""
    key = (n_samples, fs, power.tobytes(), coherence.tobytes())
    if key not in _FINE:
        if len(_FINE) > 8:
            _FINE.clear()
        f = np.fft.rfftfreq(n_samples, 1.0 / fs)
        grid = stft_freqs(fs)
        gains = np.sqrt(np.stack([np.interp(f, grid, p) for p in power])).astype(np.float32)
        _FINE[key] = gains, np.interp(f, grid, coherence).astype(np.float32)
    return _FINE[key]


def stft_freqs(fs: int) -> np.ndarray:
    return np.fft.rfftfreq(STFT_LEN, 1.0 / fs)
