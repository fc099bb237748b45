"""Naturalistic copies of HEAR tasks ("Nat-HEAR"): every clip rendered through a scene of an RIR bank.

    cfg = NatHearConfig(snr="0", rt60="1.0..1.5", seed=0)
    make_nat_hear("hear/esc50", "bank.h5", "nat/esc50-snr0", cfg)

Each clip of the task (mono mixdown of its file, resampled to the bank's rate, full length) goes through a
scene's source BRIR (test-split scenes for the task's test split, train-split scenes for all its other
splits; only scenes whose *measured* RT60 lies in --rt60 when given), direct-path delay compensated, plus
that scene's own binaural noise bed at an SNR (fixed, --snr 0; drawn uniformly from --snr LO..HI; or none,
--snr none). The rendered clip keeps the dry file's RMS level (both ears jointly), scaled down where it
would clip; it is written as a two-channel 16-bit WAV (row 0 = left ear) under the same name.

The copy has the HEAR layout, so HEAR tooling evaluates it unchanged: task_metadata.json (the task's own,
plus a `nat_hear` block recording the bank's path, sha256, config and HRTF, the seed and the options),
labelvocabulary.csv and the split files copied, audio in OUT/<bank rate>/<split>/, and
OUT/nat_hear_clips.csv: per clip its scene, source azimuth, elevation and distance, measured RT60 and SNR.

Deterministic: every draw is a function of (seed, split, file name). Resumable: clips are written under a
temporary name and renamed, so a file that exists is complete; a rerun with the same options skips them, a
rerun with other options into the same OUT is refused. task_metadata.json is written last, so an
interrupted copy is not mistaken for a finished task. A ladder (several SNRs) is one command per rung.

Polyphonic copies (--polyphony K --tir X): each clip plus K-1 other files of its split whose labels share
none of its own (looped or cut to its length), each through one of the scene's noise-source positions, at
X dB below the clip at the ears (data/mixtures.py); only scenes holding K-1 positions are drawn. The split
files keep the clip's own labels (the target); nat_hear_clips.csv names the interferers and their labels.
"""

from __future__ import annotations

import csv
import dataclasses
import hashlib
import json
import os
from pathlib import Path

import numpy as np

from wavjepa_nat.checks import check_snr_range
from wavjepa_nat.data.mixtures import MAX_POSITIONS, MixInputs, count_positions, mix_clip
from wavjepa_nat.data.render import ScenePools, render
from wavjepa_nat.data.sources import decode_audio
from wavjepa_nat.dsp import clip_rng, loop_segment, resample
from wavjepa_nat.errors import InputError
from wavjepa_nat.files import atomic_path, copy_atomic, write_text_atomic
from wavjepa_nat.progress import progress_bar
from wavjepa_nat.ranges import parse_interval
from wavjepa_nat.rir_bank import RIRBank
from wavjepa_nat.robustness.conditions import stream_id
from wavjepa_nat.robustness.tasks.hear_folder import METADATA, VOCABULARY, audio_files, read_hear_task
from wavjepa_nat.version import package_version

RECIPE = "nat_hear.json"  # written first: the options a resumed run must match
CLIPS_CSV = "nat_hear_clips.csv"
PEAK = 0.999
CSV_FIELDS = [
    "split",
    "file",
    "scene",
    "scene_index",
    "room_id",
    "bank_split",
    "azimuth_deg",
    "elevation_deg",
    "distance_m",
    "rt60_measured_s",
    "snr_db",
]
POLYPHONY_FIELDS = ["interferers", "interferer_labels", "tir_db"]  # with --polyphony


@dataclasses.dataclass
class NatHearConfig:
    """The options of a copy; checks itself (InputError naming the flag)."""

    snr: str | float | None = "5..40"  # "none", a fixed SNR ("0"), or a range "LO..HI" (uniform)
    rt60: str | None = None  # None / "none": any scene of the split; "LO..HI": measured RT60 in [LO, HI]
    seed: int = 0
    test_fold: int | None = None  # k-fold tasks: the fold that gets test-split scenes (default: the last)
    polyphony: int = 1  # K sources per clip (1: the clip alone)
    tir: float = 0.0  # each interferer's level below the clip at the ears (dB), with polyphony >= 2

    def __post_init__(self):
        text = "none" if self.snr is None else str(self.snr).strip()
        if text.lower() in ("", "none", "off"):
            self.snr_range = None
        else:
            self.snr_range = check_snr_range(parse_interval(text, "--snr"), "--snr")
        rt = "none" if self.rt60 is None else str(self.rt60).strip()
        if rt.lower() in ("", "none", "off"):
            self.rt60_bin = None
        else:
            lo, hi = parse_interval(rt, "--rt60")
            if lo < 0 or lo >= hi:
                raise InputError(f"--rt60: give a bin LO..HI with 0 <= LO < HI, got '{rt}'")
            self.rt60_bin = (lo, hi)
        if self.test_fold is not None and self.test_fold < 0:
            raise InputError(f"--test-fold must be 0 or more, got {self.test_fold}")
        if int(self.polyphony) != self.polyphony or self.polyphony < 1:
            raise InputError(
                f"--polyphony must be a whole number >= 1 (sources per clip), got {self.polyphony}"
            )
        if not (np.isfinite(self.tir) and abs(self.tir) <= 100):
            raise InputError(f"--tir must be a number of dB within -100..100, got {self.tir}")
        self.polyphony = int(self.polyphony)

    def options(self) -> dict:
        extra = {"polyphony": self.polyphony, "tir_db": float(self.tir)} if self.polyphony > 1 else {}
        return {
            "snr_db": list(self.snr_range) if self.snr_range else None,
            "rt60_s": list(self.rt60_bin) if self.rt60_bin else None,
            "seed": int(self.seed),
            "test_fold": self.test_fold,
            **extra,
        }


def file_sha256(path: Path, chunk: int = 1 << 22) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        while block := f.read(chunk):
            h.update(block)
    return h.hexdigest()


def _check_out(out: Path, task_root: Path) -> None:
    if out.resolve() == task_root.resolve():
        raise InputError(f"--out {out} is the task folder itself; write the copy somewhere else")
    if out.exists() and not out.is_dir():
        raise InputError(f"--out {out} exists and is not a folder")
    if out.is_dir() and any(out.iterdir()) and not (out / RECIPE).is_file():
        raise InputError(
            f"--out {out} is a folder that holds other files (not a nat-hear copy); choose an "
            "empty or new folder"
        )
    parent = out.parent if not out.exists() else out
    while not parent.exists():
        parent = parent.parent
    if not os.access(parent, os.W_OK):
        raise InputError(f"--out {out}: {parent} is not writable")


def scene_pools(rir, cfg: NatHearConfig) -> dict[str, ScenePools]:
    """Scene split ("test", "train") -> the scenes its clips draw from (measured RT60 in cfg.rt60_bin)."""
    bins = [cfg.rt60_bin] if cfg.rt60_bin else []
    return {split: ScenePools(rir, bins, (split,), strict=True) for split in ("test", "train")}


def draw_clip(
    cfg: NatHearConfig, scenes: np.ndarray, split: str, file: str
) -> tuple[int, float | None, float]:
    """(scene, SNR or None for no noise, start of the noise segment) of one clip: a function of (seed, split,
    file name)."""
    rng = clip_rng(cfg.seed, stream_id(split), stream_id(file))
    scene = int(scenes[rng.integers(len(scenes))])
    u_snr, noise_u = float(rng.random()), float(rng.random())  # always drawn: a stable stream
    snr = None
    if cfg.snr_range is not None:
        lo, hi = cfg.snr_range
        snr = lo + (hi - lo) * u_snr
    return scene, snr, noise_u


def _read_dry(path: Path, fs: int) -> tuple[np.ndarray, str | None]:
    """The file's mono mixdown at fs (full length), or (None, why) when unreadable."""

    audio, file_fs, status = decode_audio(str(path), str(path))
    if status != "read":
        return None, status
    return np.ascontiguousarray(resample(audio.mean(axis=0), int(file_fs), fs), np.float32), None


def render_clip(
    dry: np.ndarray,
    pools: ScenePools,
    scene: int,
    snr: float | None,
    noise_u: float,
    at_ears: np.ndarray | None = None,
) -> tuple[np.ndarray, bool]:
    """(2, S) float32 at the dry clip's RMS, and whether it was scaled down to avoid clipping. at_ears:
    the sources already at the ears (a polyphonic scene, add_interferers); the noise comes relative to it."""
    brir, delay = pools.brir(scene)
    noise = None if snr is None else loop_segment(pools.noise_bed(scene), noise_u, dry.shape[-1])
    if at_ears is None:
        wet = render([(dry, brir)], delay=delay, noise=noise, snr_db=snr).audio
    else:  # the scene as it is (no BRIR, no shift), noise at the SNR of all its sources
        wet = render([(at_ears, None)], noise=noise, snr_db=snr).audio
    rms_dry = float(np.sqrt(np.mean(np.square(dry, dtype=np.float64))))
    rms_wet = float(np.sqrt(np.mean(np.square(wet, dtype=np.float64))))
    out = wet * (rms_dry / rms_wet if rms_wet > 0 else 0.0)
    peak = float(np.max(np.abs(out))) if out.size else 0.0
    limited = peak > PEAK
    if limited:
        out = out * (PEAK / peak)
    return out.astype(np.float32), limited


def add_interferers(
    wet_dry: np.ndarray, others: list[np.ndarray], pools: ScenePools, scene: int, tir_db: float, u: np.ndarray
) -> np.ndarray:
    """(dry clip (S,), interferers' dry clips) -> the polyphonic scene at the ears (2, S), no noise: the
    clip through the scene's BRIR, each interferer through one of its noise-source positions (in the order
    of the random keys u) at tir_db below it."""
    n = wet_dry.shape[-1]
    brir, delay = pools.brir(scene)
    stored = np.asarray(pools.bank.noise_brirs(scene), np.float32)
    positions = np.argsort(u[: len(stored)], kind="stable")[: len(others)]
    mix = MixInputs(
        dry=np.stack([loop_segment(x, 0.0, n) for x in others]).astype(np.float32),
        brir=stored[positions],
        taps=np.full(len(others), stored.shape[-1], np.int64),
        on=np.ones(len(others), bool),
        tir_db=np.full(len(others), float(tir_db)),
    )
    spans = np.array([[0, n]])
    return mix_clip(wet_dry, brir, None, mix, delay=delay, noise=None, snr_db=None, spans=spans).audio


def draw_interferers(
    cfg: NatHearConfig, labels: dict[str, tuple], split: str, file: str
) -> tuple[list, np.ndarray]:
    """(K-1 other files of the split whose labels share none of the file's, position keys): a function of
    (seed, split, file name)."""
    rng = clip_rng(cfg.seed, stream_id("polyphony"), stream_id(split), stream_id(file))
    u = rng.random(MAX_POSITIONS)
    others = sorted(f for f, labs in labels.items() if not set(labs) & set(labels[file]))
    order = rng.permutation(len(others))
    if len(others) < cfg.polyphony - 1:
        raise InputError(
            f"--polyphony {cfg.polyphony}: {split} has too few files of other classes than {file}'s"
        )
    return [others[i] for i in order[: cfg.polyphony - 1]], u


def _complete(path: Path, frames: int) -> bool:
    import soundfile as sf

    try:
        info = sf.info(str(path))
    except Exception:  # noqa: BLE001 - anything unreadable is rewritten
        return False
    return info.channels == 2 and info.frames == frames


def make_nat_hear(task_dir, bank, out, config: NatHearConfig | None = None, progress: bool = True) -> dict:
    """Write the naturalistic copy of a HEAR task (see the module docstring). Returns a summary dict:
    clips written, skipped (already complete), unreadable, gain-limited, and the output paths."""
    import soundfile as sf

    cfg = config or NatHearConfig()
    task_dir, out = Path(str(task_dir)), Path(str(out))
    if not (task_dir / METADATA).is_file():
        raise InputError(f"--task-dir {task_dir} is not a HEAR task folder (no {METADATA})")
    hear = read_hear_task(task_dir, cfg.test_fold)
    _check_out(out, task_dir)
    rir = bank if isinstance(bank, RIRBank) else RIRBank(bank)
    fs = rir.fs

    src_rate, files = audio_files(hear, fs)
    pools = scene_pools(rir, cfg)
    try:
        bank_config = json.loads(rir.attrs.get("config", "null"))
    except (TypeError, ValueError):
        bank_config = rir.attrs.get("config")
    recipe = {
        "format": "wavjepa-nat nat-hear copy",
        "source_task": str(task_dir.resolve()),
        "source_sample_rate": src_rate,
        "bank": {
            "path": str(Path(rir.path).resolve()),
            "sha256": file_sha256(Path(rir.path)),
            "fs": fs,
            "hrtf": rir.attrs.get("hrtf_name"),
            "hrtf_sha256": rir.attrs.get("hrtf_sha256"),
            "engine": rir.attrs.get("engine"),
            "seed": rir.attrs.get("seed"),
            "config": bank_config,
        },
        **cfg.options(),
        "scene_splits": {split: "test" if role == "test" else "train" for split, role in hear.roles.items()},
        "level": "each rendered clip at the RMS of its dry file (both ears jointly), scaled down where it "
        f"would exceed a peak of {PEAK}",
        "wavjepa_nat_version": package_version(),
    }
    out.mkdir(parents=True, exist_ok=True)
    if (out / RECIPE).is_file():
        try:
            old = json.loads((out / RECIPE).read_text())
        except ValueError:
            old = None
        keys = ("source_task", "bank", "snr_db", "rt60_s", "seed", "test_fold", "polyphony", "tir_db")
        if not isinstance(old, dict) or any(old.get(k) != recipe.get(k) for k in keys):
            changed = [k for k in keys if not isinstance(old, dict) or old.get(k) != recipe.get(k)]
            raise InputError(
                f"--out {out} holds a nat-hear copy made with other options "
                f"({', '.join(changed)} differ); choose another --out, or delete it to start "
                "over"
            )
    write_text_atomic(out / RECIPE, json.dumps(recipe, indent=2, default=str) + "\n")

    records, written, skipped, unreadable, limited = [], 0, 0, [], 0
    measured = rir.rt60()
    total = sum(len(v) for v in files.values())
    with progress_bar(total, "nat-hear", enabled=progress) as advance:
        for split, paths in files.items():
            scene_split = "test" if hear.roles[split] == "test" else "train"
            pool = pools[scene_split]
            scenes = pool.scenes(cfg.rt60_bin)
            if cfg.polyphony > 1:  # scenes with room for the interferers
                scenes = scenes[count_positions(rir, scenes) >= cfg.polyphony - 1]
                if len(scenes) == 0:
                    raise InputError(
                        f"--polyphony {cfg.polyphony}: no {scene_split}-split scene of {rir.path} holds "
                        f"{cfg.polyphony - 1} noise-source positions"
                    )
            by_name = dict(paths)
            folder = out / str(fs) / split
            folder.mkdir(parents=True, exist_ok=True)
            for file, path in paths:
                scene, snr, noise_u = draw_clip(cfg, scenes, split, file)
                target = folder / file
                dry, why = _read_dry(path, fs)
                if dry is None:
                    unreadable.append(f"{split}/{file} ({why})")
                    advance()
                    continue
                others, poly = [], {}
                if cfg.polyphony > 1:
                    others, u = draw_interferers(cfg, hear.labels[split], split, file)
                    poly = {
                        "interferers": " ".join(others),
                        "interferer_labels": " ".join("|".join(hear.labels[split][o]) for o in others),
                        "tir_db": cfg.tir,
                    }
                if _complete(target, dry.shape[-1]):
                    skipped += 1
                elif others:
                    other_dry = [_read_dry(by_name[o], fs)[0] for o in others]
                    if any(x is None for x in other_dry):
                        unreadable.append(f"{split}/{file} (an interferer)")
                        advance()
                        continue
                    scene_audio = add_interferers(dry, other_dry, pool, scene, cfg.tir, u)
                    wav, lim = render_clip(dry, pool, scene, snr, noise_u, scene_audio)
                    with atomic_path(target) as tmp:
                        sf.write(str(tmp), wav.T, fs, subtype="PCM_16", format="WAV")
                    written += 1
                    limited += bool(lim)
                else:
                    wav, lim = render_clip(dry, pool, scene, snr, noise_u)
                    with atomic_path(target) as tmp:
                        sf.write(str(tmp), wav.T, fs, subtype="PCM_16", format="WAV")
                    written += 1
                    limited += bool(lim)
                m = rir.meta
                records.append(
                    {
                        "split": split,
                        "file": file,
                        "scene": scene,
                        "scene_index": int(m["scene_index"][scene]),
                        "room_id": int(m["room_id"][scene]),
                        "bank_split": str(m["split"][scene]),
                        "azimuth_deg": round(float(m["azimuth_deg"][scene]), 3),
                        "elevation_deg": round(float(m["elevation_deg"][scene]), 3),
                        "distance_m": round(float(m["distance_m"][scene]), 4),
                        "rt60_measured_s": round(float(measured[scene]), 4),
                        "snr_db": "" if snr is None else round(snr, 3),
                        **poly,
                    }
                )
                advance(description=f"nat-hear: {split}")
    if unreadable:
        raise InputError(
            f"{len(unreadable)} clip(s) of {task_dir} could not be read, e.g. {unreadable[0]}; "
            "the copy is incomplete (rerun to resume once fixed)"
        )

    with atomic_path(out / CLIPS_CSV) as tmp, open(tmp, "w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=CSV_FIELDS + (POLYPHONY_FIELDS if cfg.polyphony > 1 else []))
        w.writeheader()
        w.writerows(records)
    copy_atomic(task_dir / VOCABULARY, out / VOCABULARY)
    for split in files:
        copy_atomic(task_dir / f"{split}.json", out / f"{split}.json")
    metadata = dict(hear.metadata, nat_hear=dict(recipe, clips_csv=CLIPS_CSV, sample_rates=[fs]))
    write_text_atomic(out / METADATA, json.dumps(metadata, indent=2, default=str) + "\n")
    return {
        "out": out,
        "written": written,
        "skipped": skipped,
        "gain_limited": limited,
        "clips": len(records),
        "sample_rate": fs,
        "metadata": out / METADATA,
        "clips_csv": out / CLIPS_CSV,
    }
