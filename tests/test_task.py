"""Labelled tasks for the sweep: folders, manifests with their own splits, seeded stratified splits, caps."""

import csv

import numpy as np
import pytest
import soundfile as sf

from wavjepa_nat.errors import InputError
from wavjepa_nat.robustness.tasks.task import load_task

FS = 16000


def _write(path, seed, seconds=0.5, fs=FS, channels=1):
    path.parent.mkdir(parents=True, exist_ok=True)
    x = np.random.default_rng(seed).standard_normal((round(seconds * fs), channels)) * 0.1
    sf.write(path, x, fs)


@pytest.fixture()
def folder(tmp_path):
    for c, label in enumerate(("cat", "dog", "owl")):
        for i in range(10):
            _write(tmp_path / "task" / label / f"{i}.wav", 100 * c + i)
    return tmp_path / "task"


def test_folder_task_gets_a_seeded_stratified_split(folder):
    task = load_task(folder, FS, clip_seconds=0.5, seed=0)
    assert task.classes == ["cat", "dog", "owl"] and not task.multilabel
    assert task.split_source.startswith("a seeded stratified split")
    for split, n in (("train", 6), ("val", 2), ("test", 2)):  # 10 clips: 15 % -> round(1.5) = 2 for val, test
        labels = [lab[0] for lab in task.labels[split]]
        assert sorted(set(labels)) == task.classes and all(labels.count(c) == n for c in task.classes)
    # the splits partition the clips; the same seed gives the same split, another seed another
    keys = [k for s in ("train", "val", "test") for k in task.keys[s]]
    assert len(keys) == len(set(keys)) == 30
    assert load_task(folder, FS, clip_seconds=0.5, seed=0).keys == task.keys
    assert load_task(folder, FS, clip_seconds=0.5, seed=1).keys["test"] != task.keys["test"]
    # clips: mono, clip_seconds long, at -14 dBFS RMS as training clips are
    x = task.clips["train"]
    assert x.shape == (18, FS // 2) and x.dtype == np.float32
    rms_db = 10 * np.log10(np.mean(x.astype(np.float64) ** 2, axis=1))
    np.testing.assert_allclose(rms_db, -14.0, atol=0.01)


def test_cap_and_resampling_and_loop_padding(folder):
    task = load_task(folder, 8000, clip_seconds=1.0, seed=0, max_clips_per_class=2)
    assert [len(task.keys[s]) for s in ("train", "val", "test")] == [6, 6, 6]  # 2 per class and split
    x = task.clips["test"][0]
    assert x.shape == (8000,)
    np.testing.assert_allclose(x[4000:], x[:4000], atol=1e-6)  # a 0.5 s file looped to fill 1 s


def test_manifest_with_own_splits_and_multiple_labels(tmp_path):
    rows = []
    for i in range(8):
        _write(tmp_path / f"a{i}.wav", i)
        split = "test" if i < 2 else ("valid" if i == 2 else "train")
        rows.append({"path": f"a{i}.wav", "label": "music;speech" if i % 2 else "speech", "split": split})
    with open(tmp_path / "m.csv", "w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=["path", "label", "split"])
        w.writeheader()
        w.writerows(rows)
    task = load_task(tmp_path / "m.csv", FS, clip_seconds=0.5)
    assert task.split_source == "the data set's own" and task.multilabel
    assert task.keys["test"] == ["a0.wav", "a1.wav"] and task.keys["val"] == ["a2.wav"]
    y = task.targets("test")
    np.testing.assert_array_equal(y, [[0, 1], [1, 1]])  # classes sorted: music, speech


def test_one_class_and_no_labels_are_input_errors(tmp_path):
    for i in range(3):
        _write(tmp_path / "one" / "dog" / f"{i}.wav", i)
        _write(tmp_path / "flat" / f"{i}.wav", i)
    with pytest.raises(InputError, match=r"1 class \('dog'\)"):
        load_task(tmp_path / "one", FS)
    with pytest.raises(InputError, match="0 class"):
        load_task(tmp_path / "flat", FS)
    with pytest.raises(InputError, match="not found"):
        load_task(tmp_path / "missing", FS)
