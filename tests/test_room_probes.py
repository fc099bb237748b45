"""robustness/metrics/room_probes.py and robustness/rooms.py (`--room-probes`): ridge probes from clip
embeddings to the room (T_mid, DRR, distance, log volume), scored on unseen test rooms beside chance."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.metrics import mean_absolute_error, r2_score

from wavjepa_nat.errors import InputError
from wavjepa_nat.rir_bank import RIRBank, simulate_bank
from wavjepa_nat.robustness.config import SweepConfig
from wavjepa_nat.robustness.degrade import ScenePools
from wavjepa_nat.robustness.metrics.room_probes import room_probe, weighted_mae, weighted_r2
from wavjepa_nat.robustness.rooms import TARGETS, check_room_measures, render_in_rooms, room_targets
from wavjepa_nat.robustness.sweep import run_sweep
from wavjepa_nat.scenes.config import SceneConfig


def test_room_probe_metrics_match_sklearn_and_chance_is_the_training_mean():
    rng = np.random.default_rng(0)
    w = rng.standard_normal(8)
    x = rng.standard_normal((300, 8))
    y = x @ w + 0.1 * rng.standard_normal(300)
    r = room_probe(x[:200], y[:200], x[200:], y[200:], seed=0)
    assert r.r2 > 0.95 and r.mae < 0.2
    chance = np.full(100, y[:200].mean())
    assert r.chance_mae == pytest.approx(mean_absolute_error(y[200:], chance))
    assert r.chance_r2 == pytest.approx(r2_score(y[200:], chance)) and r.chance_r2 <= 0
    for value, ci in ((r.mae, r.mae_ci), (r.r2, r.r2_ci), (r.chance_mae, r.chance_mae_ci)):
        assert ci[0] <= value <= ci[1]
    pred = rng.standard_normal(50)
    truth = rng.standard_normal(50)
    ones = np.ones((1, 50))
    assert weighted_mae(truth, pred, ones)[0] == pytest.approx(mean_absolute_error(truth, pred))
    assert weighted_r2(truth, pred, ones)[0] == pytest.approx(r2_score(truth, pred))
    counts = rng.integers(0, 3, 50).astype(float)  # a bootstrap resample's draw counts = sample weights
    assert weighted_r2(truth, pred, counts[None])[0] == pytest.approx(
        r2_score(truth, pred, sample_weight=counts)
    )


@pytest.fixture(scope="module")
def bank(tmp_path_factory):
    root = tmp_path_factory.mktemp("rooms")
    cfg = SceneConfig(
        rt60=(0.2, 1.2),
        noise_bed_seconds=0.5,
        noise_sources=(0, 0),
        scenes_per_room=2,
        split_per_ten_rooms=(4, 2, 4),
        room_length=(3.0, 9.0),
        source_distance=(0.5, 2.5),
    )
    simulate_bank(root / "bank.h5", cfg, 20, progress=False)
    return RIRBank(root / "bank.h5")


def test_room_targets_are_the_banks_measures(bank):
    t = room_targets(bank)
    dims = bank.meta["room_dims"]
    assert np.allclose(np.exp(t["log volume"]), dims[:, 0] * dims[:, 1] * dims[:, 2])
    assert np.allclose(t["distance"], bank.meta["distance_m"])
    assert np.allclose(t["T_mid"], bank.meta["rt60_measured"].mean(axis=1))
    assert np.allclose(t["DRR"], bank.meta["drr_db"].mean(axis=1))
    check_room_measures(bank)
    bank.meta["drr_db"][bank.select(split="test")[0]] = np.nan  # a bank without DRR for one scene
    with pytest.raises(InputError, match="does not store DRR"):
        check_room_measures(bank)
    bank.meta["drr_db"] = np.nan_to_num(bank.meta["drr_db"], nan=0.0)


def test_room_renderings_go_through_the_splits_scenes(bank):
    rng = np.random.default_rng(1)
    dry = 0.1 * rng.standard_normal((6, 8000)).astype(np.float32)
    test_pools = ScenePools(bank, (), ("test",))
    audio, scenes = render_in_rooms(dry, test_pools, 0, "rooms-test", range(6))
    assert audio.shape == (6, 2, 8000) and set(scenes) <= set(bank.select(split="test"))
    again, same = render_in_rooms(dry, test_pools, 0, "rooms-test", range(6))
    assert np.array_equal(audio, again) and np.array_equal(scenes, same)  # seeded per clip
    # each clip is the dry clip through its scene's BRIR, shifted by the direct-path delay
    brir, delay = test_pools.brir(int(scenes[0]))
    left = np.convolve(dry[0], brir[0])[delay : delay + 8000]
    assert np.corrcoef(left, audio[0, 0])[0, 1] > 0.999
    train_pools = ScenePools(bank, (), ("train", "val"), strict=False)
    _, train_scenes = render_in_rooms(dry, train_pools, 0, "rooms-train", range(6))
    rooms = bank.meta["room_id"]
    assert not set(rooms[train_scenes]) & set(rooms[bank.select(split="test")])  # unseen test rooms


class DirectPath:
    """Embeds the share of the rendered clip that the dry clip explains (a direct-to-reverberant proxy),
    in dB, found by correlation with the dry clips it knows."""

    name, channels, sample_rate, output_dim, notes = "direct-path", 1, 16000, 2, []

    def __init__(self, task):
        dry = np.concatenate([task.clips[s] for s in ("train", "val", "test")]).astype(np.float64)
        self.dry = dry / np.linalg.norm(dry, axis=1, keepdims=True)

    def scene_embeddings(self, audio):
        x = np.asarray(audio, np.float64).mean(axis=1)
        x = x / np.maximum(np.linalg.norm(x, axis=1, keepdims=True), 1e-12)
        rho = np.clip(np.abs(x @ self.dry.T).max(axis=1), 1e-6, 1 - 1e-9)
        ratio = 10 * np.log10(rho**2 / (1 - rho**2))
        return np.stack([ratio, np.ones_like(ratio)], 1).astype(np.float32)


def test_room_probes_section_in_the_report(bank, tmp_path):
    import soundfile as sf

    from wavjepa_nat.robustness.report.results import load_results_and_tests
    from wavjepa_nat.robustness.tasks.task import load_task

    rng = np.random.default_rng(
        0
    )  # white-noise clips: their correlation with a rendering is its direct share
    for label in ("a", "b"):
        (tmp_path / "corpus" / label).mkdir(parents=True)
        for i in range(20):
            sf.write(tmp_path / "corpus" / label / f"{i}.wav", 0.1 * rng.standard_normal(16000), 16000)
    task = load_task(str(tmp_path / "corpus"), 16000, 1.0, 0)
    cfg = SweepConfig(snr_db="none", rt60_bins="none", clip_seconds=1.0, room_probes=True)
    run_sweep(
        [DirectPath(task)], str(tmp_path / "corpus"), bank.path, cfg, out_dir=tmp_path / "rep", progress=False
    )
    import json

    rows = json.loads((tmp_path / "rep" / "results.json").read_text())["room_probes"]
    models = {r["model"] for r in rows}
    assert "direct-path" in models and len(rows) == len(models) * len(TARGETS)
    for r in rows:
        assert r["mae_ci"][0] <= r["mae"] <= r["mae_ci"][1] and r["chance_r2"] <= 0.05
    drr = next(r for r in rows if r["model"] == "direct-path" and r["target"] == "DRR")
    assert drr["r2"] > 0.2 > drr["chance_r2"]  # the direct share explains part of the DRR of unseen rooms
    md = (tmp_path / "rep" / "report.md").read_text()
    assert "## What the embeddings know about the room" in md and "log volume (ln m^3)" in md
    assert load_results_and_tests(tmp_path / "rep")[0]
