"""Frequency-dependent absorption that gives a room its target reverberation time.

Each surface class (walls, floor, ceiling) gets the spectral *shape* of a common material;
one scale factor on all of them is then solved so that the room's T_mid (the mean RT60 of
the 500 Hz and 1 kHz octaves, ISO 3382-2) equals the target. A broadband RT60 is not used
as the target: with frequency-dependent absorption the broadband decay is curved, and its
T30 depends on where the regression starts, i.e. on the direct sound. The per-band decay times
follow Eyring's formula with air absorption (pyroomacoustics' air table), and the same absorption
drives pyroomacoustics' image sources, so the early reflections and the late tail decay consistently.
"""

from __future__ import annotations

import numpy as np
import pyroomacoustics as pra

SPEED_OF_SOUND = 343.0
BAND_CENTERS = np.array([125.0, 250.0, 500.0, 1000.0, 2000.0, 4000.0, 8000.0])

# Typical energy-absorption shapes per octave band (125 Hz .. 8 kHz), after common tables.
MATERIAL_SHAPES = {
    "plaster": [0.10, 0.08, 0.06, 0.05, 0.05, 0.05, 0.05],
    "brick": [0.03, 0.03, 0.03, 0.04, 0.05, 0.07, 0.08],
    "concrete": [0.01, 0.01, 0.02, 0.02, 0.02, 0.03, 0.04],
    "wood_panel": [0.28, 0.22, 0.17, 0.09, 0.10, 0.11, 0.11],
    "glass": [0.35, 0.25, 0.18, 0.12, 0.07, 0.04, 0.03],
    "curtain": [0.07, 0.31, 0.49, 0.75, 0.70, 0.60, 0.55],
    "carpet": [0.02, 0.06, 0.14, 0.37, 0.60, 0.65, 0.65],
    "acoustic_tile": [0.50, 0.70, 0.60, 0.70, 0.70, 0.50, 0.45],
    "wood_floor": [0.15, 0.11, 0.10, 0.07, 0.06, 0.07, 0.07],
}
SURFACE_CHOICES = {
    "walls": ["plaster", "brick", "concrete", "wood_panel", "glass", "curtain"],
    "floor": ["carpet", "wood_floor", "concrete"],
    "ceiling": ["plaster", "acoustic_tile", "concrete", "wood_panel"],
}
SURFACES = ("east", "west", "north", "south", "floor", "ceiling")  # pyroomacoustics' shoebox walls


def air_absorption() -> np.ndarray:
    """Energy attenuation (1/m) per band, pyroomacoustics' table at 20 C, 50 % humidity."""
    return np.asarray(pra.parameters.Physics().get_air_absorption()["coeffs"], dtype=np.float64)


def surface_areas(dims) -> dict[str, float]:
    lx, ly, lz = dims
    return {
        "east": ly * lz,
        "west": ly * lz,
        "north": lx * lz,
        "south": lx * lz,
        "floor": lx * ly,
        "ceiling": lx * ly,
    }


def eyring_rt60(dims, alpha: dict[str, np.ndarray]) -> np.ndarray:
    """Per-band RT60 (s) by Eyring with air absorption; alpha maps surface -> (bands,)."""
    areas = surface_areas(dims)
    total = sum(areas.values())
    mean_alpha = sum(areas[s] * alpha[s] for s in SURFACES) / total
    volume = float(np.prod(dims))
    decay_rate = (
        SPEED_OF_SOUND * (-total * np.log1p(-mean_alpha)) / (4 * volume) + SPEED_OF_SOUND * air_absorption()
    )
    return 13.8155 / decay_rate  # 60 dB = ln(10^6) nepers of energy


def scaled_alpha(shapes: dict[str, np.ndarray], scale: float) -> dict[str, np.ndarray]:
    return {s: np.clip(scale * shapes[s], 0.005, 0.98) for s in SURFACES}


def mid_rt60(band_rt60: np.ndarray) -> float:
    """T_mid (ISO 3382-2): the mean of the 500 Hz and 1 kHz octave bands."""
    return float(np.mean(band_rt60[2:4]))


def solve_absorption(dims, shapes: dict[str, np.ndarray], rt60_target: float) -> tuple[dict, np.ndarray]:
    """Scale the surface shapes so the room's T_mid equals the target (bisection in log scale)."""
    lo, hi = np.log(1e-3), np.log(0.98 / min(float(np.min(v)) for v in shapes.values()))
    for _ in range(40):
        mid = 0.5 * (lo + hi)
        if mid_rt60(eyring_rt60(dims, scaled_alpha(shapes, np.exp(mid)))) > rt60_target:
            lo = mid  # too reverberant: absorb more
        else:
            hi = mid
    alpha = scaled_alpha(shapes, np.exp(0.5 * (lo + hi)))
    return alpha, eyring_rt60(dims, alpha)


def required_mean_alpha(dims, rt60: float) -> float:
    """Eyring's mean absorption for an RT60 (no air): a quick feasibility check when sampling rooms."""
    areas = surface_areas(dims)
    volume = float(np.prod(dims))
    return float(1.0 - np.exp(-0.161 * volume / (sum(areas.values()) * rt60)))
