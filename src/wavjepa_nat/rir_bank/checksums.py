"""Per-scene CRC32 checksums, stored in a bank so that `bank verify` catches any changed byte.

    checksums/brir        (N,) uint32   CRC32 of row i of `brir` (its little-endian bytes in the stored dtype:
                                        float32 in format 1; later, float16 responses, float16 (2) or int16
                                        (3) beds; unwritten chunks read as 0)
    checksums/noise_brir  (N,) uint32   ... of row i of `noise_brir` (all M slots, used or not)
    checksums/noise_bed   (N,) uint32   ... of row i of `noise_bed`
    checksums/meta        (N,) uint32   ... of scene_index[i] and every meta/<name>[i] the file has, in
                                        META_COLUMNS order

Banks written before checksums were stored have no `checksums` group; they still open, and
`bank verify` says it cannot check their bytes without re-simulating.
"""

from __future__ import annotations

import struct
import zlib

import h5py
import numpy as np

from wavjepa_nat.rir_bank.schema import META_COLUMNS

GROUP = "checksums"
ARRAYS = ("brir", "noise_brir", "noise_bed")
NAMES = ARRAYS + ("meta",)
ALGORITHM = "crc32"


def array_crc(row: np.ndarray) -> int:
    """CRC32 of an array's values as little-endian bytes of its stored dtype (float32 or float16)."""
    row = np.asarray(row)
    dtype = row.dtype if row.dtype.kind in "fi" else np.dtype(np.float32)
    return zlib.crc32(np.ascontiguousarray(row, dtype=dtype.newbyteorder("<")))  # its buffer: no bytes copy


def array_crcs(d: h5py.Dataset, block: int = 8) -> np.ndarray:
    """array_crc of every row of a dataset, read a few rows at a time."""
    out = np.zeros(d.shape[0], np.uint32)
    for a in range(0, d.shape[0], block):
        rows = d[a : a + block]
        for k, row in enumerate(rows):
            out[a + k] = array_crc(row)
    return out


def _value_bytes(value, dtype: np.dtype) -> bytes:
    if dtype.kind in "OSU":
        raw = value.encode() if isinstance(value, str) else bytes(value)
        return struct.pack("<Q", len(raw)) + raw
    return np.ascontiguousarray(value, dtype=dtype.newbyteorder("<")).tobytes()


def meta_crcs(f: h5py.File, start: int = 0, stop: int | None = None) -> np.ndarray:
    """CRC32 of each scene's metadata (its scene_index and its row of every meta column)."""
    stop = len(f["scene_index"]) if stop is None else stop
    meta = f["meta"]
    datasets = [f["scene_index"]] + [meta[name] for name in META_COLUMNS if name in meta]  # format 1: fewer
    n = stop - start
    rows = []  # per column: each scene's bytes, as _value_bytes makes them
    for d in datasets:
        values, dtype = d[start:stop], d.dtype
        if dtype.kind in "OSU":
            rows.append([_value_bytes(v, dtype) for v in values])
        else:  # one little-endian buffer per column, cut into rows: the bytes of each row's values
            raw = memoryview(np.ascontiguousarray(values, dtype=dtype.newbyteorder("<")).tobytes())
            size = len(raw) // n if n else 0
            rows.append([raw[k * size : (k + 1) * size] for k in range(n)])
    out = np.zeros(n, np.uint32)
    for k in range(n):
        crc = 0
        for column in rows:
            crc = zlib.crc32(column[k], crc)
        out[k] = crc
    return out


def has_checksums(f: h5py.File) -> bool:
    return GROUP in f


def stored(f: h5py.File) -> dict[str, np.ndarray] | None:
    """The stored checksums {name: (N,) uint32}, or None for a bank written without them."""
    if GROUP not in f:
        return None
    return {name: f[GROUP][name][()] for name in NAMES if name in f[GROUP]}


# Stored float dtype -> (unsigned integer of its size, mask of every bit but the sign, smallest non-finite
# magnitude): finite and non-zero read from the bits (numpy's float16 isfinite and any convert each value).
FLOAT_BITS = {
    np.dtype("<f2"): (np.uint16, 0x7FFF, 0x7C00),
    np.dtype("<f4"): (np.uint32, 0x7FFF_FFFF, 0x7F80_0000),
}


def finite_and_nonzero(arr: np.ndarray) -> tuple[bool, bool]:
    """(every value is finite, some value is not zero) of an array as stored; NaN counts as not zero."""
    arr = np.asarray(arr)
    if arr.size == 0:
        return True, False
    if arr.dtype.kind in "iub":
        return True, bool(arr.any())
    if arr.dtype not in FLOAT_BITS:
        return bool(np.isfinite(arr).all()), bool(arr.any())
    unsigned, magnitude, non_finite = FLOAT_BITS[arr.dtype]
    top = int(np.bitwise_and(arr.view(unsigned), magnitude).max())
    return top < non_finite, top > 0


def scene_problems(i: int, rows: dict[str, np.ndarray], want: dict[str, np.ndarray] | None) -> list[str]:
    """What is wrong with scene i's stored rows ({array name: row, as stored}; any of them): non-finite
    values, bytes that differ from the stored checksum (`want`; None: a bank without checksums), an all-zero
    BRIR."""
    problems, silent = [], False
    for name, arr in rows.items():
        finite, nonzero = finite_and_nonzero(arr)
        if not finite:
            problems.append(f"scene {i}: {name} has non-finite values")
        if want is not None and name in want and array_crc(arr) != want[name][i]:
            problems.append(f"scene {i}: {name} does not match its stored checksum (changed bytes)")
        silent |= name == "brir" and not nonzero
    if silent:
        problems.append(f"scene {i}: brir is all zeros")
    return problems


def write(f: h5py.File, crcs: dict[str, np.ndarray]) -> None:
    group = f.require_group(GROUP)
    group.attrs["algorithm"] = ALGORITHM
    for name in NAMES:
        if name in group:
            del group[name]
        group.create_dataset(name, data=np.asarray(crcs[name], np.uint32))


def compute(f: h5py.File, progress=None) -> dict[str, np.ndarray]:
    """Checksums of every scene of an open bank-shaped file, read row by row (memory: one scene)."""
    n = len(f["scene_index"])
    crcs = {name: np.zeros(n, np.uint32) for name in ARRAYS}
    datasets = {name: f[name] for name in ARRAYS}
    for a in range(0, n, 8):  # memory: a few scenes
        for name, d in datasets.items():
            for k, row in enumerate(d[a : a + 8]):
                crcs[name][a + k] = array_crc(row)
        if progress:
            progress(min(8, n - a))
    crcs["meta"] = meta_crcs(f)
    return crcs
