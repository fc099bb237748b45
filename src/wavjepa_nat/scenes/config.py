"""The typed configuration of a simulated scene set. It is stored (as JSON) in every bank.

`SceneConfig` checks its own values (InputError, one line naming the field and its CLI flag). It does not
look at the file system (the HRTF file, the noise folder): a bank's stored config must read back on
another machine; those are checked where they are opened (scenes/hrtf.py, scenes/noise.py).
"""

from __future__ import annotations

import json
import math
import numbers
from dataclasses import dataclass, fields

from wavjepa_nat.errors import InputError
from wavjepa_nat.serialise import config_dict

SPLITS = ("train", "val", "test")
ENGINES = ("fast", "reference")
MIN_FS = 8000
MAX_FS = 192000
MAX_RT60_S = 20.0  # beyond the longest reverberation of real enclosures (large cathedrals: ~10-12 s)
HEAD_CLEARANCE_M = 0.3  # sources start at least this far from the head centre (the head has a radius)
MAX_ROOM_HEIGHT_M = 12.0  # the sampler's highest ceiling (scenes/sampler.py)

# The `simulate-rirs` flag of each field that has one, so that a message names what the user typed.
FLAGS = {
    "fs": "--fs",
    "rt60": "--rt60",
    "noise_sources": "--noise-sources",
    "source_distance": "--distance",
    "hrtf": "--hrtf",
    "engine": "--engine",
    "scenes_per_room": "--scenes-per-room",
    "noise_bed_seconds": "--noise-bed-seconds",
    "noise_dir": "--noise-dir",
    "noise_beds": "--beds",
    "seed": "--seed",
}


def _is_number(value, integer: bool = False) -> bool:
    kind = numbers.Integral if integer else numbers.Real
    return isinstance(value, kind) and not isinstance(value, bool) and math.isfinite(value)


def _name(field: str) -> str:
    flag = FLAGS.get(field)
    return f"{flag} (SceneConfig.{field})" if flag else f"SceneConfig.{field}"


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
    # False (`--beds none`): no beds are simulated or stored; training makes each clip's noise on the fly from
    # the noise-source BRIRs and the head's diffuse field (data/render/noise.py).
    noise_beds: bool = True
    early_images: int = 150  # echo count after which the response counts as diffuse (mixing time)
    seed: int = 0

    def __post_init__(self) -> None:
        for f in (
            "rt60",
            "room_length",
            "noise_sources",
            "source_distance",
            "source_elevation",
            "listener_height",
            "split_per_ten_rooms",
        ):
            value = getattr(self, f)
            if isinstance(value, list):  # JSON and library callers: store tuples, as the CLI does
                object.__setattr__(self, f, tuple(value))
        self._check_number("fs", integer=True, lo=MIN_FS, hi=MAX_FS, why=f"{MIN_FS}..{MAX_FS} Hz")
        self._check_range("rt60", above=0.0, hi=MAX_RT60_S, unit="s")
        self._check_range("room_length", above=0.0, unit="m")
        self._check_range("noise_sources", lo=0, integer=True)
        self._check_range(
            "source_distance",
            lo=HEAD_CLEARANCE_M,
            unit="m",
            why=f"must start at {HEAD_CLEARANCE_M} m or more (the head has a radius)",
        )
        # Sources are placed inside the room: a farther bound would only lengthen every BRIR (brir_length
        # follows it) while the distances drawn stay within the room.
        longest = self.room_length[1]
        reach = math.floor(10 * math.sqrt(2 * longest**2 + MAX_ROOM_HEIGHT_M**2)) / 10
        if self.source_distance[1] > reach:
            raise InputError(
                f"{_name('source_distance')} must end at {reach:g} m or less: sources "
                f"are placed inside rooms whose longest side is at most {longest:g} m "
                f"(room_length), got "
                f"{self.source_distance[0]:g}..{self.source_distance[1]:g} m"
            )
        self._check_range("source_elevation", lo=-90.0, hi=90.0, unit="degrees")
        self._check_range("listener_height", above=0.0, unit="m")
        if not isinstance(self.hrtf, str) or not (
            self.hrtf in ("spherical", "kemar") or self.hrtf.lower().endswith(".sofa")
        ):
            raise InputError(
                f"{_name('hrtf')} must be 'spherical', 'kemar' or a path to a .sofa file, got {self.hrtf!r}"
            )
        if self.engine not in ENGINES:
            raise InputError(f"{_name('engine')} must be 'fast' or 'reference', got {self.engine!r}")
        self._check_number("scenes_per_room", integer=True, lo=1, why="at least 1")
        split = self.split_per_ten_rooms
        if len(split) != 3 or not all(_is_number(k, True) and k >= 0 for k in split) or sum(split) != 10:
            raise InputError(
                f"{_name('split_per_ten_rooms')} must be three whole numbers >= 0 (train, val, "
                f"test rooms) that add up to 10, got {split}"
            )
        self._check_number("noise_bed_seconds", above=0.0, why="positive")
        if not isinstance(self.noise_beds, bool):
            raise InputError(f"{_name('noise_beds')} must be true or false, got {self.noise_beds!r}")
        self._check_number("noise_bed_rms_db", hi=0.0, why="at most 0 dBFS")
        if self.noise_dir is not None and (not isinstance(self.noise_dir, str) or not self.noise_dir):
            raise InputError(f"{_name('noise_dir')} must be a folder path or None, got {self.noise_dir!r}")
        if self.noise_dir is not None and not self.has_beds:
            raise InputError(
                f"{_name('noise_dir')} puts recordings into noise beds, but this config has none "
                f"(--beds none); use one or the other"
            )
        self._check_number("early_images", integer=True, lo=1, why="at least 1")
        self._check_number("seed", integer=True, lo=0, hi=2**64 - 1, why="a whole number in 0..2^64 - 1")

    def _check_number(
        self,
        field: str,
        *,
        why: str,
        integer: bool = False,
        lo: float | None = None,
        hi: float | None = None,
        above: float | None = None,
    ) -> None:
        value = getattr(self, field)
        ok = _is_number(value, integer)
        ok = ok and (lo is None or value >= lo) and (hi is None or value <= hi)
        ok = ok and (above is None or value > above)
        if not ok:
            raise InputError(f"{_name(field)} must be {why}, got {value!r}")

    def _check_range(
        self,
        field: str,
        *,
        unit: str = "",
        integer: bool = False,
        lo: float | None = None,
        hi: float | None = None,
        above: float | None = None,
        why: str | None = None,
    ) -> None:
        value = getattr(self, field)
        if not isinstance(value, tuple) or len(value) != 2 or not all(_is_number(v, integer) for v in value):
            whole = "whole " if integer else ""
            raise InputError(
                f"{_name(field)} must be a ({whole}LO, HI) pair of finite numbers, got {value!r}"
            )
        low, high = value
        shown = f"{low:g}..{high:g}{' ' + unit if unit else ''}"
        if low > high:
            raise InputError(f"{_name(field)} must have LO <= HI, got {shown}")
        if lo is not None and low < lo or above is not None and low <= above:
            bound = f"at {lo:g}{' ' + unit if unit else ''} or more" if lo is not None else f"above {above:g}"
            raise InputError(f"{_name(field)} {why or 'must start ' + bound}, got {shown}")
        if hi is not None and high > hi:
            raise InputError(
                f"{_name(field)} must end at {hi:g}{' ' + unit if unit else ''} or less, got {shown}"
            )

    @property
    def brir_length(self) -> int:
        """Long enough for the longest RT60 (60 dB of decay) plus the longest direct path."""
        direct = self.source_distance[1] / 343.0
        return math.ceil(self.fs * (1.1 * self.rt60[1] + direct + 0.02))

    @property
    def noise_bed_length(self) -> int:
        """Samples of a scene's stored bed: 0 without beds (the bank then stores empty ones)."""
        return round(self.noise_bed_seconds * self.fs) if self.noise_beds else 0

    @property
    def has_beds(self) -> bool:
        """False for a bank made with `--beds none`: it stores the noise-source BRIRs and the head's diffuse
        field, and training makes each clip's noise on the fly (data/render/noise.py)."""
        return self.noise_beds

    @property
    def scene_bytes(self) -> int:
        """Bytes a scene takes in a bank: its BRIRs (target and noise-source slots) and noise bed, float32."""
        return 4 * 2 * ((1 + self.noise_sources[1]) * self.brir_length + self.noise_bed_length)

    @property
    def scene_memory_bytes(self) -> int:
        """About what simulating one scene holds in memory at its peak: the noise signals and their float64
        convolution with the BRIRs (about five arrays of noise-bed plus BRIR length per source)."""
        n = self.noise_bed_length + self.brir_length
        return 8 * n * (5 * (1 + self.noise_sources[1]) + 6)

    def to_json(self) -> str:
        values = config_dict(self)
        if values["noise_beds"]:  # the default: left out, so banks with beds keep the config text they had
            del values["noise_beds"]
        return json.dumps(values, sort_keys=True)

    @classmethod
    def from_json(cls, text: str) -> SceneConfig:
        raw = json.loads(text)
        kwargs = {f.name: raw[f.name] for f in fields(cls) if f.name in raw}
        return cls(**kwargs)  # lists become tuples in __post_init__
