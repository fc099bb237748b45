"""Padded mask batches: padded tokens are invisible (as keys, in the loss), a crop gives the same outputs
and loss alone or in a batch that pads it more, and an unpadded batch runs without an attention mask.
References are unpadded computations, not the masked code path itself."""

import numpy as np
import pytest
import torch

from wavjepa_nat.nat_model.config import get_preset
from wavjepa_nat.nat_model.jepa import WavJEPA, masked_mse
from wavjepa_nat.nat_model.masks import MaskCollator
from wavjepa_nat.nat_model.transformer import Transformer

CFG = get_preset("tiny", depth=2, top_k_targets=2, pred_depth=2)
N_SAMPLES = 16160  # 100 frames


@pytest.fixture(scope="module")
def model():
    torch.manual_seed(0)
    return WavJEPA(CFG).eval()


@pytest.fixture(scope="module")
def batch():
    rng = np.random.default_rng(0)
    crops = [rng.standard_normal((2, N_SAMPLES)).astype(np.float32) for _ in range(8)]
    return MaskCollator(CFG, seed=5)(crops)


def _alone(batch, b):
    """Crop b as a batch of one, padded only as much as it needs itself (its largest target group).
    Padded target slots repeat the LAST valid index (the collator repeats the first): pad content
    must not matter."""
    cv, tv = batch["context_valid"][b], batch["target_valid"][b]
    groups = [batch["target_idx"][b, g][tv[g]] for g in range(tv.shape[0])]
    n = max(len(g) for g in groups)
    tgt = torch.stack([torch.cat([g, g[-1:].expand(n - len(g))]) for g in groups])
    return {
        "audio": batch["audio"][b : b + 1],
        "context_idx": batch["context_idx"][b][cv][None],
        "context_valid": torch.ones(1, int(cv.sum()), dtype=torch.bool),
        "target_idx": tgt[None],
        "target_valid": (torch.arange(n)[None] < torch.tensor([len(g) for g in groups])[:, None])[None],
    }


def test_transformer_key_padding_matches_unpadded_sequences():
    torch.manual_seed(0)
    tr = Transformer(32, 2, 4, 4.0).eval()
    lengths = [10, 7, 3]
    x = torch.randn(3, 10, 32)
    valid = torch.arange(10)[None] < torch.tensor(lengths)[:, None]
    x[~valid] = 1e4  # garbage in the padded slots
    with torch.no_grad():
        y = tr(x, key_valid=valid)
        for b, n in enumerate(lengths):
            ref = tr(x[b : b + 1, :n])  # the same tokens with no padding at all
            torch.testing.assert_close(y[b, :n], ref[0], rtol=1e-5, atol=1e-5)


def test_a_crop_gives_the_same_outputs_and_loss_alone_or_padded_in_a_batch(model, batch):
    cv, tv = batch["context_valid"], batch["target_valid"]
    # A crop the batch pads more than it needs, for its context and for its targets.
    need = (cv.sum(1) < cv.shape[1]) & (tv.sum(2).amax(1) < tv.shape[2])
    b = int(need.nonzero()[0])
    alone = _alone(batch, b)
    assert cv.shape[1] > alone["context_idx"].shape[1]  # more context padding in the batch
    assert tv.shape[2] > alone["target_idx"].shape[2]  # and more target padding
    with torch.no_grad():
        enc_batch = model.encoder.encode(batch["audio"], batch["context_idx"], keep_valid=cv)
        enc_alone = model.encoder.encode(alone["audio"], alone["context_idx"])  # no mask at all
        torch.testing.assert_close(enc_batch[b][cv[b]], enc_alone[0], rtol=1e-5, atol=1e-5)
        pred_b, tgt_b, _ = model.predict(batch)
        pred_a, tgt_a, _ = model.predict(alone)
        for g in range(CFG.target_groups):
            torch.testing.assert_close(
                pred_b[b, g][tv[b, g]], pred_a[0, g][alone["target_valid"][0, g]], rtol=1e-5, atol=1e-5
            )
            torch.testing.assert_close(tgt_b[b, g][tv[b, g]], tgt_a[0, g][alone["target_valid"][0, g]])
        per_group = masked_mse(pred_b, tgt_b, tv)
        torch.testing.assert_close(per_group[b], masked_mse(pred_a, tgt_a, alone["target_valid"])[0])
        # The batch loss is the mean over crops of each crop's own loss (and over its groups).
        loss, _ = model(batch)
        alone_losses = [model(_alone(batch, i))[0] for i in range(batch["audio"].shape[0])]
        torch.testing.assert_close(loss, torch.stack(alone_losses).mean(), rtol=1e-5, atol=1e-7)


def test_per_group_loss_is_the_mse_over_valid_tokens():
    """Against a loop over the valid tokens with numpy."""
    rng = np.random.default_rng(0)
    pred, target = rng.standard_normal((2, 2, 3, 5, 4))
    valid = np.array(
        [
            [[1, 1, 1, 0, 0], [1, 0, 0, 0, 0], [1, 1, 1, 1, 1]],
            [[1, 1, 0, 0, 0], [1, 1, 1, 1, 0], [1, 1, 1, 0, 0]],
        ],
        dtype=bool,
    )
    ref = np.array(
        [
            [np.mean((pred[b, g][valid[b, g]] - target[b, g][valid[b, g]]) ** 2) for g in range(3)]
            for b in range(2)
        ]
    )
    got = masked_mse(torch.tensor(pred), torch.tensor(target), torch.tensor(valid))
    np.testing.assert_allclose(got.numpy(), ref, rtol=1e-6)


def test_padded_targets_never_reach_the_loss(model, batch):
    tv = batch["target_valid"]
    assert (~tv).any()
    B = tv.shape[0]
    loss, _ = model(batch)
    # 1) Huge and non-finite teacher targets at the padded slots change nothing, and leave the
    #    gradients finite.
    pred, target, _ = model.predict(batch)
    poisoned = target.clone()
    poisoned[~tv] = 1e30
    poisoned[~tv & (torch.arange(tv.shape[2]) % 2 == 0)] = float("nan")
    torch.testing.assert_close(masked_mse(pred, poisoned, tv).mean(), loss.detach())
    masked_mse(pred, poisoned, tv).mean().backward()
    assert all(torch.isfinite(p.grad).all() for p in model.parameters() if p.grad is not None)
    model.zero_grad(set_to_none=True)
    # 2) End to end: point every padded target slot at a token (one of the crop's context tokens, never
    #    a target) whose teacher target is set to 1e6. Loss and valid predictions are unchanged.
    j = batch["context_idx"][:, 0]
    moved = dict(batch, target_idx=torch.where(tv, batch["target_idx"], j[:, None, None]))
    clean_targets = model.targets

    def huge_at_j(audio):
        t, last = clean_targets(audio)
        t = t.clone()
        t[torch.arange(B), j] = 1e6
        return t, last

    model.targets = huge_at_j
    try:
        with torch.no_grad():
            loss_moved, _ = model(moved)
            pred_moved, _, _ = model.predict(moved)
    finally:
        del model.targets
    torch.testing.assert_close(loss_moved, loss.detach(), rtol=1e-5, atol=1e-7)
    torch.testing.assert_close(pred_moved[tv], pred.detach()[tv], rtol=1e-5, atol=1e-5)


def test_unpadded_batches_take_the_mask_free_path(model, monkeypatch):
    masks = []
    sdpa = torch.nn.functional.scaled_dot_product_attention

    def spy(q, k, v, attn_mask=None, **kw):
        masks.append(attn_mask)
        return sdpa(q, k, v, attn_mask=attn_mask, **kw)

    monkeypatch.setattr(torch.nn.functional, "scaled_dot_product_attention", spy)
    crop = [np.random.default_rng(1).standard_normal((2, N_SAMPLES)).astype(np.float32)]
    one_group = get_preset("tiny", depth=2, top_k_targets=2, pred_depth=2, target_groups=1)
    single = MaskCollator(one_group, seed=0)(crop)  # one crop, one group: nothing to pad
    assert single["context_valid"].all() and single["target_valid"].all()
    torch.manual_seed(0)
    with torch.no_grad():
        WavJEPA(one_group)(single)
    assert masks and all(m is None for m in masks)
    masks.clear()
    padded = MaskCollator(CFG, seed=5)(crop * 4)
    with torch.no_grad():
        model(padded)
    # teacher (2 blocks): no mask; student (2) and predictor (2): the key-padding mask.
    assert [m is None for m in masks] == [True, True, False, False, False, False]
