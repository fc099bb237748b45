"""nat_model/interaural.py through the encoder's "apart" layout: the cues appended to each output frame are
the physics of the two ears (a delay is a GCC-PHAT peak at that lag, a gain is an ILD of 20 log10 g dB, a
dry clip duplicated to both ears gives the same cues whatever the sound), and the rest of the output is the
reference layout's encoder, unchanged."""

import numpy as np
import pytest
import torch

from wavjepa_nat.nat_model.config import BINAURAL_LAYOUTS, get_preset
from wavjepa_nat.nat_model.encoder import Encoder

SMALL = dict(conv_dim=8, embed_dim=16, heads=2, depth=1, top_k_targets=1, pred_dim=16, pred_heads=2)
MAX_LAG, N_BANDS = 16, 16  # +-1 ms at 16 kHz; the module's defaults


def _apart_encoder() -> Encoder:
    torch.manual_seed(0)
    return Encoder(get_preset("tiny", **SMALL, **BINAURAL_LAYOUTS["apart"])).eval()


def _cues(enc: Encoder, audio: np.ndarray) -> np.ndarray:
    with torch.no_grad():
        out = enc(torch.from_numpy(audio.astype(np.float32))[None])[0].numpy()
    return out[:, 2 * SMALL["embed_dim"] :]  # (T, 2 * MAX_LAG + 1 + N_BANDS)


def test_the_tokens_part_is_the_reference_layouts_encoder():
    apart = _apart_encoder()
    reference = Encoder(get_preset("tiny", **SMALL, **BINAURAL_LAYOUTS["reference"])).eval()
    reference.load_state_dict(apart.state_dict())  # the cues add no parameter: the same weights load
    audio = torch.randn(2, 2, 16000)
    with torch.no_grad():
        ours, theirs = apart(audio), reference(audio)
    assert ours.shape[-1] == theirs.shape[-1] + 2 * MAX_LAG + 1 + N_BANDS
    torch.testing.assert_close(ours[..., : theirs.shape[-1]], theirs, rtol=0, atol=0)


def test_a_dry_clip_on_both_ears_gives_the_same_cues_whatever_the_sound():
    enc, rng = _apart_encoder(), np.random.default_rng(1)
    a, b = (
        rng.standard_normal(16000),
        np.sin(2 * np.pi * 440 * np.arange(16000) / 16000) + 0.1 * rng.standard_normal(16000),
    )
    cues_a, cues_b = _cues(enc, np.stack([a, a])), _cues(enc, np.stack([b, b]))
    np.testing.assert_allclose(cues_a, cues_b, atol=1e-4)
    gcc, ild = cues_a[:, : 2 * MAX_LAG + 1], cues_a[:, 2 * MAX_LAG + 1 :]
    # identical ears: the phase transform is 1 at every bin, whose inverse FFT is a unit impulse at lag 0
    np.testing.assert_allclose(gcc[:, MAX_LAG], 1.0, atol=1e-3)
    np.testing.assert_allclose(np.delete(gcc, MAX_LAG, axis=1), 0.0, atol=1e-3)
    np.testing.assert_allclose(ild, 0.0, atol=1e-6)


@pytest.mark.parametrize("delay", [-9, -3, 4, 12])
def test_a_delayed_ear_peaks_at_its_lag_and_a_gain_is_its_ild(delay):
    enc, rng = _apart_encoder(), np.random.default_rng(2)
    left = rng.standard_normal(16000 + 64)
    right = 0.5 * np.roll(left, delay)  # positive delay: the right ear lags (a source on the left)
    cues = _cues(enc, np.stack([left, right])[:, 32:-32])
    gcc, ild = cues[:, : 2 * MAX_LAG + 1], cues[:, 2 * MAX_LAG + 1 :]
    assert np.all(gcc.argmax(axis=1) == MAX_LAG + delay)
    # dB / 10 in every band; a frame's two windows hold different noise samples, so per frame it scatters
    np.testing.assert_allclose(ild.mean(axis=0), 20 * np.log10(1 / 0.5) / 10, atol=0.03)
