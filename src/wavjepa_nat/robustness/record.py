"""What a sweep writes beside its rows: the setup (versions, seeds, notes, configuration, models, task, bank,
conditions, timing) stored in results.json and shown, folded, at the end of the report."""

from __future__ import annotations

import numpy as np
import torch

from wavjepa_nat.data.render.scenes import bin_text
from wavjepa_nat.rir_bank import RIRBank
from wavjepa_nat.robustness.classify import Classification
from wavjepa_nat.robustness.degrade import ScenePools
from wavjepa_nat.robustness.failures import ModelFailures
from wavjepa_nat.robustness.prepare import SweepInputs
from wavjepa_nat.serialise import config_dict
from wavjepa_nat.version import package_version

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


def sweep_setup(
    inputs: SweepInputs,
    scored: Classification,
    failures: ModelFailures,
    task_spec: str,
    title: str | None,
    seconds: float,
) -> dict:
    """The setup dict of a finished sweep."""
    cfg = inputs.cfg
    notes = inputs.notes + scored.notes + inputs.task.notes + inputs.train_pools.notes
    for name, emb, _ in inputs.embedders:
        notes += [f"{name}: {n}" for n in emb.notes]
    return {
        "title": title or "wavjepa-nat robustness report",
        "versions": {"wavjepa-nat": package_version(), "torch": torch.__version__, "numpy": np.__version__},
        "seeds": {"sweep": cfg.seed, "probe": cfg.seed, "bootstrap": cfg.seed},
        "notes": SETUP_NOTES + notes,
        "failures": failures.messages,
        "config": config_dict(cfg),
        "models": [
            dict(desc, probe_seconds=round(scored.probe_seconds.get(name, 0.0), 3))
            for name, _, desc in inputs.embedders
        ],
        "task": dict(inputs.task.summary(), spec=task_spec),
        "bank": bank_summary(inputs.bank, inputs.test_pools),
        "conditions": [
            {"condition": c.label, "test_scenes": len(inputs.test_pools.pool(c))} for c in inputs.conditions
        ],
        "sweep_seconds": round(seconds, 2),
    }


def bank_summary(rir: RIRBank, pools: ScenePools) -> dict:
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
        "noise": pools.noise_text(),
    }
