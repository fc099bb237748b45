"""metrics/stats.py: intervals and paired tests against independent computations (the Wilson formula,
scipy's binomial test, sklearn's weighted average precision, the exact sign-flip distribution)."""

import itertools
import math

import numpy as np
import pytest
from scipy.stats import binomtest, norm
from sklearn.metrics import average_precision_score

from wavjepa_nat.robustness.metrics.stats import (
    ClipOutcome,
    boot_weights,
    mcnemar_exact,
    mean_interval,
    paired_permutation,
    paired_tests,
    weighted_map,
    wilson_interval,
)


def test_intervals_and_paired_tests_match_independent_computations():
    for k, n in [(0, 10), (7, 10), (96, 96), (50, 96)]:
        ci = binomtest(k, n).proportion_ci(0.95, method="wilson")
        assert wilson_interval(k, n) == pytest.approx((ci.low, ci.high), abs=1e-12)
    rng = np.random.default_rng(0)
    a, b = rng.random(96) < 0.8, rng.random(96) < 0.6
    only_a, only_b = int(np.sum(a & ~b)), int(np.sum(~a & b))
    assert mcnemar_exact(a, b) == pytest.approx(binomtest(only_a, only_a + only_b, 0.5).pvalue)
    assert mcnemar_exact(a, a) == 1.0
    # the bootstrap's mAP of each resample is sklearn's AP with the resample's counts as sample weights
    dec, lab = np.round(rng.standard_normal((40, 3)), 1), (rng.random((40, 3)) < 0.4).astype(int)
    w = boot_weights(40, seed=1, n_boot=4)
    want = [
        np.mean([average_precision_score(lab[:, k], dec[:, k], sample_weight=w[i]) for k in range(3)])
        for i in range(4)
    ]
    assert weighted_map(dec, lab, w) == pytest.approx(want, abs=1e-12)
    outcome = ClipOutcome("mAP", decision=dec, labels=lab)
    lo, hi = outcome.score_interval(seed=0)
    assert lo < outcome.score < hi and outcome.score_interval(seed=0) == (lo, hi)  # seeded


def test_wilson_interval_is_the_textbook_formula():
    z = norm.ppf(0.975)
    for k, n in [(0, 10), (3, 10), (10, 10), (41, 57)]:
        p = k / n
        centre = (p + z * z / (2 * n)) / (1 + z * z / n)
        half = z / (1 + z * z / n) * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n))
        assert wilson_interval(k, n) == pytest.approx((max(0.0, centre - half), min(1.0, centre + half)))
    assert wilson_interval(0, 0) == (0.0, 1.0)


def test_sign_flip_test_is_exact_for_few_clips():
    """With 2^n <= the number of resamples, the p-value is the exact share of sign flips whose mean
    difference is at least as far from zero as the observed one."""
    rng = np.random.default_rng(7)
    x = rng.normal(0.0, 1.0, 9)
    y = x + rng.normal(0.4, 1.0, 9)
    d = x - y
    flips = np.array(list(itertools.product([-1.0, 1.0], repeat=len(d))))
    exact = np.mean(np.abs((flips * d).mean(axis=1)) >= abs(d.mean()) - 1e-12)
    assert paired_permutation(x, y, seed=0) == pytest.approx(exact, rel=1e-9)
    assert paired_permutation(x, x, seed=0) == 1.0
    assert paired_permutation(x[:1], y[:1], seed=0) == 1.0  # one clip: +d and -d are equally extreme


def test_sign_flip_test_finds_a_shift_and_is_seeded():
    rng = np.random.default_rng(8)
    x = rng.normal(0.0, 1.0, 200)
    assert paired_permutation(x, x + 0.5, seed=1) < 0.001
    same = rng.normal(0.0, 1.0, 200)  # no shift
    assert paired_permutation(x, same, seed=3) == paired_permutation(x, same, seed=3)  # seeded
    assert paired_permutation(x, same, seed=3) > 0.01


def test_paired_tests_name_the_better_model():
    rng = np.random.default_rng(9)
    good = ClipOutcome("accuracy", correct=rng.random(300) < 0.9)
    bad = ClipOutcome("accuracy", correct=rng.random(300) < 0.5)
    good.loc_err, bad.loc_err = rng.normal(10.0, 2.0, 300), rng.normal(20.0, 2.0, 300)
    tests = paired_tests({"clean": {"good": good, "bad": bad}}, task="t", seed=0)
    assert [t["measure"] for t in tests] == ["accuracy", "lateral error (deg)"]
    assert all(t["better"] == "good" and t["significant"] for t in tests)
    assert tests[0]["difference"] == pytest.approx(good.correct.mean() - bad.correct.mean())


def test_mean_interval_covers_the_mean():
    v = np.random.default_rng(10).normal(3.0, 1.0, 400)
    lo, hi = mean_interval(v, seed=0)
    assert lo < v.mean() < hi and hi - lo == pytest.approx(2 * 1.96 / 20, rel=0.25)
    assert mean_interval(np.array([]), seed=0) is None
