"""Signal primitives every stage shares: resampling, levels, powers, convolution, SNR mixing, instance
normalisation and the seeded per-clip random generator. numpy/scipy only (no torch), so that the CLI and
the simulation import it cheaply; the batched torch versions of the same arithmetic are in
data/render/batch.py and data/augment_torch.py and are tested against these.
"""

from __future__ import annotations

import math
import sys
import warnings
from fractions import Fraction

import numpy as np
import scipy.fft as sfft
from scipy.signal import resample_poly

SILENT_POWER = 1e-60  # mean power at or below this counts as silence (float32 subnormals squared)

# ---------------------------------------------------------------- randomness


def clip_rng(seed: int, *stream: int) -> np.random.Generator:
    """An independent, reproducible generator for (base seed, worker, epoch, clip counter, ...)."""
    return np.random.default_rng(np.random.SeedSequence([int(seed) & 0xFFFFFFFF, *[int(s) for s in stream]]))


def centred_uniform(rng: np.random.Generator, shape) -> np.ndarray:
    """float32 array of independent values uniform on 65536 levels symmetric about 0 in (-0.5, 0.5): mean 0,
    variance 1/12 (to 2^-32). 16 bits per value straight from the generator's raw 64-bit words, ~3x cheaper
    than rng.random; for noise made by sums of many draws (a spectrum's bins), where only the first two
    moments matter."""
    shape = tuple(np.atleast_1d(shape).tolist())
    size = int(np.prod(shape))
    words = rng.bit_generator.random_raw(-(-size // 4))
    z = np.ascontiguousarray(words).view(np.int16)[:size].astype(np.float32)
    z += np.float32(0.5)
    z *= np.float32(2.0**-16)
    return z.reshape(shape)


# ---------------------------------------------------------------- resampling and levels


def resample(x: np.ndarray, fs_in: int, fs_out: int, axis: int = -1) -> np.ndarray:
    """Polyphase resampling (Kaiser-windowed FIR), exact rational ratio."""
    if fs_in == fs_out:
        return x
    ratio = Fraction(int(fs_out), int(fs_in))
    return resample_poly(x, ratio.numerator, ratio.denominator, axis=axis).astype(np.float32)


def rms_db(x: np.ndarray) -> float:
    """RMS level in dB re full scale (a sine of amplitude 1 is -3 dBFS), over all channels."""
    power = float(np.mean(np.square(x, dtype=np.float64)))
    return 10.0 * np.log10(max(power, 1e-20))


def set_rms_db(x: np.ndarray, target_db: float) -> np.ndarray:
    """Scale x (all channels jointly, so interaural level differences survive) to an RMS level."""
    gain = 10.0 ** ((target_db - rms_db(x)) / 20.0)
    return (x * gain).astype(np.float32)


def to_float32(x: np.ndarray) -> np.ndarray:
    """float16 -> float32. numpy converts element by element (~1.7 ns each here); torch's vectorised
    conversion is ~4x faster, so it is used when torch is already imported (training processes), never
    imported for it."""
    torch = sys.modules.get("torch")
    if torch is not None and x.dtype == np.float16 and x.size > 4096:
        with warnings.catch_warnings():  # a read-only view of the mapped file: torch only reads it
            warnings.simplefilter("ignore", UserWarning)
            return torch.from_numpy(np.ascontiguousarray(x)).float().numpy()
    return np.asarray(x, np.float32)


# ---------------------------------------------------------------- powers and normalisation

_CHUNK = 1024  # float32 partial sums over at most this many samples, combined in float64


def _row_moments(flat: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Sum and sum of squares of each row of a float32 (n, m) array, as float64.

    float32 partial sums over chunks of <= 1024 samples (relative error ~1e-7, at worst 1024 * 2^-24 = 6e-5),
    added up in float64: as accurate as float64 accumulation for our purpose, ~4x cheaper (no cast pass).
    """
    n, m = flat.shape
    if flat.dtype != np.float32:
        return flat.sum(axis=-1, dtype=np.float64), row_sumsq(flat)
    q = m - m % _CHUNK
    s = np.einsum("ijk->ij", flat[:, :q].reshape(n, -1, _CHUNK)).sum(axis=-1, dtype=np.float64)  # ~4x .sum
    if q < m:
        s += flat[:, q:].sum(axis=-1, dtype=np.float64)
    return s, row_sumsq(flat)


def row_sumsq(flat: np.ndarray) -> np.ndarray:
    """Sum of squares of each row of a float32 (n, m) array, as float64, accumulated as _row_moments says
    (on its own where the sums are not needed, e.g. for signal powers)."""
    n, m = flat.shape
    if flat.dtype != np.float32:
        return np.einsum("ij,ij->i", flat, flat, dtype=np.float64)
    q = m - m % _CHUNK
    head = flat[:, :q].reshape(n, -1, _CHUNK)
    ss = np.einsum("ijk,ijk->ij", head, head).sum(axis=-1, dtype=np.float64)
    if q < m:
        tail = flat[:, q:]
        ss += np.einsum("ij,ij->i", tail, tail, dtype=np.float64)
    return ss


def instance_norm(crops: np.ndarray, eps: float = 1e-12, out: np.ndarray | None = None) -> np.ndarray:
    """Zero mean, unit variance per crop, jointly over (channels, time): interaural differences survive.

    Statistics from one pass (sum and sum of squares, see _row_moments), then one scaled pass into `out`
    (a new array by default; out=crops normalises in place). The result has the dtype of the crops.
    """
    crops = np.asarray(crops)
    if not np.issubdtype(crops.dtype, np.floating):
        crops = crops.astype(np.float32)
    n = len(crops)
    flat = crops.reshape(n, -1)
    s, ss = _row_moments(flat)
    size = max(flat.shape[1], 1)
    mean = s / size
    scale = 1.0 / np.sqrt(np.maximum(ss / size - mean * mean, 0.0) + eps)
    dst = np.empty_like(flat) if out is None else out.reshape(n, -1)
    np.multiply(flat, scale.astype(flat.dtype)[:, None], out=dst)
    dst -= (mean * scale).astype(flat.dtype)[:, None]
    return dst.reshape(crops.shape)


def mean_power(x: np.ndarray) -> float:
    """Mean square over all channels jointly; exact for very quiet / loud audio.

    float32 partial sums over chunks of <= 1024 samples combined in float64 (no float64 copy of the audio);
    outside [1e-30, 1e30], where float32 squares could underflow or overflow, it is recomputed in float64.
    """
    flat = np.ravel(x)
    if flat.size == 0:
        return 0.0
    if flat.dtype == np.float32:
        p = float(row_sumsq(flat[None])[0]) / flat.size
        if 1e-30 < p < 1e30:
            return p
    flat = flat.astype(np.float64)
    # einsum, not np.dot: BLAS ddot starts its thread pool for one dot product (slow for one product).
    return float(np.einsum("i,i->", flat, flat) / flat.size)


# ---------------------------------------------------------------- convolution and mixing

_SMOOTH = (1, 3, 5, 9, 15, 25, 27, 45, 75, 81, 125, 135)


def fft_len(n: int) -> int:
    """Smallest m * 2^k >= n with a small odd m: FFT sizes dominated by powers of two, which pocketfft and
    cuFFT run fastest (scipy's next_fast_len may pick e.g. 3^11, ~25 % slower here)."""
    best = None
    for m in _SMOOTH:
        c = m << max(0, math.ceil(math.log2(max(n, 1) / m)))
        while c % 2 == 0 and c // 2 >= n:
            c //= 2
        best = c if best is None else min(best, c)
    return best


def trim_tail(h: np.ndarray, rel_energy: float = 1e-15) -> np.ndarray:
    """Drop the trailing samples of h (C, L) that hold less than rel_energy (-150 dB) of its energy.

    Banks store BRIRs at one fixed length, so short-RT60 scenes end in long runs of (near) zeros; their
    contribution is below float32 resolution of the output, and skipping them shortens the convolution.
    """
    energy = np.einsum("ij,ij->j", h, h, dtype=np.float64) if h.ndim == 2 else np.square(h, dtype=np.float64)
    n = len(energy)
    total = float(energy.sum()) if n else 0.0
    if total == 0.0:
        return h[..., :1]
    limit = rel_energy * total
    # Count the trailing samples whose energy from there to the end is <= limit: first per block of 64
    # samples (a cumsum over all L samples costs 3x more), then within the block where the limit is passed.
    rev = energy[::-1]
    q = n - n % 64
    blocks = np.cumsum(np.append(rev[:q].reshape(-1, 64).sum(axis=1), rev[q:].sum()))
    j = int(np.searchsorted(blocks, limit, side="right"))
    if j == len(blocks):
        return h[..., :1]
    inner = np.cumsum(rev[64 * j : 64 * j + 64]) + (blocks[j - 1] if j else 0.0)
    drop = 64 * j + int(np.searchsorted(inner, limit, side="right"))
    return h[..., : max(n - drop, 1)]


def loop_segment(x: np.ndarray, u: float, length: int) -> np.ndarray:
    """A segment of `length` samples from x (..., N) starting at fraction u; x is looped if N < length."""
    n = x.shape[-1]
    if n == 0:
        return np.zeros(x.shape[:-1] + (length,), np.float32)
    if n >= length:
        start = min(int(u * (n - length + 1)), n - length)
        return x[..., start : start + length]
    start = min(int(u * n), n - 1)
    return np.take(x, (start + np.arange(length)) % n, axis=-1)


_LANES = 4  # float32 FFTs that pocketfft (scipy's SSE build) runs side by side in SIMD lanes


def _row_cost(n: int) -> float:
    """Relative cost per sample of one float32 real FFT of size n run in a group of _LANES rows (a fit to
    pocketfft timings, benchmarks/bench_augment.py): flat, then rising as transforms outgrow the caches.
    Only the ratios matter: it ranks block sizes in _plan_blocks."""
    return 1.45 + 0.15 * max(0.0, math.log2(n) - 14.5)


def _padded_rows(rows: int) -> int:
    """Rows to transform in one call: pocketfft runs rows in SIMD groups of _LANES and leftovers one by one at
    ~2.3x the time per row, so 2 or 3 leftover rows cost more than a full group: zero rows fill it up."""
    groups, rest = divmod(rows, _LANES)
    return rows if rest <= 1 else (groups + 1) * _LANES


def _batch_cost(rows: int, n: int) -> float:
    groups, rest = divmod(rows, _LANES)
    return n * _row_cost(n) * (groups * _LANES + min(2.3 * rest, _LANES))


def _block_starts(spans: list[tuple[int, int]], step: int) -> list[int]:
    """Output positions where overlap-save blocks of `step` output samples start, so that they cover the
    spans: a block that ends inside a gap still serves the next span if that begins before the block ends."""
    starts: list[int] = []
    end = -1
    for a, b in spans:
        p = max(a, end)
        while p < b:
            starts.append(p)
            p += step
        end = max(end, p)
    return starts


def _plan_blocks(length: int, spans: list[tuple[int, int]], channels: int) -> tuple[int, list[int]]:
    """The overlap-save FFT size with the least modelled time, and its block starts. Per block one forward
    transform and `channels` inverse ones, plus `channels` transforms of the filter in the forward batch;
    rows are counted in SIMD groups (_batch_cost), and the spectra products (~0.26 ns per bin) add up too."""
    top = fft_len(spans[-1][1] - spans[0][0] + length - 1)  # one block covers every span
    sizes = {top} | {m << k for m in (1, 3, 5) for k in range(6, 20) if 2 * length <= (m << k) < top}
    best, best_cost = top, math.inf
    for size in sorted(sizes):
        k = len(_block_starts(spans, size - length + 1))
        cost = _batch_cost(channels + k, size) + _batch_cost(channels * k, size) + 0.13 * channels * k * size
        if cost < best_cost:
            best, best_cost = size, cost
    return best, _block_starts(spans, best - length + 1)


def convolve_spans(
    x: np.ndarray, h: np.ndarray, spans: np.ndarray, delay: int = 0, trim: bool = True
) -> np.ndarray:
    """Samples [delay + a, delay + b) of the linear convolution of a mono x (S,) with h (C, L), for each span
    (a, b), concatenated along time: (C, sum of b - a) float32.

    Overlap-save: only the blocks that the spans need are transformed; each block spectrum of x serves every
    channel of h (both ears), and the filter is transformed in the same batch as the blocks. Equal to the full
    convolution on those samples (fp32 FFT rounding aside). trim=False: h is already trimmed (trim_tail).
    """
    x = np.asarray(x, np.float32)
    s = x.shape[-1]
    h = np.asarray(h, np.float32)
    mono = h.ndim == 1
    h = h[None] if mono else h
    if trim:
        h = trim_tail(h)
    channels, length = h.shape
    spans = [(int(a), int(b)) for a, b in np.asarray(spans, np.int64).reshape(-1, 2) if b > a]
    if not spans:
        out = np.zeros((channels, 0), np.float32)
        return out[0] if mono else out
    block, starts = _plan_blocks(length, spans, channels)
    step, k = block - length + 1, len(starts)
    # One forward batch: the filter's channels, then the blocks of x, then zero rows up to a SIMD group.
    rows = np.empty((_padded_rows(channels + k), block), np.float32)
    rows[:channels, :length] = h
    rows[:channels, length:] = 0.0
    rows[channels + k :] = 0.0
    for j, start in enumerate(starts):
        first = delay + start - (length - 1)  # input sample under the block's first slot
        lo, hi = min(max(first, 0), s), max(min(first + block, s), 0)
        row = rows[channels + j]
        row[: max(lo - first, 0)] = 0.0
        if hi > lo:
            row[lo - first : hi - first] = x[lo:hi]
        row[max(hi - first, 0) :] = 0.0
    spec = sfft.rfft(rows, axis=-1, workers=1)  # (R, F)
    prod = np.empty((_padded_rows(channels * k), spec.shape[-1]), spec.dtype)
    np.multiply(
        spec[:channels, None],
        spec[None, channels : channels + k],
        out=prod[: channels * k].reshape(channels, k, -1),
    )
    prod[channels * k :] = 0.0
    y = sfft.irfft(prod, block, axis=-1, workers=1, overwrite_x=True)[: channels * k].reshape(
        channels, k, block
    )
    # The first length-1 samples of each circular block are wrapped; the rest is the linear convolution.
    out = np.empty((channels, sum(b - a for a, b in spans)), np.float32)
    pos = j = 0
    for a, b in spans:
        t = a
        while t < b:
            while starts[j] + step <= t:
                j += 1
            m = min(b, starts[j] + step) - t
            first = length - 1 + t - starts[j]
            out[:, pos : pos + m] = y[:, j, first : first + m]
            t, pos = t + m, pos + m
    return out[0] if mono else out


def convolve(x: np.ndarray, h: np.ndarray, delay: int = 0) -> np.ndarray:
    """Linear convolution of a mono x (S,) with h (C, L): samples [delay, delay + S) of the result,
    float32."""
    return convolve_spans(x, h, np.array([[0, np.shape(x)[-1]]]), delay)


def snr_gain(p_signal: float, p_noise: float, snr_db: float) -> float:
    """Gain for the noise so that 10 log10(p_signal / (gain^2 p_noise)) == snr_db; 0 if either is silent."""
    if not (p_signal > SILENT_POWER and p_noise > SILENT_POWER):
        return 0.0
    return float(np.sqrt(p_signal / (p_noise * 10.0 ** (snr_db / 10.0))))


def mix_at_snr(wet: np.ndarray, noise: np.ndarray, snr_db: float) -> np.ndarray:
    """wet + noise scaled to the requested SNR (powers over both ears jointly)."""
    gain = snr_gain(mean_power(wet), mean_power(noise), snr_db)
    if gain == 0.0:
        return wet.astype(np.float32, copy=True)
    if 1e-30 < gain < 1e30:
        out = np.multiply(noise, np.float32(gain), dtype=np.float32)
        out += wet
        return out
    # float32 would overflow
    return (wet.astype(np.float64) + noise.astype(np.float64) * gain).astype(np.float32)


def hz_to_mel(f: np.ndarray | float) -> np.ndarray:
    """HTK mel scale: 2595 log10(1 + f / 700)."""
    return 2595.0 * np.log10(1.0 + np.asarray(f, dtype=np.float64) / 700.0)


def mel_to_hz(m: np.ndarray | float) -> np.ndarray:
    return 700.0 * (10.0 ** (np.asarray(m, dtype=np.float64) / 2595.0) - 1.0)


def mel_filterbank(
    n_mels: int, n_fft: int, sample_rate: int, fmin: float = 0.0, fmax: float | None = None
) -> np.ndarray:
    """Triangular filters (n_mels, n_fft // 2 + 1) float32, peak 1, centres equally spaced in HTK mel.

    Each triangle is linear in Hz between its neighbours' centres, so neighbouring filters sum to
    exactly 1 between the first and the last centre. The log-mel and GCC-PHAT + ILD baselines and the
    encoder's interaural path all use it.
    """
    fmax = sample_rate / 2.0 if fmax is None else fmax
    edges_hz = mel_to_hz(np.linspace(hz_to_mel(fmin), hz_to_mel(fmax), n_mels + 2))
    bins_hz = np.arange(n_fft // 2 + 1) * sample_rate / n_fft
    lo, centre, hi = edges_hz[:-2, None], edges_hz[1:-1, None], edges_hz[2:, None]
    rising = (bins_hz - lo) / (centre - lo)
    falling = (hi - bins_hz) / (hi - centre)
    return np.maximum(0.0, np.minimum(rising, falling)).astype(np.float32)
