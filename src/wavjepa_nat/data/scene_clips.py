"""Rendering a dry clip through bank scenes, for listening (`wavjepa-nat render`): the training augmentation
(source BRIR, direct-path delay removed, the scene's noise at an SNR) on a whole clip, without crops or
instance normalisation, scaled only to stay below full scale."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from wavjepa_nat.data.augment import AugmentConfig, Augmenter, render_wet

PEAK = 0.99  # peak-safe: the loudest sample of a rendering is at most this (both ears scaled together)
LEVEL_DB = -14.0  # the dry clip's RMS level before rendering, as for training clips


def output_paths(out: Path, n: int) -> list[Path]:
    """scene.wav -> [scene.wav] for one rendering, [scene_000.wav, ...] for several; a folder -> render_000.wav."""
    if out.suffix.lower() == ".wav":
        if n == 1:
            return [out]
        return [out.with_name(f"{out.stem}_{k:03d}.wav") for k in range(n)]
    return [out / f"render_{k:03d}.wav" for k in range(n)]


def peak_safe(x: np.ndarray, peak: float = PEAK) -> np.ndarray:
    top = float(np.max(np.abs(x))) if x.size else 0.0
    return x * (peak / top) if top > peak else x


def render_clips(
    bank,
    dry: np.ndarray,
    n: int,
    scene: int | None,
    cfg: AugmentConfig,
    seed: int,
    noise_recordings: list[np.ndarray] | None = None,
) -> list[tuple[np.ndarray, dict]]:
    """n binaural renderings (2, S) of a dry clip (S,), each with its scene id, metadata and SNR.

    The SNR is measured over the whole clip (render_wet), as there are no crops."""
    aug = Augmenter(bank, cfg, bank.fs, noise_recordings)
    rng = np.random.default_rng(seed)
    draws = aug.draw(rng, n, dry.shape[-1])
    if scene is not None:
        draws.scene[:] = scene
    inputs = aug.gather(draws, dry.shape[-1])
    out = []
    for i in range(n):
        wet = render_wet(dry, inputs.brir[i], inputs.noise[i], float(draws.snr_db[i]), int(inputs.delay[i]))
        info = dict(inputs.meta[i], scene=int(draws.scene[i]), snr_db=float(draws.snr_db[i]), delay=int(inputs.delay[i]))
        out.append((peak_safe(wet), info))
    return out
