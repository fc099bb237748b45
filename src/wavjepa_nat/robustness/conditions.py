"""Sweep conditions: parsing --snr / --rt60 and the condition list (torch-free, so the CLI checks its
arguments before importing anything heavy). Degrading a clip under a condition is in robustness/degrade.py.

    clean      the dry clip, duplicated to both ears
    snr        the dry clip on both ears + binaural noise from a test-split noise bed at the SNR
    rt60       the clip through a test-split BRIR whose *measured* T_mid lies in the bin, no added noise
    snr_rt60   both: a BRIR from the bin + that scene's own noise bed at the SNR
    polyphony  the clip through a test scene's BRIR + K-1 clips of other classes, each through one of that
               scene's noise-source positions (same room, same head), each at the TIR below the clip
"""

from __future__ import annotations

import itertools
import math
import zlib
from dataclasses import dataclass

import numpy as np

from wavjepa_nat.data.render.scenes import RT60_MEASURE, bin_text
from wavjepa_nat.errors import InputError
from wavjepa_nat.ranges import parse_interval, parse_values

KINDS = ("clean", "snr", "rt60", "snr_rt60", "polyphony")
# Bin edges (s) used when --rt60 gives a range: the common robustness bins (0.1-0.3, 0.3-0.6, 0.6-1.0, ...).
STANDARD_EDGES = (0.1, 0.3, 0.6, 1.0, 1.5, 2.0, 3.0, 5.0)
MERGE_RATIO = 0.25  # an end bin narrower than this fraction of its neighbour is merged into it
PROBE_TRAIN = ("clean", "matched")  # probes trained on clean training clips, or on the same condition
# How labels call the measured reverberation time the RT60 bins hold (RT60_MEASURE: RIRBank.measure names).
MEASURE_TEXT = {"t_mid": "T_mid (500 Hz-1 kHz T30)", "t30": "broadband T30", "edt": "EDT"} | {
    f"t30_{hz}": f"{hz} Hz octave T30" for hz in (125, 250, 500, 1000, 2000, 4000, 8000)
}


def rt60_axis_label(measure: str = RT60_MEASURE) -> str:
    """What an RT60 bin axis shows: which measure of the bank's BRIRs the bins hold."""
    return f"RT60 bin: measured {MEASURE_TEXT.get(measure, measure)}"


# ---------------------------------------------------------------- parsing


def _none(text: str) -> bool:
    return str(text).strip().lower() in ("", "none", "off")


def parse_snr(text: str, name: str = "--snr") -> list[float]:
    """'-5..20' (5 dB steps), '-5..20:2.5', '0,10,20' or 'none' -> sorted SNRs in dB."""
    if _none(text):
        return []
    return parse_values(text, name, default_step=5.0)


def parse_polyphony(text: str, name: str = "--polyphony") -> list[int]:
    """'2..3', '2,3', '2' or 'none' -> sorted source counts K >= 2."""
    if _none(text):
        return []
    values = parse_values(text, name, default_step=1.0)
    if any(v != int(v) or v < 2 for v in values):
        raise InputError(f"{name}: source counts must be whole numbers >= 2, got '{text}'")
    return [int(v) for v in values]


def _merge_small_ends(edges: list[float]) -> list[float]:
    """Merge a sliver bin at either end (e.g. 1.5-1.6 next to 1.0-1.5) into its neighbour."""
    while len(edges) > 2 and edges[1] - edges[0] < MERGE_RATIO * (edges[2] - edges[1]):
        del edges[1]
    while len(edges) > 2 and edges[-1] - edges[-2] < MERGE_RATIO * (edges[-2] - edges[-3]):
        del edges[-2]
    return edges


def parse_rt60_bins(text: str, name: str = "--rt60") -> list[tuple[float, float]]:
    """RT60 bins (s) from the CLI syntax.

    'LO..HI'       the standard edges (0.1, 0.3, 0.6, 1.0, 1.5, 2.0, ...) inside (LO, HI), plus LO and HI;
                   a sliver end bin (< 1/4 of its neighbour) is merged: 0.2..1.6 -> 0.2-0.3, 0.3-0.6,
                   0.6-1.0, 1.0-1.6
    'LO..HI:STEP'  edges every STEP seconds
    'A,B,C'        explicit edges -> A-B, B-C
    'none'         no RT60 conditions
    """
    if _none(text):
        return []
    text = str(text).strip()
    if "," in text or ":" in text:
        edges = parse_values(text, name)
    elif ".." in text:
        lo, hi = parse_interval(text, name)
        if lo == hi:
            raise InputError(f"{name}: '{text}' is an empty interval")
        edges = _merge_small_ends([lo] + [e for e in STANDARD_EDGES if lo < e < hi] + [hi])
    else:
        parse_interval(text, name)  # a malformed number gets the number error
        raise InputError(f"{name}: '{text}' is one value; give a range LO..HI or bin edges A,B,C")
    edges = [round(e, 9) for e in edges]
    if len(edges) < 2:
        raise InputError(f"{name}: '{text}' needs at least two edges")
    if edges[0] < 0:
        raise InputError(f"{name}: RT60 cannot be negative ('{text}')")
    return list(itertools.pairwise(edges))


def auto_rt60_bins(measured: np.ndarray) -> list[tuple[float, float]]:
    """Standard bins over a measured-RT60 range (rounded outward to 50 ms); empty ones are dropped later."""
    lo = math.floor(float(np.min(measured)) * 20) / 20
    hi = math.ceil(float(np.max(measured)) * 20 + 1e-9) / 20
    if hi <= lo:
        hi = lo + 0.05
    return parse_rt60_bins(f"{lo}..{hi}")


# ---------------------------------------------------------------- conditions


@dataclass(frozen=True)
class Condition:
    kind: str  # clean | snr | rt60 | snr_rt60 | polyphony
    snr_db: float | None = None
    rt60_bin: tuple[float, float] | None = None
    sources: int = 1  # polyphony: K, the clip and K-1 interferers
    tir_db: float | None = None  # polyphony: each interferer's level below the clip at the ears (dB)

    def __post_init__(self):
        if self.kind not in KINDS:
            raise ValueError(f"condition kind must be one of {KINDS}, got {self.kind!r}")

    @property
    def noisy(self) -> bool:
        return self.snr_db is not None

    @property
    def reverberant(self) -> bool:
        return self.rt60_bin is not None

    @property
    def label(self) -> str:
        parts = ([f"SNR {self.snr_db:g} dB"] if self.noisy else []) + (
            [f"RT60 {bin_text(self.rt60_bin)}"] if self.reverberant else []
        )
        if self.polyphonic:
            parts.append(f"{self.sources} sources, TIR {self.tir_db:g} dB")
        return ", ".join(parts) or "clean"

    @property
    def polyphonic(self) -> bool:
        return self.sources > 1

    @property
    def key(self) -> str:
        """Stable text that seeds this condition's renderings."""
        extra = f"|{self.sources}|{self.tir_db!r}" if self.polyphonic else ""
        return f"{self.kind}|{self.snr_db!r}|{self.rt60_bin!r}{extra}"


CLEAN = Condition("clean")


def build_conditions(snrs, bins, grid: bool = False, polyphony=(), tirs=()) -> list[Condition]:
    """Clean first (the reference for drops and drift), then each SNR, each RT60 bin, the grid, and each
    source count x TIR."""
    conds = [CLEAN] + [Condition("snr", float(s)) for s in snrs]
    conds += [Condition("rt60", None, tuple(b)) for b in bins]
    if grid:
        conds += [Condition("snr_rt60", float(s), tuple(b)) for s in snrs for b in bins]
    conds += [Condition("polyphony", sources=int(k), tir_db=float(t)) for k in polyphony for t in tirs]
    return conds


def check_probe_train(value: str) -> str:
    if value not in PROBE_TRAIN:
        raise InputError(f"--probe-train must be one of {', '.join(PROBE_TRAIN)}, got '{value}'")
    return value


def stream_id(text: str) -> int:
    """A stable 32-bit id of a text (Python's hash() is salted per process)."""
    return zlib.crc32(text.encode())
