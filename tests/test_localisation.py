"""Localisation: lateral angle and front-back against hand-worked cases, chance levels, direction probes,
the GCC-PHAT + ILD baseline on synthetic delays and bank scenes, the interaural path, per-stage probes."""

import dataclasses

import numpy as np
import pytest
import torch

from wavjepa_nat.dsp import convolve
from wavjepa_nat.rir_bank import RIRBank, simulate_bank
from wavjepa_nat.robustness.binaural_baseline import GccPhatIldBaseline, lateral_from_itd, woodworth_itd
from wavjepa_nat.robustness.localisation import (
    DirectionProbe,
    LocalisationConfig,
    azimuth_chance,
    direction_vector,
    front_back_chance,
    front_back_confusions,
    front_back_defined,
    is_front,
    lateral_angle,
    lateral_chance,
    score_directions,
    vector_azimuth,
    vector_lateral,
)
from wavjepa_nat.robustness.probes import ProbeConfig
from wavjepa_nat.scenes import SceneConfig

ALL = LocalisationConfig(max_elevation_deg=90.0)


def test_lateral_angle_hand_worked():
    # azimuth 0 = front, +90 = left (both heads' convention: the bank's head frame)
    cases = [
        (0, 0, 0),
        (90, 0, 90),
        (-90, 0, -90),
        (180, 0, 0),
        (30, 0, 30),
        (150, 0, 30),
        (-150, 0, -30),
        (90, 60, 30),
        (45, 90, 0),
        (-120, 0, -60),
    ]
    for az, el, lat in cases:
        assert lateral_angle(az, el) == pytest.approx(lat, abs=1e-9), (az, el)
        assert vector_lateral(direction_vector([az], [el]))[0] == pytest.approx(lat, abs=1e-6)
    assert direction_vector([90], [0])[0] == pytest.approx([0, 1, 0], abs=1e-12)  # y = left
    assert vector_azimuth(direction_vector([135, -45], [10, 0])) == pytest.approx([135, -45])


def test_front_back_hand_worked():
    assert list(is_front([0, 30, 89, 91, 180, -150, -30], 0)) == [True, True, True, False, False, False, True]
    # 30 and 150 degrees: the cone of confusion, same lateral angle, other hemisphere
    assert lateral_angle(30, 0) == pytest.approx(lateral_angle(150, 0))
    confusions = front_back_confusions(is_front([150, 30, -170]), is_front([30, 30, 10]))
    assert list(confusions) == [True, False, True]
    # near the interaural axis (frontal plane) front-back is not scored
    assert list(front_back_defined([90, 85, 75, 0, 180], 0, 10.0)) == [False, False, True, True, True]


def test_chance_levels():
    assert lateral_chance(np.array([-60.0, 0.0, 60.0])) == pytest.approx(40.0)  # median 0: (60 + 0 + 60) / 3
    assert front_back_chance(np.array([True, True, True, False])) == pytest.approx(0.25)
    az = np.linspace(-180, 180, 3600, endpoint=False)
    assert azimuth_chance(az) == pytest.approx(90.0, abs=0.2)  # uniform: any constant is 90 off on average
    assert azimuth_chance(np.array([10.0, 10.0, 12.0])) == pytest.approx(2 / 3, abs=0.2)
    s = score_directions(direction_vector([30, 150, -60], 0), [30, 150, -60], 0, ALL)
    assert s.lateral_error_deg == pytest.approx(0, abs=1e-6) and s.front_back_rate == 0.0
    assert s.azimuth_error_deg == pytest.approx(0, abs=1e-6)
    # front-back flipped predictions: lateral perfect, every hemisphere wrong, azimuth far off
    s = score_directions(direction_vector([150, 30, -120], 0), [30, 150, -60], 0, ALL)
    assert s.lateral_error_deg == pytest.approx(0, abs=1e-6) and s.front_back_rate == 1.0
    assert s.azimuth_error_deg == pytest.approx((120 + 120 + 60) / 3, abs=1e-6)
    # directions are counted by source, not by clip: four clips from two scenes
    s = score_directions(direction_vector([30, 30, -60, -60], 0), [30, 30, -60, -60], 0, ALL)
    assert (s.n_clips, s.n_directions) == (4, 2)


def _directions(rng, n):
    az, el = rng.uniform(-180, 180, n), rng.uniform(-30, 30, n)
    return az, el


@pytest.mark.parametrize("kind", ["linear", "mlp"])
def test_probes_on_synthetic_embeddings(kind):
    rng = np.random.default_rng(0)
    az, el = _directions(rng, 500)
    v = direction_vector(az, el)
    informative = np.column_stack([v, 0.01 * rng.standard_normal((500, 5))])  # the direction + distractors
    cfg = ProbeConfig(ridge_alphas=(1e-4, 1e-2), seed=0)
    loc = LocalisationConfig(mlp_hidden=64, mlp_alphas=(1e-3,), mlp_max_iter=300)
    probe = DirectionProbe(kind, cfg, loc).fit(informative[:400], az[:400], el[:400])
    s = probe.evaluate(informative[400:], az[400:], el[400:])
    tol = 3.0 if kind == "linear" else 8.0  # chance is ~40 deg lateral, ~75 deg azimuth
    assert s.lateral_error_deg < tol and s.azimuth_error_deg < 2 * tol and s.front_back_rate < 0.05
    noise = rng.standard_normal((500, 16))
    probe = DirectionProbe(kind, cfg, loc).fit(noise[:400], az[:400], el[:400])
    s = probe.evaluate(noise[400:], az[400:], el[400:])
    assert s.lateral_error_deg > 0.85 * s.lateral_chance_deg
    assert s.azimuth_error_deg > 0.8 * s.azimuth_chance_deg
    assert s.front_back_rate > 0.6 * s.front_back_chance


def test_gcc_phat_recovers_synthetic_delays():
    rng = np.random.default_rng(1)
    x = rng.standard_normal(16000)
    g = GccPhatIldBaseline()
    for d in (-14, -5, -1, 0, 3, 9):
        stereo = np.stack([x, np.roll(x, d)])[None]  # right = left delayed by d: left leads for d > 0
        assert abs(g.itd(stereo)[0] * 16000 - d) < 1.0
    left_louder = np.stack([x, 0.5 * x])[None]
    assert g.ild(left_louder) == pytest.approx(np.full((1, 32), 20 * np.log10(2)), abs=0.05)
    assert g.scene_embeddings(left_louder).shape == (1, g.output_dim)
    angles = [-80, -20, 0, 45, 90]
    assert lateral_from_itd(woodworth_itd(angles)) == pytest.approx(angles, abs=1e-6)


@pytest.fixture(scope="module")
def dry_bank(tmp_path_factory):
    path = tmp_path_factory.mktemp("loc") / "bank.h5"
    simulate_bank(
        path,
        SceneConfig(rt60=(0.2, 0.4), noise_bed_seconds=2.0, scenes_per_room=2, split_per_ten_rooms=(4, 2, 4)),
        12,
        progress=False,
    )
    return RIRBank(path)


def test_gcc_phat_lateral_angle_of_bank_scenes(dry_bank):
    rng = np.random.default_rng(2)
    x = rng.standard_normal(16000).astype(np.float32)
    g = GccPhatIldBaseline()
    for i in range(len(dry_bank)):
        delay = round(float(dry_bank.meta["direct_delay_s"][i]) * dry_bank.fs)
        y = convolve(x, dry_bank.brirs([i])[0], delay)[None]
        truth = lateral_angle(dry_bank.meta["azimuth_deg"][i], dry_bank.meta["elevation_deg"][i])
        assert abs(g.lateral(y)[0] - truth) < 10.0, i


def test_interaural_path_and_stage_embeddings():
    from wavjepa_nat.nat_model import get_preset
    from wavjepa_nat.nat_model.encoder import Encoder
    from wavjepa_nat.robustness.stages import stage_embeddings, stage_tensors

    torch.manual_seed(0)
    cfg = get_preset(
        "tiny",
        conv_dim=16,
        embed_dim=32,
        heads=2,
        depth=2,
        top_k_targets=1,
        pred_dim=16,
        pred_heads=2,
        crop_samples=3360,
        ear_norm="joint",
        share_ear_encoders=True,
        interaural="gcc_ild",
    )
    enc = Encoder(cfg).eval()
    audio = torch.randn(2, 2, 3360)
    st = stage_tensors(enc, audio)
    with torch.no_grad():
        assert torch.allclose(st["tokens"].reshape(2, -1, 32), enc.tokens(audio), atol=1e-6)
        assert torch.allclose(
            st["output"].transpose(1, 2).reshape(2, st["output"].shape[2], -1), enc(audio), atol=1e-5
        )
    # the interaural features see a delay: GCC-PHAT peaks at +3 samples when the right ear lags by 3
    x = torch.randn(1, 3360)
    feats = enc.interaural.features(torch.stack([x, torch.roll(x, 3, dims=-1)], dim=1))
    lags = feats[0, :, : 2 * enc.interaural.max_lag + 1].mean(0)
    assert int(lags.argmax()) - enc.interaural.max_lag == 3
    emb = stage_embeddings(enc, np.random.default_rng(0).standard_normal((3, 2, 4000)).astype(np.float32))
    assert list(emb) == ["conv/ear0", "conv/ear1", "conv/both", "tokens", "block1", "block2", "output"]
    assert emb["conv/ear0"].shape == (3, 16) and emb["conv/both"].shape == (3, 32)
    assert emb["output"].shape == (3, 64)


def test_reduced_stage_measurement(dry_bank, tmp_path):
    """The per-stage benchmark on a tiny bank and corpus: every stage of every layout gets both probes."""
    import importlib.util
    from pathlib import Path

    from wavjepa_nat.data.corpus import CorpusConfig, make_corpus

    spec = importlib.util.spec_from_file_location(
        "bench_spatial_stages", Path(__file__).parents[1] / "benchmarks" / "bench_spatial_stages.py"
    )
    bench = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(bench)
    make_corpus(tmp_path / "corpus", CorpusConfig(n_per_class=3, seconds=1.0, speech=False))
    clips = bench.spatial_clips(dry_bank.path, tmp_path / "corpus", 1.0, 0, None, renders=2)
    assert len(clips["train"]) == 3  # audio, azimuths, elevations
    assert len(clips["train"][0]) > 0 and len(clips["test"][0]) > 0
    results = {}
    small = LocalisationConfig(max_elevation_deg=90.0, mlp_hidden=32, mlp_alphas=(1e-2,), mlp_max_iter=100)
    for layout in ("per_ear/separate", "joint/shared/gcc_ild"):
        model = bench.build_model(layout, 0, 0, tmp_path, dry_bank.path, tmp_path / "corpus", 1.0)
        results[layout] = bench.measure(model, clips, ("linear", "mlp"), loc_cfg=small)
    for r in results.values():
        assert {"conv/ear0", "conv/ear1", "conv/both", "tokens", "block1", "block3", "output"} <= set(r)
        assert all(np.isfinite(v["linear"]) and np.isfinite(v["mlp"]) for v in r.values())
    assert "| tokens |" in bench.table(results, ("linear", "mlp"))


def test_localisation_sweep_rows_and_report(dry_bank, tmp_path):
    """The sweep's localisation pass and its report section, with the GCC-PHAT baseline as the 'model'."""
    from wavjepa_nat.data.corpus import CorpusConfig, make_corpus
    from wavjepa_nat.robustness.conditions import build_conditions
    from wavjepa_nat.robustness.degrade import ScenePools
    from wavjepa_nat.robustness.localisation import localisation_sweep
    from wavjepa_nat.robustness.report import write_report
    from wavjepa_nat.robustness.task import load_task

    make_corpus(tmp_path / "corpus", CorpusConfig(n_per_class=4, seconds=1.0, speech=False))
    rt = np.sort(dry_bank.rt60()[dry_bank.select(split="test")])
    bins = [(round(rt[0] - 0.01, 2), round(rt[-1] + 0.01, 2))]
    data = load_task(str(tmp_path / "corpus"), dry_bank.fs, 1.0, 0, None)
    conds = build_conditions([10.0], bins, False)
    model = GccPhatIldBaseline(name="oracle")
    train_pools = ScenePools(dry_bank, bins, ("train", "val"), False)
    rows, lateral = localisation_sweep(
        [("oracle", model, {})],
        conds,
        data,
        train_pools,
        ScenePools(dry_bank, bins, ("test",), True),
        0,
        loc_cfg=LocalisationConfig(mlp_hidden=32, mlp_alphas=(1e-2,), mlp_max_iter=200),
    )
    models = ("oracle", "gccphat-itd+ild")
    assert {(r.model, r.probe) for r in rows} == {(m, p) for m in models for p in ("linear", "mlp")}
    assert {r.condition for r in rows} == {"clean", "snr", "rt60"}
    clean = [r for r in rows if r.condition == "clean" and r.probe == "linear"]
    # a bank this small has a handful of training directions: check the bookkeeping, not the accuracy
    assert all(np.isfinite(r.lateral_error_deg) and 0 <= r.lateral_error_deg <= 180 for r in rows)
    for cond in {r.condition for r in rows}:  # chance depends on the test sources only: one per condition
        assert len({round(r.lateral_chance_deg, 9) for r in rows if r.condition == cond}) == 1
    # a clip keeps its scene (its direction) at every SNR: clean and noisy conditions are paired
    chance = {r.condition: r.lateral_chance_deg for r in rows}
    assert chance["snr"] == chance["clean"]
    # per-clip lateral errors of the linear probe, one array per (condition, model), for paired tests
    assert set(lateral) == {(c.label, m) for c in conds for m in models}
    for r in rows:
        if r.probe == "linear":
            errors = lateral[(next(c.label for c in conds if c.kind == r.condition), r.model)]
            assert len(errors) == r.n_clips and np.mean(errors) == pytest.approx(r.lateral_error_deg)
    assert all(len(r.true_az) == len(r.pred_az) == r.n_clips for r in clean)
    paths = write_report([], {"title": "t"}, tmp_path / "report", "t", localisation=rows)
    md = paths["md"].read_text()
    assert "## Localisation" in md and "Lateral-angle error (deg)" in md and "oracle (linear / MLP)" in md
    assert "<h2>Localisation</h2>" in paths["html"].read_text()
    pngs = {p.name for p in (tmp_path / "report" / "plots").glob("*.png")}
    assert {
        "localisation-lateral_vs_snr.png",
        "localisation-lateral_vs_rt60.png",
        "localisation-polar_clean.png",
    } <= pngs


def test_localisation_sweep_takes_the_classification_pass_embeddings_of_reverberant_clips(dry_bank, tmp_path):
    """Reverberant test clips are rendered as the classification pass renders them: passing that pass's
    embeddings gives the same rows, with one embedding call fewer per reverberant condition."""
    from wavjepa_nat.data.corpus import CorpusConfig, make_corpus
    from wavjepa_nat.robustness.conditions import build_conditions
    from wavjepa_nat.robustness.degrade import ScenePools, degrade
    from wavjepa_nat.robustness.localisation import localisation_sweep
    from wavjepa_nat.robustness.task import load_task

    make_corpus(tmp_path / "corpus", CorpusConfig(n_per_class=4, seconds=1.0, speech=False))
    rt = np.sort(dry_bank.rt60()[dry_bank.select(split="test")])
    bins = [(round(rt[0] - 0.01, 2), round(rt[-1] + 0.01, 2))]
    data = load_task(str(tmp_path / "corpus"), dry_bank.fs, 1.0, 0, None)
    conds = build_conditions([10.0], bins, False)
    test_pools = ScenePools(dry_bank, bins, ("test",), True)
    calls = []

    class Counted(GccPhatIldBaseline):
        def scene_embeddings(self, audio):
            calls.append(len(audio))
            return super().scene_embeddings(audio)

    model = Counted(name="oracle")
    reverberant = next(c for c in conds if c.reverberant)
    # the classification pass's rendering (run_sweep): role "test", not spatial
    audio, _ = degrade(data.clips["test"], reverberant, test_pools, 0, "test", data.clip_ids("test"))
    embedded = {(reverberant.label, "oracle"): GccPhatIldBaseline().scene_embeddings(audio)}

    def sweep(given):
        calls.clear()
        rows, _ = localisation_sweep(
            [("oracle", model, {})],
            conds,
            data,
            ScenePools(dry_bank, bins, ("train", "val"), False),
            test_pools,
            0,
            loc_cfg=LocalisationConfig(mlp_hidden=32, mlp_alphas=(1e-2,), mlp_max_iter=200),
            embedded=given,
        )
        return rows, len(calls)

    (again, n_again), (reused, n_reused) = sweep(None), sweep(embedded)
    assert n_reused == n_again - 1
    assert [dataclasses.astuple(r) for r in reused] == [dataclasses.astuple(r) for r in again]
