"""From a decoded `AudioItem` to a fixed-length model clip: channels, resampling, cut/pad, level.

Order of operations, and why:
1. mix to mono (unless mono=False, which keeps e.g. both ears of a binaural recording);
2. cut a window of clip_seconds (random offset when crop_random, else from the start). For long files
   the window is cut *before* resampling, with a margin for the filter, so an hour-long recording costs
   no more than a clip;
3. resample with the polyphase resampler of `wavjepa_nat.audio.resample` (Kaiser FIR, exact ratio);
4. set the RMS level to `level_db` dBFS over all channels jointly (interaural level differences
   survive). The reference WavJEPA scales every clip to an RMS of -14 dBFS, so models trained here see
   the same input scale. Level is set on the sound itself, before padding, so a short clip is not
   boosted by its padding. Silence is guarded: a clip whose peak is below 1e-6 gets no gain, instead of
   having its noise floor raised by 100 dB or more;
5. pad to exactly clip_seconds * fs with zeros, or by looping the sound.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from fractions import Fraction

import numpy as np

from wavjepa_nat.data.sources import SILENCE_PEAK, AudioItem
from wavjepa_nat.dsp import resample, set_rms_db
from wavjepa_nat.errors import InputError


@dataclass
class ClipConfig:
    fs: int = 16000
    clip_seconds: float = 10.0
    level_db: float | None = -14.0  # RMS dBFS (a full-scale sine is -3); None keeps the file's level
    pad: str = "zeros"  # "zeros" | "loop"
    crop_random: bool = True

    def __post_init__(self):
        if self.pad not in ("zeros", "loop"):
            raise InputError(f"pad must be 'zeros' or 'loop', not {self.pad!r}")
        if self.fs <= 0 or self.clip_seconds <= 0:
            raise InputError("fs and clip_seconds must be positive")

    @property
    def n_samples(self) -> int:
        return round(self.clip_seconds * self.fs)


def _filter_margin(fs_in: int, fs_out: int) -> int:
    """Input samples on each side that scipy's resample_poly filter reaches (half-length 10*max(up,down)
    taps at the upsampled rate), so that a cut-then-resampled window matches the whole-file result."""
    ratio = Fraction(fs_out, fs_in)
    up, down = ratio.numerator, ratio.denominator
    return math.ceil(10 * max(up, down) / up) + 2


def _cut_and_resample(x: np.ndarray, fs_in: int, cfg: ClipConfig, rng: np.random.Generator) -> np.ndarray:
    """(C, N) at fs_in -> (C, <= n_out) at cfg.fs, windowed to at most n_out samples."""
    n_out = cfg.n_samples
    need = math.ceil(n_out * fs_in / cfg.fs)  # input samples that cover one clip
    margin = _filter_margin(fs_in, cfg.fs) if fs_in != cfg.fs else 0
    n_in = x.shape[-1]
    if n_in > need + 2 * margin:
        offset = int(rng.integers(0, n_in - need + 1)) if cfg.crop_random else 0
        start = max(0, offset - margin)
        x = x[:, start : offset + need + margin]
        y = resample(x, fs_in, cfg.fs, axis=-1)
        lead = round((offset - start) * cfg.fs / fs_in)
        return y[:, lead : lead + n_out]
    y = resample(x, fs_in, cfg.fs, axis=-1)
    if y.shape[-1] > n_out:
        offset = int(rng.integers(0, y.shape[-1] - n_out + 1)) if cfg.crop_random else 0
        y = y[:, offset : offset + n_out]
    return y


def _pad(y: np.ndarray, n_out: int, mode: str) -> np.ndarray:
    short = n_out - y.shape[-1]
    if short <= 0:
        return y[:, :n_out]
    if mode == "loop" and y.shape[-1] > 0:
        reps = math.ceil(n_out / y.shape[-1])
        return np.tile(y, (1, reps))[:, :n_out]
    return np.pad(y, ((0, 0), (0, short)))


def prepare_clip(
    item: AudioItem, cfg: ClipConfig, rng: np.random.Generator | None = None, mono: bool = True
) -> np.ndarray:
    """A model-ready clip: float32 (cfg.n_samples,) when mono, else (channels, cfg.n_samples)."""
    return prepare_clip_and_length(item, cfg, rng, mono)[0]


def prepare_clip_and_length(
    item: AudioItem, cfg: ClipConfig, rng: np.random.Generator | None = None, mono: bool = True
) -> tuple[np.ndarray, int]:
    """prepare_clip, and how many of its samples are the sound (the rest is zero padding; with pad="loop"
    every sample is), so that training draws its crops from the sound."""
    rng = rng if rng is not None else np.random.default_rng()
    x = np.asarray(item.audio, dtype=np.float32)
    if x.ndim == 1:
        x = x[None, :]
    if mono and x.shape[0] > 1:
        x = x.mean(axis=0, keepdims=True)
    y = _cut_and_resample(x, int(item.fs), cfg, rng)
    if cfg.level_db is not None and y.size and float(np.max(np.abs(y))) >= SILENCE_PEAK:
        y = set_rms_db(y, cfg.level_db)
    sound = cfg.n_samples if cfg.pad == "loop" else min(y.shape[-1], cfg.n_samples)
    y = _pad(y, cfg.n_samples, cfg.pad)
    y = np.nan_to_num(y.astype(np.float32, copy=False), nan=0.0, posinf=0.0, neginf=0.0)
    return (y[0] if mono else y), sound
