"""`robustness --polyphony K --tir X` (issue 20): polyphonic test scenes (robustness/degrade.py) against an
independent scipy rendering, and a sweep with them: main-class accuracy, all-class mAP with intervals and
paired tests, localisation of the main source."""

from __future__ import annotations

import json

import numpy as np
import pytest
from _fake_encoder import export_tiny
from scipy.signal import fftconvolve

from wavjepa_nat.data.corpus import CorpusConfig, make_corpus
from wavjepa_nat.errors import InputError
from wavjepa_nat.rir_bank import simulate_bank
from wavjepa_nat.robustness.conditions import Condition, build_conditions, parse_polyphony
from wavjepa_nat.robustness.config import SweepConfig
from wavjepa_nat.robustness.degrade import degrade_polyphonic
from wavjepa_nat.robustness.sweep import run_sweep
from wavjepa_nat.scenes.config import SceneConfig

S, L = 4000, 300


class _Bank:
    path = "fake.h5"

    def __init__(self, noise):
        self.noise = noise

    def noise_brirs(self, i):
        return self.noise[i]


class _Pools:
    """One scene with one BRIR, a delay and one noise-source position."""

    splits = ("test",)

    def __init__(self, brir, noise, delay):
        self.all = np.array([0])
        self.bank = _Bank([noise])
        self._brir, self._delay = brir, delay

    def brir(self, scene):
        return self._brir, self._delay

    def azimuth(self, scene):
        return 30.0

    def elevation(self, scene):
        return 0.0


def test_a_polyphonic_scene_is_the_clip_and_an_interferer_at_the_tir_through_their_own_brirs():
    rng = np.random.default_rng(0)
    decay = np.exp(-np.arange(L) / 50)
    brir = (rng.standard_normal((2, L)) * decay).astype(np.float32)
    noise = (rng.standard_normal((1, 2, L)) * decay).astype(np.float32)
    dry = rng.standard_normal((3, S)).astype(np.float32) * np.array([[1.0], [0.2], [3.0]], np.float32)
    labels = [("a",), ("a",), ("b",)]  # clip 0's only interferer can be clip 2
    cond = Condition("polyphony", sources=2, tir_db=6.0)
    audio, az, _, partners = degrade_polyphonic(
        dry, labels, cond, _Pools(brir, noise, 11), 0, "test", [0, 1, 2]
    )
    assert partners[0] == [2] and partners[2] in ([0], [1]) and az[0] == 30.0

    def ears(x, h):
        return np.stack(
            [fftconvolve(x.astype(np.float64), h[c].astype(np.float64))[11 : 11 + S] for c in (0, 1)]
        )

    main, other = ears(dry[0], brir), ears(dry[2], noise[0])
    gain = np.sqrt(np.mean(main**2) / (np.mean(other**2) * 10**0.6))
    expected = main + gain * other
    expected = (expected - expected.mean()) / expected.std()
    np.testing.assert_allclose(audio[0], expected, atol=2e-3)


def test_polyphony_conditions_and_bad_values():
    assert parse_polyphony("2..3") == [2, 3] and parse_polyphony("none") == []
    conds = build_conditions([], [], polyphony=[2, 3], tirs=[0.0, 6.0])
    assert [c.label for c in conds[1:]] == [
        "2 sources, TIR 0 dB",
        "2 sources, TIR 6 dB",
        "3 sources, TIR 0 dB",
        "3 sources, TIR 6 dB",
    ]
    assert Condition("clean").key == "clean|None|None"  # the other conditions' seeds are unchanged
    for bad in ("1..2", "2.5", "x"):
        with pytest.raises(InputError, match="--polyphony"):
            SweepConfig(polyphony=bad)
    with pytest.raises(InputError, match="--tir"):
        SweepConfig(polyphony="2", tir_db="loud")


@pytest.fixture(scope="module")
def world(tmp_path_factory):
    root = tmp_path_factory.mktemp("poly")
    cfg = SceneConfig(
        rt60=(0.2, 0.5),
        noise_bed_seconds=1.0,
        noise_sources=(2, 2),
        scenes_per_room=1,
        split_per_ten_rooms=(4, 2, 4),
        room_length=(3.0, 6.0),
    )
    simulate_bank(root / "bank.h5", cfg, 10, progress=False)
    make_corpus(root / "corpus", CorpusConfig(n_per_class=3, seconds=1.0, speech=False))
    export_tiny(root / "nat.safetensors", channels=2)
    return root


def test_a_sweep_with_polyphony_scores_the_main_class_and_every_present_class(world):
    cfg = SweepConfig(
        snr_db="none", rt60_bins="none", polyphony="2..3", tir_db="0,6", seed=0, clip_seconds=1.0
    )
    out = world / "report"
    rows = run_sweep(
        [world / "nat.safetensors"],
        str(world / "corpus"),
        world / "bank.h5",
        cfg,
        out_dir=out,
        progress=False,
    )
    tests = json.loads((out / "results.json").read_text())["tests"]
    all_classes = [t for t in tests if t["condition"] == "3 sources, TIR 0 dB, all classes"]
    assert all_classes and all_classes[0]["measure"] == "mAP"  # paired tests of the all-class mAP
    report = (out / "report.md").read_text()
    assert "under overlapping sources it" in report and "all-class mAP" in report
    assert len(list((out / "plots").glob("*accuracy_vs_polyphony.png"))) == 1
    assert len(list((out / "plots").glob("*accuracy_all_classes_vs_polyphony.png"))) == 1
    poly = [r for r in rows if r.condition == "polyphony"]
    assert {(r.sources, r.tir_db) for r in poly} == {(2, 0.0), (2, 6.0), (3, 0.0), (3, 6.0)}
    for r in poly:
        assert r.metric == "accuracy" and 0 <= r.score <= 1 and r.score_ci is not None
        assert 0 < r.all_class_map <= 1 and r.all_class_map_ci[0] <= r.all_class_map <= r.all_class_map_ci[1]
        assert r.cond.label.startswith(f"{r.sources} sources")
    nat = [r for r in poly if r.model_channels == 2 and r.model != "logmel-stats-binaural"]
    assert nat and all(r.loc_error_deg is not None for r in nat)  # the main source localised


def test_a_bank_without_room_for_the_interferers_is_refused(world):
    cfg = SweepConfig(snr_db="none", rt60_bins="none", polyphony="4", seed=0, clip_seconds=1.0)
    with pytest.raises(InputError, match="noise-source positions"):
        run_sweep([world / "nat.safetensors"], str(world / "corpus"), world / "bank.h5", cfg, progress=False)
