"""dsp.py's mel filterbank (shared by the log-mel and GCC-PHAT + ILD baselines and the encoder's interaural
path): the HTK mel scale, librosa's HTK filterbank, peaks and partition of unity."""

import numpy as np
import pytest

from wavjepa_nat.dsp import hz_to_mel, mel_filterbank, mel_to_hz

SR = 16000


def test_htk_mel_scale_values():
    # 2595 log10(1 + f/700): 700 Hz -> 2595 log10 2; 1000 Hz -> ~1000 mel (the scale's anchor)
    assert hz_to_mel(700.0) == pytest.approx(2595 * np.log10(2))
    assert hz_to_mel(1000.0) == pytest.approx(1000.0, abs=0.05)
    assert hz_to_mel(0.0) == 0.0
    f = np.array([50.0, 440.0, 3000.0, 8000.0])
    np.testing.assert_allclose(mel_to_hz(hz_to_mel(f)), f)


def test_filterbank_matches_librosa_htk():
    import librosa  # a dev dependency: the independent reference

    ours = mel_filterbank(64, 512, SR, 50.0, 8000.0)
    ref = librosa.filters.mel(sr=SR, n_fft=512, n_mels=64, fmin=50.0, fmax=8000.0, htk=True, norm=None)
    np.testing.assert_allclose(ours, ref, atol=1e-5)


def test_filterbank_peaks_and_partition_of_unity():
    fb = mel_filterbank(40, 4096, SR, 0.0, 8000.0)
    bins = np.arange(fb.shape[1]) * SR / 4096
    centres = mel_to_hz(np.linspace(0, hz_to_mel(8000.0), 42))[1:-1]
    # each filter peaks (~1) at one of the two bins that bracket its mel-spaced centre
    assert np.all(np.abs(bins[fb.argmax(axis=1)] - centres) < SR / 4096)
    assert fb.max(axis=1).min() > 0.95 and fb.max() <= 1.0
    # triangles linear in Hz between neighbouring centres sum to 1 from the first to the last centre
    inside = (bins >= centres[0]) & (bins <= centres[-1])
    np.testing.assert_allclose(fb[:, inside].sum(axis=0), 1.0, atol=1e-5)
