"""Binaural diffuse noise: two ear signals with a given spectrum and interaural coherence.

Used twice: for the late reverberation tail (with a per-frequency exponential decay) and for
the diffuse part of the noise beds (stationary). Two independent white noises are mixed in
the STFT domain, per bin: left = Z1, right = g Z1 + sqrt(1 - g^2) Z2, where g is the
diffuse-field coherence of the head. Starting from time-domain white noise keeps the output
level exact: a bin gain G gives a per-sample power equal to the mean of G^2.
"""

from __future__ import annotations

import numpy as np
from scipy.signal import istft, stft

STFT_LEN = 256


def binaural_diffuse_noise(rng: np.random.Generator, n_samples: int, fs: int, power: np.ndarray,
                           coherence: np.ndarray, rt60: np.ndarray | None = None) -> np.ndarray:
    """(2, n_samples) float64.

    power: (2, STFT_LEN // 2 + 1) per-ear power spectrum (per-sample power of white noise = 1);
    coherence: (STFT_LEN // 2 + 1,) interaural coherence; rt60: optional per-bin decay time (s),
    which makes the amplitude fall by 60 dB over rt60 seconds from t = 0.
    """
    hop = STFT_LEN // 2
    noise = rng.standard_normal((2, n_samples)).astype(np.float32)
    _, times, z = stft(noise, fs=fs, nperseg=STFT_LEN, noverlap=hop, boundary="even")
    g = coherence[:, None]
    mixed = np.stack([z[0], g * z[0] + np.sqrt(np.maximum(1 - g**2, 0.0)) * z[1]])
    gains = np.sqrt(power)[:, :, None]
    if rt60 is not None:
        gains = gains * np.exp(-6.9078 * times[None, None, :] / rt60[None, :, None])
    _, out = istft(mixed * gains, fs=fs, nperseg=STFT_LEN, noverlap=hop)
    return out[:, :n_samples]


def stft_freqs(fs: int) -> np.ndarray:
    return np.fft.rfftfreq(STFT_LEN, 1.0 / fs)
