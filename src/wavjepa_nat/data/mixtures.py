"""Polyphonic training scenes (train --mix-prob, issue 20): a clip plus K-1 other clips of the source, each
through its own position of the same room and listener, at drawn target-to-interferer ratios (TIRs).

    draw_mixtures(rng, n, cfg)          every random decision, from its own random stream (so --mix-prob 0
                                        leaves every other draw, and so every batch, as it was)
    read_positions(bank, scene, ...)    the interferers' BRIRs: the scene's noise-source BRIRs (same room,
                                        same head; the bank stores 0..5 per scene)
    mix_clip(...)                       the numpy arithmetic through the one renderer (render/mix.py)

Positions: a scene holding fewer noise-source positions than a draw asks for caps K at 1 + its positions
(a scene without any stays single-source); scenes are not filtered, so the scene draws of a run with
mixtures are those of the same run without them (the rooms seen do not depend on P). Clean (dry) clips mix
the dry clips at the same ratios.

TIR: 10 log10(P_main / P_k) of the sources at the ears (both ears jointly, over the samples the crops cover,
as the SNR), set by a gain on source k; the noise then comes at the drawn SNR relative to the mixture.
Retention views: source k "alone" is its part at the ears plus the same noise at the same level as in the
mixture (the mixture minus the other sources), cropped and normalised like the mixture.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from wavjepa_nat.data.augment import AugmentConfig, crop_spans, span_offsets
from wavjepa_nat.data.crops import take_crops
from wavjepa_nat.data.render import SceneDraws, Source, brir_taps, render
from wavjepa_nat.dsp import SILENT_POWER, instance_norm
from wavjepa_nat.errors import InputError

MIX_TARGETS = ("mixture", "retention")
MAX_POSITIONS = 8  # random keys drawn per clip to order a scene's positions (the bank stores at most 5)


@dataclass
class MixConfig:
    prob: float = 0.0  # probability per clip that it becomes a mixture
    sources: tuple[int, int] = (2, 3)  # K drawn uniformly from [lo, hi]
    tir_db: tuple[float, float] = (0.0, 12.0)  # each interferer's TIR, uniform in [lo, hi] dB
    target: str = "retention"  # mixture: the teacher hears the mixture | retention: mean of each source alone

    def __post_init__(self) -> None:
        self.sources = tuple(self.sources)
        self.tir_db = tuple(float(v) for v in self.tir_db)
        if not (math.isfinite(self.prob) and 0.0 <= self.prob <= 1.0):
            raise InputError(f"--mix-prob must lie in [0, 1], got {self.prob}")
        lo, hi = self.sources
        if lo != int(lo) or hi != int(hi) or not 2 <= lo <= hi:
            raise InputError(f"--mix-sources must be whole numbers LO..HI with 2 <= LO <= HI, got {lo}..{hi}")
        self.sources = (int(lo), int(hi))
        if (
            len(self.tir_db) != 2
            or not all(math.isfinite(v) for v in self.tir_db)
            or self.tir_db[0] > self.tir_db[1]
        ):
            raise InputError(f"--mix-tir must be a range LO..HI in dB with LO <= HI, got {self.tir_db}")
        if self.target not in MIX_TARGETS:
            raise InputError(f"--mix-target must be one of {', '.join(MIX_TARGETS)}, got '{self.target}'")

    @property
    def on(self) -> bool:
        return self.prob > 0.0

    @property
    def extra(self) -> int:
        """Interferer slots per clip (K - 1 at most)."""
        return self.sources[1] - 1


@dataclass
class MixDraws:
    """Every mixture decision for n clips (E = interferer slots)."""

    is_mix: np.ndarray  # (n,) bool
    n_sources: np.ndarray  # (n,) int64 K drawn (before the cap by the scene's positions)
    tir_db: np.ndarray  # (n, E) float64
    position_key: np.ndarray  # (n, MAX_POSITIONS) float64: a scene's positions are taken in this key order
    partner: np.ndarray  # (n, E) float64 in [0, 1): which other clip of the source each interferer is


def draw_mixtures(rng: np.random.Generator, n: int, cfg: MixConfig) -> MixDraws:
    """Every draw is always made, so the stream does not depend on outcomes."""
    e = cfg.extra
    return MixDraws(
        is_mix=rng.random(n) < cfg.prob,
        n_sources=rng.integers(cfg.sources[0], cfg.sources[1] + 1, size=n).astype(np.int64),
        tir_db=rng.uniform(cfg.tir_db[0], cfg.tir_db[1], size=(n, e)),
        position_key=rng.random((n, MAX_POSITIONS)),
        partner=rng.random((n, e)),
    )


def partner_index(u: float, own: int, n_files: int) -> int:
    """Another file than `own` of a list of n_files (>= 2), from a uniform draw u in [0, 1)."""
    return (own + 1 + int(u * (n_files - 1))) % n_files


@dataclass
class MixInputs:
    """The interferers of one clip (E slots; unused slots are zeros and off)."""

    dry: np.ndarray  # (E, S) float32 the other clips
    brir: np.ndarray  # (E, 2, L) float32 their BRIRs (zeros for clean clips and unused slots)
    taps: np.ndarray  # (E,) int64
    on: np.ndarray  # (E,) bool
    tir_db: np.ndarray  # (E,) float64


def read_positions(
    bank,
    scene: int,
    is_mix: bool,
    n_sources: int,
    position_key: np.ndarray,
    e: int,
    length: int,
    tail_db: float | None,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(BRIRs (E, 2, length), taps (E,), on (E,)) of a wet clip's interferers: the scene's noise-source
    positions in the order of position_key, K capped by how many the scene holds."""
    brirs, taps, on = np.zeros((e, 2, length), np.float32), np.ones(e, np.int64), np.zeros(e, bool)
    if not is_mix:
        return brirs, taps, on
    stored = np.asarray(bank.noise_brirs(scene), np.float32) if scene >= 0 else np.zeros((0, 2, 1))
    order = np.argsort(position_key[: len(stored)], kind="stable")
    for slot, pos in enumerate(order[: min(n_sources - 1, e)]):
        h, n_taps = brir_taps(stored[pos], tail_db)
        h = h[:, :length]
        brirs[slot, :, : h.shape[-1]] = h
        taps[slot], on[slot] = min(n_taps, length), True
    return brirs, taps, on


def mix_inputs(
    bank,
    cfg: MixConfig,
    draws: MixDraws,
    partners: list[np.ndarray | None],
    scene: SceneDraws,
    clip_samples: int,
    brir_len: int,
    tail_db: float | None,
) -> MixInputs:
    """The interferers of one clip (draws of one clip): its partners' dry clips (None: none there), its
    scene's positions, its TIRs. A clean clip mixes the dry partners."""
    e = cfg.extra
    is_mix, k = bool(draws.is_mix[0]), int(draws.n_sources[0])
    clean = bool(scene.is_clean[0])
    brir, taps, on = read_positions(
        bank, int(scene.scene[0]), is_mix and not clean, k, draws.position_key[0], e, brir_len, tail_db
    )
    if clean and is_mix:  # a dry clip: no positions, the dry clips mixed
        on = np.arange(e) < k - 1
    on &= np.array([p is not None for p in partners], bool)
    dry = np.stack([np.zeros(clip_samples, np.float32) if p is None else p for p in partners])
    return MixInputs(dry, brir, taps, on, draws.tir_db[0])


def source_weights(on: np.ndarray, n_crops: int) -> np.ndarray:
    """(n_crops, E + 1) float32: 1/K for the K sources present (the main clip and the interferers on)."""
    present = np.concatenate([[True], np.asarray(on, bool)])
    w = present / present.sum()
    return np.repeat(w[None].astype(np.float32), n_crops, axis=0)


def count_positions(bank, pool: np.ndarray) -> np.ndarray:
    """Noise-source positions per scene of a pool."""
    return np.array([len(bank.noise_brirs(int(s))) for s in pool], np.int64)


def check_positions(bank, pool: np.ndarray, cfg: MixConfig, clean_ratio: float) -> None:
    """A bank whose scenes hold no positions for interferers, or fewer than --mix-sources asks for in any
    scene: one line, before training."""
    if not cfg.on or clean_ratio >= 1.0 or bank is None:
        return
    have = int(count_positions(bank, pool).max(initial=0))
    if have == 0:
        raise InputError(
            f"--mix-prob {cfg.prob}: the bank's training scenes store no noise-source positions, where "
            "interfering sources go; simulate a bank with --noise-sources 1..N"
        )
    if cfg.extra > have:
        raise InputError(
            f"--mix-sources {cfg.sources[0]}..{cfg.sources[1]}: the bank's training scenes hold at most "
            f"{have} noise-source positions, room for {have + 1} sources"
        )


def power(x: np.ndarray) -> float:
    """Mean square over all channels and samples, in float64."""
    return float(np.mean(np.square(x, dtype=np.float64)))


def tir_gains(parts: list[np.ndarray], tir_db: np.ndarray) -> np.ndarray:
    """Gains of parts[1:] that put each at its TIR below parts[0] (silent parts: gain 0)."""
    p0 = power(parts[0])
    gains = []
    for part, tir in zip(parts[1:], tir_db):
        pk = power(part)
        ok = p0 > SILENT_POWER and pk > SILENT_POWER
        gains.append(math.sqrt(p0 / (pk * 10.0 ** (tir / 10.0))) if ok else 0.0)
    return np.asarray(gains, np.float64)


@dataclass
class MixRendering:
    audio: np.ndarray  # (2, U) the mixture at the ears (+ noise)
    alone: np.ndarray  # (K, 2, U) each source alone (its part times its gain, plus the mixture's noise)
    dry: np.ndarray  # (K, U) each dry source times its gain
    gains: np.ndarray  # (K,) 1 for the main clip


def mix_clip(
    dry: np.ndarray,
    brir: np.ndarray | None,
    taps: int | None,
    mix: MixInputs,
    *,
    delay: int,
    noise: np.ndarray | None,
    snr_db: float | None,
    spans: np.ndarray,
) -> MixRendering:
    """One clip and its present interferers through the renderer. brir None: a clean clip (the dry clips
    mixed at the same TIRs, no noise)."""
    clean = brir is None
    sources = [Source(dry, brir, taps=taps)] + [
        Source(mix.dry[k], None if clean else mix.brir[k], taps=None if clean else int(mix.taps[k]))
        for k in np.flatnonzero(mix.on)
    ]
    parts = [render([s], delay=delay, spans=spans).audio for s in sources]
    gains = np.concatenate([[1.0], tir_gains(parts, mix.tir_db[mix.on])])
    scaled = [Source(s.clip, s.brir, float(g), s.taps) for s, g in zip(sources, gains)]
    rendering = render(
        scaled, delay=delay, noise=None if clean else noise, snr_db=snr_db, spans=spans, dry_reference=True
    )
    wet = [part * np.float32(g) for part, g in zip(parts, gains)]
    if len(wet) == 1:  # a single source alone is the rendering itself
        return MixRendering(rendering.audio, rendering.audio[None], rendering.dry, gains)
    rest = rendering.audio - np.sum(wet, axis=0)  # the noise at its level in the mixture (0 when clean)
    alone = np.stack([w + rest for w in wet]).astype(np.float32)
    return MixRendering(rendering.audio, alone, rendering.dry, gains)


def _crops(x: np.ndarray, offsets: np.ndarray, cfg: AugmentConfig) -> np.ndarray:
    crops = take_crops(x, offsets, cfg.crop_samples)
    return instance_norm(crops, cfg.norm_eps, out=crops)


def mixture_crops(
    dry: np.ndarray,
    is_clean: bool,
    brir: np.ndarray,
    noise: np.ndarray,
    snr_db: float,
    delay: int,
    crop_offsets: np.ndarray,
    cfg: AugmentConfig,
    taps: int | None,
    mix: MixInputs,
    views: str | None = None,
    return_dry: bool = False,
) -> tuple[np.ndarray, np.ndarray | None, np.ndarray | None]:
    """A mixture clip -> (crops (n_crops, C, T), the dry mixture's crops (n_crops, 1, T) when return_dry,
    each source's crops (n_crops, E + 1, C', T) for the retention target: views "same" the source alone at
    the ears (C' = C), "dry" its dry clip (C' = 1); unused slots zeros). Crops as augment.augment_clip's."""
    offsets = np.asarray(crop_offsets, np.int64).ravel()
    spans = crop_spans(offsets, cfg.crop_samples)
    clean = bool(is_clean)
    out = mix_clip(
        np.asarray(dry, np.float32),
        None if clean else brir,
        None if clean else taps,
        mix,
        delay=0 if clean else delay,
        noise=noise,
        snr_db=snr_db,
        spans=spans,
    )
    local = span_offsets(offsets, spans)
    audio, alone = out.audio, out.alone
    if cfg.channels == 1:
        audio, alone = audio.mean(axis=0, keepdims=True), alone.mean(axis=1, keepdims=True)
    crops = _crops(audio, local, cfg)
    dry_crops = _crops(out.dry.sum(axis=0, keepdims=True), local, cfg) if return_dry else None
    if views is None:
        return crops, dry_crops, None
    each = alone if views == "same" else out.dry[:, None]
    slots = np.zeros((len(offsets), len(mix.on) + 1, each.shape[1], cfg.crop_samples), np.float32)
    for k in range(len(each)):
        slots[:, k] = _crops(each[k], local, cfg)
    return crops, dry_crops, slots
