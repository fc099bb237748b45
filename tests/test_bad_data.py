"""Bad data is refused where it is read, not propagated (issue 13, section 4): one test per failure class.

Each of these was accepted before: NaN BRIRs from a NaN SOFA file, NaN noise beds from a NaN recording, NaN
embeddings from NaN/inf audio, a truncated wav embedded as a short clip, a non-HDF5 file overwritten by
`embed`, and `--distance 0.5..10000` silently clamped while the BRIR length followed 10 km.
(`bank verify --n-check -3` and the CLI side of all of these are in test_cli.py's table.)
"""

from __future__ import annotations

import h5py
import numpy as np
import pytest
import soundfile as sf
from _fake_encoder import FakeEncoder

from wavjepa_nat.audio import read_audio
from wavjepa_nat.errors import InputError
from wavjepa_nat.robustness.embed import embed_files
from wavjepa_nat.scenes.config import SceneConfig
from wavjepa_nat.scenes.hrtf import read_sofa
from wavjepa_nat.scenes.noise import NoiseMaker
from wavjepa_nat.scenes.sampler import sample_scene


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


def test_noise_recording_with_nan_is_refused_before_any_scene(tmp_path):
    folder = tmp_path / "noises"
    folder.mkdir()
    x = np.random.default_rng(0).standard_normal(8000).astype(np.float32)
    sf.write(folder / "good.wav", x, 16000)
    x[10] = np.nan
    sf.write(folder / "bad.wav", x, 16000, subtype="FLOAT")
    with pytest.raises(InputError, match=r"bad\.wav holds 1 non-finite sample"):
        NoiseMaker(16000, 1000, -30.0, str(folder), np.ones((2, 4)), np.ones(4))


@pytest.mark.parametrize("value", [np.nan, np.inf])
def test_embed_refuses_non_finite_audio(tmp_path, value):
    x = (0.1 * np.random.default_rng(0).standard_normal(16000)).astype(np.float32)
    x[500] = value
    sf.write(tmp_path / "a.wav", x, 16000, subtype="FLOAT")
    with pytest.raises(InputError, match=r"a\.wav holds 1 non-finite sample"):
        embed_files(FakeEncoder(), [tmp_path / "a.wav"], tmp_path / "e.h5")
    assert not (tmp_path / "e.h5").exists()


def test_embed_refuses_a_truncated_wav(tmp_path):
    sf.write(tmp_path / "full.wav", np.zeros(16000, np.float32) + 0.1, 16000)
    data = (tmp_path / "full.wav").read_bytes()
    (tmp_path / "cut.wav").write_bytes(data[: len(data) // 2])
    with pytest.raises(InputError, match=r"cut\.wav is truncated"):
        read_audio(tmp_path / "cut.wav")
    # The header of every file is checked before the first one is embedded.
    with pytest.raises(InputError, match=r"cut\.wav is truncated"):
        embed_files(FakeEncoder(), [tmp_path / "full.wav", tmp_path / "cut.wav"], tmp_path / "e.h5")
    assert not (tmp_path / "e.h5").exists()


def test_embed_does_not_overwrite_a_file_that_is_not_hdf5(tmp_path):
    sf.write(tmp_path / "a.wav", np.zeros(16000, np.float32) + 0.1, 16000)
    notes = tmp_path / "notes.h5"
    notes.write_text("my notes\n")
    with pytest.raises(InputError, match="not an HDF5 file"):
        embed_files(FakeEncoder(), [tmp_path / "a.wav"], notes)
    assert notes.read_text() == "my notes\n"
    out = embed_files(FakeEncoder(), [tmp_path / "a.wav"], tmp_path / "e.h5")
    assert embed_files(FakeEncoder(), [tmp_path / "a.wav"], out) == out  # earlier embeddings: replaced


def test_distance_beyond_any_room_is_an_error_and_brir_lengths_follow_a_reachable_bound():
    with pytest.raises(InputError, match=r"--distance .* must end at 37\.3 m or less.*0\.5\.\.10000 m"):
        SceneConfig(source_distance=(0.5, 10000.0))
    with pytest.raises(InputError, match=r"--distance .* 13\.2 m or less"):
        SceneConfig(room_length=(3.0, 4.0), source_distance=(0.5, 14.0))
    cfg = SceneConfig(source_distance=(0.5, 37.0), rt60=(0.2, 0.3), room_length=(20.0, 25.0))
    assert cfg.brir_length == int(np.ceil(cfg.fs * (1.1 * 0.3 + 37.0 / 343.0 + 0.02)))
    longest = max(sample_scene(cfg, i).distance_m.max() for i in range(20))
    assert longest <= cfg.source_distance[1]
