"""With a real HDF5 RIR bank: DataLoader workers reading it, CPU == GPU-mode crops, and
`wavjepa-nat render`."""

from __future__ import annotations

import numpy as np
import pytest
import soundfile as sf
import torch
from _cli import run_main
from scipy.signal import fftconvolve

from wavjepa_nat.data.augment import AugmentConfig
from wavjepa_nat.data.clips import ClipConfig
from wavjepa_nat.data.sources import FolderSource
from wavjepa_nat.data.stream import TrainingBatches, TrainingData
from wavjepa_nat.rir_bank import RIRBank, simulate_bank
from wavjepa_nat.scenes import SceneConfig

CLIP = ClipConfig(fs=16000, clip_seconds=1.0)


@pytest.fixture(scope="module")
def bank_path(tmp_path_factory):
    path = tmp_path_factory.mktemp("bank") / "bank.h5"
    cfg = SceneConfig(rt60=(0.2, 0.5), noise_sources=(1, 2), scenes_per_room=1, noise_bed_seconds=2.0)
    simulate_bank(path, cfg, 10, workers=1, progress=False)  # 10 rooms: train, val and test scenes
    return path


def clips(tmp_path, n) -> FolderSource:
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
def test_two_workers_read_the_bank_and_cpu_equals_gpu_mode(bank_path, tmp_path, noise):
    noise_paths = ()
    if noise == "sources":
        sf.write(
            tmp_path / "noise.wav", np.random.default_rng(1).standard_normal(8000).astype(np.float32), 16000
        )
        noise_paths = (str(tmp_path / "noise.wav"),)
    cfg = AugmentConfig(
        clean_ratio=0.25, n_crops=2, crop_samples=4000, noise=noise, noise_paths=noise_paths, seed=5
    )
    source = clips(tmp_path, 6)
    out = {}
    for mode in ("cpu", "gpu"):
        dm = TrainingData(source, bank_path, CLIP, cfg, batch_clips=2, num_workers=2, augment_on=mode)
        loader = iter(dm.train_dataloader())
        batches = [dm.on_after_batch_transfer(next(loader), 0)["audio"] for _ in range(3)]
        out[mode] = torch.cat(batches)
    assert out["cpu"].shape == (12, 2, 4000) and torch.isfinite(out["cpu"]).all()
    torch.testing.assert_close(out["gpu"], out["cpu"], atol=2e-4, rtol=1e-4)
    assert torch.unique(out["cpu"].flatten(1), dim=0).shape[0] == 12  # workers do not repeat each other


def test_bad_bank(bank_path, tmp_path):
    from wavjepa_nat.errors import InputError

    with pytest.raises(InputError, match="Hz"):
        TrainingBatches(clips(tmp_path, 2), bank_path, ClipConfig(fs=8000), AugmentConfig(), 2)
    with pytest.raises(InputError, match="no scenes"):
        TrainingBatches(
            clips(tmp_path, 2), bank_path, CLIP, AugmentConfig(rt60=(5.0, 6.0), crop_samples=4000), 2
        )


def test_cut_cache_reads_brir_heads_from_the_bank(bank_path):
    """Scenes seen before are read only up to their -80 dB cut (RIRBank.brir_head): same inputs as a first
    read."""
    from wavjepa_nat.data.augment import Augmenter, gather_scenes

    bank = RIRBank(bank_path)
    np.testing.assert_array_equal(bank.brir_head(3, 500), bank.brirs([3])[0][:, :500])
    cfg = AugmentConfig(split=None, n_crops=2, crop_samples=4000)
    aug = Augmenter(bank, cfg, 16000)
    draws = aug.draw(np.random.default_rng(7), 30, 16000)
    aug.gather(draws, 16000)  # fills the cache
    assert set(aug.cut_cache) == set(draws.scene.tolist())
    cached, plain = (
        aug.gather(draws, 16000),
        gather_scenes(bank, draws, 16000, cfg, brir_len=bank.brir_length),
    )
    for name in ("brir", "noise", "delay", "taps"):
        np.testing.assert_array_equal(getattr(cached, name), getattr(plain, name))
    assert (cached.taps < bank.brir_length).any()  # short-RT60 scenes end before the stored length


def test_mapped_rows_equal_hdf5_reads(bank_path, tmp_path):
    """noise_bed / brir_head read raw chunks through a memory map: the same samples as HDF5 reads, read-only;
    a bank whose rows are compressed chunks falls back to HDF5 reads."""
    import shutil

    import h5py

    bank = RIRBank(bank_path)
    with h5py.File(bank_path, "r") as f:
        stored_beds = f["noise_bed"][()]
    for i in range(len(bank)):
        bed, head = bank.noise_bed(i), bank.brir_head(i, 777)
        np.testing.assert_array_equal(bed, bank.noise_beds([i])[0])
        np.testing.assert_array_equal(head, bank[i].brir[:, :777])
        row = bank._mapped_row("noise_bed", i)  # the stored samples, as a view of the mapped file
        assert row is not None and not row.flags.writeable and row.base is not None
        np.testing.assert_array_equal(row, stored_beds[i])
    packed = tmp_path / "packed.h5"
    shutil.copy(bank_path, packed)
    with h5py.File(packed, "r+") as f:
        for name in ("brir", "noise_bed"):
            data = f[name][()]
            del f[name]
            f.create_dataset(name, data=data, chunks=(1, *data.shape[1:]), compression="gzip")
    other = RIRBank(packed)
    np.testing.assert_array_equal(other.noise_bed(2), bank.noise_beds([2])[0])
    np.testing.assert_array_equal(other.brir_head(2, 300), bank[2].brir[:, :300])
    assert other._mapped_row("noise_bed", 2) is None  # read through HDF5


# ---------------------------------------------------------------- wavjepa-nat render


def run_render(monkeypatch, capsys, *args) -> tuple[int, str, str]:
    return run_main(monkeypatch, capsys, ["render", *args])


@pytest.fixture()
def clip_wav(tmp_path):
    rng = np.random.default_rng(2)
    path = tmp_path / "clip.wav"
    sf.write(path, (0.3 * rng.standard_normal(16000)).astype(np.float32), 16000)
    return path


def test_render_one_scene(bank_path, clip_wav, tmp_path, monkeypatch, capsys):
    out = tmp_path / "scene.wav"
    rc, printed, _ = run_render(
        monkeypatch, capsys, "--bank", bank_path, "--input", clip_wav, "--scene", 3, "--snr", 60, "--out", out
    )
    assert rc == 0
    y, fs = sf.read(out, always_2d=True)
    assert fs == 16000 and y.shape == (16000, 2) and np.abs(y).max() <= 0.99 + 1e-4
    # At 60 dB SNR the file is the clip through scene 3's BRIR, shifted by its direct-path delay.
    bank = RIRBank(bank_path)
    x, _ = sf.read(clip_wav, dtype="float32")
    delay = round(bank.scene_meta(3)["direct_delay_s"] * 16000)
    ref = fftconvolve(x[None], bank[3].brir, axes=-1)[:, delay : delay + 16000].T
    assert np.corrcoef(ref.ravel(), y.ravel())[0, 1] > 0.999
    assert "scene" in printed


def test_render_several_random_scenes(bank_path, clip_wav, tmp_path, monkeypatch, capsys):
    out = tmp_path / "many" / "out.wav"
    rc, table, _ = run_render(
        monkeypatch,
        capsys,
        "--bank",
        bank_path,
        "--input",
        clip_wav,
        "--n",
        3,
        "--snr",
        "5..10",
        "--out",
        out,
    )
    assert rc == 0
    files = sorted(p.name for p in out.parent.iterdir())
    assert files == ["out_000.wav", "out_001.wav", "out_002.wav"]
    assert "RT60" in table and "SNR" in table


@pytest.mark.parametrize(
    "args, message",
    [
        (["--bank", "missing.h5"], "RIR bank not found"),
        (["--input", "missing.wav"], "input audio not found"),
        (["--scene", 99], "out of range"),
        (["--snr", "loud"], "--snr"),
        (["--scene", 1, "--n", 2], "not both"),
    ],
)
def test_render_bad_input_exits_2(bank_path, clip_wav, tmp_path, monkeypatch, capsys, args, message):
    base = {"--bank": str(bank_path), "--input": str(clip_wav), "--out": str(tmp_path / "x.wav")}
    extra = dict(zip(args[::2], args[1::2]))
    argv = [v for k, val in {**base, **extra}.items() for v in (k, val)]
    rc, _, err = run_render(monkeypatch, capsys, *argv)
    assert rc == 2
    assert message in err and "Traceback" not in err and len(err.strip().splitlines()) == 1


def test_crops_from_stored_beds_equal_crops_from_float32_beds(bank_path, tmp_path):
    """The augmentation reads a format-3 bed's int16 samples without their scale (the SNR sets the level):
    its crops equal those from the same scenes stored as float32 (format 1), to the beds' quantisation, on the
    numpy and the torch path."""
    from wavjepa_nat.data.augment import Augmenter, augment_batch
    from wavjepa_nat.data.augment_torch import NaturalisticAugment, to_torch_batch
    from wavjepa_nat.rir_bank.schema import write_format_1

    old_path = tmp_path / "format1.h5"
    write_format_1(bank_path, old_path)
    new, old = RIRBank(bank_path), RIRBank(old_path)
    assert new.noise_bed_samples(0).dtype == np.int16 and old.noise_bed_samples(0).dtype == np.float32
    cfg = AugmentConfig(split=None, clean_ratio=0.0, snr_db=(0.0, 5.0), n_crops=3, crop_samples=4000)
    dry = 0.1 * np.random.default_rng(1).standard_normal((1, 16000)).astype(np.float32)
    for seed in range(6):
        got = {}
        for name, bank in (("int16", new), ("float32", old)):
            aug = Augmenter(bank, cfg, 16000)
            draws = aug.draw(np.random.default_rng(seed), 1, 16000)
            inputs = aug.gather(draws, 16000)
            got[name] = augment_batch(dry, draws, inputs, cfg)
            got[name + " torch"] = NaturalisticAugment(cfg)(to_torch_batch(dry, draws, inputs)).numpy()
        for path in ("", " torch"):
            np.testing.assert_allclose(got["int16" + path], got["float32" + path], rtol=0, atol=1e-3)


def test_brir_heads_read_right_whatever_the_order_of_chunks_in_the_file(bank_path, tmp_path):
    """brir_head maps a scene's time chunks from the chunk index: chunks written in reverse order (so no
    scene's chunks lie one after another in the file) read as HDF5 reads them."""
    import shutil

    import h5py

    shuffled = tmp_path / "reversed.h5"
    shutil.copy(bank_path, shuffled)
    with h5py.File(shuffled, "r+") as f:
        old = f["brir"]
        chunks = [
            (info.chunk_offset, old.id.read_direct_chunk(info.chunk_offset))
            for info in (old.id.get_chunk_info(k) for k in range(old.id.get_num_chunks()))
        ]
        new = f.create_dataset("brir_new", old.shape, old.dtype, chunks=old.chunks, fillvalue=0)
        for offset, (mask, data) in reversed(chunks):
            new.id.write_direct_chunk(offset, data, mask)
        del f["brir"]
        f.move("brir_new", "brir")
    bank, other = RIRBank(bank_path), RIRBank(shuffled)
    table = other._brir_chunk_table()
    assert table is not None and np.all(np.diff(table[0][table[0] >= 0]) < 0)  # mapped, in reverse
    for i in range(len(bank)):
        for n in (300, 2048, 5000, bank.brir_length):
            np.testing.assert_array_equal(other.brir_head(i, n), bank.brirs([i])[0][:, :n])
