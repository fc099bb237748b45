"""The training stream (data.stream): shapes, workers, determinism, CPU == GPU-mode crops, step indexing,
streamed shards, and the bank being optional for dry clips."""

from __future__ import annotations

import io
import tarfile

import numpy as np
import pytest
import soundfile as sf
import torch
from test_augment import FakeBank

from wavjepa_nat.data.augment import AugmentConfig
from wavjepa_nat.data.augment_torch import NaturalisticAugment
from wavjepa_nat.data.clips import ClipConfig
from wavjepa_nat.data.sources import FolderSource, WebDatasetSource
from wavjepa_nat.data.stream import TrainingBatches, TrainingData, crops_on_device
from wavjepa_nat.errors import InputError

CLIP = ClipConfig(fs=16000, clip_seconds=1.0)


def _signals(n):
    rng = np.random.default_rng(0)
    for i in range(n):
        fs = 16000 if i % 2 == 0 else 22050
        yield (
            f"clip{i}",
            rng.standard_normal((int(fs * (0.6 + 0.3 * i)), 1 + i % 2)).astype(np.float32) * 0.1,
            fs,
        )


def folder(tmp_path, n=6) -> FolderSource:
    root = tmp_path / "audio"
    root.mkdir(exist_ok=True)
    for key, x, fs in _signals(n):
        sf.write(root / f"{key}.wav", x, fs, subtype="FLOAT")
    return FolderSource(root)


def shards(tmp_path, n=6) -> WebDatasetSource:
    path = tmp_path / "shard000.tar"
    with tarfile.open(path, "w") as tar:
        for key, x, fs in _signals(n):
            buf = io.BytesIO()
            sf.write(buf, x, fs, format="WAV", subtype="FLOAT")
            info = tarfile.TarInfo(f"{key}.wav")
            info.size = len(buf.getvalue())
            tar.addfile(info, io.BytesIO(buf.getvalue()))
    return WebDatasetSource(str(path), repeat=True)


def aug(**kw):
    base = {"clean_ratio": 0.3, "n_crops": 3, "crop_samples": 4000, "split": "train"}
    return AugmentConfig(**{**base, **kw})


def take(stream, n_batches, num_workers=0):
    loader = torch.utils.data.DataLoader(stream, batch_size=None, num_workers=num_workers)
    out = []
    for batch in loader:
        out.append(batch)
        if len(out) == n_batches:
            return out
    return out


def test_cpu_batches_are_normalised_binaural_crops(tmp_path):
    (batch,) = take(TrainingBatches(folder(tmp_path), FakeBank(), CLIP, aug(), batch_clips=4), 1)
    crops = batch["audio"]
    assert crops.shape == (4 * 3, 2, 4000) and crops.dtype == torch.float32
    flat = crops.flatten(1).double()
    torch.testing.assert_close(flat.mean(1), torch.zeros(12, dtype=torch.float64), atol=1e-4, rtol=0)
    torch.testing.assert_close(
        flat.var(1, correction=0), torch.ones(12, dtype=torch.float64), atol=1e-3, rtol=0
    )


def test_same_seed_same_batches_other_seed_differs(tmp_path):
    source = folder(tmp_path, 3)
    a, b, c = (
        take(TrainingBatches(source, FakeBank(), CLIP, aug(seed=s), batch_clips=1), 3) for s in (1, 1, 2)
    )
    for x, y in zip(a, b):
        torch.testing.assert_close(x["audio"], y["audio"], atol=0, rtol=0)
    assert not torch.allclose(a[0]["audio"], c[0]["audio"])


def test_gpu_mode_emits_draws_that_give_the_cpu_crops(tmp_path):
    source, cfg = folder(tmp_path, 4), aug(seed=3)
    (cpu,) = take(TrainingBatches(source, FakeBank(), CLIP, cfg, batch_clips=4), 1)
    (gpu,) = take(TrainingBatches(source, FakeBank(), CLIP, cfg, batch_clips=4, augment_on="gpu"), 1)
    assert gpu["scene"]["dry"].shape == (4, CLIP.n_samples) and gpu["scene"]["crop_offsets"].shape == (4, 3)
    crops = crops_on_device(gpu, NaturalisticAugment(cfg))["audio"]
    np.testing.assert_allclose(crops.numpy(), cpu["audio"].numpy(), atol=2e-4)


def test_two_workers_take_steps_in_turn_and_cover_an_epoch(tmp_path):
    """Worker w makes steps w, w+2, ...: the loader yields steps in order, equal to a one-process stream."""
    source, cfg = folder(tmp_path, 6), aug()
    stream = TrainingBatches(source, FakeBank(), CLIP, cfg, batch_clips=2)
    two = take(stream, 3, num_workers=2)
    for step, batch in enumerate(two):
        torch.testing.assert_close(batch["audio"], stream.batch_at(step)["audio"], atol=0, rtol=0)
    audio = torch.cat([b["audio"] for b in two]).flatten(1)
    assert torch.unique(audio, dim=0).shape[0] == 6 * cfg.n_crops  # no crop repeated


def test_resumed_stream_continues_with_the_same_batches(tmp_path):
    source = folder(tmp_path, 5)
    unbroken = take(TrainingBatches(source, FakeBank(), CLIP, aug(), batch_clips=2), 6)
    resumed = take(TrainingBatches(source, FakeBank(), CLIP, aug(), batch_clips=2, start_step=4), 2)
    for a, b in zip(unbroken[4:], resumed):
        torch.testing.assert_close(a["audio"], b["audio"], atol=0, rtol=0)


def test_epochs_differ(tmp_path):
    source = folder(tmp_path, 2)
    e0, e1 = take(TrainingBatches(source, FakeBank(), CLIP, aug(channels=1), batch_clips=2), 2)
    assert e0["audio"].shape == (6, 1, 4000)
    assert not torch.allclose(e0["audio"], e1["audio"])  # a new epoch draws new scenes, SNRs and crops


def test_masks_come_with_the_batch(tmp_path):
    calls = []

    def masks(n_crops, crop_samples, generator):
        calls.append((n_crops, crop_samples))
        return {"context_idx": torch.randint(0, 10, (n_crops, 4), generator=generator)}

    for mode in ("cpu", "gpu"):
        (batch,) = take(TrainingBatches(folder(tmp_path, 2), FakeBank(), CLIP, aug(), 2, masks, mode), 1)
        assert batch["context_idx"].shape == (6, 4)
    assert calls == [(6, 4000), (6, 4000)]
    a = take(TrainingBatches(folder(tmp_path, 2), FakeBank(), CLIP, aug(), 2, masks), 2)
    assert not torch.equal(a[0]["context_idx"], a[1]["context_idx"])  # each step its own masks


def test_streamed_shards_split_over_workers(tmp_path):
    """WebDataset shards: each worker reads its own share; batches of B clips; no crop repeated."""
    source, cfg = shards(tmp_path, 6), aug()
    batches = take(TrainingBatches(source, FakeBank(), CLIP, cfg, batch_clips=2), 3)
    assert [b["audio"].shape for b in batches] == [(6, 2, 4000)] * 3
    audio = torch.cat([b["audio"] for b in batches]).flatten(1)
    assert torch.unique(audio, dim=0).shape[0] == 18


def test_dry_clips_need_no_bank(tmp_path):
    (batch,) = take(TrainingBatches(folder(tmp_path, 2), None, CLIP, aug(clean_ratio=1.0, channels=1), 2), 1)
    assert batch["audio"].shape == (6, 1, 4000) and torch.isfinite(batch["audio"]).all()
    with pytest.raises(InputError, match="bank"):
        TrainingBatches(folder(tmp_path, 2), None, CLIP, aug(clean_ratio=0.5), 2)


def test_stream_validates_bank_and_options(tmp_path):
    source = folder(tmp_path, 2)
    with pytest.raises(InputError, match="Hz"):
        TrainingBatches(source, FakeBank(fs=8000), CLIP, aug(), 2)
    with pytest.raises(InputError, match="no scenes"):
        TrainingBatches(source, FakeBank(), CLIP, aug(split="test"), 2)
    with pytest.raises(InputError, match="not found"):
        TrainingBatches(source, "/nonexistent/bank.h5", CLIP, aug(), 2)
    with pytest.raises(InputError, match="augment_on"):
        TrainingBatches(source, FakeBank(), CLIP, aug(), 2, augment_on="tpu")
    with pytest.raises(InputError, match="shorter than a crop"):
        TrainingBatches(source, FakeBank(), ClipConfig(fs=16000, clip_seconds=0.2), aug(), 2)
    with pytest.raises(InputError, match="num_workers"):
        TrainingData(source, FakeBank(), CLIP, aug(), 2, num_workers=-1)


# ---------------------------------------------------------------- with a real bank


def bank_clips(tmp_path, n) -> FolderSource:
    rng = np.random.default_rng(0)
    root = tmp_path / "clips"
    root.mkdir(exist_ok=True)
    for i in range(n):
        sf.write(
            root / f"c{i}.wav",
            0.1 * rng.standard_normal(12000 + 1000 * i).astype(np.float32),
            16000,
            subtype="FLOAT",
        )
    return FolderSource(root)


@pytest.mark.parametrize("noise", ["bed", "sources"])
def test_two_workers_read_the_bank_and_cpu_equals_gpu_mode(ten_scene_bank, tmp_path, noise):
    noise_paths = ()
    if noise == "sources":
        sf.write(
            tmp_path / "noise.wav", np.random.default_rng(1).standard_normal(8000).astype(np.float32), 16000
        )
        noise_paths = (str(tmp_path / "noise.wav"),)
    cfg = AugmentConfig(
        clean_ratio=0.25, n_crops=2, crop_samples=4000, noise=noise, noise_paths=noise_paths, seed=5
    )
    source = bank_clips(tmp_path, 6)
    out = {}
    for mode in ("cpu", "gpu"):
        dm = TrainingData(source, ten_scene_bank, CLIP, cfg, batch_clips=2, num_workers=2, augment_on=mode)
        loader = iter(dm.train_dataloader())
        batches = [dm.on_after_batch_transfer(next(loader), 0)["audio"] for _ in range(3)]
        out[mode] = torch.cat(batches)
    assert out["cpu"].shape == (12, 2, 4000) and torch.isfinite(out["cpu"]).all()
    torch.testing.assert_close(out["gpu"], out["cpu"], atol=2e-4, rtol=1e-4)
    assert torch.unique(out["cpu"].flatten(1), dim=0).shape[0] == 12  # workers do not repeat each other


def test_bad_bank(ten_scene_bank, tmp_path):
    with pytest.raises(InputError, match="Hz"):
        TrainingBatches(bank_clips(tmp_path, 2), ten_scene_bank, ClipConfig(fs=8000), AugmentConfig(), 2)
    with pytest.raises(InputError, match="no scenes"):
        TrainingBatches(
            bank_clips(tmp_path, 2),
            ten_scene_bank,
            CLIP,
            AugmentConfig(rt60=(5.0, 6.0), crop_samples=4000),
            2,
        )


def test_crops_are_drawn_within_each_clips_sound_not_its_padding(tmp_path):
    """The README's case: 4 s clips padded to --clip-seconds 10 (here 1 s clips in 2.5 s): no crop may be
    all padding (52% were); a clip shorter than one crop is the only one whose crop holds padding."""
    root = tmp_path / "short"
    root.mkdir()
    rng = np.random.default_rng(0)
    for i in range(4):
        sf.write(
            root / f"{i}.wav", 0.1 + 0.1 * rng.random(16000 if i else 2000), 16000
        )  # 1 s, one of 0.125 s
    clip = ClipConfig(fs=16000, clip_seconds=2.5)
    stream = TrainingBatches(FolderSource(root), None, clip, aug(clean_ratio=1.0, n_crops=8), batch_clips=4)
    for batch in take(stream, 6):
        crops = batch["audio"].reshape(batch["audio"].shape[0], -1)  # (clips x n_crops, samples)
        assert crops.shape[0] == 4 * 8 and (crops.abs().amax(dim=-1) > 0).all()
