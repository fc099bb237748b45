"""data/clips.py, prepare_clip: resampling against independent references, level, cut/pad, channels."""

from __future__ import annotations

import numpy as np
import pytest
from scipy.signal import resample as fft_resample

from wavjepa_nat.data.clips import ClipConfig, prepare_clip
from wavjepa_nat.data.sources import AudioItem
from wavjepa_nat.errors import InputError


def _item(x: np.ndarray, fs: int) -> AudioItem:
    x = np.asarray(x, dtype=np.float32)
    return AudioItem(x[None] if x.ndim == 1 else x, fs, "k")


def _db(x) -> float:
    return 10 * np.log10(np.mean(np.asarray(x, np.float64) ** 2))


def _tone_amplitude(y: np.ndarray, f: float, fs: int) -> float:
    """Least-squares amplitude of a sine at f (independent of FFT bin alignment)."""
    t = np.arange(len(y)) / fs
    basis = np.stack([np.sin(2 * np.pi * f * t), np.cos(2 * np.pi * f * t)], axis=1)
    coef, *_ = np.linalg.lstsq(basis, y.astype(np.float64), rcond=None)
    return float(np.hypot(*coef))


def test_1khz_sine_keeps_frequency_and_amplitude_44k1_to_16k():
    fs_in, seconds = 44100, 2.0
    t = np.arange(int(fs_in * seconds)) / fs_in
    cfg = ClipConfig(fs=16000, clip_seconds=seconds, level_db=None, crop_random=False)
    y = prepare_clip(_item(0.5 * np.sin(2 * np.pi * 1000 * t), fs_in), cfg)
    assert y.shape == (32000,) and y.dtype == np.float32
    spec = np.abs(np.fft.rfft(y * np.hanning(len(y))))
    assert np.fft.rfftfreq(len(y), 1 / 16000)[np.argmax(spec)] == pytest.approx(1000, abs=0.5)
    inner = y[200:-200]  # away from the filter's start-up at the edges
    assert 20 * np.log10(_tone_amplitude(inner, 1000, 16000) / 0.5) == pytest.approx(0, abs=0.1)


@pytest.mark.parametrize("fs_in", [44100, 48000, 22050, 8000])
def test_matches_fft_resampling_of_a_bandlimited_periodic_signal(fs_in):
    """scipy.signal.resample (FFT) is exact for periodic band-limited signals: compare in the interior."""
    rng = np.random.default_rng(0)
    freqs = rng.uniform(50, min(6000, 0.4 * fs_in), 20).round()  # whole cycles in 1 s: periodic
    t = np.arange(fs_in) / fs_in
    x = sum(np.sin(2 * np.pi * f * t + p) for f, p in zip(freqs, rng.uniform(0, 6, 20))) / 20
    ref = fft_resample(x, 16000)
    y = prepare_clip(
        _item(x, fs_in), ClipConfig(fs=16000, clip_seconds=1.0, level_db=None, crop_random=False)
    )
    err = y[400:-400] - ref[400:-400]
    assert 20 * np.log10(np.std(err) / np.std(ref)) < -40


def test_cut_before_resampling_matches_resampling_the_whole_file():
    """Long files are cut before resampling; the window must equal the whole-file result."""
    from wavjepa_nat.dsp import resample

    rng = np.random.default_rng(1)
    x = rng.standard_normal(44100 * 30).astype(np.float32) * 0.1
    cfg = ClipConfig(fs=16000, clip_seconds=2.0, level_db=None, crop_random=False)
    y = prepare_clip(_item(x, 44100), cfg)
    whole = resample(x[None], 44100, 16000)[0][: cfg.n_samples]
    np.testing.assert_allclose(y, whole, atol=1e-4)


def test_random_crop_is_a_window_of_the_input_and_seeded():
    x = np.random.default_rng(2).standard_normal(16000 * 12).astype(np.float32)
    cfg = ClipConfig(fs=16000, clip_seconds=10.0, level_db=None)
    offsets = set()
    for seed in range(5):
        y = prepare_clip(_item(x, 16000), cfg, np.random.default_rng(seed))
        off = int(np.flatnonzero(np.isclose(x, y[0]))[0])
        np.testing.assert_array_equal(y, x[off : off + 160000])
        offsets.add(off)
        np.testing.assert_array_equal(y, prepare_clip(_item(x, 16000), cfg, np.random.default_rng(seed)))
    assert len(offsets) > 1
    start = prepare_clip(_item(x, 16000), ClipConfig(clip_seconds=10.0, level_db=None, crop_random=False))
    np.testing.assert_array_equal(start, x[:160000])


@pytest.mark.parametrize("level", [-14.0, -30.0])
def test_level_normalisation_hits_target(level):
    x = np.random.default_rng(3).standard_normal(16000 * 3) * 0.003
    y = prepare_clip(_item(x, 16000), ClipConfig(clip_seconds=2.0, level_db=level), np.random.default_rng(0))
    assert _db(y) == pytest.approx(level, abs=0.01)


def test_short_clip_is_levelled_then_zero_padded():
    x = np.random.default_rng(4).standard_normal(8000) * 0.2  # 0.5 s
    y = prepare_clip(_item(x, 16000), ClipConfig(clip_seconds=2.0), np.random.default_rng(0))
    assert y.shape == (32000,)
    assert _db(y[:8000]) == pytest.approx(-14.0, abs=0.01)  # the sound is at the target, not the padding
    assert not y[8000:].any()


def test_loop_padding_repeats_the_sound():
    x = np.sin(np.arange(5000) / 7.0)
    y = prepare_clip(_item(x, 16000), ClipConfig(clip_seconds=1.0, pad="loop"), np.random.default_rng(0))
    assert y.shape == (16000,)
    np.testing.assert_allclose(y[5000:10000], y[:5000], atol=1e-6)
    np.testing.assert_allclose(y[15000:], y[:1000], atol=1e-6)
    assert _db(y) == pytest.approx(-14.0, abs=0.05)


def test_silence_gets_no_gain_and_no_nan():
    y = prepare_clip(_item(np.zeros(16000), 16000), ClipConfig(clip_seconds=1.0), np.random.default_rng(0))
    assert np.isfinite(y).all() and not y.any()


def test_binaural_keeps_channels_and_interaural_level_difference():
    rng = np.random.default_rng(5)
    left = rng.standard_normal(48000 * 2) * 0.1
    stereo = np.stack([left, 0.25 * left])  # right ear 12 dB quieter
    y = prepare_clip(_item(stereo, 48000), ClipConfig(clip_seconds=1.5), rng, mono=False)
    assert y.shape == (2, 24000) and y.dtype == np.float32
    assert _db(y) == pytest.approx(-14.0, abs=0.01)
    assert _db(y[0]) - _db(y[1]) == pytest.approx(20 * np.log10(4), abs=0.01)
    mono = prepare_clip(_item(stereo, 48000), ClipConfig(clip_seconds=1.5), rng)
    assert mono.shape == (24000,)


def test_bad_config():
    with pytest.raises(InputError):
        ClipConfig(pad="mirror")
    with pytest.raises(InputError):
        ClipConfig(clip_seconds=0)
