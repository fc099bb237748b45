"""Time-inverse block masks: sizes, disjointness, the 10 % floor, determinism, and ear alignment
checked against the token order the real encoder produces."""

import numpy as np
import pytest
import torch
from test_model_encoder import _locality_encoder, empirical_token_map

from wavjepa_nat.errors import InputError
from wavjepa_nat.nat_model.config import get_preset
from wavjepa_nat.nat_model.masks import MaskCollator, expand_to_tokens, sample_time_masks


def test_mask_fractions_and_invariants_over_many_draws():
    cfg = get_preset("base")
    gen = torch.Generator().manual_seed(1)
    ctx_frac, tgt_frac = [], []
    for _ in range(1500):
        ctx, tgt = sample_time_masks(200, cfg, gen)
        assert ctx.shape == (200,) and tgt.shape == (4, 200)
        assert not (ctx[None] & tgt).any()  # target frames are removed from the context
        assert ctx.sum() >= 20  # >= 10 % of the frames
        assert tgt.any(1).all()
        ctx_frac.append(ctx.float().mean().item())
        tgt_frac.extend(tgt.float().mean(1).tolist())
    # Paper: context ~20 %, each target group ~23 %.
    assert 0.17 < np.mean(ctx_frac) < 0.23
    assert 0.20 < np.mean(tgt_frac) < 0.26
    # Masks differ per crop.
    assert np.std(ctx_frac) > 0.02


def test_expand_to_tokens_is_ear_major():
    idx = torch.tensor([[1, 4], [0, 2]])
    assert expand_to_tokens(idx, 10, 2).tolist() == [[1, 4, 11, 14], [0, 2, 10, 12]]
    assert expand_to_tokens(idx, 10, 1).tolist() == idx.tolist()


def _crops(n, c=2, s=32160):
    rng = np.random.default_rng(0)
    return [rng.standard_normal((c, s)).astype(np.float32) for _ in range(n)]


def test_collator_shapes_and_per_crop_invariants():
    cfg = get_preset("tiny")
    out = MaskCollator(cfg, seed=3)(_crops(6))
    T = 200
    assert out["audio"].shape == (6, 2, 32160) and out["audio"].dtype == torch.float32
    ctx, tgt = out["context_idx"], out["target_idx"]
    assert ctx.dtype == torch.long and tgt.dtype == torch.long
    assert ctx.shape[0] == 6 and tgt.shape[:2] == (6, 4)
    assert ctx.shape[1] % 2 == 0 and tgt.shape[2] % 2 == 0  # both ears
    assert ctx.shape[1] // 2 >= 20  # the trimmed context still holds >= 10 % of the frames
    for b in range(6):
        c = set(ctx[b].tolist())
        assert len(c) == ctx.shape[1] and max(c) < 2 * T
        for g in range(4):
            assert not c & set(tgt[b, g].tolist())


def test_collator_is_deterministic_and_seedable():
    cfg = get_preset("tiny")
    a = MaskCollator(cfg, seed=7)(_crops(4))
    b = MaskCollator(cfg, seed=7)(_crops(4))
    c = MaskCollator(cfg, seed=8)(_crops(4))
    assert torch.equal(a["context_idx"], b["context_idx"]) and torch.equal(a["target_idx"], b["target_idx"])
    assert not torch.equal(a["context_idx"], c["context_idx"]) or not torch.equal(
        a["target_idx"], c["target_idx"]
    )


def test_collator_in_dataloader_workers_is_reproducible():
    cfg = get_preset("tiny")
    data = _crops(8, s=8000)

    def run():
        torch.manual_seed(123)  # the worker seeds follow torch's global seed
        dl = torch.utils.data.DataLoader(
            data, batch_size=4, num_workers=2, collate_fn=MaskCollator(cfg, seed=1)
        )
        return [(b["context_idx"], b["target_idx"]) for b in dl]

    r1, r2 = run(), run()
    for (c1, t1), (c2, t2) in zip(r1, r2):
        assert torch.equal(c1, c2) and torch.equal(t1, t2)


def test_collator_rejects_wrong_channel_count():
    with pytest.raises(InputError, match="crops must be"):
        MaskCollator(get_preset("tiny"))(_crops(2, c=1))


def test_masked_time_steps_are_masked_in_both_ears_of_the_real_token_order():
    """Map every token to (ear, frame) by poking the encoder's audio; a frame is in a mask set for
    ear 0 iff it is for ear 1, for the context and for every target group."""
    n_time = 24
    enc, cfg, n_samples = _locality_encoder(n_time)
    mapping = empirical_token_map(enc, cfg, n_samples)
    batch = MaskCollator(cfg, seed=0)([np.zeros((2, n_samples), np.float32) for _ in range(16)])
    sets = [batch["context_idx"][b] for b in range(16)]
    sets += [batch["target_idx"][b, g] for b in range(16) for g in range(cfg.target_groups)]
    for tokens in sets:
        pairs = [mapping[i] for i in tokens.tolist()]
        ear0 = {t for c, t in pairs if c == 0}
        ear1 = {t for c, t in pairs if c == 1}
        assert ear0 == ear1 and ear0


def test_too_short_crop_for_masking_is_an_input_error():
    cfg = get_preset("tiny", min_context_frac=0.9)
    with pytest.raises(InputError, match="could not draw masks"):
        sample_time_masks(50, cfg, torch.Generator().manual_seed(0), max_tries=20)
