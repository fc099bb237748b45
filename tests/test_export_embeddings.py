"""robustness/export_embeddings.py: `--export-embeddings DIR` writes the hear-eval-kit's embedding layout,
read back here the way heareval's SplitMemmapDataset reads it (np.memmap of the dimensions json, pickled
label lists), one task folder per model and condition."""

from __future__ import annotations

import json
import pickle

import numpy as np
import pytest
from _sweep_bank import simulate_sweep_bank

from wavjepa_nat.data.corpus import CorpusConfig, make_corpus
from wavjepa_nat.robustness.config import SweepConfig
from wavjepa_nat.robustness.metrics.probes import LinearProbe, ProbeConfig
from wavjepa_nat.robustness.sweep import run_sweep
from wavjepa_nat.robustness.tasks.task import load_task


def heareval_split(folder, split):
    dim = tuple(json.loads((folder / f"{split}.embedding-dimensions.json").read_text()))
    emb = np.memmap(folder / f"{split}.embeddings.npy", dtype=np.float32, mode="r", shape=dim)
    with open(folder / f"{split}.target-labels.pkl", "rb") as f:
        labels = pickle.load(f)
    assert len(labels) == dim[0]
    return np.array(emb), labels


@pytest.fixture(scope="module")
def exported(tmp_path_factory):
    root = tmp_path_factory.mktemp("export")
    simulate_sweep_bank(root / "bank.h5", noise_bed_seconds=1.0)
    make_corpus(root / "corpus", CorpusConfig(n_per_class=4, seconds=1.0, speech=False))
    sweep = SweepConfig(
        snr_db=[10.0], rt60_bins="none", clip_seconds=1.0, export_embeddings=str(root / "emb")
    )
    from _fake_encoder import export_tiny

    export_tiny(root / "mono.safetensors", channels=1)
    rows = run_sweep(
        [root / "mono.safetensors"], str(root / "corpus"), root / "bank.h5", sweep, progress=False
    )
    return root, rows


def test_export_embeddings_one_task_folder_per_model_and_condition(exported):
    root, rows = exported
    models = sorted(p.name for p in (root / "emb").iterdir())
    assert models == sorted({r.model for r in rows})
    for model in models:
        folders = sorted(p.name for p in (root / "emb" / model).iterdir())
        assert folders == ["corpus-clean", "corpus-snr10dB"]
    task = load_task(str(root / "corpus"), 16000, 1.0, 0)
    folder = root / "emb" / "mono" / "corpus-snr10dB"
    meta = json.loads((folder / "task_metadata.json").read_text())
    assert meta["split_mode"] == "trainvaltest" and meta["splits"] == ["train", "valid", "test"]
    assert meta["embedding_type"] == "scene" and meta["prediction_type"] == "multiclass"
    vocab = (folder / "labelvocabulary.csv").read_text().splitlines()
    assert vocab[0] == "idx,label" and [v.split(",", 1)[1] for v in vocab[1:]] == task.classes
    widths = set()
    for split, ours in (("train", "train"), ("valid", "val"), ("test", "test")):
        emb, labels = heareval_split(folder, split)
        assert labels == [list(lab) for lab in task.labels[ours]] and len(labels) > 0
        assert np.isfinite(emb).all()
        widths.add(emb.shape[1])
    assert len(widths) == 1


def test_exported_embeddings_reproduce_the_reported_scores(exported):
    """A probe fitted on the exported train split and scored on each exported test split gives the score the
    report gives for that model and condition: the files hold what the sweep scored."""
    root, rows = exported
    for r in rows:
        cond = "corpus-clean" if r.condition == "clean" else "corpus-snr10dB"
        folder = root / "emb" / r.model / cond
        x, y = heareval_split(folder, "train")
        xt, yt = heareval_split(folder, "test")
        probe = LinearProbe("multiclass", ProbeConfig(seed=0)).fit(x, np.array([lab[0] for lab in y]))
        assert probe.evaluate(xt, np.array([lab[0] for lab in yt])).score == pytest.approx(r.score)
