"""Noise corpora (WHAM!, DEMAND, MUSAN, or any folder or manifest of recordings) as the noise of training
clips and of the robustness sweep, each split into train / val / test by its own layout:

- a folder named for a split anywhere above a file: WHAM!'s tr / cv / tt, or train / valid / test (and the
  usual variants, SPLIT_NAMES); the deepest such folder counts;
- a manifest's `split` column (data/sources.py reads manifests: the same reader as for the audio);
- otherwise a deterministic hash of the file's path relative to the corpus (70 / 15 / 15 %, as
  data/splits.py), the same on every machine. Multichannel recordings stored one file per microphone (DEMAND:
  one folder per environment holding ch01.wav .. ch16.wav) are hashed by their folder, so the channels of
  one recording never land in different splits.

Training draws only from the train split and the sweep only from the test split, so a model is scored on
recordings it never heard. A segment is read from a file at a drawn offset (only the samples it needs),
its first channel (one point source: WHAM!'s second channel is a second microphone of the same scene),
resampled to the bank's rate when the corpus has another, looped when the file is shorter.
WebDataset shards are not read as noise (a noise draw needs random access to a file).
"""

from __future__ import annotations

import re
import zlib
from pathlib import Path, PurePosixPath

import numpy as np
import soundfile as sf

from wavjepa_nat.audio import AUDIO_EXTENSIONS
from wavjepa_nat.data.sources import FileListSource, check_readable, open_source
from wavjepa_nat.data.splits import SPLIT_FRACTIONS
from wavjepa_nat.dsp import loop_segment, resample
from wavjepa_nat.errors import InputError
from wavjepa_nat.scenes.config import SPLITS

# Folder names that say a split, lower case -> the split.
SPLIT_NAMES = {
    "tr": "train",
    "train": "train",
    "training": "train",
    "cv": "val",
    "val": "val",
    "valid": "val",
    "validation": "val",
    "dev": "val",
    "tt": "test",
    "test": "test",
    "eval": "test",
    "evaluation": "test",
}
_CHANNEL_FILE = re.compile(r"^ch\d+$", re.IGNORECASE)  # DEMAND: one file per microphone
_READ_TRIES = 8  # unreadable files a segment read steps over (to the next file) before it gives up


def hash_split(key: str) -> str:
    """train / val / test for a path key, by its CRC32: stable across machines and Python versions."""
    u = zlib.crc32(key.encode()) / 2**32
    if u < SPLIT_FRACTIONS["train"]:
        return "train"
    return "val" if u < SPLIT_FRACTIONS["train"] + SPLIT_FRACTIONS["val"] else "test"


def split_of(key: str, stated: str | None = None) -> str:
    """The split of a corpus file: its manifest's split, else its deepest split-named folder, else the hash
    of its path (of its folder, for one-file-per-microphone recordings). key: the path relative to the corpus
    (data/sources.py's entry key)."""
    if stated:
        split = SPLIT_NAMES.get(stated.strip().lower())
        if split is None:
            raise InputError(f"noise corpus: unknown split '{stated}' (use {', '.join(SPLITS)})")
        return split
    path = PurePosixPath(key)
    for folder in reversed(path.parts[:-1]):
        if folder.lower() in SPLIT_NAMES:
            return SPLIT_NAMES[folder.lower()]
    path = path.with_suffix("") if path.suffix.lower() in AUDIO_EXTENSIONS else path  # manifests keep it
    group = path.parent if _CHANNEL_FILE.match(path.name) else path
    return hash_split(group.as_posix())


class NoiseCorpus:
    """The files of one split of a noise corpus, and segments of them at the bank's sample rate.

    spec: a folder (recursive), a .csv / .jsonl manifest (column `split` optional). Checked now (one line,
    exit 2 from the CLI): not found, no audio, no file of the split, none of the first files readable."""

    def __init__(self, spec: str | Path, split: str, fs: int):
        if split not in SPLITS:
            raise InputError(f"noise corpus split must be one of {', '.join(SPLITS)}, got '{split}'")
        self.spec, self.split, self.fs = str(spec), split, int(fs)
        try:
            source = open_source(spec)
        except InputError as err:
            raise InputError(f"noise corpus {spec}: {err}") from None
        if not isinstance(source, FileListSource):
            raise InputError(
                f"noise corpus {spec}: WebDataset shards are not read as noise (each clip needs random "
                f"access to a recording); give a folder or a manifest"
            )
        self.paths = sorted(e.path for e in source.entries if split_of(e.key, e.split) == split)
        if not self.paths:
            raise InputError(f"noise corpus {spec} has no {split}-split files ({len(source)} files in all)")
        keep = set(self.paths)
        source.entries = [e for e in source.entries if e.path in keep]
        check_readable(source, f"noise corpus {spec}")

    def __len__(self) -> int:
        return len(self.paths)

    def __repr__(self) -> str:
        return f"NoiseCorpus({self.spec!r}, {self.split}, {len(self)} files)"

    def signal(self, index: int, u: float, rng: np.random.Generator, n: int) -> np.ndarray:
        """The noise-signal interface of data/render/noise.py: segment() (this corpus draws nothing more)."""
        return self.segment(index, u, n)

    def segment(self, index: int, u: float, n: int) -> np.ndarray:
        """(n,) float32: the recording at `index` (mod the split's size) from fraction u of it, at the bank's
        rate, unit RMS (zeros if silent). An unreadable file gives way to the next one."""
        for attempt in range(min(_READ_TRIES, len(self.paths))):
            path = self.paths[(int(index) + attempt) % len(self.paths)]
            x = self._read(path, u, n)
            if x is not None:
                power = float(np.mean(np.square(x, dtype=np.float64)))
                return (x / np.sqrt(power) if power > 0 else x).astype(np.float32)
        raise InputError(f"noise corpus {self.spec}: {_READ_TRIES} files in a row could not be read")

    def _read(self, path: str, u: float, n: int) -> np.ndarray | None:
        """n samples at fs from fraction u of a file (first channel), or None if it cannot be read."""
        try:
            with sf.SoundFile(path) as f:
                rate, frames = f.samplerate, f.frames
                need = -(-n * rate // self.fs) + 16  # native samples covering n (a margin for resampling)
                if frames > need:
                    f.seek(min(int(u * (frames - need + 1)), frames - need))
                    x = f.read(need, dtype="float32", always_2d=True)[:, 0]
                    u = 0.0
                else:
                    x = f.read(dtype="float32", always_2d=True)[:, 0]
        except (RuntimeError, OSError, ValueError, sf.LibsndfileError):
            return None
        if x.size == 0 or not np.all(np.isfinite(x)):
            return None
        if rate != self.fs:
            x = resample(x, rate, self.fs).astype(np.float32)
        return np.asarray(loop_segment(x, u, n), np.float32)
