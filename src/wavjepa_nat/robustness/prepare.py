"""A sweep's set-up: everything it reads, checked and loaded before the first clip is rendered."""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from wavjepa_nat.checks import check_output_dir, check_torch_device
from wavjepa_nat.data.render import SceneNoise
from wavjepa_nat.data.render.scenes import in_rt60_bin
from wavjepa_nat.errors import InputError
from wavjepa_nat.rir_bank import RIRBank
from wavjepa_nat.robustness.conditions import Condition, auto_rt60_bins, build_conditions
from wavjepa_nat.robustness.config import SweepConfig
from wavjepa_nat.robustness.degrade import ScenePools, polyphony_pool
from wavjepa_nat.robustness.models.interface import SceneEmbedder
from wavjepa_nat.robustness.models.load import check_models, load_embedder, logmel_baselines, model_names
from wavjepa_nat.robustness.report.model_info import describe_model
from wavjepa_nat.robustness.tasks.task import Task, load_task


@dataclasses.dataclass
class SweepInputs:
    cfg: SweepConfig  # with the RT60 bins resolved
    bank: RIRBank
    train_pools: ScenePools  # train/val scenes: the probes' training renderings
    test_pools: ScenePools  # test scenes: the scored renderings
    embedders: list[tuple[str, SceneEmbedder, dict]]  # (name, embedder, report description), baselines last
    task: Task
    conditions: list[Condition]
    notes: list[str]  # for the report

    @property
    def binaural(self) -> bool:
        """Whether any model hears both ears (then the sweep also measures localisation)."""
        return any(e.channels == 2 for _, e, _ in self.embedders)


def prepare_sweep(
    models: Sequence,
    task: str | Path,
    bank: str | Path | RIRBank,
    cfg: SweepConfig,
    out_dir: str | Path | None,
) -> SweepInputs:
    """Check the models, the device and --out, open the bank, resolve the RT60 bins, load the embedders
    (HEAR modules are checked here) and the task; InputError on anything a user can fix."""
    notes: list[str] = []
    check_models(models, cfg.trust_remote_code)
    check_torch_device(cfg.device, "--device")
    if out_dir is not None:  # before the sweep, not when its report is written
        check_output_dir(out_dir, "--out")
    rir = bank if isinstance(bank, RIRBank) else RIRBank(bank)
    test_measured = rir.rt60()[rir.select(split="test")]
    if len(test_measured) == 0:
        raise InputError(f"the RIR bank {rir.path} has no test-split scenes")
    cfg = dataclasses.replace(cfg, rt60_bins=resolve_bins(cfg.rt60_bins, test_measured, notes))
    if cfg.snr_db and not cfg.noise and not rir.has_beds:
        raise InputError(
            f"the RIR bank {rir.path} has no noise beds (made with --beds none): give the SNR conditions "
            f"a noise corpus (--noise DIR) or use --snr none"
        )
    noise = {s: SceneNoise.from_corpus(rir, cfg.noise, s) if cfg.noise else None for s in ("test", "train")}
    test_pools = ScenePools(rir, cfg.rt60_bins, ("test",), strict=True, scene_noise=noise["test"])
    train_pools = ScenePools(rir, cfg.rt60_bins, ("train", "val"), strict=False, scene_noise=noise["train"])
    if cfg.noise:
        notes.append(f"noise: {test_pools.noise_text()}, not the noise beds (probes: the train split)")
    if cfg.polyphony:  # room for the largest K (probes trained on polyphony too: in training scenes)
        for pools in (test_pools, train_pools) if cfg.probe_train == "matched" else (test_pools,):
            polyphony_pool(pools, max(cfg.polyphony))
    return SweepInputs(
        cfg=cfg,
        bank=rir,
        train_pools=train_pools,
        test_pools=test_pools,
        embedders=load_embedders(models, rir.fs, cfg.device, cfg.batch_size, cfg.trust_remote_code),
        task=load_task(
            task, rir.fs, cfg.clip_seconds, cfg.seed, cfg.max_clips_per_class, test_fold=cfg.test_fold
        ),
        conditions=build_conditions(cfg.snr_db, cfg.rt60_bins, cfg.grid, cfg.polyphony, cfg.tir_db),
        notes=notes,
    )


def load_embedders(
    models: Sequence, fs: int, device: str, batch_size: int, trust_remote_code: bool = False
) -> list[tuple[str, object, dict]]:
    """(name, embedder, description) for each model (models/load.py), then the log-mel baseline(s)."""
    out = []
    for name, spec in zip(model_names(models), models):
        emb = load_embedder(spec, name, fs, device, batch_size, trust_remote_code)
        out.append((name, emb, describe_model(name, spec, emb)))
    baselines = logmel_baselines(fs, mono_too=any(e.channels == 1 for _, e, _ in out))
    return out + [(b.name, b, describe_model(b.name, None, b)) for b in baselines]


def resolve_bins(rt60_bins, test_measured: np.ndarray, notes: list[str]) -> list[tuple[float, float]]:
    """The configured bins, or for "auto" the standard bins over the test split's range that hold a BRIR."""
    if rt60_bins != "auto":
        return list(rt60_bins)
    bins = auto_rt60_bins(test_measured)
    keep = [b for i, b in enumerate(bins) if in_rt60_bin(test_measured, b, last=i == len(bins) - 1).any()]
    if len(keep) < len(bins):
        notes.append("--rt60 auto: standard bins without test-split BRIRs were left out")
    return keep
