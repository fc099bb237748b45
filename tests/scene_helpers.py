"""Helpers for the acoustic tests: render a scene with the target at a chosen direction."""

import dataclasses

import numpy as np

from wavjepa_nat.scenes.brir import FastEngine
from wavjepa_nat.scenes.config import SceneConfig
from wavjepa_nat.scenes.hrtf import directions_to_unit
from wavjepa_nat.scenes.sampler import sample_scene


def render_at(
    engine: FastEngine,
    cfg: SceneConfig,
    index: int,
    azimuth: float,
    elevation: float = 0.0,
    distance: float = 1.5,
    seed: int = 0,
) -> tuple[np.ndarray, object]:
    """The BRIR (2, L) of scene `index` with its target moved to (azimuth, elevation, distance)."""
    spec = sample_scene(cfg, index)
    # room centre: room to move sources
    listener = np.array([spec.room.dims[0] / 2, spec.room.dims[1] / 2, 1.5])
    spec = dataclasses.replace(spec, listener=listener)
    pos = spec.listener + distance * directions_to_unit(azimuth + spec.yaw_deg, elevation)
    spec = dataclasses.replace(
        spec,
        sources=pos[None],
        azimuth_deg=np.array([azimuth]),
        elevation_deg=np.array([elevation]),
        distance_m=np.array([distance]),
    )
    brirs, _ = engine.render(spec, np.random.default_rng(seed))
    return brirs[0], spec
