"""Localisation measures and probes: lateral angle, front-back confusions, azimuth error, chance levels.

Conventions (the bank's, and the head frame's): azimuth 0 = front, +90 = left, elevation + = up. The unit
direction vector is (x, y, z) = (cos el cos az, cos el sin az, sin el): x front, y left, z up.

- lateral angle = asin(sin az cos el) = asin(y), the angle from the median plane, in [-90, 90] degrees
  (+ = left). ITD and ILD determine it; every two-eared listener can resolve it.
- front-back: the sign of x. A spherical head cannot resolve it (the cone of confusion: 30 and 150 degrees
  give the same ITD and ILD); a measured head (KEMAR) partly can, through its pinnae. A confusion is a
  prediction in the other hemisphere than the source; sources within `front_back_margin_deg` of the frontal
  (coronal) plane, where front and back are not defined, are left out.
- azimuth error: the absolute wrapped difference of azimuths, in [0, 180].

Chance levels are computed from the test distribution itself: the error of the best input-independent
guess (the best constant lateral angle = the median, the best constant azimuth on a 0.5 degree grid, always
the majority hemisphere), which is what a well-regularised probe on uninformative embeddings converges to.

Probes regress the direction vector (x, y, z) from frozen embeddings (standardised with the training
statistics); the prediction is normalised to unit length, and its lateral angle, hemisphere and azimuth
are read off it:

- "linear": ridge regression, the strict measure (the information is linearly there);
- "mlp": a small MLP (one hidden layer of 256 ReLU units, Adam, L2 chosen on a held-out split), the
  Nat-HEAR convention (the information is there, in any form a small network can read).
"""

from __future__ import annotations

import dataclasses
import math

import numpy as np
from sklearn.linear_model import Ridge
from sklearn.metrics import make_scorer
from sklearn.neural_network import MLPRegressor

from wavjepa_nat.robustness.probes import ProbeConfig, _fit_searched, angular_error_deg

PROBES = ("linear", "mlp")
PROBE_TEXT = {
    "linear": "linear (ridge onto the direction vector; strict)",
    "mlp": "MLP (one hidden layer of 256, onto the direction vector; the Nat-HEAR convention)",
}


# ---------------------------------------------------------------- geometry


def direction_vector(az_deg, el_deg=0.0) -> np.ndarray:
    """(n,) azimuths and elevations (degrees) -> (n, 3) unit vectors (x front, y left, z up)."""
    az = np.deg2rad(np.asarray(az_deg, dtype=np.float64))
    el = np.deg2rad(np.broadcast_to(np.asarray(el_deg, dtype=np.float64), az.shape))
    return np.stack([np.cos(el) * np.cos(az), np.cos(el) * np.sin(az), np.sin(el)], axis=-1)


def _unit(v: np.ndarray) -> np.ndarray:
    v = np.asarray(v, dtype=np.float64)
    return v / np.maximum(np.linalg.norm(v, axis=-1, keepdims=True), 1e-12)


def lateral_angle(az_deg, el_deg=0.0) -> np.ndarray:
    """asin(sin az cos el) in degrees: 0 on the median plane, +90 = fully left, -90 = fully right."""
    az = np.deg2rad(np.asarray(az_deg, dtype=np.float64))
    el = np.deg2rad(np.asarray(el_deg, dtype=np.float64))
    return np.rad2deg(np.arcsin(np.clip(np.sin(az) * np.cos(el), -1.0, 1.0)))


def vector_lateral(v: np.ndarray) -> np.ndarray:
    """Lateral angle (degrees) of direction vectors (n, 3) (any length)."""
    return np.rad2deg(np.arcsin(np.clip(_unit(v)[..., 1], -1.0, 1.0)))


def vector_azimuth(v: np.ndarray) -> np.ndarray:
    """Azimuth (degrees, (-180, 180]) of direction vectors (n, 3)."""
    v = np.asarray(v, dtype=np.float64)
    return np.rad2deg(np.arctan2(v[..., 1], v[..., 0]))


def is_front(az_deg, el_deg=0.0) -> np.ndarray:
    """True where the direction lies in the front hemisphere (x = cos el cos az > 0)."""
    return direction_vector(az_deg, el_deg)[..., 0] > 0


def front_back_defined(az_deg, el_deg=0.0, margin_deg: float = 10.0) -> np.ndarray:
    """True where the direction lies at least margin_deg from the frontal plane (|x| >= sin margin)."""
    return np.abs(direction_vector(az_deg, el_deg)[..., 0]) >= math.sin(math.radians(margin_deg))


def front_back_confusions(pred_front: np.ndarray, true_front: np.ndarray) -> np.ndarray:
    """True where the predicted hemisphere differs from the true one."""
    return np.asarray(pred_front, bool) != np.asarray(true_front, bool)


# ---------------------------------------------------------------- chance levels


def lateral_chance(true_lat: np.ndarray) -> float:
    """Mean |error| of the best constant lateral guess (the median of the test distribution)."""
    lat = np.asarray(true_lat, dtype=np.float64)
    return float(np.mean(np.abs(lat - np.median(lat)))) if len(lat) else float("nan")


def azimuth_chance(true_az: np.ndarray, step_deg: float = 0.5) -> float:
    """Mean wrapped |error| of the best constant azimuth guess (searched on a step_deg grid)."""
    az = np.asarray(true_az, dtype=np.float64)
    if not len(az):
        return float("nan")
    grid = np.arange(-180.0, 180.0, step_deg)
    return float(min(angular_error_deg(g, az).mean() for g in grid))


def front_back_chance(true_front: np.ndarray) -> float:
    """Confusion rate of always guessing the majority hemisphere."""
    f = np.asarray(true_front, bool)
    return float(min(f.mean(), 1.0 - f.mean())) if len(f) else float("nan")


# ---------------------------------------------------------------- scoring


@dataclasses.dataclass
class LocScores:
    """Localisation of one set of predictions against the truth (degrees; rate in [0, 1])."""

    lateral_error_deg: float
    lateral_chance_deg: float
    lateral_median_deg: float
    front_back_rate: float  # nan when no source is away from the frontal plane
    front_back_chance: float
    azimuth_error_deg: float
    azimuth_chance_deg: float
    n_clips: int
    n_front_back: int
    n_directions: int = 0  # distinct source directions among the scored clips (test scenes, not clips)
    lateral_errors: np.ndarray | None = None  # (n_clips,) per scored clip, for paired tests between models


@dataclasses.dataclass
class LocalisationConfig:
    """Which test sources count, and how the probes are fitted."""

    max_elevation_deg: float = 30.0  # sources near the horizontal plane: |el| <= this
    front_back_margin_deg: float = 10.0  # front-back scored only this far from the frontal plane
    mlp_hidden: int = 256
    mlp_alphas: tuple[float, ...] = (1e-2, 1.0)  # L2 of the MLP, chosen on a held-out split
    mlp_max_iter: int = 400


def score_directions(
    pred_vec: np.ndarray,
    az_deg,
    el_deg,
    cfg: LocalisationConfig | None = None,
) -> LocScores:
    """Score predicted direction vectors (n, 3) against the true azimuths and elevations (degrees).

    Only sources with |elevation| <= cfg.max_elevation_deg count (all of them when none does).
    """
    cfg = cfg or LocalisationConfig()
    az = np.asarray(az_deg, dtype=np.float64)
    el = np.broadcast_to(np.asarray(el_deg, dtype=np.float64), az.shape)
    pred = np.asarray(pred_vec, dtype=np.float64)
    keep = np.abs(el) <= cfg.max_elevation_deg
    if not keep.any():
        keep = np.ones_like(keep)
    az, el, pred = az[keep], el[keep], pred[keep]
    true_lat = lateral_angle(az, el)
    lat_err = np.abs(vector_lateral(pred) - true_lat)
    fb = front_back_defined(az, el, cfg.front_back_margin_deg)
    true_front = is_front(az, el)[fb]
    conf = front_back_confusions(pred[fb, 0] > 0, true_front)
    return LocScores(
        lateral_error_deg=float(lat_err.mean()),
        lateral_chance_deg=lateral_chance(true_lat),
        lateral_median_deg=float(np.median(lat_err)),
        front_back_rate=float(conf.mean()) if fb.any() else float("nan"),
        front_back_chance=front_back_chance(true_front),
        azimuth_error_deg=float(angular_error_deg(vector_azimuth(pred), az).mean()),
        azimuth_chance_deg=azimuth_chance(az),
        n_clips=int(keep.sum()),
        n_front_back=int(fb.sum()),
        n_directions=len({(round(float(a), 3), round(float(e), 3)) for a, e in zip(az, el)}),
        lateral_errors=lat_err,
    )


# ---------------------------------------------------------------- probes


def _vector_error(true_vec: np.ndarray, pred_vec: np.ndarray) -> float:
    """Mean great-circle angle (degrees) between unit targets and (normalised) predictions."""
    cos = np.sum(_unit(true_vec) * _unit(pred_vec), axis=-1)
    return float(np.rad2deg(np.arccos(np.clip(cos, -1.0, 1.0))).mean())


class DirectionProbe:
    """Regress the direction vector (x, y, z) from embeddings; kind "linear" (ridge) or "mlp"."""

    def __init__(
        self,
        kind: str = "linear",
        config: ProbeConfig | None = None,
        loc_config: LocalisationConfig | None = None,
    ):
        if kind not in PROBES:
            raise ValueError(f"unknown localisation probe {kind!r}; choose one of {PROBES}")
        self.kind = kind
        self.cfg = config or ProbeConfig()
        self.loc_cfg = loc_config or LocalisationConfig()

    def fit(self, x: np.ndarray, az_deg, el_deg=0.0) -> DirectionProbe:
        y = direction_vector(az_deg, el_deg)
        x = np.asarray(x, dtype=np.float64)
        scoring = make_scorer(_vector_error, greater_is_better=False)
        if self.kind == "linear":
            model, param, values = Ridge(), "alpha", self.cfg.ridge_alphas
        else:
            model = MLPRegressor(
                hidden_layer_sizes=(self.loc_cfg.mlp_hidden,),
                max_iter=self.loc_cfg.mlp_max_iter,
                early_stopping=False,
                random_state=self.cfg.seed,
                learning_rate_init=1e-3,
            )
            param, values = "alpha", self.loc_cfg.mlp_alphas
        import warnings

        from sklearn.exceptions import ConvergenceWarning

        with warnings.catch_warnings():
            warnings.simplefilter("ignore", ConvergenceWarning)
            self.pipeline, self.regularisation = _fit_searched(
                model, param, values, x, y, scoring, self.cfg, stratify=False
            )
        return self

    def predict(self, x: np.ndarray) -> np.ndarray:
        """(n, D) -> (n, 3) unit direction vectors."""
        return _unit(self.pipeline.predict(np.asarray(x, dtype=np.float64)))

    def evaluate(self, x: np.ndarray, az_deg, el_deg=0.0) -> LocScores:
        return score_directions(self.predict(x), az_deg, el_deg, self.loc_cfg)


def probe_localisation(
    x_train,
    az_train,
    el_train,
    x_test,
    az_test,
    el_test,
    kind: str = "linear",
    config: ProbeConfig | None = None,
    loc_config: LocalisationConfig | None = None,
) -> LocScores:
    """Fit a direction probe on train, score it on test."""
    probe = DirectionProbe(kind, config, loc_config).fit(x_train, az_train, el_train)
    return probe.evaluate(x_test, az_test, el_test)


# ---------------------------------------------------------------- report rows


@dataclasses.dataclass
class LocRow:
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

    def __post_init__(self):
        if self.rt60_bin is not None:
            self.rt60_bin = (float(self.rt60_bin[0]), float(self.rt60_bin[1]))

    @classmethod
    def from_scores(cls, model: str, cond, probe: str, s: LocScores, task: str = "", **kw) -> LocRow:
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
            **kw,
        )


def _finite(v: float | None) -> float | None:
    return None if v is None or not math.isfinite(v) else float(v)


def loc_row_from_dict(d: dict) -> LocRow:
    names = {f.name for f in dataclasses.fields(LocRow)}
    return LocRow(**{k: v for k, v in d.items() if k in names})


# ---------------------------------------------------------------- the sweep's localisation pass

LOC_TRAIN_RENDERS = 2  # renderings of each training clip through random train/val scenes (more directions)


def localisation_sweep(
    embedders,
    conditions,
    data,
    train_pools,
    test_pools,
    seed: int,
    probe_train: str = "clean",
    probe_cfg: ProbeConfig | None = None,
    loc_cfg: LocalisationConfig | None = None,
    progress: bool = False,
    baselines=None,
    skip=(),
    on_error=None,
    embedded=None,
) -> tuple[list[LocRow], dict[tuple[str, str], np.ndarray]]:
    """Localisation of every two-channel embedder and the GCC-PHAT + ILD baseline, per condition and probe.

    embedders: the sweep's (name, embedder, description) triples (mono ones, and names in `skip`, are left
    out). Probes are fitted on LOC_TRAIN_RENDERS clean spatial renderings of each training clip through
    train/val scenes (probe_train "matched": renderings under the condition itself), and scored on the test
    clips of each condition rendered through test scenes (clean and SNR conditions: a random test scene,
    any RT60, since a dry clip has no direction; the same scene for a clip in all of them; RT60
    conditions: a BRIR of the bin) -- the same audio the sweep's classification pass uses for reverberant
    conditions.

    Returns the rows and, per (condition label, model), the linear probe's lateral-angle error of each
    scored clip (the sweep's per-model localisation column and its paired tests). A HEAR module that breaks
    (HearModuleError) is passed to on_error(name, stage, err) and left out from there on. `embedded`:
    {(condition label, model): embeddings} of the test clips of reverberant conditions from the
    classification pass (the same audio), used instead of embedding them again.
    """
    from wavjepa_nat.progress import progress_bar
    from wavjepa_nat.robustness.binaural_baseline import BinauralConfig, GccPhatIldBaseline
    from wavjepa_nat.robustness.conditions import CLEAN
    from wavjepa_nat.robustness.degrade import degrade
    from wavjepa_nat.robustness.hear_models import HearModuleError

    probe_cfg = probe_cfg or ProbeConfig(seed=seed)
    loc_cfg = loc_cfg or LocalisationConfig()
    if baselines is None:
        baselines = [GccPhatIldBaseline(BinauralConfig(sample_rate=int(train_pools.bank.fs)))]
    models = [(name, emb) for name, emb, _ in embedders if emb.channels == 2 and name not in skip]
    models += [(b.name, b) for b in baselines]
    broken: set[str] = set()
    dry_train, dry_test = data.clips["train"], data.clips["test"]
    train_ids, test_ids = data.clip_ids("train"), data.clip_ids("test")

    def train_set(cond):
        parts = [
            degrade(
                dry_train,
                cond,
                train_pools,
                seed,
                "loc-train" if k == 0 else f"loc-train-{k}",
                train_ids,
                spatial=True,
                elevation=True,
            )
            for k in range(LOC_TRAIN_RENDERS)
        ]
        return tuple(np.concatenate(p) for p in zip(*parts))

    def fit(emb, tr):
        x = emb.scene_embeddings(tr[0])
        return {kind: DirectionProbe(kind, probe_cfg, loc_cfg).fit(x, tr[1], tr[2]) for kind in PROBES}

    def guarded(name, stage, work, *args):
        """work(*args) for a model, or None when it is a HEAR module that breaks (then left out)."""
        try:
            return work(*args)
        except HearModuleError as err:
            broken.add(name)
            if on_error is None:
                raise
            on_error(name, stage, err)
            return None

    rows: list[LocRow] = []
    per_clip: dict[tuple[str, str], np.ndarray] = {}
    with progress_bar(len(models) * (len(conditions) + 1), "localisation", enabled=progress) as advance:
        clean_train = train_set(CLEAN)
        probes = {}
        for name, emb in models:
            probes[name] = guarded(name, "localisation probe training", fit, emb, clean_train)
            advance(description=f"localisation probes: {name}")
        for cond in conditions:
            role = "test" if cond.reverberant else "loc"
            audio, az, el = degrade(
                dry_test, cond, test_pools, seed, role, test_ids, spatial=True, elevation=True
            )
            matched = probe_train == "matched" and cond != CLEAN
            m_train = train_set(cond) if matched else None
            for name, emb in models:
                advance(description=f"localisation {cond.label}: {name}")
                if name in broken:
                    continue
                stage = f"localisation, {cond.label}"
                use = guarded(name, stage, fit, emb, m_train) if matched else probes[name]
                x = (embedded or {}).get((cond.label, name)) if cond.reverberant else None
                if x is None and use is not None:
                    x = guarded(name, stage, emb.scene_embeddings, audio)
                if x is None or use is None:
                    continue
                for kind, probe in use.items():
                    pred = probe.predict(x)
                    scores = score_directions(pred, az, el, loc_cfg)
                    extra = {}
                    if cond == CLEAN:
                        keep = np.abs(el) <= loc_cfg.max_elevation_deg
                        extra = {
                            "true_az": [round(float(v), 2) for v in az[keep]],
                            "pred_az": [round(float(v), 2) for v in vector_azimuth(pred[keep])],
                        }
                    if kind == "linear":
                        per_clip[(cond.label, name)] = scores.lateral_errors
                    rows.append(LocRow.from_scores(name, cond, kind, scores, task=data.name, **extra))
    return rows, per_clip
