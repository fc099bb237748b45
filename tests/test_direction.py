"""metrics/direction.py: lateral angle and front-back against hand-worked cases, wrapped angle errors,
chance levels, direction probes on synthetic embeddings."""

import numpy as np
import pytest

from wavjepa_nat.robustness.metrics.direction import (
    DirectionProbe,
    LocalisationConfig,
    angular_error_deg,
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
from wavjepa_nat.robustness.metrics.probes import ProbeConfig

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


def test_angular_error_wraps_around():
    assert angular_error_deg(359.0, 1.0) == pytest.approx(2.0)
    assert angular_error_deg(-170.0, 170.0) == pytest.approx(20.0)
    assert angular_error_deg(90.0, -90.0) == pytest.approx(180.0)
    assert angular_error_deg(720.0, 0.0) == pytest.approx(0.0)


def test_angular_error_exact_and_constant():
    rng = np.random.default_rng(5)
    az = rng.uniform(-180, 180, 400)
    # exact predictions score 0; a constant prediction on uniform angles is 90 degrees off on average
    assert angular_error_deg(az, az).mean() == 0.0
    assert angular_error_deg(np.full(400, 30.0), az).mean() == pytest.approx(90.0, abs=6.0)
