"""The HDF5 layout of an RIR bank, in one place.

    attrs        format, schema_version, complete, fs, package_version, config (SceneConfig JSON),
                 hrtf_name, hrtf_sha256, engine, seed, shard ("K/N"), n_scenes_total,
                 brir_length, noise_bed_length, max_noise_sources,
                 diffuse_field: JSON {"power": (2, F), "coherence": (F,)}, the head's diffuse field on
                 the STFT grid of scenes/diffuse.py (per-ear power, interaural coherence; floats round-trip
                 exactly through JSON, and a string attribute compares as one value), what the diffuse part
                 of the noise is made with; absent in banks written before it was stored
                 (RIRBank.diffuse_field then recomputes it from the stored HRTF config)
    scene_index  (N,) int64    global scene index of each row (a shard holds a contiguous range)
    meta/<name>  one column per metadata field (see META_COLUMNS)
    checksums/<brir|noise_brir|noise_bed|meta>  (N,) uint32 CRC32 of each scene's stored bytes (checksums.py);
                 absent in banks written before they were stored, which still open

Format 3 (schema_version 3, written now): format 2 with noise beds in int16 (stored * noise_bed_scale == bed,
the scale putting the bed's peak at full scale): ~87 dB of signal to quantisation noise at any level, and
int16 converts to float32 in a vectorised pass (numpy converts float16 element by element, which made reading
format 2 slower than format 1).

Format 2 (schema_version 2, still read): responses in float16 after a power-of-two scale
(meta/*_scale: stored * scale == the float32 response; 11 bits of relative precision per sample all
along the decay), each stored only until its remaining energy is below float32 resolution
(dsp.trim_tail's -150 dB; its length in meta/*_taps): responses are chunked along time and chunks
past that point are never written, so they take no space and read as zeros. Noise beds in float16
too (stored * noise_bed_scale == bed; the scale is 1 at the default level). Shapes are those of
format 1:
    brir         (N, 2, L)     float16, chunks (1, 2, TIME_CHUNK)
    noise_brir   (N, M, 2, L)  float16, chunks (1, 1, 2, TIME_CHUNK)
    noise_bed    (N, 2, B)     float16, one chunk per scene (int16 in format 3)

Format 1 (schema_version 1, still read): fixed lengths, float32, no scales:
    brir         (N, 2, L)     float32, row 0 = left ear; one chunk per scene
    noise_brir   (N, M, 2, L)  float32, the first meta/n_noise[i] slots are used
    noise_bed    (N, 2, B)     float32, binaural noise at the configured RMS level
Columns a format-1 bank lacks read as NaN (measures) or as "stored as is" (taps = L, scales = 1).

Bed-less banks (`simulate-rirs --beds none`, config noise_beds false): a format-3 bank with
noise_bed_length 0: `noise_bed` is then an empty (N, 2, 0) dataset (contiguous: HDF5 has no empty chunks),
every bed checksum is that of no bytes, and training makes each clip's noise from the noise-source BRIRs
and the diffuse field above (data/render/noise.py). Older readers refuse such a bank as damaged (its
noise_bed_length 0 disagrees with the bed length their config reading gives) rather than train on empty
beds.

A file is a bank only when attrs["complete"] is True: files are written under another name
and renamed at the very end, so a killed run never leaves a file that looks finished.
"""

from __future__ import annotations

import json

import h5py
import numpy as np

from wavjepa_nat.dsp import to_float32, trim_tail
from wavjepa_nat.scenes.config import SceneConfig
from wavjepa_nat.version import package_version

FORMAT = "wavjepa-nat-rir-bank"
SCHEMA_VERSION = 3  # see the module docstring; 1 and 2 are still read
SCHEMA_VERSIONS = (1, 2, 3)
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
    # Measures added with format 2 (NaN in older banks): per ear; t30_band per octave band 125 Hz .. 8 kHz.
    "t30_band": ((2, N_BANDS), np.float64),
    "edt": ((2,), np.float64),
    "c50_db": ((2,), np.float64),
    # How format 2 stores the arrays (see the docstring).
    "brir_taps": ((), np.int64),
    "brir_scale": ((), np.float64),
    "noise_brir_taps": ((), np.int64),
    "noise_brir_scale": ((), np.float64),
    "noise_bed_scale": ((), np.float64),
}
NAN_COLUMNS = ("t30_band", "edt", "c50_db")  # NaN where not measurable (a band above fs / 2)
STORAGE_COLUMNS = ("brir_taps", "brir_scale", "noise_brir_taps", "noise_brir_scale", "noise_bed_scale")
STORED_DTYPE = np.float16  # responses (formats 2 and 3)
BED_DTYPE = np.int16  # noise beds (format 3)
BED_FULL_SCALE = 32767


def array_dtypes(version: int) -> dict[str, np.dtype]:
    """The stored dtype of each array in a bank of format `version`."""
    if version == 1:
        return {name: np.dtype(np.float32) for name in ("brir", "noise_brir", "noise_bed")}
    bed = np.float16 if version == 2 else BED_DTYPE
    return {"brir": np.dtype(STORED_DTYPE), "noise_brir": np.dtype(STORED_DTYPE), "noise_bed": np.dtype(bed)}


TIME_CHUNK = 2048  # samples per chunk of a stored response (formats 2, 3): at most one part-filled chunk each


def bank_attrs(
    cfg: SceneConfig,
    hrtf_name: str,
    hrtf_sha256: str,
    shard: tuple[int, int],
    n_total: int,
    diffuse: tuple[np.ndarray, np.ndarray] | None = None,
) -> dict:
    """The bank's attributes; diffuse: the head's (power (2, F), coherence (F,)) diffuse field
    (Simulator.diffuse_field)."""
    extra = {}
    if diffuse is not None:
        extra["diffuse_field"] = diffuse_field_json(*diffuse)
    return extra | {
        "format": FORMAT,
        "schema_version": SCHEMA_VERSION,
        "fs": cfg.fs,
        "package_version": package_version(),
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


def diffuse_field_json(power: np.ndarray, coherence: np.ndarray) -> str:
    return json.dumps(
        {
            "power": np.asarray(power, np.float64).tolist(),
            "coherence": np.asarray(coherence, np.float64).tolist(),
        }
    )


def parse_diffuse_field(text: str) -> tuple[np.ndarray, np.ndarray]:
    """The (power (2, F), coherence (F,)) float64 of a bank's diffuse_field attribute."""
    raw = json.loads(text)
    return np.asarray(raw["power"], np.float64), np.asarray(raw["coherence"], np.float64)


def schema_version(f: h5py.File) -> int:
    """The layout of a bank or part file (format 1 files have no stored version in their parts)."""
    return int(f.attrs.get("schema_version", 1))


def create_datasets(f: h5py.File, n: int, cfg: SceneConfig, version: int = SCHEMA_VERSION) -> None:
    """The arrays and meta columns of n scenes, in format `version`."""
    m, L, B = cfg.noise_sources[1], cfg.brir_length, cfg.noise_bed_length
    f.attrs["schema_version"] = version
    dtypes = array_dtypes(version)
    c = L if version == 1 else min(TIME_CHUNK, L)  # format 1: a response is one chunk
    f.create_dataset("brir", (n, 2, L), dtypes["brir"], chunks=(1, 2, c), fillvalue=0)
    f.create_dataset(
        "noise_brir", (n, m, 2, L), dtypes["noise_brir"], chunks=(1, 1, 2, c) if m else None, fillvalue=0
    )
    # Bed-less banks: an empty dataset, contiguous (a chunk cannot be empty).
    f.create_dataset("noise_bed", (n, 2, B), dtypes["noise_bed"], chunks=(1, 2, B) if B else None)
    group = f.create_group("meta")
    for name, (shape, dtype) in META_COLUMNS.items():
        if version == 1 and (name in STORAGE_COLUMNS or name in NAN_COLUMNS):
            continue
        shape = tuple(m if s == "M" else s for s in shape)
        group.create_dataset(name, (n, *shape), dtype, fillvalue=np.nan if dtype is np.float64 else None)


def _pow2_scale(value: float) -> float:
    """The power of two at or above value (1 for silence): dividing by it is exact."""
    return float(2.0 ** np.ceil(np.log2(value))) if value > 0 and np.isfinite(value) else 1.0


_F16_MIN_NORMAL = np.float32(2.0**-14)


def to_float16(x: np.ndarray) -> np.ndarray:
    """x.astype(float16), bit for bit, faster on decaying responses: numpy converts values in float16's
    subnormal range (below 2^-14, all along a response's tail) by a slow path, ~10x its normal cost. Those are
    made here directly: their bits are the count of 2^-24 steps, rounded half to even as IEEE does (np.rint),
    1024 being the smallest normal, with the sign bit."""
    x = np.ascontiguousarray(x, np.float32)
    a = np.abs(x)
    small = a < _F16_MIN_NORMAL
    if np.count_nonzero(small) * 100 < small.size:  # noise, or a response's head: the plain cast
        return x.astype(np.float16)
    out = np.where(small, np.float32(0.0), x).astype(np.float16)
    with np.errstate(over="ignore", invalid="ignore"):  # the large values (and NaN) are not used
        a *= np.float32(2.0**24)
        np.rint(a, out=a)
        np.fmin(a, np.float32(1024.0), out=a)  # keeps the cast defined
        bits = a.astype(np.uint16)
    bits |= (x.view(np.uint32) >> 16).astype(np.uint16) & np.uint16(0x8000)
    np.copyto(out.view(np.uint16), bits, where=small)
    return out


def encode_response(h: np.ndarray) -> tuple[np.ndarray, int, float]:
    """A response (..., 2, L) -> (its float16 samples (..., 2, T) up to its decay floor, T, scale)."""
    h = np.asarray(h, np.float32)
    if h.size == 0:
        return np.zeros(h.shape[:-1] + (0,), STORED_DTYPE), 0, 1.0
    taps = trim_tail(h.reshape(-1, h.shape[-1])).shape[-1]
    scale = _pow2_scale(float(np.max(np.abs(h))))
    return to_float16(h[..., :taps] / np.float32(scale)), taps, scale


def decode_response(stored: np.ndarray, scale: float, length: int) -> np.ndarray:
    """float16 samples (..., T) -> the response (..., length) float32, zero beyond T."""
    out = np.zeros(stored.shape[:-1] + (length,), np.float32)
    n = min(stored.shape[-1], length)
    np.multiply(stored[..., :n], np.float32(scale), out=out[..., :n], dtype=np.float32)
    return out


def encode_bed(bed: np.ndarray) -> tuple[np.ndarray, float]:
    """A noise bed (2, B) -> (int16 samples, scale), stored * scale == bed to within half a step: the scale (a
    float32 value) puts the bed's peak at full scale."""
    bed = np.asarray(bed, np.float32)
    peak = float(np.max(np.abs(bed))) if bed.size else 0.0
    if not (peak > 0 and np.isfinite(peak)):
        return np.zeros(bed.shape, BED_DTYPE), 1.0
    scale = np.float32(peak / BED_FULL_SCALE)
    stored = np.rint(bed / scale)
    np.clip(stored, -BED_FULL_SCALE, BED_FULL_SCALE, out=stored)  # the peak may round one step up
    return stored.astype(BED_DTYPE), float(scale)


def decode_bed(stored: np.ndarray, scale: float) -> np.ndarray:
    """Stored noise-bed samples -> float32: int16 (format 3) and float16 (format 2) times their scale; a
    float32 row with scale 1 (format 1) as it is, no copy."""
    if stored.dtype == np.int16:
        out = stored.astype(np.float32)  # exact; scaled in place: faster than one mixed-type multiply
        out *= np.float32(scale)
        return out
    out = to_float32(stored)
    return out if scale == 1.0 else out * np.float32(scale)


def encode_scene(scene) -> tuple[dict[str, np.ndarray], dict]:
    """A SimulatedScene's arrays as format 2 stores them, and the storage columns of its metadata."""
    brir, taps, scale = encode_response(scene.brir)
    noise, noise_taps, noise_scale = encode_response(scene.noise_brirs)
    bed, bed_scale = encode_bed(scene.noise_bed)
    return (
        {"brir": brir, "noise_brir": noise, "noise_bed": bed},
        {
            "brir_taps": taps,
            "brir_scale": scale,
            "noise_brir_taps": noise_taps,
            "noise_brir_scale": noise_scale,
            "noise_bed_scale": bed_scale,
        },
    )


def meta_row(meta: dict, max_noise: int) -> dict:
    """A scene's metadata as fixed-shape values for the columns (noise fields NaN-padded to M)."""
    row = {}
    for name, (shape, _dtype) in META_COLUMNS.items():
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
