"""models/logmel.py: the log-mel statistics baseline's features, level and ILD behaviour."""

import numpy as np

from wavjepa_nat.dsp import hz_to_mel, mel_to_hz
from wavjepa_nat.robustness.models.logmel import LogMelBaseline

SR = 16000


def test_features_shape_level_and_ild():
    rng = np.random.default_rng(0)
    noise = rng.standard_normal(SR).astype(np.float32) * 0.1
    mono, binaural = LogMelBaseline(channels=1), LogMelBaseline(channels=2)
    assert mono.scene_embeddings(noise[None]).shape == (1, 128) == (1, mono.output_dim)
    # left ear twice as loud as the right: ILD is 20 log10 2 = 6.02 dB in every band
    feats = binaural.scene_embeddings(np.stack([noise, 0.5 * noise])[None])
    assert feats.shape == (1, 320)
    np.testing.assert_allclose(feats[0, 256:], 20 * np.log10(2), atol=1e-3)
    # doubling the level raises every band's mean log-mel by 6.02 dB and leaves its spread alone
    a, b = mono.scene_embeddings(noise[None])[0], mono.scene_embeddings(2 * noise[None])[0]
    np.testing.assert_allclose(b[:64] - a[:64], 20 * np.log10(2), atol=1e-3)
    np.testing.assert_allclose(b[64:], a[64:], atol=1e-3)


def test_tone_lands_in_its_band_and_channels_adapt():
    t = np.arange(SR) / SR
    tone = np.sin(2 * np.pi * 1000 * t).astype(np.float32)
    base = LogMelBaseline(channels=2)
    feats = base.scene_embeddings(tone[None])  # mono input -> duplicated, ILD 0
    np.testing.assert_allclose(feats[0, 256:], 0.0, atol=1e-6)
    assert base.notes == ["mono input duplicated to both ears for a 2-channel model"]
    centres = mel_to_hz(np.linspace(hz_to_mel(50), hz_to_mel(8000), 66))[1:-1]
    assert feats[0, :64].argmax() == np.abs(centres - 1000).argmin()
    mono = LogMelBaseline(channels=1)
    mono.scene_embeddings(np.stack([tone, tone])[None])
    assert mono.notes == ["binaural input averaged to mono for a 1-channel model"]
