"""The reference engine: pyroomacoustics' own binaural path, for comparison.

The hybrid simulator (image sources of order 3 plus ray tracing) with the SOFA HRTF as
microphone directivities, both ears at the head centre. It is much slower than the fast
engine, and building its SOFA directivities is slow (per ear and per head orientation),
so they are cached per (rounded) yaw and reused.
"""

from __future__ import annotations

import numpy as np
import pyroomacoustics as pra

from wavjepa_nat.errors import InputError
from wavjepa_nat.scenes.absorption import BAND_CENTERS, solve_absorption
from wavjepa_nat.scenes.config import SceneConfig
from wavjepa_nat.scenes.hrtf import KEMAR_PATH
from wavjepa_nat.scenes.sampler import SceneSpec


class ReferenceEngine:
    name = "reference"

    def __init__(self, cfg: SceneConfig, yaw_step_deg: float = 5.0):
        from pyroomacoustics.directivities import MeasuredDirectivityFile

        path = KEMAR_PATH if cfg.hrtf == "kemar" else cfg.hrtf
        if cfg.hrtf == "spherical" or not str(path).endswith(".sofa"):
            raise InputError("--engine reference needs a SOFA HRTF (--hrtf kemar or a .sofa path)")
        self.cfg, self.fs, self.length = cfg, cfg.fs, cfg.brir_length
        self.sofa = MeasuredDirectivityFile(path=str(path), fs=cfg.fs, interp_order=12, interp_n_points=1000)
        self.yaw_step = yaw_step_deg
        self._ears: dict[float, tuple] = {}

    def ears(self, yaw_deg: float):
        from pyroomacoustics.directivities import Rotation3D

        yaw = round(yaw_deg / self.yaw_step) * self.yaw_step
        if yaw not in self._ears:
            rot = Rotation3D([yaw], "z", degrees=True)
            # Receiver 0 is the left ear in SimpleFreeFieldHRIR files (positive y), as read_sofa checks.
            self._ears[yaw] = (
                self.sofa.get_mic_directivity(0, orientation=rot),
                self.sofa.get_mic_directivity(1, orientation=rot),
            )
        return self._ears[yaw]

    def render(self, spec: SceneSpec, rng: np.random.Generator) -> tuple[np.ndarray, dict]:
        alpha, band_rt60 = solve_absorption(spec.room.dims, spec.room.shapes, spec.room.rt60_target)
        room = pra.ShoeBox(
            spec.room.dims,
            fs=self.fs,
            max_order=3,
            air_absorption=True,
            materials={
                s: pra.Material({"coeffs": alpha[s].tolist(), "center_freqs": BAND_CENTERS.tolist()})
                for s in alpha
            },
        )
        left, right = self.ears(spec.yaw_deg)
        room.add_microphone_array(
            pra.MicrophoneArray(
                np.stack([spec.listener, spec.listener], axis=1), self.fs, directivity=[left, right]
            )
        )
        # pyroomacoustics refuses directive microphones once ray tracing is on, so the ears go in
        # first; its ray tracer then adds the late energy histogram to each ear's response.
        room.set_ray_tracing(receiver_radius=0.5, energy_thres=1e-7)
        for pos in spec.sources:
            room.add_source(pos)
        room.compute_rir()
        # pyroomacoustics delays every response by half its fractional-delay filter; undo that.
        offset = pra.constants.get("frac_delay_length") // 2
        out = np.zeros((len(spec.sources), 2, self.length), dtype=np.float32)
        for k in range(len(spec.sources)):
            for ear in range(2):
                h = np.asarray(room.rir[ear][k])[offset : offset + self.length]
                out[k, ear, : len(h)] = h
        return out, {"alpha": alpha, "band_rt60": band_rt60, "t_mix": np.full(len(spec.sources), np.nan)}
