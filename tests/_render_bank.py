"""A tiny RIR bank held in arrays, and dry clips, rebuilt from a seed: the inputs of the renderer's golden
test (tests/test_render.py, tests/data/render_golden.npz).

ArrayBank answers the calls the renderer's callers make on an RIRBank (select, measure, rt60, meta,
scene_meta, brirs, brir_head, noise_bed, noise_bed_samples, noise_brirs), with RIRBank's semantics: select
keeps measured T_mid in [lo, hi); noise beds are stored as int16 times a per-scene scale (bank format 3).
Synthetic scenes, so the golden data does not depend on the room simulator. `fingerprint()` hashes every
array, so the test knows it rebuilt exactly the inputs the golden outputs were made from.
"""

from __future__ import annotations

import hashlib

import numpy as np

FS = 16000
N_SCENES = 8
BRIR_LENGTH = 1600
BED_SAMPLES = 2500  # shorter than a clip: beds are looped
CLIP_SAMPLES = 3200  # 0.2 s
SPLITS = ("train", "test", "train", "test", "val", "test", "train", "test")
T_MID = (0.25, 0.3, 0.45, 0.5, 0.6, 0.7, 0.8, 0.5)  # measured RT60 (s): two bins of test scenes


def _brir(rng: np.random.Generator, direct: int, itd: int, ild: float, decay: float) -> np.ndarray:
    t = np.arange(BRIR_LENGTH)
    h = rng.standard_normal((2, BRIR_LENGTH)) * np.exp(-t / decay) * 0.05
    h[:, : direct + itd + 1] = 0.0
    h[0, direct] += 1.0
    h[1, direct + itd] += ild
    return h.astype(np.float32)


class ArrayBank:
    """A duck-typed RIRBank of N_SCENES synthetic scenes (see the module docstring)."""

    fs = FS
    brir_length = BRIR_LENGTH
    noise_bed_length = BED_SAMPLES
    path = "array-bank"

    def __init__(self, seed: int = 0):
        rng = np.random.default_rng(seed)
        direct = 20 + 13 * np.arange(N_SCENES)
        self._brir = np.stack(
            [_brir(rng, int(d), i % 4, 0.5 + 0.1 * i, 150.0 + 40 * i) for i, d in enumerate(direct)]
        )
        self._noise_brir = [
            np.array([_brir(rng, 30 + 7 * k, 2, 0.8, 200.0) for k in range(i % 3)], np.float32).reshape(
                -1, 2, BRIR_LENGTH
            )
            for i in range(N_SCENES)
        ]
        bed = rng.standard_normal((N_SCENES, 2, BED_SAMPLES)) * 3000.0
        self._bed = np.clip(np.round(bed), -32767, 32767).astype(np.int16)
        self._bed_scale = (10.0 ** rng.uniform(-4, -2, N_SCENES)).astype(np.float32)
        self.meta = {
            "split": np.array(SPLITS),
            "t_mid": np.array(T_MID, np.float64),
            "direct_delay_s": direct / FS,
            "azimuth_deg": rng.uniform(-180, 180, N_SCENES),
            "elevation_deg": rng.uniform(-30, 30, N_SCENES),
            "distance_m": rng.uniform(0.5, 3.0, N_SCENES),
            "scene_index": np.arange(N_SCENES),
            "room_id": np.arange(N_SCENES) // 2,
        }

    def __len__(self) -> int:
        return N_SCENES

    def scene_meta(self, i: int) -> dict:
        return {name: column[int(i)].item() for name, column in self.meta.items()}

    def measure(self, name: str) -> np.ndarray:
        if name != "t_mid":
            raise KeyError(name)
        return self.meta["t_mid"]

    def rt60(self) -> np.ndarray:
        return self.measure("t_mid")

    def select(self, split=None, rt60=None) -> np.ndarray:
        keep = np.ones(N_SCENES, bool)
        if split is not None:
            keep &= self.meta["split"] == split
        if rt60 is not None:
            keep &= (self.meta["t_mid"] >= rt60[0]) & (self.meta["t_mid"] < rt60[1])
        return np.nonzero(keep)[0]

    def brirs(self, indices) -> np.ndarray:
        return self._brir[np.asarray(indices, np.int64)].copy()

    def brir_head(self, i: int, n: int) -> np.ndarray:
        return self._brir[int(i), :, :n]

    def noise_brirs(self, i: int) -> np.ndarray:
        return self._noise_brir[int(i)]

    def noise_bed_samples(self, i: int) -> np.ndarray:
        view = self._bed[int(i)]
        view.flags.writeable = False
        return view

    def noise_bed(self, i: int) -> np.ndarray:
        return self._bed[int(i)].astype(np.float32) * self._bed_scale[int(i)]

    def arrays(self) -> dict[str, np.ndarray]:
        noise_brir = np.concatenate(self._noise_brir)
        return {"brir": self._brir, "noise_brir": noise_brir, "bed": self._bed, "bed_scale": self._bed_scale}


def dry_clips(seed: int = 1) -> np.ndarray:
    """(3, CLIP_SAMPLES) float32: quiet, moderate and loud (the loud one makes nat-hear limit its peak)."""
    rng = np.random.default_rng(seed)
    envelope = np.hanning(CLIP_SAMPLES) + 0.05
    amps = np.array([1e-3, 0.1, 3.0])[:, None]
    return (rng.standard_normal((3, CLIP_SAMPLES)) * envelope * amps).astype(np.float32)


def noise_recording(seed: int = 2) -> np.ndarray:
    """A mono 'noise recording' (RMS 1), shorter than a clip."""
    x = np.random.default_rng(seed).standard_normal(2000)
    return (x / np.sqrt(np.mean(x**2))).astype(np.float32)


def fingerprint(bank: ArrayBank, dry: np.ndarray, rec: np.ndarray) -> str:
    h = hashlib.sha256()
    for name, arr in [*sorted(bank.arrays().items()), *sorted(bank.meta.items()), ("dry", dry), ("rec", rec)]:
        h.update(name.encode())
        h.update(np.ascontiguousarray(arr).tobytes())
    return h.hexdigest()
