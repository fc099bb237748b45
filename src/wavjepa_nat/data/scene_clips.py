"""A dry clip rendered through bank scenes, for listening (`wavjepa-nat render`): the training rendering
(data/render: source BRIR cut at -80 dB, direct-path delay removed, the scene's noise at an SNR, the same
scene draws) on a whole clip, without crops or instance normalisation, scaled only to stay below full
scale."""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from wavjepa_nat.checks import (
    check_disk,
    check_memory,
    check_output_dir,
    check_output_file,
    check_snr_range,
)
from wavjepa_nat.data.render import Source, draw_scenes, load_noise_recordings, read_scenes, render, scenes_in
from wavjepa_nat.dsp import set_rms_db
from wavjepa_nat.errors import InputError
from wavjepa_nat.files import atomic_path
from wavjepa_nat.scenes.config import SPLITS

PEAK = 0.99  # peak-safe: the loudest sample of a rendering is at most this (both ears scaled together)
LEVEL_DB = -14.0  # the dry clip's RMS level before rendering, as for training clips
WAV_HEADER = 44  # bytes before the samples of a 16-bit PCM wav


@dataclass(frozen=True)
class SceneClipConfig:
    """Which scenes a dry clip is rendered in, and how."""

    scene: int | None = None  # one fixed scene of the bank; None: `n` random scenes
    n: int = 1
    snr_db: tuple[float, float] = (5.0, 40.0)  # drawn uniformly per rendering (lo == hi: one value)
    split: str | None = None  # random scenes from this bank split only (None: all)
    noise_files: tuple[str, ...] = ()  # recordings through the scene's noise sources; () = its noise bed
    compensate_delay: bool = True  # remove the direct-path delay, as in training
    seconds: float | None = None  # keep only the first `seconds` of the clip
    seed: int = 0

    def __post_init__(self) -> None:
        object.__setattr__(self, "snr_db", tuple(self.snr_db))
        object.__setattr__(self, "noise_files", tuple(str(p) for p in self.noise_files))
        if self.scene is not None and self.n > 1:
            raise InputError("give either --scene (one rendering) or --n (random scenes), not both")
        if self.scene is not None and self.scene < 0:
            raise InputError(f"--scene must be >= 0, got {self.scene}")
        if self.n < 1:
            raise InputError(f"--n must be at least 1, got {self.n}")
        check_snr_range(self.snr_db, "--snr")
        if self.split is not None and self.split not in SPLITS:
            raise InputError(f"--split must be one of {', '.join(SPLITS)}, got '{self.split}'")
        if self.seconds is not None and not (math.isfinite(self.seconds) and self.seconds > 0):
            raise InputError(f"--seconds must be positive, got {self.seconds}")
        if self.seed < 0:
            raise InputError(f"--seed must be >= 0, got {self.seed}")


@dataclass
class SceneClip:
    audio: np.ndarray  # (2, S) float32 at the bank's rate, peak-safe
    scene: int
    snr_db: float
    delay: int  # samples of direct-path delay removed (0 with compensate_delay=False)
    meta: dict  # the scene's metadata in the bank


def read_dry_clip(path: str | Path, fs: int, seconds: float | None = None) -> np.ndarray:
    """A clip (S,) from any soundfile format, mixed to mono, at fs, cut to `seconds`, at LEVEL_DB RMS."""
    from wavjepa_nat.audio import read_audio

    path = Path(path)
    if not path.is_file():
        raise InputError(f"input audio not found: {path}")
    x, _ = read_audio(path, fs=int(fs), mono=True)  # InputError naming the file: unreadable, cut short, NaN
    dry = x[0] if seconds is None else x[0, : round(seconds * fs)]
    if dry.size == 0 or not np.isfinite(dry).all():
        raise InputError(f"{path} holds no usable audio")
    return set_rms_db(dry, LEVEL_DB) if np.max(np.abs(dry)) > 0 else dry


def peak_safe(x: np.ndarray, peak: float = PEAK) -> np.ndarray:
    top = float(np.max(np.abs(x))) if x.size else 0.0
    return x * (peak / top) if top > peak else x


def render_scene_clips(bank, dry: np.ndarray, cfg: SceneClipConfig) -> list[SceneClip]:
    """cfg.n binaural renderings of a dry clip (S,) at the bank's rate (cfg.scene: that scene, once).

    The SNR is measured over the whole clip, as there are no crops."""
    if cfg.scene is not None and not 0 <= cfg.scene < len(bank):
        raise InputError(f"--scene {cfg.scene} is out of range: the bank holds scenes 0..{len(bank) - 1}")
    # Every rendering is held in memory (float32, both ears) until they are written.
    check_memory(
        cfg.n * 2 * 4 * (dry.shape[-1] + bank.brir_length),
        f"{cfg.n} rendering(s) (--n)",
        "render fewer at once, or a shorter --seconds",
    )
    pool = scenes_in(bank, None if cfg.scene is not None or cfg.split is None else (cfg.split,))
    if len(pool) == 0:
        raise InputError(f"the RIR bank has no scenes in split '{cfg.split}'")
    recordings = load_noise_recordings(cfg.noise_files, bank.fs) if cfg.noise_files else None
    draws = draw_scenes(
        np.random.default_rng(cfg.seed), cfg.n, pool, cfg.snr_db, n_noise_recordings=len(recordings or ())
    )
    if cfg.scene is not None:
        draws.scene[:] = cfg.scene
    inputs = read_scenes(
        bank,
        draws,
        dry.shape[-1],
        compensate_delay=cfg.compensate_delay,
        noise_recordings=recordings,
        brir_len=int(bank.brir_length),
    )
    clips = []
    for i in range(cfg.n):
        snr, delay = float(draws.snr_db[i]), int(inputs.delay[i])
        wet = render([Source(dry, inputs.brir[i])], delay=delay, noise=inputs.noise[i], snr_db=snr).audio
        clips.append(SceneClip(peak_safe(wet), int(draws.scene[i]), snr, delay, dict(inputs.meta[i])))
    return clips


def output_paths(out: Path, n: int) -> list[Path]:
    """scene.wav -> [scene.wav] for one rendering, [scene_000.wav, ...] for several;
    a folder -> render_000.wav."""
    if out.suffix.lower() == ".wav":
        if n == 1:
            return [out]
        return [out.with_name(f"{out.stem}_{k:03d}.wav") for k in range(n)]
    return [out / f"render_{k:03d}.wav" for k in range(n)]


def existing_outputs(out: Path, n: int) -> list[Path]:
    """The files that exist now under the names output_paths(out, n) would write (only those can be an input;
    listing the folder stays cheap for any n)."""
    first = output_paths(Path(out), min(n, 2))[0]
    if n == 1:
        return [first] if first.exists() else []
    prefix = first.name.removesuffix("000.wav")
    if not first.parent.is_dir():
        return []
    return [
        p
        for p in first.parent.iterdir()
        if p.name.startswith(prefix)
        and p.name.endswith(".wav")
        and p.name[len(prefix) : -4].isdigit()
        and p.name == f"{prefix}{int(p.name[len(prefix) : -4]):03d}.wav"
        and int(p.name[len(prefix) : -4]) < n
    ]


def check_outputs(out: Path, n: int) -> None:
    """Before any work: where the renderings go can be written (see output_paths)."""
    out = Path(out)
    if out.suffix.lower() != ".wav":
        check_output_dir(out, "--out")
    for path in output_paths(out, 1)[:1] if n == 1 else output_paths(out, 2)[:1]:  # all share one folder
        check_output_file(path, "--out")


def write_scene_clips(clips: list[SceneClip], out: Path, fs: int) -> list[Path]:
    """2-channel 16-bit wavs (see output_paths); returns their paths."""
    import soundfile as sf

    paths = output_paths(Path(out), len(clips))
    n_bytes = sum(WAV_HEADER + 2 * clip.audio.size for clip in clips)  # 16-bit samples x channels
    check_disk(paths[0], n_bytes, f"{len(clips)} rendering(s)", "render fewer (--n) or a shorter --seconds")
    paths[0].parent.mkdir(parents=True, exist_ok=True)
    for path, clip in zip(paths, clips):
        with atomic_path(path) as tmp:  # a full disk must not leave a short wav that opens as valid
            sf.write(str(tmp), clip.audio.T, int(fs), subtype="PCM_16", format="WAV")
    return paths
