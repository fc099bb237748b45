"""HEAR's downstream predictor (`--probe hear-mlp`), written here with torch: the hear-eval-kit's
heareval/predictions/task_predictions.py (commit da4f19f), scene tasks.

- Network (FullyConnectedPrediction): hidden_layers x [Linear(hidden_dim), hidden_norm, Dropout, ReLU]
  (norm before the activation: norm_after_activation False), then Linear to the labels; weights initialised
  with the grid's initialization (xavier uniform / normal) at the gain of the preceding activation (linear,
  then relu); the embedding is used as it is (embedding_norm Identity; the kit does not apply it).
- Loss: cross-entropy (multiclass), BCE with logits (multilabel); Adam at the grid's lr.
- Grid (PARAM_GRID): hidden_layers {1, 2} x hidden_dim {1024} x dropout {0.1} x lr {3.2e-3, 1e-3, 3.2e-4,
  1e-4} x initialization {xavier_uniform_, xavier_normal_}, batch_size 1024, max_epochs 500, the validation
  score checked every 3 epochs, early stopping after 20 checks without improvement (patience 20, Lightning's
  EarlyStopping counts checks); the best epoch's weights are kept (ModelCheckpoint on the validation score).
- Model selection: the grid point with the best validation score; scoring per task type: top-1 accuracy
  (multiclass), mAP (multilabel).
HearMLPConfig.grid_points caps how many grid points are tried (seeded shuffle, as the kit does), so tests
run fast.
"""

from __future__ import annotations

import copy
import dataclasses
import itertools

import numpy as np
import torch
from sklearn.preprocessing import StandardScaler

from wavjepa_nat.robustness.metrics.probes import ProbeResult, accuracy, mean_average_precision

INITIALIZATIONS = {
    "xavier_uniform": torch.nn.init.xavier_uniform_,
    "xavier_normal": torch.nn.init.xavier_normal_,
}


@dataclasses.dataclass
class HearMLPConfig:
    hidden_layers: tuple[int, ...] = (1, 2)
    hidden_dim: int = 1024
    dropout: float = 0.1
    lrs: tuple[float, ...] = (3.2e-3, 1e-3, 3.2e-4, 1e-4)
    initializations: tuple[str, ...] = ("xavier_uniform", "xavier_normal")
    batch_size: int = 1024
    max_epochs: int = 500
    check_every: int = 3  # epochs between validation checks
    patience: int = 20  # validation checks without improvement before stopping
    grid_points: int | None = None  # None: the whole grid (16 points)
    seed: int = 0

    def grid(self) -> list[dict]:
        points = [
            {"hidden_layers": h, "lr": lr, "initialization": init}
            for h, lr, init in itertools.product(self.hidden_layers, self.lrs, self.initializations)
        ]
        np.random.default_rng(self.seed).shuffle(points)
        return points[: self.grid_points] if self.grid_points else points


def build_network(n_in: int, n_out: int, hidden_layers: int, cfg: HearMLPConfig, initialization: str):
    init = INITIALIZATIONS[initialization]
    layers: list[torch.nn.Module] = []
    width, activation = n_in, "linear"
    for _ in range(hidden_layers):
        linear = torch.nn.Linear(width, cfg.hidden_dim)
        init(linear.weight, gain=torch.nn.init.calculate_gain(activation))
        layers += [
            linear,
            torch.nn.BatchNorm1d(cfg.hidden_dim),
            torch.nn.Dropout(cfg.dropout),
            torch.nn.ReLU(),
        ]
        width, activation = cfg.hidden_dim, "relu"
    projection = torch.nn.Linear(width, n_out)
    init(projection.weight, gain=torch.nn.init.calculate_gain(activation))
    return torch.nn.Sequential(*layers, projection)


class HearMLPProbe:
    """fit(x, y, x_val, y_val) -> the best grid point's network; predict / decision_function / evaluate."""

    def __init__(self, kind: str = "multiclass", config: HearMLPConfig | None = None):
        if kind not in ("multiclass", "multilabel"):
            raise ValueError(f"unknown probe kind {kind!r}")
        self.kind = kind
        self.cfg = config or HearMLPConfig()
        self.converged = True  # early stopping, not a solver: nothing to report
        self.c = float("nan")  # the chosen lr once fitted (the linear probe's regularisation slot)

    def _targets(self, y) -> torch.Tensor:
        y = np.asarray(y)
        if self.kind == "multiclass":
            return torch.from_numpy(np.searchsorted(self.classes_, y)).long()
        return torch.from_numpy(y.astype(np.float32))

    def _score(self, net, x: torch.Tensor, y) -> float:
        net.eval()
        with torch.no_grad():
            logits = net(x).numpy()
        if self.kind == "multiclass":
            return accuracy(self.classes_[logits.argmax(axis=1)], np.asarray(y))
        return mean_average_precision(logits, np.asarray(y))

    def _train(self, point: dict, x, y, x_val, y_val) -> tuple[float, torch.nn.Module]:
        cfg = self.cfg
        torch.manual_seed(cfg.seed)
        n_out = len(self.classes_) if self.kind == "multiclass" else y.shape[1]
        net = build_network(x.shape[1], n_out, point["hidden_layers"], cfg, point["initialization"])
        loss_fn = torch.nn.CrossEntropyLoss() if self.kind == "multiclass" else torch.nn.BCEWithLogitsLoss()
        optim = torch.optim.Adam(net.parameters(), lr=point["lr"])
        gen = torch.Generator().manual_seed(cfg.seed)
        best, best_state, stale = -np.inf, copy.deepcopy(net.state_dict()), 0
        for epoch in range(1, cfg.max_epochs + 1):
            net.train()
            for idx in torch.randperm(len(x), generator=gen).split(cfg.batch_size):
                if len(idx) < 2 and point["hidden_layers"]:
                    continue  # BatchNorm needs two rows
                optim.zero_grad()
                loss_fn(net(x[idx]), y[idx]).backward()
                optim.step()
            if epoch % cfg.check_every:
                continue
            score = self._score(net, x_val, y_val)
            if score > best:
                best, best_state, stale = score, copy.deepcopy(net.state_dict()), 0
            else:
                stale += 1
                if stale >= cfg.patience:
                    break
        net.load_state_dict(best_state)
        return best, net.eval()

    def fit(self, x, y, x_val, y_val) -> HearMLPProbe:
        y, y_val = np.asarray(y), np.asarray(y_val)
        self.classes_ = np.unique(y) if self.kind == "multiclass" else None
        # For the sweep's drift measure only (the classify pass reads probe.scaler); the network sees x raw.
        self.scaler = StandardScaler().fit(x)
        xt, yt = torch.as_tensor(np.asarray(x, np.float32)), self._targets(y)
        xv = torch.as_tensor(np.asarray(x_val, np.float32))
        results = [(self._train(p, xt, yt, xv, y_val), p) for p in self.cfg.grid()]
        (self.val_score, self.network), self.point = max(results, key=lambda r: r[0][0])
        self.c = float(self.point["lr"])
        return self

    def decision_function(self, x) -> np.ndarray:
        with torch.no_grad():
            return self.network(torch.as_tensor(np.asarray(x, np.float32))).numpy()

    def predict(self, x) -> np.ndarray:
        scores = self.decision_function(x)
        if self.kind == "multiclass":
            return self.classes_[scores.argmax(axis=1)]
        return (scores > 0).astype(np.int64)

    def evaluate(self, x, y) -> ProbeResult:
        y = np.asarray(y)
        if self.kind == "multiclass":
            return ProbeResult("accuracy", accuracy(self.predict(x), y), self.c)
        return ProbeResult("mAP", mean_average_precision(self.decision_function(x), y), self.c)
