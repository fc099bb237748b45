"""The HDF5 layout of an RIR bank, in one place.

    attrs        format, schema_version, complete, fs, package_version, config (SceneConfig JSON),
                 hrtf_name, hrtf_sha256, engine, seed, shard ("K/N"), n_scenes_total,
                 brir_length, noise_bed_length, max_noise_sources
    scene_index  (N,) int64    global scene index of each row (a shard holds a contiguous range)
    brir         (N, 2, L)     float32, row 0 = left ear; one chunk per scene
    noise_brir   (N, M, 2, L)  float32, the first meta/n_noise[i] slots are used
    noise_bed    (N, 2, B)     float32, binaural noise at the configured RMS level
    meta/<name>  one column per metadata field (see META_COLUMNS)
    checksums/<brir|noise_brir|noise_bed|meta>  (N,) uint32 CRC32 of each scene's bytes (checksums.py);
                 absent in banks written before they were stored, which still open

A file is a bank only when attrs["complete"] is True: files are written under another name
and renamed at the very end, so a killed run never leaves a file that looks finished.
"""

from __future__ import annotations

import h5py
import numpy as np

from wavjepa_nat import __version__
from wavjepa_nat.scenes.config import SceneConfig

FORMAT = "wavjepa-nat-rir-bank"
SCHEMA_VERSION = 1
N_BANDS = 7  # octave bands 125 Hz .. 8 kHz

# name -> (per-scene shape, dtype); "M" stands for max_noise_sources. Strings are variable-length.
STR = h5py.string_dtype()
META_COLUMNS = {
    "scene_index": ((), np.int64),
    "room_id": ((), np.int64),
    "split": ((), STR),
    "room_dims": ((3,), np.float64),
    "materials": ((), STR),
    "absorption": ((N_BANDS,), np.float64),
    "band_rt60": ((N_BANDS,), np.float64),
    "rt60_target": ((), np.float64),
    "rt60_measured": ((2,), np.float64),
    "rt60_broadband": ((2,), np.float64),
    "drr_db": ((2,), np.float64),
    "azimuth_deg": ((), np.float64),
    "elevation_deg": ((), np.float64),
    "distance_m": ((), np.float64),
    "direct_delay_s": ((), np.float64),
    "mixing_time_s": ((), np.float64),
    "listener_pos": ((3,), np.float64),
    "listener_yaw_deg": ((), np.float64),
    "source_pos": ((3,), np.float64),
    "n_noise": ((), np.int64),
    "noise_pos": (("M", 3), np.float64),
    "noise_azimuth_deg": (("M",), np.float64),
    "noise_elevation_deg": (("M",), np.float64),
    "noise_distance_m": (("M",), np.float64),
    "noise_signals": ((), STR),
}


def bank_attrs(cfg: SceneConfig, hrtf_name: str, hrtf_sha256: str, shard: tuple[int, int], n_total: int) -> dict:
    return {
        "format": FORMAT,
        "schema_version": SCHEMA_VERSION,
        "fs": cfg.fs,
        "package_version": __version__,
        "config": cfg.to_json(),
        "hrtf_name": hrtf_name,
        "hrtf_sha256": hrtf_sha256,
        "engine": cfg.engine,
        "seed": cfg.seed,
        "shard": f"{shard[0]}/{shard[1]}",
        "n_scenes_total": n_total,
        "brir_length": cfg.brir_length,
        "noise_bed_length": cfg.noise_bed_length,
        "max_noise_sources": cfg.noise_sources[1],
    }


def create_datasets(f: h5py.File, n: int, cfg: SceneConfig) -> None:
    m, L, B = cfg.noise_sources[1], cfg.brir_length, cfg.noise_bed_length
    f.create_dataset("brir", (n, 2, L), np.float32, chunks=(1, 2, L))
    f.create_dataset("noise_brir", (n, m, 2, L), np.float32, chunks=(1, 1, 2, L) if m else None)
    f.create_dataset("noise_bed", (n, 2, B), np.float32, chunks=(1, 2, B))
    group = f.create_group("meta")
    for name, (shape, dtype) in META_COLUMNS.items():
        shape = tuple(m if s == "M" else s for s in shape)
        group.create_dataset(name, (n, *shape), dtype, fillvalue=np.nan if dtype is np.float64 else None)


def meta_row(meta: dict, max_noise: int) -> dict:
    """A scene's metadata as fixed-shape values for the columns (noise fields NaN-padded to M)."""
    row = {}
    for name, (shape, dtype) in META_COLUMNS.items():
        value = meta[name]
        if shape and shape[0] == "M":
            padded = np.full((max_noise, *shape[1:]), np.nan)
            padded[: len(value)] = value
            value = padded
        row[name] = value
    return row


def read_config(f: h5py.File) -> SceneConfig:
    return SceneConfig.from_json(f.attrs["config"])


def attrs_dict(f: h5py.File) -> dict:
    return {k: (v.item() if isinstance(v, np.generic) else v) for k, v in f.attrs.items()}
