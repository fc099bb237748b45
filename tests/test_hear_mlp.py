"""robustness/metrics/hear_mlp.py: HEAR's downstream MLP predictor, checked against the hear-eval-kit's
settings (heareval/predictions/task_predictions.py, PARAM_GRID and FullyConnectedPrediction) and on data
whose answer is known."""

from __future__ import annotations

import numpy as np
import torch

from wavjepa_nat.robustness.metrics.hear_mlp import HearMLPConfig, HearMLPProbe, build_network


def test_hear_mlp_grid_is_the_kits():
    cfg = HearMLPConfig()
    grid = cfg.grid()
    assert len(grid) == 16  # hidden_layers {1,2} x lr {3.2e-3,1e-3,3.2e-4,1e-4} x 2 initialisations
    assert {p["hidden_layers"] for p in grid} == {1, 2}
    assert {p["lr"] for p in grid} == {3.2e-3, 1e-3, 3.2e-4, 1e-4}
    assert {p["initialization"] for p in grid} == {"xavier_uniform", "xavier_normal"}
    assert (cfg.hidden_dim, cfg.dropout, cfg.batch_size) == (1024, 0.1, 1024)
    assert (cfg.max_epochs, cfg.check_every, cfg.patience) == (500, 3, 20)
    assert len(HearMLPConfig(grid_points=3).grid()) == 3


def test_hear_mlp_network_layout():
    net = build_network(10, 3, 2, HearMLPConfig(), "xavier_uniform")
    kinds = [type(m).__name__ for m in net]
    assert kinds == ["Linear", "BatchNorm1d", "Dropout", "ReLU"] * 2 + ["Linear"]
    assert (net[0].in_features, net[0].out_features, net[4].out_features) == (10, 1024, 1024)
    assert net[2].p == 0.1 and (net[8].in_features, net[8].out_features) == (1024, 3)
    # xavier uniform at the gain of the preceding activation: bound = gain * sqrt(6 / (fan_in + fan_out))
    assert float(net[0].weight.detach().abs().max()) <= np.sqrt(6 / (10 + 1024)) + 1e-6
    relu_bound = np.sqrt(2) * np.sqrt(6 / (1024 + 3))
    assert float(net[8].weight.detach().abs().max()) <= relu_bound + 1e-6
    assert float(net[8].weight.detach().abs().max()) > np.sqrt(6 / (1024 + 3))  # the relu gain, not 1


def blobs(n, k=3, d=6, seed=0):
    rng = np.random.default_rng(seed)
    centres = 4 * np.eye(k, d)
    y = rng.integers(0, k, n)
    return (centres[y] + rng.standard_normal((n, d))).astype(np.float32), np.array(["a", "b", "c"])[y]


SMALL = dict(hidden_dim=32, max_epochs=60, batch_size=32, grid_points=2)


def test_hear_mlp_learns_and_keeps_its_best_validation_epoch():
    x, y = blobs(150)
    xv, yv = blobs(60, seed=1)
    xt, yt = blobs(200, seed=2)
    probe = HearMLPProbe("multiclass", HearMLPConfig(**SMALL)).fit(x, y, xv, yv)
    result = probe.evaluate(xt, yt)
    assert result.metric == "accuracy" and result.score > 0.9
    assert probe.val_score == probe._score(probe.network, torch.from_numpy(xv), yv)  # best epoch restored
    assert probe.point in HearMLPConfig(**SMALL).grid()


def test_hear_mlp_multilabel_scores_map():
    rng = np.random.default_rng(0)
    x = rng.standard_normal((200, 5)).astype(np.float32)
    y = np.stack([x[:, 0] > 0, x[:, 1] > 0.5], 1).astype(np.int64)
    probe = HearMLPProbe("multilabel", HearMLPConfig(**SMALL)).fit(x[:120], y[:120], x[120:160], y[120:160])
    result = probe.evaluate(x[160:], y[160:])
    assert result.metric == "mAP" and result.score > 0.85


def test_hear_mlp_early_stopping_counts_validation_checks(monkeypatch):
    x, y = blobs(60)
    checks = []

    def flat(self, net, xv, yv):
        checks.append(1)
        return 0.5  # never improves after the first check

    monkeypatch.setattr(HearMLPProbe, "_score", flat)
    cfg = HearMLPConfig(hidden_dim=8, max_epochs=500, check_every=3, patience=4, grid_points=1)
    HearMLPProbe("multiclass", cfg).fit(x, y, x, y)
    assert len(checks) == 1 + 4  # the first check, then `patience` checks without improvement
