"""Any audio model in simulated rooms: HEAR modules as models, HEAR task folders as tasks, Nat-HEAR copies.

The tests write their own small HEAR modules (mono, binaural, broken) into a folder on sys.path, their own
HEAR-layout tasks, a small bank and a 2-step checkpoint; the README's commands run as written.
"""

import csv
import json
import re
import shlex
import shutil
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
from _cli import run_main
from _tiny_hf import make_wav2vec2
from _training import tiny_train_config

from wavjepa_nat.errors import InputError

FS = 16000


def _hear_module(attributes: str, embeddings: str, state: str = "") -> str:
    """A HEAR module's source: module-level `state`, a torch Model with these class attributes,
    load_model() returning it, and get_scene_embeddings(audio, model) with this body."""
    return (
        "\nimport torch\n"
        + textwrap.dedent(state).lstrip("\n")
        + "class Model(torch.nn.Module):\n"
        + textwrap.indent(textwrap.dedent(attributes).lstrip("\n"), "    ")
        + 'def load_model(model_file_path=""):\n    return Model()\n'
        + "def get_scene_embeddings(audio, model):\n"
        + textwrap.indent(textwrap.dedent(embeddings).lstrip("\n"), "    ")
    )


MODULES = {
    # The HEAR 2021 naive baseline's API, at 8 kHz (the sweep resamples): log band energies of the mono input.
    "hearbaseline": _hear_module(
        """
        sample_rate = 8000
        scene_embedding_size = 16
        timestamp_embedding_size = 16
        """,
        """
        SEEN.append(tuple(audio.shape))
        assert audio.ndim == 2, audio.shape
        spec = torch.fft.rfft(audio, dim=-1).abs() ** 2
        bands = torch.stack([b.mean(-1) for b in torch.tensor_split(spec, 16, dim=-1)], dim=-1)
        return torch.log(bands + 1e-8).float()
        """,
        state="SEEN = []\n",
    ),
    # A two-channel model (n_channels = 2): band energies of each ear and their difference.
    "binaural_hear": _hear_module(
        """
        sample_rate = 16000
        scene_embedding_size = 24
        n_channels = 2
        """,
        """
        SEEN.append(tuple(audio.shape))
        assert audio.ndim == 3 and audio.shape[1] == 2, audio.shape
        spec = torch.fft.rfft(audio, dim=-1).abs() ** 2
        parts = torch.tensor_split(spec, 8, dim=-1)
        bands = torch.log(torch.stack([b.mean(-1) for b in parts], -1) + 1e-8)
        return torch.cat([bands[:, 0], bands[:, 1], bands[:, 0] - bands[:, 1]], dim=-1).float()
        """,
        state="SEEN = []\n",
    ),
    "wrong_shape_hear": _hear_module(
        "sample_rate = 16000\nscene_embedding_size = 8\n", "return torch.zeros(audio.shape[0], 9)\n"
    ),
    "nan_hear": _hear_module(
        "sample_rate = 16000\nscene_embedding_size = 4\n",
        'return torch.full((audio.shape[0], 4), float("nan"))\n',
    ),
    "float64_hear": _hear_module(
        "sample_rate = 16000\nscene_embedding_size = 4\n",
        "return torch.zeros(audio.shape[0], 4, dtype=torch.float64)\n",
    ),
    "no_api_hear": "def load_model(path=''):\n    return None\n",
    "load_fails_hear": """
        def load_model(model_file_path=""):
            raise RuntimeError("weights are corrupt")
        def get_scene_embeddings(audio, model):
            return None
        """,
    # Works when checked (2 clips) and for the probes, then returns wrong shapes: it breaks mid-sweep.
    "late_break_hear": _hear_module(
        "sample_rate = 16000\nscene_embedding_size = 4\n",
        """
        CALLS[0] += 1
        n = audio.shape[0] if CALLS[0] <= 4 else audio.shape[0] - 1
        return audio[:n, :4].float() * 0 + torch.arange(4.0) * CALLS[0]
        """,
        state="CALLS = [0]\n",
    ),
}


def _tone(freq: float, seconds: float, seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    t = np.arange(int(seconds * FS)) / FS
    return 0.3 * np.sin(2 * np.pi * freq * (1 + 0.05 * rng.random()) * t) + 0.02 * rng.standard_normal(len(t))


def make_hear_task(
    root: Path, split_mode: str = "trainvaltest", per_split=None, multilabel: bool = False, channels: int = 1
) -> Path:
    """A HEAR-layout task: two tonal classes (300 Hz vs 2.5 kHz), 0.5 s clips at 16 kHz."""
    splits = per_split or (
        {"train": 6, "valid": 2, "test": 4}
        if split_mode == "trainvaltest"
        else {f"fold{i:02d}": 3 for i in range(3)}
    )
    root.mkdir(parents=True)
    meta = {
        "task_name": root.name,
        "version": "test",
        "embedding_type": "scene",
        "prediction_type": "multilabel" if multilabel else "multiclass",
        "split_mode": split_mode,
        "sample_duration": 0.5,
        "evaluation": ["top1_acc"],
    }
    if split_mode != "trainvaltest":
        meta["nfolds"] = len(splits)
    (root / "task_metadata.json").write_text(json.dumps(meta))
    (root / "labelvocabulary.csv").write_text("idx,label\n0,low\n1,high\n")
    for s, (split, n) in enumerate(splits.items()):
        labels = {}
        (root / "16000" / split).mkdir(parents=True)
        for i in range(n):
            label = ("low", "high")[i % 2]
            name = f"{split}_{i}.wav"
            x = _tone(300.0 if label == "low" else 2500.0, 0.5, 100 * s + i)
            sf.write(
                root / "16000" / split / name, np.stack([x] * channels, axis=1) if channels > 1 else x, FS
            )
            labels[name] = [label] + (["high"] if multilabel and i % 3 == 0 and label == "low" else [])
        (root / f"{split}.json").write_text(json.dumps(labels))
    return root


@pytest.fixture(scope="module")
def world(tmp_path_factory, corpus_and_bank):
    """HEAR modules on sys.path, a HEAR task, a bank whose rooms span RT60 1.0-1.5 s, a 2-step checkpoint."""
    from wavjepa_nat.rir_bank import simulate_bank
    from wavjepa_nat.scenes.config import SceneConfig

    root = tmp_path_factory.mktemp("hear")
    mods = root / "modules"
    mods.mkdir()
    for name, text in MODULES.items():
        (mods / f"{name}.py").write_text(textwrap.dedent(text))
    sys.path.insert(0, str(mods))
    cfg = SceneConfig(
        rt60=(1.05, 1.35),
        noise_bed_seconds=1.0,
        noise_sources=(1, 1),
        scenes_per_room=2,
        split_per_ten_rooms=(5, 1, 4),
        room_length=(3.0, 6.0),
        source_distance=(0.5, 2.0),
    )
    simulate_bank(root / "bank.h5", cfg, 20, progress=False)
    task = make_hear_task(root / "hear" / "tones")
    from wavjepa_nat.training.loop import train

    corpus, train_bank = corpus_and_bank
    run = tiny_train_config(corpus, root / "run", train_bank, max_steps=2, log_every=1, seed=0)
    last = train(run, progress=False)
    yield {"root": root, "bank": root / "bank.h5", "task": task, "ckpt": Path(last), "modules": mods}
    sys.path.remove(str(mods))
    from wavjepa_nat.robustness.models.hear_module import unload

    for name in MODULES:
        unload(name)


def _one_line_error(rc, err, *expect):
    lines = [ln for ln in err.strip().splitlines() if ln.strip() and not ln.startswith("warning:")]
    assert rc == 2 and len(lines) == 1 and "Traceback" not in err, err
    assert lines[0].startswith("error:") and all(e in lines[0] for e in expect), lines[0]


# ---------------------------------------------------------------- end to end: the README as written


def test_the_readme_hear_commands_run_as_written(world, tmp_path, monkeypatch, capsys):
    """README 4: robustness over a HEAR module and a checkpoint on a HEAR task; a Nat-HEAR ladder; the copy
    read back by --task. One report, summary first, each model's kind, source, rate, size and input."""
    readme = (Path(__file__).parents[1] / "README.md").read_text()
    block = re.search(r"<!-- hear-benchmark -->\n```bash\n(.*?)```", readme, re.S).group(1)
    commands = [shlex.split(c, comments=True) for c in block.replace("\\\n", " ").splitlines() if c.strip()]
    commands = [c for c in commands if c]
    assert [c[1] for c in commands] == ["robustness", "nat-hear", "nat-hear", "robustness"]
    monkeypatch.chdir(tmp_path)
    task_arg = commands[0][commands[0].index("--task") + 1]
    Path(task_arg).parent.mkdir(parents=True)
    Path(task_arg).symlink_to(world["task"])
    Path("bank.h5").symlink_to(world["bank"])
    (tmp_path / "runs" / "nat").mkdir(parents=True)
    shutil.copy(world["ckpt"], tmp_path / "runs" / "nat" / "last.ckpt")
    import hearbaseline

    hearbaseline.SEEN.clear()
    for argv in commands:
        rc, out, err = run_main(monkeypatch, capsys, argv[1:])
        assert rc == 0, (argv, out, err)

    # 1. the benchmark report
    out_dir = Path(commands[0][commands[0].index("--out") + 1])
    results = json.loads((out_dir / "results.json").read_text())
    models = {m["name"]: m for m in results["setup"]["models"]}
    hear = models["hear:hearbaseline"]
    assert hear["kind"] == "HEAR 2021 module" and hear["sample_rate"] == 8000 and hear["embedding_dim"] == 16
    assert hear["input"].startswith("mono mixdown") and "16000 -> 8000 Hz" in hear["input"]
    assert models["last"]["input"].startswith("binaural") and models["last"]["channels"] == 2
    assert all(len(shape) == 2 for shape in hearbaseline.SEEN)  # mono: the mean of the ears, (n, samples)
    assert max(shape[1] for shape in hearbaseline.SEEN) == 4 * 8000  # 4 s clips at the module's own rate
    rows = results["rows"]
    assert {r["model"] for r in rows} == set(models)
    assert {r["condition"] for r in rows} == {"clean", "snr", "rt60"}
    assert sorted({r["snr_db"] for r in rows if r["condition"] == "snr"}) == [-5, 0, 5, 10, 15, 20]
    for r in rows:
        assert r["score_ci"][0] <= r["score"] <= r["score_ci"][1] and r["seconds"] > 0
        assert (r["loc_error_deg"] is None) == (r["model_channels"] == 1)
    assert results["setup"]["task"]["splits"] == "the HEAR task's own (train, valid, test)"
    assert results["setup"]["task"]["clips"] == {"train": 6, "val": 2, "test": 4}
    assert any(t["test"] == "McNemar exact" for t in results["tests"])
    page = (out_dir / "report.html").read_text()
    # the answer first: summary, comparison, main plots, before the models, per-model tables and the setup
    positions = [
        page.index(s)
        for s in (
            'id="summary"',
            'id="comparison"',
            "data:image/png",
            'id="models"',
            'id="model-0"',
            "<details",
        )
    ]
    assert positions == sorted(positions), positions
    summary = page[page.index('id="summary"') : page.index('id="models"')]
    assert "hear:hearbaseline: accuracy" in summary and "under noise it loses" in summary
    assert "under reverberation it loses" in summary
    md = (out_dir / "report.md").read_text()
    order = [md.index(h) for h in ("## Summary", "## Models", "## Results per model", "<details>")]
    assert order == sorted(order)
    assert "HEAR 2021 module" in md and "mono mixdown (mean of the two ears)" in md

    # 2. the Nat-HEAR ladder: two copies, two-channel WAVs in the HEAR layout, their recipe recorded
    copies = [Path(c[c.index("--out") + 1]) for c in commands[1:3]]
    for copy, argv in zip(copies, commands[1:3]):
        meta = json.loads((copy / "task_metadata.json").read_text())
        recipe = meta["nat_hear"]
        assert meta["task_name"] == "tones" and meta["split_mode"] == "trainvaltest"
        assert recipe["seed"] == 0 and len(recipe["bank"]["sha256"]) == 64 and recipe["bank"]["config"]
        assert recipe["snr_db"] == [0.0, 0.0]
        assert (recipe["rt60_s"] == [1.0, 1.5]) == ("--rt60" in argv)
        vocabulary = (world["task"] / "labelvocabulary.csv").read_text()
        assert (copy / "labelvocabulary.csv").read_text() == vocabulary
        for split in ("train", "valid", "test"):
            listed = json.loads((copy / f"{split}.json").read_text())
            assert listed == json.loads((world["task"] / f"{split}.json").read_text())
            for name in listed:
                info = sf.info(copy / "16000" / split / name)
                assert info.channels == 2 and info.frames == int(0.5 * FS)
        with open(copy / "nat_hear_clips.csv") as f:
            clips = list(csv.DictReader(f))
        assert len(clips) == 12 and {
            "scene",
            "azimuth_deg",
            "elevation_deg",
            "distance_m",
            "rt60_measured_s",
            "snr_db",
        } <= set(clips[0])
        assert all(float(c["snr_db"]) == 0.0 for c in clips)
        assert all((c["bank_split"] == "test") == (c["split"] == "test") for c in clips)
        if "--rt60" in argv:
            assert all(1.0 <= float(c["rt60_measured_s"]) <= 1.5 for c in clips)

    # 3. the copy read back as a task: two-channel clips, the recipe named in the notes
    back = json.loads((Path(commands[3][commands[3].index("--out") + 1]) / "results.json").read_text())
    assert back["setup"]["task"]["channels"] == 2 and back["setup"]["task"]["clips"]["test"] == 4
    assert any("naturalistic copy" in n for n in back["setup"]["notes"])


def test_a_nat_hear_copy_is_deterministic_and_resumes(world, tmp_path, monkeypatch, capsys):
    from wavjepa_nat.robustness.tasks.nat_hear import NatHearConfig, make_nat_hear

    cfg = NatHearConfig(snr="-5..20", seed=3)
    a = make_nat_hear(world["task"], world["bank"], tmp_path / "a", cfg, progress=False)
    assert a["written"] == 12 and a["skipped"] == 0
    victim = tmp_path / "a" / "16000" / "test" / "test_1.wav"
    before = {p.relative_to(tmp_path / "a"): p.read_bytes() for p in (tmp_path / "a").rglob("*.wav")}
    victim.unlink()  # as if interrupted before this clip
    b = make_nat_hear(world["task"], world["bank"], tmp_path / "a", cfg, progress=False)
    assert b["written"] == 1 and b["skipped"] == 11
    after = {p.relative_to(tmp_path / "a"): p.read_bytes() for p in (tmp_path / "a").rglob("*.wav")}
    assert after == before  # the same bytes: every draw is a function of (seed, split, file)
    with open(tmp_path / "a" / "nat_hear_clips.csv") as f:
        snrs = [float(r["snr_db"]) for r in csv.DictReader(f)]
    assert all(-5 <= s <= 20 for s in snrs) and len(set(snrs)) == 12
    rc, _, err = run_main(
        monkeypatch,
        capsys,
        [
            "nat-hear",
            "--task-dir",
            world["task"],
            "--bank",
            world["bank"],
            "--out",
            tmp_path / "a",
            "--seed",
            "4",
        ],
    )
    _one_line_error(rc, err, "other options", "seed")


def test_a_polyphonic_nat_hear_copy_mixes_files_of_other_classes(world, tmp_path):
    from wavjepa_nat.robustness.tasks.nat_hear import NatHearConfig, make_nat_hear

    cfg = NatHearConfig(snr="none", seed=1, polyphony=2, tir=6.0)
    a = make_nat_hear(world["task"], world["bank"], tmp_path / "a", cfg, progress=False)
    assert a["written"] == 12
    with open(tmp_path / "a" / "nat_hear_clips.csv") as f:
        clips = list(csv.DictReader(f))
    for c in clips:
        labels = json.loads((Path(world["task"]) / f"{c['split']}.json").read_text())
        other = c["interferers"].split(" ")
        assert len(other) == 1 and other[0] != c["file"] and float(c["tir_db"]) == 6.0
        assert not set(labels[other[0]]) & set(labels[c["file"]])  # another class
    single = make_nat_hear(world["task"], world["bank"], tmp_path / "b", NatHearConfig(snr="none", seed=1))
    one = tmp_path / "a" / "16000" / "test" / "test_1.wav"
    assert one.read_bytes() != (tmp_path / "b" / "16000" / "test" / "test_1.wav").read_bytes()
    assert single["written"] == 12


@pytest.mark.parametrize(
    "extra,expect",
    [
        (("--snr", "20..-5"), "LO > HI"),
        (("--snr", "loud"), "not a number"),
        (("--rt60", "0.1..0.3"), "RT60 bin 0.1-0.3 s: no test-split BRIRs"),
        (("--rt60", "1.5..1.0"), "LO > HI"),
        (("--task-dir", "NOTASK"), "is not a HEAR task folder"),
        (("--polyphony", "0"), "--polyphony"),
        (("--polyphony", "3"), "noise-source positions"),
        (("--polyphony", "2", "--tir", "1e9"), "--tir"),
    ],
)
def test_nat_hear_bad_input_is_one_line(world, tmp_path, monkeypatch, capsys, extra, expect):
    args = {"--task-dir": world["task"], "--bank": world["bank"], "--out": tmp_path / "copy"}
    extra = [tmp_path if e == "NOTASK" else e for e in extra]
    args.update(dict(zip(extra[::2], extra[1::2])))
    rc, _, err = run_main(monkeypatch, capsys, ["nat-hear"] + [str(a) for kv in args.items() for a in kv])
    _one_line_error(rc, err, expect)


# ---------------------------------------------------------------- HEAR modules


def test_a_binaural_hear_module_gets_both_ears_and_is_localised(world):
    import binaural_hear

    from wavjepa_nat.robustness.config import SweepConfig
    from wavjepa_nat.robustness.sweep import run_sweep

    binaural_hear.SEEN.clear()
    cfg = SweepConfig(snr_db=[0.0], rt60_bins="none", clip_seconds=0.5)
    rows = run_sweep(["hear:binaural_hear"], str(world["task"]), world["bank"], cfg, progress=False)
    assert all(len(s) == 3 and s[1] == 2 and s[2] == int(0.5 * FS) for s in binaural_hear.SEEN[1:])
    mine = [r for r in rows if r.model == "hear:binaural_hear"]
    assert len(mine) == 2 and all(r.model_channels == 2 and r.loc_error_deg is not None for r in mine)
    assert all(r.loc_ci[0] <= r.loc_error_deg <= r.loc_ci[1] for r in mine)


@pytest.mark.parametrize(
    "model,expect",
    [
        ("hear:not_installed_anywhere", "module 'not_installed_anywhere' is not installed"),
        ("hear:wrong_shape_hear", "returned shape (2, 9) for 2 clips; expected (2, 8)"),
        ("hear:nan_hear", "non-finite values"),
        ("hear:float64_hear", "dtype torch.float64; the HEAR API needs float32"),
        ("hear:no_api_hear", "has no get_scene_embeddings()"),
        ("hear:load_fails_hear", "load_model() failed: RuntimeError: weights are corrupt"),
        ("hear:hearbaseline:missing.pt", "weights not found: missing.pt"),
        ("hear:bad-name", "is not a Python module name"),
    ],
)
def test_a_broken_hear_module_is_one_line_naming_it(world, tmp_path, monkeypatch, capsys, model, expect):
    rc, _, err = run_main(
        monkeypatch,
        capsys,
        [
            "robustness",
            "--model",
            model,
            "--model",
            world["ckpt"],
            "--task",
            world["task"],
            "--bank",
            world["bank"],
            "--out",
            tmp_path / "r",
        ],
    )
    _one_line_error(rc, err, model.split(":")[0] + ":" + model.split(":")[1], expect)
    assert not (tmp_path / "r").exists()


def test_a_module_that_breaks_mid_sweep_keeps_the_others(world, tmp_path, monkeypatch, capsys):
    rc, _, err = run_main(
        monkeypatch,
        capsys,
        [
            "robustness",
            "--model",
            "hear:late_break_hear",
            "--model",
            "hear:hearbaseline",
            "--task",
            world["task"],
            "--bank",
            world["bank"],
            "--out",
            tmp_path / "r",
            "--snr",
            "0,10",
            "--rt60",
            "none",
            "--clip-seconds",
            "0.5",
        ],
    )
    _one_line_error(
        rc,
        err,
        "hear:late_break_hear: get_scene_embeddings returned shape",
        "(during SNR 10 dB)",
        "report.md",
    )
    results = json.loads((tmp_path / "r" / "results.json").read_text())
    by_model = {}
    for r in results["rows"]:
        by_model.setdefault(r["model"], []).append(r["condition"])
    assert by_model["hear:hearbaseline"] == ["clean", "snr", "snr"]
    assert by_model["hear:late_break_hear"] == ["clean", "snr"]  # its results until it broke are kept
    assert "late_break_hear" in (tmp_path / "r" / "report.html").read_text().split('id="models"')[0]


# ---------------------------------------------------------------- HEAR task folders


def test_hear_task_folders(tmp_path):
    from wavjepa_nat.robustness.tasks.task import load_task

    task = load_task(make_hear_task(tmp_path / "kfold", "presplit_kfold"), FS, 0.5)
    assert task.split_source.startswith("the HEAR task's 3 folds")
    assert "fold02 is the test fold" in task.split_source and "fold01 validation" in task.split_source
    assert [len(task.keys[s]) for s in ("train", "val", "test")] == [3, 3, 3]
    other = load_task(tmp_path / "kfold", FS, 0.5, test_fold=0)
    assert "fold00 is the test fold" in other.split_source and other.keys["test"][0].startswith("fold00/")
    multi = load_task(make_hear_task(tmp_path / "multi", multilabel=True), FS, 0.5)
    assert multi.multilabel and multi.targets("test").shape == (4, 2) and multi.classes == ["low", "high"]

    bad = make_hear_task(tmp_path / "bad")
    meta = json.loads((bad / "task_metadata.json").read_text())
    cases = [
        (
            lambda: (bad / "task_metadata.json").write_text(json.dumps(dict(meta, embedding_type="event"))),
            "embedding_type is 'event'",
        ),
        (
            lambda: (bad / "task_metadata.json").write_text(json.dumps(dict(meta, split_mode="random"))),
            "split_mode 'random'",
        ),
        (lambda: (bad / "task_metadata.json").write_text("{oops"), "task_metadata.json is not valid JSON"),
        (lambda: (bad / "labelvocabulary.csv").unlink(), "labelvocabulary.csv is missing"),
        (
            lambda: (bad / "test.json").write_text(json.dumps({"test_0.wav": ["purr"]})),
            "'purr', which is not in",
        ),
        (lambda: (bad / "test.json").unlink(), "test.json is missing"),
        (
            lambda: (bad / "16000" / "train" / "train_0.wav").unlink(),
            "1 audio file(s) of train.json are missing",
        ),
    ]
    for damage, expect in cases:
        shutil.rmtree(bad)
        make_hear_task(bad)
        damage()
        with pytest.raises(InputError, match=re.escape(expect)):
            load_task(bad, FS, 0.5)
    with pytest.raises(InputError, match="out of range"):
        load_task(tmp_path / "kfold", FS, 0.5, test_fold=3)


@pytest.mark.slow
def test_the_readme_hf_commands_run_as_written(world, tmp_path, monkeypatch, capsys):
    """README 4, Hugging Face models: a tiny random wav2vec2 (built with transformers, nothing downloaded)
    beside a checkpoint on a HEAR task; then every fold of a k-fold task with HEAR's MLP predictor."""
    transformers = pytest.importorskip("transformers")
    readme = (Path(__file__).parents[1] / "README.md").read_text()
    block = re.search(r"<!-- hf-models -->\n```bash\n(.*?)```", readme, re.S).group(1)
    commands = [shlex.split(c) for c in block.replace("\\\n", " ").splitlines() if c.strip()]
    assert [c[1] for c in commands] == ["robustness", "robustness"]
    monkeypatch.chdir(tmp_path)
    make_wav2vec2("models/wav2vec2", FS)
    Path("hear").mkdir()
    Path("hear/tones").symlink_to(world["task"])
    make_hear_task(tmp_path / "hear" / "tones-kfold", "presplit_kfold", {f"fold{i:02d}": 4 for i in range(3)})
    Path("bank.h5").symlink_to(world["bank"])
    (tmp_path / "runs" / "nat").mkdir(parents=True)
    shutil.copy(world["ckpt"], tmp_path / "runs" / "nat" / "last.ckpt")
    for argv in commands:
        rc, out, err = run_main(monkeypatch, capsys, argv[1:])
        assert rc == 0, (argv, out, err)

    results = json.loads(Path("reports/hf/results.json").read_text())
    models = {m["name"]: m for m in results["setup"]["models"]}
    hf = models["hf:wav2vec2@all"]
    assert hf["kind"] == "Hugging Face transformers model" and hf["embedding_dim"] == 16
    assert f"transformers {transformers.__version__}" in hf["source"] and "layers 1..L" in hf["source"]
    assert hf["input"].startswith("mono mixdown") and models["last"]["channels"] == 2
    assert {r["model"] for r in results["rows"]} == set(models)

    folds = json.loads(Path("reports/hear-folds/folds.json").read_text())
    assert folds["probe"] == "hear-mlp" and folds["folds"] == [0, 1, 2]
    for entry in folds["scores"]:
        scores = [entry["folds"][str(k)] for k in range(3)]
        assert entry["mean"] == pytest.approx(np.mean(scores)) and entry["std"] == pytest.approx(
            np.std(scores)
        )
    for k in range(3):
        fold = json.loads(Path(f"reports/hear-folds/fold{k:02d}/results.json").read_text())
        assert f"fold{k:02d} is the test fold" in fold["setup"]["task"]["splits"]
        assert f"fold{(k - 1) % 3:02d} validation" in fold["setup"]["task"]["splits"]
        clean = {r["model"]: r["score"] for r in fold["rows"] if r["condition"] == "clean"}
        assert clean == {e["model"]: e["folds"][str(k)] for e in folds["scores"] if e["condition"] == "clean"}
    assert "mean +- std" in Path("reports/hear-folds/folds.md").read_text()
