"""The CLI (wavjepa_nat.cli): every bad input to every command gives exit 2, one line on stderr
("error: ..."), no traceback, no output file created or changed, and the check made before the long work
starts (issue 13, section 3).

The table runs the real CLI entry point (`wavjepa_nat.cli.main`) in this process (fast: the imports are
paid once); a few cases also run the installed command in a subprocess. Fixtures are tiny and shared.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
from dataclasses import replace
from pathlib import Path

import h5py
import numpy as np
import pytest
import soundfile as sf
import torch

# ---------------------------------------------------------------- fixtures (one set for the whole module)


def _write_sofa(path: Path, ir: np.ndarray, fs: float, convention: str = "SimpleFreeFieldHRIR") -> None:
    m = ir.shape[0]
    with h5py.File(path, "w") as f:
        f.attrs["SOFAConventions"] = convention
        f["Data.IR"] = ir
        f["Data.SamplingRate"] = np.array([fs])
        az = np.linspace(-180, 180, m, endpoint=False)
        f["SourcePosition"] = np.stack([az, np.zeros(m), np.ones(m)], 1)
        f["ReceiverPosition"] = np.array([[0.0, 0.09, 0.0], [0.0, -0.09, 0.0]])


def _good_sofa_ir(m: int = 12, n: int = 128) -> np.ndarray:
    ir = np.zeros((m, 2, n))
    ir[:, :, min(20, n - 1)] = 1.0
    ir[:, 1, min(22, n - 1)] = 0.5
    return ir


def _ckpt(module, **replace) -> dict:
    ckpt = {
        "state_dict": module.state_dict(),
        "hyper_parameters": dict(module.hparams),
        "global_step": 1,
        "pytorch-lightning_version": "2",
    }
    ckpt.update(replace)
    return ckpt


@pytest.fixture(scope="module")
def fx(tmp_path_factory):
    from _fake_encoder import export_tiny

    from wavjepa_nat.data.corpus import CorpusConfig, make_corpus
    from wavjepa_nat.nat_model.config import get_preset
    from wavjepa_nat.rir_bank import simulate_bank
    from wavjepa_nat.scenes.config import SceneConfig
    from wavjepa_nat.training.module import WavJEPAModule

    root = tmp_path_factory.mktemp("bad_inputs")
    fs = 16000
    cfg = SceneConfig(
        rt60=(0.2, 0.4),
        noise_bed_seconds=0.5,
        noise_sources=(0, 1),
        scenes_per_room=1,
        split_per_ten_rooms=(4, 2, 4),
        room_length=(3.0, 6.0),
        source_distance=(0.5, 2.0),
    )
    simulate_bank(root / "bank.h5", cfg, 10, progress=False)
    # Banks for --noise: without beds; without noise sources.
    simulate_bank(
        root / "nobeds.h5", replace(cfg, noise_beds=False, noise_sources=(1, 1)), 10, progress=False
    )
    simulate_bank(root / "nosources.h5", replace(cfg, noise_sources=(0, 0)), 10, progress=False)
    make_corpus(root / "corpus", CorpusConfig(n_per_class=3, seconds=0.5, seed=0, speech=False))

    # Models: a real tiny mono export, a checkpoint, and damaged copies of both.
    export_tiny(root / "mono.safetensors", channels=1)
    torch.manual_seed(0)
    module = WavJEPAModule(get_preset("tiny", channels=1, warmup_steps=1))
    torch.save(_ckpt(module), root / "good.ckpt")
    data = (root / "good.ckpt").read_bytes()
    (root / "partial.ckpt").write_bytes(data[: len(data) // 2])
    st = (root / "mono.safetensors").read_bytes()
    (root / "partial.safetensors").write_bytes(st[: len(st) // 2])
    state = {k: v for i, (k, v) in enumerate(module.state_dict().items()) if i % 2}
    torch.save(_ckpt(module, state_dict=state), root / "missing_tensors.ckpt")
    torch.save(_ckpt(module, hyper_parameters={"embed_dim": "wide", "depth": -1}), root / "bad_config.ckpt")
    torch.save({"state_dict": {}}, root / "not_lightning.ckpt")
    torch.save(_ckpt(module, extra=Path("x")), root / "pickled.ckpt")  # needs weights_only=False to unpickle
    (root / "text.ckpt").write_text("not a checkpoint\n")
    (root / "text.safetensors").write_text("not safetensors\n")

    # Audio.
    rng = np.random.default_rng(0)
    clip = (0.1 * rng.standard_normal(fs)).astype(np.float32)
    sf.write(root / "clip.wav", clip, fs)
    bad = clip.copy()
    bad[100] = np.nan
    sf.write(root / "nan.wav", bad, fs, subtype="FLOAT")
    bad[100] = np.inf
    sf.write(root / "inf.wav", bad, fs, subtype="FLOAT")
    sf.write(root / "silent.wav", np.zeros(fs, np.float32), fs)
    full = (root / "clip.wav").read_bytes()
    (root / "truncated.wav").write_bytes(full[: len(full) // 3])
    (root / "text.wav").write_text("not audio\n")
    (root / "empty.wav").write_bytes(b"")
    for name in ("unreadable", "nan_noise", "silent_noise", "empty_dir", "embed_nan"):
        (root / name).mkdir()
    for i in range(3):
        (root / "unreadable" / f"{i}.wav").write_text("not audio\n")
    # Noise corpora (WHAM!'s layout): a good one, one whose training files are all unreadable.
    (root / "noise_ok" / "tr").mkdir(parents=True)
    sf.write(root / "noise_ok" / "tr" / "n.wav", clip, 8000)  # another rate: resampled, not refused
    (root / "noise_ok" / "tt").mkdir()
    sf.write(root / "noise_ok" / "tt" / "n.wav", clip, 8000)
    for split in ("tr", "tt"):
        (root / "noise_unreadable" / split).mkdir(parents=True)
        for i in range(3):
            (root / "noise_unreadable" / split / f"{i}.wav").write_text("not audio\n")
    shutil.copy(root / "nan.wav", root / "nan_noise" / "n.wav")
    shutil.copy(root / "silent.wav", root / "silent_noise" / "s.wav")
    shutil.copy(root / "nan.wav", root / "embed_nan" / "a.wav")
    (root / "unreadable_classes" / "dog").mkdir(parents=True)
    (root / "unreadable_classes" / "cat").mkdir(parents=True)
    for label in ("dog", "cat"):
        for i in range(3):
            (root / "unreadable_classes" / label / f"{i}.wav").write_text("x")
    (root / "one_class" / "dog").mkdir(parents=True)
    for i in range(3):
        sf.write(root / "one_class" / "dog" / f"{i}.wav", clip, fs)

    # SOFA files: tiny, zero-rate, NaN, wrong convention, not HDF5.
    _write_sofa(root / "tiny.sofa", _good_sofa_ir(1, 1), 44100)
    _write_sofa(root / "zero_rate.sofa", _good_sofa_ir(), 0)
    _write_sofa(root / "nan_rate.sofa", _good_sofa_ir(), np.nan)
    nan_ir = _good_sofa_ir()
    nan_ir[3, 0, 40] = np.nan
    _write_sofa(root / "nan.sofa", nan_ir, 44100)
    _write_sofa(root / "convention.sofa", _good_sofa_ir(), 44100, convention="GeneralFIR")
    _write_sofa(root / "onedir.sofa", _good_sofa_ir()[:, :1], 44100)  # one ear only
    (root / "text.sofa").write_text("not hdf5\n")

    # Banks: not a bank, damaged metadata, truncated.
    with h5py.File(root / "notbank.h5", "w") as f:
        f["x"] = np.zeros(3)
    shutil.copy(root / "bank.h5", root / "corrupt_attrs.h5")
    with h5py.File(root / "corrupt_attrs.h5", "r+") as f:
        f.attrs["config"] = f.attrs["config"][:-7] + "#@!"  # config JSON no longer parses
    shutil.copy(root / "bank.h5", root / "wrong_config.h5")
    with h5py.File(root / "wrong_config.h5", "r+") as f:
        raw = json.loads(f.attrs["config"])
        raw["rt60"] = [1.0, 0.2]
        f.attrs["config"] = json.dumps(raw)
    shutil.copy(root / "bank.h5", root / "flipped_meta.h5")
    with h5py.File(root / "flipped_meta.h5", "r+") as f:
        f.attrs["fs"] = -16000
    shutil.copy(root / "bank.h5", root / "nan_meta.h5")
    with h5py.File(root / "nan_meta.h5", "r+") as f:
        col = f["meta/rt60_measured"][()]
        col[2, 0] = np.nan
        f["meta/rt60_measured"][...] = col
    data = (root / "bank.h5").read_bytes()
    (root / "truncated_bank.h5").write_bytes(data[: len(data) // 2])
    (root / "text.h5").write_text("not hdf5\n")

    # Corpora with damaged metadata.
    shutil.copytree(root / "corpus", root / "corpus_badjson")
    (root / "corpus_badjson" / "corpus.json").write_text("{ not json")
    shutil.copytree(root / "corpus", root / "corpus_badmanifest")
    (root / "corpus_badmanifest" / "manifest.csv").write_text("nopath,label\nx,y\n")
    shutil.copytree(root / "corpus", root / "corpus_missing_files")
    for wav in (root / "corpus_missing_files").rglob("*.wav"):
        wav.unlink()
    (root / "other_stuff").mkdir()
    (root / "other_stuff" / "notes.txt").write_text("mine\n")

    # YAML configs.
    (root / "syntax.yaml").write_text("max_steps: [1, 2\n")
    (root / "types.yaml").write_text("n_crops: many\n")
    (root / "list.yaml").write_text("- 1\n- 2\n")
    (root / "unknown.yaml").write_text("max_stepz: 3\n")
    (root / "overrides.yaml").write_text("model_overrides: {depth: -1}\n")
    (root / "overrides_unknown.yaml").write_text("model_overrides: {wings: 2}\n")
    (root / "snr.yaml").write_text("snr: loud\n")
    (root / "float_steps.yaml").write_text("ckpt_every: 2.5\n")
    (root / "bool_channels.yaml").write_text("channels: true\n")

    # Teachers (train --teacher frozen:SRC): at another sample rate, on another frame grid; runs to resume.
    torch.save(_ckpt(WavJEPAModule(get_preset("tiny", channels=1, fs=8000))), root / "teacher_8k.ckpt")
    grid = get_preset("tiny", channels=1, conv_spec=[[10, 5], [3, 2], [3, 2], [3, 2], [2, 2]])
    torch.save(_ckpt(WavJEPAModule(grid)), root / "teacher_grid.ckpt")
    (root / "ema_run").mkdir()
    torch.save(_ckpt(module), root / "ema_run" / "last.ckpt")  # a run from before --teacher: EMA
    (root / "frozen_run").mkdir()
    frozen = {"train": {"teacher": f"frozen:{root}/mono.safetensors"}}
    teacher = {"path": str(root / "other.safetensors"), "sha256": "0" * 64}
    torch.save(
        _ckpt(module, wavjepa_nat_train_config=frozen, wavjepa_nat_teacher=teacher),
        root / "frozen_run" / "last.ckpt",
    )

    # Hugging Face model folders (hf:PATH), checked from config.json alone before anything loads.
    (root / "hf_w2v").mkdir()
    (root / "hf_w2v" / "config.json").write_text(
        json.dumps({"model_type": "wav2vec2", "num_hidden_layers": 2})
    )
    (root / "hf_remote").mkdir()
    remote = {"model_type": "eat", "num_hidden_layers": 2, "auto_map": {"AutoModel": "modeling_eat.EATModel"}}
    (root / "hf_remote" / "config.json").write_text(json.dumps(remote))

    # A HEAR task with train/valid/test splits (for --folds all), listed only: read_hear_task checks no audio.
    tvt = root / "hear_tvt"
    (tvt / "16000").mkdir(parents=True)
    meta = {"task_name": "tvt", "embedding_type": "scene", "split_mode": "trainvaltest"}
    (tvt / "task_metadata.json").write_text(json.dumps(meta))
    (tvt / "labelvocabulary.csv").write_text("idx,label\n0,a\n1,b\n")
    for split in ("train", "valid", "test"):
        (tvt / f"{split}.json").write_text(json.dumps({f"{split}.wav": ["a"]}))

    # A bank without the DRR column (--room-probes needs T_mid, DRR, distance and room volume).
    shutil.copy(root / "bank.h5", root / "bank_no_drr.h5")
    with h5py.File(root / "bank_no_drr.h5", "r+") as f:
        del f["meta"]["drr_db"]

    # Result folders for `report`.
    (root / "no_results").mkdir()
    (root / "bad_results").mkdir()
    (root / "bad_results" / "results.json").write_text("{ not json")
    (root / "wrong_results").mkdir()
    (root / "wrong_results" / "results.json").write_text(json.dumps({"rows": [{"model": 1}]}))

    # Output-path traps.
    (root / "a_file").write_text("i am a file\n")
    (root / "existing.h5").write_text("precious, not HDF5\n")
    ro = root / "readonly"
    ro.mkdir()
    ro.chmod(0o555)
    return root


# ---------------------------------------------------------------- the table

F = "{fx}"  # placeholders, filled per case: {fx} the fixture folder, {w} a fresh output folder


def _bank(*extra):
    return ["simulate-rirs", "--out", "{w}/b.h5", "--n-scenes", "2", "--quiet", *extra]


def _render(*extra):
    args = {"--bank": "{fx}/bank.h5", "--input": "{fx}/clip.wav", "--out": "{w}/r.wav"}
    for k in extra[::2]:
        args.pop(k, None)
    return ["render", *[a for kv in args.items() for a in kv], *extra]


def _train(*extra):
    args = {
        "--data": "{fx}/corpus",
        "--bank": "{fx}/bank.h5",
        "--out": "{w}/run",
        "--max-steps": "1",
        "--num-workers": "0",
        "--clip-seconds": "2.5",
    }
    for k in extra[::2]:
        args.pop(k, None)
    return ["train", *[a for kv in args.items() for a in kv], *extra]


def _embed(*extra):
    args = {"--model": "{fx}/mono.safetensors", "--input": "{fx}/clip.wav", "--out": "{w}/e.h5"}
    for k in extra[::2]:
        args.pop(k, None)
    return ["embed", *[a for kv in args.items() for a in kv], *extra]


def _sweep(*extra):
    args = {
        "--model": "{fx}/mono.safetensors",
        "--bank": "{fx}/bank.h5",
        "--out": "{w}/rep",
        "--task": "{fx}/corpus",
        "--snr": "10",
        "--rt60": "none",
    }
    for k in extra[::2]:
        args.pop(k, None)
    return ["robustness", *[a for kv in args.items() for a in kv], *extra]


def _import_weights(src, out="{w}/i.safetensors"):
    return ["import-weights", src, "--out", out]


def _nat_hear(*extra):
    args = {"--task-dir": "{fx}/corpus", "--bank": "{fx}/bank.h5", "--out": "{w}/copy"}
    for k in extra[::2]:
        args.pop(k, None)
    return ["nat-hear", *[a for kv in args.items() for a in kv], *extra]


def _export(ckpt, out="{w}/m.safetensors"):
    return ["export", ckpt, "--out", out]


def _demo(*extra):
    return ["demo", "--out", "{w}/demo", *extra] if "--out" not in extra else ["demo", *extra]


# (id, argv, a piece of the expected message or None)
CASES = [
    # ---- simulate-rirs: numbers
    ("bed-nan", _bank("--noise-bed-seconds", "nan"), "--noise-bed-seconds"),
    ("bed-inf", _bank("--noise-bed-seconds", "inf"), "--noise-bed-seconds"),
    ("bed-negative", _bank("--noise-bed-seconds", "-1"), "--noise-bed-seconds"),
    ("bed-absurd", _bank("--noise-bed-seconds", "1e7"), "GiB"),
    ("bed-text", _bank("--noise-bed-seconds", "long"), "--noise-bed-seconds"),
    ("shard-empty", ["simulate-rirs", "--out", "{w}/b.h5", "--n-scenes", "1", "--shard", "1/2"], "--shard"),
    ("shard-zero", _bank("--shard", "0/2"), "--shard"),
    ("shard-k-gt-n", _bank("--shard", "3/2"), "--shard"),
    ("shard-text", _bank("--shard", "a/b"), "--shard"),
    ("shard-n-zero", _bank("--shard", "1/0"), "--shard"),
    ("n-scenes-zero", ["simulate-rirs", "--out", "{w}/b.h5", "--n-scenes", "0"], "--n-scenes"),
    ("n-scenes-negative", ["simulate-rirs", "--out", "{w}/b.h5", "--n-scenes", "-5"], "--n-scenes"),
    ("n-scenes-absurd", ["simulate-rirs", "--out", "{w}/b.h5", "--n-scenes", str(10**9)], "GiB"),
    (
        "noise-sources-absurd",
        ["simulate-rirs", "--out", "{w}/b.h5", "--n-scenes", "2000", "--noise-sources", "0..1000"],
        "GiB",
    ),
    ("rt60-absurd", _bank("--rt60", "0.2..1e6"), "--rt60"),
    ("rt60-nan", _bank("--rt60", "nan..1"), "--rt60"),
    ("rt60-reversed", _bank("--rt60", "1.5..0.2"), "--rt60"),
    ("rt60-text", _bank("--rt60", "abc"), "--rt60"),
    ("distance-absurd", _bank("--distance", "0.5..10000"), "--distance"),
    ("distance-nan", _bank("--distance", "nan..2"), "--distance"),
    ("distance-inside-head", _bank("--distance", "0.1..2"), "--distance"),
    ("noise-sources-negative", _bank("--noise-sources", "-1..2"), "--noise-sources"),
    ("noise-sources-fraction", _bank("--noise-sources", "0..1.5"), "--noise-sources"),
    ("fs-low", _bank("--fs", "4000"), "--fs"),
    ("fs-absurd", _bank("--fs", str(10**9)), "--fs"),
    ("fs-text", _bank("--fs", "fast"), "--fs"),
    ("seed-negative", _bank("--seed", "-1"), "--seed"),
    ("seed-text", _bank("--seed", "x"), "--seed"),
    ("seed-beyond-2^64", _bank("--seed", str(2**64)), "2^64 - 1"),
    ("workers-zero", _bank("--workers", "0"), "--workers"),
    ("workers-negative", _bank("--workers", "-2"), "--workers"),
    ("scenes-per-room-zero", _bank("--scenes-per-room", "0"), "--scenes-per-room"),
    ("engine", _bank("--engine", "magic"), "--engine"),
    ("hrtf-name", _bank("--hrtf", "nonsense"), "--hrtf"),
    # ---- simulate-rirs: files
    ("out-proc", ["simulate-rirs", "--out", "/proc/x.h5", "--n-scenes", "2"], "/proc"),
    ("out-is-dir", ["simulate-rirs", "--out", "{w}", "--n-scenes", "2"], "folder"),
    ("out-parent-is-file", ["simulate-rirs", "--out", "{fx}/a_file/b.h5", "--n-scenes", "2"], "a_file"),
    ("out-readonly", ["simulate-rirs", "--out", "{fx}/readonly/b.h5", "--n-scenes", "2"], "readonly"),
    ("out-not-a-bank", ["simulate-rirs", "--out", "{fx}/existing.h5", "--n-scenes", "2"], "existing.h5"),
    ("out-other-config", ["simulate-rirs", "--out", "{fx}/bank.h5", "--n-scenes", "10"], "different config"),
    ("hrtf-missing", _bank("--hrtf", "{fx}/missing.sofa"), "not found"),
    ("hrtf-text", _bank("--hrtf", "{fx}/text.sofa"), "text.sofa"),
    ("hrtf-tiny", _bank("--hrtf", "{fx}/tiny.sofa"), "tiny.sofa"),
    ("hrtf-zero-rate", _bank("--hrtf", "{fx}/zero_rate.sofa"), "zero_rate.sofa"),
    ("hrtf-nan-rate", _bank("--hrtf", "{fx}/nan_rate.sofa"), "nan_rate.sofa"),
    ("hrtf-nan", _bank("--hrtf", "{fx}/nan.sofa"), "nan.sofa"),
    ("hrtf-convention", _bank("--hrtf", "{fx}/convention.sofa"), "convention"),
    ("hrtf-one-ear", _bank("--hrtf", "{fx}/onedir.sofa"), "onedir.sofa"),
    ("noise-dir-missing", _bank("--noise-dir", "{fx}/nowhere"), "--noise-dir"),
    ("noise-dir-file", _bank("--noise-dir", "{fx}/clip.wav"), "--noise-dir"),
    ("noise-dir-empty", _bank("--noise-dir", "{fx}/empty_dir"), "--noise-dir"),
    ("noise-dir-unreadable", _bank("--noise-dir", "{fx}/unreadable"), "unreadable"),
    ("noise-dir-nan", _bank("--noise-dir", "{fx}/nan_noise"), "n.wav"),
    ("noise-dir-silent", _bank("--noise-dir", "{fx}/silent_noise"), "s.wav"),
    ("beds-unknown", _bank("--beds", "{fx}/nowhere"), "--beds"),
    ("beds-none-and-noise-dir", _bank("--beds", "none", "--noise-dir", "{fx}/corpus"), "--noise-dir"),
    # ---- bank info / verify / merge
    ("info-missing", ["bank", "info", "{fx}/nope.h5"], "not found"),
    ("info-text", ["bank", "info", "{fx}/text.h5"], "text.h5"),
    ("info-not-bank", ["bank", "info", "{fx}/notbank.h5"], "not a wavjepa-nat RIR bank"),
    ("info-corrupt-attrs", ["bank", "info", "{fx}/corrupt_attrs.h5"], "corrupt_attrs.h5"),
    ("info-wrong-config", ["bank", "info", "{fx}/wrong_config.h5"], "wrong_config.h5"),
    ("info-flipped-fs", ["bank", "info", "{fx}/flipped_meta.h5"], "flipped_meta.h5"),
    ("info-truncated", ["bank", "info", "{fx}/truncated_bank.h5"], "truncated_bank.h5"),
    ("info-plots-file", ["bank", "info", "{fx}/bank.h5", "--plots", "{fx}/a_file"], "a_file"),
    ("info-plots-proc", ["bank", "info", "{fx}/bank.h5", "--plots", "/proc/plots"], "/proc"),
    ("verify-n-check-negative", ["bank", "verify", "{fx}/bank.h5", "--n-check", "-3"], "--n-check"),
    ("verify-seed-negative", ["bank", "verify", "{fx}/bank.h5", "--seed", "-1"], "--seed"),
    ("verify-missing", ["bank", "verify", "{fx}/nope.h5"], "not found"),
    ("verify-not-bank", ["bank", "verify", "{fx}/notbank.h5"], "not a wavjepa-nat RIR bank"),
    ("verify-corrupt-attrs", ["bank", "verify", "{fx}/corrupt_attrs.h5"], "corrupt_attrs.h5"),
    ("verify-truncated", ["bank", "verify", "{fx}/truncated_bank.h5"], "truncated_bank.h5"),
    ("merge-not-bank", ["bank", "merge", "{fx}/notbank.h5", "--out", "{w}/m.h5"], "notbank.h5"),
    ("merge-text", ["bank", "merge", "{fx}/text.h5", "--out", "{w}/m.h5"], "text.h5"),
    ("merge-missing", ["bank", "merge", "{fx}/nope.h5", "--out", "{w}/m.h5"], "nope.h5"),
    ("merge-corrupt", ["bank", "merge", "{fx}/corrupt_attrs.h5", "--out", "{w}/m.h5"], "corrupt_attrs.h5"),
    ("merge-twice", ["bank", "merge", "{fx}/bank.h5", "{fx}/bank.h5", "--out", "{w}/m.h5"], None),
    ("merge-out-proc", ["bank", "merge", "{fx}/bank.h5", "--out", "/proc/m.h5"], "/proc"),
    ("merge-out-dir", ["bank", "merge", "{fx}/bank.h5", "--out", "{w}"], "folder"),
    ("merge-no-out", ["bank", "merge", "{fx}/bank.h5"], "--out"),
    # ---- make-corpus
    ("corpus-out-file", ["make-corpus", "--out", "{fx}/a_file"], "a_file"),
    ("corpus-out-proc", ["make-corpus", "--out", "/proc/corpus"], "/proc"),
    ("corpus-parent-file", ["make-corpus", "--out", "{fx}/a_file/c"], "a_file"),
    ("corpus-readonly", ["make-corpus", "--out", "{fx}/readonly/c"], "readonly"),
    ("corpus-other-stuff", ["make-corpus", "--out", "{fx}/other_stuff"], "other_stuff"),
    (
        "corpus-bad-json",
        [
            "make-corpus",
            "--out",
            "{fx}/corpus_badjson",
            "--n-per-class",
            "3",
            "--seconds",
            "0.5",
            "--no-speech",
        ],
        "corpus.json",
    ),
    ("corpus-n-small", ["make-corpus", "--out", "{w}/c", "--n-per-class", "2"], "--n-per-class"),
    ("corpus-n-absurd", ["make-corpus", "--out", "{w}/c", "--n-per-class", str(10**9)], "GiB"),
    ("corpus-seconds-nan", ["make-corpus", "--out", "{w}/c", "--seconds", "nan"], "--seconds"),
    ("corpus-seconds-inf", ["make-corpus", "--out", "{w}/c", "--seconds", "inf"], "--seconds"),
    ("corpus-seconds-absurd", ["make-corpus", "--out", "{w}/c", "--seconds", "1e7"], "GiB"),
    ("corpus-fs-low", ["make-corpus", "--out", "{w}/c", "--fs", "0"], "--fs"),
    ("corpus-fs-absurd", ["make-corpus", "--out", "{w}/c", "--fs", str(10**9)], "--fs"),
    ("corpus-seed", ["make-corpus", "--out", "{w}/c", "--seed", "-1"], "--seed"),
    # ---- render
    ("render-snr-absurd", _render("--snr", "1e6"), "--snr"),
    ("render-snr-nan", _render("--snr", "nan"), "--snr"),
    ("render-snr-inf", _render("--snr", "-inf..5"), "--snr"),
    ("render-snr-reversed", _render("--snr", "40..5"), "--snr"),
    ("render-scene-negative", _render("--scene", "-1"), "--scene"),
    ("render-scene-range", _render("--scene", "99999"), "--scene"),
    ("render-n-zero", _render("--n", "0"), "--n"),
    ("render-n-absurd", _render("--n", str(10**9)), "--n"),
    ("render-seconds-nan", _render("--seconds", "nan"), "--seconds"),
    ("render-seconds-negative", _render("--seconds", "-1"), "--seconds"),
    ("render-split", _render("--split", "dev"), "--split"),
    ("render-seed", _render("--seed", "-1"), "--seed"),
    ("render-bank-missing", _render("--bank", "{fx}/nope.h5"), "not found"),
    ("render-bank-not-bank", _render("--bank", "{fx}/notbank.h5"), "notbank.h5"),
    ("render-bank-corrupt", _render("--bank", "{fx}/corrupt_attrs.h5"), "corrupt_attrs.h5"),
    ("render-bank-nan-meta", _render("--bank", "{fx}/nan_meta.h5", "--scene", "2"), "nan_meta.h5"),
    ("render-input-missing", _render("--input", "{fx}/nope.wav"), "not found"),
    ("render-input-text", _render("--input", "{fx}/text.wav"), "text.wav"),
    ("render-input-empty", _render("--input", "{fx}/empty.wav"), "empty.wav"),
    ("render-input-nan", _render("--input", "{fx}/nan.wav"), "nan.wav"),
    ("render-input-inf", _render("--input", "{fx}/inf.wav"), "inf.wav"),
    ("render-input-truncated", _render("--input", "{fx}/truncated.wav"), "truncated.wav"),
    ("render-noise-missing", _render("--noise-file", "{fx}/nope.wav"), "nope.wav"),
    ("render-noise-text", _render("--noise-file", "{fx}/text.wav"), "text.wav"),
    ("render-noise-nan", _render("--noise-file", "{fx}/nan.wav"), "nan.wav"),
    ("render-out-proc", _render("--out", "/proc/r.wav"), "/proc"),
    ("render-out-parent-file", _render("--out", "{fx}/a_file/r.wav"), "a_file"),
    ("render-out-readonly", _render("--out", "{fx}/readonly/r.wav"), "readonly"),
    ("render-out-file-as-folder", _render("--out", "{fx}/a_file", "--n", "2"), "a_file"),
    # ---- train: numbers and options
    ("train-lr-nan", _train("--lr", "nan"), "--lr"),
    ("train-lr-negative", _train("--lr", "-1"), "--lr"),
    ("train-lr-inf", _train("--lr", "inf"), "--lr"),
    ("train-lr-huge", _train("--lr", "1e300"), "--lr"),
    ("train-out-is-data", _train("--out", "{fx}/corpus"), "is one of the inputs"),
    ("train-devices-text", _train("--devices", "abc"), "--devices"),
    ("train-devices-zero", _train("--devices", "0"), "--devices"),
    ("train-devices-many", _train("--devices", "64", "--accelerator", "cpu"), "--devices"),
    ("train-accelerator", _train("--accelerator", "abacus"), "--accelerator"),
    ("train-accelerator-gpu", _train("--accelerator", "gpu"), "--accelerator"),
    ("train-precision", _train("--precision", "abc"), "--precision"),
    ("train-precision-number", _train("--precision", "7"), "--precision"),
    ("train-seed", _train("--seed", "-1"), "--seed"),
    ("train-max-steps", _train("--max-steps", "0"), "--max-steps"),
    ("train-batch-clips", _train("--batch-clips", "0"), "--batch-clips"),
    ("train-n-crops", _train("--n-crops", "0"), "--n-crops"),
    ("train-clip-nan", _train("--clip-seconds", "nan"), "--clip-seconds"),
    ("train-clip-short", _train("--clip-seconds", "1"), "--clip-seconds"),
    ("train-clip-absurd", _train("--clip-seconds", "1e9"), "--clip-seconds"),
    ("train-batch-absurd", _train("--batch-clips", str(10**6)), "GiB"),
    ("train-mix-prob-high", _train("--mix-prob", "1.5"), "--mix-prob"),
    ("train-mix-prob-negative", _train("--mix-prob", "-0.1"), "--mix-prob"),
    ("train-mix-sources-one", _train("--mix-prob", "0.5", "--mix-sources", "1..2"), "--mix-sources"),
    (
        "train-mix-sources-many",
        _train("--mix-prob", "0.5", "--mix-sources", "3..3"),
        "noise-source positions",
    ),
    ("train-mix-sources-half", _train("--mix-prob", "0.5", "--mix-sources", "2..2.5"), "--mix-sources"),
    ("train-mix-tir-reversed", _train("--mix-prob", "0.5", "--mix-tir", "12..0"), "--mix-tir"),
    ("train-mix-tir-text", _train("--mix-prob", "0.5", "--mix-tir", "loud"), "--mix-tir"),
    ("train-mix-target", _train("--mix-prob", "0.5", "--mix-target", "max"), "--mix-target"),
    ("train-mix-retention-p0", _train("--mix-target", "retention"), "--mix-prob"),
    ("train-clean-ratio", _train("--clean-ratio", "2"), "--clean-ratio"),
    ("train-clean-ratio-nan", _train("--clean-ratio", "nan"), "--clean-ratio"),
    ("train-snr-nan", _train("--snr", "nan..5"), "--snr"),
    ("train-snr-reversed", _train("--snr", "40..5"), "--snr"),
    ("train-snr-absurd", _train("--snr", "5..1e6"), "--snr"),
    ("train-channels", _train("--channels", "3"), "--channels"),
    ("train-preset", _train("--preset", "huge"), "--preset"),
    ("train-augment-on", _train("--augment-on", "tpu"), "--augment-on"),
    ("train-ear-norm", _train("--ear-norm", "sideways"), "ear_norm"),
    ("train-num-workers", _train("--num-workers", "-1"), "--num-workers"),
    ("train-num-nodes", _train("--num-nodes", "0"), "--num-nodes"),
    ("train-ckpt-every", _train("--ckpt-every", "0"), "--ckpt-every"),
    ("train-max-steps-text", _train("--max-steps", "lots"), "--max-steps"),
    ("train-no-data", ["train", "--bank", "{fx}/bank.h5", "--out", "{w}/run"], "--data"),
    ("train-no-bank", _train("--bank", ""), "--bank"),
    # ---- train: files
    ("train-data-missing", _train("--data", "{fx}/nowhere"), "nowhere"),
    ("train-data-unreadable", _train("--data", "{fx}/unreadable"), "unreadable"),
    ("train-data-bad-manifest", _train("--data", "{fx}/corpus_badmanifest"), "manifest.csv"),
    ("train-data-missing-files", _train("--data", "{fx}/corpus_missing_files"), "corpus_missing_files"),
    ("train-bank-missing", _train("--bank", "{fx}/nope.h5"), "not found"),
    ("train-noise-bank-no-beds", _train("--bank", "{fx}/nobeds.h5", "--noise", "bank"), "--beds none"),
    (
        "train-noise-dir-no-sources",
        _train("--bank", "{fx}/nosources.h5", "--noise", "{fx}/noise_ok"),
        "noise-source",
    ),
    ("train-noise-missing", _train("--noise", "{fx}/nowhere"), "nowhere"),
    ("train-noise-empty", _train("--noise", "{fx}/empty_dir"), "empty_dir"),
    ("train-noise-unreadable", _train("--noise", "{fx}/noise_unreadable"), "noise_unreadable"),
    ("train-noise-empty-text", _train("--noise", " "), "--noise"),
    ("sweep-noise-empty", _sweep("--noise", "{fx}/empty_dir"), "empty_dir"),
    ("sweep-noise-unreadable", _sweep("--noise", "{fx}/noise_unreadable"), "noise_unreadable"),
    (
        "sweep-noise-no-sources",
        _sweep("--bank", "{fx}/nosources.h5", "--noise", "{fx}/noise_ok"),
        "noise-source",
    ),
    ("sweep-noise-blank", _sweep("--noise", " "), "--noise"),
    ("sweep-bank-without-beds", _sweep("--bank", "{fx}/nobeds.h5"), "--beds none"),
    ("train-bank-not-bank", _train("--bank", "{fx}/notbank.h5"), "notbank.h5"),
    ("train-bank-corrupt", _train("--bank", "{fx}/corrupt_attrs.h5"), "corrupt_attrs.h5"),
    ("train-bank-truncated", _train("--bank", "{fx}/truncated_bank.h5"), "truncated_bank.h5"),
    ("train-out-file", _train("--out", "{fx}/a_file"), "a_file"),
    ("train-out-proc", _train("--out", "/proc/run"), "/proc"),
    ("train-out-readonly", _train("--out", "{fx}/readonly/run"), "readonly"),
    ("train-resume-nothing", _train("--resume"), "--resume"),
    ("train-config-missing", _train("--config", "{fx}/nope.yaml"), "nope.yaml"),
    ("train-config-syntax", _train("--config", "{fx}/syntax.yaml"), "syntax.yaml"),
    ("train-config-types", _train("--config", "{fx}/types.yaml"), "--n-crops"),
    ("train-config-list", _train("--config", "{fx}/list.yaml"), "list.yaml"),
    ("train-config-unknown", _train("--config", "{fx}/unknown.yaml"), "max_stepz"),
    ("train-config-overrides", _train("--config", "{fx}/overrides.yaml"), "depth"),
    ("train-config-overrides-unknown", _train("--config", "{fx}/overrides_unknown.yaml"), "wings"),
    ("train-config-snr", _train("--config", "{fx}/snr.yaml"), "snr"),
    ("train-config-float-steps", _train("--config", "{fx}/float_steps.yaml"), "--ckpt-every"),
    ("train-config-bool-channels", _train("--config", "{fx}/bool_channels.yaml"), "channels"),
    # ---- train: recipes (issue 19)
    ("train-loss", _train("--loss", "huber"), "--loss"),
    ("train-teacher-kind", _train("--teacher", "mean"), "--teacher"),
    ("train-teacher-empty", _train("--teacher", "frozen:"), "--teacher"),
    ("train-teacher-input", _train("--teacher-input", "wet"), "--teacher-input"),
    ("train-objective", _train("--objective", "mae"), "--objective"),
    ("train-teacher-missing", _train("--teacher", "frozen:{fx}/nope.ckpt"), "not found"),
    ("train-teacher-text", _train("--teacher", "frozen:{fx}/text.ckpt"), "--teacher frozen:"),
    ("train-teacher-partial", _train("--teacher", "frozen:{fx}/partial.safetensors"), "--teacher frozen:"),
    ("train-teacher-tensors", _train("--teacher", "frozen:{fx}/missing_tensors.ckpt"), "--teacher frozen:"),
    ("train-teacher-rate", _train("--teacher", "frozen:{fx}/teacher_8k.ckpt"), "8000 Hz"),
    ("train-teacher-grid", _train("--teacher", "frozen:{fx}/teacher_grid.ckpt"), "frame grid"),
    (
        "train-reconstruct-frozen",
        _train("--objective", "reconstruct", "--teacher", "frozen:{fx}/mono.safetensors"),
        "--objective reconstruct",
    ),
    (
        "train-resume-ema-as-frozen",
        _train(
            "--out",
            "{fx}/ema_run",
            "--resume",
            "--channels",
            "1",
            "--teacher",
            "frozen:{fx}/mono.safetensors",
        ),
        "--teacher ema",
    ),
    (
        "train-resume-other-teacher-file",
        _train(
            "--out",
            "{fx}/frozen_run",
            "--resume",
            "--channels",
            "1",
            "--teacher",
            "frozen:{fx}/mono.safetensors",
        ),
        "another file",
    ),
    # ---- export
    ("export-missing", _export("{fx}/nope.ckpt"), "not found"),
    ("export-partial", _export("{fx}/partial.ckpt"), "partial.ckpt"),
    ("export-text", _export("{fx}/text.ckpt"), "text.ckpt"),
    ("export-missing-tensors", _export("{fx}/missing_tensors.ckpt"), "missing"),
    ("export-bad-config", _export("{fx}/bad_config.ckpt"), "bad_config.ckpt"),
    ("export-not-lightning", _export("{fx}/not_lightning.ckpt"), "not_lightning"),
    ("export-pickled", _export("{fx}/pickled.ckpt"), "pickled.ckpt"),
    ("export-partial-safetensors", _export("{fx}/partial.safetensors"), "partial.safetensors"),
    ("export-dir", ["export", "{fx}", "--out", "{w}/m.safetensors"], None),
    ("export-suffix", ["export", "{fx}/good.ckpt", "--out", "{w}/m.bin"], ".safetensors"),
    ("export-out-proc", ["export", "{fx}/good.ckpt", "--out", "/proc/m.safetensors"], "/proc"),
    ("export-out-parent-file", ["export", "{fx}/good.ckpt", "--out", "{fx}/a_file/m.safetensors"], "a_file"),
    ("export-out-readonly", ["export", "{fx}/good.ckpt", "--out", "{fx}/readonly/m.safetensors"], "readonly"),
    # ---- embed
    ("embed-model-missing", _embed("--model", "{fx}/nope.ckpt"), "not found"),
    ("embed-model-text", _embed("--model", "{fx}/text.ckpt"), "text.ckpt"),
    ("embed-model-partial", _embed("--model", "{fx}/partial.ckpt"), "partial.ckpt"),
    ("embed-model-partial-st", _embed("--model", "{fx}/partial.safetensors"), "partial.safetensors"),
    ("embed-model-text-st", _embed("--model", "{fx}/text.safetensors"), "text.safetensors"),
    ("embed-model-missing-tensors", _embed("--model", "{fx}/missing_tensors.ckpt"), "missing"),
    ("embed-model-pickled", _embed("--model", "{fx}/pickled.ckpt"), "pickled.ckpt"),
    ("embed-input-missing", _embed("--input", "{fx}/nope.wav"), "not found"),
    ("embed-input-empty-dir", _embed("--input", "{fx}/empty_dir"), "no audio"),
    ("embed-input-unreadable-dir", _embed("--input", "{fx}/unreadable"), "unreadable"),
    ("embed-input-text", _embed("--input", "{fx}/text.wav"), "text.wav"),
    ("embed-input-nan", _embed("--input", "{fx}/nan.wav"), "nan.wav"),
    ("embed-input-inf", _embed("--input", "{fx}/inf.wav"), "inf.wav"),
    ("embed-input-truncated", _embed("--input", "{fx}/truncated.wav"), "truncated"),
    ("embed-input-nan-in-dir", _embed("--input", "{fx}/embed_nan"), "a.wav"),
    ("embed-out-existing-non-h5", _embed("--out", "{fx}/existing.h5"), "existing.h5"),
    ("embed-out-existing-wav", _embed("--out", "{fx}/clip.wav"), "clip.wav"),
    ("embed-out-proc", _embed("--out", "/proc/e.h5"), "/proc"),
    ("embed-out-dir", _embed("--out", "{w}"), "folder"),
    ("embed-out-parent-file", _embed("--out", "{fx}/a_file/e.h5"), "a_file"),
    ("embed-out-readonly", _embed("--out", "{fx}/readonly/e.h5"), "readonly"),
    ("embed-device", _embed("--device", "abacus"), "--device"),
    ("embed-cuda", _embed("--device", "cuda:7"), "--device"),
    ("embed-batch-size", _embed("--batch-size", "0"), "--batch-size"),
    ("embed-hf-remote-code", _embed("--model", "hf:{fx}/hf_remote"), "--trust-remote-code"),
    ("embed-hf-not-model", _embed("--model", "hf:{fx}/other_stuff"), "not a Hugging Face model folder"),
    # ---- robustness
    ("sweep-out-file", _sweep("--out", "{fx}/a_file"), "a_file"),
    ("sweep-out-proc", _sweep("--out", "/proc/rep"), "/proc"),
    ("sweep-out-parent-file", _sweep("--out", "{fx}/a_file/rep"), "a_file"),
    ("sweep-out-readonly", _sweep("--out", "{fx}/readonly/rep"), "readonly"),
    ("sweep-snr-nan", _sweep("--snr", "nan"), "--snr"),
    ("sweep-snr-absurd", _sweep("--snr", "1e6"), "--snr"),
    ("sweep-clip-nan", _sweep("--clip-seconds", "nan"), "--clip-seconds"),
    ("sweep-polyphony-one", _sweep("--polyphony", "1..2"), "--polyphony"),
    ("sweep-polyphony-text", _sweep("--polyphony", "many"), "--polyphony"),
    ("sweep-tir-text", _sweep("--polyphony", "2", "--tir", "loud"), "--tir"),
    ("sweep-polyphony-no-positions", _sweep("--polyphony", "3"), "noise-source positions"),
    ("sweep-clip-inf", _sweep("--clip-seconds", "inf"), "--clip-seconds"),
    ("sweep-clip-negative", _sweep("--clip-seconds", "-1"), "--clip-seconds"),
    ("sweep-seed", _sweep("--seed", "-1"), "--seed"),
    ("sweep-max-clips", _sweep("--max-clips-per-class", "0"), "--max-clips-per-class"),
    ("sweep-batch-size", _sweep("--batch-size", "0"), "--batch-size"),
    ("sweep-device", _sweep("--device", "abacus"), "--device"),
    ("sweep-probe-train", _sweep("--probe-train", "sometimes"), "--probe-train"),
    ("sweep-rt60-nan", _sweep("--rt60", "nan..1"), "--rt60"),
    ("sweep-model-missing", _sweep("--model", "{fx}/nope.ckpt"), "not found"),
    ("sweep-model-text", _sweep("--model", "{fx}/text.ckpt"), "text.ckpt"),
    ("sweep-model-partial", _sweep("--model", "{fx}/partial.ckpt"), "partial.ckpt"),
    ("sweep-bank-not-bank", _sweep("--bank", "{fx}/notbank.h5"), "notbank.h5"),
    ("sweep-bank-corrupt", _sweep("--bank", "{fx}/corrupt_attrs.h5"), "corrupt_attrs.h5"),
    ("sweep-task-missing", _sweep("--task", "{fx}/nowhere"), "nowhere"),
    ("sweep-task-one-class", _sweep("--task", "{fx}/one_class"), "class"),
    ("sweep-task-unreadable", _sweep("--task", "{fx}/unreadable_classes"), "unreadable_classes"),
    ("sweep-hf-not-model", _sweep("--model", "hf:{fx}/other_stuff"), "not a Hugging Face model folder"),
    ("sweep-hf-not-cached", _sweep("--model", "hf:nobody-here/no-model"), "local Hugging Face cache"),
    ("sweep-hf-remote-code", _sweep("--model", "hf:{fx}/hf_remote"), "--trust-remote-code"),
    ("sweep-folds-all-trainvaltest", _sweep("--task", "{fx}/hear_tvt", "--folds", "all"), "not folds"),
    ("sweep-folds-all-not-hear", _sweep("--folds", "all"), "not a HEAR task"),
    ("sweep-folds-word", _sweep("--folds", "some"), "--folds"),
    ("sweep-probe", _sweep("--probe", "forest"), "--probe"),
    (
        "sweep-room-probes-no-drr",
        _sweep("--bank", "{fx}/bank_no_drr.h5", "--room-probes"),
        "drr_db",  # the bank's structural check names the missing measure before the room probes' own
    ),
    ("sweep-export-file", _sweep("--export-embeddings", "{fx}/a_file"), "--export-embeddings"),
    ("sweep-hear-grid-points", _sweep("--hear-grid-points", "0"), "--hear-grid-points"),
    ("sweep-hf-layer", _sweep("--model", "hf:{fx}/hf_w2v@3"), "layer 3 is out of range"),
    # ---- import-weights
    ("import-weights-missing", _import_weights("{fx}/nowhere.ckpt"), "not found"),
    ("import-weights-out-suffix", _import_weights("{fx}/good.ckpt", "{w}/i.bin"), ".safetensors"),
    ("import-weights-text", _import_weights("{fx}/text.ckpt"), None),
    # ---- nat-hear
    ("nat-hear-snr", _nat_hear("--snr", "loud"), "not a number"),
    ("nat-hear-out-is-input", _nat_hear("--out", "{fx}/corpus"), "is one of the inputs"),
    ("nat-hear-rt60", _nat_hear("--rt60", "1.5..1.0"), "LO > HI"),
    ("nat-hear-not-a-task", _nat_hear(), "is not a HEAR task folder"),
    # ---- report
    ("report-missing", ["report", "{fx}/nowhere", "--out", "{w}/rep"], "nowhere"),
    ("report-no-results", ["report", "{fx}/no_results", "--out", "{w}/rep"], "results.json"),
    ("report-bad-results", ["report", "{fx}/bad_results", "--out", "{w}/rep"], "results.json"),
    ("report-wrong-results", ["report", "{fx}/wrong_results", "--out", "{w}/rep"], "results.json"),
    ("report-out-file", ["report", "{fx}/no_results", "--out", "{fx}/a_file"], None),
    # ---- demo
    ("demo-out-file", _demo("--out", "{fx}/a_file"), "a_file"),
    ("demo-out-proc", _demo("--out", "/proc/demo"), "/proc"),
    ("demo-out-readonly", _demo("--out", "{fx}/readonly/demo"), "readonly"),
    ("demo-steps", _demo("--steps", "0"), "--steps"),
    ("demo-n-scenes", _demo("--n-scenes", "0"), "--n-scenes"),
    ("demo-n-scenes-absurd", _demo("--n-scenes", str(10**9)), "GiB"),
    ("demo-n-per-class", _demo("--n-per-class", "1"), "--n-per-class"),
    ("demo-max-clips", _demo("--max-clips-per-class", "0"), "--max-clips-per-class"),
    ("demo-seed", _demo("--seed", "-1"), "--seed"),
    ("demo-ear-norm", _demo("--ear-norm", "sideways"), "ear_norm"),
    # ---- usage errors (typer): also one line
    ("usage-unknown-option", ["simulate-rirs", "--out", "{w}/b.h5", "--colour", "red"], "--colour"),
    ("usage-missing-option", ["render", "--input", "{fx}/clip.wav"], "--bank"),
    ("usage-unknown-command", ["simulate"], "simulate"),
]

if os.geteuid() == 0:  # root writes into read-only folders: those cases say nothing there
    CASES = [c for c in CASES if "readonly" not in c[0]]


def _snapshot(*roots: Path) -> dict:
    """Every file and folder under the roots; files with their size and modification time. (A folder's own
    time is left out: a command may probe that it can write there.)"""
    seen = {}
    for root in roots:
        for p in [root, *root.rglob("*")] if root.exists() else []:
            st = p.lstat()
            seen[str(p)] = "dir" if p.is_dir() else (st.st_size, st.st_mtime_ns)
    return seen


LIMIT_S = 30  # a refused input answers in well under a second; more means the work started


def run_main(argv: list[str], monkeypatch, capsys) -> tuple[int, str, str]:
    from wavjepa_nat.cli import main

    def too_slow(signum, frame):
        raise TimeoutError(f"still running after {LIMIT_S} s: the input was not checked before the work")

    monkeypatch.setattr(sys, "argv", ["wavjepa-nat", *argv])
    previous = signal.signal(signal.SIGALRM, too_slow)
    signal.alarm(LIMIT_S)
    try:
        main()
        rc = 0
    except SystemExit as exc:
        rc = exc.code if isinstance(exc.code, int) else (0 if exc.code is None else 1)
    finally:
        signal.alarm(0)
        signal.signal(signal.SIGALRM, previous)
    captured = capsys.readouterr()
    return rc, captured.out, captured.err


def assert_one_line_error(rc: int, out: str, err: str, expect: str | None) -> str:
    lines = [ln for ln in err.splitlines() if ln.strip()]
    assert "Traceback" not in err, err
    assert rc == 2, (rc, out[-2000:], err[-2000:])
    assert len(lines) == 1, err
    assert lines[0].startswith("error: "), lines[0]
    if expect is not None:
        assert expect in lines[0], lines[0]
    return lines[0]


@pytest.mark.parametrize("argv,expect", [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_bad_input_is_one_line_exit_2(fx, tmp_path, monkeypatch, capsys, argv, expect):
    work = tmp_path / "w"
    work.mkdir()
    argv = [a.replace("{fx}", str(fx)).replace("{w}", str(work)) for a in argv]
    monkeypatch.setenv("WAVJEPA_NAT_CACHE", str(tmp_path / "cache"))
    before = _snapshot(fx, work)
    rc, out, err = run_main(argv, monkeypatch, capsys)
    assert_one_line_error(rc, out, err, expect)
    assert _snapshot(fx, work) == before, "an output file was created or changed"


@pytest.mark.parametrize(
    "argv,expect",
    [
        (_bank("--noise-bed-seconds", "nan"), "--noise-bed-seconds"),
        (_render("--snr", "1e6"), "--snr"),
    ],
    ids=["bank", "render"],
)
def test_installed_command(fx, tmp_path, argv, expect):
    """The real entry point in a subprocess: the same one line and exit 2."""
    argv = [a.replace("{fx}", str(fx)).replace("{w}", str(tmp_path)) for a in argv]
    exe = Path(sys.executable).parent / "wavjepa-nat"
    p = subprocess.run(
        [str(exe), *argv],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
        env={**os.environ, "OMP_NUM_THREADS": "1"},
    )
    assert_one_line_error(p.returncode, p.stdout, p.stderr, expect)
    assert list(tmp_path.iterdir()) == []


def _command_paths(group, prefix: tuple[str, ...] = ()) -> list[tuple[str, ...]]:
    """Every command of a click group, as the words that name it (("train",), ("bank", "info"), ...)."""
    paths = []
    for name, command in group.commands.items():
        sub = getattr(command, "commands", None)
        paths += _command_paths(command, (*prefix, name)) if sub else [(*prefix, name)]
    return paths


def test_count():
    """The table covers every command of the CLI, each case under its own id (the closing note's numbers are
    printed with -s)."""
    import typer.main

    from wavjepa_nat.cli import app

    commands = _command_paths(typer.main.get_command(app))
    per_command = {c: sum(argv[: len(c)] == list(c) for _, argv, _ in CASES) for c in commands}
    assert len(commands) >= 14, commands  # the 11 commands and the three of `bank`
    assert {c for c, n in per_command.items() if n == 0} == set(), per_command
    ids = [c[0] for c in CASES]
    assert len(set(ids)) == len(ids), "two cases share an id"
    unknown = [argv for _, argv, _ in CASES if not any(argv[: len(c)] == list(c) for c in commands)]
    assert unknown == [["simulate"]], unknown  # only the unknown-command case names no command
    print(f"\n{len(CASES)} bad inputs in the table, for {len(commands)} commands")
