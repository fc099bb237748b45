"""Frame counts from the conv spec, receptive field, and the ear-major token order of the real encoder."""

import pytest
import torch
from torch import nn

from wavjepa_nat.errors import InputError
from wavjepa_nat.nat_model.config import BASE_CONV_SPEC, get_preset
from wavjepa_nat.nat_model.encoder import Encoder, WaveformEncoder, n_frames, receptive_field

SPECS = [
    BASE_CONV_SPEC,
    BASE_CONV_SPEC + [(2, 2)],  # the full wav2vec 2.0 stack: 7 layers, stride 320
    [(10, 5), (8, 4), (4, 2), (4, 2), (2, 2)],  # another stride-160 stack
    [(400, 160)],  # one big strided layer
]


def _conv_stack_frames(n_samples: int, spec) -> int:
    """Independent reference: run plain Conv1d layers on zeros and read the output length."""
    x = torch.zeros(1, 1, n_samples)
    with torch.no_grad():
        for k, s in spec:
            x = nn.Conv1d(x.shape[1], 1, k, s)(x)
    return x.shape[-1]


@pytest.mark.parametrize("spec", SPECS)
@pytest.mark.parametrize("n_samples", [400, 401, 559, 560, 16000, 17120, 32160, 64000])
def test_n_frames_matches_conv1d(spec, n_samples):
    if n_samples < receptive_field(spec):
        assert n_frames(n_samples, spec) == 0
        return
    assert n_frames(n_samples, spec) == _conv_stack_frames(n_samples, spec)


def test_base_spec_gives_200_frames_per_crop():
    assert n_frames(32160, BASE_CONV_SPEC) == 200
    assert receptive_field(BASE_CONV_SPEC) == 240  # 15 ms
    assert receptive_field(BASE_CONV_SPEC + [(2, 2)]) == 400  # wav2vec 2.0's 25 ms


@pytest.mark.parametrize("spec", SPECS)
def test_receptive_field_is_shortest_input(spec):
    rf = receptive_field(spec)
    assert _conv_stack_frames(rf, spec) == 1
    assert n_frames(rf - 1, spec) == 0


def test_waveform_encoder_shape_and_groupnorm_first_only():
    enc = WaveformEncoder(BASE_CONV_SPEC, 32)
    out = enc(torch.randn(3, 32160))
    assert out.shape == (3, 200, 32)
    assert sum(isinstance(m, nn.GroupNorm) for m in enc.modules()) == 1
    assert isinstance(enc.first_norm, nn.GroupNorm) and len(enc.convs) == len(BASE_CONV_SPEC)
    assert all(m.bias is None for m in enc.modules() if isinstance(m, nn.Conv1d))


@pytest.mark.parametrize("spec", [BASE_CONV_SPEC, BASE_CONV_SPEC + [(2, 2)]])
@pytest.mark.parametrize("n_samples", [400, 17000, 32160, 64000])
def test_encoder_any_length_any_depth(spec, n_samples):
    """Positions are computed for any T (the reference crashed on a 7-layer stack)."""
    cfg = get_preset("tiny", conv_spec=spec, conv_dim=16, embed_dim=32, heads=2, depth=1, top_k_targets=1)
    enc = Encoder(cfg).eval()
    if n_samples < receptive_field(spec):
        return
    with torch.no_grad():
        out = enc(torch.randn(2, 2, n_samples))
    cues = 2 * 16 + 1 + 16  # the default layout appends +-16 GCC-PHAT lags and 16 band ILDs per frame
    assert out.shape == (2, n_frames(n_samples, spec), 2 * cfg.embed_dim + cues)
    assert enc.hop_ms == 1000 * torch.tensor([s for _, s in spec]).prod().item() / 16000


def test_too_short_audio_is_rejected():
    enc = Encoder(get_preset("tiny"))
    with pytest.raises(InputError, match="too short"):
        enc(torch.zeros(1, 2, 239))


def _locality_encoder(n_time: int, shared: bool = False):
    """Tiny encoder whose tokens depend only on their own receptive field.

    The first-layer GroupNorm normalises over all of time, so one impulse moves every token of its ear;
    it is swapped for Identity here. The token ORDER comes from the unchanged stacking code.
    """
    cfg = get_preset(
        "tiny",
        conv_dim=8,
        embed_dim=16,
        heads=2,
        depth=1,
        top_k_targets=1,
        share_ear_encoders=shared,
        ear_norm="per_ear",  # per-ear statistics and no interaural path: each token sees its own ear only
        interaural="none",
        context_block_len=2,
        target_block_len=2,
    )
    enc = Encoder(cfg).eval()
    for f in enc.frontends:
        f.cnn.first_norm = nn.Identity()
    n_samples = receptive_field(cfg.conv_spec) + (n_time - 1) * cfg.hop_samples
    return enc, cfg, n_samples


def empirical_token_map(enc, cfg, n_samples) -> dict[int, tuple[int, int]]:
    """token index -> (ear, time frame), found by poking the audio, not from the code's own formula.

    Frame t of ear c sees samples [t*hop, t*hop + rf). The token that changes both under an impulse at
    t*hop and under an impulse at t*hop + rf - 1 is the one (and only one) of frame t in ear c.
    """
    C, hop, rf = cfg.channels, cfg.hop_samples, receptive_field(cfg.conv_spec)
    T = n_frames(n_samples, cfg.conv_spec)
    probes, keys = [], []
    for c in range(C):
        for t in range(T):
            for p in (t * hop, t * hop + rf - 1):
                a = torch.zeros(C, n_samples)
                a[c, p] = 100.0
                probes.append(a)
            keys.append((c, t))
    with torch.no_grad():
        base = enc.tokens(torch.zeros(1, C, n_samples))[0]
        tok = enc.tokens(torch.stack(probes))
    changed = (tok - base).abs().amax(-1) > 1e-6  # (2*C*T, N)
    mapping = {}
    for i, key in enumerate(keys):
        both = (changed[2 * i] & changed[2 * i + 1]).nonzero().flatten().tolist()
        assert len(both) == 1, f"{key}: tokens {both}"
        mapping[both[0]] = key
    assert len(mapping) == C * T
    return mapping


@pytest.mark.parametrize("shared", [False, True])
def test_token_order_is_ear_major(shared):
    enc, cfg, n_samples = _locality_encoder(12, shared)
    mapping = empirical_token_map(enc, cfg, n_samples)
    assert mapping == {c * 12 + t: (c, t) for c in range(2) for t in range(12)}


def test_encoder_output_concatenates_ears_per_frame():
    enc, cfg, n_samples = _locality_encoder(10)
    a = torch.zeros(1, 2, n_samples)
    a[0, 1, 5 * cfg.hop_samples : 5 * cfg.hop_samples + 50] = 1.0  # ear 1, around frame ~3-5
    with torch.no_grad():
        y0, y1 = enc(torch.zeros_like(a)), enc(a)
    D = cfg.embed_dim
    assert y1.shape == (1, 10, 2 * D)
    # Attention mixes tokens, so all outputs move; the transformer-free tokens show the layout directly.
    with torch.no_grad():
        t0, t1 = enc.tokens(torch.zeros_like(a)), enc.tokens(a)
    moved = ((t1 - t0).abs().amax(-1) > 1e-6)[0].nonzero().flatten().tolist()
    assert moved and all(10 <= i < 20 for i in moved)  # only ear-1 tokens
    assert not torch.equal(y0, y1)


def _frame_tokens(enc: Encoder, audio: torch.Tensor) -> torch.Tensor:
    """(B, C, S) -> (B, C, T, D): the frame embeddings before positions and the transformer."""
    T = enc.n_frames(audio.shape[-1])
    with torch.no_grad():
        return (enc.tokens(audio) - enc.pos(T)).reshape(audio.shape[0], audio.shape[1], T, -1)


@pytest.mark.parametrize("shared", [False, True])
def test_per_ear_norm_erases_the_ild_and_joint_norm_keeps_it(shared):
    torch.manual_seed(0)
    audio = torch.randn(2, 2, 4000)
    quieter_left = audio * torch.tensor([0.25, 1.0])[None, :, None]  # a 12 dB level difference
    # No interaural path here: it would carry the ILD to both ears' tokens whatever the norm.
    per_ear = Encoder(
        get_preset("tiny", channels=2, share_ear_encoders=shared, ear_norm="per_ear", interaural="none")
    ).eval()
    joint = Encoder(
        get_preset("tiny", channels=2, share_ear_encoders=shared, ear_norm="joint", interaural="none")
    ).eval()
    joint.load_state_dict(per_ear.state_dict())  # same weights: only the statistics differ
    # The reference's per-ear GroupNorm: each ear's level is divided out, so the ILD cannot reach the model.
    torch.testing.assert_close(
        _frame_tokens(per_ear, quieter_left), _frame_tokens(per_ear, audio), atol=1e-4, rtol=1e-4
    )
    # Pooled over the ears: the right ear's tokens are unchanged, the left ear's differ.
    a, b = _frame_tokens(joint, audio), _frame_tokens(joint, quieter_left)
    assert (a[:, 0] - b[:, 0]).abs().mean() > 0.1 * a[:, 0].abs().mean()
    # Both stay invariant to the overall level (the data is instance-normalised anyway).
    torch.testing.assert_close(_frame_tokens(joint, 3.0 * audio), a, atol=1e-4, rtol=1e-4)
    # With identical ears the pooled statistics equal each ear's own: joint == per-ear.
    same = audio[:, :1].expand(-1, 2, -1).contiguous()
    if shared:
        torch.testing.assert_close(
            _frame_tokens(joint, same), _frame_tokens(per_ear, same), atol=1e-5, rtol=1e-5
        )


def _later_convs(cnn, x):
    """GELU after the first layer's norm, then every later conv followed by GELU (wav2vec 2.0)."""
    x = nn.functional.gelu(x)
    for conv in cnn.convs[1:]:
        x = nn.functional.gelu(conv(x))
    return x


def test_joint_norm_matches_groupnorm_on_the_concatenated_ears():
    """Independent reference: GroupNorm over one long signal made of both ears' filter outputs."""
    torch.manual_seed(1)
    enc = Encoder(
        get_preset("tiny", channels=2, share_ear_encoders=True, ear_norm="joint", interaural="none")
    ).eval()
    cnn = enc.frontends[0].cnn
    audio = torch.randn(3, 2, 4000) * torch.tensor([0.3, 1.0])[None, :, None]
    with torch.no_grad():
        h = torch.cat([cnn.first_layer(audio[:, 0]), cnn.first_layer(audio[:, 1])], dim=-1)  # (B, F, 2*T1)
        normed = cnn.first_norm(h)  # nn.GroupNorm with its affine: statistics over both ears' frames
        T1 = h.shape[-1] // 2
        want = torch.stack(
            [
                enc.frontends[0].head(_later_convs(cnn, part).transpose(1, 2))
                for part in (normed[..., :T1], normed[..., T1:])
            ],
            dim=1,
        )
    torch.testing.assert_close(_frame_tokens(enc, audio), want, atol=1e-5, rtol=1e-5)
