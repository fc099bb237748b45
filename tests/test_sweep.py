"""The robustness sweep end to end on a tiny bank, a tiny procedural corpus and tiny models."""

import base64
import csv
import itertools
import json
import re

import numpy as np
import pytest
import torch
from _fake_encoder import FakeEncoder, cli_inprocess, export_tiny
from _oracle import Oracle

from wavjepa_nat.data.corpus import CorpusConfig, make_corpus
from wavjepa_nat.errors import InputError
from wavjepa_nat.rir_bank import RIRBank, simulate_bank
from wavjepa_nat.robustness.config import SweepConfig
from wavjepa_nat.robustness.metrics.drift import cosine_to_clean
from wavjepa_nat.robustness.models.load import model_names
from wavjepa_nat.robustness.models.logmel import LogMelBaseline
from wavjepa_nat.robustness.report.results import load_results
from wavjepa_nat.robustness.sweep import run_sweep
from wavjepa_nat.robustness.tasks.task import load_task
from wavjepa_nat.scenes.config import SceneConfig

PNG = b"\x89PNG\r\n\x1a\n"
BASELINE = "logmel-stats-binaural"


@pytest.fixture(scope="module")
def world(tmp_path_factory):
    root = tmp_path_factory.mktemp("sweep")
    cfg = SceneConfig(
        rt60=(0.2, 0.9),
        noise_bed_seconds=2.0,
        noise_sources=(0, 1),
        scenes_per_room=2,
        split_per_ten_rooms=(4, 2, 4),
        room_length=(3.0, 8.0),
        source_distance=(0.5, 2.0),
    )
    simulate_bank(root / "bank.h5", cfg, 24, progress=False)
    make_corpus(root / "corpus", CorpusConfig(n_per_class=4, seconds=1.0, speech=False))
    export_tiny(root / "nat.safetensors", channels=2)
    export_tiny(root / "mono.safetensors", channels=1)
    rt = np.sort(RIRBank(root / "bank.h5").rt60()[RIRBank(root / "bank.h5").select(split="test")])
    mid = round(float(np.median(rt)), 2)
    bins = [(round(rt[0] - 0.01, 2), mid), (mid, round(rt[-1] + 0.01, 2))]
    return root, bins


@pytest.fixture(scope="module")
def sweep(world):
    root, bins = world
    out = root / "report"
    cfg = SweepConfig(snr_db=[0.0, 20.0], rt60_bins=bins, grid=True, seed=0, clip_seconds=1.0)
    rows = run_sweep(
        [root / "nat.safetensors", root / "mono.safetensors"],
        str(root / "corpus"),
        root / "bank.h5",
        cfg,
        out_dir=out,
        progress=False,
    )
    return rows, out, bins


def test_every_model_and_the_baseline_has_every_condition(sweep):
    rows, _, bins = sweep
    models = {"nat", "mono", BASELINE, "logmel-stats-mono"}
    assert {r.model for r in rows} == models
    conds = {(r.condition, r.snr_db, r.rt60_bin) for r in rows}
    assert len(conds) == 1 + 2 + 2 + 4  # clean, 2 SNRs, 2 bins, the grid
    for c in conds:
        assert {r.model for r in rows if (r.condition, r.snr_db, r.rt60_bin) == c} == models
    assert {r.rt60_bin for r in rows if r.condition == "rt60"} == set(bins)
    for r in rows:
        assert r.metric == "accuracy" and r.n_clips == 12  # 12 classes x 1 test clip


def test_drop_drift_and_localisation(sweep):
    rows, _, _ = sweep
    clean = {r.model: r for r in rows if r.condition == "clean"}
    for r in rows:
        if r.model_channels == 1:
            assert r.loc_error_deg is None  # N/A for mono models
        else:
            assert np.isfinite(r.loc_error_deg)
    for r in clean.values():
        assert r.clean_cosine == pytest.approx(1.0, abs=1e-6)
    # white-ish noise at 0 dB moves every representation away from its clean embedding
    assert all(r.clean_cosine < 1 - 1e-3 for r in rows if r.condition == "snr" and r.snr_db == 0.0)


def test_report_files_are_well_formed(sweep):
    rows, out, _ = sweep
    back, setup = load_results(out)
    assert back == rows
    assert {"versions", "seeds", "notes", "config", "models", "task", "bank", "conditions"} <= set(setup)
    assert setup["config"]["snr_db"] == [0.0, 20.0] and setup["config"]["grid"] is True
    assert setup["task"]["splits"] == "the data set's own"
    assert any("averaged to mono" in n for n in setup["notes"])
    assert [m["channels"] for m in setup["models"]][:2] == [2, 1]
    with open(out / "results.csv") as f:
        table = list(csv.DictReader(f))
    assert len(table) == len(rows)
    md = (out / "report.md").read_text()
    assert "N/A" in md and BASELINE in md and "SNR 0 dB, RT60" in md
    html = (out / "report.html").read_text()
    assert html.startswith("<!DOCTYPE html>") and html.rstrip().endswith("</html>")
    assert not re.search(r"src=['\"](?!data:)", html)  # self-contained
    imgs = re.findall(r"data:image/png;base64,([A-Za-z0-9+/=]+)", html)
    assert imgs and all(base64.b64decode(i).startswith(PNG) for i in imgs)
    pngs = {p.name for p in (out / "plots").glob("*.png")}
    assert any("vs_snr" in p for p in pngs) and any("vs_rt60" in p for p in pngs)
    assert any("grid_nat" in p for p in pngs) and any("localisation" in p for p in pngs)
    assert all((out / "plots" / p).read_bytes().startswith(PNG) for p in pngs)
    json.loads((out / "results.json").read_text())


class Recorder(FakeEncoder):
    """A FakeEncoder that remembers every input batch it is given."""

    def __init__(self, name):
        super().__init__(channels=2, seed=0)
        self.name, self.seen = name, []

    def forward(self, audio):
        self.seen.append(audio.detach().clone())
        return super().forward(audio)


def test_every_model_sees_exactly_the_same_audio(world):
    root, bins = world
    a, b = Recorder("a"), Recorder("b")
    cfg = SweepConfig(snr_db=[5.0], rt60_bins=bins[:1], seed=3, clip_seconds=1.0, max_clips_per_class=1)
    rows = run_sweep([a, b], str(root / "corpus"), root / "bank.h5", cfg, progress=False)
    assert len(a.seen) == len(b.seen) > 0
    assert all(torch.equal(x, y) for x, y in zip(a.seen, b.seen))
    score = {(r.model, r.condition): (r.score, r.clean_cosine, r.loc_error_deg) for r in rows}
    for cond in ("clean", "snr", "rt60"):
        assert score[("a", cond)] == score[("b", cond)]


def test_matched_probe_training_runs(world):
    root, bins = world
    cfg = SweepConfig(
        snr_db=[0.0],
        rt60_bins=bins[1:],
        probe_train="matched",
        seed=0,
        clip_seconds=1.0,
        max_clips_per_class=1,
    )
    rows = run_sweep([root / "nat.safetensors"], str(root / "corpus"), root / "bank.h5", cfg, progress=False)
    assert {r.condition for r in rows} == {"clean", "snr", "rt60"}
    assert all(np.isfinite(r.score) for r in rows)
    assert all(np.isfinite(r.loc_error_deg) for r in rows if r.model_channels == 2)


class AudioRecorder(LogMelBaseline):
    """A mono embedder that remembers every batch of audio it embeds."""

    def __init__(self):
        super().__init__(channels=1, name="recorder")
        self.seen = []

    def scene_embeddings(self, audio):
        self.seen.append(np.array(audio, dtype=np.float64))
        return super().scene_embeddings(audio)


def _row_cosines(a, b):
    a, b = a.reshape(len(a), -1), b.reshape(len(b), -1)
    return np.sum(a * b, axis=1) / (np.linalg.norm(a, axis=1) * np.linalg.norm(b, axis=1))


@pytest.mark.parametrize("probe_train", ["clean", "matched"])
def test_matched_probes_are_fitted_on_the_condition(world, probe_train):
    """Matched probes are trained on the training clips rendered under the condition: at SNR 0 dB the clip
    and the noise carry equal power (over both ears), so each training clip the probe sees correlates with
    its clean rendering by sqrt(1/2). A clean-trained probe never sees such a batch."""
    root, _ = world
    rec = AudioRecorder()
    cfg = SweepConfig(
        snr_db=[0.0], rt60_bins="none", probe_train=probe_train, clip_seconds=1.0, max_clips_per_class=2
    )
    run_sweep([rec], str(root / "corpus"), root / "bank.h5", cfg, progress=False)
    clean_train = rec.seen[0]  # the clean probes come first
    noisy_train = [
        x for x in rec.seen[1:] if x.shape == clean_train.shape and np.all(_row_cosines(x, clean_train) > 0.6)
    ]
    if probe_train == "clean":
        assert noisy_train == []
        return
    assert len(noisy_train) == 1
    assert np.median(_row_cosines(noisy_train[0], clean_train)) == pytest.approx(np.sqrt(0.5), abs=0.03)


def test_cli_sweep_with_the_default_snr_range(world, tmp_path):
    root = world[0]
    out = tmp_path / "r"
    result = cli_inprocess(
        "robustness",
        "--model",
        root / "mono.safetensors",
        "--task",
        root / "corpus",
        "--bank",
        root / "bank.h5",
        "--snr",
        "-5..20",
        "--rt60",
        "none",
        "--out",
        out,
        "--clip-seconds",
        1.0,
        "--max-clips-per-class",
        1,
    )
    assert result.exit_code == 0, result.output
    back, _ = load_results(out)
    assert sorted({r.snr_db for r in back if r.condition == "snr"}) == [-5, 0, 5, 10, 15, 20]
    assert (out / "report.html").is_file() and (out / "report.md").is_file()


def test_empty_rt60_bin_and_one_class_task(world, tmp_path):
    root = world[0]
    with pytest.raises(InputError, match="RT60 bin 3-4 s"):
        run_sweep(
            [root / "mono.safetensors"],
            str(root / "corpus"),
            root / "bank.h5",
            SweepConfig(rt60_bins=[(3.0, 4.0)]),
            progress=False,
        )
    one = tmp_path / "one"
    (one / "dog").mkdir(parents=True)
    import soundfile as sf

    for i in range(3):
        sf.write(one / "dog" / f"{i}.wav", np.random.default_rng(i).standard_normal(FS := 16000) * 0.1, FS)
    with pytest.raises(InputError, match="1 class"):
        run_sweep([root / "mono.safetensors"], str(one), root / "bank.h5", progress=False)


def test_model_names_are_short_and_unique():
    assert model_names(["runs/nat/last.ckpt", "runs/clean/last.ckpt"]) == ["nat/last", "clean/last"]
    assert model_names(["a/x.ckpt", "b/y.ckpt"]) == ["x", "y"]
    assert model_names(["a/x.ckpt", "a/x.ckpt"]) == ["x#1", "x#2"]


def test_cosine_to_clean_matches_the_definition():
    rng = np.random.default_rng(0)
    a, b = rng.standard_normal((5, 4)), rng.standard_normal((5, 4))
    sims = [np.dot(x, y) / np.linalg.norm(x) / np.linalg.norm(y) for x, y in zip(a, b)]
    assert cosine_to_clean(a, b) == pytest.approx(np.mean(sims))
    assert cosine_to_clean(a, 3 * a) == pytest.approx(1.0, abs=1e-12)
    assert cosine_to_clean(a, -a) == pytest.approx(-1.0)


def test_multilabel_task_is_scored_by_map(world, tmp_path):
    root = world[0]
    with open(root / "corpus" / "manifest.csv") as f:
        rows = list(csv.DictReader(f))
    for r in rows:  # a second label: the first half of the classes vs the second
        r["path"] = str(root / "corpus" / r["path"])
        r["label"] = f"{r['label']};{'early' if r['label'] < 'noise' else 'late'}"
    with open(tmp_path / "ml.csv", "w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=["path", "label", "split"])
        w.writeheader()
        w.writerows(rows)
    cfg = SweepConfig(snr_db=[10.0], rt60_bins="none", seed=0, clip_seconds=1.0, max_clips_per_class=1)
    out = run_sweep(
        [root / "mono.safetensors"], str(tmp_path / "ml.csv"), root / "bank.h5", cfg, progress=False
    )
    assert {r.metric for r in out} == {"mAP"}
    assert all(np.isfinite(r.score) for r in out)


# ------------------------------------------------------------- the oracle: scores that must fall with the SNR

ORACLE_SNRS = [-5.0, 0.0, 5.0, 10.0, 20.0]


@pytest.fixture(scope="module")
def oracle_sweep(world):
    root = world[0]
    make_corpus(root / "corpus10", CorpusConfig(n_per_class=10, seconds=0.5, speech=False))
    cfg = SweepConfig(snr_db=ORACLE_SNRS, rt60_bins="none", seed=0, clip_seconds=0.5)
    oracle = Oracle(load_task(root / "corpus10", 16000, cfg.clip_seconds, cfg.seed))
    rows = run_sweep([oracle], str(root / "corpus10"), root / "bank.h5", cfg, progress=False)
    return oracle, rows


def test_oracle_scores_fall_with_the_snr(oracle_sweep):
    _, rows = oracle_sweep
    mine = {r.snr_db: r for r in rows if r.model == "oracle"}
    chance = 1 / 12
    assert mine[None].score > 0.9 > 5 * chance  # clean: the embeddings carry the label
    by_snr = [mine[None]] + [mine[s] for s in sorted(ORACLE_SNRS, reverse=True)]  # clean, 20, 10, ..., -5 dB
    scores = [r.score for r in by_snr]
    tol = 1.5 / mine[None].n_clips  # a clip's noise differs per SNR: allow one clip out of order
    assert all(lo <= hi + tol for hi, lo in itertools.pairwise(scores)), scores
    assert scores[0] - scores[-1] > 0.4, scores  # clean vs -5 dB: a clear gap
    # the embeddings drift away from the clean ones as the SNR falls
    drift = [r.clean_cosine for r in by_snr]
    assert drift[0] == pytest.approx(1.0)
    assert all(lo <= hi + 0.1 for hi, lo in itertools.pairwise(drift)) and drift[-1] < 0.8, drift


def test_oracle_score_matches_its_embeddings(oracle_sweep):
    """The reported accuracy at -5 dB is the share of test clips whose embedding names their class."""
    from sklearn.metrics import accuracy_score

    oracle, rows = oracle_sweep
    n_test = next(r.n_clips for r in rows if r.model == "oracle")
    test_calls = [c for c in oracle.calls if len(c["class"]) == n_test]  # the train clips: one bigger call
    worst = min(test_calls, key=lambda c: np.median(c["snr_db"]))  # the -5 dB condition
    expected = accuracy_score(worst["true"], worst["class"])
    got = next(r.score for r in rows if r.model == "oracle" and r.snr_db == -5.0)
    assert got == pytest.approx(expected)


def test_noise_corpus_test_split_for_the_snr_conditions(world, tmp_path):
    """--noise DIR: the SNR conditions run with noise made per clip from the corpus (its test split scored),
    and the report records which noise was used."""
    import dataclasses

    import soundfile as sf

    root, bins = world
    corpus = tmp_path / "wham_noise"
    rng = np.random.default_rng(0)
    for split in ("tr", "tt"):
        (corpus / split).mkdir(parents=True)
        sf.write(corpus / split / "n.wav", 0.1 * rng.standard_normal((16000, 2)), 16000)
    cfg = SweepConfig(
        snr_db=[0.0], rt60_bins=bins[:1], seed=0, clip_seconds=1.0, max_clips_per_class=1, noise=str(corpus)
    )
    # The same scenes without beds (simulate-rirs --beds none) serve as well.
    nobeds = tmp_path / "nobeds.h5"
    simulate_bank(nobeds, dataclasses.replace(RIRBank(root / "bank.h5").config, noise_beds=False), 24)
    for bank in (root / "bank.h5", nobeds):
        out = tmp_path / bank.stem
        rows = run_sweep([root / "nat.safetensors"], str(root / "corpus"), bank, cfg, out_dir=out)
        assert {r.condition for r in rows} == {"clean", "snr", "rt60"}
        assert all(np.isfinite(r.score) for r in rows)
        setup = load_results(out)[1]
        assert "wham_noise" in setup["bank"]["noise"] and "test" in setup["bank"]["noise"]
        assert any("wham_noise" in n and "not the noise beds" in n for n in setup["notes"])


class OracleWithCues(Oracle):
    """The oracle's one-hot class, then one 'interaural' dim: 50 (1 - the ears' correlation), plus float-level
    noise, so it is constant on a dry clip on both ears and moves with any binaural rendering (as the
    "apart" layout's cues do). semantic_dim declares the one-hot part, or None: the whole is one embedding."""

    def __init__(self, task, semantic_dim):
        super().__init__(task, channels=2, name="cues")
        self.semantic_dim, self.rng = semantic_dim, np.random.default_rng(0)
        self.output_dim = len(self.classes) + 1

    def scene_embeddings(self, audio):
        left, right = audio[:, 0].astype(np.float64), audio[:, 1].astype(np.float64)
        corr = (left * right).sum(1) / np.sqrt((left**2).sum(1) * (right**2).sum(1) + 1e-20)
        cue = 50 * (1 - corr) + 1e-6 * self.rng.standard_normal(len(audio))
        return np.hstack([super().scene_embeddings(audio), cue[:, None].astype(np.float32)])


def test_recognition_probes_read_only_the_declared_semantic_dims(oracle_sweep, world):
    """A model that declares semantic_dim is scored on those dims: its accuracy under noise is the one its
    one-hot part earns (the oracle's own, recomputed from its calls). Without the declaration the room-moved
    dim, near-constant on the clean training clips, sinks the clean-trained probe."""
    root = world[0]
    cfg = SweepConfig(snr_db=[20.0], rt60_bins="none", seed=0, clip_seconds=0.5)
    task = load_task(root / "corpus10", 16000, cfg.clip_seconds, cfg.seed)
    scores = {}
    for declared in (len(task.classes), None):
        model = OracleWithCues(task, declared)
        rows = run_sweep([model], str(root / "corpus10"), root / "bank.h5", cfg, progress=False)
        scores[declared] = next(r.score for r in rows if r.model == "cues" and r.snr_db == 20.0)
        if declared:
            # the classification pass embeds the clean training clips, the clean test clips, then the 20 dB
            # ones (the localisation pass follows)
            at_20 = model.calls[2]
            assert len(at_20["class"]) == next(r.n_clips for r in rows if r.model == "cues")
            assert scores[declared] == pytest.approx(np.mean(at_20["class"] == at_20["true"]))
    assert scores[None] < scores[len(task.classes)] - 0.3, scores
