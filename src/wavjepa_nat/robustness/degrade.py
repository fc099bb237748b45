"""Degrading clips under a sweep condition, through the RIR bank
(see robustness/conditions.py for the conditions).

The noise and reverberation axes are kept separable:

    clean      the dry clip, duplicated to both ears
    snr        the dry clip on both ears + a segment of a test-split scene's binaural noise bed at the SNR
    rt60       the clip through a test-split BRIR whose *measured* T_mid lies in the bin (shifted earlier by
               the direct-path delay, so it lines up with the dry clip), no added noise
    snr_rt60   both: a BRIR from the bin + that scene's own noise bed at the SNR

A dry clip has no direction, so localisation under "clean" and "snr" uses a spatial rendering of the same
clip: through a random test-split scene (any RT60), without / with the noise at the SNR.

Every rendering is a pure function of (seed, condition, role, clip): each model (and the baseline) is fed
exactly the same corrupted audio, and adding a condition does not change the audio of the others. The
scene and the noise segment are drawn per (pool, role, clip), not per condition: a clip goes through the
same scene (so the same source direction) and meets the same noise in the clean condition and at every
SNR, and through the same BRIR of a bin with or without noise -- the conditions differ only in what
they change, and scores between them are paired.
Rendered clips are instance-normalised jointly over (ears, time), as training crops are.
"""

from __future__ import annotations

import numpy as np

from wavjepa_nat.dsp import clip_rng, convolve, instance_norm, loop_segment, mix_at_snr
from wavjepa_nat.errors import InputError
from wavjepa_nat.robustness.conditions import RT60_MEASURE, Condition, bin_text, stream_id


def _in_bin(measured: np.ndarray, b: tuple[float, float], last: bool) -> np.ndarray:
    """Half-open [lo, hi), except the last bin, which also holds hi."""
    return (measured >= b[0]) & ((measured <= b[1]) if last else (measured < b[1]))


class ScenePools:
    """Bank scenes of some splits, overall and per measured-RT60 bin, and their audio.

    strict=True (evaluation): a bin with no scene is an InputError naming the bin and the measured range.
    strict=False (probe training): such a bin falls back to the scenes nearest to it in RT60, with a note.
    """

    def __init__(
        self,
        bank,
        bins,
        splits=("test",),
        strict: bool = True,
        fallback_size: int = 4,
        measure: str = RT60_MEASURE,
    ):
        self.bank, self.splits, self.measure = bank, tuple(splits), measure  # measure: what the bins hold
        self.all = np.sort(np.concatenate([bank.select(split=s) for s in self.splits])).astype(np.int64)
        split_text = "/".join(self.splits)
        if len(self.all) == 0:
            raise InputError(f"the RIR bank {bank.path} has no {split_text}-split scenes")
        rt = bank.measure(measure) if hasattr(bank, "measure") else bank.rt60()
        measured = rt[self.all]
        self.measured_range = (float(measured.min()), float(measured.max()))
        self.notes: list[str] = []
        self.by_bin: dict[tuple[float, float], np.ndarray] = {}
        bins = [tuple(b) for b in bins]
        for i, b in enumerate(bins):
            pool = self.all[_in_bin(measured, b, last=i == len(bins) - 1)]
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

    def pool(self, cond: Condition) -> np.ndarray:
        return self.by_bin[cond.rt60_bin] if cond.reverberant else self.all

    # Read per clip, not cached: a big bank's test split holds GBs of noise beds; a read costs ~1 ms.
    def brir(self, scene: int) -> tuple[np.ndarray, int]:
        """(BRIR (2, L), direct-path delay in samples) of a scene."""
        delay = round(float(self.bank.meta["direct_delay_s"][scene]) * self.bank.fs)
        return self.bank.brirs([scene])[0], delay

    def noise_bed(self, scene: int) -> np.ndarray:
        return self.bank.noise_bed(scene)  # read-only (a view of the mapped file where possible)

    def azimuth(self, scene: int) -> float:
        return float(self.bank.meta["azimuth_deg"][scene])

    def elevation(self, scene: int) -> float:
        return float(self.bank.meta["elevation_deg"][scene])


# ---------------------------------------------------------------- rendering


def degrade_clip(
    dry: np.ndarray, cond: Condition, pools: ScenePools, rng: np.random.Generator, spatial: bool = False
) -> tuple[np.ndarray, float]:
    """One dry clip (S,) or (2, S) under a condition -> ((2, S) float32 before normalisation, source azimuth
    or nan).

    spatial=True renders clean/snr conditions through a random scene of the pool (for localisation).
    """
    audio, scene = _degrade_clip(dry, cond, pools, rng, spatial)
    return audio, (pools.azimuth(scene) if scene >= 0 else float("nan"))


def _degrade_clip(
    dry: np.ndarray, cond: Condition, pools: ScenePools, rng: np.random.Generator, spatial: bool
) -> tuple[np.ndarray, int]:
    """degrade_clip's audio, and the scene whose BRIR it went through (-1 when it stayed dry)."""
    dry = np.asarray(dry, np.float32)
    pool = pools.pool(cond)
    # Both draws are always made, so the stream does not depend on the condition's kind.
    scene = int(pool[rng.integers(len(pool))])
    noise_u = float(rng.random())
    spatialised = cond.reverberant or spatial
    if spatialised:  # a two-channel clip (a naturalistic copy) goes through the BRIR as the mean of its ears
        brir, delay = pools.brir(scene)
        audio = convolve(dry if dry.ndim == 1 else dry.mean(axis=0), brir, delay)
    else:  # mono: on both ears; two-channel: as it is
        audio = np.stack([dry, dry]) if dry.ndim == 1 else dry.copy()
    if cond.noisy:
        noise = loop_segment(pools.noise_bed(scene), noise_u, dry.shape[-1])
        audio = mix_at_snr(audio, noise, float(cond.snr_db))
    return np.asarray(audio, np.float32), (scene if spatialised else -1)


def pool_key(cond: Condition) -> str:
    """What seeds a clip's scene and noise draws: the scene pool the condition draws from, not its SNR."""
    return f"pool|{cond.rt60_bin!r}"


def degrade(
    dry: np.ndarray,
    cond: Condition,
    pools: ScenePools,
    seed: int,
    role: str,
    clip_ids,
    spatial: bool = False,
    elevation: bool = False,
):
    """Dry clips (n, S) -> (instance-normalised audio (n, 2, S), azimuths (n,) deg, nan when dry).

    `role` ("test", "train", "loc", ...) and `clip_ids` (stable per clip) seed each clip's draws.
    elevation=True also returns the source elevations (n,) deg: (audio, azimuths, elevations).
    """
    out = np.empty((len(dry), 2, np.shape(dry)[-1]), np.float32)
    az = np.full(len(dry), np.nan)
    el = np.full(len(dry), np.nan)
    for i, (x, cid) in enumerate(zip(dry, clip_ids)):
        rng = clip_rng(seed, stream_id(pool_key(cond)), stream_id(role), int(cid))
        out[i], scene = _degrade_clip(x, cond, pools, rng, spatial)
        if scene >= 0:
            az[i], el[i] = pools.azimuth(scene), pools.elevation(scene)
    return (instance_norm(out), az, el) if elevation else (instance_norm(out), az)
