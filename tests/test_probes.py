"""metrics/probes.py: linear probes learn what is linearly there and nothing else, choose their
regularisation by the data, and score by hand-worked accuracy and average precision."""

import numpy as np
import pytest
from scipy.stats import binom

from wavjepa_nat.robustness.metrics.probes import (
    LinearProbe,
    ProbeConfig,
    average_precision,
    mean_average_precision,
    probe_score,
)

FAST = ProbeConfig(logistic_cs=(1.0, 100.0), max_iter=200)


def blobs(rng, n_per_class, n_classes, dim, spread):
    centres = rng.standard_normal((n_classes, dim)) * spread
    y = np.repeat(np.arange(n_classes), n_per_class)
    x = centres[y] + rng.standard_normal((len(y), dim))
    return x.astype(np.float32), y


def test_probe_standardises_with_training_statistics():
    rng = np.random.default_rng(0)
    x = rng.normal(5.0, 3.0, (500, 4))
    s = LinearProbe("multiclass", FAST).fit(x, rng.integers(0, 2, 500)).scaler
    z = s.transform(x)
    np.testing.assert_allclose(z.mean(0), 0, atol=1e-5)
    np.testing.assert_allclose(z.std(0), 1, atol=1e-5)
    np.testing.assert_allclose(s.transform(np.full((1, 4), 8.0))[0], (8.0 - x.mean(0)) / x.std(0), rtol=1e-5)


def test_separable_blobs_are_learned():
    rng = np.random.default_rng(1)
    x, y = blobs(rng, 60, 4, 16, spread=6.0)
    perm = rng.permutation(len(y))
    tr, te = perm[:160], perm[160:]
    labels = np.array(["dog", "cat", "car", "rain"])[y]  # any label type
    res = probe_score(x[tr], labels[tr], x[te], labels[te], "multiclass", FAST)
    assert res.metric == "accuracy" and res.score > 0.95
    assert res.regularisation in FAST.logistic_cs


def test_random_labels_stay_near_chance():
    rng = np.random.default_rng(2)
    x = rng.standard_normal((400, 32)).astype(np.float32)
    y = rng.integers(0, 4, 400)
    res = probe_score(x[:200], y[:200], x[200:], y[200:], "multiclass", FAST)
    lo, hi = binom.ppf([0.0005, 0.9995], 200, 0.25) / 200  # 99.9 % binomial interval around chance
    assert lo <= res.score <= hi


def test_multilabel_probe_learns_one_vs_rest():
    rng = np.random.default_rng(3)
    x = rng.standard_normal((300, 8)).astype(np.float32)
    y = np.stack([x[:, 0] > 0, x[:, 1] + x[:, 2] > 0.5, x[:, 3] < -0.3], axis=1).astype(np.int64)
    probe = LinearProbe("multilabel", FAST).fit(x[:200], y[:200])
    res = probe.evaluate(x[200:], y[200:])
    assert res.metric == "mAP" and res.score > 0.95
    assert probe.predict(x[200:]).shape == (100, 3)


def test_average_precision_by_hand():
    # ranking: +, -, +, -, +  -> precisions at the positives 1/1, 2/3, 3/5
    scores = np.array([0.9, 0.8, 0.7, 0.6, 0.5])
    labels = np.array([1, 0, 1, 0, 1])
    assert average_precision(scores, labels) == pytest.approx((1 + 2 / 3 + 3 / 5) / 3)
    # a perfect ranking
    assert average_precision(np.array([3.0, 2.0, 1.0, 0.0]), np.array([1, 1, 0, 0])) == 1.0
    # no positive -> undefined
    assert np.isnan(average_precision(np.array([1.0, 2.0]), np.array([0, 0])))


def test_tied_scores_form_one_threshold():
    # scores 0.9 (+), 0.5 (+), 0.5 (-), 0.1 (-): at 0.9 precision 1, recall 1/2; at 0.5 (both tied clips at
    # once) precision 2/3, recall 1. AP = 1/2 * 1 + 1/2 * 2/3, not the 1/2 * 1 + 1/2 * 1 of breaking the tie
    # in the positive's favour.
    scores = np.array([0.9, 0.5, 0.5, 0.1])
    assert average_precision(scores, np.array([1, 1, 0, 0])) == pytest.approx(0.5 + 0.5 * 2 / 3)
    assert average_precision(scores, np.array([1, 0, 1, 0])) == pytest.approx(0.5 + 0.5 * 2 / 3)


def test_regularisation_search_picks_stronger_regularisation_on_noisier_data():
    """Two nearly collinear features with a boundary that only a weakly regularised fit finds: a large C.
    One noisy informative feature among 500 useless ones: a small C (a strong L2 penalty) generalises."""
    cfg = ProbeConfig(logistic_cs=(0.001, 0.01, 0.1, 1.0, 10.0, 100.0), max_iter=500)
    clean_cs, noisy_cs = [], []
    for seed in range(7):
        rng = np.random.default_rng(seed)
        s, e = rng.standard_normal(600), rng.standard_normal((600, 2))
        x = np.column_stack([s + 0.2 * e[:, 0], s + 0.2 * e[:, 1]])
        clean_cs.append(LinearProbe("multiclass", cfg).fit(x, x[:, 0] - 0.6 * x[:, 1] > 0).c)
        noisy = rng.standard_normal((1000, 501))
        y = noisy[:, 0] + rng.standard_normal(1000) > 0
        noisy_cs.append(LinearProbe("multiclass", cfg).fit(noisy, y).c)
    # each choice rests on one held-out split, so compare the typical choice
    assert np.median(clean_cs) >= 10.0 and np.median(noisy_cs) <= 0.1


def test_too_few_clips_use_the_middle_value():
    rng = np.random.default_rng(6)
    x = rng.standard_normal((20, 3))
    probe = LinearProbe("multiclass", ProbeConfig(logistic_cs=(0.01, 1.0, 100.0))).fit(x, x[:, 0] > 0)
    assert probe.c == 1.0  # 4 validation clips < min_val: no search


def test_map_of_perfect_ranking_is_one_and_skips_empty_classes():
    labels = np.array([[1, 0, 0], [0, 1, 0], [1, 1, 0], [0, 0, 0]])
    assert mean_average_precision(labels * 2.0 - 1.0, labels) == 1.0
