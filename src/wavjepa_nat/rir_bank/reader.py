"""Reading a bank: `RIRBank(path)`.

Metadata (a few numbers per scene) is read into memory at once; audio arrays are read on
demand. The HDF5 handle is opened lazily and reopened in a new process, so a bank object
can be handed to DataLoader workers (fork or spawn) and each worker reads on its own.
The training hot path (noise_bed_samples, brir_head) reads rows of raw, uncompressed chunks as views
of the memory-mapped file where it can: no HDF5 call and no copy out of the page cache.
Every bank format opens (schema.py): formats 2 and 3 store responses in float16 up to their decay floor, and
noise beds in float16 (2) or int16 (3); the reader gives both back as float32 (responses at full length).
"""

from __future__ import annotations

import mmap
import os
from dataclasses import dataclass
from pathlib import Path

import h5py
import numpy as np

from wavjepa_nat.dsp import to_float32
from wavjepa_nat.errors import InputError
from wavjepa_nat.rir_bank import checksums
from wavjepa_nat.rir_bank.schema import (
    FORMAT,
    META_COLUMNS,
    NAN_COLUMNS,
    SCHEMA_VERSIONS,
    STORAGE_COLUMNS,
    attrs_dict,
    decode_bed,
    decode_response,
    parse_diffuse_field,
    read_config,
)
from wavjepa_nat.scenes.diffuse import stft_freqs
from wavjepa_nat.scenes.hrtf import load_hrtf

RAW_DTYPES = (np.dtype("<f4"), np.dtype("<f2"), np.dtype("<i2"))  # rows the reader maps as they are stored
# Per-scene measures that select() and measure() know, by name -> (meta column, band index or None).
BANDS_HZ = (125, 250, 500, 1000, 2000, 4000, 8000)
MEASURES = {
    "t_mid": ("rt60_measured", None),
    "t30": ("rt60_broadband", None),
    "edt": ("edt", None),
    "c50": ("c50_db", None),
    "drr": ("drr_db", None),
} | {f"t30_{hz}": ("t30_band", b) for b, hz in enumerate(BANDS_HZ)}


@dataclass
class BankScene:
    index: int  # row in this bank
    brir: np.ndarray  # (2, L) float32, row 0 = left ear
    noise_brirs: np.ndarray  # (n, 2, L) float32
    noise_bed: np.ndarray  # (2, B) float32
    meta: dict


class RIRBank:
    def __init__(self, path: str | Path, check_structure: bool = True):
        """check_structure=False: only for `bank verify`, which lists every problem instead of the first."""
        self.path = Path(path)
        if not self.path.is_file():
            raise InputError(f"RIR bank not found: {self.path} (make one with `wavjepa-nat simulate-rirs`)")
        try:
            with h5py.File(self.path, "r") as f:
                self.attrs = attrs_dict(f)
                if self.attrs.get("format") != FORMAT:
                    raise InputError(f"{self.path} is not a wavjepa-nat RIR bank")
                if not self.attrs.get("complete"):
                    raise InputError(
                        f"{self.path} is an incomplete bank (a run was interrupted); rerun simulate-rirs"
                    )
                try:
                    self.config = read_config(f)
                except (ValueError, TypeError, KeyError) as err:  # InputError is a ValueError too
                    why = str(err).splitlines()[0] if str(err) else type(err).__name__
                    raise InputError(f"{self.path}: the stored scene config is damaged ({why})") from None
                self.version = int(self.attrs.get("schema_version", 1))
                if self.version not in SCHEMA_VERSIONS:
                    raise InputError(
                        f"{self.path} is a bank of format {self.version}, which this version "
                        f"of wavjepa-nat cannot read (it reads {SCHEMA_VERSIONS}); upgrade it"
                    )
                self.meta = {name: f["meta"][name][()] for name in META_COLUMNS if name in f["meta"]}
                if check_structure:
                    self._check_structure(f)
                self._checksums = checksums.stored(f) if check_structure else None
        except (OSError, KeyError) as err:
            raise InputError(f"{self.path} is not a readable HDF5 file or misses bank data ({err})") from None
        self._check_attrs()
        for name in ("split", "materials", "noise_signals"):
            self.meta[name] = np.array(
                [v.decode() if isinstance(v, bytes) else str(v) for v in self.meta[name]]
            )
        self.fs = int(self.attrs["fs"])
        self.brir_length = int(self.attrs["brir_length"])
        self.noise_bed_length = int(self.attrs["noise_bed_length"])
        self._fill_missing_columns()
        self._file = None
        self._pid = None
        self._ds = None
        self._map: np.ndarray | None = None  # the file's bytes, memory-mapped (per process)
        self._row_offsets: dict[tuple[str, int], int] = {}  # (dataset, row) -> byte offset; -1: not mappable
        self._chunk_table: np.ndarray | None | bool = False  # formats 2, 3: see _brir_chunk_table
        self._check_rows = check_structure
        self._sound: set[tuple[str, int]] = set()  # (dataset, row) this process has checked

    def _check_structure(self, f: h5py.File) -> None:
        """Every command opens a bank here: the arrays and meta columns its format stores exist, with the
        shapes its attributes give, and the storage scales can decode them (a deleted dataset, one cut short,
        or a zeroed scale would otherwise fail later, or render silence)."""
        optional = STORAGE_COLUMNS + NAN_COLUMNS if self.version == 1 else NAN_COLUMNS
        missing = [f"meta/{c}" for c in META_COLUMNS if c not in self.meta and c not in optional]
        missing += [name for name in ("brir", "noise_brir", "noise_bed") if name not in f]
        if missing:
            raise InputError(f"{self.path} is damaged: {', '.join(missing)} missing")
        n, a = len(self.meta["scene_index"]), self.attrs
        L, B, m = (int(a.get(k, -1)) for k in ("brir_length", "noise_bed_length", "max_noise_sources"))
        expect = {"brir": (n, 2, L), "noise_brir": (n, m, 2, L), "noise_bed": (n, 2, B)}
        wrong = [f"{k} is {f[k].shape}, not {v}" for k, v in expect.items() if f[k].shape != v]
        for name in ("brir_scale", "noise_brir_scale", "noise_bed_scale"):
            scale = self.meta.get(name)
            bad = scale is not None and (
                ~np.isfinite(scale) | (scale <= 0 if name == "brir_scale" else scale < 0)
            )
            if bad is not False and bad.any():
                wrong.append(f"meta/{name} is {scale[bad][0]} for scene {int(np.nonzero(bad)[0][0])}")
        taps = self.meta.get("brir_taps")
        if taps is not None and ((taps < 0) | (taps > L)).any():
            wrong.append(f"meta/brir_taps lies outside 0..{L}")
        if wrong:
            raise InputError(f"{self.path} is damaged: {'; '.join(wrong)}")

    def _check_attrs(self) -> None:
        """The stored sizes agree with the stored config (a flipped byte in either is a damaged bank)."""
        cfg, a = self.config, self.attrs
        expect = {
            "fs": cfg.fs,
            "brir_length": cfg.brir_length,
            "noise_bed_length": cfg.noise_bed_length,
            "max_noise_sources": cfg.noise_sources[1],
        }
        wrong = [f"{k}={a.get(k)!r} (its config says {v})" for k, v in expect.items() if a.get(k) != v]
        n = len(self.meta["scene_index"])
        lengths = {name: len(col) for name, col in self.meta.items() if len(col) != n}
        for name, col in self.meta.items():  # noise columns are NaN-padded; every other number is finite
            if (
                not name.startswith("noise_")
                and name not in NAN_COLUMNS
                and col.dtype.kind == "f"
                and not np.isfinite(col).all()
            ):
                rows = np.unique(np.nonzero(~np.isfinite(col))[0])
                wrong.append(f"meta/{name} is not finite for scene(s) {', '.join(map(str, rows[:5]))}")
        if wrong or lengths:
            raise InputError(
                f"{self.path} is damaged: "
                + "; ".join(wrong + [f"meta/{k} has {v} rows, not {n}" for k, v in lengths.items()])
            )

    def _fill_missing_columns(self) -> None:
        """Columns an older bank lacks: measures NaN; storage columns as format 1 stores (all, x 1)."""
        n = len(self.meta["scene_index"])
        for name, (shape, _) in META_COLUMNS.items():
            if name in self.meta:
                continue
            if name in ("brir_taps", "noise_brir_taps"):
                self.meta[name] = np.full(n, self.brir_length, np.int64)
            elif name.endswith("_scale"):
                self.meta[name] = np.ones(n)
            else:
                shape = tuple(int(self.attrs["max_noise_sources"]) if d == "M" else d for d in shape)
                self.meta[name] = np.full((n, *shape), np.nan)

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
        """Byte offset in the file of row i of a dataset stored as raw little-endian float32, float16 or int16
        (one uncompressed chunk per row, as simulate-rirs writes noise beds and format-1 BRIRs, or a
        contiguous dataset); -1 when it is not."""
        d = self._ds[name]
        row_bytes = d.dtype.itemsize * int(np.prod(d.shape[1:]))
        try:
            if (
                d.dtype not in RAW_DTYPES
                or d.id.get_create_plist().get_nfilters()
                or self._file.userblock_size
                or not 0 <= i < d.shape[0]
            ):
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
            row = self._map[offset : offset + row_bytes].view(d.dtype).reshape(d.shape[1:])
            ends = (..., slice(0, 1)), (..., slice(-1, None))
            same = all(np.array_equal(row[e], d[(i, *e)], equal_nan=True) for e in ends)
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
        d = self._ds[name]
        size = d.dtype.itemsize * int(np.prod(d.shape[1:]))
        return self._map[offset : offset + size].view(d.dtype).reshape(d.shape[1:])

    def _brir_chunk_table(self) -> np.ndarray | None:
        """Formats 2 and 3: the byte offset in the file of every written time chunk of `brir` (raw float16,
        each (2, chunk) in C order), (N, chunks per response) int64, -1 where never written; found in one walk
        over the dataset's chunk index (a lookup per chunk costs ~20x more) the first time it is needed. None
        where the chunks are not readable as raw bytes (then every read goes through HDF5)."""
        if self._chunk_table is not False:
            return self._chunk_table
        self._h5()
        table = None
        if self._map is not None:
            d = self._ds["brir"]
            try:
                c = d.chunks[-1]
                if (
                    d.dtype != np.dtype("<f2")
                    or tuple(d.chunks[:2]) != (1, 2)
                    or d.id.get_create_plist().get_nfilters()
                    or self._file.userblock_size
                ):
                    raise ValueError("not raw float16 time chunks")
                table = np.full((d.shape[0], -(-d.shape[-1] // c)), -1, np.int64)
                raw = []

                def visit(info) -> None:
                    if info.byte_offset is None or info.size != 4 * c or info.filter_mask != 0:
                        raise ValueError("chunk not stored raw")
                    raw.append((*info.chunk_offset, info.byte_offset))

                d.id.chunk_iter(visit)
                if raw:
                    rows = np.asarray(raw, np.int64)
                    if rows[:, 3].max() + 4 * c > len(self._map):
                        raise ValueError("chunk past the mapped file")
                    table[rows[:, 0], rows[:, 2] // c] = rows[:, 3]
                    # A guard against any layout surprise: a first chunk's ends as HDF5 reads them.
                    i, _, _, offset = (int(v) for v in rows[np.argmin(rows[:, 2])])
                    last = min(c, d.shape[-1]) - 1
                    first = self._map[offset : offset + 4 * c].view("<f2").reshape(2, c)
                    if not np.array_equal(first[:, [0, last]], d[i, :, [0, last]], equal_nan=True):
                        raise ValueError("mapped bytes differ")
            except (AttributeError, RuntimeError, ValueError, KeyError, TypeError, IndexError):
                table = None
        self._chunk_table = table
        return table

    def _mapped_brir(self, i: int, n: int) -> np.ndarray | None:
        """Formats 2, 3: the first n samples of scene i's BRIR as float32, decoded from the mapped file. The
        chunks' float16 samples are gathered first and converted in one call (dsp.to_float32): converting
        chunk by chunk cost more than the rest of a clip's reading."""
        table = self._brir_chunk_table()
        if table is None:
            return None
        c = self._ds["brir"].chunks[-1]
        m = min(int(self.meta["brir_taps"][i]), n)
        k = -(-m // c)
        offsets = table[i, :k]
        if np.any(offsets < 0):
            return None  # a chunk within the response's stored length not written: read through HDF5
        out = np.zeros((2, n), np.float32)
        if k == 0:
            return out
        first = int(offsets[0])
        if np.array_equal(offsets, first + 4 * c * np.arange(k)):  # one after another in the file
            raw = self._map[first : first + 4 * c * k].view("<f2").reshape(k, 2, c)
        else:
            raw = np.stack([self._map[o : o + 4 * c].view("<f2").reshape(2, c) for o in offsets.tolist()])
        samples = to_float32(raw.transpose(1, 0, 2).reshape(2, k * c)[:, :m])
        np.multiply(samples, np.float32(self.meta["brir_scale"][i]), out=out[:, :m])
        return out

    def _mapped_brir_row(self, i: int) -> np.ndarray | None:
        """Formats 2, 3: scene i's whole `brir` row (2, L) as stored (float16, zeros in unwritten chunks, as
        HDF5 reads them), gathered from the mapped file; None where the chunks are not mapped."""
        table = self._brir_chunk_table()
        if table is None:
            return None
        c = self._ds["brir"].chunks[-1]
        row = np.zeros((2, table.shape[1] * c), np.dtype("<f2"))
        for k, offset in enumerate(table[i].tolist()):
            if offset >= 0:
                row[:, k * c : (k + 1) * c] = self._map[offset : offset + 4 * c].view("<f2").reshape(2, c)
        return row[:, : self.brir_length]

    def _stored_row(self, name: str, i: int) -> np.ndarray:
        """Row i of a dataset as stored, every byte its checksum covers: from the mapped file where it lies
        there raw (the bytes the hot path then reads), else through HDF5."""
        row = self._mapped_brir_row(i) if name == "brir" and self.version >= 2 else None
        if row is None:
            row = self._mapped_row(name, i)
        return row if row is not None else self._dataset(name)[i]

    def _check_row(self, name: str, i: int) -> None:
        """The first time this process reads row i of brir, noise_brir or noise_bed: the row as stored matches
        its checksum, is finite, and a BRIR is not all zeros (damaged data would otherwise render wrong clips,
        or silence, unnoticed). Each row is checked once, when first read: a wet clip with a noise bed costs
        its BRIR and bed rows, not the noise-source BRIRs it does not read."""
        if not self._check_rows or (name, i) in self._sound:
            return
        problems = checksums.scene_problems(i, {name: self._stored_row(name, i)}, self._checksums)
        if problems:
            raise InputError(
                f"{self.path} is damaged: {problems[0]}; `wavjepa-nat bank verify {self.path}` lists all"
            )
        self._sound.add((name, i))

    def _decoded(self, name: str, i: int, n: int | None = None) -> np.ndarray:
        """Scene i's brir (2, n) or noise_brir (n_noise, 2, n) as float32 (n: the full length by default);
        formats 2 and 3: only the samples up to the response's stored end are read."""
        self._check_row(name, i)
        d = self._dataset(name)
        n = self.brir_length if n is None else n
        lead = () if name == "brir" else (slice(0, int(self.meta["n_noise"][i])),)
        if self.version < 2:
            return d[(i, *lead, ..., slice(0, n))]
        if name == "brir":
            mapped = self._mapped_brir(i, n)
            if mapped is not None:
                return mapped
        taps = min(int(self.meta[f"{name}_taps"][i]), n)
        stored = d[(i, *lead, ..., slice(0, max(taps, 1)))][..., :taps]
        return decode_response(stored, float(self.meta[f"{name}_scale"][i]), n)

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
        return BankScene(
            i, self._decoded("brir", i), self._decoded("noise_brir", i), self.noise_bed(i), self.scene_meta(i)
        )

    def _stack(self, rows: list[np.ndarray], shape: tuple[int, ...]) -> np.ndarray:
        if len(rows) == 1:
            return rows[0][None]  # the common case: no stacking copy
        return np.stack(rows) if rows else np.zeros((0, *shape), np.float32)

    def brirs(self, indices) -> np.ndarray:
        """Source BRIRs of several scenes (k, 2, L) float32."""
        return self._stack([self._decoded("brir", int(i)) for i in indices], (2, self.brir_length))

    def brir_head(self, i: int, n: int) -> np.ndarray:
        """The first n samples of scene i's source BRIR (2, n) float32, read-only. Format 1: a view of the
        mapped file where possible, else only those samples are read; formats 2 and 3: only the stored samples
        among them are read and decoded (zeros after the response's stored end)."""
        i, n = int(i), int(n)
        if self.version < 2:
            self._check_row("brir", i)
            row = self._mapped_row("brir", i)
            return row[:, :n] if row is not None else self._dataset("brir")[i, :, :n]
        return self._decoded("brir", i, n)

    @property
    def has_beds(self) -> bool:
        """False for a bank made with `simulate-rirs --beds none` (its beds are empty: the noise is made at
        training time from the noise-source BRIRs and the diffuse field)."""
        return self.noise_bed_length > 0

    def diffuse_field(self) -> tuple[np.ndarray, np.ndarray]:
        """The head's diffuse field (per-ear power (2, F), interaural coherence (F,)) on the STFT grid of
        scenes/diffuse.py, float64: as stored, or, for banks written before it was stored, recomputed from
        the stored HRTF config as simulate-rirs computed it (InputError when that HRTF cannot be loaded)."""
        if "diffuse_field" in self.attrs:
            try:
                return parse_diffuse_field(self.attrs["diffuse_field"])
            except (ValueError, KeyError, TypeError):
                raise InputError(f"{self.path} is damaged: its diffuse_field does not parse") from None
        hrtf = load_hrtf(self.config.hrtf, self.fs)
        return hrtf.diffuse_field(np.maximum(stft_freqs(self.fs), 1.0))

    def noise_bed(self, i: int) -> np.ndarray:
        """Scene i's noise bed (2, B) float32 at its level, read-only (format 1: a view of the mapped file)"""
        return decode_bed(self.noise_bed_samples(i), float(self.meta["noise_bed_scale"][i]))

    def noise_bed_samples(self, i: int) -> np.ndarray:
        """Scene i's noise bed as stored (2, B): float32 (format 1), float16 (2) or int16 (3), times
        meta["noise_bed_scale"][i] for its level. A read-only view of the mapped file where possible: for the
        training hot path, which sets the noise's level by the SNR and converts only the samples it uses."""
        i = int(i)
        self._check_row("noise_bed", i)
        row = self._mapped_row("noise_bed", i)
        return row if row is not None else self._dataset("noise_bed")[i]

    def noise_brirs(self, i: int) -> np.ndarray:
        """Scene i's noise-source BRIRs (n_noise, 2, L) float32."""
        return self._decoded("noise_brir", int(i))

    def rt60(self) -> np.ndarray:
        """Measured T_mid per scene, averaged over the ears: what sweeps bin by (see measure())."""
        return self.measure("t_mid")

    def measure(self, name: str) -> np.ndarray:
        """A measured acoustic quantity per scene, averaged over the ears (NaN where a bank lacks it):
        t_mid (T_mid, s), t30 (broadband T30), t30_125 .. t30_8000 (octave-band T30), edt (s), c50 (dB),
        drr (dB). Banks written before format 2 have only t_mid, t30 and drr."""
        if name not in MEASURES:
            raise InputError(f"unknown measure '{name}'; choose from {', '.join(MEASURES)}")
        column, band = MEASURES[name]
        values = self.meta[column] if band is None else self.meta[column][:, :, band]
        return np.mean(values, axis=1)

    def select(
        self, split: str | None = None, rt60: tuple[float, float] | None = None, **ranges: tuple[float, float]
    ) -> np.ndarray:
        """Row indices of scenes in a split, a measured-RT60 (T_mid) interval [lo, hi), and intervals [lo, hi)
        of any other measure (see measure()), e.g. select("test", t30_500=(0.3, 0.6), c50=(0, 10))."""
        keep = np.ones(len(self), dtype=bool)
        if split is not None:
            if split not in ("train", "val", "test"):
                raise InputError(f"split must be train, val or test, got '{split}'")
            keep &= self.meta["split"] == split
        if rt60 is not None:
            ranges = {"t_mid": rt60, **ranges}
        for name, (lo, hi) in ranges.items():
            measured = self.measure(name)
            keep &= (measured >= lo) & (measured < hi)
        return np.nonzero(keep)[0]

    def __repr__(self) -> str:
        return f"RIRBank('{self.path}', scenes={len(self)}, fs={self.fs}, hrtf={self.attrs['hrtf_name']})"
