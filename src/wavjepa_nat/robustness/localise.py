"""The sweep's localisation pass: direction probes (metrics/direction.py) on every two-channel model and
on the GCC-PHAT + ILD baseline, per condition.

Probes are fitted on LOC_TRAIN_RENDERS clean spatial renderings of each training clip through train/val
scenes (probe_train "matched": renderings under the condition itself), and scored on the test clips of each
condition rendered through test scenes (clean and SNR conditions: a random test scene, any RT60, since a
dry clip has no direction; the same scene for a clip in all of them; RT60 conditions: a BRIR of the bin),
the same audio the classification pass uses for reverberant conditions.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np

from wavjepa_nat.progress import progress_bar
from wavjepa_nat.robustness.conditions import CLEAN, Condition
from wavjepa_nat.robustness.degrade import ScenePools, degrade
from wavjepa_nat.robustness.metrics.direction import (
    PROBES,
    DirectionProbe,
    LocalisationConfig,
    score_directions,
    vector_azimuth,
)
from wavjepa_nat.robustness.metrics.probes import ProbeConfig
from wavjepa_nat.robustness.models.gcc_ild import BinauralConfig, GccPhatIldBaseline
from wavjepa_nat.robustness.models.hear_module import HearModuleError
from wavjepa_nat.robustness.report.rows import LocRow
from wavjepa_nat.robustness.tasks.task import Task

LOC_TRAIN_RENDERS = 2  # renderings of each training clip through random train/val scenes (more directions)


def localisation_sweep(
    embedders: Sequence[tuple[str, object, dict]],
    conditions: Sequence[Condition],
    data: Task,
    train_pools: ScenePools,
    test_pools: ScenePools,
    seed: int,
    probe_train: str = "clean",
    probe_cfg: ProbeConfig | None = None,
    loc_cfg: LocalisationConfig | None = None,
    progress: bool = False,
    baselines=None,
    skip=(),
    on_error: Callable[[str, str, Exception], None] | None = None,
) -> tuple[list[LocRow], dict[tuple[str, str], np.ndarray]]:
    """Localisation of every two-channel embedder and the GCC-PHAT + ILD baseline, per condition and probe.

    embedders: the sweep's (name, embedder, description) triples (mono ones, and names in `skip`, are left
    out). Returns the rows and, per (condition label, model), the linear probe's lateral-angle error of each
    scored clip (the sweep's per-model localisation column and its paired tests). A HEAR module that breaks
    (HearModuleError) is passed to on_error(name, stage, err) and left out from there on.
    """
    if baselines is None:
        baselines = [GccPhatIldBaseline(BinauralConfig(sample_rate=int(train_pools.bank.fs)))]
    models = [(name, emb) for name, emb, _ in embedders if emb.channels == 2 and name not in skip]
    models += [(b.name, b) for b in baselines]
    run = LocalisationPass(
        data, train_pools, test_pools, seed, probe_cfg or ProbeConfig(seed=seed), loc_cfg, on_error
    )
    with progress_bar(len(models) * (len(conditions) + 1), "localisation", enabled=progress) as advance:
        clean_probes = run.fit_probes(models, advance)
        for cond in conditions:
            matched = probe_train == "matched" and cond != CLEAN
            run.score_condition(cond, models, None if matched else clean_probes, advance)
    return run.rows, run.lateral_errors


class LocalisationPass:
    """State of one localisation pass: its rows, the per-clip lateral errors, and the models that broke."""

    def __init__(
        self,
        data: Task,
        train_pools: ScenePools,
        test_pools: ScenePools,
        seed: int,
        probe_cfg: ProbeConfig,
        loc_cfg: LocalisationConfig | None,
        on_error: Callable[[str, str, Exception], None] | None,
    ):
        self.data, self.train_pools, self.test_pools, self.seed = data, train_pools, test_pools, seed
        self.probe_cfg, self.loc_cfg = probe_cfg, loc_cfg or LocalisationConfig()
        self.on_error = on_error
        self.broken: set[str] = set()
        self.rows: list[LocRow] = []
        self.lateral_errors: dict[tuple[str, str], np.ndarray] = {}

    def train_set(self, cond: Condition) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(audio, azimuths, elevations) of LOC_TRAIN_RENDERS spatial renderings of the training clips."""
        parts = [
            degrade(
                self.data.clips["train"],
                cond,
                self.train_pools,
                self.seed,
                "loc-train" if k == 0 else f"loc-train-{k}",
                self.data.clip_ids("train"),
                spatial=True,
                elevation=True,
                labels=self.data.labels["train"],
            )
            for k in range(LOC_TRAIN_RENDERS)
        ]
        return tuple(np.concatenate(p) for p in zip(*parts))

    def test_set(self, cond: Condition) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        role = "test" if cond.reverberant or cond.polyphonic else "loc"  # polyphony: the scored scenes
        ids = self.data.clip_ids("test")
        return degrade(
            self.data.clips["test"],
            cond,
            self.test_pools,
            self.seed,
            role,
            ids,
            spatial=True,
            elevation=True,
            labels=self.data.labels["test"],
        )

    def guarded(self, name: str, stage: str, work: Callable, *args):
        """work(*args) for a model, or None when it is a HEAR module that breaks (then left out)."""
        try:
            return work(*args)
        except HearModuleError as err:
            self.broken.add(name)
            if self.on_error is None:
                raise
            self.on_error(name, stage, err)
            return None

    def fit(self, emb, train: tuple) -> dict[str, DirectionProbe]:
        x = emb.scene_embeddings(train[0])
        return {
            kind: DirectionProbe(kind, self.probe_cfg, self.loc_cfg).fit(x, train[1], train[2])
            for kind in PROBES
        }

    def fit_probes(self, models, advance: Callable) -> dict[str, dict | None]:
        """Every model's probes on the clean training renderings."""
        train = self.train_set(CLEAN)
        probes = {}
        for name, emb in models:
            probes[name] = self.guarded(name, "localisation probe training", self.fit, emb, train)
            advance(description=f"localisation probes: {name}")
        return probes

    def score_condition(self, cond: Condition, models, probes: dict | None, advance: Callable) -> None:
        """Score every model's probes on cond's test renderings; probes None: fit matched ones first."""
        audio, az, el = self.test_set(cond)
        train = self.train_set(cond) if probes is None else None
        stage = f"localisation, {cond.label}"
        for name, emb in models:
            advance(description=f"localisation {cond.label}: {name}")
            if name in self.broken:
                continue
            use = self.guarded(name, stage, self.fit, emb, train) if probes is None else probes[name]
            x = None if use is None else self.guarded(name, stage, emb.scene_embeddings, audio)
            if x is not None:
                self.score_model(name, cond, use, x, az, el)

    def score_model(self, name: str, cond: Condition, probes: dict, x: np.ndarray, az, el) -> None:
        for kind, probe in probes.items():
            pred = probe.predict(x)
            scores = score_directions(pred, az, el, self.loc_cfg)
            extra = {}
            if cond == CLEAN:  # the polar plot's points
                keep = np.abs(el) <= self.loc_cfg.max_elevation_deg
                extra = {
                    "true_az": [round(float(v), 2) for v in az[keep]],
                    "pred_az": [round(float(v), 2) for v in vector_azimuth(pred[keep])],
                }
            if kind == "linear":
                self.lateral_errors[(cond.label, name)] = scores.lateral_errors
            self.rows.append(LocRow.from_scores(name, cond, kind, scores, task=self.data.name, **extra))
