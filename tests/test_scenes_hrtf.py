"""scenes/hrtf.py: SOFA files are checked where they are read (a NaN, a zero rate, a file too short or
silent is refused, naming the file), so no NaN BRIR is ever simulated from one."""

from __future__ import annotations

import h5py
import numpy as np
import pytest

from wavjepa_nat.errors import InputError
from wavjepa_nat.scenes.hrtf import read_sofa


def _sofa(path, ir, fs=44100.0):
    m = ir.shape[0]
    with h5py.File(path, "w") as f:
        f.attrs["SOFAConventions"] = "SimpleFreeFieldHRIR"
        f["Data.IR"] = ir
        f["Data.SamplingRate"] = np.array([fs])
        az = np.linspace(-180, 180, m, endpoint=False)
        f["SourcePosition"] = np.stack([az, np.zeros(m), np.ones(m)], 1)
        f["ReceiverPosition"] = np.array([[0.0, 0.09, 0.0], [0.0, -0.09, 0.0]])
    return path


def _ir(m=12, n=128):
    ir = np.zeros((m, 2, n))
    ir[:, :, min(20, n - 1)] = 1.0
    return ir


def test_sofa_with_nan_is_refused_naming_the_file(tmp_path):
    assert np.isfinite(read_sofa(_sofa(tmp_path / "ok.sofa", _ir()), 16000).hrirs).all()
    ir = _ir()
    ir[3, 1, 50] = np.nan
    with pytest.raises(InputError, match=r"nan\.sofa: Data.IR holds 1 non-finite value"):
        read_sofa(_sofa(tmp_path / "nan.sofa", ir), 16000)
    for name, bad, rate, why in (
        ("zero.sofa", _ir(), 0.0, "SamplingRate"),
        ("tiny.sofa", _ir(1, 1), 44100.0, "short"),
        ("silent.sofa", _ir() * 0, 44100.0, "all zeros"),
    ):
        with pytest.raises(InputError, match=f"{name}.*{why}"):
            read_sofa(_sofa(tmp_path / name, bad, rate), 16000)
