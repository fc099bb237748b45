"""One scene, end to end: sample it, render its BRIRs and noise bed, measure it."""

from __future__ import annotations

import time
from dataclasses import dataclass, field

import numpy as np

from wavjepa_nat.scenes.absorption import SURFACES, surface_areas
from wavjepa_nat.scenes.acoustics import measure_response
from wavjepa_nat.scenes.brir import FastEngine
from wavjepa_nat.scenes.config import SceneConfig
from wavjepa_nat.scenes.diffuse import stft_freqs
from wavjepa_nat.scenes.hrtf import load_hrtf
from wavjepa_nat.scenes.noise import NoiseMaker
from wavjepa_nat.scenes.sampler import sample_scene

SPEED_OF_SOUND = 343.0


@dataclass
class SimulatedScene:
    index: int
    brir: np.ndarray  # (2, L) float32, row 0 = left ear
    noise_brirs: np.ndarray  # (n, 2, L) float32
    noise_bed: np.ndarray  # (2, B) float32
    meta: dict
    timings: dict = field(default_factory=dict)  # seconds; not stored (not reproducible)


class Simulator:
    """Makes scenes by index. Build one per process: it holds the HRTF and the engine."""

    def __init__(self, cfg: SceneConfig):
        self.cfg = cfg
        self.hrtf = load_hrtf(cfg.hrtf, cfg.fs)
        if cfg.engine == "reference":  # SceneConfig allows only 'fast' and 'reference'
            from wavjepa_nat.scenes.reference import ReferenceEngine

            self.engine = ReferenceEngine(cfg)
        else:
            self.engine = FastEngine(cfg, self.hrtf)
        power, coherence = self.hrtf.diffuse_field(np.maximum(stft_freqs(cfg.fs), 1.0))
        self.noise = NoiseMaker(
            cfg.fs, cfg.noise_bed_length, cfg.noise_bed_rms_db, cfg.noise_dir, power, coherence
        )
        # The head's diffuse field on the STFT grid (per-ear power, interaural coherence): stored in the bank,
        # so that training can make the diffuse part of the noise without the HRTF (schema.bank_attrs).
        self.diffuse_field = (power, coherence)

    def simulate(self, index: int) -> SimulatedScene:
        cfg = self.cfg
        spec = sample_scene(cfg, index)
        rng = np.random.default_rng([cfg.seed, index, 2])
        t0 = time.perf_counter()
        brirs, info = self.engine.render(spec, rng)
        t1 = time.perf_counter()
        if cfg.has_beds:
            bed, noise_names = self.noise.bed(brirs[1:], rng)
        else:  # --beds none: the noise is made at training time from the noise-source BRIRs
            bed, noise_names = np.zeros((2, 0), np.float32), []
        t2 = time.perf_counter()

        delay = float(spec.distance_m[0] / SPEED_OF_SOUND)
        measured = measure_response(brirs[0], cfg.fs, delay)
        t3 = time.perf_counter()
        areas = surface_areas(spec.room.dims)
        mean_alpha = sum(areas[s] * info["alpha"][s] for s in SURFACES) / sum(areas.values())
        meta = {
            "scene_index": index,
            "room_id": spec.room.room_id,
            "split": spec.room.split,
            "room_dims": spec.room.dims,
            "materials": ",".join(f"{s}={spec.room.materials[s]}" for s in SURFACES),
            "absorption": mean_alpha,  # area-weighted, per octave band 125 Hz .. 8 kHz
            "band_rt60": info["band_rt60"],  # Eyring, per octave band
            "rt60_target": spec.room.rt60_target,
            "rt60_measured": measured["rt60_measured"],  # T_mid per ear
            "rt60_broadband": measured["rt60_broadband"],  # broadband T30 per ear
            "t30_band": measured["t30_band"],  # (ear, octave band 125 Hz .. 8 kHz) T30, NaN above fs's reach
            "edt": measured["edt"],  # early decay time per ear (broadband)
            "c50_db": measured["c50_db"],  # clarity per ear (broadband)
            "drr_db": measured["drr_db"],
            "azimuth_deg": float(spec.azimuth_deg[0]),
            "elevation_deg": float(spec.elevation_deg[0]),
            "distance_m": float(spec.distance_m[0]),
            "direct_delay_s": delay,
            "mixing_time_s": float(info["t_mix"][0]),
            "listener_pos": spec.listener,
            "listener_yaw_deg": spec.yaw_deg,
            "source_pos": spec.sources[0],
            "n_noise": len(spec.sources) - 1,
            "noise_pos": spec.sources[1:],
            "noise_azimuth_deg": spec.azimuth_deg[1:],
            "noise_elevation_deg": spec.elevation_deg[1:],
            "noise_distance_m": spec.distance_m[1:],
            "noise_signals": ",".join(noise_names),
        }
        return SimulatedScene(
            index, brirs[0], brirs[1:], bed, meta, {"brir": t1 - t0, "noise_bed": t2 - t1, "measure": t3 - t2}
        )
