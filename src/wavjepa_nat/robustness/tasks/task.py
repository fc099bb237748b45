"""A labelled task for a sweep: dry clips per split with their labels.

`--task` is a HEAR 2021 task folder (task_metadata.json, labelvocabulary.csv, split json files, audio in
<sample rate>/<split>/: hear_folder.py; its own splits, the last fold as test fold for k-fold tasks),
or anything `data.sources.open_source` reads that carries labels: a folder with one subfolder per
class, a CSV/JSONL manifest with `label`(s) (and optionally `split`), a corpus folder, WebDataset shards
with json labels, or "builtin" (the procedural corpus). Splits are the data set's own when every item
has one (train and test present), else a seeded split, stratified by (first) label: 70 / 15 / 15 %.
A clip with several labels makes the task multi-label (probe metric mAP instead of accuracy).

Clips are mono, `clip_seconds` long from the file's start (zero-padded), at the bank's sample rate, at an
RMS of -14 dBFS (as training clips are). A HEAR task whose audio is all two-channel (a naturalistic copy
written by `wavjepa-nat nat-hear`) keeps both ears: clips (n, 2, S), used as they are under the clean and
SNR conditions (robustness/degrade.py). A naturalistic copy is read like any HEAR task folder.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from wavjepa_nat.data.clips import ClipConfig, prepare_clip
from wavjepa_nat.data.sources import AudioItem, decode_audio, open_source
from wavjepa_nat.data.splits import SPLITS, stratified_split
from wavjepa_nat.errors import InputError
from wavjepa_nat.robustness.conditions import stream_id
from wavjepa_nat.robustness.tasks.hear_folder import HearTask, audio_files, is_hear_task, read_hear_task

log = logging.getLogger(__name__)

SPLIT_ALIASES = {
    "train": "train",
    "training": "train",
    "val": "val",
    "valid": "val",
    "validation": "val",
    "dev": "val",
    "test": "test",
    "eval": "test",
    "evaluation": "test",
}


@dataclass
class _Entry:
    key: str
    labels: tuple[str, ...]
    split: str | None
    path: str | None = None  # file sources: decoded only when kept
    item: AudioItem | None = None  # stream sources: already decoded


@dataclass
class Task:
    name: str
    classes: list[str]
    multilabel: bool
    clips: dict[str, np.ndarray]  # split -> (n, S) float32 dry clips, or (n, 2, S) for binaural tasks
    labels: dict[str, list[tuple[str, ...]]]  # split -> labels per clip
    keys: dict[str, list[str]]
    split_source: str
    skipped: int = 0
    notes: list[str] = field(default_factory=list)

    def targets(self, split: str) -> np.ndarray:
        """(n,) class names (single-label) or (n, K) 0/1 matrix (multi-label)."""
        if not self.multilabel:
            return np.array([lab[0] for lab in self.labels[split]])
        index = {c: k for k, c in enumerate(self.classes)}
        y = np.zeros((len(self.labels[split]), len(self.classes)), np.int64)
        for i, labs in enumerate(self.labels[split]):
            y[i, [index[c] for c in labs]] = 1
        return y

    def clip_ids(self, split: str) -> list[int]:
        """Stable per-clip ids (seed renderings): independent of which other clips are in the task."""
        return [stream_id(k) for k in self.keys[split]]

    hear: dict | None = None  # a HEAR task's metadata (with its nat_hear recipe for naturalistic copies)

    @property
    def channels(self) -> int:
        return 2 if self.clips["test"].ndim == 3 else 1

    def summary(self) -> dict:
        out = {
            "name": self.name,
            "classes": self.classes,
            "multilabel": self.multilabel,
            "splits": self.split_source,
            "clips": {s: len(self.keys[s]) for s in SPLITS},
            "skipped_unreadable": self.skipped,
            "channels": self.channels,
        }
        if self.hear is not None:
            out["hear_metadata"] = self.hear
        return out


def _entries(source) -> list[_Entry]:
    """List the source's items; file sources without decoding anything."""
    if hasattr(source, "entries"):
        return [_Entry(e.key, tuple(e.labels), e.split, path=e.path) for e in source.entries]
    return [_Entry(it.key, tuple(it.labels), it.split, item=it) for it in source]


def _assign_splits(entries: list[_Entry], seed: int) -> str:
    """Use the data set's own splits when complete, else a seeded stratified split. Returns how."""
    own = [SPLIT_ALIASES.get(str(e.split).strip().lower()) if e.split else None for e in entries]
    if all(own) and {"train", "test"} <= set(own):
        for e, s in zip(entries, own):
            e.split = s
        return "the data set's own"
    for e, s in zip(entries, stratified_split([e.labels[0] for e in entries], seed)):
        e.split = s
    return f"a seeded stratified split (seed {seed}; 70/15/15 %)"


def _cap(entries: list[_Entry], cap: int | None, seed: int) -> list[_Entry]:
    """At most `cap` clips per (first label, split), chosen with a seeded shuffle; order kept."""
    if cap is None:
        return entries
    groups: dict[tuple[str, str], list[int]] = {}
    for i, e in enumerate(entries):
        groups.setdefault((e.labels[0], e.split), []).append(i)
    keep = set()
    for (label, split), idx in groups.items():
        rng = np.random.default_rng([seed, stream_id(label), stream_id(split)])
        keep.update(np.asarray(idx)[rng.permutation(len(idx))[:cap]].tolist())
    return [e for i, e in enumerate(entries) if i in keep]


def _hear_entries(spec, fs: int, test_fold: int | None) -> tuple[list[_Entry], HearTask, list[str]]:
    """A HEAR task folder's clips as entries with their splits; (entries, HearTask, notes)."""
    hear = read_hear_task(spec, test_fold)
    rate, files = audio_files(hear, fs)
    notes = [
        f"HEAR task {hear.name}: splits: {hear.splits_text}; audio read from {rate}/"
        + (f" and resampled to {fs} Hz" if rate != fs else "")
    ]
    if hear.nat_hear is not None:
        recipe = hear.nat_hear
        bank_hash = str(recipe.get("bank", {}).get("sha256", ""))[:12]
        notes.append(
            f"HEAR task {hear.name} is a naturalistic copy (nat-hear: SNR {recipe.get('snr_db')}, "
            f"RT60 {recipe.get('rt60_s')}, bank sha256 {bank_hash}..., seed {recipe.get('seed')})"
        )
    entries = [
        _Entry(f"{split}/{file}", hear.labels[split][file], hear.roles[split], path=str(path))
        for split, paths in files.items()
        for file, path in paths
    ]
    return entries, hear, notes


def _all_two_channel(entries: list[_Entry]) -> bool:
    """Whether every file is two-channel (headers only)."""
    import soundfile as sf

    try:
        return bool(entries) and all(sf.info(e.path).channels == 2 for e in entries if e.path)
    except Exception:  # noqa: BLE001 - an unreadable file is reported when it is decoded
        return False


def load_task(
    spec: str | Path,
    fs: int,
    clip_seconds: float = 4.0,
    seed: int = 0,
    max_clips_per_class: int | None = None,
    level_db: float = -14.0,
    test_fold: int | None = None,
) -> Task:
    """Read a labelled data set into dry clips per split (see the module docstring).

    test_fold: the test fold of a k-fold HEAR task (default: the last).
    """
    if max_clips_per_class is not None and max_clips_per_class < 1:
        raise InputError("--max-clips-per-class must be at least 1")
    hear, hear_notes = None, []
    if is_hear_task(spec):
        entries, hear, hear_notes = _hear_entries(spec, fs, test_fold)
    else:
        entries = _entries(open_source(spec))
    unlabelled = sum(1 for e in entries if not e.labels)
    entries = [e for e in entries if e.labels]
    classes = hear.classes if hear is not None else sorted({c for e in entries for c in e.labels})
    if len(classes) < 2:
        which = f" ('{classes[0]}')" if classes else ""
        raise InputError(
            f"task {spec} has {len(classes)} class{which}; a probe needs at least two "
            "(a folder needs one subfolder per class, a manifest a 'label' column)"
        )
    split_source = hear.splits_text if hear is not None else _assign_splits(entries, seed)
    entries = _cap(entries, max_clips_per_class, seed)

    cfg = ClipConfig(fs=fs, clip_seconds=clip_seconds, level_db=level_db, pad="loop", crop_random=False)
    binaural = hear is not None and _all_two_channel(entries)
    clips = {s: [] for s in SPLITS}
    labels = {s: [] for s in SPLITS}
    keys = {s: [] for s in SPLITS}
    skipped = 0
    for e in entries:
        item = e.item
        if item is None:
            audio, file_fs, status = decode_audio(e.path, e.path)
            if status != "read":
                log.warning("skipping %s audio: %s", status, e.path)
                skipped += 1
                continue
            item = AudioItem(audio, file_fs, e.key, e.labels, e.split)
        clip = prepare_clip(item, cfg, mono=not binaural)
        if binaural and clip.shape[0] != 2:
            clip = np.repeat(clip[:1], 2, axis=0)
        clips[e.split].append(clip)
        labels[e.split].append(e.labels)
        keys[e.split].append(e.key)
    n = cfg.n_samples
    empty = (0, 2, n) if binaural else (0, n)
    arrays = {s: np.stack(c) if c else np.zeros(empty, np.float32) for s, c in clips.items()}
    multilabel = hear.multilabel if hear is not None else any(len(e.labels) > 1 for e in entries)
    name = "builtin" if str(spec) == "builtin" else Path(str(spec)).name
    task = Task(
        name,
        classes,
        multilabel,
        arrays,
        labels,
        keys,
        split_source,
        skipped + unlabelled,
        hear=hear.metadata if hear is not None else None,
    )
    task.notes += hear_notes
    if binaural:
        task.notes.append(
            "the task's audio is two-channel: clean and SNR conditions use both of its ears as "
            "they are; RT60 conditions convolve the mean of the two ears with the bank's BRIRs"
        )
    if unlabelled:
        task.notes.append(f"{unlabelled} unlabelled clip(s) of the task were left out")
    if skipped:
        task.notes.append(f"{skipped} unreadable clip(s) of the task were skipped")
    if not len(arrays["test"]):
        raise InputError(f"task {spec} has no test clips")
    train_classes = {lab[0] for lab in labels["train"]} if not multilabel else set(classes)
    if len(arrays["train"]) < 2 or len(train_classes) < 2:
        raise InputError(
            f"task {spec} has too few training clips ({len(arrays['train'])}, "
            f"{len(train_classes)} class(es)) to fit a probe"
        )
    return task
