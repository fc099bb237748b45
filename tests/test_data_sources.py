"""Audio sources: folders, manifests, WebDataset shards; worker/rank splitting; bad-file handling."""

from __future__ import annotations

import io
import json
import struct

import numpy as np
import pytest
import soundfile as sf
import torch
import webdataset as wds

from wavjepa_nat.data.sources import (
    AudioItem,
    CorpusSource,
    FolderSource,
    ManifestSource,
    WebDatasetSource,
    open_source,
)
from wavjepa_nat.errors import InputError

FS = 16000


def _tone(i: int, seconds: float = 0.25, fs: int = FS, channels: int = 1) -> np.ndarray:
    """Clip i: a sine at 200 + 40 i Hz, so that the content identifies the clip."""
    t = np.arange(int(seconds * fs)) / fs
    x = 0.3 * np.sin(2 * np.pi * (200 + 40 * i) * t)
    return np.stack([x] * channels, axis=1).astype(np.float32) if channels > 1 else x.astype(np.float32)


def _freq(item: AudioItem) -> float:
    spec = np.abs(np.fft.rfft(item.audio[0]))
    return float(np.fft.rfftfreq(item.audio.shape[-1], 1 / item.fs)[np.argmax(spec)])


def _flac_bytes(x: np.ndarray, fs: int = FS) -> bytes:
    buf = io.BytesIO()
    sf.write(buf, x, fs, format="FLAC", subtype="PCM_16")
    return buf.getvalue()


@pytest.fixture
def labelled_folder(tmp_path):
    """3 classes x 3 clips, mixed formats, plus a non-audio file and a nested class folder."""
    root = tmp_path / "task"
    i = 0
    for label in ("dog", "rain", "siren"):
        (root / label).mkdir(parents=True)
        for j, ext in enumerate(("wav", "flac", "ogg")):
            sf.write(root / label / f"{label}{j}.{ext}", _tone(i), FS)
            i += 1
    (root / "readme.txt").write_text("not audio")
    return root


def _identity(x):
    return x


def _loader_items(source, workers: int = 2) -> list[AudioItem]:
    loader = torch.utils.data.DataLoader(source, batch_size=None, num_workers=workers, collate_fn=_identity)
    return list(loader)


# ---------------------------------------------------------------- folders


def test_folder_source_reads_every_file_once_with_parent_labels(labelled_folder):
    src = FolderSource(labelled_folder)
    items = list(src)
    assert len(items) == 9 == len(src)
    assert sorted(i.key for i in items) == sorted({i.key for i in items})
    for item in items:
        assert item.audio.dtype == np.float32 and item.audio.shape == (1, FS // 4) and item.fs == FS
        assert item.labels == (item.key.split("/")[0],)
    assert src.labels == ["dog", "rain", "siren"]
    assert sorted(round(_freq(i)) for i in items) == [200 + 40 * k for k in range(9)]
    assert src.stats["read"] == 9


def test_folder_source_options(labelled_folder):
    assert len(FolderSource(labelled_folder, extensions=("flac",))) == 3
    assert all(i.labels == () for i in FolderSource(labelled_folder, labels_from=None))
    with pytest.raises(InputError, match="no audio files"):
        FolderSource(labelled_folder, recursive=False)
    with pytest.raises(InputError, match="not found"):
        FolderSource(labelled_folder / "missing")


def test_folder_shuffle_is_seeded_and_changes_per_epoch(labelled_folder):
    a = FolderSource(labelled_folder, shuffle=True, seed=3)
    b = FolderSource(labelled_folder, shuffle=True, seed=3)
    first_a, first_b = [i.key for i in a], [i.key for i in b]
    assert first_a == first_b
    second_a = [i.key for i in a]  # next epoch: a new order, same items
    assert second_a != first_a and sorted(second_a) == sorted(first_a)
    b.set_epoch(1)
    assert [i.key for i in b] == second_a


def test_two_dataloader_workers_see_each_file_exactly_once(labelled_folder):
    src = FolderSource(labelled_folder, shuffle=True, seed=1)
    keys = [i.key for i in _loader_items(src, workers=2)]
    assert sorted(keys) == sorted(i.key for i in FolderSource(labelled_folder))


def test_ddp_ranks_split_files(labelled_folder, monkeypatch):
    seen = []
    for rank in range(2):
        monkeypatch.setenv("RANK", str(rank))
        monkeypatch.setenv("WORLD_SIZE", "2")
        seen.append([i.key for i in FolderSource(labelled_folder, shuffle=True, seed=5)])
    assert not set(seen[0]) & set(seen[1])
    assert len(seen[0]) + len(seen[1]) == 9


# ---------------------------------------------------------------- manifests


def test_manifest_csv_and_jsonl(labelled_folder, tmp_path):
    files = sorted(labelled_folder.rglob("*.wav"))
    csv_path = labelled_folder / "list.csv"
    lines = ["path,label,split", f"{files[0].relative_to(labelled_folder)},dog;barking,train"]
    lines += [
        f"{files[1]},rain,test",
        f"{files[2].relative_to(labelled_folder)},,",
    ]  # absolute path, no label
    csv_path.write_text("\n".join(lines) + "\n")
    items = {i.key: i for i in ManifestSource(csv_path)}
    assert len(items) == 3
    first = items[str(files[0].relative_to(labelled_folder))]
    assert first.labels == ("dog", "barking") and first.split == "train"
    assert items[str(files[1])].split == "test"
    assert items[str(files[2].relative_to(labelled_folder))].labels == ()
    assert [i.split for i in ManifestSource(csv_path, splits="test")] == ["test"]

    jsonl = tmp_path / "m.jsonl"
    rows = [
        {"path": str(files[0]), "label": ["a", "b"], "split": "val"},
        {"path": str(files[1]), "labels": '["c"]'},
        {"path": str(files[2]), "label": "d"},
    ]
    jsonl.write_text("\n".join(json.dumps(r) for r in rows) + "\n")
    got = [(i.labels, i.split) for i in ManifestSource(jsonl)]
    assert got == [(("a", "b"), "val"), (("c",), None), (("d",), None)]


def test_manifest_errors(tmp_path):
    bad = tmp_path / "bad.csv"
    bad.write_text("file,label\nx.wav,a\n")
    with pytest.raises(InputError, match="path"):
        ManifestSource(bad)
    empty = tmp_path / "empty.csv"
    empty.write_text("path,label\n")
    with pytest.raises(InputError, match="no audio files"):
        ManifestSource(empty)
    with pytest.raises(InputError):
        ManifestSource(tmp_path / "missing.csv")


def test_manifest_missing_file_is_skipped_not_raised(tmp_path):
    sf.write(tmp_path / "ok.wav", _tone(0), FS)
    (tmp_path / "m.csv").write_text("path\nok.wav\ngone.wav\n")
    src = ManifestSource(tmp_path / "m.csv")
    assert [i.key for i in src] == ["ok.wav"]
    assert src.stats["skipped_unreadable"] == 1


# ---------------------------------------------------------------- WebDataset shards (AudioSet layout)


def _write_shards(folder, n_shards=3, per_shard=4, label_key="label"):
    keys = {}
    for s in range(n_shards):
        with wds.TarWriter(str(folder / f"unbal_train{s:03d}.tar")) as sink:
            for j in range(per_shard):
                i = s * per_shard + j
                key = f"Y{i:05d}"
                meta = {label_key: [f"/m/{i % 3}", "/m/x"], "video_id": key}
                sink.write({"__key__": key, "flac": _flac_bytes(_tone(i)), "json": json.dumps(meta).encode()})
                keys[key] = 200 + 40 * i
    return keys


def test_webdataset_brace_pattern_every_clip_once(tmp_path):
    keys = _write_shards(tmp_path)
    src = WebDatasetSource(str(tmp_path / "unbal_train{000..002}.tar"), seed=0)
    items = list(src)
    assert sorted(i.key for i in items) == sorted(keys)
    for item in items:
        assert round(_freq(item)) == keys[item.key]  # the audio belongs to its key
        assert item.labels == (f"/m/{int(item.key[1:]) % 3}", "/m/x") and item.audio.dtype == np.float32
    assert src.stats["read"] == 12


@pytest.mark.parametrize("label_key", ["labels", "human_labels"])
def test_webdataset_label_key_variants(tmp_path, label_key):
    _write_shards(tmp_path, n_shards=1, per_shard=2, label_key=label_key)
    assert all(i.labels[-1] == "/m/x" for i in WebDatasetSource(str(tmp_path / "unbal_train000.tar")))


def test_webdataset_workers_and_ranks_split_shards(tmp_path, monkeypatch):
    keys = _write_shards(tmp_path, n_shards=4, per_shard=3)
    pattern = str(tmp_path / "unbal_train{000..003}.tar")
    got = [i.key for i in _loader_items(WebDatasetSource(pattern, seed=2, shuffle_buffer=5), workers=2)]
    assert sorted(got) == sorted(keys)
    per_rank = []
    for rank in range(2):
        monkeypatch.setenv("RANK", str(rank))
        monkeypatch.setenv("WORLD_SIZE", "2")
        per_rank.append({i.key for i in WebDatasetSource(pattern, seed=2)})
    assert not per_rank[0] & per_rank[1] and per_rank[0] | per_rank[1] == set(keys)


def test_webdataset_shard_order_is_shuffled_per_epoch(tmp_path):
    _write_shards(tmp_path, n_shards=6, per_shard=1)
    src = WebDatasetSource(str(tmp_path / "unbal_train{000..005}.tar"), seed=0)
    orders = [tuple(i.key for i in src) for _ in range(4)]
    assert len(set(orders)) > 1 and all(sorted(o) == sorted(orders[0]) for o in orders)
    plain = WebDatasetSource(str(tmp_path / "unbal_train{000..005}.tar"), shuffle_shards=False)
    assert [i.key for i in plain] == sorted(orders[0])


def test_webdataset_bad_members_are_skipped(tmp_path):
    with wds.TarWriter(str(tmp_path / "s000.tar")) as sink:
        sink.write({"__key__": "good", "flac": _flac_bytes(_tone(1)), "json": b'{"label": ["a"]}'})
        sink.write({"__key__": "junk", "flac": np.random.default_rng(0).bytes(3000), "json": b"{}"})
        cut = _flac_bytes(_tone(2))
        sink.write({"__key__": "cut", "flac": cut[: len(cut) // 2], "json": b"{}"})
        sink.write({"__key__": "zero", "flac": _flac_bytes(np.zeros(4000, np.float32)), "json": b"{}"})
        sink.write({"__key__": "nolabel", "flac": _flac_bytes(_tone(3)), "json": b"not json"})
    src = WebDatasetSource(str(tmp_path / "s000.tar"))
    items = list(src)
    assert [i.key for i in items] == ["good", "nolabel"] and items[1].labels == ()
    assert src.stats["read"] == 2 and src.stats["skipped_silent"] == 1
    assert src.stats["skipped_unreadable"] == 1 and src.stats["skipped_truncated"] == 1


def test_webdataset_missing_shards(tmp_path):
    with pytest.raises(InputError, match="not found"):
        WebDatasetSource(str(tmp_path / "unbal_train{000..002}.tar"))


# ---------------------------------------------------------------- robust decoding


def test_bad_files_are_skipped_counted_and_never_nan(tmp_path, caplog):
    sf.write(tmp_path / "good1.wav", _tone(0), FS)
    sf.write(tmp_path / "good2.flac", _tone(1, channels=2), FS)
    (tmp_path / "empty.wav").write_bytes(b"")
    sf.write(tmp_path / "noframes.wav", np.zeros(0, np.float32), FS)
    (tmp_path / "random.wav").write_bytes(np.random.default_rng(0).bytes(5000))
    full = _flac_bytes(_tone(2, seconds=1.0))
    (tmp_path / "cut.flac").write_bytes(full[: len(full) // 2])
    buf = io.BytesIO()
    sf.write(buf, _tone(3, seconds=1.0), FS, format="WAV", subtype="PCM_16")
    wav = buf.getvalue()
    (tmp_path / "cut_data.wav").write_bytes(wav[: len(wav) // 2])  # header says 1 s, half is there
    (tmp_path / "cut_header.wav").write_bytes(wav[:30])
    sf.write(tmp_path / "zeros.wav", np.zeros(FS, np.float32), FS)
    sf.write(tmp_path / "dither.wav", np.full(FS, 1e-8, np.float32), FS, subtype="FLOAT")
    nan = _tone(4)
    nan[100] = np.nan
    sf.write(tmp_path / "nan.wav", nan, FS, subtype="FLOAT")

    src = FolderSource(tmp_path)
    with caplog.at_level("WARNING"):
        items = list(src)
    assert sorted(i.key for i in items) == ["good1", "good2"]
    assert all(np.isfinite(i.audio).all() for i in items)
    assert items[[i.key for i in items].index("good2")].audio.shape == (2, FS // 4)
    assert src.stats == {
        "read": 2,
        "skipped_unreadable": 3,  # random bytes, header cut short, NaN samples
        "skipped_empty": 2,
        "skipped_truncated": 2,  # flac cut mid-stream, wav whose data chunk is shorter than declared
        "skipped_silent": 2,
    }
    assert sum("skipping" in r.message for r in caplog.records) == 9


def test_truncation_check_parses_the_riff_header():
    """Independent check of the header logic: a hand-built RIFF with a declared data size."""
    from wavjepa_nat.audio import wav_truncated as _wav_truncated

    fmt = struct.pack("<4sIHHIIHH", b"fmt ", 16, 1, 1, FS, 2 * FS, 2, 16)
    head = b"RIFF" + struct.pack("<I", 36 + 400) + b"WAVE" + fmt + b"data" + struct.pack("<I", 400)
    assert not _wav_truncated(head + bytes(400), len(head) + 400)
    assert _wav_truncated(head + bytes(200), len(head) + 200)


# ---------------------------------------------------------------- open_source


def test_open_source_dispatch(labelled_folder, tmp_path):
    assert isinstance(open_source(str(labelled_folder)), FolderSource)
    (labelled_folder / "manifest.csv").write_text("path,label,split\ndog/dog0.wav,dog,train\n")
    assert isinstance(open_source(labelled_folder), ManifestSource)  # a folder with a manifest uses it
    assert isinstance(open_source(labelled_folder / "manifest.csv"), ManifestSource)
    assert isinstance(CorpusSource(labelled_folder, splits="train"), ManifestSource)
    shards = tmp_path / "shards"
    shards.mkdir()
    _write_shards(shards, n_shards=2, per_shard=1)
    for spec in (shards / "unbal_train000.tar", f"{shards}/unbal_train{{000..001}}.tar", f"{shards}/*.tar"):
        assert isinstance(open_source(str(spec)), WebDatasetSource)
    assert len(list(open_source(f"{shards}/*.tar", shuffle=True, seed=1))) == 2
    for missing in (tmp_path / "nope", tmp_path / "nope.csv", f"{tmp_path}/none*.tar"):
        with pytest.raises(InputError):
            open_source(str(missing))
    (tmp_path / "silent").mkdir()
    with pytest.raises(InputError, match="no audio files found"):
        open_source(str(tmp_path / "silent"))


def test_repeat_streams_epoch_after_epoch(labelled_folder):
    import itertools

    keys = [i.key for i in itertools.islice(FolderSource(labelled_folder, shuffle=True, repeat=True), 27)]
    assert all(keys.count(k) == 3 for k in set(keys)) and len(set(keys)) == 9


def test_a_class_folders_nested_folders_belong_to_it(tmp_path):
    """dog/puppies/1.wav is a dog: a nested folder is not a class of its own."""
    for rel in ("dog/0.wav", "dog/puppies/1.wav", "cat/2.wav", "cat/a/b/3.wav"):
        (tmp_path / rel).parent.mkdir(parents=True, exist_ok=True)
        sf.write(tmp_path / rel, np.zeros(800), 8000)
    source = FolderSource(tmp_path)
    assert source.labels == ["cat", "dog"]
    assert {e.key: e.labels for e in source.entries}["dog/puppies/1"] == ("dog",)


@pytest.mark.parametrize("suffix", [".csv", ".jsonl"])
def test_a_manifest_with_a_byte_order_mark_is_read(tmp_path, suffix):
    """Spreadsheets save CSV as UTF-8 with a byte-order mark; the 'path' column must still be found."""
    sf.write(tmp_path / "a.wav", np.zeros(800), 8000)
    text = "path,label\na.wav,dog\n" if suffix == ".csv" else '{"path": "a.wav", "label": "dog"}\n'
    manifest = tmp_path / f"m{suffix}"
    manifest.write_bytes(b"\xef\xbb\xbf" + text.encode())
    source = ManifestSource(manifest)
    assert [(e.key, e.labels) for e in source.entries] == [("a.wav", ("dog",))]
