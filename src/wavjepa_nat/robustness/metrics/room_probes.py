"""What an embedding knows about the room: ridge probes from clip embeddings to the scene's acoustics.

    result = room_probe(x_train, y_train, x_test, y_test, seed=0)   # one target (e.g. T_mid in s)

The probe standardises the embeddings (fit on train) and fits ridge regression, its alpha chosen on a
held-out part of the training set (metrics/probes.py fit_searched). Scored on the test clips: mean absolute
error and R^2, beside chance, the training mean predicted for every clip (its R^2 is at most about 0). Every
number has a 95 % bootstrap interval over the test clips (the same resamples for the probe and chance).
"""

from __future__ import annotations

import dataclasses

import numpy as np
from sklearn.linear_model import Ridge

from wavjepa_nat.robustness.metrics.probes import ProbeConfig, fit_searched
from wavjepa_nat.robustness.metrics.stats import bootstrap_interval


@dataclasses.dataclass
class RoomProbeResult:
    mae: float
    r2: float
    chance_mae: float
    chance_r2: float
    mae_ci: tuple[float, float] | None
    r2_ci: tuple[float, float] | None
    chance_mae_ci: tuple[float, float] | None
    chance_r2_ci: tuple[float, float] | None
    alpha: float
    n_train: int
    n_test: int


def weighted_mae(y: np.ndarray, pred: np.ndarray, w: np.ndarray) -> np.ndarray:
    """Mean absolute error under each row of clip weights (B, n) -> (B,)."""
    w = np.atleast_2d(w)
    return (w * np.abs(y - pred)).sum(axis=1) / w.sum(axis=1)


def weighted_r2(y: np.ndarray, pred: np.ndarray, w: np.ndarray) -> np.ndarray:
    """1 - SS_res / SS_tot under each row of clip weights (B, n) -> (B,); nan where y does not vary."""
    w = np.atleast_2d(w)
    mean = (w * y).sum(axis=1, keepdims=True) / w.sum(axis=1, keepdims=True)
    ss_tot = (w * (y - mean) ** 2).sum(axis=1)
    ss_res = (w * (y - pred) ** 2).sum(axis=1)
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(ss_tot > 0, 1.0 - ss_res / ss_tot, np.nan)


def room_probe(
    x_train: np.ndarray,
    y_train: np.ndarray,
    x_test: np.ndarray,
    y_test: np.ndarray,
    seed: int = 0,
    config: ProbeConfig | None = None,
) -> RoomProbeResult:
    cfg = config or ProbeConfig(seed=seed)
    y_train, y_test = np.asarray(y_train, np.float64), np.asarray(y_test, np.float64)
    model, alpha = fit_searched(
        Ridge(), "alpha", cfg.ridge_alphas, x_train, y_train, "neg_mean_absolute_error", cfg, stratify=False
    )
    pred = model.predict(x_test)
    chance = np.full_like(y_test, y_train.mean())
    ones = np.ones(len(y_test))
    n = len(y_test)

    def interval(fn, p):
        return bootstrap_interval(lambda w: fn(y_test, p, w), n, seed)

    return RoomProbeResult(
        mae=float(weighted_mae(y_test, pred, ones)[0]),
        r2=float(weighted_r2(y_test, pred, ones)[0]),
        chance_mae=float(weighted_mae(y_test, chance, ones)[0]),
        chance_r2=float(weighted_r2(y_test, chance, ones)[0]),
        mae_ci=interval(weighted_mae, pred),
        r2_ci=interval(weighted_r2, pred),
        chance_mae_ci=interval(weighted_mae, chance),
        chance_r2_ci=interval(weighted_r2, chance),
        alpha=float(alpha),
        n_train=len(y_train),
        n_test=n,
    )
