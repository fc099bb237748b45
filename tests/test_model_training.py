"""EMA arithmetic, LR / momentum schedules, clipping, the collapse monitor, and a short learning run."""

import math

import lightning as L
import numpy as np
import pytest
import torch

from wavjepa_nat.nat_model.config import get_preset
from wavjepa_nat.nat_model.jepa import WavJEPA, collapse_stats
from wavjepa_nat.nat_model.masks import MaskCollator
from wavjepa_nat.training.module import WavJEPAModule, ema_momentum_at, lr_at


def test_ema_update_matches_hand_computation():
    torch.manual_seed(0)
    m = WavJEPA(get_preset("tiny", depth=1, top_k_targets=1, pred_depth=1))
    with torch.no_grad():
        for p in m.encoder.parameters():
            p.add_(torch.randn_like(p))  # student and teacher now differ
    t0 = [p.detach().double().clone() for p in m.target_encoder.parameters()]
    s = [p.detach().double().clone() for p in m.encoder.parameters()]
    m.ema_update(0.9)
    for t_new, t_old, s_ in zip(m.target_encoder.parameters(), t0, s):
        torch.testing.assert_close(t_new.double(), 0.9 * t_old + 0.1 * s_, rtol=1e-6, atol=1e-6)
    assert not any(p.requires_grad for p in m.target_encoder.parameters())


def test_lr_schedule_reference_values():
    cfg = get_preset("base")  # 4e-4, warm-up 100k of 375k, cosine to 0
    assert lr_at(0, cfg) == 0.0
    assert lr_at(50_000, cfg) == pytest.approx(2e-4)
    assert lr_at(100_000, cfg) == pytest.approx(4e-4)
    assert lr_at(237_500, cfg) == pytest.approx(2e-4)  # halfway through the cosine
    mid = 100_000 + 275_000 / 3
    assert lr_at(int(mid), cfg) == pytest.approx(4e-4 * 0.5 * (1 + math.cos(math.pi / 3)), rel=1e-4)
    assert lr_at(375_000, cfg) == pytest.approx(0.0, abs=1e-12)
    assert lr_at(500_000, cfg) == pytest.approx(0.0, abs=1e-12)


def test_ema_momentum_schedule_reference_values():
    cfg = get_preset("base")  # 0.999 -> 0.99999 over 100k steps
    assert ema_momentum_at(0, cfg) == pytest.approx(0.999)
    assert ema_momentum_at(50_000, cfg) == pytest.approx(0.999495)
    assert ema_momentum_at(100_000, cfg) == pytest.approx(0.99999)
    assert ema_momentum_at(300_000, cfg) == pytest.approx(0.99999)


def test_base_preset_matches_the_paper():
    cfg = get_preset("base")
    assert (cfg.conv_dim, cfg.embed_dim, cfg.depth, cfg.heads) == (512, 768, 12, 12)
    assert (cfg.pred_dim, cfg.pred_depth, cfg.pred_heads, cfg.top_k_targets) == (384, 12, 12, 8)
    assert (cfg.lr, cfg.betas, cfg.weight_decay, cfg.grad_clip) == (4e-4, (0.9, 0.98), 0.04, 5.0)
    large = get_preset("large")
    assert (large.depth, large.embed_dim, large.heads) == (24, 1024, 16)


def test_collapse_monitor_against_known_matrices():
    torch.manual_seed(0)
    iso = torch.randn(8, 256, 16)  # isotropic: every direction used
    assert collapse_stats(iso)["target_erank"] > 12
    v = torch.randn(16)
    rank1 = torch.randn(8, 256, 1) * v  # one direction only
    assert collapse_stats(rank1)["target_erank"] == pytest.approx(1.0, abs=1e-3)
    same = torch.randn(1, 256, 16).expand(8, -1, -1)  # every crop identical: no spread across the batch
    assert collapse_stats(same)["target_std"] == pytest.approx(0.0, abs=1e-6)


def _tones(rng: np.random.Generator, n_samples: int = 16160, fs: int = 16000) -> np.ndarray:
    """A learnable binaural signal: a bursty harmonic tone, ear 1 delayed by up to 0.5 ms."""
    t = np.arange(n_samples) / fs
    f0 = rng.uniform(100, 400)
    x = sum(
        rng.uniform(0.2, 1) * np.sin(2 * np.pi * f0 * h * t + rng.uniform(0, 2 * np.pi)) for h in range(1, 5)
    )
    x = x * np.clip(np.sin(2 * np.pi * rng.uniform(0.5, 3) * t + rng.uniform(0, 2 * np.pi)), 0, None)
    return (np.stack([x, np.roll(x, rng.integers(-8, 9))]) / 2).astype(np.float32)


class _Tones(torch.utils.data.IterableDataset):
    def __iter__(self):
        rng = np.random.default_rng(0)
        while True:
            yield _tones(rng)


class _Record(L.Callback):
    def __init__(self):
        self.loss, self.erank, self.lr = [], [], []

    def on_train_batch_end(self, trainer, module, outputs, batch, batch_idx):
        self.loss.append(float(outputs["loss"]))
        self.lr.append(trainer.optimizers[0].param_groups[0]["lr"])
        if module.global_step % module.monitor_every == 1:  # logged on the step just taken
            self.erank.append(float(trainer.callback_metrics["train/target_erank"]))


def _fit(cfg, steps, **module_kw):
    torch.manual_seed(0)
    module = WavJEPAModule(cfg, **module_kw)
    rec = _Record()
    dl = torch.utils.data.DataLoader(_Tones(), batch_size=4, collate_fn=MaskCollator(cfg, seed=0))
    trainer = L.Trainer(
        max_steps=steps,
        accelerator="cpu",
        precision="32-true",
        logger=False,
        enable_checkpointing=False,
        enable_progress_bar=False,
        enable_model_summary=False,
        callbacks=[rec],
    )
    trainer.fit(module, dl)
    return module, rec


def test_schedules_and_ema_are_applied_by_lightning(one_torch_thread):
    cfg = get_preset("tiny", warmup_steps=10, total_steps=100)
    module, rec = _fit(cfg, 4, monitor_every=1)
    # LambdaLR steps after each optimizer step: batch k trains with lr_at(k).
    assert rec.lr == pytest.approx([lr_at(k, cfg) for k in range(1, 5)])
    # After 4 steps with lr 0, 1e-4, ... the teacher moved off its initial copy, but only a little.
    diffs = [
        (t - s).abs().max().item()
        for t, s in zip(module.model.target_encoder.parameters(), module.model.encoder.parameters())
    ]
    assert max(diffs) > 0
    groups = module.optimizers().optimizer.param_groups
    assert groups[0]["weight_decay"] == cfg.weight_decay and groups[1]["weight_decay"] == 0.0
    assert all(p.ndim >= 2 for p in groups[0]["params"])


def test_gradient_clipping_uses_config_value():
    cfg = get_preset("tiny", grad_clip=1e-3, depth=1, top_k_targets=1, pred_depth=1)
    module = WavJEPAModule(cfg)
    batch = MaskCollator(cfg)([_tones(np.random.default_rng(1), 4000) for _ in range(2)])
    loss, _ = module.model(batch)
    loss.backward()
    opt = module.configure_optimizers()["optimizer"]
    module.configure_gradient_clipping(opt)
    grads = [p.grad for g in opt.param_groups for p in g["params"] if p.grad is not None]
    total = torch.linalg.vector_norm(torch.stack([torch.linalg.vector_norm(g) for g in grads]))
    assert total.item() == pytest.approx(1e-3, rel=1e-3)


def test_tiny_preset_learns_binaural_tones_without_collapse(one_torch_thread):
    """~100 CPU steps on padded mask batches: the JEPA loss falls well below its start; the effective
    rank stays > 1."""
    cfg = get_preset("tiny")
    first = next(
        iter(torch.utils.data.DataLoader(_Tones(), batch_size=4, collate_fn=MaskCollator(cfg, seed=0)))
    )
    assert not first["context_valid"].all() and not first["target_valid"].all()  # the masked path trains
    _, rec = _fit(cfg, 100, monitor_every=10)
    loss = np.array(rec.loss)
    assert np.isfinite(loss).all()
    assert loss[-10:].mean() < 0.75 * loss[:10].mean(), (loss[:10], loss[-10:])
    assert len(rec.erank) >= 9 and min(rec.erank) > 1.0


def test_gradient_checkpointing_gives_the_same_gradients():
    cfg = get_preset("tiny", depth=2, top_k_targets=1, pred_depth=2)
    batch = MaskCollator(cfg)([_tones(np.random.default_rng(2), 4000) for _ in range(2)])
    grads = []
    for ckpt in (False, True):
        torch.manual_seed(0)
        m = WavJEPA(cfg)
        m.set_grad_checkpointing(ckpt)
        loss, _ = m(batch)
        loss.backward()
        grads.append([p.grad.clone() for p in m.parameters() if p.grad is not None])
    for a, b in zip(*grads):
        torch.testing.assert_close(a, b)
