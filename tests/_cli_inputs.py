"""Tiny inputs for every command of the CLI (tests/test_cli_full_disk.py, tests/test_cli_interrupts.py): a
bank's two shards, a checkpoint, an export, a folder task, a HEAR task, a sweep's results, a dry wav."""

from __future__ import annotations

import json
from pathlib import Path

import h5py
import numpy as np
import soundfile as sf
import torch
from _fake_encoder import export_tiny


def _wav(path: Path, seconds: float = 0.5, channels: int = 1, seed: int = 0) -> Path:
    rng = np.random.default_rng(seed)
    x = 0.1 * rng.standard_normal((int(16000 * seconds), channels))
    path.parent.mkdir(parents=True, exist_ok=True)
    sf.write(path, x, 16000)
    return path


def _hear_task(root: Path) -> Path:
    root.mkdir(parents=True)
    meta = {"task_name": "t", "version": "test", "embedding_type": "scene", "prediction_type": "multiclass",
            "split_mode": "trainvaltest", "sample_duration": 0.5, "evaluation": ["top1_acc"]}  # fmt: skip
    (root / "task_metadata.json").write_text(json.dumps(meta))
    (root / "labelvocabulary.csv").write_text("idx,label\n0,low\n1,high\n")
    for s, (split, n) in enumerate({"train": 2, "valid": 2, "test": 2}.items()):
        labels = {f"{split}_{i}.wav": [("low", "high")[i % 2]] for i in range(n)}
        for i, name in enumerate(labels):
            _wav(root / "16000" / split / name, seed=10 * s + i)
        (root / f"{split}.json").write_text(json.dumps(labels))
    return root


def make_inputs(root: Path, corpus: Path, bank: Path) -> dict:
    """Every command's inputs, in `root`; corpus and bank: conftest's corpus_and_bank."""
    from test_report import SETUP, sweep
    from test_weights_reference import SMALL, RefJEPA, save

    from wavjepa_nat.nat_model.config import get_preset
    from wavjepa_nat.rir_bank import simulate_bank
    from wavjepa_nat.robustness.report.results import write_report
    from wavjepa_nat.scenes import SceneConfig
    from wavjepa_nat.training.module import WavJEPAModule

    shard_cfg = SceneConfig(fs=8000, rt60=(0.2, 0.4), noise_bed_seconds=0.25, noise_sources=(0, 0))
    for k in (1, 2):
        simulate_bank(root / f"s{k}.h5", shard_cfg, 2, shard=(k, 2), progress=False)
    torch.manual_seed(0)
    module = WavJEPAModule(get_preset("tiny", channels=1, depth=2, pred_depth=1))
    torch.save({"state_dict": module.state_dict(), "hyper_parameters": dict(module.hparams)}, root / "m.ckpt")
    export_tiny(root / "mono.safetensors", channels=1)
    with h5py.File(root / "older.h5", "w") as f:
        f["scene"] = np.zeros((1, 4), np.float32)
    for label in ("dog", "cat"):
        for i in range(2):
            _wav(root / "task" / label / f"{i}.wav", seed=i + 3 * len(label))
    write_report(sweep("m", 1, grid=False), SETUP, root / "results")
    return {
        "root": root,
        "corpus": corpus,
        "bank": bank,
        "wav": _wav(root / "dry.wav"),
        "ref": save(RefJEPA(1, **SMALL, seed=1), SMALL, root, "lightning"),
        "hear": _hear_task(root / "hear"),
    }
