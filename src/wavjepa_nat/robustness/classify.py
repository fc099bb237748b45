"""The sweep's classification pass: per model and condition, a linear probe's score on the condition's test
clips, its drop against clean, and the embedding drift.

Probes are trained on clean training clips (probe_train "clean"), or on training clips rendered under the
same condition through train/val-split scenes ("matched"). Drift is measured in the coordinates the clean
probe sees (standardised with the clean training embeddings' statistics).
"""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Callable

import numpy as np

from wavjepa_nat.errors import InputError
from wavjepa_nat.progress import progress_bar
from wavjepa_nat.robustness.conditions import CLEAN, Condition, stream_id
from wavjepa_nat.robustness.degrade import degrade, degrade_polyphonic
from wavjepa_nat.robustness.export_embeddings import EmbeddingExport
from wavjepa_nat.robustness.failures import ModelFailures
from wavjepa_nat.robustness.metrics.drift import row_cosines
from wavjepa_nat.robustness.metrics.hear_mlp import HearMLPConfig, HearMLPProbe
from wavjepa_nat.robustness.metrics.probes import LinearProbe, ProbeConfig
from wavjepa_nat.robustness.metrics.stats import ClipOutcome, clip_outcome, mean_interval
from wavjepa_nat.robustness.models.hear_module import HearModuleError
from wavjepa_nat.robustness.models.interface import recognition_embeddings
from wavjepa_nat.robustness.prepare import SweepInputs
from wavjepa_nat.robustness.report.rows import ResultRow


@dataclasses.dataclass
class Classification:
    rows: list[ResultRow]
    outcomes: dict[str, dict[str, ClipOutcome]]  # condition label -> model -> per-clip results (paired tests)
    probe_seconds: dict[str, float]  # model -> seconds to embed the training clips and fit its clean probe
    notes: list[str]  # probes that stopped before converging


def condition_seed(seed: int, cond: Condition) -> int:
    """The bootstrap seed of a condition: the same clip resamples for every model and measure of it."""
    return seed ^ stream_id(cond.key)


class ClassificationPass:
    """One sweep's classification pass; run() returns its Classification."""

    def __init__(self, inputs: SweepInputs, failures: ModelFailures):
        self.inputs, self.failures = inputs, failures
        self.seed = inputs.cfg.seed
        self.probe_cfg = ProbeConfig(seed=self.seed)
        self.kind = "multilabel" if inputs.task.multilabel else "multiclass"
        self.clean_probe: dict[str, LinearProbe] = {}
        self.clean_emb: dict[str, np.ndarray] = {}  # standardised clean test embeddings, for the drift
        self.clean_score: dict[str, float] = {}
        self.result = Classification([], {}, {}, [])
        export = inputs.cfg.export_embeddings
        self.export = EmbeddingExport(export, inputs.task) if export else None
        self.val_audio: np.ndarray | None = None
        self.split_embeddings: dict[str, dict] = {}  # model -> its probe's train / val embeddings
        if inputs.cfg.probe == "hear-mlp" and len(inputs.task.keys["val"]) == 0:
            raise InputError(
                f"--probe hear-mlp needs validation clips (early stopping, model selection); task "
                f"{inputs.task.name} has none"
            )
        self.partners: dict[Condition, list[list[int]]] = {}  # polyphony: each test clip's interferers

    def run(self, progress: bool) -> Classification:
        steps = (len(self.inputs.conditions) + 1) * len(self.inputs.embedders)
        with progress_bar(steps, "robustness sweep", enabled=progress) as advance:
            self.fit_clean_probes(advance)
            for cond in self.inputs.conditions:
                self.score_condition(cond, advance)
        return self.result

    def render(self, split: str, cond: Condition) -> np.ndarray:
        """The task's dry clips of a split rendered under cond (test clips through test scenes)."""
        task = self.inputs.task
        pools = self.inputs.test_pools if split == "test" else self.inputs.train_pools
        if cond.polyphonic:
            audio, _, _, partners = degrade_polyphonic(
                task.clips[split], task.labels[split], cond, pools, self.seed, split, task.clip_ids(split)
            )
            if split == "test":
                self.partners[cond] = partners
            return audio
        audio, _ = degrade(task.clips[split], cond, pools, self.seed, split, task.clip_ids(split))
        return audio

    def fit_probe(self, name: str, emb, audio: np.ndarray, where: str) -> LinearProbe | HearMLPProbe:
        cfg, task = self.inputs.cfg, self.inputs.task
        x = recognition_embeddings(emb, audio)
        x_val = None
        has_val = len(task.keys["val"]) > 0
        if has_val and (cfg.probe == "hear-mlp" or self.export is not None):  # the validation clips, clean
            if self.val_audio is None:
                self.val_audio = self.render("val", CLEAN)
            x_val = recognition_embeddings(emb, self.val_audio)
        self.split_embeddings[name] = {"train": x, "val": x_val}
        if cfg.probe == "hear-mlp":  # early-stopped and model-selected on the task's validation clips
            mlp = HearMLPConfig(grid_points=cfg.hear_grid_points, seed=self.seed)
            return HearMLPProbe(self.kind, mlp).fit(x, task.targets("train"), x_val, task.targets("val"))
        probe = LinearProbe(self.kind, self.probe_cfg).fit(x, task.targets("train"))
        if not probe.converged:
            self.result.notes.append(
                f"{name}: the {where} logistic probe (C = {probe.c:g}) stopped at its "
                f"{self.probe_cfg.max_iter} iterations before converging"
            )
        return probe

    def fit_clean_probes(self, advance: Callable) -> None:
        """Probes on clean training data (also the clean reference in matched mode)."""
        audio = self.render("train", CLEAN)
        for name, emb, _ in self.inputs.embedders:
            start = time.perf_counter()
            try:
                self.clean_probe[name] = self.fit_probe(name, emb, audio, "clean")
            except HearModuleError as err:
                self.failures.record(name, "probe training", err)
            self.result.probe_seconds[name] = time.perf_counter() - start
            advance(description=f"probes: {name}")

    def score_condition(self, cond: Condition, advance: Callable) -> None:
        audio = self.render("test", cond)
        matched = self.inputs.cfg.probe_train == "matched" and cond != CLEAN
        train_audio = self.render("train", cond) if matched else None
        for name, emb, _ in self.inputs.embedders:
            advance(description=f"{cond.label}: {name}")
            if name in self.failures.broken:
                continue
            start = time.perf_counter()
            try:
                probe = (
                    self.fit_probe(name, emb, train_audio, cond.label) if matched else self.clean_probe[name]
                )
                row, outcome = self.score_model(name, emb, probe, cond, audio)
            except HearModuleError as err:
                self.failures.record(name, cond.label, err)
                continue
            self.result.outcomes.setdefault(cond.label, {})[name] = outcome
            self.result.rows.append(dataclasses.replace(row, seconds=round(time.perf_counter() - start, 3)))

    def score_model(
        self, name: str, emb, probe: LinearProbe, cond: Condition, audio: np.ndarray
    ) -> tuple[ResultRow, ClipOutcome]:
        """One model's row and per-clip outcome on one condition's rendered test clips."""
        y_test = self.inputs.task.targets("test")
        x = recognition_embeddings(emb, audio)
        if self.export is not None:
            self.export.write(name, cond, {**self.split_embeddings[name], "test": x})
        result = probe.evaluate(x, y_test)
        outcome = clip_outcome(probe, x, y_test, result.metric)
        z = self.clean_probe[name].scaler.transform(x)  # drift in the clean probe's standardised space
        if cond == CLEAN:
            self.clean_emb[name], self.clean_score[name] = z, result.score
        cos = row_cosines(self.clean_emb[name], z)
        boot_seed = condition_seed(self.seed, cond)
        row = ResultRow(
            model=name,
            model_channels=emb.channels,
            condition=cond.kind,
            snr_db=cond.snr_db,
            rt60_bin=cond.rt60_bin,
            metric=result.metric,
            score=result.score,
            drop_vs_clean=result.score - self.clean_score[name],
            clean_cosine=float(np.mean(cos)),
            loc_error_deg=None,
            n_clips=len(audio),
            task=self.inputs.task.name,
            score_ci=outcome.score_interval(boot_seed),
            drift_ci=mean_interval(cos, boot_seed),
        )
        if cond.polyphonic:
            every = self.all_classes_outcome(probe, x, cond)
            self.result.outcomes.setdefault(f"{cond.label}, all classes", {})[name] = every
            row = dataclasses.replace(
                row,
                sources=cond.sources,
                tir_db=cond.tir_db,
                all_class_map=every.score,
                all_class_map_ci=every.score_interval(boot_seed),
            )
        return row, outcome

    def all_classes_outcome(self, probe: LinearProbe, x: np.ndarray, cond: Condition) -> ClipOutcome:
        """The single-clip probe's scores against every class present in each polyphonic test clip (its
        own and its interferers'): per-clip results for the mAP, its interval and the paired tests."""
        labels = self.inputs.task.labels["test"]
        decision = np.asarray(probe.decision_function(x), np.float64)
        final = probe.pipeline.named_steps["model"]
        classes = list(getattr(final, "classes_", self.inputs.task.classes))
        if self.kind == "multilabel":
            classes = list(self.inputs.task.classes)
        if decision.ndim == 1:  # two classes: sklearn scores the second
            decision = np.stack([-decision, decision], axis=1)
        column = {c: k for k, c in enumerate(classes)}
        present = np.zeros(decision.shape, np.int64)
        for i, others in enumerate(self.partners[cond]):
            for j in [i, *others]:
                for c in labels[j]:
                    if c in column:
                        present[i, column[c]] = 1
        return ClipOutcome("mAP", decision=decision, labels=present)


def add_lateral_errors(result: Classification, lateral: dict, seed: int) -> None:
    """Each row gets its model's localisation: the linear direction probe's lateral-angle error (mean and
    bootstrap interval over the condition's clips; localise.py), kept per clip for the paired tests."""
    for i, row in enumerate(result.rows):
        cond = row.cond
        errors = lateral.get((cond.label, row.model))
        if errors is None:
            continue
        result.outcomes[cond.label][row.model].loc_err = errors
        ci = mean_interval(errors, condition_seed(seed, cond))
        result.rows[i] = dataclasses.replace(row, loc_error_deg=float(np.mean(errors)), loc_ci=ci)
