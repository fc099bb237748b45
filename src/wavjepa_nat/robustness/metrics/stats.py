"""Uncertainty of sweep scores: 95 % intervals and paired tests between models over the same clips.

- accuracy: the Wilson score interval of k correct out of n (scipy's binomtest);
- any other per-clip statistic (mAP over the test clips, the mean drift cosine, the mean angular error):
  a seeded percentile bootstrap over clips (the same resampled clip sets for every statistic of a seed);
- two models on the same clips: McNemar's exact test on the discordant pairs for accuracy (a two-sided
  binomial test of b against b + c at p = 1/2); a paired sign-flip permutation test of the per-clip
  differences for means (drift, angular error; scipy's permutation_test); a paired bootstrap of the
  difference for mAP.

A difference is called significant at p < ALPHA. numpy and scipy only.
"""

from __future__ import annotations

import dataclasses
import warnings
from collections.abc import Callable

import numpy as np
from scipy.stats import binomtest, permutation_test

ALPHA = 0.05
N_BOOT = 1000
N_PERM = 2000


def wilson_interval(k: int, n: int, level: float = 0.95) -> tuple[float, float]:
    """The Wilson score interval of a proportion k / n; (0, 1) for n = 0."""
    if n <= 0:
        return 0.0, 1.0
    ci = binomtest(int(k), int(n)).proportion_ci(confidence_level=level, method="wilson")
    return max(0.0, float(ci.low)), min(1.0, float(ci.high))


def boot_weights(n: int, seed: int = 0, n_boot: int = N_BOOT) -> np.ndarray:
    """(n_boot, n) float64: how often each of the n clips is drawn in each bootstrap resample (seeded)."""
    idx = np.random.default_rng([int(seed) & 0xFFFFFFFF, 0xB007]).integers(0, n, size=(n_boot, n))
    w = np.zeros((n_boot, n))
    np.add.at(w, (np.repeat(np.arange(n_boot), n), idx.ravel()), 1.0)
    return w


def bootstrap_interval(
    stat: Callable[[np.ndarray], np.ndarray], n: int, seed: int = 0, n_boot: int = N_BOOT, level: float = 0.95
) -> tuple[float, float] | None:
    """Percentile interval of a statistic over n_boot resamples of the n clips (with replacement).

    stat maps clip weights (B, n) (each resample's draw counts, see boot_weights) to the B values of the
    statistic; non-finite values (e.g. no class with a positive) are left out. None when n == 0 or none
    is finite.
    """
    if n <= 0:
        return None
    values = np.asarray(stat(boot_weights(n, seed, n_boot)), np.float64)
    values = values[np.isfinite(values)]
    if not len(values):
        return None
    lo, hi = np.quantile(values, [(1 - level) / 2, (1 + level) / 2])
    return float(lo), float(hi)


def weighted_mean(values: np.ndarray, weights: np.ndarray) -> np.ndarray:
    """(B,) weighted means of per-clip values under each row of weights (B, n)."""
    w = np.atleast_2d(weights)
    return w @ np.asarray(values, np.float64) / np.maximum(w.sum(axis=1), 1e-300)


def mean_interval(values: np.ndarray, seed: int = 0, n_boot: int = N_BOOT) -> tuple[float, float] | None:
    """Bootstrap interval of the mean of per-clip values."""
    v = np.asarray(values, np.float64)
    return bootstrap_interval(lambda w: weighted_mean(v, w), len(v), seed, n_boot)


def weighted_average_precision(scores: np.ndarray, labels: np.ndarray, weights: np.ndarray) -> np.ndarray:
    """Average precision of one class under each row of clip weights (B, n): (B,), nan where no positive has
    weight. Tied scores form one threshold (as sklearn's average_precision_score with sample_weight)."""
    w = np.atleast_2d(np.asarray(weights, np.float64))
    s = np.asarray(scores, np.float64)
    y = np.asarray(labels).astype(bool)
    order = np.argsort(s, kind="mergesort")[::-1]
    s, y, w = s[order], y[order], w[:, order]
    last = np.r_[np.flatnonzero(np.diff(s)), len(s) - 1]  # the last clip of each group of tied scores
    tps = np.cumsum(w * y, axis=1)[:, last]
    fps = np.cumsum(w * ~y, axis=1)[:, last]
    total = tps[:, -1:]
    with np.errstate(invalid="ignore", divide="ignore"):
        precision = np.where(tps + fps > 0, tps / np.where(tps + fps > 0, tps + fps, 1.0), 0.0)
        recall = tps / total
        ap = np.sum(np.diff(recall, axis=1, prepend=0.0) * precision, axis=1)
    return np.where(total[:, 0] > 0, ap, np.nan)


def weighted_map(decision: np.ndarray, labels: np.ndarray, weights: np.ndarray) -> np.ndarray:
    """(B,) mean over classes of weighted_average_precision, over the classes with a weighted positive."""
    aps = np.stack(
        [weighted_average_precision(decision[:, k], labels[:, k], weights) for k in range(labels.shape[1])],
        axis=1,
    )
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # a resample with no positive in any class: nan
        return np.nanmean(aps, axis=1)


def mcnemar_exact(correct_a: np.ndarray, correct_b: np.ndarray) -> float:
    """Two-sided exact McNemar p-value of two classifiers' per-clip correctness (same clips)."""
    a, b = np.asarray(correct_a, bool), np.asarray(correct_b, bool)
    only_a, only_b = int(np.sum(a & ~b)), int(np.sum(~a & b))
    if only_a + only_b == 0:
        return 1.0
    return float(binomtest(only_a, only_a + only_b, 0.5).pvalue)


def paired_permutation(x: np.ndarray, y: np.ndarray, seed: int = 0, n_perm: int = N_PERM) -> float:
    """Two-sided p-value of mean(x - y) = 0 by swapping x and y within random pairs (sign flips of the
    per-clip differences; exact when there are no more than n_perm flips)."""
    x, y = np.asarray(x, np.float64), np.asarray(y, np.float64)
    if len(x) < 2 or np.allclose(x - y, 0.0):  # one pair: both of its sign flips are as extreme
        return 1.0
    result = permutation_test(
        (x, y),
        lambda a, b, axis: np.mean(a - b, axis=axis),
        permutation_type="samples",
        vectorized=True,
        n_resamples=n_perm,
        alternative="two-sided",
        random_state=np.random.default_rng([int(seed) & 0xFFFFFFFF, 0x5161]),
    )
    return float(result.pvalue)


def paired_bootstrap(
    stat_a: Callable[[np.ndarray], np.ndarray],
    stat_b: Callable[[np.ndarray], np.ndarray],
    n: int,
    seed: int = 0,
    n_boot: int = N_BOOT,
) -> float:
    """Two-sided p-value that stat_a - stat_b = 0, from the same bootstrap resamples of the n clips (stats as
    in bootstrap_interval): twice the smaller share of resampled differences on either side of zero."""
    w = boot_weights(n, seed, n_boot)
    diffs = np.asarray(stat_a(w), np.float64) - np.asarray(stat_b(w), np.float64)
    diffs = diffs[np.isfinite(diffs)]
    if not len(diffs) or np.allclose(diffs, 0.0):
        return 1.0
    p = 2 * min(np.mean(diffs <= 0), np.mean(diffs >= 0))
    return float(min(1.0, max(p, 1.0 / (len(diffs) + 1))))


# ---------------------------------------------------------------- per-clip outcomes of a sweep cell


@dataclasses.dataclass
class ClipOutcome:
    """One model's per-clip results on one condition's test clips (the same clips for every model)."""

    metric: str  # "accuracy" | "mAP"
    correct: np.ndarray | None = None  # (n,) bool, accuracy
    decision: np.ndarray | None = None  # (n, K) probe scores, mAP
    labels: np.ndarray | None = None  # (n, K) 0/1, mAP
    loc_err: np.ndarray | None = None  # (n,) angular error in degrees, two-channel models

    @property
    def n(self) -> int:
        return len(self.correct) if self.metric == "accuracy" else len(self.labels)

    def score_under(self, weights: np.ndarray) -> np.ndarray:
        """The score under each row of clip weights (B, n) -> (B,)."""
        if self.metric == "accuracy":
            return weighted_mean(self.correct, weights)
        return weighted_map(self.decision, self.labels, weights)

    @property
    def score(self) -> float:
        return float(self.score_under(np.ones((1, self.n)))[0])

    def score_interval(self, seed: int = 0) -> tuple[float, float] | None:
        """Wilson for accuracy; a seeded bootstrap over clips for mAP."""
        if self.metric == "accuracy":
            return wilson_interval(int(self.correct.sum()), len(self.correct))
        return bootstrap_interval(self.score_under, self.n, seed)


def clip_outcome(probe, x: np.ndarray, y: np.ndarray, metric: str) -> ClipOutcome:
    """A fitted LinearProbe's per-clip results on embeddings x with targets y."""
    if metric == "accuracy":
        return ClipOutcome(metric, correct=np.asarray(probe.predict(x)) == np.asarray(y))
    decision = np.asarray(probe.decision_function(x), np.float64)
    return ClipOutcome(metric, decision=decision, labels=np.asarray(y))


def compare(a: ClipOutcome, b: ClipOutcome, seed: int = 0) -> tuple[str, float, float]:
    """(test name, p, score of a - score of b) for two models' outcomes on the same clips."""
    diff = a.score - b.score
    if a.metric == "accuracy":
        return "McNemar exact", mcnemar_exact(a.correct, b.correct), diff
    return "paired bootstrap", paired_bootstrap(a.score_under, b.score_under, a.n, seed), diff


def paired_tests(outcomes: dict[str, dict[str, ClipOutcome]], task: str = "", seed: int = 0) -> list[dict]:
    """Every pair of models on every condition: the score test, and for two two-channel models the
    localisation error (sign-flip permutation test). `better` names the model with the better estimate."""
    tests = []
    for label, per_model in outcomes.items():
        names = list(per_model)
        for i, a in enumerate(names):
            for b in names[i + 1 :]:
                oa, ob = per_model[a], per_model[b]
                name, p, diff = compare(oa, ob, seed)
                better = a if diff > 0 else b if diff < 0 else None
                tests.append(
                    {
                        "task": task,
                        "condition": label,
                        "measure": oa.metric,
                        "a": a,
                        "b": b,
                        "better": better,
                        "difference": diff,
                        "test": name,
                        "p": p,
                        "significant": bool(p < ALPHA and better is not None),
                    }
                )
                if oa.loc_err is not None and ob.loc_err is not None:
                    d = float(oa.loc_err.mean() - ob.loc_err.mean())
                    p = paired_permutation(oa.loc_err, ob.loc_err, seed)
                    better = a if d < 0 else b if d > 0 else None
                    tests.append(
                        {
                            "task": task,
                            "condition": label,
                            "measure": "lateral error (deg)",
                            "a": a,
                            "b": b,
                            "better": better,
                            "difference": d,
                            "test": "paired permutation",
                            "p": p,
                            "significant": bool(p < ALPHA and better is not None),
                        }
                    )
    return tests
