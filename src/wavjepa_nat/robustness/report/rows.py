"""The rows of a robustness sweep's results: one ResultRow per (model, condition, metric) cell of the
classification pass, one LocRow per (model, condition, probe) cell of the localisation pass. results.json
stores them as dicts (non-finite floats as null); the *_from_dict readers ignore unknown fields."""

from __future__ import annotations

import dataclasses
import math
from typing import Any

from wavjepa_nat.robustness.conditions import KINDS, Condition


class ConditionCell:
    """What a result row knows of its condition: `condition` (the kind), `snr_db` and `rt60_bin`."""

    condition: str
    snr_db: float | None
    rt60_bin: tuple[float, float] | None

    def __post_init__(self):
        if self.rt60_bin is not None:
            self.rt60_bin = (float(self.rt60_bin[0]), float(self.rt60_bin[1]))

    @property
    def cond(self) -> Condition:
        """The sweep condition of this row (its `label` names it in reports)."""
        return Condition(
            self.condition,
            self.snr_db if self.condition in ("snr", "snr_rt60") else None,
            self.rt60_bin if self.condition in ("rt60", "snr_rt60") else None,
            int(getattr(self, "sources", None) or 1),
            getattr(self, "tir_db", None),
        )

    @property
    def sort_key(self) -> tuple:
        """Clean first, then by kind; high SNR (easy) first, then by the RT60 bin's lower edge."""
        snr = -self.snr_db if self.snr_db is not None else 0.0
        rt = self.rt60_bin[0] if self.rt60_bin is not None else 0.0
        poly = (int(getattr(self, "sources", None) or 1), -(getattr(self, "tir_db", None) or 0.0))
        return (KINDS.index(self.condition), snr, rt, *poly)


@dataclasses.dataclass
class ResultRow(ConditionCell):
    model: str
    model_channels: int
    condition: str  # "clean" | "snr" | "rt60" | "snr_rt60"
    snr_db: float | None
    rt60_bin: tuple[float, float] | None  # measured-RT60 bin, seconds
    metric: str  # "accuracy" | "mAP" | ...
    score: float | None
    drop_vs_clean: float | None  # score - clean score of the same model (negative = worse)
    clean_cosine: float | None  # embedding drift: mean cosine similarity to the clean embedding (1 = none)
    loc_error_deg: float | None  # None (N/A) for mono models
    n_clips: int
    task: str = ""  # the probe's data set, when a sweep runs several
    score_ci: tuple[float, float] | None = None  # 95 % interval (Wilson for accuracy, else a bootstrap)
    drift_ci: tuple[float, float] | None = None  # 95 % bootstrap interval of clean_cosine
    loc_ci: tuple[float, float] | None = None  # 95 % bootstrap interval of loc_error_deg
    seconds: float | None = None  # wall time of this model on this condition (embedding + probes)
    sources: int | None = None  # polyphony conditions: K (None: one source)
    tir_db: float | None = None  # polyphony conditions: the interferers' TIR (dB)
    # polyphony conditions: mAP of every present class (the clip's and the interferers'), the single-clip
    # probe's scores, and its 95 % bootstrap interval
    all_class_map: float | None = None
    all_class_map_ci: tuple[float, float] | None = None

    def __post_init__(self):
        if self.condition not in KINDS:
            raise ValueError(f"condition must be one of {KINDS}, got {self.condition!r}")
        super().__post_init__()
        for name in ("score_ci", "drift_ci", "loc_ci"):
            ci = getattr(self, name)
            if ci is not None:
                setattr(self, name, None if ci[0] is None or ci[1] is None else (float(ci[0]), float(ci[1])))


@dataclasses.dataclass
class LocRow(ConditionCell):
    """One (model, condition, probe) cell of a sweep's localisation results."""

    model: str
    condition: str
    snr_db: float | None
    rt60_bin: tuple[float, float] | None
    probe: str  # "linear" | "mlp"
    lateral_error_deg: float
    lateral_chance_deg: float
    front_back_rate: float | None
    front_back_chance: float | None
    azimuth_error_deg: float
    azimuth_chance_deg: float
    n_clips: int
    task: str = ""
    n_directions: int | None = None  # distinct source directions scored (None: results before this field)
    # Per-clip truth and prediction (azimuth, lateral; degrees), kept for the clean condition's polar plot.
    true_az: list[float] | None = None
    pred_az: list[float] | None = None
    sources: int | None = None  # polyphony conditions: K; the main clip is the one localised
    tir_db: float | None = None

    @classmethod
    def from_scores(cls, model: str, cond: Condition, probe: str, s, task: str = "", **kw) -> LocRow:
        return cls(
            model=model,
            condition=cond.kind,
            snr_db=cond.snr_db,
            rt60_bin=cond.rt60_bin,
            probe=probe,
            lateral_error_deg=s.lateral_error_deg,
            lateral_chance_deg=s.lateral_chance_deg,
            front_back_rate=_finite(s.front_back_rate),
            front_back_chance=_finite(s.front_back_chance),
            azimuth_error_deg=s.azimuth_error_deg,
            azimuth_chance_deg=s.azimuth_chance_deg,
            n_clips=s.n_clips,
            task=task,
            n_directions=s.n_directions,
            **({"sources": cond.sources, "tir_db": cond.tir_db} if cond.polyphonic else {}),
            **kw,
        )


def _finite(v: float | None) -> float | None:
    return None if v is None or not math.isfinite(v) else float(v)


def json_value(v: Any) -> Any:
    """JSON has no NaN: non-finite floats become null."""
    if isinstance(v, float) and not math.isfinite(v):
        return None
    return v


def row_dict(row) -> dict:
    """A ResultRow or LocRow as the dict results.json stores."""
    return {k: json_value(v) for k, v in dataclasses.asdict(row).items()}


def row_from_dict(d: dict) -> ResultRow:
    fields = {f.name for f in dataclasses.fields(ResultRow)}
    return ResultRow(**{k: v for k, v in d.items() if k in fields})


def loc_row_from_dict(d: dict) -> LocRow:
    names = {f.name for f in dataclasses.fields(LocRow)}
    return LocRow(**{k: v for k, v in d.items() if k in names})
