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

polyphony (degrade_polyphonic): the clip through a test scene holding at least K-1 noise-source positions,
plus K-1 other test clips whose labels share none of the clip's, each through one of those positions, each
at the TIR below the clip (powers at the ears, both ears jointly; data/mixtures.py, the renderer training
uses). The interferers and positions are drawn per (role, clip), not per condition: the K = 3 scene holds
the K = 2 scene's interferer, and every TIR mixes the same clips -- the conditions are paired.
"""

from __future__ import annotations

import numpy as np

from wavjepa_nat.data.mixtures import MAX_POSITIONS, MixInputs, count_positions, mix_clip
from wavjepa_nat.data.render import ScenePools, mono, render
from wavjepa_nat.dsp import clip_rng, instance_norm
from wavjepa_nat.errors import InputError
from wavjepa_nat.robustness.conditions import Condition, stream_id

__all__ = [
    "ScenePools",
    "degrade",
    "degrade_clip",
    "degrade_polyphonic",
    "pool_key",
]  # ScenePools: data/render's, named here too


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
    # Spatialised: through the scene's BRIR (a two-channel clip, a naturalistic copy, as the mean of its
    # ears); else a mono clip on both ears, a two-channel one as it is.
    brir, delay = pools.brir(scene) if spatialised else (None, 0)
    noise = pools.noise(scene, noise_u, dry.shape[-1]) if cond.noisy else None
    audio = render([(dry, brir)], delay=delay, noise=noise, snr_db=cond.snr_db).audio
    return audio, (scene if spatialised else -1)


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
    labels=None,
):
    """Dry clips (n, S) -> (instance-normalised audio (n, 2, S), azimuths (n,) deg, nan when dry).

    `role` ("test", "train", "loc", ...) and `clip_ids` (stable per clip) seed each clip's draws.
    elevation=True also returns the source elevations (n,) deg: (audio, azimuths, elevations).
    labels: the clips' label sets, which polyphony conditions need (degrade_polyphonic; the azimuths are
    the main clip's).
    """
    if cond.polyphonic:
        if labels is None:
            raise ValueError("a polyphony condition needs the clips' labels (interferers of other classes)")
        audio, az, el, _ = degrade_polyphonic(dry, labels, cond, pools, seed, role, clip_ids)
        return (audio, az, el) if elevation else (audio, az)
    out = np.empty((len(dry), 2, np.shape(dry)[-1]), np.float32)
    az = np.full(len(dry), np.nan)
    el = np.full(len(dry), np.nan)
    for i, (x, cid) in enumerate(zip(dry, clip_ids)):
        rng = clip_rng(seed, stream_id(pool_key(cond)), stream_id(role), int(cid))
        out[i], scene = _degrade_clip(x, cond, pools, rng, spatial)
        if scene >= 0:
            az[i], el[i] = pools.azimuth(scene), pools.elevation(scene)
    return (instance_norm(out), az, el) if elevation else (instance_norm(out), az)


def polyphony_pool(pools: ScenePools, sources: int) -> np.ndarray:
    """The scenes of the pools holding room for K sources (K-1 noise-source positions); InputError if none."""
    pool = pools.all[count_positions(pools.bank, pools.all) >= sources - 1]
    if len(pool) == 0:
        split = "/".join(pools.splits)
        raise InputError(
            f"--polyphony {sources}: no {split}-split scene of {pools.bank.path} holds {sources - 1} "
            "noise-source positions for the interferers; simulate the bank with more --noise-sources"
        )
    return pool


def degrade_polyphonic(
    dry: np.ndarray, labels, cond: Condition, pools: ScenePools, seed: int, role: str, clip_ids
) -> tuple[np.ndarray, np.ndarray, np.ndarray, list[list[int]]]:
    """Dry clips (n, S) with their label sets -> (instance-normalised audio (n, 2, S), azimuths and
    elevations (n,) of the main clips, the interferers' clip indices per clip)."""
    pool = polyphony_pool(pools, cond.sources)
    n = len(dry)
    out = np.empty((n, 2, np.shape(dry)[-1]), np.float32)
    az, el = np.full(n, np.nan), np.full(n, np.nan)
    partners: list[list[int]] = []
    for i, (x, cid) in enumerate(zip(dry, clip_ids)):
        rng = clip_rng(seed, stream_id("polyphony"), stream_id(role), int(cid))
        scene = int(pool[rng.integers(len(pool))])
        position_key = rng.random(MAX_POSITIONS)
        others = [j for j in range(n) if not set(labels[j]) & set(labels[i])]
        order = rng.permutation(len(others))
        chosen = [others[j] for j in order[: cond.sources - 1]]
        if len(chosen) < cond.sources - 1:
            raise InputError(
                f"--polyphony {cond.sources}: the {role} split has too few clips of other classes than "
                f"clip {cid}'s"
            )
        brir, delay = pools.brir(scene)
        stored = np.asarray(pools.bank.noise_brirs(scene), np.float32)
        positions = np.argsort(position_key[: len(stored)], kind="stable")[: len(chosen)]
        mix = MixInputs(
            dry=np.stack([mono(np.asarray(dry[j], np.float32)) for j in chosen]),
            brir=stored[positions],
            taps=np.full(len(chosen), stored.shape[-1], np.int64),
            on=np.ones(len(chosen), bool),
            tir_db=np.full(len(chosen), float(cond.tir_db)),
        )
        spans = np.array([[0, np.shape(x)[-1]]])
        out[i] = mix_clip(
            mono(np.asarray(x, np.float32)),
            brir,
            None,
            mix,
            delay=delay,
            noise=None,
            snr_db=None,
            spans=spans,
        ).audio
        az[i], el[i] = pools.azimuth(scene), pools.elevation(scene)
        partners.append(chosen)
    return instance_norm(out), az, el, partners
