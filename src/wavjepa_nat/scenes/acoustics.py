"""Acoustic measurements on impulse responses: T30 (broadband and T_mid), DRR, ITD, ILD.

T30 follows ISO 3382: a least-squares line through the Schroeder energy decay curve
between -5 and -35 dB, extrapolated to 60 dB. Unlike a two-point reading, the regression
is not biased by a strong direct sound, whose energy drop is a single step.
"""

from __future__ import annotations

import numpy as np
from scipy.signal import butter, sosfiltfilt


def schroeder_edc(h: np.ndarray) -> np.ndarray:
    """Backward-integrated energy, last axis."""
    energy = np.square(h, dtype=np.float64)
    return np.flip(np.cumsum(np.flip(energy, -1), axis=-1), -1)


def t30_from_edc(edc: np.ndarray, fs: float, lo_db: float = -5.0, hi_db: float = -35.0) -> float:
    edc_db = 10 * np.log10(np.maximum(edc, 1e-30) / max(edc[0], 1e-30))
    sel = np.nonzero((edc_db <= lo_db) & (edc_db >= hi_db))[0]
    if len(sel) < 3:
        return float("nan")
    t = sel / fs
    slope = np.polyfit(t, edc_db[sel], 1)[0]  # dB per second
    return float(-60.0 / slope) if slope < 0 else float("nan")


def measure_t30(h: np.ndarray, fs: float) -> np.ndarray:
    """T30 (s) of each row of h (..., samples)."""
    h = np.asarray(h)
    flat = h.reshape(-1, h.shape[-1])
    return np.array([t30_from_edc(schroeder_edc(row), fs) for row in flat]).reshape(h.shape[:-1])


def octave_filter(h: np.ndarray, fs: float, center: float) -> np.ndarray:
    """Zero-phase octave band (order-3 Butterworth per side) around `center`, last axis."""
    lo, hi = center / np.sqrt(2), min(center * np.sqrt(2), 0.49 * fs)
    return _bandpass(h, fs, lo, hi, order=3)


def measure_rt60_mid(h: np.ndarray, fs: float) -> np.ndarray:
    """T_mid: the mean T30 of the 500 Hz and 1 kHz octave bands, per row of h (..., samples)."""
    return 0.5 * (measure_t30(octave_filter(h, fs, 500.0), fs) + measure_t30(octave_filter(h, fs, 1000.0), fs))


def direct_window(fs: float, direct_delay_s: float, before_s: float = 0.001, after_s: float = 0.0025) -> slice:
    """Samples around the direct-path arrival at the head centre (ear delays are within +-0.7 ms)."""
    start = max(int(np.floor((direct_delay_s - before_s) * fs)), 0)
    return slice(start, int(np.ceil((direct_delay_s + after_s) * fs)))


def drr_db(h: np.ndarray, fs: float, direct_delay_s: float) -> np.ndarray:
    """Direct-to-reverberant ratio (dB) of each row of h (..., samples)."""
    window = direct_window(fs, direct_delay_s)
    energy = np.square(h, dtype=np.float64)
    direct = energy[..., window].sum(-1)
    rest = energy.sum(-1) - direct
    return 10 * np.log10(np.maximum(direct, 1e-30) / np.maximum(rest, 1e-30))


def _bandpass(x: np.ndarray, fs: float, lo: float | None, hi: float | None, order: int = 4) -> np.ndarray:
    if lo and hi:
        sos = butter(order, [lo, hi], btype="bandpass", fs=fs, output="sos")
    elif lo:
        sos = butter(order, lo, btype="highpass", fs=fs, output="sos")
    else:
        sos = butter(order, hi, btype="lowpass", fs=fs, output="sos")
    return sosfiltfilt(sos, x, axis=-1)


def itd_seconds(brir: np.ndarray, fs: float, direct_delay_s: float, max_itd_s: float = 0.001) -> float:
    """Interaural time difference of the direct sound, right-ear arrival minus left-ear arrival.

    Positive when the left ear hears first (a source on the left). Cross-correlation of the
    low-passed (< 1.5 kHz) direct window, with a parabolic fit for sub-sample precision.
    """
    window = direct_window(fs, direct_delay_s, 0.0015, 0.0025)
    seg = _bandpass(brir, fs, None, 1500.0)[:, window]
    left, right = seg[0], seg[1]
    max_lag = int(np.ceil(max_itd_s * fs))
    lags = np.arange(-max_lag, max_lag + 1)
    xcorr = np.array([np.dot(left[max(0, -k): len(left) - max(0, k)], right[max(0, k): len(right) - max(0, -k)])
                      for k in lags])
    i = int(np.argmax(xcorr))
    shift = 0.0
    if 0 < i < len(lags) - 1:
        a, b, c = xcorr[i - 1], xcorr[i], xcorr[i + 1]
        denom = a - 2 * b + c
        shift = 0.5 * (a - c) / denom if denom != 0 else 0.0
    return float((lags[i] + shift) / fs)


def ild_db(brir: np.ndarray, fs: float, direct_delay_s: float, band=(3000.0, 7000.0)) -> float:
    """Left-minus-right level (dB) of the direct sound in a band; positive for a source on the left."""
    window = direct_window(fs, direct_delay_s, 0.0015, 0.0025)
    hi = min(band[1], 0.45 * fs)
    seg = _bandpass(brir, fs, band[0], hi)[:, window]
    energy = np.sum(seg**2, axis=-1)
    return float(10 * np.log10(max(energy[0], 1e-30) / max(energy[1], 1e-30)))
