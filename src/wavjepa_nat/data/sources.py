"""Audio sources: iterables of `AudioItem` from folders, manifests, WebDataset shards or the built-in corpus.

Every source is a torch `IterableDataset` and splits its work across DDP ranks (env RANK/WORLD_SIZE or
an initialised torch.distributed) and DataLoader workers, so that all processes together see each item
exactly once per epoch. File sources split the (identically ordered) file list; the WebDataset source
splits the shard list, as webdataset's `split_by_node` / `split_by_worker` do.

Decoding never raises during iteration: unreadable, empty, truncated, non-finite and silent files are
skipped, counted in `source.stats` and logged. The counts live in the process that iterates, i.e. each
DataLoader worker keeps its own.

Items come at their native sample rate and channel count; `data.clips.prepare_clip` makes model input.
"""

from __future__ import annotations

import csv
import glob
import io
import json
import logging
import os
import random
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import soundfile as sf
import torch.utils.data
import webdataset as wds
from webdataset.shardlists import expand_urls
from webdataset.utils import pytorch_worker_info

from wavjepa_nat.audio import AUDIO_EXTENSIONS, wav_truncated
from wavjepa_nat.errors import InputError

log = logging.getLogger(__name__)

SILENCE_PEAK = 1e-6  # a file whose peak is below this is treated as silent (digital zero or dither only)
# Keys under which AudioSet-style WebDataset json records keep their labels, most specific first.
LABEL_KEYS = ("labels", "label", "human_labels", "class_labels", "tags", "categories", "text")


@dataclass
class AudioItem:
    audio: np.ndarray  # float32, shape (channels, samples), native sample rate
    fs: int
    key: str
    labels: tuple[str, ...] = ()
    split: str | None = None


# ---------------------------------------------------------------- decoding


def decode_audio(data: str | Path | bytes, name: str = "") -> tuple[np.ndarray | None, int, str]:
    """Decode a file path or encoded bytes to float32 (channels, samples).

    Returns (audio, fs, status) with status one of: read, unreadable, empty, truncated, silent.
    audio is None unless status == "read".
    """
    try:
        if isinstance(data, bytes):
            head, size, handle = data[:4096], len(data), io.BytesIO(data)
        else:
            size = os.path.getsize(data)
            with open(data, "rb") as f:
                head = f.read(4096)
            handle = str(data)
        if size == 0:
            return None, 0, "empty"
        if wav_truncated(head, size):
            return None, 0, "truncated"
        f = sf.SoundFile(handle)
    # libsndfile, OS and format errors alike: a bad file must not stop training.
    except Exception as err:  # noqa: BLE001
        log.debug("cannot open %s: %s", name or data, err)
        return None, 0, "unreadable"
    with f:
        declared, fs = f.frames, f.samplerate
        try:
            samples = f.read(dtype="float32", always_2d=True)
        # The header was fine but the stream breaks off (e.g. a cut FLAC).
        except Exception as err:  # noqa: BLE001
            log.debug("cannot decode %s: %s", name or data, err)
            return None, 0, "truncated"
    if 0 < declared < (1 << 62) and samples.shape[0] < declared:
        return None, 0, "truncated"
    if samples.shape[0] == 0:
        return None, 0, "empty"
    if not np.isfinite(samples).all():
        return None, 0, "unreadable"
    if float(np.max(np.abs(samples))) < SILENCE_PEAK:
        return None, 0, "silent"
    return np.ascontiguousarray(samples.T), int(fs), "read"


def parse_labels(value: Any) -> tuple[str, ...]:
    """A label field -> tuple of strings. Accepts a list, a JSON list string, or 'a;b;c'."""
    if value is None:
        return ()
    if isinstance(value, (list, tuple)):
        return tuple(str(v).strip() for v in value if str(v).strip())
    if isinstance(value, (int, float)):
        return (str(value),)
    text = str(value).strip()
    if text.startswith("["):
        try:
            return parse_labels(json.loads(text))
        except json.JSONDecodeError:
            pass
    return tuple(t.strip() for t in text.split(";") if t.strip())


@dataclass(frozen=True)
class ProcessSlot:
    """Where this process stands among all DDP ranks x DataLoader workers (as webdataset splits shards)."""

    rank: int
    world_size: int
    worker: int
    num_workers: int

    @property
    def index(self) -> int:
        return self.rank * self.num_workers + self.worker

    @property
    def count(self) -> int:
        return self.world_size * self.num_workers


def process_slot() -> ProcessSlot:
    """This process's slot: env RANK/WORLD_SIZE or torch.distributed, and the DataLoader worker info."""
    return ProcessSlot(*pytorch_worker_info())


# ---------------------------------------------------------------- the common base


class AudioSource(torch.utils.data.IterableDataset):
    """Base: epoch handling, repetition, skip accounting. Subclasses implement `_iter_epoch(epoch)`."""

    def __init__(self, shuffle: bool = False, seed: int = 0, repeat: bool = False):
        super().__init__()
        self.shuffle, self.seed, self.repeat = shuffle, int(seed), repeat
        self.epoch = 0
        self.stats = {
            "read": 0,
            "skipped_unreadable": 0,
            "skipped_empty": 0,
            "skipped_truncated": 0,
            "skipped_silent": 0,
        }

    def set_epoch(self, epoch: int) -> None:
        """Pick the shuffle order of the next pass (the same in every rank and worker)."""
        self.epoch = int(epoch)

    def _rng(self, epoch: int) -> random.Random:
        return random.Random(self.seed * 1_000_003 + epoch)

    def _iter_epoch(self, epoch: int) -> Iterator[AudioItem]:
        raise TypeError(f"{type(self).__name__} must define _iter_epoch")

    def __iter__(self) -> Iterator[AudioItem]:
        while True:
            # Every worker holds its own copy of `epoch`, advanced identically, so orders agree.
            epoch, self.epoch = self.epoch, self.epoch + 1
            produced = 0
            for item in self._iter_epoch(epoch):
                produced += 1
                yield item
            if not self.repeat:
                return
            if produced == 0:
                log.warning("%s: this worker's share produced no audio; stopping instead of looping", self)
                return

    def _decode(self, data: str | Path | bytes, name: str) -> tuple[np.ndarray, int] | None:
        audio, fs, status = decode_audio(data, name)
        if status == "read":
            self.stats["read"] += 1
            return audio, fs
        self.stats[f"skipped_{status}"] += 1
        log.warning("skipping %s audio: %s", status, name)
        return None


# ---------------------------------------------------------------- file lists: folders and manifests


@dataclass
class _FileEntry:
    path: str
    key: str
    labels: tuple[str, ...] = ()
    split: str | None = None


class FileListSource(AudioSource):
    """A source with random access: `item(i)` decodes the i-th listed file (step-indexed training uses it)."""

    entries: list[_FileEntry]

    def item(self, index: int) -> AudioItem | None:
        """The decoded file at `index` of the list, or None when it is unreadable (counted in stats)."""
        entry = self.entries[index]
        decoded = self._decode(entry.path, entry.path)
        if decoded is None:
            return None
        return AudioItem(decoded[0], decoded[1], entry.key, entry.labels, entry.split)

    def _iter_epoch(self, epoch: int) -> Iterator[AudioItem]:
        order = list(range(len(self.entries)))
        if self.shuffle:
            self._rng(epoch).shuffle(order)
        slot = process_slot()
        for i in order[slot.index :: slot.count]:
            item = self.item(i)
            if item is not None:
                yield item

    def __len__(self) -> int:
        """Files listed (before skipping bad ones, over all workers)."""
        return len(self.entries)

    @property
    def labels(self) -> list[str]:
        """Sorted distinct labels of the listed files."""
        return sorted({label for e in self.entries for label in e.labels})


class FolderSource(FileListSource):
    """Every audio file under `root`. With labels_from="parent", the label is the file's folder name,
    so a folder holding one subfolder per class is a labelled task (a class's nested folders included)."""

    def __init__(
        self,
        root: str | Path,
        extensions: Sequence[str] = AUDIO_EXTENSIONS,
        recursive: bool = True,
        labels_from: str | None = "parent",
        shuffle: bool = False,
        seed: int = 0,
        repeat: bool = False,
    ):
        super().__init__(shuffle, seed, repeat)
        if labels_from not in ("parent", None):
            raise InputError(f"labels_from must be 'parent' or None, not {labels_from!r}")
        self.root = Path(root)
        if not self.root.is_dir():
            raise InputError(f"audio folder not found: {self.root}")
        exts = {e.lower() if e.startswith(".") else "." + e.lower() for e in extensions}
        walk = self.root.rglob("*") if recursive else self.root.glob("*")
        paths = sorted(p for p in walk if p.suffix.lower() in exts and p.is_file())
        if not paths:
            raise InputError(f"no audio files found under {self.root} (extensions {', '.join(sorted(exts))})")
        self.entries = []
        for p in paths:
            rel = p.relative_to(self.root)
            # A class's nested folders belong to it: dog/puppies/1.wav is a "dog" (not a class "puppies").
            labels = (rel.parts[0],) if labels_from == "parent" and len(rel.parts) > 1 else ()
            self.entries.append(_FileEntry(str(p), rel.with_suffix("").as_posix(), labels))

    def __repr__(self) -> str:
        return f"FolderSource({str(self.root)!r}, {len(self.entries)} files)"


class ManifestSource(FileListSource):
    """A CSV (header row) or JSONL manifest with `path` (relative to the manifest's folder, or absolute),
    optional `label`/`labels` (';'-separated or a JSON list) and optional `split`.

    `splits` keeps only the rows of the given split name(s).
    """

    def __init__(
        self,
        path: str | Path,
        splits: str | Sequence[str] | None = None,
        shuffle: bool = False,
        seed: int = 0,
        repeat: bool = False,
    ):
        super().__init__(shuffle, seed, repeat)
        self.path = Path(path)
        if not self.path.is_file():
            raise InputError(f"manifest not found: {self.path}")
        rows = self._read_rows(self.path)
        keep = {splits} if isinstance(splits, str) else (set(splits) if splits is not None else None)
        base = self.path.parent
        self.entries = []
        for n, row in enumerate(rows, start=2 if self.path.suffix.lower() == ".csv" else 1):
            rel = str(row.get("path") or "").strip()
            if not rel:
                raise InputError(f"{self.path}: line {n} has no 'path'")
            split = str(row.get("split") or "").strip() or None
            if keep is not None and split not in keep:
                continue
            labels = parse_labels(row.get("label", row.get("labels")))
            full = Path(rel) if os.path.isabs(rel) else base / rel
            self.entries.append(_FileEntry(str(full), rel, labels, split))
        if not self.entries:
            which = f" in split(s) {sorted(keep)}" if keep is not None else ""
            raise InputError(f"no audio files found under {self.path}{which}")

    @staticmethod
    def _read_rows(path: Path) -> list[dict[str, Any]]:
        suffix = path.suffix.lower()
        if suffix == ".csv":
            with open(path, newline="", encoding="utf-8-sig") as f:  # -sig: a spreadsheet's byte-order mark
                reader = csv.DictReader(f)
                if not reader.fieldnames or "path" not in reader.fieldnames:
                    raise InputError(f"{path}: a manifest CSV needs a header row with a 'path' column")
                return list(reader)
        if suffix in (".jsonl", ".ndjson"):
            rows = []
            with open(path, encoding="utf-8-sig") as f:
                for n, line in enumerate(f, start=1):
                    if line.strip():
                        try:
                            rows.append(json.loads(line))
                        except json.JSONDecodeError as err:
                            raise InputError(f"{path}: line {n} is not JSON ({err.msg})") from None
            return rows
        raise InputError(f"{path}: a manifest must be .csv or .jsonl")

    def __repr__(self) -> str:
        return f"ManifestSource({str(self.path)!r}, {len(self.entries)} files)"


class CorpusSource(ManifestSource):
    """A corpus folder written by `data.corpus.make_corpus` (its manifest.csv carries labels and splits)."""

    def __init__(self, root: str | Path, splits: str | Sequence[str] | None = None, **kw):
        self.root = Path(root)
        if not (self.root / "manifest.csv").is_file():
            raise InputError(
                f"{self.root} is not a corpus folder (no manifest.csv); see `wavjepa-nat make-corpus`"
            )
        super().__init__(self.root / "manifest.csv", splits=splits, **kw)


# ---------------------------------------------------------------- WebDataset shards


def _labels_from_json(record: Any) -> tuple[str, ...]:
    if not isinstance(record, dict):
        return parse_labels(record)
    for key in LABEL_KEYS:
        if key in record:
            return parse_labels(record[key])
    for nested in ("original_data", "meta", "metadata"):  # LAION-style wrappers
        if isinstance(record.get(nested), dict):
            found = _labels_from_json(record[nested])
            if found:
                return found
    return ()


class WebDatasetSource(AudioSource):
    """Tar shards in the AudioSet mirror layout (`unbal_train{000..869}.tar`, one audio file and one .json
    per clip). `urls`: a brace pattern, a list of paths/URLs, or 'a.tar::b.tar'.

    Shards are shuffled with the same seed in every process (per epoch), then split by node and by
    worker, so many GPUs stream disjoint parts of the same shard list. `shuffle_buffer` > 0 also mixes
    clips across the shards a worker reads.
    """

    def __init__(
        self,
        urls: str | Sequence[str],
        shuffle_shards: bool = True,
        seed: int = 0,
        shuffle_buffer: int = 0,
        repeat: bool = False,
        shuffle: bool | None = None,
    ):
        # `shuffle` (the name every source shares, as used by open_source callers) overrides shuffle_shards.
        super().__init__(shuffle_shards if shuffle is None else shuffle, seed, repeat)
        self.urls = (
            expand_urls(urls) if isinstance(urls, str) else [u for url in urls for u in expand_urls(url)]
        )
        if not self.urls:
            raise InputError(f"no shards in {urls!r}")
        local = [u for u in self.urls if "://" not in u and not u.startswith("pipe:")]
        missing = [u for u in local if not os.path.isfile(u)]
        if missing:
            raise InputError(f"{len(missing)} of {len(self.urls)} shards not found, e.g. {missing[0]}")
        self.shuffle_buffer = int(shuffle_buffer)
        self.stats["skipped_shard_errors"] = 0

    def _tar_error(self, err: Exception) -> bool:
        self.stats["skipped_shard_errors"] += 1
        log.warning("skipping unreadable part of a shard: %s", err)
        return True  # go on with the next sample / shard

    def _iter_epoch(self, epoch: int) -> Iterator[AudioItem]:
        shards = list(self.urls)
        if self.shuffle:
            self._rng(epoch).shuffle(shards)
        src: Iterable[dict] = ({"url": u} for u in shards)
        src = wds.split_by_worker(wds.split_by_node(src))
        samples = wds.tarfile_to_samples(handler=self._tar_error)(src)  # pipeline stages are curried
        if self.shuffle_buffer > 0:
            rng = random.Random(self.seed * 1_000_003 + epoch * 7919 + process_slot().index)
            samples = wds.shuffle(self.shuffle_buffer, self.shuffle_buffer, rng=rng)(samples)
        for sample in samples:
            yield from self._item(sample)

    def _item(self, sample: dict) -> Iterator[AudioItem]:
        key = str(sample.get("__key__", ""))
        ext = next((e for e in ("flac", "wav", "ogg", "mp3") if e in sample), None)
        if ext is None:
            self.stats["skipped_unreadable"] += 1
            log.warning("skipping sample without audio: %s in %s", key, sample.get("__url__"))
            return
        decoded = self._decode(sample[ext], f"{key}.{ext} in {sample.get('__url__')}")
        if decoded is None:
            return
        labels: tuple[str, ...] = ()
        if "json" in sample:
            try:
                labels = _labels_from_json(json.loads(sample["json"]))
            except (json.JSONDecodeError, UnicodeDecodeError):
                log.warning("unreadable json for %s; no labels", key)
        yield AudioItem(decoded[0], decoded[1], key, labels)

    def __repr__(self) -> str:
        return f"WebDatasetSource({len(self.urls)} shards)"


# ---------------------------------------------------------------- picking a source from a string


def _check_shards(source: WebDatasetSource, spec: str | Path, tries: int) -> None:
    """Local shards hold audio: some of their first `tries` samples decode. An empty shard, one whose
    every member is corrupt, or a text file named .tar would otherwise stream nothing, and training wait
    for ever."""
    local = [u for u in source.urls if "://" not in u and not u.startswith("pipe:")]
    if len(local) < len(source.urls):
        return  # remote shards: not fetched twice; the stream's own empty-epoch check stops training
    probe = WebDatasetSource(local, shuffle=False)
    level = log.level
    log.setLevel(logging.ERROR)  # the probe's skipped samples are summed up in the one error below
    try:
        tried = 0
        for sample in wds.tarfile_to_samples(handler=probe._tar_error)({"url": u} for u in local):
            if next(probe._item(sample), None) is not None:
                return
            tried += 1
            if tried >= tries:
                break
    finally:
        log.setLevel(level)
    errors = probe.stats["skipped_shard_errors"]
    raise InputError(
        f"{spec}: no audio in {len(local)} shard(s): {tried} sample(s) tried, none decoded"
        + (f", {errors} unreadable part(s) (not a tar file, or truncated)" if errors else "")
        + f"; e.g. {local[0]}"
    )


def check_readable(source: AudioSource, spec: str | Path, tries: int = 32) -> None:
    """Before training: a file-list source can decode some of its files (up to `tries` of them, spread over
    the list, are attempted), so that a folder of unreadable audio stops now with one line naming a file;
    local WebDataset shards likewise (their first `tries` samples)."""
    if isinstance(source, WebDatasetSource):
        _check_shards(source, spec, tries)
        return
    if not isinstance(source, FileListSource) or len(source) == 0:
        return
    picks = sorted(set(np.linspace(0, len(source) - 1, min(tries, len(source))).round().astype(int)))
    problems = []
    for i in picks:
        entry = source.entries[i]
        _, _, status = decode_audio(entry.path, entry.path)
        if status == "read":
            return
        problems.append(f"{entry.path} ({status})")
    raise InputError(f"{spec}: none of {len(picks)} file(s) tried could be read as audio, e.g. {problems[0]}")


def open_source(spec: str | Path, cache_dir: str | Path | None = None, **kw) -> AudioSource:
    """Pick a source from a string:

    - "builtin": the built-in procedural corpus, made into `cache_dir` (default
      $WAVJEPA_NAT_CACHE or ~/.cache/wavjepa-nat) when absent;
    - a directory: its manifest.csv / manifest.jsonl when it has one (keeps labels and splits),
      else every audio file under it (labels from folder names);
    - a .csv / .jsonl file: a manifest;
    - a .tar path, a brace pattern ("shards/unbal_train{000..869}.tar"), a glob ("shards/*.tar"), or a URL:
      WebDataset shards.

    Keyword arguments go to the source's constructor.
    """
    text = str(spec).strip()
    if text == "builtin":
        from wavjepa_nat.data.corpus import default_corpus_dir, make_corpus

        root = Path(cache_dir) if cache_dir is not None else default_corpus_dir()
        make_corpus(root)
        return CorpusSource(root, **kw)
    path = Path(text).expanduser()
    if path.is_dir():
        for name in ("manifest.csv", "manifest.jsonl"):
            if (path / name).is_file():
                return ManifestSource(path / name, **kw)
        return FolderSource(path, **kw)
    if path.suffix.lower() in (".csv", ".jsonl", ".ndjson"):
        if not path.is_file():
            raise InputError(f"manifest not found: {path}")
        return ManifestSource(path, **kw)
    is_url = "://" in text or text.startswith("pipe:")
    if not is_url and any(c in text for c in "*?["):
        shards = sorted(glob.glob(os.path.expanduser(text)))
        if not shards:
            raise InputError(f"no files match {text}")
        return WebDatasetSource(shards, **kw)
    if text.endswith(".tar") or "{" in text or "::" in text or is_url:
        return WebDatasetSource(text, **kw)
    raise InputError(
        f"audio source not found: {text} (a folder, a .csv/.jsonl manifest, .tar shards or 'builtin')"
    )
