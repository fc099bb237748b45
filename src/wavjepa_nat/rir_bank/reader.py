"""Reading a bank: `RIRBank(path)`.

Metadata (a few numbers per scene) is read into memory at once; audio arrays are read on
demand. The HDF5 handle is opened lazily and reopened in a new process, so a bank object
can be handed to DataLoader workers (fork or spawn) and each worker reads on its own.
"""

from __future__ import annotations

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
            raise InputError(f"RIR bank not found: {self.path}")
        try:
            with h5py.File(self.path, "r") as f:
                self.attrs = attrs_dict(f)
                if self.attrs.get("format") != FORMAT:
                    raise InputError(f"{self.path} is not a wavjepa-nat RIR bank")
                if not self.attrs.get("complete"):
                    raise InputError(f"{self.path} is an incomplete bank (a run was interrupted); rerun simulate-rirs")
                self.config = read_config(f)
                self.meta = {name: f["meta"][name][()] for name in META_COLUMNS}
        except OSError as err:
            raise InputError(f"{self.path} is not a readable HDF5 file ({err})") from None
        for name in ("split", "materials", "noise_signals"):
            self.meta[name] = np.array([v.decode() if isinstance(v, bytes) else str(v) for v in self.meta[name]])
        self.fs = int(self.attrs["fs"])
        self.brir_length = int(self.attrs["brir_length"])
        self.noise_bed_length = int(self.attrs["noise_bed_length"])
        self._file = None
        self._pid = None
        self._ds = None

    # -- lazy, per-process file handle -------------------------------------------------------
    def _h5(self) -> h5py.File:
        if self._file is None or self._pid != os.getpid():
            self._file = h5py.File(self.path, "r")
            self._pid = os.getpid()
            # Dataset handles cached: an h5py path lookup costs ~0.1 ms, a lot on the per-clip hot path.
            self._ds = {name: self._file[name] for name in ("brir", "noise_brir", "noise_bed")}
        return self._file

    def _dataset(self, name: str) -> h5py.Dataset:
        self._h5()
        return self._ds[name]

    def __getstate__(self):
        state = dict(self.__dict__)
        state["_file"], state["_pid"], state["_ds"] = None, None, None  # handles do not cross processes
        return state

    def close(self) -> None:
        if self._file is not None and self._pid == os.getpid():
            self._file.close()
        self._file = None

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
        """The first n samples of scene i's source BRIR (2, n): only those are read from the file."""
        return self._dataset("brir")[int(i), :, : int(n)]

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
