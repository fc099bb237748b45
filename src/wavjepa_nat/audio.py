"""Reading audio files, shared by every stage (scenes/ reads noise recordings, data/ clips, robustness/
files to embed). The signal arithmetic is in dsp.py.

`read_audio` is strict: a file it cannot read, an empty one, one cut short (its header declares more audio
than it holds: libsndfile would silently return the shorter part) or one holding NaN or inf samples is an
InputError naming the file, so that bad data stops at the stage that reads it instead of propagating.
Training sources, which skip bad files instead, use data.sources.decode_audio.
"""

from __future__ import annotations

import struct
from pathlib import Path

import numpy as np
import soundfile as sf

from wavjepa_nat.dsp import resample
from wavjepa_nat.errors import InputError

# File endings read as audio wherever a folder is searched (noise folders, folder sources, files to embed);
# libsndfile reads all of these.
AUDIO_EXTENSIONS = (".wav", ".flac", ".ogg", ".mp3", ".aif", ".aiff")


def wav_truncated(head: bytes, size: int) -> bool:
    """True when a RIFF/WAVE header declares more data than the file holds.

    libsndfile silently shortens such files; a cut download would then pass for a short clip.
    """
    if len(head) < 12 or head[:4] != b"RIFF" or head[8:12] != b"WAVE":
        return False
    pos = 12
    while pos + 8 <= len(head):
        chunk, length = head[pos : pos + 4], struct.unpack("<I", head[pos + 4 : pos + 8])[0]
        if chunk == b"data":
            return length != 0xFFFFFFFF and pos + 8 + length > size  # 0xFFFFFFFF: streamed, size unknown
        pos += 8 + length + (length & 1)
    return False


def _first_line(err: Exception) -> str:
    text = str(err).strip().splitlines()
    return text[0] if text else type(err).__name__


def probe_audio(path: str | Path) -> Path:
    """Cheap checks of a file's header (no samples read): it exists, is not empty, is not a WAV cut short,
    and libsndfile recognises it. InputError naming the file otherwise."""
    path = Path(path)
    try:
        size = path.stat().st_size
        with open(path, "rb") as f:
            head = f.read(4096)
    except OSError as err:
        why = "not found" if isinstance(err, FileNotFoundError) else err.strerror or _first_line(err)
        raise InputError(f"audio file {path}: {why}") from None
    if size == 0:
        raise InputError(f"audio file {path} is empty")
    if wav_truncated(head, size):
        raise InputError(f"audio file {path} is truncated: its header declares more audio than it holds")
    try:
        sf.info(str(path))
    except Exception as err:  # noqa: BLE001 - libsndfile, format and OS errors alike: the file is unusable
        raise InputError(f"cannot read audio file {path}: {_first_line(err)}") from None
    return path


def read_audio(path: str | Path, fs: int | None = None, mono: bool = True) -> tuple[np.ndarray, int]:
    """Read any soundfile-supported file as float32, shape (channels, samples).

    With mono=True the channels are averaged to one. With fs given, the audio is resampled.
    Raises InputError (naming the file) for a missing, unreadable, empty, truncated or non-finite file.
    """
    path = probe_audio(path)
    try:
        with sf.SoundFile(str(path)) as f:
            declared, file_fs = f.frames, f.samplerate
            data = f.read(dtype="float32", always_2d=True)
    except Exception as err:  # noqa: BLE001 - libsndfile, format and OS errors alike: the file is unusable
        raise InputError(f"cannot read audio file {path}: {_first_line(err)}") from None
    if 0 < declared < (1 << 62) and data.shape[0] < declared:
        raise InputError(f"audio file {path} is truncated: only {data.shape[0]} of {declared} samples read")
    if data.shape[0] == 0:
        raise InputError(f"audio file {path} holds no samples")
    bad = int(np.size(data) - np.count_nonzero(np.isfinite(data)))
    if bad:
        raise InputError(f"audio file {path} holds {bad} non-finite sample(s) (NaN or inf)")
    x = data.T  # (channels, samples)
    if mono:
        x = x.mean(axis=0, keepdims=True)
    if fs is not None and fs != file_fs:
        x = resample(x, file_fs, fs, axis=-1)
        file_fs = fs
    return np.ascontiguousarray(x, dtype=np.float32), int(file_fs)
