"""The robustness sweep: models x conditions -> probe score, drop vs clean, embedding drift, localisation.

    cfg = SweepConfig(snr_db="-5..20", rt60_bins="0.2..1.6")
    rows = run_sweep(["runs/nat/last.ckpt", "runs/clean/last.ckpt"], "builtin", "bank.h5", cfg,
                     out_dir="reports/r1")

For every condition (robustness/conditions.py) the test clips are rendered once, and the same arrays are
embedded by every model and by the log-mel baseline. Per model and condition:

- score: a linear probe (accuracy, or mAP for multi-label tasks) trained on clean training clips
  (probe_train="clean") or on training clips rendered under the same condition through train/val-split
  scenes ("matched"), scored on the test clips of the condition;
- drop_vs_clean: score - clean score of the same model (negative = worse), as ResultRow defines it;
- clean_cosine (the embedding drift): mean cosine similarity of the clean and corrupted embeddings of the
  same test clip (1 = no drift),
  in the coordinates the clean probe sees (standardised with the clean training embeddings' statistics);
- loc_error_deg (two-channel models): the lateral-angle error (degrees) of the linear direction probe of
  robustness/localisation.py, which also scores the MLP probe, front-back confusions, the full azimuth and
  the GCC-PHAT + ILD baseline (the report's Localisation section). None (N/A) for mono models.
"""

from __future__ import annotations

import dataclasses
import math
import os
import time
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from wavjepa_nat.checks import MAX_SNR_DB, check_output_dir, check_torch_device
from wavjepa_nat.errors import InputError
from wavjepa_nat.progress import progress_bar
from wavjepa_nat.robustness.conditions import (
    CLEAN,
    Condition,
    auto_rt60_bins,
    bin_text,
    build_conditions,
    check_probe_train,
    parse_rt60_bins,
    parse_snr,
    stream_id,
)

if TYPE_CHECKING:
    from wavjepa_nat.robustness.degrade import ScenePools
    from wavjepa_nat.robustness.report import ResultRow

SETUP_NOTES = [
    (
        "Conditions: clean = the dry clip on both ears; SNR = the dry clip on both ears plus binaural noise "
        "from a test-split scene's noise bed at that SNR (no reverberation); RT60 = the clip through a "
        "test-split BRIR whose measured T_mid lies in the bin, direct-path delay compensated, no added "
        "noise; SNR x RT60 = a BRIR from the bin plus that scene's noise bed at the SNR. Rendered clips are "
        "instance-normalised over (ears, time). Every model and the baseline embed exactly the same rendered "
        "audio (seeded per scene pool and clip: a clip meets the same scene and noise segment at every SNR)."
    ),
    (
        "drop vs clean = score - clean score of the same model (negative = worse); drift = cos to clean, the "
        "mean cosine similarity (1 = no drift) between the clean and the corrupted embedding of each test "
        "clip, both standardised with the mean and std of the model's clean training embeddings (raw "
        "cosines of self-supervised embeddings sit near 1 whatever the input, and the baseline's dB "
        "features share a large offset)."
    ),
    (
        "Localisation (the per-model tables' column and its paired tests): the lateral-angle error of the "
        "linear direction probe of the Localisation section, sources within 30 deg of the horizontal plane. "
        "Under clean and SNR conditions the test clips are rendered through a random test-split scene (any "
        "RT60), since a dry clip has no direction; a clip keeps its scene and its noise segment across the "
        "clean and SNR conditions, so they differ only in the noise level. Mono models: N/A."
    ),
    (
        "Baseline: log-mel statistics (mean and std over time of 64 log-mel bands per ear, plus the "
        "interaural level difference per band for two ears): a non-learned reference for how hard each "
        "condition is."
    ),
]


@dataclasses.dataclass
class SweepConfig:
    """What a sweep runs; checks itself on construction (InputError naming the CLI flag).

    snr_db and rt60_bins take lists or the CLI syntax ("-5..20", "0.2..1.6", "0.2,0.5,1.0", "none");
    rt60_bins "auto" = the standard bins over the bank's test-split range (resolved by run_sweep, empty
    ones left out). The config, resolved, is stored in the report's results.json.
    """

    snr_db: list[float] | str = "-5..20"
    rt60_bins: list[tuple[float, float]] | str = "auto"
    grid: bool = False  # also every SNR x RT60 pair
    probe_train: str = "clean"  # "clean" | "matched"
    seed: int = 0  # seeds the renderings, the task split and the probes
    clip_seconds: float = 4.0
    max_clips_per_class: int | None = None
    device: str = "cpu"
    batch_size: int = 16
    test_fold: int | None = None  # k-fold HEAR tasks: the test fold (default: the last)

    def __post_init__(self):
        self.snr_db = (
            parse_snr(self.snr_db) if isinstance(self.snr_db, str) else [float(s) for s in self.snr_db]
        )
        if not all(math.isfinite(s) for s in self.snr_db):
            raise InputError(f"--snr: SNRs must be finite numbers, got {self.snr_db}")
        if any(abs(s) > MAX_SNR_DB for s in self.snr_db):
            raise InputError(
                f"--snr: SNRs must lie within -{MAX_SNR_DB:g}..{MAX_SNR_DB:g} dB, got {self.snr_db}"
            )
        if isinstance(self.rt60_bins, str):
            auto = self.rt60_bins.strip().lower() == "auto"
            self.rt60_bins = "auto" if auto else parse_rt60_bins(self.rt60_bins)
        else:
            self.rt60_bins = [(float(lo), float(hi)) for lo, hi in self.rt60_bins]
            if any(not 0 <= lo < hi for lo, hi in self.rt60_bins):
                raise InputError(f"--rt60: each bin needs 0 <= LO < HI, got {self.rt60_bins}")
        check_probe_train(self.probe_train)
        if not (math.isfinite(self.clip_seconds) and self.clip_seconds > 0):
            raise InputError(f"--clip-seconds must be a positive number, got {self.clip_seconds}")
        if self.seed < 0:
            raise InputError(f"--seed must be 0 or more, got {self.seed}")
        if self.max_clips_per_class is not None and self.max_clips_per_class < 1:
            raise InputError(f"--max-clips-per-class must be at least 1, got {self.max_clips_per_class}")
        if self.batch_size < 1:
            raise InputError(f"--batch-size must be at least 1, got {self.batch_size}")
        if self.test_fold is not None and self.test_fold < 0:
            raise InputError(f"--test-fold must be 0 or more, got {self.test_fold}")


class SweepIncomplete(InputError):
    """A model broke during the sweep: the report holds the other models' results (and says what broke).
    `rows` are all the results computed."""

    def __init__(self, message: str, rows: list):
        super().__init__(message)
        self.rows = rows


# ---------------------------------------------------------------- models


def model_names(specs: Sequence) -> list[str]:
    """Short unique names: the file stem, else parent/stem, else the whole path
    (hear:MODULE[:weights stem] for HEAR modules); a repeat gets '#k'."""
    from wavjepa_nat.robustness.hear_models import hear_name, is_hear_spec

    paths = [Path(s) if isinstance(s, (str, os.PathLike)) and not is_hear_spec(s) else None for s in specs]

    def forms(p: Path) -> tuple[str, str, str]:
        return p.stem, f"{p.parent.name}/{p.stem}", str(p)

    names = []
    for i, (spec, p) in enumerate(zip(specs, paths)):
        if is_hear_spec(spec):
            names.append(hear_name(spec))
            continue
        if p is None:
            names.append(str(getattr(spec, "name", None) or f"model{i + 1}"))
            continue
        others = [forms(q)[k] for q in paths if q is not None and q != p for k in range(3)]
        names.append(next((c for c in forms(p) if c not in others), str(p)))
    counts: dict[str, int] = {}
    original = list(names)
    for i, n in enumerate(original):
        if original.count(n) > 1:
            counts[n] = counts.get(n, 0) + 1
            names[i] = f"{n}#{counts[n]}"
    return names


def check_models(models: Sequence) -> None:
    """Fail fast, before any work: every path given must exist (a file, or a Hugging Face style folder)."""
    from wavjepa_nat.robustness.hear_models import check_hear_spec, is_hear_spec

    if not models:
        raise InputError("no model given (--model)")
    for m in models:
        if is_hear_spec(m):
            check_hear_spec(m)
        elif isinstance(m, (str, os.PathLike)) and not (
            Path(m).is_file() or (Path(m) / "config.json").is_file()
        ):
            raise InputError(f"checkpoint not found: {m}")


def _as_dict(config) -> dict | None:
    """A model's or baseline's config as a plain dict (for the report)."""
    if hasattr(config, "to_dict"):
        return config.to_dict()
    if dataclasses.is_dataclass(config):
        return dataclasses.asdict(config)
    return config


def _describe(name: str, spec, embedder) -> dict:
    if spec is None:
        path = "non-learned baseline"
    else:
        path = str(spec) if isinstance(spec, (str, os.PathLike)) else type(spec).__name__
    config = getattr(embedder, "cfg", None) or getattr(getattr(embedder, "encoder", None), "config", None)
    desc = {
        "name": name,
        "path": path,
        "channels": embedder.channels,
        "embedding_dim": int(embedder.output_dim),
        "config": _as_dict(config),
    }
    source = getattr(getattr(embedder, "encoder", None), "source", None)  # set by load_model
    if isinstance(source, dict):
        from wavjepa_nat.nat_model.export import source_text

        desc.update(source=source_text(source), source_info=source)
    if hasattr(embedder, "describe"):  # a HEAR module: kind, source, its own sample rate, input, config
        desc.update(embedder.describe())
    desc.setdefault(
        "kind",
        getattr(embedder, "kind", None)
        or (
            "non-learned baseline"
            if spec is None
            else source.get("kind", "wavjepa-nat model")
            if isinstance(source, dict)
            else "embedder"
        ),
    )
    desc.setdefault("source", path)
    desc.setdefault("sample_rate", int(embedder.sample_rate))
    desc.setdefault(
        "input", "binaural (both ears)" if embedder.channels == 2 else "mono mixdown (mean of the two ears)"
    )
    return desc


def load_embedders(models: Sequence, fs: int, device: str, batch_size: int) -> list[tuple[str, object, dict]]:
    """(name, embedder, description) for each model, then the log-mel baseline(s).

    A model is a checkpoint / export path, "hear:MODULE[:WEIGHTS]" (an installed HEAR 2021 module, checked on
    a short input here: robustness/hear_models.py), a loaded encoder (the nat_model Encoder interface), or a
    ready embedder: any object with `scene_embeddings(audio (n, C, S)) -> (n, D)`, `channels`, `output_dim`,
    `sample_rate` and `notes` (as the baseline has).
    """
    from wavjepa_nat.nat_model.export import load_model
    from wavjepa_nat.nat_model.inference import Embedder
    from wavjepa_nat.robustness.baseline import LogMelBaseline, LogMelConfig
    from wavjepa_nat.robustness.hear_models import HearEmbedder, is_hear_spec

    out = []
    for name, spec in zip(model_names(models), models):
        if is_hear_spec(spec):
            emb = HearEmbedder(spec, int(fs), device=device, batch_size=batch_size, name=name)
            out.append((name, emb, _describe(name, spec, emb)))
            continue
        model = load_model(spec) if isinstance(spec, (str, os.PathLike)) else spec
        if int(model.sample_rate) != int(fs):
            raise InputError(f"model {name} runs at {model.sample_rate} Hz but the bank is at {fs} Hz")
        emb = (
            model
            if hasattr(model, "scene_embeddings")
            else Embedder(model, device=device, batch_size=batch_size, name=name)
        )
        out.append((name, emb, _describe(name, spec, emb)))
    mel = LogMelConfig(sample_rate=int(fs), fmax=min(8000.0, fs / 2))
    baselines = [LogMelBaseline(2, mel)]
    if any(e.channels == 1 for _, e, _ in out):  # a like-for-like reference for mono models
        baselines.append(LogMelBaseline(1, mel))
    out += [(b.name, b, _describe(b.name, None, b)) for b in baselines]
    return out


# ---------------------------------------------------------------- small helpers


def row_cosines(clean: np.ndarray, other: np.ndarray) -> np.ndarray:
    """The cosine similarity of each pair of matching rows, in [-1, 1]."""
    a, b = np.asarray(clean, np.float64), np.asarray(other, np.float64)
    a = a / np.maximum(np.linalg.norm(a, axis=1, keepdims=True), 1e-12)
    b = b / np.maximum(np.linalg.norm(b, axis=1, keepdims=True), 1e-12)
    return np.clip(np.sum(a * b, axis=1), -1.0, 1.0)


def cosine_to_clean(clean: np.ndarray, other: np.ndarray) -> float:
    """Embedding drift: the mean cosine similarity of matching rows, in [-1, 1] (1 = no drift)."""
    return float(np.clip(np.mean(row_cosines(clean, other)), -1.0, 1.0))


def _resolve_bins(rt60_bins, test_measured: np.ndarray, notes: list[str]) -> list[tuple[float, float]]:
    """The configured bins, or for "auto" the standard bins over the test split's range that hold a BRIR."""
    if rt60_bins != "auto":
        return list(rt60_bins)
    bins = auto_rt60_bins(test_measured)
    last = len(bins) - 1
    keep = [
        b
        for i, b in enumerate(bins)
        if np.any(
            (test_measured >= b[0]) & ((test_measured <= b[1]) if i == last else (test_measured < b[1]))
        )
    ]
    if len(keep) < len(bins):
        notes.append("--rt60 auto: standard bins without test-split BRIRs were left out")
    return keep


# ---------------------------------------------------------------- the sweep


def run_sweep(
    models: Sequence[str | Path | object],
    task: str | Path,
    bank: str | Path | object,
    config: SweepConfig | None = None,
    *,
    out_dir: str | Path | None = None,
    title: str | None = None,
    progress: bool = True,
) -> list[ResultRow]:
    """Run the sweep; write the report into out_dir when given. Returns the result rows.

    models: checkpoint / export paths, loaded encoders (the nat_model Encoder interface) or embedders
    (see load_embedders). task: the labelled data (robustness/task.py). bank: an RIR bank path or RIRBank.
    """
    import torch

    from wavjepa_nat.rir_bank import RIRBank
    from wavjepa_nat.robustness.degrade import ScenePools, degrade
    from wavjepa_nat.robustness.hear_models import HearModuleError
    from wavjepa_nat.robustness.probes import LinearProbe, ProbeConfig
    from wavjepa_nat.robustness.report import ResultRow, write_report
    from wavjepa_nat.robustness.stats import ClipOutcome, clip_outcome, mean_interval, paired_tests
    from wavjepa_nat.robustness.task import load_task
    from wavjepa_nat.version import package_version

    cfg = config or SweepConfig()
    notes: list[str] = []
    check_models(models)
    check_torch_device(cfg.device, "--device")
    if out_dir is not None:  # before the sweep, not when its report is written
        check_output_dir(out_dir, "--out")
    rir = bank if isinstance(bank, RIRBank) else RIRBank(bank)
    test_measured = rir.rt60()[rir.select(split="test")]
    if len(test_measured) == 0:
        raise InputError(f"the RIR bank {rir.path} has no test-split scenes")
    cfg = dataclasses.replace(cfg, rt60_bins=_resolve_bins(cfg.rt60_bins, test_measured, notes))
    test_pools = ScenePools(rir, cfg.rt60_bins, ("test",), strict=True)
    train_pools = ScenePools(rir, cfg.rt60_bins, ("train", "val"), strict=False)
    embedders = load_embedders(models, rir.fs, cfg.device, cfg.batch_size)  # HEAR modules checked here
    data = load_task(
        task, rir.fs, cfg.clip_seconds, cfg.seed, cfg.max_clips_per_class, test_fold=cfg.test_fold
    )
    conditions = build_conditions(cfg.snr_db, cfg.rt60_bins, cfg.grid)
    binaural = any(e.channels == 2 for _, e, _ in embedders)
    kind = "multilabel" if data.multilabel else "multiclass"
    probe_cfg = ProbeConfig(seed=cfg.seed)
    seed = cfg.seed
    y_train, y_test = data.targets("train"), data.targets("test")
    train_ids, test_ids = data.clip_ids("train"), data.clip_ids("test")
    dry_train, dry_test = data.clips["train"], data.clips["test"]

    clean_probe, clean_emb, clean_score = {}, {}, {}
    reverberant_emb: dict[tuple[str, str], np.ndarray] = {}  # the localisation pass embeds the same audio
    rows: list[ResultRow] = []
    outcomes: dict[str, dict[str, ClipOutcome]] = {}  # condition label -> model -> per-clip results
    setup_seconds: dict[str, float] = {}  # model -> seconds to embed the training clips and fit its probes
    failures: list[str] = []
    broken: set[str] = set()

    def record(name: str, stage: str, err: Exception) -> None:
        """A HEAR module that breaks the API mid-sweep: recorded, and the other models go on."""
        failures.append(f"{err} (during {stage}); {name} has no results from there on")
        broken.add(name)

    def unconverged(name: str, where: str, probe) -> None:
        if not probe.converged:
            notes.append(
                f"{name}: the {where} logistic probe (C = {probe.c:g}) stopped at its "
                f"{probe_cfg.max_iter} iterations before converging"
            )

    t0 = time.perf_counter()
    n_steps = (len(conditions) + 1) * len(embedders)
    with progress_bar(n_steps, "robustness sweep", enabled=progress) as advance:
        # Probes on clean training data (also the clean reference in matched mode).
        train_audio, _ = degrade(dry_train, CLEAN, train_pools, seed, "train", train_ids)
        for name, emb, _ in embedders:
            start = time.perf_counter()
            try:
                clean_probe[name] = LinearProbe(kind, probe_cfg).fit(
                    emb.scene_embeddings(train_audio), y_train
                )
                unconverged(name, "clean", clean_probe[name])
            except HearModuleError as err:
                record(name, "probe training", err)
            setup_seconds[name] = time.perf_counter() - start
            advance(description=f"probes: {name}")

        for cond in conditions:
            audio, _ = degrade(dry_test, cond, test_pools, seed, "test", test_ids)
            matched = cfg.probe_train == "matched" and cond != CLEAN
            if matched:
                m_audio, _ = degrade(dry_train, cond, train_pools, seed, "train", train_ids)
            boot_seed = seed ^ stream_id(cond.key)  # the same clip resamples for every model of a condition
            for name, emb, _ in embedders:
                advance(description=f"{cond.label}: {name}")
                if name in broken:
                    continue
                start = time.perf_counter()
                try:
                    x = emb.scene_embeddings(audio)
                    if cond.reverberant:
                        reverberant_emb[(cond.label, name)] = x
                    probe = clean_probe[name]
                    if matched:
                        probe = LinearProbe(kind, probe_cfg).fit(emb.scene_embeddings(m_audio), y_train)
                        unconverged(name, cond.label, probe)
                    result = probe.evaluate(x, y_test)
                    outcome = clip_outcome(probe, x, y_test, result.metric)
                    z = clean_probe[name].scaler.transform(x)  # drift in the clean probe's standardised space
                    if cond == CLEAN:
                        clean_emb[name], clean_score[name] = z, result.score
                    cos = row_cosines(clean_emb[name], z)
                except HearModuleError as err:
                    record(name, cond.label, err)
                    continue
                outcomes.setdefault(cond.label, {})[name] = outcome
                rows.append(
                    ResultRow(
                        model=name,
                        model_channels=emb.channels,
                        condition=cond.kind,
                        snr_db=cond.snr_db,
                        rt60_bin=cond.rt60_bin,
                        metric=result.metric,
                        score=result.score,
                        drop_vs_clean=result.score - clean_score[name],
                        clean_cosine=float(np.mean(cos)),
                        loc_error_deg=None,
                        n_clips=len(dry_test),
                        task=data.name,
                        score_ci=outcome.score_interval(boot_seed),
                        drift_ci=mean_interval(cos, boot_seed),
                        seconds=round(time.perf_counter() - start, 3),
                    )
                )

    loc_rows = []
    if binaural:  # lateral angle, front-back and azimuth, linear and MLP probes, + GCC-PHAT baseline
        from wavjepa_nat.robustness.localisation import localisation_sweep

        loc_rows, lateral = localisation_sweep(
            embedders,
            conditions,
            data,
            train_pools,
            test_pools,
            seed,
            cfg.probe_train,
            probe_cfg,
            progress=progress,
            skip=broken,
            on_error=record,
            embedded=reverberant_emb,
        )
        rows = [_with_lateral(r, lateral, outcomes, seed) for r in rows]
    tests = paired_tests(outcomes, task=data.name, seed=seed)
    notes += data.notes + train_pools.notes
    for name, emb, _ in embedders:
        notes += [f"{name}: {n}" for n in emb.notes]
    descriptions = [
        dict(desc, probe_seconds=round(setup_seconds.get(name, 0.0), 3)) for name, _, desc in embedders
    ]
    setup = {
        "title": title or "wavjepa-nat robustness report",
        "versions": {"wavjepa-nat": package_version(), "torch": torch.__version__, "numpy": np.__version__},
        "seeds": {"sweep": seed, "probe": probe_cfg.seed, "bootstrap": seed},
        "notes": SETUP_NOTES + notes,
        "failures": failures,
        "config": dataclasses.asdict(cfg),
        "models": descriptions,
        "task": dict(data.summary(), spec=str(task)),
        "bank": _bank_summary(rir, test_pools),
        "conditions": [{"condition": c.label, "test_scenes": len(test_pools.pool(c))} for c in conditions],
        "sweep_seconds": round(time.perf_counter() - t0, 2),
    }
    if out_dir is not None:
        write_report(rows, setup, out_dir, setup["title"], tests, localisation=loc_rows)
    if failures:
        where = "" if out_dir is None else f"; the other models' results are in {Path(out_dir) / 'report.md'}"
        raise SweepIncomplete("; ".join(failures) + where, rows)
    return rows


def _with_lateral(row, lateral: dict, outcomes: dict, seed: int):
    """A result row with its model's localisation: the linear probe's lateral-angle error (mean and
    bootstrap interval over the condition's clips; robustness/localisation.py), kept per clip for the
    paired tests."""
    from wavjepa_nat.robustness.stats import mean_interval

    cond = _row_condition(row)
    errors = lateral.get((cond.label, row.model))
    if errors is None:
        return row
    outcomes[cond.label][row.model].loc_err = errors
    boot_seed = seed ^ stream_id(cond.key)  # as the classification pass seeds the condition's intervals
    return dataclasses.replace(
        row, loc_error_deg=float(np.mean(errors)), loc_ci=mean_interval(errors, boot_seed)
    )


def _row_condition(row) -> Condition:
    return Condition(row.condition, row.snr_db, None if row.rt60_bin is None else tuple(row.rt60_bin))


def _bank_summary(rir, pools: ScenePools) -> dict:
    counts = {s: len(rir.select(split=s)) for s in ("train", "val", "test")}
    lo, hi = pools.measured_range
    return {
        "path": str(rir.path),
        "hrtf": rir.attrs.get("hrtf_name"),
        "engine": rir.attrs.get("engine"),
        "seed": rir.attrs.get("seed"),
        "fs": rir.fs,
        "scenes": counts,
        "test_rt60_measured_s": [round(lo, 3), round(hi, 3)],
        "rt60_bins": {bin_text(b): len(p) for b, p in pools.by_bin.items()},
    }
