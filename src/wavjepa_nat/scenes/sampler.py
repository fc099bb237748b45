"""Sampling of naturalistic scenes, deterministic from (seed, scene index).

A *room* (size, RT60, materials, split) is shared by `scenes_per_room` consecutive scenes;
each scene places a listening head (position, ear height, yaw) and a target source plus
0..5 noise sources all around it. Random draws come from generators keyed by
(seed, room id) and (seed, scene index), so any scene can be made alone, in any process,
in any order: this is what makes sharded and resumed runs identical to one run.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from wavjepa_nat.scenes.absorption import MATERIAL_SHAPES, SURFACE_CHOICES, SURFACES, required_mean_alpha
from wavjepa_nat.scenes.config import SPLITS, SceneConfig
from wavjepa_nat.scenes.hrtf import directions_to_unit

WALL_MARGIN = 0.3  # sources stay this far from every surface (m)


@dataclass
class Room:
    room_id: int
    dims: np.ndarray  # (3,) metres
    rt60_target: float
    shapes: dict  # surface -> absorption shape (bands,)
    materials: dict  # surface -> material name
    split: str


@dataclass
class SceneSpec:
    index: int
    room: Room
    listener: np.ndarray  # (3,) head centre
    yaw_deg: float  # head orientation; 0 looks along +x
    sources: np.ndarray  # (1 + n_noise, 3): row 0 is the target, then the noise sources
    azimuth_deg: np.ndarray  # (1 + n_noise,) in the head frame, +90 = left
    elevation_deg: np.ndarray
    distance_m: np.ndarray


def room_split(cfg: SceneConfig, room_id: int) -> str:
    """Rooms are dealt to splits in shuffled blocks of ten, so even a small bank has test rooms."""
    cycle = np.repeat(np.arange(3), cfg.split_per_ten_rooms)
    order = np.random.default_rng([cfg.seed, room_id // len(cycle), 7]).permutation(cycle)
    return SPLITS[int(order[room_id % len(cycle)])]


def sample_room(cfg: SceneConfig, room_id: int) -> Room:
    rng = np.random.default_rng([cfg.seed, room_id, 0])
    rt60 = float(rng.uniform(*cfg.rt60))
    materials = {
        "walls": rng.choice(SURFACE_CHOICES["walls"]),
        "floor": rng.choice(SURFACE_CHOICES["floor"]),
        "ceiling": rng.choice(SURFACE_CHOICES["ceiling"]),
    }
    lo, hi = np.log(cfg.room_length[0]), np.log(cfg.room_length[1])
    for _ in range(200):
        length = float(np.exp(rng.uniform(lo, hi)))
        width = max(2.5, length * rng.uniform(0.55, 1.0))
        height = float(np.clip(2.5 + 0.12 * (length - 3.0) * rng.uniform(0.5, 1.5), 2.4, 12.0))
        dims = np.array([length, width, height])
        # Real rooms: neither anechoic nor mirror-walled. Rejecting sizes whose mean
        # absorption would be implausible ties short RT60s to small rooms, as in life.
        if 0.03 <= required_mean_alpha(dims, rt60) <= 0.6:
            break
    shapes = {}
    for surface in SURFACES:
        kind = "walls" if surface in ("east", "west", "north", "south") else surface
        shape = np.asarray(MATERIAL_SHAPES[materials[kind]], dtype=np.float64)
        # Real surfaces mix materials (furniture, doors, people): halve the spectral contrast.
        shapes[surface] = 0.5 * shape + 0.5 * shape.mean()
    names = {s: materials["walls" if s in ("east", "west", "north", "south") else s] for s in SURFACES}
    return Room(room_id, dims, rt60, shapes, names, room_split(cfg, room_id))


def _place(rng, cfg: SceneConfig, dims: np.ndarray, listener: np.ndarray, yaw_deg: float):
    """A source position all around the head, inside the room; returns (pos, az, el, dist)."""
    d_lo, d_hi = cfg.source_distance
    for attempt in range(100):
        az = rng.uniform(-180.0, 180.0)
        el = rng.uniform(*cfg.source_elevation)
        dist = rng.uniform(d_lo, d_lo + (d_hi - d_lo) * 0.97**attempt)  # shrink if the room is small
        pos = listener + dist * directions_to_unit(az + yaw_deg, el)
        if np.all(pos > WALL_MARGIN) and np.all(pos < dims - WALL_MARGIN):
            return pos, az, el, dist
    # A tiny room: put the source at the nearest legal distance in front.
    pos = np.clip(listener + d_lo * directions_to_unit(yaw_deg, 0.0), WALL_MARGIN, dims - WALL_MARGIN)
    vec = pos - listener
    dist = float(np.linalg.norm(vec))
    az = float(np.degrees(np.arctan2(vec[1], vec[0])) - yaw_deg)
    el = float(np.degrees(np.arcsin(vec[2] / max(dist, 1e-9))))
    return pos, (az + 180.0) % 360.0 - 180.0, el, dist


def sample_scene(cfg: SceneConfig, index: int) -> SceneSpec:
    room = sample_room(cfg, index // cfg.scenes_per_room)
    rng = np.random.default_rng([cfg.seed, index, 1])
    dims = room.dims
    margin = np.minimum(1.0, 0.3 * dims[:2])
    listener = np.array(
        [
            rng.uniform(margin[0], dims[0] - margin[0]),
            rng.uniform(margin[1], dims[1] - margin[1]),
            min(rng.uniform(*cfg.listener_height), dims[2] - 0.5),
        ]
    )
    yaw = float(rng.uniform(-180.0, 180.0))
    n_noise = int(rng.integers(cfg.noise_sources[0], cfg.noise_sources[1] + 1))
    placed = [_place(rng, cfg, dims, listener, yaw) for _ in range(1 + n_noise)]
    return SceneSpec(
        index=index,
        room=room,
        listener=listener,
        yaw_deg=yaw,
        sources=np.array([p[0] for p in placed]),
        azimuth_deg=np.array([p[1] for p in placed]),
        elevation_deg=np.array([p[2] for p in placed]),
        distance_m=np.array([p[3] for p in placed]),
    )
