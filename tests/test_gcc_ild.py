"""models/gcc_ild.py: the GCC-PHAT + ILD baseline on synthetic delays and level differences, Woodworth's
ITD mapping, and the lateral angle of bank scenes."""

import numpy as np
import pytest

from wavjepa_nat.dsp import convolve
from wavjepa_nat.robustness.metrics.direction import lateral_angle
from wavjepa_nat.robustness.models.gcc_ild import GccPhatIldBaseline, lateral_from_itd, woodworth_itd


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


def test_gcc_phat_lateral_angle_of_bank_scenes(dry_bank):
    rng = np.random.default_rng(2)
    x = rng.standard_normal(16000).astype(np.float32)
    g = GccPhatIldBaseline()
    for i in range(len(dry_bank)):
        delay = round(float(dry_bank.meta["direct_delay_s"][i]) * dry_bank.fs)
        y = convolve(x, dry_bank.brirs([i])[0], delay)[None]
        truth = lateral_angle(dry_bank.meta["azimuth_deg"][i], dry_bank.meta["elevation_deg"][i])
        assert abs(g.lateral(y)[0] - truth) < 10.0, i
