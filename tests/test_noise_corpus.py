"""data/noise_corpus.py: noise corpora in the WHAM!, DEMAND and MUSAN layouts, a manifest, and the hash
split; train and test noise never share a file (or, for DEMAND, a recording); segments at the bank's rate."""

from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from wavjepa_nat.data.noise_corpus import NoiseCorpus, split_of
from wavjepa_nat.errors import InputError

FS = 16000


def _write(path: Path, seconds: float = 0.5, fs: int = FS, channels: int = 1, seed: int = 0) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    x = 0.1 * np.random.default_rng(seed).standard_normal((int(seconds * fs), channels))
    sf.write(path, x, fs)


def _splits(root) -> dict[str, set[str]]:
    return {s: set(NoiseCorpus(root, s, FS).paths) for s in ("train", "val", "test")}


def test_wham_layout_splits_by_folder(tmp_path):
    root = tmp_path / "wham_noise"
    names = {"tr": 6, "cv": 2, "tt": 3}
    for folder, n in names.items():
        for i in range(n):
            _write(root / folder / f"{folder}_{i}.wav", channels=2, seed=i)
    splits = _splits(root)
    assert splits["train"] == {str(p) for p in (root / "tr").glob("*.wav")}
    assert splits["val"] == {str(p) for p in (root / "cv").glob("*.wav")}
    assert splits["test"] == {str(p) for p in (root / "tt").glob("*.wav")}
    # Two channels in, one point-source signal out, at unit RMS.
    x = NoiseCorpus(root, "train", FS).segment(0, 0.3, 4000)
    assert x.shape == (4000,) and np.mean(x.astype(np.float64) ** 2) == pytest.approx(1.0, rel=1e-5)


def test_demand_layout_keeps_a_recordings_channels_together(tmp_path):
    root = tmp_path / "demand"
    envs = [f"ENV{k}" for k in range(30)]
    for env in envs:
        for ch in range(1, 4):
            _write(root / env / f"ch{ch:02d}.wav", seconds=0.1)
    splits = _splits(root)
    assert not splits["train"] & splits["test"] and not splits["train"] & splits["val"]
    assert set().union(*splits.values()) == {str(p) for p in root.rglob("*.wav")}
    assert splits["train"] and splits["test"]
    for env in envs:  # every channel of an environment in one split
        chans = {str(root / env / f"ch{ch:02d}.wav") for ch in range(1, 4)}
        assert sum(chans <= s for s in splits.values()) == 1


def test_musan_layout_hash_split_is_disjoint_and_stable(tmp_path):
    root = tmp_path / "musan"
    for kind in ("free-sound", "sound-bible"):
        for i in range(25):
            _write(root / "noise" / kind / f"noise-{kind}-{i:04d}.wav", seconds=0.1)
    splits = _splits(root)
    assert all(splits.values())
    assert not splits["train"] & splits["test"] and not splits["val"] & splits["test"]
    assert sum(len(s) for s in splits.values()) == 50
    # Deterministic: a function of the path relative to the corpus, wherever the corpus lies.
    moved = tmp_path / "elsewhere" / "musan"
    moved.parent.mkdir()
    root.rename(moved)
    again = _splits(moved)
    assert {s: {Path(p).relative_to(moved) for p in v} for s, v in again.items()} == {
        s: {Path(p).relative_to(root) for p in v} for s, v in splits.items()
    }


def test_manifest_split_column(tmp_path):
    for i in range(4):
        _write(tmp_path / f"n{i}.wav", seconds=0.1)
    rows = ["path,split", "n0.wav,train", "n1.wav,train", "n2.wav,test", "n3.wav,valid"]
    (tmp_path / "noise.csv").write_text("\n".join(rows) + "\n")
    corpus = tmp_path / "noise.csv"
    assert [Path(p).name for p in NoiseCorpus(corpus, "train", FS).paths] == ["n0.wav", "n1.wav"]
    assert [Path(p).name for p in NoiseCorpus(corpus, "test", FS).paths] == ["n2.wav"]
    assert [Path(p).name for p in NoiseCorpus(corpus, "val", FS).paths] == ["n3.wav"]


def test_other_rate_is_resampled(tmp_path):
    """A 1 kHz tone recorded at 8 kHz reads back at 16 kHz as a 1 kHz tone."""
    t = np.arange(8000) / 8000
    (tmp_path / "tr").mkdir()
    sf.write(tmp_path / "tr" / "tone.wav", 0.5 * np.sin(2 * np.pi * 1000 * t), 8000)
    x = NoiseCorpus(tmp_path, "train", FS).segment(0, 0.0, 8000)
    spectrum = np.abs(np.fft.rfft(x * np.hanning(len(x))))
    assert np.fft.rfftfreq(len(x), 1 / FS)[np.argmax(spectrum)] == pytest.approx(1000, abs=4)


def test_short_file_loops(tmp_path):
    x = np.random.default_rng(1).standard_normal(1000)
    (tmp_path / "tr").mkdir()
    sf.write(tmp_path / "tr" / "short.wav", x, FS, subtype="FLOAT")
    y = NoiseCorpus(tmp_path, "train", FS).segment(0, 0.0, 2500)
    assert np.allclose(y[:1000], y[1000:2000]) and np.allclose(y[:500], y[2000:])
    assert np.allclose(y[:1000] / np.std(y[:1000]), x / np.std(x), atol=1e-3)


def test_split_names():
    assert split_of("wham_noise/tt/a") == "test" and split_of("x/train/y/b") == "train"
    assert split_of("x/tr/cv/b") == "val"  # the deepest split folder counts
    assert split_of("anything", "valid") == "val"
    # A manifest names files with their extension, a folder source without: the same split either way, and
    # DEMAND's channel files follow their environment in both.
    for k in range(20):
        assert split_of(f"noise/n{k}.wav") == split_of(f"noise/n{k}")
        assert split_of(f"E{k}/ch01.wav") == split_of(f"E{k}/ch07") == split_of(f"E{k}/ch16.flac")


def test_bad_corpora(tmp_path):
    (tmp_path / "empty").mkdir()
    with pytest.raises(InputError, match="empty"):
        NoiseCorpus(tmp_path / "empty", "train", FS)
    (tmp_path / "bad" / "tr").mkdir(parents=True)
    for i in range(3):
        (tmp_path / "bad" / "tr" / f"{i}.wav").write_text("not audio")
    with pytest.raises(InputError, match="could be read"):
        NoiseCorpus(tmp_path / "bad", "train", FS)
    (tmp_path / "only_test" / "tt").mkdir(parents=True)
    _write(tmp_path / "only_test" / "tt" / "a.wav")
    with pytest.raises(InputError, match="no train-split"):
        NoiseCorpus(tmp_path / "only_test", "train", FS)
