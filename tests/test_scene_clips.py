"""data/scene_clips.py: a dry clip rendered through bank scenes (what `wavjepa-nat render` writes)."""

import numpy as np
import pytest
import soundfile as sf
from _cli import run_main
from scipy.signal import fftconvolve

from wavjepa_nat.data.scene_clips import (
    LEVEL_DB,
    PEAK,
    SceneClipConfig,
    output_paths,
    read_dry_clip,
    render_scene_clips,
    write_scene_clips,
)
from wavjepa_nat.dsp import rms_db
from wavjepa_nat.errors import InputError
from wavjepa_nat.rir_bank import RIRBank


class FakeBank:
    """Two scenes: a unit impulse delayed 40 samples (direct path), and one delayed 80; silent noise beds."""

    fs, brir_length = 16000, 256

    def __len__(self):
        return 2

    def select(self, split=None, rt60=None):
        return np.arange(2)

    def brirs(self, idx):
        out = np.zeros((len(idx), 2, self.brir_length), np.float32)
        for k, i in enumerate(idx):
            out[k, :, 40 * (i + 1)] = 1.0
        return out

    def brir_head(self, i, n):
        return self.brirs([i])[0, :, :n]

    def noise_bed(self, i):
        return np.zeros((2, 32000), np.float32)

    noise_bed_samples = noise_bed

    def scene_meta(self, i):
        return {"direct_delay_s": 40 * (i + 1) / self.fs, "azimuth_deg": 0.0, "distance_m": 1.0}


@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({"scene": 1, "n": 2}, "not both"),
        ({"n": 0}, "--n"),
        ({"scene": -1}, "--scene"),
        ({"snr_db": (10.0, 5.0)}, "--snr"),
        ({"snr_db": (float("nan"), 5.0)}, "--snr"),
        ({"split": "dev"}, "--split"),
        ({"seconds": 0.0}, "--seconds"),
        ({"seed": -1}, "--seed"),
    ],
)
def test_config_checks_itself(kwargs, message):
    with pytest.raises(InputError, match=message):
        SceneClipConfig(**kwargs)


def test_read_dry_clip(tmp_path):
    path = tmp_path / "st.wav"
    sf.write(path, np.stack([np.full(8000, 0.5), np.zeros(8000)], 1).astype(np.float32), 8000)
    dry = read_dry_clip(path, 16000, seconds=0.25)
    assert dry.shape == (4000,) and abs(rms_db(dry) - LEVEL_DB) < 0.01
    with pytest.raises(InputError, match="not found"):
        read_dry_clip(tmp_path / "missing.wav", 16000)
    (tmp_path / "bad.wav").write_text("not audio")
    with pytest.raises(InputError, match="cannot read"):
        read_dry_clip(tmp_path / "bad.wav", 16000)


def test_render_one_scene_is_the_delay_compensated_convolution(tmp_path):
    dry = np.random.default_rng(0).standard_normal(1000).astype(np.float32)
    bank = FakeBank()
    (clip,) = render_scene_clips(bank, dry, SceneClipConfig(scene=1, snr_db=(20.0, 20.0)))
    assert clip.scene == 1 and clip.delay == 80 and clip.snr_db == 20.0
    assert clip.audio.shape == (2, 1000) and np.abs(clip.audio).max() <= PEAK + 1e-6
    np.testing.assert_allclose(
        clip.audio / np.abs(clip.audio).max(), np.stack([dry, dry]) / np.abs(dry).max(), atol=1e-5
    )
    kept = render_scene_clips(bank, dry, SceneClipConfig(scene=0, compensate_delay=False))[0]
    assert kept.delay == 0 and np.allclose(kept.audio[:, :40], 0.0, atol=1e-6)
    with pytest.raises(InputError, match="out of range"):
        render_scene_clips(bank, dry, SceneClipConfig(scene=2))
    paths = write_scene_clips([clip, kept], tmp_path / "x.wav", bank.fs)
    assert paths == output_paths(tmp_path / "x.wav", 2) == [tmp_path / "x_000.wav", tmp_path / "x_001.wav"]
    y, fs = sf.read(paths[0], always_2d=True)
    assert fs == 16000 and y.shape == (1000, 2)


@pytest.mark.parametrize(
    "extra, message",
    [
        (["--n", "0"], "--n"),
        (["--split", "dev"], "--split"),
        (["--seconds", "0"], "--seconds"),
        (["--bank", "missing.h5"], "simulate-rirs"),  # the bank is checked after the options
    ],
)
def test_cli_config_errors_are_one_line_exit_2(tmp_path, extra, message):
    import subprocess
    import sys

    args = {"--bank": str(tmp_path / "missing.h5"), "--input": str(tmp_path / "x.wav"), **dict([extra])}
    argv = [v for kv in args.items() for v in kv]
    result = subprocess.run(
        [sys.executable, "-m", "wavjepa_nat.cli", "render", *argv],
        check=False,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 2 and "Traceback" not in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1 and message in result.stderr


# ---------------------------------------------------------------- `wavjepa-nat render` on a real bank


def run_render(monkeypatch, capsys, *args) -> tuple[int, str, str]:
    return run_main(monkeypatch, capsys, ["render", *args])


@pytest.fixture()
def clip_wav(tmp_path):
    rng = np.random.default_rng(2)
    path = tmp_path / "clip.wav"
    sf.write(path, (0.3 * rng.standard_normal(16000)).astype(np.float32), 16000)
    return path


def test_render_one_scene(ten_scene_bank, clip_wav, tmp_path, monkeypatch, capsys):
    out = tmp_path / "scene.wav"
    rc, printed, _ = run_render(
        monkeypatch,
        capsys,
        "--bank",
        ten_scene_bank,
        "--input",
        clip_wav,
        "--scene",
        3,
        "--snr",
        60,
        "--out",
        out,
    )
    assert rc == 0
    y, fs = sf.read(out, always_2d=True)
    assert fs == 16000 and y.shape == (16000, 2) and np.abs(y).max() <= 0.99 + 1e-4
    # At 60 dB SNR the file is the clip through scene 3's BRIR, shifted by its direct-path delay.
    bank = RIRBank(ten_scene_bank)
    x, _ = sf.read(clip_wav, dtype="float32")
    delay = round(bank.scene_meta(3)["direct_delay_s"] * 16000)
    ref = fftconvolve(x[None], bank[3].brir, axes=-1)[:, delay : delay + 16000].T
    assert np.corrcoef(ref.ravel(), y.ravel())[0, 1] > 0.999
    assert "scene" in printed


def test_render_several_random_scenes(ten_scene_bank, clip_wav, tmp_path, monkeypatch, capsys):
    out = tmp_path / "many" / "out.wav"
    rc, table, _ = run_render(
        monkeypatch,
        capsys,
        "--bank",
        ten_scene_bank,
        "--input",
        clip_wav,
        "--n",
        3,
        "--snr",
        "5..10",
        "--out",
        out,
    )
    assert rc == 0
    files = sorted(p.name for p in out.parent.iterdir())
    assert files == ["out_000.wav", "out_001.wav", "out_002.wav"]
    assert "RT60" in table and "SNR" in table


@pytest.mark.parametrize(
    "args, message",
    [
        (["--bank", "missing.h5"], "RIR bank not found"),
        (["--input", "missing.wav"], "input audio not found"),
        (["--scene", 99], "out of range"),
        (["--snr", "loud"], "--snr"),
        (["--scene", 1, "--n", 2], "not both"),
    ],
)
def test_render_bad_input_exits_2(ten_scene_bank, clip_wav, tmp_path, monkeypatch, capsys, args, message):
    base = {"--bank": str(ten_scene_bank), "--input": str(clip_wav), "--out": str(tmp_path / "x.wav")}
    extra = dict(zip(args[::2], args[1::2]))
    argv = [v for k, val in {**base, **extra}.items() for v in (k, val)]
    rc, _, err = run_render(monkeypatch, capsys, *argv)
    assert rc == 2
    assert message in err and "Traceback" not in err and len(err.strip().splitlines()) == 1
