"""Linear probes on frozen embeddings.

- classification: standardise (fit on train), multinomial logistic regression, full-batch LBFGS,
  L2 weight decay chosen on a held-out part of the training set -> accuracy;
- multi-label: one-vs-rest sigmoid with the same recipe -> mean average precision;
- localisation: ridge regression (closed form) onto (sin az, cos az) -> mean absolute angular
  error in degrees, wrap-around aware (359 vs 1 degree is 2 degrees off).
"""

from __future__ import annotations

import dataclasses

import numpy as np
import torch
import torch.nn.functional as F


@dataclasses.dataclass
class ProbeConfig:
    weight_decays: tuple[float, ...] = (1e-5, 1e-4, 1e-3, 1e-2)
    ridge_alphas: tuple[float, ...] = (1e-2, 1e-1, 1.0, 10.0, 100.0)
    val_fraction: float = 0.2  # of the training set, held out to choose the regularisation
    min_val: int = 10  # below this many validation clips, skip the choice and use the middle value
    max_iter: int = 200  # LBFGS iterations
    seed: int = 0


@dataclasses.dataclass
class ProbeResult:
    metric: str  # "accuracy" | "mAP" | "angle_error_deg"
    score: float
    regularisation: float  # the chosen weight decay / ridge alpha


class Standardizer:
    """Zero mean, unit variance per feature, with statistics from the training set only."""

    def fit(self, x: np.ndarray) -> Standardizer:
        x = np.asarray(x, dtype=np.float64)
        self.mean = x.mean(axis=0)
        self.std = x.std(axis=0)
        self.std[self.std < 1e-8] = 1.0  # constant features stay at zero instead of exploding
        return self

    def transform(self, x: np.ndarray) -> np.ndarray:
        return ((np.asarray(x, dtype=np.float64) - self.mean) / self.std).astype(np.float32)


# ---------------------------------------------------------------- metrics


def accuracy(pred: np.ndarray, true: np.ndarray) -> float:
    return float(np.mean(np.asarray(pred) == np.asarray(true)))


def average_precision(scores: np.ndarray, labels: np.ndarray) -> float:
    """AP of one class: sum over distinct score thresholds of (recall step) x precision.

    Tied scores form one threshold (the convention of sklearn's average_precision_score).
    Returns nan when the class has no positive.
    """
    scores = np.asarray(scores, dtype=np.float64)
    labels = np.asarray(labels).astype(bool)
    n_pos = labels.sum()
    if n_pos == 0:
        return float("nan")
    order = np.argsort(-scores, kind="mergesort")
    s, y = scores[order], labels[order]
    tp = np.cumsum(y)
    fp = np.cumsum(~y)
    last_of_tie = np.r_[s[1:] != s[:-1], True]  # the cut after each distinct score
    tp, fp = tp[last_of_tie], fp[last_of_tie]
    precision = tp / (tp + fp)
    recall = tp / n_pos
    return float(np.sum(np.diff(recall, prepend=0.0) * precision))


def mean_average_precision(scores: np.ndarray, labels: np.ndarray) -> float:
    """Mean of per-class AP over the classes that have at least one positive."""
    aps = [average_precision(scores[:, k], labels[:, k]) for k in range(labels.shape[1])]
    aps = [a for a in aps if not np.isnan(a)]
    return float(np.mean(aps)) if aps else float("nan")


def angular_error_deg(pred_deg: np.ndarray, true_deg: np.ndarray) -> np.ndarray:
    """Absolute angle difference in [0, 180] degrees."""
    d = np.mod(np.asarray(pred_deg, dtype=np.float64) - np.asarray(true_deg, dtype=np.float64), 360.0)
    return np.minimum(d, 360.0 - d)


# ---------------------------------------------------------------- logistic probes


def _split(n: int, cfg: ProbeConfig) -> tuple[np.ndarray, np.ndarray] | None:
    n_val = round(n * cfg.val_fraction)
    if n_val < cfg.min_val or n - n_val < cfg.min_val:
        return None
    perm = np.random.default_rng(cfg.seed).permutation(n)
    return perm[n_val:], perm[:n_val]


def _fit_linear(x: np.ndarray, y: torch.Tensor, loss_fn, n_out: int, wd: float, cfg: ProbeConfig):
    """Minimise loss(xW + b) + wd * |W|^2 with full-batch LBFGS; returns (W, b)."""
    torch.manual_seed(cfg.seed)
    xt = torch.from_numpy(x)
    w = torch.zeros(x.shape[1], n_out, requires_grad=True)
    b = torch.zeros(n_out, requires_grad=True)
    opt = torch.optim.LBFGS([w, b], lr=1.0, max_iter=cfg.max_iter, line_search_fn="strong_wolfe",
                            tolerance_grad=1e-6, tolerance_change=1e-9)

    def closure():
        opt.zero_grad()
        loss = loss_fn(xt @ w + b, y) + wd * (w * w).sum()
        loss.backward()
        return loss

    opt.step(closure)
    return w.detach(), b.detach()


class LinearProbe:
    """Logistic-regression probe; kind "multiclass" (softmax) or "multilabel" (one-vs-rest sigmoid)."""

    def __init__(self, kind: str = "multiclass", config: ProbeConfig | None = None):
        if kind not in ("multiclass", "multilabel"):
            raise ValueError(f"unknown probe kind {kind!r}")
        self.kind = kind
        self.cfg = config or ProbeConfig()

    def _targets(self, y: np.ndarray) -> torch.Tensor:
        if self.kind == "multiclass":
            idx = np.searchsorted(self.classes, y)
            return torch.from_numpy(idx.astype(np.int64))
        return torch.from_numpy(np.asarray(y, dtype=np.float32))

    def _loss(self):
        return F.cross_entropy if self.kind == "multiclass" else F.binary_cross_entropy_with_logits

    def _score(self, logits: np.ndarray, y: np.ndarray) -> float:
        if self.kind == "multiclass":
            return accuracy(self.classes[logits.argmax(axis=1)], y)
        return mean_average_precision(logits, y)

    def fit(self, x: np.ndarray, y: np.ndarray) -> LinearProbe:
        y = np.asarray(y)
        if self.kind == "multiclass":
            self.classes = np.unique(y)
            n_out = len(self.classes)
        else:
            n_out = y.shape[1]
        self.scaler = Standardizer().fit(x)
        xs = self.scaler.transform(x)
        wds = self.cfg.weight_decays
        self.weight_decay = wds[len(wds) // 2]
        split = _split(len(xs), self.cfg)
        if split is not None and len(wds) > 1:
            tr, va = split
            scores = []
            for wd in wds:
                w, b = _fit_linear(xs[tr], self._targets(y[tr]), self._loss(), n_out, wd, self.cfg)
                logits = (torch.from_numpy(xs[va]) @ w + b).numpy()
                scores.append(self._score(logits, y[va]))
            self.weight_decay = wds[int(np.nanargmax(scores))] if not np.all(np.isnan(scores)) else self.weight_decay
        self.w, self.b = _fit_linear(xs, self._targets(y), self._loss(), n_out, self.weight_decay, self.cfg)
        return self

    def decision_function(self, x: np.ndarray) -> np.ndarray:
        return (torch.from_numpy(self.scaler.transform(x)) @ self.w + self.b).numpy()

    def predict(self, x: np.ndarray) -> np.ndarray:
        logits = self.decision_function(x)
        if self.kind == "multiclass":
            return self.classes[logits.argmax(axis=1)]
        return (logits > 0).astype(np.int64)

    def evaluate(self, x: np.ndarray, y: np.ndarray) -> ProbeResult:
        y = np.asarray(y)
        metric = "accuracy" if self.kind == "multiclass" else "mAP"
        return ProbeResult(metric, self._score(self.decision_function(x), y), self.weight_decay)


# ---------------------------------------------------------------- localisation probe


def _ridge(x: np.ndarray, y: np.ndarray, alpha: float) -> tuple[np.ndarray, np.ndarray]:
    """Closed-form ridge on standardised x with an unpenalised intercept; (W, b)."""
    x = x.astype(np.float64)
    y_mean = y.mean(axis=0)
    yc = y - y_mean
    n, d = x.shape
    if d <= n:
        w = np.linalg.solve(x.T @ x + alpha * np.eye(d), x.T @ yc)
    else:  # dual form: the n x n system is the smaller one
        w = x.T @ np.linalg.solve(x @ x.T + alpha * np.eye(n), yc)
    return w, y_mean


class AngleProbe:
    """Ridge regression onto (sin az, cos az); the predicted azimuth is atan2 of the two."""

    def __init__(self, config: ProbeConfig | None = None):
        self.cfg = config or ProbeConfig()

    @staticmethod
    def _targets(az_deg: np.ndarray) -> np.ndarray:
        a = np.deg2rad(np.asarray(az_deg, dtype=np.float64))
        return np.stack([np.sin(a), np.cos(a)], axis=1)

    def fit(self, x: np.ndarray, az_deg: np.ndarray) -> AngleProbe:
        az_deg = np.asarray(az_deg, dtype=np.float64)
        self.scaler = Standardizer().fit(x)
        xs = self.scaler.transform(x).astype(np.float64)
        # Standardised features centre x, so the intercept is the target mean.
        alphas = self.cfg.ridge_alphas
        self.alpha = alphas[len(alphas) // 2]
        split = _split(len(xs), self.cfg)
        if split is not None and len(alphas) > 1:
            tr, va = split
            errors = []
            for alpha in alphas:
                xm = xs[tr].mean(axis=0)
                w, b = _ridge(xs[tr] - xm, self._targets(az_deg[tr]), alpha)
                pred = (xs[va] - xm) @ w + b
                errors.append(angular_error_deg(np.rad2deg(np.arctan2(pred[:, 0], pred[:, 1])), az_deg[va]).mean())
            self.alpha = alphas[int(np.argmin(errors))]
        self.w, self.b = _ridge(xs, self._targets(az_deg), self.alpha)
        return self

    def predict(self, x: np.ndarray) -> np.ndarray:
        """Azimuth in degrees, in (-180, 180]."""
        pred = self.scaler.transform(x).astype(np.float64) @ self.w + self.b
        return np.rad2deg(np.arctan2(pred[:, 0], pred[:, 1]))

    def evaluate(self, x: np.ndarray, az_deg: np.ndarray) -> ProbeResult:
        err = angular_error_deg(self.predict(x), az_deg).mean()
        return ProbeResult("angle_error_deg", float(err), self.alpha)


def probe_score(
    x_train: np.ndarray,
    y_train: np.ndarray,
    x_test: np.ndarray,
    y_test: np.ndarray,
    kind: str = "multiclass",
    config: ProbeConfig | None = None,
) -> ProbeResult:
    """Fit a probe on train, score it on test. kind: "multiclass" | "multilabel" | "angle"."""
    if kind == "angle":
        return AngleProbe(config).fit(x_train, y_train).evaluate(x_test, y_test)
    return LinearProbe(kind, config).fit(x_train, y_train).evaluate(x_test, y_test)
