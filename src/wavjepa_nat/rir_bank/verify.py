"""`bank verify`: the schema, finiteness of every value, the stored per-scene checksums (any
changed byte), and a re-simulation of a sample."""

from __future__ import annotations

import h5py
import numpy as np

from wavjepa_nat.errors import InputError
from wavjepa_nat.rir_bank import checksums
from wavjepa_nat.rir_bank.reader import RIRBank
from wavjepa_nat.rir_bank.schema import (
    FORMAT,
    META_COLUMNS,
    NAN_COLUMNS,
    SCHEMA_VERSIONS,
    array_dtypes,
    decode_bed,
    decode_response,
    encode_bed,
    encode_response,
    to_float16,
)
from wavjepa_nat.scenes import SPLITS, Simulator

ARRAYS = ("brir", "noise_brir", "noise_bed")


def check_schema(path) -> list[str]:
    problems = []
    with h5py.File(path, "r") as f:
        if f.attrs.get("format") != FORMAT:
            return [f"attrs: format is {f.attrs.get('format')!r}, not {FORMAT!r}"]
        version = int(f.attrs.get("schema_version", -1))
        if version not in SCHEMA_VERSIONS:
            return problems + [
                f"attrs: schema_version {f.attrs.get('schema_version')} is not one of {SCHEMA_VERSIONS}"
            ]
        for key in ("fs", "config", "package_version", "hrtf_name", "hrtf_sha256", "seed", "complete"):
            if key not in f.attrs:
                problems.append(f"attrs: missing '{key}'")
        sizes = ("brir_length", "noise_bed_length", "max_noise_sources")
        if "scene_index" not in f or any(key not in f.attrs for key in sizes):
            return problems + [f"attrs or scene_index: missing one of {sizes} or scene_index"]
        n, L, B = len(f["scene_index"]), int(f.attrs["brir_length"]), int(f.attrs["noise_bed_length"])
        m = int(f.attrs["max_noise_sources"])
        for name in META_COLUMNS:
            optional = version < 2 and (name in NAN_COLUMNS or name.endswith(("_taps", "_scale")))
            present = f"meta/{name}" in f
            if (not present and not optional) or (present and len(f["meta"][name]) != n):
                problems.append(f"meta/{name}: missing or wrong length")
        if problems:
            return problems
        expected = {"brir": (n, 2, L), "noise_brir": (n, m, 2, L), "noise_bed": (n, 2, B)}
        dtypes = array_dtypes(version)
        for name, shape in expected.items():
            dtype = dtypes[name]
            if name not in f or f[name].shape != shape or f[name].dtype != dtype:
                problems.append(f"{name}: expected {dtype} {shape}")
        if checksums.has_checksums(f):
            for name in checksums.NAMES:
                d = f[checksums.GROUP].get(name)
                if not isinstance(d, h5py.Dataset) or d.shape != (n,) or d.dtype != np.uint32:
                    problems.append(f"{checksums.GROUP}/{name}: expected uint32 ({n},)")
    return problems


def check_values(bank: RIRBank, progress=None, notes: list[str] | None = None) -> list[str]:
    """Every array finite, every BRIR non-zero, metadata finite, and every scene's bytes equal to their
    stored checksums (a bank written before checksums were stored gets a note instead)."""
    problems = []
    with h5py.File(bank.path, "r") as f:
        want = checksums.stored(f)
        if want is None and notes is not None:
            notes.append(
                "checksums: absent (a bank written before they were stored); changed bytes can "
                "only be found by re-simulating (--n-check)"
            )
        for i in range(len(bank)):
            rows = {name: f[name][i] for name in ARRAYS}  # whole rows as stored: every stored byte checked
            problems += checksums.scene_problems(i, rows, want)
            for key, value in bank.scene_meta(i).items():
                if key in NAN_COLUMNS:  # NaN where a band is above fs / 2 (or not fitted)
                    continue
                if isinstance(value, (float, np.ndarray)) and not np.all(np.isfinite(value)):
                    problems.append(f"scene {i}: meta {key} is not finite")
            if bank.meta["split"][i] not in SPLITS:
                problems.append(f"scene {i}: split {bank.meta['split'][i]!r}")
            if progress:
                progress(1)
        if want is not None:
            for i in np.nonzero(checksums.meta_crcs(f) != want["meta"])[0]:
                problems.append(f"scene {i}: metadata does not match its stored checksum (changed bytes)")
    return problems


def _as_stored(bank: RIRBank, row: int, fresh) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """A fresh scene's arrays as the bank's format stores and reads them back (formats 2 and 3: responses in
    float16, cut; format 3's int16 beds; format 2's float16 beds)."""
    if bank.version < 2:
        return fresh.brir, fresh.noise_brirs, fresh.noise_bed
    L = bank.brir_length
    brir, _, scale = encode_response(fresh.brir)
    noise, _, noise_scale = encode_response(fresh.noise_brirs)
    if bank.version == 2:  # float16 beds over the power-of-two scale stored for the row
        bed_scale = float(bank.meta["noise_bed_scale"][row])
        bed = to_float16(np.asarray(fresh.noise_bed, np.float32) / np.float32(bed_scale))
    else:
        bed, bed_scale = encode_bed(fresh.noise_bed)
    return (
        decode_response(brir, scale, L),
        decode_response(noise, noise_scale, L),
        decode_bed(bed, bed_scale),
    )


def resimulate(bank: RIRBank, n_check: int = 3, seed: int = 0, rtol: float = 1e-4) -> list[str]:
    """Re-simulate a random sample of scenes and compare arrays (to rtol of each array's peak), after
    storing them as the bank stores them."""
    problems = []
    rows = np.random.default_rng(seed).choice(len(bank), size=min(n_check, len(bank)), replace=False)
    simulator = Simulator(bank.config)
    for row in sorted(rows):
        stored = bank[row]
        fresh = simulator.simulate(int(stored.meta["scene_index"]))
        brir, noise_brirs, noise_bed = _as_stored(bank, row, fresh)
        for name, a, b in (
            ("brir", stored.brir, brir),
            ("noise_brir", stored.noise_brirs, noise_brirs),
            ("noise_bed", stored.noise_bed, noise_bed),
        ):
            if a.shape != b.shape:
                problems.append(f"scene {row}: {name} shape {a.shape} != re-simulated {b.shape}")
            elif a.size and np.max(np.abs(a - b)) > rtol * max(np.max(np.abs(b)), 1e-12):
                problems.append(
                    f"scene {row}: {name} differs from its re-simulation "
                    f"(max diff {np.max(np.abs(a - b)):.3g})"
                )
        if not np.allclose(stored.meta["rt60_measured"], fresh.meta["rt60_measured"], rtol=1e-3):
            problems.append(f"scene {row}: rt60_measured differs from its re-simulation")
    return problems


def verify_bank(
    path, n_check: int = 3, seed: int = 0, progress=None, notes: list[str] | None = None
) -> list[str]:
    """All problems found (an empty list means the bank is sound). Remarks that are not problems (such as
    a bank without checksums) are appended to `notes`."""
    if n_check < 0:
        raise InputError(f"--n-check must be 0 or more, got {n_check}")
    try:
        problems = check_schema(path)
    except OSError as err:
        raise InputError(f"{path} is not a readable HDF5 file ({err})") from None
    if problems:
        return problems
    bank = RIRBank(path, check_structure=False)  # check_values lists what the reader would refuse
    try:
        problems += check_values(bank, progress, notes)
        if n_check > 0:
            problems += resimulate(bank, n_check, seed)
    except InputError:
        raise
    except (OSError, KeyError, ValueError, RuntimeError) as err:  # HDF5 structures damaged under the data
        problems.append(f"unreadable: {type(err).__name__}: {err}")
    return problems
