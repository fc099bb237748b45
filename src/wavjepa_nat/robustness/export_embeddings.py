"""`robustness --export-embeddings DIR`: every condition's embeddings in the hear-eval-kit's embedding layout,
so heareval's own predictions runner (heareval.predictions.runner) can score them:

    DIR/<model>/<task>-<condition>/task_metadata.json     the task's metadata, split_mode trainvaltest,
                                                          splits [train, valid, test]
    DIR/<model>/<task>-<condition>/labelvocabulary.csv    idx,label
    DIR/<model>/<task>-<condition>/<split>.embeddings.npy             float32 rows, raw (np.memmap), (n, D)
    DIR/<model>/<task>-<condition>/<split>.embedding-dimensions.json  [n, D]
    DIR/<model>/<task>-<condition>/<split>.target-labels.pkl          a list of label lists, one per clip

One task folder per condition: its test split holds the test clips rendered under the condition, its train
and valid splits the clips the sweep's probe trains on (clean, or rendered under the condition with
--probe-train matched), as heareval reads them (heareval/predictions/task_predictions.py,
SplitMemmapDataset).
"""

from __future__ import annotations

import json
import pickle
import re
from pathlib import Path

import numpy as np

from wavjepa_nat.files import atomic_path, write_text_atomic
from wavjepa_nat.robustness.conditions import Condition

HEAR_SPLITS = {"train": "train", "val": "valid", "test": "test"}


def folder_name(text: str) -> str:
    """A file-system-safe name: runs of anything but letters, digits, '.', '-', '_' become '_'."""
    return re.sub(r"[^A-Za-z0-9._-]+", "_", text).strip("_") or "x"


def condition_name(cond: Condition) -> str:
    return folder_name(cond.label.replace(" dB", "dB").replace("RT60 ", "rt60-").replace("SNR ", "snr"))


class EmbeddingExport:
    """Writes one model x condition task folder at a time (write)."""

    def __init__(self, root: str | Path, task):
        self.root = Path(root)
        self.task = task

    def write(self, model: str, cond: Condition, split_embeddings: dict[str, np.ndarray]) -> Path:
        """split_embeddings: our split names (train, val, test) -> (n, D) embeddings of the task's clips."""
        task = self.task
        split_embeddings = {s: e for s, e in split_embeddings.items() if e is not None}
        folder = self.root / folder_name(model) / f"{folder_name(task.name)}-{condition_name(cond)}"
        folder.mkdir(parents=True, exist_ok=True)
        metadata = dict(task.hear or {})
        metadata.update(
            task_name=f"{task.name}-{condition_name(cond)}",
            embedding_type="scene",
            prediction_type="multilabel" if task.multilabel else "multiclass",
            split_mode="trainvaltest",
            splits=[HEAR_SPLITS[s] for s in split_embeddings],
            evaluation=metadata.get("evaluation") or (["mAP"] if task.multilabel else ["top1_acc"]),
            wavjepa_nat_condition=cond.label,
        )
        metadata.pop("nfolds", None)
        write_text_atomic(folder / "task_metadata.json", json.dumps(metadata, indent=1, default=str))
        vocabulary = "idx,label\n" + "".join(f"{i},{c}\n" for i, c in enumerate(task.classes))
        write_text_atomic(folder / "labelvocabulary.csv", vocabulary)
        for split, emb in split_embeddings.items():
            name = HEAR_SPLITS[split]
            emb = np.ascontiguousarray(emb, np.float32)
            with atomic_path(folder / f"{name}.embeddings.npy") as tmp:
                emb.tofile(tmp)  # raw rows: heareval reads it with np.memmap
            write_text_atomic(folder / f"{name}.embedding-dimensions.json", json.dumps(list(emb.shape)))
            with atomic_path(folder / f"{name}.target-labels.pkl") as tmp, open(tmp, "wb") as f:
                pickle.dump([list(labels) for labels in task.labels[split]], f)
        return folder
