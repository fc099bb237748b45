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


def _valid_sets(idx: torch.Tensor, valid: torch.Tensor) -> list:
    """Nested lists of the valid index sets (padding dropped)."""
    if idx.dim() == 1:
        return idx[valid].tolist()
    return [_valid_sets(i, v) for i, v in zip(idx, valid)]


def test_collator_shapes_padding_and_per_crop_invariants():
    cfg = get_preset("tiny")
    out = MaskCollator(cfg, seed=3)(_crops(6))
    T = 200
    assert out["audio"].shape == (6, 2, 32160) and out["audio"].dtype == torch.float32
    ctx, tgt = out["context_idx"], out["target_idx"]
    cv, tv = out["context_valid"], out["target_valid"]
    assert ctx.dtype == torch.long and tgt.dtype == torch.long
    assert cv.dtype == torch.bool and tv.dtype == torch.bool
    assert ctx.shape[0] == 6 and tgt.shape[:2] == (6, 4)
    assert cv.shape == ctx.shape and tv.shape == tgt.shape
    # Padded to the batch maximum: some set fills every slot, and counts differ across crops.
    assert cv.all(1).any() and tv.all(2).any()
    assert len(set(cv.sum(1).tolist())) > 1
    for b in range(6):
        n = int(cv[b].sum())
        assert cv[b, :n].all() and not cv[b, n:].any()  # valid entries first, then padding
        assert n % 2 == 0 and n // 2 >= 20  # both ears; >= 10 % of the frames
        c = ctx[b, :n].tolist()
        assert len(set(c)) == n and max(c) < 2 * T
        assert (ctx[b, n:] == ctx[b, 0]).all()  # padded slots point at a real token
        for g in range(4):
            m = int(tv[b, g].sum())
            assert tv[b, g, :m].all() and not tv[b, g, m:].any() and m % 2 == 0 and m > 0
            t = set(tgt[b, g, :m].tolist())
            assert len(t) == m and max(t) < 2 * T
            assert (tgt[b, g, m:] == tgt[b, g, 0]).all()
            assert not set(c) & t


def test_collator_keeps_exactly_the_sampled_masks_and_paper_fractions():
    """Every crop's valid sets are exactly what sample_time_masks drew (nothing trimmed), so over 64
    crops the context reaching the model is ~20 % of the frames and each target group ~23 %."""
    cfg = get_preset("base")
    B, T, seed = 64, 200, 11
    out = MaskCollator(cfg, seed=seed)([np.zeros((2, 32160), np.float32)] * B)
    gen = torch.Generator().manual_seed(seed)  # the collator's own stream, outside a DataLoader worker
    ctx_sets = _valid_sets(out["context_idx"], out["context_valid"])
    tgt_sets = _valid_sets(out["target_idx"], out["target_valid"])
    for b in range(B):
        ctx, tgt = sample_time_masks(T, cfg, gen)
        frames = ctx.nonzero().flatten().tolist()
        assert ctx_sets[b] == frames + [T + t for t in frames]
        for g in range(cfg.target_groups):
            frames = tgt[g].nonzero().flatten().tolist()
            assert tgt_sets[b][g] == frames + [T + t for t in frames]
    n_ctx = out["context_valid"].sum(1).float() / (2 * T)  # per crop
    n_tgt = out["target_valid"].sum(2).float() / (2 * T)  # per crop and group
    # The sampler's long-run means are 19.2 % and 22.8 % (s.e. of a 64-crop mean: 0.6 % and 0.3 %).
    assert 0.18 < n_ctx.mean() < 0.21
    assert ((0.22 < n_tgt.mean(0)) & (n_tgt.mean(0) < 0.24)).all()
    # What trimming to the batch minimum would have kept: about half of that.
    assert n_ctx.min() < 0.6 * n_ctx.mean() and n_tgt.min() < 0.6 * n_tgt.mean()


def test_collator_is_deterministic_and_seedable():
    cfg = get_preset("tiny")
    a = MaskCollator(cfg, seed=7)(_crops(4))
    b = MaskCollator(cfg, seed=7)(_crops(4))
    c = MaskCollator(cfg, seed=8)(_crops(4))
    for k in ("context_idx", "context_valid", "target_idx", "target_valid"):
        assert torch.equal(a[k], b[k]), k
    assert not torch.equal(a["context_idx"], c["context_idx"]) or not torch.equal(
        a["target_idx"], c["target_idx"]
    )


def test_collator_in_dataloader_workers_is_reproducible():
    cfg = get_preset("tiny")
    data = _crops(8, s=8000)
    keys = ("context_idx", "context_valid", "target_idx", "target_valid")

    def run():
        torch.manual_seed(123)  # the worker seeds follow torch's global seed
        dl = torch.utils.data.DataLoader(
            data, batch_size=4, num_workers=2, collate_fn=MaskCollator(cfg, seed=1)
        )
        return [[b[k] for k in keys] for b in dl]

    r1, r2 = run(), run()
    for b1, b2 in zip(r1, r2):
        assert all(torch.equal(x, y) for x, y in zip(b1, b2))


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
    sets = _valid_sets(batch["context_idx"], batch["context_valid"])
    sets += [g for groups in _valid_sets(batch["target_idx"], batch["target_valid"]) for g in groups]
    for tokens in sets:
        pairs = [mapping[i] for i in tokens]
        ear0 = {t for c, t in pairs if c == 0}
        ear1 = {t for c, t in pairs if c == 1}
        assert ear0 == ear1 and ear0


def test_too_short_crop_for_masking_is_an_input_error():
    cfg = get_preset("tiny", min_context_frac=0.9)
    with pytest.raises(InputError, match="could not draw masks"):
        sample_time_masks(50, cfg, torch.Generator().manual_seed(0), max_tries=20)
