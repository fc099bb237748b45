"""Reading audio files, shared by every stage (scenes/ reads noise recordings, data/ clips, robustness/
files to embed). The signal arithmetic is in dsp.py.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import soundfile as sf

from wavjepa_nat.dsp import resample

# File endings read as audio wherever a folder is searched (noise folders, folder sources, files to embed);
# libsndfile reads all of these.
AUDIO_EXTENSIONS = (".wav", ".flac", ".ogg", ".mp3", ".aif", ".aiff")


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
