"""The built-in corpus (data/corpus.py): determinism, structure, stratified splits, learnability, speech,
CLI."""

from __future__ import annotations

import csv
import hashlib
import json

import numpy as np
import pytest
import soundfile as sf

from wavjepa_nat.data.corpus import PROCEDURAL_CLASSES, CorpusConfig, espeak_available, make_corpus
from wavjepa_nat.data.sources import CorpusSource, open_source
from wavjepa_nat.errors import InputError

SMALL = {"n_per_class": 5, "seconds": 1.0, "fs": 16000, "speech": False}


def _hashes(root):
    return {
        p.relative_to(root).as_posix(): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in root.rglob("*.wav")
    }


def _rows(root):
    with open(root / "manifest.csv", newline="") as f:
        return list(csv.DictReader(f))


@pytest.fixture(scope="module")
def corpus(tmp_path_factory):
    root = tmp_path_factory.mktemp("c") / "corpus"
    make_corpus(root, CorpusConfig(seed=0, **SMALL))
    return root


def test_same_seed_identical_files_other_seed_differs(corpus, tmp_path):
    again = tmp_path / "again"
    make_corpus(again, CorpusConfig(seed=0, **SMALL))
    assert _hashes(again) == _hashes(corpus) and len(_hashes(corpus)) == 12 * 5
    assert (again / "manifest.csv").read_bytes() == (corpus / "manifest.csv").read_bytes()
    other = tmp_path / "other"
    make_corpus(other, CorpusConfig(seed=1, **SMALL))
    assert not set(_hashes(other).values()) & set(_hashes(corpus).values())


def test_structure_labels_and_stratified_split(corpus):
    classes = sorted(PROCEDURAL_CLASSES)
    assert len(classes) >= 10
    assert sorted(p.name for p in corpus.iterdir() if p.is_dir()) == classes
    rows = _rows(corpus)
    assert len(rows) == 12 * 5
    for row in rows:
        assert row["path"].split("/")[0] == row["label"] and (corpus / row["path"]).is_file()
    for split in ("train", "val", "test"):
        assert sorted({r["label"] for r in rows if r["split"] == split}) == classes
    info = json.loads((corpus / "corpus.json").read_text())
    assert info["config"]["n_per_class"] == 5 and info["config"]["speech"] is False
    assert info["classes"] == list(PROCEDURAL_CLASSES) and info["version"]
    assert sum(info["splits"].values()) == 60


def test_clips_are_clean_audio_at_class_independent_levels(corpus):
    levels = {}
    for row in _rows(corpus):
        x, fs = sf.read(corpus / row["path"], dtype="float64")
        assert fs == 16000 and x.shape == (16000,) and np.isfinite(x).all()
        assert np.max(np.abs(x)) < 0.999  # no clipping
        levels.setdefault(row["label"], []).append(10 * np.log10(np.mean(x**2)))
    medians = np.array([np.median(v) for v in levels.values()])
    # Every class spans the same level range: the class cannot be read off the level.
    assert medians.min() > -41 and medians.max() < -29 and np.ptp(medians) < 8


def test_classes_are_learnable_by_a_simple_model(tmp_path):
    """Nearest class mean on band energies + temporal-modulation statistics beats chance by far."""
    root = tmp_path / "c"
    make_corpus(root, CorpusConfig(n_per_class=12, seconds=2.0, speech=False, seed=3))
    feats, labels, splits = [], [], []
    for row in _rows(root):
        x, _fs = sf.read(root / row["path"])
        frames = np.lib.stride_tricks.sliding_window_view(x, 512)[::256] * np.hanning(512)
        spec = np.log(np.abs(np.fft.rfft(frames, axis=1)) ** 2 + 1e-10)  # (T, 257)
        bands = spec.reshape(len(spec), -1)[:, :256].reshape(len(spec), 16, 16).mean(axis=2)
        energy = np.log(np.exp(spec).sum(axis=1))
        centroid = (np.exp(spec) * np.arange(257)).sum(1) / np.exp(spec).sum(1)
        loud = energy > energy.max() - 20
        slope = np.polyfit(np.flatnonzero(loud), centroid[loud], 1)[0] if loud.sum() > 2 else 0.0
        mod = np.abs(np.fft.rfft(energy - energy.mean()))[1:40]
        feats.append(
            np.concatenate([bands.max(0), bands.mean(0) - bands.mean(), [slope * 10], np.log(mod + 1e-3)])
        )
        labels.append(row["label"])
        splits.append(row["split"])
    feats, labels, splits = np.array(feats), np.array(labels), np.array(splits)
    feats = (feats - feats.mean(0)) / (feats.std(0) + 1e-9)
    train, test = splits == "train", splits != "train"
    names = sorted(set(labels))
    means = np.stack([feats[train & (labels == c)].mean(0) for c in names])
    pred = np.array(names)[np.argmin(((feats[test][:, None] - means[None]) ** 2).sum(-1), axis=1)]
    accuracy = np.mean(pred == labels[test])
    print(f"nearest-mean accuracy {accuracy:.2f}")
    assert accuracy > 0.6, accuracy  # chance is 1/12


def test_reuse_and_conflicts(corpus, tmp_path):
    stamp = (corpus / "corpus.json").stat().st_mtime_ns
    info = make_corpus(corpus, CorpusConfig(seed=0, **SMALL))  # same config: reused untouched
    assert (corpus / "corpus.json").stat().st_mtime_ns == stamp and info["n_clips"] == 60
    with pytest.raises(InputError, match="another config"):
        make_corpus(corpus, CorpusConfig(seed=1, **SMALL))
    (tmp_path / "busy").mkdir()
    (tmp_path / "busy" / "x.txt").write_text("mine")
    with pytest.raises(InputError, match="not empty"):
        make_corpus(tmp_path / "busy", CorpusConfig(**SMALL))
    with pytest.raises(InputError):
        make_corpus(tmp_path / "few", CorpusConfig(n_per_class=2, speech=False))
    assert not [p for p in tmp_path.iterdir() if ".tmp-" in p.name]  # no leftovers


def test_sources_read_the_corpus(corpus):
    src = CorpusSource(corpus, splits="test")
    items = list(src)
    assert len(items) == len([r for r in _rows(corpus) if r["split"] == "test"])
    assert all(i.split == "test" and i.labels[0] in PROCEDURAL_CLASSES for i in items)
    assert len(list(open_source(str(corpus)))) == 60


def test_open_source_builtin_makes_the_cache(tmp_path, monkeypatch):
    import wavjepa_nat.data.corpus as corpus_mod

    monkeypatch.setattr(corpus_mod, "make_corpus", lambda root: make_corpus(root, CorpusConfig(**SMALL)))
    src = open_source("builtin", cache_dir=tmp_path / "cache")
    assert (tmp_path / "cache" / "corpus.json").is_file() and len(src) == 60


@pytest.mark.skipif(not espeak_available(), reason="espeak-ng not installed")
def test_spoken_word_classes(tmp_path):
    kw = {"n_per_class": 3, "seconds": 1.5, "speech": True, "words": ("yes", "down")}
    make_corpus(tmp_path / "a", CorpusConfig(**kw))
    make_corpus(tmp_path / "b", CorpusConfig(**kw))
    assert _hashes(tmp_path / "a") == _hashes(tmp_path / "b")
    rows = _rows(tmp_path / "a")
    assert {"word_yes", "word_down"} <= {r["label"] for r in rows}
    for r in rows:
        if r["label"].startswith("word_"):
            x, fs = sf.read(tmp_path / "a" / r["path"])
            assert fs == 16000 and len(x) == 24000
            frames = x[: len(x) // 160 * 160].reshape(-1, 160)
            energy_db = 10 * np.log10(np.mean(frames**2, axis=1) + 1e-20)
            active = np.mean(energy_db > energy_db.max() - 20)
            assert 0.05 < active < 0.9  # a word, surrounded by quiet background


def test_speech_true_without_espeak_is_an_input_error(tmp_path, monkeypatch):
    import wavjepa_nat.data.corpus as corpus_mod

    monkeypatch.setattr(corpus_mod.shutil, "which", lambda name: None)
    with pytest.raises(InputError, match="espeak"):
        make_corpus(tmp_path / "x", CorpusConfig(speech=True))
    assert (
        make_corpus(tmp_path / "y", CorpusConfig(n_per_class=3, seconds=0.5, speech="auto"))["config"][
            "speech"
        ]
        is False
    )


def test_cli_make_corpus(tmp_path):
    from typer.testing import CliRunner

    from wavjepa_nat.cli import app

    out = tmp_path / "cli"
    args = ["make-corpus", "--out", str(out), "--n-per-class", "3", "--seconds", "0.5", "--no-speech"]
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 0, result.output
    assert "12 classes x 3 clips" in result.output and len(_rows(out)) == 36
    again = CliRunner().invoke(app, args)
    assert again.exit_code == 0 and "already present" in again.output
    clash = CliRunner().invoke(app, args[:-1] + ["--seed", "4", "--no-speech"])
    assert isinstance(clash.exception, InputError)


@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({"n_per_class": 2}, "--n-per-class"),
        ({"seconds": 0.0}, "--seconds"),
        ({"seconds": float("nan")}, "--seconds"),
        ({"fs": 4000}, "--fs"),
        ({"seed": -1}, "--seed"),
        ({"speech": "maybe"}, "speech"),
        ({"words": ()}, "words"),
        ({"words": ("yes", "yes")}, "words"),
        ({"words": ("../up",)}, "words"),
    ],
)
def test_config_checks_itself(kwargs, message):
    with pytest.raises(InputError, match=message) as err:
        CorpusConfig(**kwargs)
    assert "\n" not in str(err.value)


@pytest.mark.parametrize(
    "extra, message",
    [
        (["--n-per-class", "2"], "--n-per-class"),
        (["--seconds", "0.01"], "--seconds"),
        (["--fs", "4000"], "--fs"),
        (["--seed", "-2"], "--seed"),
    ],
)
def test_cli_bad_config_is_one_line_exit_2(tmp_path, extra, message):
    import subprocess
    import sys

    out = tmp_path / "c"
    result = subprocess.run(
        [sys.executable, "-m", "wavjepa_nat.cli", "make-corpus", "--out", str(out), *extra],
        check=False,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 2 and "Traceback" not in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1 and message in result.stderr
    assert not out.exists()
