"""Naturalistic augmentation on the CPU: a dry clip + one scene of the RIR bank -> binaural training crops.

Per clip (never per batch): with probability `clean_ratio` the clip stays dry (duplicated to both ears);
otherwise it is convolved with the source BRIR of a random scene, shifted earlier by the scene's direct-path
delay (so crops line up with the dry clip; both ears shift equally, so the ITD survives), and binaural noise
of the same scene is added at an SNR drawn uniformly from `snr_db`. Then `n_crops` random crops are cut
(same offsets for both ears) and each crop is instance-normalised jointly over (channels, time), which keeps
the interaural time and level differences.

Randomness and arithmetic are split on purpose:
    draw_clip_params(rng, ...) -> ClipDraws        every random decision, on the CPU
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

from wavjepa_nat.checks import MAX_SNR_DB
from wavjepa_nat.data.crops import take_crops
from wavjepa_nat.dsp import (
    convolve,
    convolve_spans,
    instance_norm,
    loop_segment,
    mean_power,
    mix_at_snr,
    to_float32,
    trim_tail,
)
from wavjepa_nat.errors import InputError

NOISE_MODES = ("bed", "sources")
AUGMENT_ON = ("cpu", "gpu")  # where the arithmetic runs: DataLoader workers, or the device after transfer


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
            raise InputError(f"--clean-ratio (clean_ratio) must lie in [0, 1], got {self.clean_ratio}")
        if len(self.snr_db) != 2 or not np.all(np.isfinite(self.snr_db)) or self.snr_db[0] > self.snr_db[1]:
            raise InputError(f"--snr (snr_db) must be a finite LO..HI with LO <= HI, got {self.snr_db}")
        if max(abs(v) for v in self.snr_db) > MAX_SNR_DB:  # 10**(SNR/20) leaves float range far beyond this
            raise InputError(
                f"--snr (snr_db) must lie within -{MAX_SNR_DB:g}..{MAX_SNR_DB:g} dB, got "
                f"{self.snr_db[0]:g}..{self.snr_db[1]:g}"
            )
        if self.channels not in (1, 2):
            raise InputError(f"channels must be 1 or 2, got {self.channels}")
        if self.n_crops < 1 or self.crop_samples < 1:
            raise InputError(
                f"n_crops and crop_samples must be positive, got {self.n_crops}, {self.crop_samples}"
            )
        if self.noise not in NOISE_MODES:
            raise InputError(f"noise must be one of {NOISE_MODES}, got '{self.noise}'")
        if self.brir_tail_db is not None and not (math.isfinite(self.brir_tail_db) and self.brir_tail_db < 0):
            raise InputError(
                f"brir_tail_db must be negative (dB re the BRIR energy) or None, got {self.brir_tail_db}"
            )
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


def draw_clip_params(
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
    # (n, 2, S) binaural noise in any scale (the SNR sets its level): float32, or a bank's stored int16 or
    # float16 samples (RIRBank.noise_bed_samples), converted where used: only the samples the crops cover.
    noise: np.ndarray
    delay: np.ndarray  # (n,) int64 samples to shift the wet signal earlier
    meta: list[dict[str, Any]] = field(default_factory=list)  # scene metadata (None for clean clips)
    # (n,) int64: the leading BRIR samples that count (trim_tail of the BRIR above); the rest is zero padding
    # or below float32 resolution. None: unknown, convolve_spans trims the BRIR itself.
    taps: np.ndarray | None = None


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
        else:  # the stored samples: a view of the mapped bank file where possible, no copy
            noises[i] = loop_segment(bank.noise_bed_samples(scene), draws.noise_u[i], clip_samples)
    # One clip (the DataLoader path): views, no copies of the 10 s noise.
    brir = brirs[0][None] if n == 1 else np.stack(brirs) if n else np.zeros((0, 2, length), np.float32)
    brir = np.asarray(brir, np.float32)
    noise = (
        noises[0][None] if n == 1 else np.stack(noises) if n else np.zeros((0, 2, clip_samples), np.float32)
    )
    return SceneInputs(brir=brir, noise=noise, delay=delay, meta=meta, taps=taps)


# ----------------------------------------------------------------------------------------------------------
# arithmetic


def crop_spans(offsets: np.ndarray, crop_samples: int) -> np.ndarray:
    """(k, 2) sorted, disjoint [start, stop) spans covered by crops at `offsets` (overlapping ones merged)."""
    spans: list[list[int]] = []
    for o in np.sort(np.asarray(offsets, np.int64).ravel()).tolist():
        if spans and o <= spans[-1][1]:
            spans[-1][1] = max(spans[-1][1], o + crop_samples)
        else:
            spans.append([o, o + crop_samples])
    return np.asarray(spans, np.int64).reshape(-1, 2)


def render_wet(
    dry: np.ndarray, brir: np.ndarray, noise: np.ndarray, snr_db: float, delay: int = 0
) -> np.ndarray:
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
        wet = convolve_spans(
            dry, h if taps is None else h[..., :taps], spans, delay, trim=taps is None
        )  # (2, U)
        noise = to_float32(np.concatenate([noise[..., a:b] for a, b in spans.tolist()], axis=-1))
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
        return bool(
            libc.mallopt(m_mmap_threshold, 32 << 20)
            and libc.mallopt(m_trim_threshold, 256 << 20)
            and libc.mallopt(m_top_pad, 16 << 20)
        )
    except (OSError, AttributeError):  # not glibc
        return False


class Augmenter:
    """Holds a bank, its scene pool and the noise recordings; turns dry clips into crops (CPU path).

    The one place where a bank is checked against the augmentation: its sample rate, and scenes in the split
    (and RT60 range). bank=None is allowed when every clip stays dry (clean_ratio == 1).
    """

    def __init__(self, bank, cfg: AugmentConfig, fs: int, noise_recordings: list[np.ndarray] | None = None):
        self.bank, self.cfg, self.fs = bank, cfg, int(fs)
        if bank is None:
            if cfg.clean_ratio < 1.0:
                raise InputError(
                    f"an RIR bank (--bank) is needed unless every clip stays dry "
                    f"(clean ratio 1; it is {cfg.clean_ratio})"
                )
            self.pool, self.noise_recordings, self.brir_len = np.zeros(0, np.int64), [], 1
            self.cut_cache: dict[int, tuple[int, int]] = {}
            return
        if int(bank.fs) != int(fs):
            raise InputError(f"the RIR bank is at {bank.fs} Hz but clips are at {fs} Hz; they must match")
        self.pool = np.asarray(bank.select(split=cfg.split, rt60=cfg.rt60), dtype=np.int64)
        if len(self.pool) == 0 and cfg.clean_ratio < 1.0:
            rt = f" with RT60 in {cfg.rt60}" if cfg.rt60 else ""
            raise InputError(f"the RIR bank has no scenes in split '{cfg.split}'{rt}")
        if cfg.noise == "sources" and noise_recordings is None:
            noise_recordings = load_noise_recordings(cfg.noise_paths, fs)
        self.noise_recordings = noise_recordings or []
        # One BRIR length for every clip (clean ones too), so per-clip inputs stack into batches.
        self.brir_len = int(bank.brir_length)
        self.cut_cache = {}  # scene -> BRIR cut, taps (see gather_scenes)

    def draw(self, rng: np.random.Generator, n_clips: int, clip_samples: int) -> ClipDraws:
        return draw_clip_params(rng, n_clips, self.cfg, self.pool, clip_samples, len(self.noise_recordings))

    def gather(self, draws: ClipDraws, clip_samples: int) -> SceneInputs:
        return gather_scenes(
            self.bank, draws, clip_samples, self.cfg, self.noise_recordings, self.brir_len, self.cut_cache
        )

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
