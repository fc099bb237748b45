"""Small audio utilities shared by every stage: reading, resampling, levels.

Kept at the package root (not in data/) because scenes/ also reads the user's noise
recordings, and data must not flow back up the pipeline.
"""

from __future__ import annotations

from fractions import Fraction
from pathlib import Path

import numpy as np
import soundfile as sf
from scipy.signal import resample_poly


def resample(x: np.ndarray, fs_in: int, fs_out: int, axis: int = -1) -> np.ndarray:
    """Polyphase resampling (Kaiser-windowed FIR), exact rational ratio."""
    if fs_in == fs_out:
        return x
    ratio = Fraction(int(fs_out), int(fs_in))
    return resample_poly(x, ratio.numerator, ratio.denominator, axis=axis).astype(np.float32)


def read_audio(path: str | Path, fs: int | None = None, mono: bool = True) -> tuple[np.ndarray, int]:
    """Read any soundfile-supported file as float32, shape (channels, samples).

    With mono=True the channels are averaged to one. With fs given, the audio is resampled.
    """
    data, file_fs = sf.read(str(path), dtype="float32", always_2d=True)
    x = data.T  # (channels, samples)
    if mono:
        x = x.mean(axis=0, keepdims=True)
    if fs is not None and fs != file_fs:
        x = resample(x, file_fs, fs, axis=-1)
        file_fs = fs
    return np.ascontiguousarray(x, dtype=np.float32), int(file_fs)


def rms_db(x: np.ndarray) -> float:
    """RMS level in dB re full scale (a sine of amplitude 1 is -3 dBFS), over all channels."""
    power = float(np.mean(np.square(x, dtype=np.float64)))
    return 10.0 * np.log10(max(power, 1e-20))


def set_rms_db(x: np.ndarray, target_db: float) -> np.ndarray:
    """Scale x (all channels jointly, so interaural level differences survive) to an RMS level."""
    gain = 10.0 ** ((target_db - rms_db(x)) / 20.0)
    return (x * gain).astype(np.float32)
