"""HEAR 2021 task folders (the hear-eval-kit layout), read without heareval:

    TASK/task_metadata.json      task_name, embedding_type (scene | event), prediction_type (multiclass |
                                 multilabel), split_mode (trainvaltest | presplit_kfold | new_split_kfold),
                                 nfolds, sample_duration, evaluation, ...
    TASK/labelvocabulary.csv     idx,label
    TASK/<split>.json            {file name: [label, ...]}  (events: lists of {start, end, label}: refused)
    TASK/<sample rate>/<split>/  the audio files

Splits: trainvaltest tasks use train / valid / test as they are. k-fold tasks (fold00 .. fold{k-1}) are
scored once, not k times: the last fold is the test fold, the one before it validation, the others
training (`test_fold` chooses another test fold; validation is then the fold before it, cyclically).
"""

from __future__ import annotations

import csv
import json
from dataclasses import dataclass, field
from pathlib import Path

from wavjepa_nat.errors import InputError

METADATA = "task_metadata.json"
VOCABULARY = "labelvocabulary.csv"
SPLIT_MODES = ("trainvaltest", "presplit_kfold", "new_split_kfold")
PREDICTION_TYPES = ("multiclass", "multilabel")
TRAINVALTEST = {"train": "train", "valid": "val", "test": "test"}


def is_hear_task(path) -> bool:
    return Path(str(path)).is_dir() and (Path(str(path)) / METADATA).is_file()


def _read_json(path: Path, what: str):
    try:
        return json.loads(path.read_text())
    except FileNotFoundError:
        raise InputError(f"HEAR task {path.parent}: {what} {path.name} is missing") from None
    except (OSError, ValueError) as err:
        raise InputError(f"HEAR task {path.parent}: {path.name} is not valid JSON ({err})") from None


@dataclass
class HearTask:
    root: Path
    metadata: dict
    classes: list[str]  # in the vocabulary's idx order
    multilabel: bool
    split_mode: str
    labels: dict[str, dict[str, tuple[str, ...]]]  # HEAR split name -> {file: labels}
    roles: dict[str, str]  # HEAR split name -> train | val | test
    sample_rates: list[int]  # the <sample rate>/ folders present
    notes: list[str] = field(default_factory=list)

    @property
    def name(self) -> str:
        return str(self.metadata.get("task_name") or self.root.name)

    @property
    def splits_text(self) -> str:
        """How the task's splits were used, for the report."""
        by_role = {r: [s for s, role in self.roles.items() if role == r] for r in ("train", "val", "test")}
        if self.split_mode == "trainvaltest":
            return "the HEAR task's own (train, valid, test)"
        return (
            f"the HEAR task's {len(self.roles)} folds ({self.split_mode}): "
            f"{', '.join(by_role['test'])} is the test fold, "
            f"{', '.join(by_role['val']) or 'none'} validation, "
            f"{', '.join(by_role['train'])} training"
        )

    def audio_dir(self, fs: int) -> tuple[Path, int]:
        """The <rate>/ folder to read: the bank's rate when present, else the nearest rate above it, else
        the highest (clips are resampled to the bank's rate)."""
        if fs in self.sample_rates:
            return self.root / str(fs), fs
        above = [r for r in self.sample_rates if r > fs]
        rate = min(above) if above else max(self.sample_rates)
        return self.root / str(rate), rate

    @property
    def nat_hear(self) -> dict | None:
        """The recipe of a naturalistic copy (written by `wavjepa-nat nat-hear`), None for other tasks."""
        value = self.metadata.get("nat_hear")
        return value if isinstance(value, dict) else None


def _vocabulary(root: Path) -> list[str]:
    path = root / VOCABULARY
    if not path.is_file():
        raise InputError(f"HEAR task {root}: {VOCABULARY} is missing")
    try:
        with open(path, newline="") as f:
            rows = list(csv.DictReader(f))
        pairs = sorted((int(r["idx"]), str(r["label"])) for r in rows)
    except (KeyError, ValueError, TypeError, csv.Error) as err:
        raise InputError(f"HEAR task {root}: {VOCABULARY} needs the columns idx,label ({err})") from None
    if not pairs:
        raise InputError(f"HEAR task {root}: {VOCABULARY} lists no labels")
    return [label for _, label in pairs]


def _split_names(root: Path, meta: dict) -> list[str]:
    mode = meta["split_mode"]
    if mode == "trainvaltest":
        return [s for s in TRAINVALTEST if (root / f"{s}.json").is_file() or s != "valid"]
    nfolds = meta.get("nfolds")
    if nfolds is None:
        nfolds = len(list(root.glob("fold*.json")))
    try:
        nfolds = int(nfolds)
    except (TypeError, ValueError):
        raise InputError(f"HEAR task {root}: nfolds must be a whole number, got {nfolds!r}") from None
    if nfolds < 2:
        raise InputError(f"HEAR task {root}: a k-fold task needs at least 2 folds, found {nfolds}")
    return [f"fold{i:02d}" for i in range(nfolds)]


def _roles(names: list[str], mode: str, test_fold: int | None, root: Path) -> dict[str, str]:
    if mode == "trainvaltest":
        return {s: TRAINVALTEST[s] for s in names}
    k = len(names)
    test = k - 1 if test_fold is None else test_fold
    if not 0 <= test < k:
        raise InputError(f"HEAR task {root}: --test-fold {test_fold} is out of range (folds 0..{k - 1})")
    val = (test - 1) % k if k > 2 else None
    return {s: "test" if i == test else "val" if i == val else "train" for i, s in enumerate(names)}


def read_hear_task(path, test_fold: int | None = None) -> HearTask:
    """Read and check a HEAR task folder (see the module docstring). Every problem is an InputError."""
    root = Path(str(path))
    meta = _read_json(root / METADATA, "the metadata file")
    if not isinstance(meta, dict):
        raise InputError(f"HEAR task {root}: {METADATA} must hold a JSON object")
    if meta.get("embedding_type", "scene") != "scene":
        raise InputError(
            f"HEAR task {root}: embedding_type is '{meta.get('embedding_type')}'; only scene "
            "tasks can be swept for now (event tasks need timestamp embeddings and event "
            "metrics)"
        )
    prediction = meta.get("prediction_type", "multiclass")
    if prediction not in PREDICTION_TYPES:
        raise InputError(
            f"HEAR task {root}: prediction_type '{prediction}' is not one of {', '.join(PREDICTION_TYPES)}"
        )
    mode = meta.get("split_mode", "trainvaltest")
    if mode not in SPLIT_MODES:
        raise InputError(f"HEAR task {root}: split_mode '{mode}' is not one of {', '.join(SPLIT_MODES)}")
    meta = dict(meta, split_mode=mode)
    classes = _vocabulary(root)
    known = set(classes)
    names = _split_names(root, meta)
    labels: dict[str, dict[str, tuple[str, ...]]] = {}
    for split in names:
        data = _read_json(root / f"{split}.json", "the split file")
        if not isinstance(data, dict):
            raise InputError(f"HEAR task {root}: {split}.json must map file names to label lists")
        entries = {}
        for file, labs in data.items():
            if isinstance(labs, str):
                labs = [labs]
            if not isinstance(labs, list) or any(isinstance(x, dict) for x in labs):
                raise InputError(
                    f"HEAR task {root}: {split}.json entry '{file}' is not a list of labels "
                    "(event annotations are not supported)"
                )
            unknown = [str(x) for x in labs if str(x) not in known]
            if unknown:
                raise InputError(
                    f"HEAR task {root}: {split}.json labels '{file}' with '{unknown[0]}', which "
                    f"is not in {VOCABULARY}"
                )
            entries[str(file)] = tuple(str(x) for x in labs)
        labels[split] = entries
    rates = sorted(int(p.name) for p in root.iterdir() if p.is_dir() and p.name.isdigit())
    if not rates:
        raise InputError(
            f"HEAR task {root}: no audio folder <sample rate>/<split>/ (e.g. {root}/16000/{names[0]}/)"
        )
    task = HearTask(
        root,
        meta,
        classes,
        prediction == "multilabel",
        mode,
        labels,
        _roles(names, mode, test_fold, root),
        rates,
    )
    test_split = next((s for s, r in task.roles.items() if r == "test"), None)
    if test_split is None or not labels.get(test_split):
        raise InputError(f"HEAR task {root}: the test split holds no clips")
    return task


def audio_files(task: HearTask, fs: int) -> tuple[int, dict[str, list[tuple[str, Path]]]]:
    """(the rate read, HEAR split -> [(file, path)]) for the audio to use; a listed file that is missing is
    an InputError naming it (and how many are missing)."""
    folder, rate = task.audio_dir(fs)
    out = {}
    for split, entries in task.labels.items():
        paths = [(f, folder / split / f) for f in entries]
        missing = [p for _, p in paths if not p.is_file()]
        if missing:
            raise InputError(
                f"HEAR task {task.root}: {len(missing)} audio file(s) of {split}.json are "
                f"missing under {folder / split}, e.g. {missing[0].name}"
            )
        out[split] = paths
    return rate, out
