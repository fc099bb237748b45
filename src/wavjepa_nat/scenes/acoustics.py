"""Acoustic measurements on impulse responses: T30 (broadband, per octave band, T_mid), EDT, C50, DRR,
ITD, ILD.

T30 follows ISO 3382: a least-squares line through the Schroeder energy decay curve
between -5 and -35 dB, extrapolated to 60 dB. Unlike a two-point reading, the regression
is not biased by a strong direct sound, whose energy drop is a single step. EDT is the same
line through 0 .. -10 dB (times 6); C50 the early (first 50 ms after the direct sound) to late
energy ratio. Octave bands are zero-phase order-3 Butterworth band-passes (upper edge at most 0.49 fs),
applied as their squared magnitude in the frequency domain (what a forward-backward filter
does, without its edge padding), the low bands at a reduced rate.
"""

from __future__ import annotations

from bisect import bisect_left, bisect_right
from functools import lru_cache

import numpy as np
import scipy.fft as sfft
from scipy.signal import butter, sosfiltfilt, sosfreqz

from wavjepa_nat.dsp import fft_len, trim_tail

OCTAVE_CENTERS = (125.0, 250.0, 500.0, 1000.0, 2000.0, 4000.0, 8000.0)  # the bank's bands (absorption too)


def band_available(center: float, fs: float) -> bool:
    """An octave band is measured when its upper edge is below 0.49 fs (at 16 kHz: 125 Hz .. 4 kHz)."""
    return center * np.sqrt(2) < 0.49 * fs


def schroeder_edc(h: np.ndarray) -> np.ndarray:
    """Backward-integrated energy, last axis."""
    energy = np.square(h, dtype=np.float64)
    return np.flip(np.cumsum(np.flip(energy, -1), axis=-1), -1)


def _negative(value: float) -> float:
    return -value


def decay_fit(edc: np.ndarray, dt: float, lo_db: float, hi_db: float) -> np.ndarray:
    """-60 dB / (least-squares slope of the EDC in dB between lo_db and hi_db re its start), per row of
    edc (..., n) sampled every dt seconds; NaN with fewer than 3 points or a slope that is not negative."""
    edc = np.asarray(edc, np.float64)
    shape = edc.shape[:-1]
    edc = edc.reshape(-1, edc.shape[-1])
    start = np.maximum(edc[:, :1], 1e-30)
    # The EDC falls monotonically, so the selected samples are one run [i0, i1) per row: found on the linear
    # curve, and only that run goes through the logarithm.
    # Both ends by bisection on that falling curve (a binary search per row, not a pass over it).
    lo, hi = start[:, 0] * 10 ** (lo_db / 10), start[:, 0] * 10 ** (hi_db / 10)
    i0 = np.array([bisect_left(row, -v, key=_negative) for row, v in zip(edc, lo)], np.int64)  # # > lo
    i1 = np.array([bisect_right(row, -v, key=_negative) for row, v in zip(edc, hi)], np.int64)  # # >= hi
    out = np.full(len(edc), np.nan)
    runs = np.maximum(i1 - i0, 0)
    fit = runs >= 3
    if np.any(fit):  # all rows' runs at once: (rows, longest run), masked past each row's own run
        j = np.arange(int(runs[fit].max()))
        inside = j < runs[fit, None]
        idx = np.minimum(i0[fit, None] + j, edc.shape[-1] - 1)
        values = np.take_along_axis(edc[fit], idx, axis=-1)
        y = 10 * np.log10(np.maximum(values, 1e-30) / start[fit])
        k = np.where(inside, j - (runs[fit, None] - 1) / 2.0, 0.0)  # centred on each run's middle
        slope = np.einsum("rj,rj->r", k, y) / np.einsum("rj,rj->r", k, k) / dt  # dB per second
        with np.errstate(divide="ignore"):
            out[fit] = np.where(slope < 0, -60.0 / slope, np.nan)
    return out.reshape(shape)


def measure_t30(h: np.ndarray, fs: float) -> np.ndarray:
    """T30 (s) of each row of h (..., samples)."""
    h = np.asarray(h)
    return decay_fit(schroeder_edc(h), 1.0 / fs, -5.0, -35.0)


def measure_c50(h: np.ndarray, fs: float, direct_delay_s: float) -> np.ndarray:
    """Clarity C50 (dB): energy of the samples before direct_delay_s + 50 ms over the rest, per row."""
    energy = np.square(h, dtype=np.float64)
    split = int(np.ceil((direct_delay_s + 0.05) * fs))  # the first sample at or after the boundary
    early, late = energy[..., :split].sum(-1), energy[..., split:].sum(-1)
    return 10 * np.log10(np.maximum(early, 1e-30) / np.maximum(late, 1e-30))


@lru_cache(maxsize=64)
def _band_power_response(n_fft: int, fs: float, center: float) -> np.ndarray:
    """|H(f)|^2 of the octave band's order-3 Butterworth band-pass on the rfft grid of n_fft (float32)."""
    lo, hi = center / np.sqrt(2), min(center * np.sqrt(2), 0.49 * fs)
    sos = butter(3, [lo, hi], btype="bandpass", fs=fs, output="sos")
    _, resp = sosfreqz(sos, worN=np.fft.rfftfreq(n_fft, 1.0 / fs), fs=fs)
    return (np.abs(resp) ** 2).astype(np.float32)


def band_decimation(center: float, fs: float, n_fft: int) -> int:
    """The largest power of two D dividing n_fft with fs / 2D >= 8 x centre: a band is computed at fs / D.
    Beyond three octaves above the centre its squared response is below -90 dB."""
    d = 1
    while n_fft % (2 * d) == 0 and fs / (4 * d) >= 8 * center:
        d *= 2
    return d


def octave_edcs(h: np.ndarray, fs: float, centers=OCTAVE_CENTERS) -> list[tuple[np.ndarray, float] | None]:
    """Schroeder EDC of each row of h (..., samples) in each octave band, with its sample spacing (s);
    None for bands that the rate does not allow. One forward FFT, then one (decimated) inverse FFT a band."""
    h = np.asarray(h, np.float32)
    n = h.shape[-1]
    n_fft = fft_len(n + int(0.1 * fs))  # room for the zero-phase filters' ringing on both sides
    spec = sfft.rfft(h, n_fft, axis=-1, workers=1)
    out: list[tuple[np.ndarray, float] | None] = []
    for center in centers:
        if not band_available(center, fs):
            out.append(None)
            continue
        d = band_decimation(center, fs, n_fft)
        m = n_fft // d
        band = spec[..., : m // 2 + 1] * _band_power_response(n_fft, fs, center)[: m // 2 + 1]
        y = sfft.irfft(band, m, axis=-1, workers=1)[..., : -(-n // d)]
        out.append((schroeder_edc(y), d / fs))
    return out


def measure_band_t30(h: np.ndarray, fs: float, centers=OCTAVE_CENTERS) -> np.ndarray:
    """T30 (s) per octave band (..., bands) of h (..., samples); NaN where the rate does not allow a band."""
    h = np.asarray(h)
    out = np.full(h.shape[:-1] + (len(centers),), np.nan)
    for b, edc in enumerate(octave_edcs(h, fs, centers)):
        if edc is not None:
            out[..., b] = decay_fit(edc[0], edc[1], -5.0, -35.0)
    return out


def measure_rt60_mid(h: np.ndarray, fs: float) -> np.ndarray:
    """T_mid: the mean T30 of the 500 Hz and 1 kHz octave bands, per row of h (..., samples)."""
    return np.mean(measure_band_t30(h, fs, (500.0, 1000.0)), axis=-1)


def measure_response(h: np.ndarray, fs: float, direct_delay_s: float) -> dict[str, np.ndarray]:
    """Everything the bank stores about a response (2, L), per ear: T30 per octave band, T_mid, broadband T30,
    EDT, C50, DRR. The response is first cut where its remaining energy is below float32 resolution."""
    h = trim_tail(np.asarray(h, np.float32))
    bands = measure_band_t30(h, fs)
    mid = [OCTAVE_CENTERS.index(500.0), OCTAVE_CENTERS.index(1000.0)]
    edc = schroeder_edc(h)
    return {
        "t30_band": bands,
        "rt60_measured": np.mean(bands[:, mid], axis=-1),
        "rt60_broadband": decay_fit(edc, 1.0 / fs, -5.0, -35.0),
        "edt": decay_fit(edc, 1.0 / fs, 0.0, -10.0),
        "c50_db": measure_c50(h, fs, direct_delay_s),
        "drr_db": drr_db(h, fs, direct_delay_s),
    }


def direct_window(
    fs: float, direct_delay_s: float, before_s: float = 0.001, after_s: float = 0.0025
) -> slice:
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
    xcorr = np.array(
        [
            np.dot(left[max(0, -k) : len(left) - max(0, k)], right[max(0, k) : len(right) - max(0, -k)])
            for k in lags
        ]
    )
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
