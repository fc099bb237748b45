"""NaturalisticCrops / NaturalisticDataModule: shapes, worker splitting, determinism, CPU == GPU-mode crops."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from test_augment import FakeBank

from wavjepa_nat.data.augment import AugmentConfig
from wavjepa_nat.data.dataset import NaturalisticCrops, NaturalisticDataModule, stack_crops
from wavjepa_nat.data.clips import ClipConfig
from wavjepa_nat.data.sources import AudioItem
from wavjepa_nat.errors import InputError

CLIP = ClipConfig(fs=16000, clip_seconds=1.0)


def items(n=6):
    rng = np.random.default_rng(0)
    out = []
    for i in range(n):
        fs = 16000 if i % 2 == 0 else 22050
        audio = rng.standard_normal((1 + i % 2, int(fs * (0.6 + 0.3 * i)))).astype(np.float32)
        out.append(AudioItem(audio=audio, fs=fs, key=f"clip{i}"))
    return out


def aug(**kw):
    base = {"clean_ratio": 0.3, "n_crops": 3, "crop_samples": 4000, "split": "train"}
    return AugmentConfig(**{**base, **kw})


def test_cpu_mode_yields_normalised_binaural_crops():
    crops = list(NaturalisticCrops(items(4), FakeBank(), CLIP, aug()))
    assert len(crops) == 4 * 3
    for c in crops:
        assert c.shape == (2, 4000) and c.dtype == np.float32
        assert abs(float(c.mean())) < 1e-4 and float(c.var()) == pytest.approx(1.0, abs=1e-3)


def test_same_seed_same_crops_other_seed_differs():
    a = np.stack(list(NaturalisticCrops(items(3), FakeBank(), CLIP, aug(seed=1))))
    b = np.stack(list(NaturalisticCrops(items(3), FakeBank(), CLIP, aug(seed=1))))
    c = np.stack(list(NaturalisticCrops(items(3), FakeBank(), CLIP, aug(seed=2))))
    np.testing.assert_array_equal(a, b)
    assert not np.allclose(a, c)


def test_gpu_mode_emits_draws_that_give_the_cpu_crops():
    cfg = aug(seed=3)
    cpu = np.stack(list(NaturalisticCrops(items(4), FakeBank(), CLIP, cfg, mode="cpu")))
    loader = torch.utils.data.DataLoader(NaturalisticCrops(items(4), FakeBank(), CLIP, cfg, mode="gpu"), batch_size=4)
    (batch,) = list(loader)
    assert batch["dry"].shape == (4, CLIP.n_samples) and batch["crop_offsets"].shape == (4, 3)
    dm = NaturalisticDataModule(items(4), FakeBank(), CLIP, cfg, batch_size=4, num_workers=0, augment_on="gpu")
    crops = dm.on_after_batch_transfer(batch, 0)
    np.testing.assert_allclose(crops.numpy(), cpu, atol=2e-4)


def test_datamodule_two_workers_split_the_clips_and_batch_by_clip():
    n_items, b, cfg = 6, 2, aug()
    seen = []

    def collate(crops):
        seen.append(len(crops))
        return {"audio": stack_crops(crops), "n": len(crops)}

    dm = NaturalisticDataModule(items(n_items), FakeBank(), CLIP, cfg, batch_size=b, num_workers=2, collate_fn=collate)
    batches = list(dm.train_dataloader())
    total = sum(x["n"] for x in batches)
    assert total == n_items * cfg.n_crops  # every clip exactly once over the two workers
    assert all(x["audio"].shape[1:] == (2, 4000) for x in batches)
    assert all(x["n"] % cfg.n_crops == 0 and x["n"] <= b * cfg.n_crops for x in batches)
    # Crops are not duplicated between workers (their seeds differ).
    audio = torch.cat([x["audio"] for x in batches]).flatten(1)
    assert torch.unique(audio, dim=0).shape[0] == total


def test_datamodule_default_collate_and_epochs_differ():
    dm = NaturalisticDataModule(items(2), FakeBank(), CLIP, aug(channels=1), batch_size=2, num_workers=0)
    loader = dm.train_dataloader()
    (e0,) = list(loader)
    (e1,) = list(loader)
    assert e0.shape == (6, 1, 4000) and e0.dtype == torch.float32
    assert not torch.allclose(e0, e1)  # a new epoch draws new scenes, SNRs and crops


def test_datamodule_gpu_mode_with_collate_fn():
    def collate(crops):
        return {"audio": torch.stack(crops), "context_idx": torch.arange(3)}

    dm = NaturalisticDataModule(items(2), FakeBank(), CLIP, aug(), batch_size=2, num_workers=0,
                                collate_fn=collate, augment_on="gpu")
    (batch,) = list(dm.train_dataloader())
    out = dm.on_after_batch_transfer(batch, 0)
    assert out["audio"].shape == (6, 2, 4000) and out["context_idx"].device == out["audio"].device


def test_datamodule_validates_bank():
    with pytest.raises(InputError, match="Hz"):
        NaturalisticDataModule(items(2), FakeBank(fs=8000), CLIP, aug()).setup("fit")
    with pytest.raises(InputError, match="no scenes"):
        NaturalisticDataModule(items(2), FakeBank(), CLIP, aug(split="test")).setup("fit")
    with pytest.raises(InputError, match="not found"):
        NaturalisticDataModule(items(2), "/nonexistent/bank.h5", CLIP, aug()).setup("fit")
    with pytest.raises(InputError):
        NaturalisticDataModule(items(2), FakeBank(), CLIP, aug(), augment_on="tpu")
