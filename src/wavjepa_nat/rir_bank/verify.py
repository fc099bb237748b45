"""`bank verify`: the schema, finiteness of every value, and a re-simulation of a sample."""

from __future__ import annotations

import h5py
import numpy as np

from wavjepa_nat.rir_bank.reader import RIRBank
from wavjepa_nat.rir_bank.schema import FORMAT, META_COLUMNS, SCHEMA_VERSION
from wavjepa_nat.scenes import SPLITS, Simulator

ARRAYS = ("brir", "noise_brir", "noise_bed")


def check_schema(path) -> list[str]:
    problems = []
    with h5py.File(path, "r") as f:
        if f.attrs.get("format") != FORMAT:
            return [f"attrs: format is {f.attrs.get('format')!r}, not {FORMAT!r}"]
        if int(f.attrs.get("schema_version", -1)) != SCHEMA_VERSION:
            problems.append(f"attrs: schema_version {f.attrs.get('schema_version')} != {SCHEMA_VERSION}")
        for key in ("fs", "config", "package_version", "hrtf_name", "hrtf_sha256", "seed", "complete"):
            if key not in f.attrs:
                problems.append(f"attrs: missing '{key}'")
        n, L, B = len(f["scene_index"]), int(f.attrs["brir_length"]), int(f.attrs["noise_bed_length"])
        m = int(f.attrs["max_noise_sources"])
        expected = {"brir": (n, 2, L), "noise_brir": (n, m, 2, L), "noise_bed": (n, 2, B)}
        for name, shape in expected.items():
            if name not in f or f[name].shape != shape or f[name].dtype != np.float32:
                problems.append(f"{name}: expected float32 {shape}")
        for name in META_COLUMNS:
            if f"meta/{name}" not in f or len(f["meta"][name]) != n:
                problems.append(f"meta/{name}: missing or wrong length")
    return problems


def check_values(bank: RIRBank, progress=None) -> list[str]:
    problems = []
    for i in range(len(bank)):
        scene = bank[i]
        for name, arr in (("brir", scene.brir), ("noise_brir", scene.noise_brirs), ("noise_bed", scene.noise_bed)):
            if not np.all(np.isfinite(arr)):
                problems.append(f"scene {i}: {name} has non-finite values")
        if not np.any(scene.brir):
            problems.append(f"scene {i}: brir is all zeros")
        for key, value in scene.meta.items():
            if isinstance(value, (float, np.ndarray)) and not np.all(np.isfinite(value)):
                problems.append(f"scene {i}: meta {key} is not finite")
        if scene.meta["split"] not in SPLITS:
            problems.append(f"scene {i}: split {scene.meta['split']!r}")
        if progress:
            progress(1)
    return problems


def resimulate(bank: RIRBank, n_check: int = 3, seed: int = 0, rtol: float = 1e-4) -> list[str]:
    """Re-simulate a random sample of scenes and compare arrays (to rtol of each array's peak)."""
    problems = []
    rows = np.random.default_rng(seed).choice(len(bank), size=min(n_check, len(bank)), replace=False)
    simulator = Simulator(bank.config)
    for row in sorted(rows):
        stored = bank[row]
        fresh = simulator.simulate(int(stored.meta["scene_index"]))
        for name, a, b in (("brir", stored.brir, fresh.brir), ("noise_brir", stored.noise_brirs, fresh.noise_brirs),
                           ("noise_bed", stored.noise_bed, fresh.noise_bed)):
            if a.shape != b.shape:
                problems.append(f"scene {row}: {name} shape {a.shape} != re-simulated {b.shape}")
            elif a.size and np.max(np.abs(a - b)) > rtol * max(np.max(np.abs(b)), 1e-12):
                problems.append(f"scene {row}: {name} differs from its re-simulation "
                                f"(max diff {np.max(np.abs(a - b)):.3g})")
        if not np.allclose(stored.meta["rt60_measured"], fresh.meta["rt60_measured"], rtol=1e-3):
            problems.append(f"scene {row}: rt60_measured differs from its re-simulation")
    return problems


def verify_bank(path, n_check: int = 3, seed: int = 0, progress=None) -> list[str]:
    """All problems found (an empty list means the bank is sound)."""
    problems = check_schema(path)
    if problems:
        return problems
    bank = RIRBank(path)
    problems += check_values(bank, progress)
    if n_check > 0:
        problems += resimulate(bank, n_check, seed)
    return problems
