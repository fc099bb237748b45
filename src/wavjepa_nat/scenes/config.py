"""The typed configuration of a simulated scene set. It is stored (as JSON) in every bank."""

from __future__ import annotations

import json
import math
from dataclasses import asdict, dataclass, fields

SPLITS = ("train", "val", "test")


@dataclass(frozen=True)
class SceneConfig:
    fs: int = 16000
    rt60: tuple[float, float] = (0.2, 1.5)  # target T_mid (s: 500 Hz-1 kHz octave T30), uniform per room
    room_length: tuple[float, float] = (3.0, 25.0)  # longest side (m), log-uniform: office to hall
    noise_sources: tuple[int, int] = (0, 5)
    source_distance: tuple[float, float] = (0.5, 5.0)  # metres from the head centre
    source_elevation: tuple[float, float] = (-30.0, 60.0)  # degrees
    listener_height: tuple[float, float] = (1.1, 1.8)  # seated to standing ear height (m)
    hrtf: str = "spherical"
    engine: str = "fast"  # "fast" (ours) or "reference" (pyroomacoustics hybrid + SOFA directivity)
    scenes_per_room: int = 4  # several listener/source placements share one room (and one split)
    split_per_ten_rooms: tuple[int, int, int] = (8, 1, 1)  # train/val/test rooms in every block of ten
    noise_bed_seconds: float = 10.0
    noise_bed_rms_db: float = -30.0  # dBFS over both ears
    noise_dir: str | None = None  # folder of the user's noise recordings; None = built-in noises
    early_images: int = 150  # echo count after which the response counts as diffuse (mixing time)
    seed: int = 0

    @property
    def brir_length(self) -> int:
        """Long enough for the longest RT60 (60 dB of decay) plus the longest direct path."""
        direct = self.source_distance[1] / 343.0
        return int(math.ceil(self.fs * (1.1 * self.rt60[1] + direct + 0.02)))

    @property
    def noise_bed_length(self) -> int:
        return int(round(self.noise_bed_seconds * self.fs))

    def to_json(self) -> str:
        return json.dumps(asdict(self), sort_keys=True)

    @classmethod
    def from_json(cls, text: str) -> "SceneConfig":
        raw = json.loads(text)
        kwargs = {}
        for f in fields(cls):
            if f.name in raw:
                value = raw[f.name]
                kwargs[f.name] = tuple(value) if isinstance(value, list) else value
        return cls(**kwargs)
