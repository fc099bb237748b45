"""The scenes of an RIR bank as the renderer uses them: which scenes a clip may go through (pools by split and
by measured-RT60 bin), the per-clip draws of a scene, and what rendering reads for a scene (its BRIR, its
direct-path delay, a segment of its noise).

Randomness and reading are split on purpose: draw_scenes makes every random decision on the CPU, read_scenes
reads the bank for those decisions, and the arithmetic (render, render_torch) is pure, so the numpy and the
batched torch paths consume the same draws.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

from wavjepa_nat.data.render.mix import render
from wavjepa_nat.data.render.noise import mix_parts
from wavjepa_nat.dsp import loop_segment, mean_power, trim_tail
from wavjepa_nat.errors import InputError

RT60_MEASURE = "t_mid"  # what RT60 bins hold: the measured T_mid of the BRIRs (see RIRBank.measure)

# ----------------------------------------------------------------------------------------------------------
# pools


def in_rt60_bin(measured: np.ndarray, rt60_bin: tuple[float, float], last: bool = False) -> np.ndarray:
    """Which measured RT60s lie in a bin: half-open [lo, hi), except the last bin of a list, which also
    holds hi (so that bins sharing edges cover their range once)."""
    lo, hi = rt60_bin
    return (measured >= lo) & ((measured <= hi) if last else (measured < hi))


def bin_text(b: tuple[float, float]) -> str:
    return f"{b[0]:g}-{b[1]:g} s"


def measured_rt60(bank, measure: str = RT60_MEASURE) -> np.ndarray:
    return bank.measure(measure) if hasattr(bank, "measure") else bank.rt60()


def scenes_in(
    bank, splits: tuple[str, ...] | None = None, rt60: tuple[float, float] | None = None
) -> np.ndarray:
    """Sorted scene indices of the splits (None: all) whose measured RT60 lies in [lo, hi) (None: any)."""
    if splits is None:
        pool = np.asarray(bank.select(split=None), np.int64)
    else:
        pool = np.sort(np.concatenate([bank.select(split=s) for s in splits])).astype(np.int64)
    if rt60 is not None:
        pool = pool[in_rt60_bin(measured_rt60(bank)[pool], rt60)]
    return pool


def check_beds(bank) -> None:
    """InputError for a bank without noise beds (`simulate-rirs --beds none`) where a bed is needed: its
    empty beds would otherwise give clips no noise at all."""
    if not getattr(bank, "has_beds", True):
        raise InputError(
            f"the RIR bank {bank.path} has no noise beds (made with --beds none): its noise is made per clip "
            f"(train --noise builtin or a noise corpus); this command needs a bank with beds"
        )


def direct_delay(scene_meta: dict, fs: int) -> int:
    """A scene's direct-path delay in samples, from its metadata (RIRBank.scene_meta)."""
    return round(float(scene_meta["direct_delay_s"]) * fs)


class ScenePools:
    """Bank scenes of some splits, overall and per measured-RT60 bin, and their audio.

    strict=True (evaluation): a bin with no scene is an InputError naming the bin and the measured range.
    strict=False (probe training): such a bin falls back to the scenes nearest to it in RT60, with a note.
    """

    def __init__(
        self,
        bank,
        bins=(),
        splits=("test",),
        strict: bool = True,
        fallback_size: int = 4,
        measure: str = RT60_MEASURE,
        scene_noise=None,
    ):
        self.bank, self.splits, self.measure = bank, tuple(splits), measure  # measure: what the bins hold
        self.scene_noise = scene_noise  # a render.noise.SceneNoise (noise made per clip), or None: the beds
        self.all = scenes_in(bank, self.splits)
        split_text = "/".join(self.splits)
        if len(self.all) == 0:
            raise InputError(f"the RIR bank {bank.path} has no {split_text}-split scenes")
        measured = measured_rt60(bank, measure)[self.all]
        self.measured_range = (float(measured.min()), float(measured.max()))
        self.notes: list[str] = []
        self.by_bin: dict[tuple[float, float], np.ndarray] = {}
        bins = [tuple(b) for b in bins]
        for i, b in enumerate(bins):
            pool = self.all[in_rt60_bin(measured, b, last=i == len(bins) - 1)]
            if len(pool) == 0:
                have = f"{self.measured_range[0]:.2f}-{self.measured_range[1]:.2f} s"
                if strict:
                    raise InputError(
                        f"RT60 bin {bin_text(b)}: no {split_text}-split BRIRs in {bank.path} have a measured "
                        f"RT60 in it (the bank's {split_text} split spans {have}); choose other --rt60 bins"
                    )
                centre = 0.5 * (b[0] + b[1])
                pool = self.all[np.argsort(np.abs(measured - centre), kind="stable")[:fallback_size]]
                self.notes.append(
                    f"no {split_text}-split scenes in RT60 bin {bin_text(b)} "
                    f"for probe training; used the {len(pool)} nearest in measured RT60"
                )
            self.by_bin[b] = pool

    def scenes(self, rt60_bin: tuple[float, float] | None = None) -> np.ndarray:
        """The scenes of a bin (None: all of the splits)."""
        return self.all if rt60_bin is None else self.by_bin[tuple(rt60_bin)]

    def pool(self, cond) -> np.ndarray:
        """The scenes a sweep condition (anything with .reverberant and .rt60_bin) draws from."""
        return self.scenes(cond.rt60_bin if cond.reverberant else None)

    # Read per clip, not cached: a big bank's test split holds GBs of noise beds; a read costs ~1 ms.
    def brir(self, scene: int) -> tuple[np.ndarray, int]:
        """(BRIR (2, L), direct-path delay in samples) of a scene."""
        return self.bank.brirs([scene])[0], direct_delay(self.bank.scene_meta(scene), self.bank.fs)

    def noise_bed(self, scene: int) -> np.ndarray:
        check_beds(self.bank)
        return self.bank.noise_bed(scene)  # read-only (a view of the mapped file where possible)

    def noise(self, scene: int, u: float, n: int) -> np.ndarray:
        """(2, n) noise of a scene for one clip, from the clip's draw u in [0, 1): a segment of its bed, or,
        with scene_noise, noise made for the clip (the recording and the rest of its draws follow from u, so
        a clip meets the same noise wherever it is rendered with the same u)."""
        if self.scene_noise is None:
            return loop_segment(self.noise_bed(scene), u, n)
        seed = int(u * 2**53)
        return self.scene_noise(self.bank.noise_brirs(scene), seed % len(self.scene_noise), u, seed, n)

    def noise_text(self) -> str:
        return "the scenes' noise beds" if self.scene_noise is None else self.scene_noise.describe()

    def azimuth(self, scene: int) -> float:
        return float(self.bank.meta["azimuth_deg"][scene])

    def elevation(self, scene: int) -> float:
        return float(self.bank.meta["elevation_deg"][scene])


# ----------------------------------------------------------------------------------------------------------
# draws


@dataclass
class SceneDraws:
    """Every random decision of n renderings. Arrays have the clip as their first axis."""

    is_clean: np.ndarray  # (n,) bool: the clip stays dry
    scene: np.ndarray  # (n,) int64 bank index; -1 for clean clips
    snr_db: np.ndarray  # (n,) float64
    noise_u: np.ndarray  # (n,) float64 in [0, 1): start of the noise segment, as a fraction
    noise_rec: np.ndarray  # (n,) int64: which noise recording (noise from recordings), else 0
    # (n,) int64: the seed of the rest of a clip's noise made per clip (render/noise.py), else 0
    noise_seed: np.ndarray

    def __len__(self) -> int:
        return len(self.is_clean)

    def take(self, i: int | slice | np.ndarray):
        idx = np.atleast_1d(np.arange(len(self))[i])
        return type(self)(**{k: v[idx] for k, v in self.__dict__.items()})


def draw_scenes(
    rng: np.random.Generator,
    n: int,
    pool: np.ndarray,
    snr_db: tuple[float, float],
    clean_ratio: float = 0.0,
    n_noise_recordings: int = 0,
    noise_seeds: bool = False,
) -> SceneDraws:
    """Per rendering: dry or not (probability clean_ratio), a scene of the pool, an SNR uniform in
    [lo, hi], the noise segment's start and recording, and with noise_seeds (noise made per clip) the seed
    of the rest of its noise, drawn last (so the other draws are those made without). Every draw is always
    made, so the stream does not depend on outcomes."""
    pool = np.asarray(pool, dtype=np.int64)
    if len(pool) == 0 and clean_ratio < 1.0:
        raise InputError("no scenes to draw from (empty split / RT60 range)")
    is_clean = rng.random(n) < clean_ratio
    pick = rng.integers(0, max(len(pool), 1), size=n)
    scene = np.where(is_clean, -1, pool[pick] if len(pool) else -1).astype(np.int64)
    snr = rng.uniform(snr_db[0], snr_db[1], size=n)
    noise_u = rng.random(n)
    noise_rec = rng.integers(0, max(n_noise_recordings, 1), size=n)
    seeds = rng.integers(0, 2**63 - 1, size=n) if noise_seeds else np.zeros(n, np.int64)
    return SceneDraws(is_clean, scene, snr, noise_u, noise_rec.astype(np.int64), seeds.astype(np.int64))


# ----------------------------------------------------------------------------------------------------------
# reading the scenes that the draws picked


@dataclass
class SceneInputs:
    """What the arithmetic needs for n clips. Clean clips get zero BRIRs and zero noise (both ignored)."""

    brir: np.ndarray  # (n, 2, L) float32 source BRIRs
    # (n, 2, S) binaural noise in any scale (the SNR sets its level): float32, or a bank's stored int16 or
    # float16 samples (RIRBank.noise_bed_samples), converted where used: only the samples rendered.
    noise: np.ndarray
    delay: np.ndarray  # (n,) int64 samples to shift the wet signal earlier
    meta: list[dict[str, Any]] = field(default_factory=list)  # scene metadata (None for clean clips)
    # (n,) int64: the leading BRIR samples that count (trim_tail of the BRIR above); the rest is zero padding
    # or below float32 resolution. None: unknown, the renderer trims the BRIR itself.
    taps: np.ndarray | None = None
    # Noise made per clip, left for the device (read_scenes' noise_parts): `noise` then holds only the diffuse
    # parts, and these the rest of render/noise.py's NoiseParts, zero-padded to the bank's BRIR length L:
    noise_signal: np.ndarray | None = None  # (n, S + L - 1) float32 recording segments
    noise_h: np.ndarray | None = None  # (n, 2, L) float32 summed noise-source BRIRs
    noise_taps: np.ndarray | None = None  # (n,) int64 their lengths before padding (0: no noise sources)


def brir_taps(brir: np.ndarray, tail_db: float | None) -> tuple[np.ndarray, int]:
    """A stored BRIR (2, L) -> (the BRIR read_scenes hands on: cut at tail_db re its energy, or as stored
    for None; the samples of it that convolve_spans keeps after its own -150 dB trim)."""
    if tail_db is not None:
        brir = trim_tail(brir, 10.0 ** (tail_db / 10.0))
    return brir, trim_tail(brir).shape[-1]


def read_scenes(
    bank,
    draws: SceneDraws,
    clip_samples: int,
    *,
    tail_db: float | None = -80.0,
    compensate_delay: bool = True,
    noise_recordings: list[np.ndarray] | None = None,
    brir_len: int | None = None,
    cut_cache: dict[int, tuple[int, int]] | None = None,
    scene_noise=None,
    noise_parts: bool = False,
) -> SceneInputs:
    """Read the BRIRs, noise and delays of the drawn scenes from an RIRBank.

    noise_recordings None: a segment of the scene's noise bed. Given: a segment of a noise recording rendered
    through every noise-source BRIR of the scene and summed (one recording for all sources, as in the
    reference); a scene without noise sources falls back to its noise bed, so every wet clip gets noise at
    its SNR. scene_noise (a render.noise.SceneNoise): the noise made per clip from the scene's noise-source
    BRIRs and the drawn noise_rec, noise_u and noise_seed (no bed is read: banks without beds); with
    noise_parts, only its parts (SceneInputs.noise_signal ..., for render.batch.scene_noise_torch). With
    brir_len given, clean clips get zero BRIRs of that length, so per-clip inputs from
    different calls stack into one batch.

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
    parts = _PartsBuffer(n, clip_samples, length) if scene_noise is not None and noise_parts else None
    for i in range(n):
        if draws.is_clean[i]:
            brirs[i], noises[i] = np.zeros((2, length), np.float32), np.zeros((2, clip_samples), np.float32)
            continue
        scene = int(draws.scene[i])
        cut = cut_cache.get(scene) if cut_cache is not None else None
        if cut is None:
            brir, n_taps = brir_taps(bank.brirs([scene])[0], tail_db)  # no noise BRIRs for noise beds
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
        if compensate_delay:
            delay[i] = direct_delay(meta[i], bank.fs)
        if scene_noise is not None:
            made = scene_noise.parts(
                bank.noise_brirs(scene),
                int(draws.noise_rec[i]),
                float(draws.noise_u[i]),
                int(draws.noise_seed[i]),
                clip_samples,
            )
            noises[i] = parts.put(i, made) if parts is not None else mix_parts(made)
            continue
        noise_brirs = bank.noise_brirs(scene) if noise_recordings is not None else np.zeros((0,))
        if len(noise_brirs):
            rec = noise_recordings[int(draws.noise_rec[i])]
            segment = loop_segment(rec, draws.noise_u[i], clip_samples)
            # One recording through every noise BRIR, summed == the recording through the summed BRIR.
            noises[i] = render([(segment, np.asarray(noise_brirs, np.float32).sum(axis=0))]).audio
        else:  # the stored samples: a view of the mapped bank file where possible, no copy
            check_beds(bank)
            noises[i] = loop_segment(bank.noise_bed_samples(scene), draws.noise_u[i], clip_samples)
    # One clip (the DataLoader path): views, no copies of the 10 s noise.
    brir = brirs[0][None] if n == 1 else np.stack(brirs) if n else np.zeros((0, 2, length), np.float32)
    brir = np.asarray(brir, np.float32)
    noise = (
        noises[0][None] if n == 1 else np.stack(noises) if n else np.zeros((0, 2, clip_samples), np.float32)
    )
    inputs = SceneInputs(brir=brir, noise=noise, delay=delay, meta=meta, taps=taps)
    if parts is not None:
        inputs.noise_signal, inputs.noise_h, inputs.noise_taps = parts.signal, parts.h, parts.taps
    return inputs


class _PartsBuffer:
    """NoiseParts of n clips zero-padded to common shapes, so that clips stack into a batch."""

    def __init__(self, n: int, clip_samples: int, length: int):
        self.signal = np.zeros((n, clip_samples + length - 1), np.float32)
        self.h = np.zeros((n, 2, length), np.float32)
        self.taps = np.zeros(n, np.int64)

    def put(self, i: int, parts) -> np.ndarray:
        """Store clip i's parts; returns its diffuse part (what SceneInputs.noise then holds)."""
        taps = parts.h.shape[-1]
        self.h[i, :, :taps] = parts.h
        self.signal[i, : len(parts.signal)] = parts.signal
        self.taps[i] = taps
        return parts.diffuse


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
