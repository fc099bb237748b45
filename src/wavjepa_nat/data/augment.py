"""Naturalistic augmentation on the CPU: a dry clip + one scene of the RIR bank -> binaural training crops.

Per clip (never per batch): with probability `clean_ratio` the clip stays dry (duplicated to both ears);
otherwise it is convolved with the source BRIR of a random scene, shifted earlier by the scene's direct-path
delay (so crops line up with the dry clip; both ears shift equally, so the ITD survives), and binaural noise
of the same scene is added at an SNR drawn uniformly from `snr_db`. Then `n_crops` random crops are cut
(same offsets for both ears) and each crop is instance-normalised jointly over (channels, time), which keeps
the interaural time and level differences.

Randomness and arithmetic are split on purpose:
    draw_scene_params(rng, ...) -> ClipDraws        every random decision, on the CPU
    gather_scenes(bank, draws, ...) -> SceneInputs  reads BRIRs / noise for those decisions
    augment_clip(...) / augment_torch(...)          pure arithmetic on arrays
so the numpy path here and the batched torch path in augment_torch.py consume the SAME draws.

SNR = 10 log10(P_signal / P_noise), powers over both ears jointly, of the reverberant signal (after delay
compensation) and of the scaled noise, measured over the samples the clip's crops cover (the union of the crop
spans): the samples the model sees. render_wet (no crops) measures over the whole clip. Training therefore
computes the wet signal only on the crop spans (~78 % of a 10 s clip for 8 crops of 2.01 s), exactly: the same
samples as the full convolution.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import scipy.fft as sfft

from wavjepa_nat.data.crops import _row_sumsq, instance_norm, take_crops
from wavjepa_nat.errors import InputError

NOISE_MODES = ("bed", "sources")
SILENT_POWER = 1e-60  # mean power at or below this counts as silence (float32 subnormals squared)


@dataclass
class AugmentConfig:
    clean_ratio: float = 0.0  # probability that a clip stays dry (drawn per clip)
    snr_db: tuple[float, float] = (5.0, 40.0)  # SNR drawn uniformly in [lo, hi]
    channels: int = 2  # 2: binaural (WavJEPA-Nat); 1: mono, the ears averaged (WavJEPA)
    compensate_direct_delay: bool = True  # shift the wet signal earlier by the direct-path delay
    n_crops: int = 8  # random crops per clip
    crop_samples: int = 32160  # 2.01 s at 16 kHz = 200 encoder frames
    split: str | None = "train"  # bank split the scenes come from (None: all)
    noise: str = "bed"  # "bed": the scene's pre-rendered noise bed; "sources": noise_paths via noise BRIRs
    seed: int = 0
    rt60: tuple[float, float] | None = None  # keep only scenes whose RT60 lies in [lo, hi] s
    noise_paths: tuple[str, ...] = ()  # the user's noise recordings (noise="sources")
    norm_eps: float = 1e-12  # added to the variance in instance normalisation (silence -> zeros, no NaN)
    # BRIRs end where their remaining energy (both ears) falls below this, re their total (Schroeder); None:
    # as stored. -80 dB: the error energy is 1e-8 of the wet signal for broadband input, 40 dB under the
    # quietest noise (SNR <= 40 dB), and convolutions of short-RT60 scenes get ~30 % shorter.
    brir_tail_db: float | None = -80.0

    def __post_init__(self) -> None:
        self.snr_db = tuple(float(v) for v in self.snr_db)  # JSON round trips give lists
        if self.rt60 is not None:
            self.rt60 = tuple(float(v) for v in self.rt60)
        self.noise_paths = tuple(str(p) for p in self.noise_paths)
        if not 0.0 <= self.clean_ratio <= 1.0:
            raise InputError(f"clean_ratio must lie in [0, 1], got {self.clean_ratio}")
        if len(self.snr_db) != 2 or not np.all(np.isfinite(self.snr_db)) or self.snr_db[0] > self.snr_db[1]:
            raise InputError(f"snr_db must be a finite (lo, hi) with lo <= hi, got {self.snr_db}")
        if self.channels not in (1, 2):
            raise InputError(f"channels must be 1 or 2, got {self.channels}")
        if self.n_crops < 1 or self.crop_samples < 1:
            raise InputError(f"n_crops and crop_samples must be positive, got {self.n_crops}, {self.crop_samples}")
        if self.noise not in NOISE_MODES:
            raise InputError(f"noise must be one of {NOISE_MODES}, got '{self.noise}'")
        if self.brir_tail_db is not None and not (math.isfinite(self.brir_tail_db) and self.brir_tail_db < 0):
            raise InputError(f"brir_tail_db must be negative (dB re the BRIR energy) or None, got {self.brir_tail_db}")
        if self.noise == "sources" and not self.noise_paths and self.clean_ratio < 1.0:
            raise InputError("noise='sources' needs noise recordings (noise_paths)")


# ----------------------------------------------------------------------------------------------------------
# random draws


@dataclass
class ClipDraws:
    """Every random decision for n clips. Arrays have the clip as their first axis."""

    is_clean: np.ndarray  # (n,) bool
    scene: np.ndarray  # (n,) int64 bank index; -1 for clean clips
    snr_db: np.ndarray  # (n,) float64
    noise_u: np.ndarray  # (n,) float64 in [0, 1): start of the noise segment, as a fraction
    noise_rec: np.ndarray  # (n,) int64: which noise recording (noise="sources"), else 0
    crop_offsets: np.ndarray  # (n, n_crops) int64

    def __len__(self) -> int:
        return len(self.is_clean)

    def take(self, i: int | slice | np.ndarray) -> ClipDraws:
        idx = np.atleast_1d(np.arange(len(self))[i])
        return ClipDraws(**{k: v[idx] for k, v in self.__dict__.items()})


def draw_scene_params(
    rng: np.random.Generator,
    n_clips: int,
    cfg: AugmentConfig,
    scene_pool: np.ndarray,
    clip_samples: int,
    n_noise_recordings: int = 0,
) -> ClipDraws:
    """Draw the per-clip decisions. Every draw is always made, so the stream does not depend on outcomes."""
    if clip_samples < cfg.crop_samples:
        raise InputError(f"clips of {clip_samples} samples are shorter than a crop ({cfg.crop_samples})")
    scene_pool = np.asarray(scene_pool, dtype=np.int64)
    if len(scene_pool) == 0 and cfg.clean_ratio < 1.0:
        raise InputError("no scenes to draw from (empty split / RT60 range)")
    is_clean = rng.random(n_clips) < cfg.clean_ratio
    pick = rng.integers(0, max(len(scene_pool), 1), size=n_clips)
    scene = np.where(is_clean, -1, scene_pool[pick] if len(scene_pool) else -1).astype(np.int64)
    snr = rng.uniform(cfg.snr_db[0], cfg.snr_db[1], size=n_clips)
    noise_u = rng.random(n_clips)
    noise_rec = rng.integers(0, max(n_noise_recordings, 1), size=n_clips)
    offsets = rng.integers(0, clip_samples - cfg.crop_samples + 1, size=(n_clips, cfg.n_crops))
    return ClipDraws(is_clean, scene, snr, noise_u, noise_rec.astype(np.int64), offsets.astype(np.int64))


# ----------------------------------------------------------------------------------------------------------
# reading the scenes that the draws picked


@dataclass
class SceneInputs:
    """What the arithmetic needs for n clips. Clean clips get zero BRIRs and zero noise (both ignored)."""

    brir: np.ndarray  # (n, 2, L) float32 source BRIRs
    noise: np.ndarray  # (n, 2, S) float32 binaural noise, before SNR scaling
    delay: np.ndarray  # (n,) int64 samples to shift the wet signal earlier
    meta: list[dict[str, Any]] = field(default_factory=list)  # scene metadata (None for clean clips)
    # (n,) int64: the leading BRIR samples that count (trim_tail of the BRIR above); the rest is zero padding
    # or below float32 resolution. None: unknown, convolve_spans trims the BRIR itself.
    taps: np.ndarray | None = None


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


def brir_taps(brir: np.ndarray, tail_db: float | None) -> tuple[np.ndarray, int]:
    """A stored BRIR (2, L) -> (the BRIR gather_scenes hands on: cut at tail_db re its energy, or as stored
    for None; the samples of it that convolve_spans keeps after its own -150 dB trim)."""
    if tail_db is not None:
        brir = trim_tail(brir, 10.0 ** (tail_db / 10.0))
    return brir, trim_tail(brir).shape[-1]


def gather_scenes(
    bank,
    draws: ClipDraws,
    clip_samples: int,
    cfg: AugmentConfig,
    noise_recordings: list[np.ndarray] | None = None,
    brir_len: int | None = None,
    cut_cache: dict[int, tuple[int, int]] | None = None,
) -> SceneInputs:
    """Read the BRIRs, noise and delays of the drawn scenes from an RIRBank.

    noise="bed": a segment of the scene's noise bed. noise="sources": a segment of a noise recording
    rendered through every noise-source BRIR of the scene and summed (one recording for all sources, as in
    the reference), here on the CPU; a scene without noise sources falls back to its noise bed, so every
    wet clip gets noise at its SNR. With brir_len given, clean clips get zero BRIRs of that length, so
    per-clip inputs from different calls stack into one batch.

    cut_cache (one per process, e.g. the Augmenter's): scene -> (BRIR length after the tail_db cut, taps),
    found on the scene's first read; later reads then fetch only that head of the BRIR and skip trim_tail
    (~0.3 ms per clip). Same results with or without it.
    """
    n = len(draws)
    length = brir_len if brir_len is not None else int(getattr(bank, "brir_length", 1))
    brirs: list[np.ndarray] = [None] * n  # type: ignore[list-item]
    noises: list[np.ndarray] = [None] * n  # type: ignore[list-item]
    delay = np.zeros(n, np.int64)
    taps = np.ones(n, np.int64)
    meta: list[dict[str, Any]] = [None] * n  # type: ignore[list-item]
    for i in range(n):
        if draws.is_clean[i]:
            brirs[i], noises[i] = np.zeros((2, length), np.float32), np.zeros((2, clip_samples), np.float32)
            continue
        scene = int(draws.scene[i])
        cut = cut_cache.get(scene) if cut_cache is not None else None
        if cut is None:
            brir, n_taps = brir_taps(bank.brirs([scene])[0], cfg.brir_tail_db)  # no noise BRIRs in "bed" mode
            if cut_cache is not None:
                cut_cache[scene] = (brir.shape[-1], n_taps)
        else:
            brir, n_taps = bank.brir_head(scene, cut[0]), cut[1]
        taps[i] = min(n_taps, length)
        if brir.shape[-1] != length:  # zero-padded to a fixed length, so per-clip inputs stack into batches
            padded = np.zeros((2, length), np.float32)
            padded[:, : brir.shape[-1]] = brir[:, :length]
            brir = padded
        brirs[i] = brir
        meta[i] = bank.scene_meta(scene)
        if cfg.compensate_direct_delay:
            delay[i] = round(float(meta[i]["direct_delay_s"]) * bank.fs)
        noise_brirs = bank.noise_brirs(scene) if cfg.noise == "sources" else np.zeros((0,))
        if len(noise_brirs):
            rec = noise_recordings[int(draws.noise_rec[i])]
            segment = loop_segment(rec, draws.noise_u[i], clip_samples)
            # One recording through every noise BRIR, summed == the recording through the summed BRIR.
            noises[i] = convolve(segment, np.asarray(noise_brirs, np.float32).sum(axis=0))
        else:  # RIRBank.noise_bed: a view of the mapped bank file where possible, no copy
            noises[i] = loop_segment(bank.noise_bed(scene), draws.noise_u[i], clip_samples)
    # One clip (the DataLoader path): views, no copies of the 10 s noise.
    brir = brirs[0][None] if n == 1 else np.stack(brirs) if n else np.zeros((0, 2, length), np.float32)
    noise = noises[0][None] if n == 1 else np.stack(noises) if n else np.zeros((0, 2, clip_samples), np.float32)
    brir, noise = np.asarray(brir, np.float32), np.asarray(noise, np.float32)
    return SceneInputs(brir=brir, noise=noise, delay=delay, meta=meta, taps=taps)


# ----------------------------------------------------------------------------------------------------------
# arithmetic


def mean_power(x: np.ndarray) -> float:
    """Mean square over all channels jointly; exact for very quiet / loud audio.

    float32 partial sums over chunks of <= 1024 samples combined in float64 (no float64 copy of the audio);
    outside [1e-30, 1e30], where float32 squares could underflow or overflow, it is recomputed in float64.
    """
    flat = np.ravel(x)
    if flat.size == 0:
        return 0.0
    if flat.dtype == np.float32:
        p = float(_row_sumsq(flat[None])[0]) / flat.size
        if 1e-30 < p < 1e30:
            return p
    flat = flat.astype(np.float64)
    # einsum, not np.dot: BLAS ddot spins threads and took 15 ms here for 320k samples (einsum: 0.1 ms).
    return float(np.einsum("i,i->", flat, flat) / flat.size)


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


def crop_spans(offsets: np.ndarray, crop_samples: int) -> np.ndarray:
    """(k, 2) sorted, disjoint [start, stop) spans covered by crops at `offsets` (overlapping ones merged)."""
    spans: list[list[int]] = []
    for o in np.sort(np.asarray(offsets, np.int64).ravel()).tolist():
        if spans and o <= spans[-1][1]:
            spans[-1][1] = max(spans[-1][1], o + crop_samples)
        else:
            spans.append([o, o + crop_samples])
    return np.asarray(spans, np.int64).reshape(-1, 2)


_LANES = 4  # float32 FFTs that pocketfft (scipy's SSE build) runs side by side in SIMD lanes


def _row_cost(n: int) -> float:
    """ns per sample of one float32 real FFT of size n run in a group of _LANES rows, fitted to pocketfft on
    this 2-core machine: 1.45 up to 2^14.5, then slowly more as transforms outgrow the L1/L2 caches."""
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
    """Output positions where overlap-save blocks of `step` output samples start, so that they cover the spans:
    a block that ends inside a gap still serves the next span if that begins before the block ends."""
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
        cost = (_batch_cost(channels + k, size) + _batch_cost(channels * k, size)
                + 0.13 * channels * k * size)
        if cost < best_cost:
            best, best_cost = size, cost
    return best, _block_starts(spans, best - length + 1)


def convolve_spans(x: np.ndarray, h: np.ndarray, spans: np.ndarray, delay: int = 0, trim: bool = True) -> np.ndarray:
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
    np.multiply(spec[:channels, None], spec[None, channels : channels + k],
                out=prod[: channels * k].reshape(channels, k, -1))
    prod[channels * k :] = 0.0
    y = sfft.irfft(prod, block, axis=-1, workers=1, overwrite_x=True)[: channels * k].reshape(channels, k, block)
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
    """Linear convolution of a mono x (S,) with h (C, L): samples [delay, delay + S) of the result, float32."""
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
    return (wet.astype(np.float64) + noise.astype(np.float64) * gain).astype(np.float32)  # float32 would overflow


def render_wet(dry: np.ndarray, brir: np.ndarray, noise: np.ndarray, snr_db: float, delay: int = 0) -> np.ndarray:
    """The binaural rendering (2, S) of a dry mono clip (S,) through a BRIR (2, L), shifted `delay` samples
    earlier, plus binaural noise (2, >= S) at snr_db."""
    dry = np.asarray(dry, np.float32)
    wet = convolve(dry, np.asarray(brir, np.float32), delay)
    return mix_at_snr(wet, np.asarray(noise, np.float32)[..., : dry.shape[-1]], snr_db)


def augment_clip(
    dry: np.ndarray,
    is_clean: bool,
    brir: np.ndarray,
    noise: np.ndarray,
    snr_db: float,
    delay: int,
    crop_offsets: np.ndarray,
    cfg: AugmentConfig,
    taps: int | None = None,
) -> np.ndarray:
    """One dry clip (S,) -> (n_crops, channels, crop_samples) float32 crops, instance-normalised.

    A wet clip is rendered only on the spans its crops cover (see the module docstring): the reverberant
    signal there, the noise at the same samples, the SNR over those samples. taps: the BRIR samples that count
    (SceneInputs.taps); None: convolve_spans finds them.
    """
    dry = np.asarray(dry, np.float32)
    offsets = np.asarray(crop_offsets, np.int64).ravel()
    if is_clean:
        audio = dry[None] if cfg.channels == 1 else np.stack([dry, dry])
    else:
        spans = crop_spans(offsets, cfg.crop_samples)
        h = np.asarray(brir, np.float32)
        wet = convolve_spans(dry, h if taps is None else h[..., :taps], spans, delay, trim=taps is None)  # (2, U)
        noise = np.asarray(noise, np.float32)
        noise = np.concatenate([noise[..., a:b] for a, b in spans.tolist()], axis=-1)
        audio = mix_at_snr(wet, noise, snr_db)
        if cfg.channels == 1:
            audio = audio.mean(axis=0, keepdims=True)
        # Crop offsets in the clip -> offsets in the concatenated spans.
        base = np.concatenate([[0], np.cumsum(spans[:, 1] - spans[:, 0])[:-1]])
        which = np.searchsorted(spans[:, 0], offsets, side="right") - 1
        offsets = offsets - spans[which, 0] + base[which]
    crops = take_crops(audio, offsets, cfg.crop_samples)
    return instance_norm(crops, cfg.norm_eps, out=crops)


def augment_batch(dry: np.ndarray, draws: ClipDraws, inputs: SceneInputs, cfg: AugmentConfig) -> np.ndarray:
    """(B, S) dry clips -> (B * n_crops, C, crop_samples), clip-major: the reference for augment_torch."""
    out = [
        augment_clip(
            dry[i],
            bool(draws.is_clean[i]),
            inputs.brir[i],
            inputs.noise[i],
            float(draws.snr_db[i]),
            int(inputs.delay[i]),
            draws.crop_offsets[i],
            cfg,
            None if inputs.taps is None else int(inputs.taps[i]),
        )
        for i in range(len(draws))
    ]
    return np.concatenate(out, axis=0)


# ----------------------------------------------------------------------------------------------------------
# everything together, for one process holding a bank


def keep_freed_memory() -> bool:
    """Let this process reuse freed memory instead of returning it to the OS (glibc; False elsewhere).

    Each clip allocates ~10 MB of temporaries (FFT blocks, spectra, crops) that glibc by default maps and
    unmaps anew, so every clip page-faults them in again: ~2.4 of 7.4 ms per clip measured here. With mmap
    and trim thresholds raised they are reused (~5.0 ms per clip). Process-wide, hence only called in
    DataLoader worker processes; at most a few tens of MB stay mapped.
    """
    import ctypes
    import ctypes.util

    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
        m_trim_threshold, m_top_pad, m_mmap_threshold = -1, -2, -3
        return bool(libc.mallopt(m_mmap_threshold, 32 << 20) and libc.mallopt(m_trim_threshold, 256 << 20)
                    and libc.mallopt(m_top_pad, 16 << 20))
    except (OSError, AttributeError):  # not glibc
        return False


def clip_rng(seed: int, *stream: int) -> np.random.Generator:
    """An independent, reproducible generator for (base seed, worker, epoch, clip counter, ...)."""
    return np.random.default_rng(np.random.SeedSequence([int(seed) & 0xFFFFFFFF, *[int(s) for s in stream]]))


class Augmenter:
    """Holds a bank, its scene pool and the noise recordings; turns dry clips into crops (CPU path)."""

    def __init__(self, bank, cfg: AugmentConfig, fs: int, noise_recordings: list[np.ndarray] | None = None):
        if int(bank.fs) != int(fs):
            raise InputError(f"the RIR bank is at {bank.fs} Hz but clips are at {fs} Hz; they must match")
        self.bank, self.cfg, self.fs = bank, cfg, int(fs)
        self.pool = np.asarray(bank.select(split=cfg.split, rt60=cfg.rt60), dtype=np.int64)
        if len(self.pool) == 0 and cfg.clean_ratio < 1.0:
            rt = f" with RT60 in {cfg.rt60}" if cfg.rt60 else ""
            raise InputError(f"the RIR bank has no scenes in split '{cfg.split}'{rt}")
        if cfg.noise == "sources" and noise_recordings is None:
            noise_recordings = load_noise_recordings(cfg.noise_paths, fs)
        self.noise_recordings = noise_recordings or []
        # One BRIR length for every clip (clean ones too), so per-clip inputs stack into batches.
        self.brir_len = int(bank.brir_length)
        self.cut_cache: dict[int, tuple[int, int]] = {}  # scene -> BRIR cut, taps (see gather_scenes)

    def draw(self, rng: np.random.Generator, n_clips: int, clip_samples: int) -> ClipDraws:
        return draw_scene_params(rng, n_clips, self.cfg, self.pool, clip_samples, len(self.noise_recordings))

    def gather(self, draws: ClipDraws, clip_samples: int) -> SceneInputs:
        return gather_scenes(self.bank, draws, clip_samples, self.cfg, self.noise_recordings, self.brir_len,
                             self.cut_cache)

    def __call__(self, dry: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        """One dry clip (S,) -> (n_crops, C, crop_samples)."""
        draws = self.draw(rng, 1, dry.shape[-1])
        return augment_batch(dry[None], draws, self.gather(draws, dry.shape[-1]), self.cfg)


def load_noise_recordings(paths, fs: int) -> list[np.ndarray]:
    """Read the user's noise recordings as mono float32 at fs, each RMS-normalised (level set by the SNR)."""
    from pathlib import Path

    from wavjepa_nat.audio import read_audio

    recs = []
    for p in paths:
        if not Path(p).is_file():
            raise InputError(f"noise recording not found: {p}")
        x, _ = read_audio(p, fs=fs, mono=True)
        if x.shape[-1] == 0 or mean_power(x) == 0.0:
            raise InputError(f"noise recording is empty or silent: {p}")
        recs.append((x[0] / np.sqrt(mean_power(x))).astype(np.float32))
    return recs
