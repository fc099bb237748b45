"""The RIR bank package (rir_bank): reader API, determinism across workers/shards/resume, CLI errors,
verify, info."""

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import h5py
import numpy as np
import pytest

from wavjepa_nat.errors import InputError
from wavjepa_nat.rir_bank import RIRBank, merge_banks, simulate_bank, verify_bank
from wavjepa_nat.scenes import SceneConfig

CFG = SceneConfig(rt60=(0.2, 0.5), noise_bed_seconds=0.5, noise_sources=(0, 3), scenes_per_room=2)
N = 24
CLI = [sys.executable, "-m", "wavjepa_nat.cli"]


def assert_same_bank(a: Path, b: Path) -> None:
    with h5py.File(a, "r") as fa, h5py.File(b, "r") as fb:
        assert dict(fa.attrs) == dict(fb.attrs)

        def compare(name, obj):
            if isinstance(obj, h5py.Dataset):
                x, y = obj[()], fb[name][()]
                assert x.shape == y.shape, name
                same = np.array_equal(x, y, equal_nan=True) if x.dtype.kind == "f" else np.array_equal(x, y)
                assert same, name

        fa.visititems(compare)
        assert set(fa.keys()) == set(fb.keys())


@pytest.fixture(scope="module")
def bank_path(tmp_path_factory):
    path = tmp_path_factory.mktemp("bank") / "bank.h5"
    simulate_bank(path, CFG, N, workers=1, progress=False)
    return path


def test_reader_api(bank_path):
    bank = RIRBank(bank_path)
    assert len(bank) == N and bank.fs == 16000
    scene = bank[3]
    assert scene.brir.dtype == np.float32 and scene.brir.shape == (2, CFG.brir_length)
    assert scene.noise_brirs.shape == (scene.meta["n_noise"], 2, CFG.brir_length)
    assert scene.noise_bed.shape == (2, CFG.noise_bed_length)
    for key in (
        "rt60_target",
        "rt60_measured",
        "azimuth_deg",
        "elevation_deg",
        "distance_m",
        "room_dims",
        "split",
        "drr_db",
        "direct_delay_s",
        "listener_pos",
        "listener_yaw_deg",
        "noise_pos",
        "absorption",
    ):
        assert key in scene.meta
    assert len(scene.meta["noise_pos"]) == scene.meta["n_noise"]
    # The BRIR is longer than the longest RT60's 60 dB decay: its last 10% is > 50 dB below the peak.
    tail = bank[int(np.argmax(bank.meta["rt60_target"]))].brir[:, -CFG.brir_length // 10 :]
    assert 20 * np.log10(np.abs(tail).max() / np.abs(bank[0].brir).max()) < -50
    # select(): by split and by measured RT60, as documented.
    splits = bank.meta["split"]
    assert set(splits) == {"train", "val", "test"}
    for split in ("train", "val", "test"):
        assert np.array_equal(bank.select(split=split), np.nonzero(splits == split)[0])
    rt = bank.meta["rt60_measured"].mean(axis=1)
    sel = bank.select(rt60=(0.3, 0.45))
    assert np.all((rt[sel] >= 0.3) & (rt[sel] < 0.45)) and len(sel) == np.sum((rt >= 0.3) & (rt < 0.45))
    # Rooms never straddle splits: test rooms are unseen in training.
    for room in np.unique(bank.meta["room_id"]):
        assert len(set(splits[bank.meta["room_id"] == room])) == 1


def test_two_workers_and_merged_shards_equal_one_process(bank_path, tmp_path):
    simulate_bank(tmp_path / "parallel.h5", CFG, N, workers=2, progress=False)
    assert_same_bank(bank_path, tmp_path / "parallel.h5")
    shards = [tmp_path / f"shard{k}.h5" for k in (1, 2, 3)]
    for k, path in enumerate(shards, start=1):
        simulate_bank(path, CFG, N, shard=(k, 3), progress=False)
    assert len(RIRBank(shards[1])) == N // 3
    merge_banks([shards[2], shards[0], shards[1]], tmp_path / "merged.h5")
    assert_same_bank(bank_path, tmp_path / "merged.h5")
    with pytest.raises(InputError, match="complete set"):
        merge_banks(shards[:2], tmp_path / "partial.h5")


def test_killed_run_resumes_to_the_same_bank(bank_path, tmp_path):
    out = tmp_path / "resumed.h5"
    parts = tmp_path / "resumed.h5.parts"
    args = CLI + [
        "simulate-rirs",
        "--out",
        str(out),
        "--n-scenes",
        str(N),
        "--rt60",
        "0.2..0.5",
        "--noise-bed-seconds",
        "0.5",
        "--noise-sources",
        "0..3",
        "--scenes-per-room",
        "2",
        "--workers",
        "1",
        "--quiet",
    ]
    proc = subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, start_new_session=True)
    deadline = time.time() + 120
    while time.time() < deadline and len(list(parts.glob("part-*.h5"))) < 1:
        time.sleep(0.05)
    os.killpg(proc.pid, signal.SIGKILL)
    proc.wait()
    done = len(list(parts.glob("part-*.h5")))
    assert 1 <= done < N // 8, "the run should have been killed part-way"
    assert not out.exists()  # nothing that looks like a finished bank
    result = subprocess.run(args, capture_output=True, text=True, timeout=300, check=False)
    assert result.returncode == 0, result.stderr
    assert not parts.exists()
    assert_same_bank(bank_path, out)
    # Rerunning a finished bank does nothing.
    again = subprocess.run(args, capture_output=True, text=True, timeout=120, check=False)
    assert again.returncode == 0 and "already complete" in again.stdout


def test_incomplete_file_is_not_a_bank(bank_path, tmp_path):
    copy = tmp_path / "half.h5"
    shutil.copy(bank_path, copy)
    with h5py.File(copy, "a") as f:
        f.attrs["complete"] = False
    with pytest.raises(InputError, match="incomplete"):
        RIRBank(copy)


def test_verify_passes_and_catches_damage(bank_path, tmp_path):
    assert verify_bank(bank_path, n_check=2) == []
    nan_copy, edited = tmp_path / "nan.h5", tmp_path / "edited.h5"
    shutil.copy(bank_path, nan_copy)
    shutil.copy(bank_path, edited)
    with h5py.File(nan_copy, "a") as f:
        f["brir"][2, 0, 5] = np.nan
        f["meta"]["noise_bed_scale"][3] = np.nan  # an int16 bed is finite; its scale might not be
    problems = verify_bank(nan_copy, n_check=0)
    assert any("scene 2: brir has non-finite" in p for p in problems)
    assert any("scene 3: meta noise_bed_scale is not finite" in p for p in problems)
    with h5py.File(edited, "a") as f:
        f["brir"][:, 0, 100] += 0.01  # every scene: whichever are re-simulated must catch it
    assert any("differs from its re-simulation" in p for p in verify_bank(edited, n_check=1))


@pytest.mark.parametrize(
    "extra, message",
    [
        (["--rt60", "1.5..0.2"], "LO > HI"),
        (["--rt60", "abc"], "not a number"),
        (["--hrtf", "/no/such/file.sofa"], "not found"),
        (["--hrtf", "NOTSOFA"], "not a readable SOFA"),
        (["--noise-sources", "0..x"], "not a number"),
        (["--shard", "3/2"], "--shard"),
        (["--engine", "magic"], "--engine"),
        # checked by SceneConfig itself (the CLI only parses)
        (["--rt60", "0..1"], "--rt60"),
        (["--distance", "0.1..2"], "--distance"),
        (["--fs", "4000"], "--fs"),
        (["--noise-sources", "-1..2"], "--noise-sources"),
        (["--scenes-per-room", "0"], "--scenes-per-room"),
        (["--noise-bed-seconds", "0"], "--noise-bed-seconds"),
        (["--seed", "-3"], "--seed"),
    ],
)
def test_bad_input_is_one_line_exit_2(tmp_path, extra, message):
    not_sofa = tmp_path / "fake.sofa"
    not_sofa.write_text("not hdf5")
    extra = [str(not_sofa) if e == "NOTSOFA" else e for e in extra]
    result = subprocess.run(
        CLI + ["simulate-rirs", "--out", str(tmp_path / "x.h5"), "--n-scenes", "2"] + extra,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 2
    assert "Traceback" not in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1 and message in result.stderr
    assert not (tmp_path / "x.h5").exists()


def test_existing_output_with_other_config_is_refused(bank_path, tmp_path):
    copy = tmp_path / "bank.h5"
    shutil.copy(bank_path, copy)
    result = subprocess.run(
        CLI
        + ["simulate-rirs", "--out", str(copy), "--n-scenes", str(N), "--rt60", "0.3..0.9", "--workers", "1"],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 2 and "different config" in result.stderr and "Traceback" not in result.stderr


def test_info_and_verify_cli(bank_path, tmp_path):
    info = subprocess.run(
        CLI + ["bank", "info", str(bank_path), "--plots", str(tmp_path / "plots")],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert info.returncode == 0, info.stderr
    assert "rt60_measured_s" in info.stdout and "spherical" in info.stdout
    assert sorted(p.name for p in (tmp_path / "plots").glob("*.png")) == [
        "azimuth.png",
        "distance.png",
        "drr.png",
        "rt60.png",
    ]
    verify = subprocess.run(
        CLI + ["bank", "verify", str(bank_path), "--n-check", "1"],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert verify.returncode == 0 and "OK" in verify.stdout


def test_bank_reads_from_two_dataloader_workers(bank_path):
    import torch
    from torch.utils.data import DataLoader, Dataset

    class Brirs(Dataset):
        def __init__(self, bank):
            self.bank = bank

        def __len__(self):
            return len(self.bank)

        def __getitem__(self, i):
            return torch.from_numpy(self.bank[i].brir), os.getpid()

    bank = RIRBank(bank_path)
    bank[0]  # an open handle in the parent must not leak into the workers
    loader = DataLoader(Brirs(bank), batch_size=4, num_workers=2)
    got, pids = zip(*[(b, p) for b, p in loader])
    assert len({int(p) for batch in pids for p in batch}) == 2
    assert np.array_equal(torch.cat(got).numpy(), np.stack([bank[i].brir for i in range(len(bank))]))


def test_info_prints_and_plots_the_measures(bank_path, tmp_path):
    out = subprocess.run(
        CLI + ["bank", "info", str(bank_path), "--json"],
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    ).stdout
    summary = json.loads(out)
    bank = RIRBank(bank_path)
    assert summary["edt_s"]["median"] == pytest.approx(np.median(bank.measure("edt")))
    assert summary["c50_db"]["median"] == pytest.approx(np.median(bank.measure("c50")))
    assert summary["t30_band_s"]["1000 Hz"]["median"] == pytest.approx(np.median(bank.measure("t30_1000")))
    assert summary["t30_band_s"]["8000 Hz"] == {}  # not measured at 16 kHz
    text = subprocess.run(
        CLI + ["bank", "info", str(bank_path), "--plots", str(tmp_path)],
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    ).stdout
    for label in ("edt_s", "c50_db", "t30 125 Hz", "t30 4000 Hz"):
        assert label in text
    assert (tmp_path / "rt60.png").stat().st_size > 1000


def test_bank_verify_works_from_another_working_directory(tmp_path, monkeypatch, capsys):
    """A bank made with a relative --noise-dir stores the folder resolved: verify re-simulates it from
    anywhere."""
    import soundfile as sf

    from tests._cli import run_main

    made_in = tmp_path / "project"
    (made_in / "noises").mkdir(parents=True)
    for i in range(2):
        sf.write(
            made_in / "noises" / f"n{i}.wav", np.random.default_rng(i).standard_normal(16000) * 0.1, 16000
        )
    monkeypatch.chdir(made_in)
    argv = ["simulate-rirs", "--out", "bank.h5", "--n-scenes", "2", "--noise-dir", "noises", "--workers", "1",
            "--noise-bed-seconds", "0.5", "--scenes-per-room", "2", "--quiet"]  # fmt: skip
    rc, _, err = run_main(monkeypatch, capsys, argv)
    assert rc == 0, err
    monkeypatch.chdir(tmp_path)
    rc, out, err = run_main(monkeypatch, capsys, ["bank", "verify", made_in / "bank.h5", "--n-check", "1"])
    assert rc == 0 and "OK" in out, (out, err)


def test_simulate_rirs_says_when_rooms_cannot_hold_the_distance_asked(tmp_path, monkeypatch, capsys):
    from tests._cli import run_main
    from wavjepa_nat.rir_bank import RIRBank

    argv = ["simulate-rirs", "--out", tmp_path / "far.h5", "--n-scenes", "2", "--distance", "12..15",
            "--workers", "1", "--noise-bed-seconds", "0.5", "--noise-sources", "0..0", "--quiet"]  # fmt: skip
    rc, _, err = run_main(monkeypatch, capsys, argv)
    distance = RIRBank(tmp_path / "far.h5").meta["distance_m"]
    assert rc == 0 and (distance < 12).any()  # these rooms are smaller than 12 m from the head
    assert (
        f"warning: {int((distance < 12).sum())} of 2 target sources lie nearer than --distance 12..15" in err
    )


def test_bank_without_beds(bank_path, tmp_path):
    """`--beds none`: the same scenes and BRIRs as a bank with beds, no beds, the head's diffuse field stored
    (as the HRTF gives it); info and verify handle it; a bank without the stored field recomputes it."""
    from dataclasses import replace

    from wavjepa_nat.rir_bank.info import bank_summary
    from wavjepa_nat.scenes.diffuse import stft_freqs
    from wavjepa_nat.scenes.hrtf import load_hrtf

    out = tmp_path / "nobeds.h5"
    simulate_bank(out, replace(CFG, noise_beds=False), N, progress=False)
    with_beds, without = RIRBank(bank_path), RIRBank(out)
    assert with_beds.has_beds and not without.has_beds
    for i in (0, 5, N - 1):
        assert np.array_equal(with_beds[i].brir, without[i].brir)
        assert np.array_equal(with_beds.noise_brirs(i), without.noise_brirs(i))
        assert without.noise_bed(i).shape == (2, 0)
    assert out.stat().st_size < bank_path.stat().st_size
    power, coherence = load_hrtf(CFG.hrtf, CFG.fs).diffuse_field(np.maximum(stft_freqs(CFG.fs), 1.0))
    for bank in (with_beds, without):
        stored = bank.diffuse_field()
        assert np.array_equal(stored[0], power) and np.array_equal(stored[1], coherence)
    assert bank_summary(without)["noise_beds"] is False
    assert verify_bank(out, n_check=2) == []
    old = tmp_path / "old.h5"
    shutil.copy(out, old)
    with h5py.File(old, "a") as f:
        del f.attrs["diffuse_field"]
    recomputed = RIRBank(old).diffuse_field()
    assert np.allclose(recomputed[0], power, rtol=1e-12) and np.allclose(recomputed[1], coherence, atol=1e-12)
    # The default config's stored text has not changed (banks with beds resume across versions).
    assert "noise_beds" not in CFG.to_json() and '"noise_beds": false' in without.attrs["config"]
