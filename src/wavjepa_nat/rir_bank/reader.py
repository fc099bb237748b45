"""Reading a bank: `RIRBank(path)`.

Metadata (a few numbers per scene) is read into memory at once; audio arrays are read on
demand. The HDF5 handle is opened lazily and reopened in a new process, so a bank object
can be handed to DataLoader workers (fork or spawn) and each worker reads on its own.
The training hot path (noise_bed, brir_head) reads rows of raw, uncompressed chunks as views
of the memory-mapped file: no HDF5 call and no copy out of the page cache.
"""

from __future__ import annotations

import mmap
import os
from dataclasses import dataclass
from pathlib import Path

import h5py
import numpy as np

from wavjepa_nat.errors import InputError
from wavjepa_nat.rir_bank.schema import FORMAT, META_COLUMNS, attrs_dict, read_config


@dataclass
class BankScene:
    index: int  # row in this bank
    brir: np.ndarray  # (2, L) float32, row 0 = left ear
    noise_brirs: np.ndarray  # (n, 2, L) float32
    noise_bed: np.ndarray  # (2, B) float32
    meta: dict


class RIRBank:
    def __init__(self, path: str | Path):
        self.path = Path(path)
        if not self.path.is_file():
            raise InputError(f"RIR bank not found: {self.path} (make one with `wavjepa-nat simulate-rirs`)")
        try:
            with h5py.File(self.path, "r") as f:
                self.attrs = attrs_dict(f)
                if self.attrs.get("format") != FORMAT:
                    raise InputError(f"{self.path} is not a wavjepa-nat RIR bank")
                if not self.attrs.get("complete"):
                    raise InputError(f"{self.path} is an incomplete bank (a run was interrupted); rerun simulate-rirs")
                try:
                    self.config = read_config(f)
                except (ValueError, TypeError, KeyError) as err:  # InputError is a ValueError too
                    why = str(err).splitlines()[0] if str(err) else type(err).__name__
                    raise InputError(f"{self.path}: the stored scene config is damaged ({why})") from None
                self.meta = {name: f["meta"][name][()] for name in META_COLUMNS}
        except (OSError, KeyError) as err:
            raise InputError(f"{self.path} is not a readable HDF5 file or misses bank data ({err})") from None
        self._check_attrs()
        for name in ("split", "materials", "noise_signals"):
            self.meta[name] = np.array([v.decode() if isinstance(v, bytes) else str(v) for v in self.meta[name]])
        self.fs = int(self.attrs["fs"])
        self.brir_length = int(self.attrs["brir_length"])
        self.noise_bed_length = int(self.attrs["noise_bed_length"])
        self._file = None
        self._pid = None
        self._ds = None
        self._map: np.ndarray | None = None  # the file's bytes, memory-mapped (per process)
        self._row_offsets: dict[tuple[str, int], int] = {}  # (dataset, row) -> byte offset; -1: not mappable

    def _check_attrs(self) -> None:
        """The stored sizes agree with the stored config (a flipped byte in either is a damaged bank)."""
        cfg, a = self.config, self.attrs
        expect = {"fs": cfg.fs, "brir_length": cfg.brir_length, "noise_bed_length": cfg.noise_bed_length,
                  "max_noise_sources": cfg.noise_sources[1]}
        wrong = [f"{k}={a.get(k)!r} (its config says {v})" for k, v in expect.items() if a.get(k) != v]
        n = len(self.meta["scene_index"])
        lengths = {name: len(col) for name, col in self.meta.items() if len(col) != n}
        for name, col in self.meta.items():  # noise columns are NaN-padded; every other number is finite
            if not name.startswith("noise_") and col.dtype.kind == "f" and not np.isfinite(col).all():
                rows = np.unique(np.nonzero(~np.isfinite(col))[0])
                wrong.append(f"meta/{name} is not finite for scene(s) {', '.join(map(str, rows[:5]))}")
        if wrong or lengths:
            raise InputError(f"{self.path} is damaged: " + "; ".join(
                wrong + [f"meta/{k} has {v} rows, not {n}" for k, v in lengths.items()]))

    # -- lazy, per-process file handle -------------------------------------------------------
    def _h5(self) -> h5py.File:
        if self._file is None or self._pid != os.getpid():
            self._file = h5py.File(self.path, "r")
            self._pid = os.getpid()
            # Dataset handles cached: an h5py path lookup is not free, and this is the per-clip hot path.
            self._ds = {name: self._file[name] for name in ("brir", "noise_brir", "noise_bed")}
            try:
                with open(self.path, "rb") as fh:
                    self._map = np.frombuffer(mmap.mmap(fh.fileno(), 0, access=mmap.ACCESS_READ), np.uint8)
            except (OSError, ValueError):  # no mmap here: every read goes through HDF5
                self._map = None
        return self._file

    def _dataset(self, name: str) -> h5py.Dataset:
        self._h5()
        return self._ds[name]

    def __getstate__(self):
        state = dict(self.__dict__)
        state["_file"], state["_pid"], state["_ds"] = None, None, None  # handles do not cross processes
        state["_map"] = None
        return state

    def close(self) -> None:
        if self._file is not None and self._pid == os.getpid():
            self._file.close()
        self._file, self._map = None, None

    def _row_offset(self, name: str, i: int) -> int:
        """Byte offset in the file of row i of a dataset stored as raw little-endian float32 (one uncompressed
        chunk per row, as simulate-rirs writes banks, or a contiguous dataset); -1 when it is not."""
        d = self._ds[name]
        row_bytes = 4 * int(np.prod(d.shape[1:]))
        try:
            if (d.dtype != np.dtype("<f4") or d.id.get_create_plist().get_nfilters()
                    or self._file.userblock_size or not 0 <= i < d.shape[0]):
                return -1
            if d.chunks is None:
                offset = d.id.get_offset()
                offset = None if offset is None else int(offset) + i * row_bytes
            elif tuple(d.chunks) == (1, *d.shape[1:]):
                info = d.id.get_chunk_info_by_coord((i,) + (0,) * (d.ndim - 1))
                ok = info.byte_offset is not None and info.size == row_bytes and info.filter_mask == 0
                offset = int(info.byte_offset) if ok else None
            else:
                offset = None
            if offset is None or offset + row_bytes > len(self._map):
                return -1
            # The first and last samples must match an HDF5 read: a guard against any layout surprise.
            row = self._map[offset : offset + row_bytes].view("<f4").reshape(d.shape[1:])
            ends = (..., slice(0, 1)), (..., slice(-1, None))
            same = all(np.array_equal(row[e].view(np.uint32), d[(i, *e)].view(np.uint32)) for e in ends)
            return offset if same else -1
        except (AttributeError, RuntimeError, ValueError, KeyError):  # an old HDF5 / h5py: read through HDF5
            return -1

    def _mapped_row(self, name: str, i: int) -> np.ndarray | None:
        """Row i of a dataset as a read-only view of the memory-mapped file, or None (not mappable)."""
        self._h5()
        if self._map is None:
            return None
        offset = self._row_offsets.get((name, i))
        if offset is None:
            offset = self._row_offsets[(name, i)] = self._row_offset(name, i)
        if offset < 0:
            return None
        shape = self._ds[name].shape[1:]
        return self._map[offset : offset + 4 * int(np.prod(shape))].view("<f4").reshape(shape)

    # -- access ------------------------------------------------------------------------------
    def __len__(self) -> int:
        return len(self.meta["scene_index"])

    def scene_meta(self, i: int) -> dict:
        n = int(self.meta["n_noise"][i])
        row = {name: self.meta[name][i] for name in META_COLUMNS}
        for name in ("noise_pos", "noise_azimuth_deg", "noise_elevation_deg", "noise_distance_m"):
            row[name] = row[name][:n]
        for name, value in row.items():
            if isinstance(value, np.generic):
                row[name] = value.item()
        return row

    def __getitem__(self, i: int) -> BankScene:
        i = int(i)
        if not -len(self) <= i < len(self):
            raise IndexError(f"scene {i} out of range for a bank of {len(self)}")
        i %= len(self)
        f = self._h5()
        n = int(self.meta["n_noise"][i])
        return BankScene(i, f["brir"][i], f["noise_brir"][i, :n], f["noise_bed"][i], self.scene_meta(i))

    def _rows(self, name: str, indices) -> np.ndarray:
        d = self._dataset(name)
        if len(indices) == 1:
            return d[int(indices[0])][None]  # the common case: no stacking copy
        if len(indices) == 0:
            return np.zeros((0, *d.shape[1:]), np.float32)
        return np.stack([d[int(i)] for i in indices])

    def brirs(self, indices) -> np.ndarray:
        """Source BRIRs of several scenes (k, 2, L)."""
        return self._rows("brir", indices)

    def brir_head(self, i: int, n: int) -> np.ndarray:
        """The first n samples of scene i's source BRIR (2, n), read-only: a view of the mapped file where
        possible, else only those samples are read."""
        row = self._mapped_row("brir", int(i))
        return row[:, : int(n)] if row is not None else self._dataset("brir")[int(i), :, : int(n)]

    def noise_bed(self, i: int) -> np.ndarray:
        """Scene i's noise bed (2, B), read-only: a view of the mapped file (no copy) where possible."""
        row = self._mapped_row("noise_bed", int(i))
        return row if row is not None else self._dataset("noise_bed")[int(i)]

    def noise_beds(self, indices) -> np.ndarray:
        """Noise beds of several scenes (k, 2, B)."""
        return self._rows("noise_bed", indices)

    def noise_brirs(self, i: int) -> np.ndarray:
        return self._dataset("noise_brir")[int(i), : int(self.meta["n_noise"][i])]

    def rt60(self) -> np.ndarray:
        """Measured T_mid per scene, averaged over the ears: what sweeps bin by."""
        return self.meta["rt60_measured"].mean(axis=1)

    def select(self, split: str | None = None, rt60: tuple[float, float] | None = None) -> np.ndarray:
        """Row indices of scenes in a split and/or a measured-RT60 interval [lo, hi)."""
        keep = np.ones(len(self), dtype=bool)
        if split is not None:
            if split not in ("train", "val", "test"):
                raise InputError(f"split must be train, val or test, got '{split}'")
            keep &= self.meta["split"] == split
        if rt60 is not None:
            measured = self.rt60()
            keep &= (measured >= rt60[0]) & (measured < rt60[1])
        return np.nonzero(keep)[0]

    def __repr__(self) -> str:
        return f"RIRBank('{self.path}', scenes={len(self)}, fs={self.fs}, hrtf={self.attrs['hrtf_name']})"
