"""Linear probes on frozen embeddings (scikit-learn).

- classification: standardise (fit on train), multinomial logistic regression -> accuracy;
- multi-label: one-vs-rest logistic regression with the same recipe -> mean average precision;
(localisation probes, which regress a direction vector, are in metrics/direction.py; they use the same
regularisation search, fit_searched).

Each probe chooses its regularisation (logistic C, ridge alpha) on a held-out part of the training set
(stratified by class for single-label tasks), then refits on the whole training set with it.
"""

from __future__ import annotations

import dataclasses
import warnings

import numpy as np
from sklearn.base import BaseEstimator
from sklearn.exceptions import ConvergenceWarning
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import accuracy_score, average_precision_score, make_scorer
from sklearn.model_selection import GridSearchCV, train_test_split
from sklearn.multiclass import OneVsRestClassifier
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import StandardScaler


@dataclasses.dataclass
class ProbeConfig:
    logistic_cs: tuple[float, ...] = (0.01, 0.1, 1.0, 10.0, 100.0)  # inverse L2 strength (sklearn's C)
    ridge_alphas: tuple[float, ...] = (1e-2, 1e-1, 1.0, 10.0, 100.0)
    val_fraction: float = 0.2  # of the training set, held out to choose the regularisation
    min_val: int = 10  # below this many validation clips, skip the choice and use the middle value
    max_iter: int = 1000  # LBFGS iterations of the logistic fits
    seed: int = 0


@dataclasses.dataclass
class ProbeResult:
    metric: str  # "accuracy" | "mAP"
    score: float
    regularisation: float  # the chosen logistic C / ridge alpha


# ---------------------------------------------------------------- metrics


def accuracy(pred: np.ndarray, true: np.ndarray) -> float:
    return float(accuracy_score(np.asarray(true), np.asarray(pred)))


def average_precision(scores: np.ndarray, labels: np.ndarray) -> float:
    """AP of one class (tied scores form one threshold); nan when the class has no positive."""
    labels = np.asarray(labels).astype(bool)
    if not labels.any():
        return float("nan")
    return float(average_precision_score(labels, np.asarray(scores, dtype=np.float64)))


def mean_average_precision(scores: np.ndarray, labels: np.ndarray) -> float:
    """Mean of per-class AP over the classes that have at least one positive."""
    aps = [average_precision(scores[:, k], labels[:, k]) for k in range(labels.shape[1])]
    aps = [a for a in aps if not np.isnan(a)]
    return float(np.mean(aps)) if aps else float("nan")


# ---------------------------------------------------------------- fitting


def _holdout(y: np.ndarray, cfg: ProbeConfig, stratify: bool) -> tuple[np.ndarray, np.ndarray] | None:
    """(train, validation) indices of a seeded held-out split, or None when either part would be too small.

    Stratified by class when asked and possible (every class has two clips and each part room for all).
    """
    n = len(y)
    n_val = round(n * cfg.val_fraction)
    if n_val < cfg.min_val or n - n_val < cfg.min_val:
        return None
    strata = None
    if stratify:
        _, counts = np.unique(y, return_counts=True)
        if counts.min() >= 2 and min(n_val, n - n_val) >= len(counts):
            strata = y
    tr, va = train_test_split(np.arange(n), test_size=n_val, random_state=cfg.seed, stratify=strata)
    return tr, va


def fit_searched(
    model: BaseEstimator, param: str, values, x, y, scoring, cfg: ProbeConfig, stratify: bool
) -> tuple[Pipeline, float]:
    """Standardise + model, its `param` chosen from `values` on a held-out split; refit on all of x.

    With one value, or too few clips for a held-out part, the middle value is used as it is.
    Returns (fitted pipeline, chosen value).
    """
    pipe = Pipeline([("scaler", StandardScaler()), ("model", model)])
    key = f"model__{param}"
    values = list(values)
    split = _holdout(y, cfg, stratify) if len(values) > 1 else None
    if split is None:
        value = values[len(values) // 2]
        return pipe.set_params(**{key: value}).fit(x, y), value
    search = GridSearchCV(pipe, {key: values}, scoring=scoring, cv=[split], refit=True, error_score="raise")
    search.fit(x, y)
    return search.best_estimator_, search.best_params_[key]


class LinearProbe:
    """Logistic-regression probe; kind "multiclass" (softmax) or "multilabel" (one-vs-rest)."""

    def __init__(self, kind: str = "multiclass", config: ProbeConfig | None = None):
        if kind not in ("multiclass", "multilabel"):
            raise ValueError(f"unknown probe kind {kind!r}")
        self.kind = kind
        self.cfg = config or ProbeConfig()

    def fit(self, x: np.ndarray, y: np.ndarray) -> LinearProbe:
        y = np.asarray(y)
        logistic = LogisticRegression(max_iter=self.cfg.max_iter)
        if self.kind == "multiclass":
            model, scoring = logistic, "accuracy"
        else:
            model = OneVsRestClassifier(logistic)
            scoring = make_scorer(mean_average_precision, response_method="decision_function")
        param = "C" if self.kind == "multiclass" else "estimator__C"
        # Weakly regularised candidates on separable embeddings stop at max_iter; sklearn warns for each, in
        # several lines. Only the chosen fit matters: whether it converged is kept (self.converged).
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", ConvergenceWarning)
            self.pipeline, self.c = fit_searched(
                model,
                param,
                self.cfg.logistic_cs,
                x,
                y,
                scoring,
                self.cfg,
                stratify=self.kind == "multiclass",
            )
        final = self.pipeline.named_steps["model"]
        fits = final.estimators_ if self.kind == "multilabel" else [final]
        self.converged = all(int(np.max(f.n_iter_)) < self.cfg.max_iter for f in fits)
        return self

    @property
    def scaler(self) -> StandardScaler:
        """The standardisation fitted on the training embeddings."""
        return self.pipeline.named_steps["scaler"]

    def decision_function(self, x: np.ndarray) -> np.ndarray:
        return self.pipeline.decision_function(x)

    def predict(self, x: np.ndarray) -> np.ndarray:
        return self.pipeline.predict(x)

    def evaluate(self, x: np.ndarray, y: np.ndarray) -> ProbeResult:
        y = np.asarray(y)
        if self.kind == "multiclass":
            return ProbeResult("accuracy", accuracy(self.predict(x), y), self.c)
        return ProbeResult("mAP", mean_average_precision(self.decision_function(x), y), self.c)


def probe_score(
    x_train: np.ndarray,
    y_train: np.ndarray,
    x_test: np.ndarray,
    y_test: np.ndarray,
    kind: str = "multiclass",
    config: ProbeConfig | None = None,
) -> ProbeResult:
    """Fit a probe on train, score it on test. kind: "multiclass" | "multilabel"."""
    return LinearProbe(kind, config).fit(x_train, y_train).evaluate(x_test, y_test)
