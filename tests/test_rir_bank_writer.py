"""rir_bank/writer.py: two writers on one bank never leave a damaged bank that looks complete; checksums
catch changed bytes.

The concurrent writers are separate processes, started together (they wait on a 'go' file after
their imports), running what the CLI runs: an InputError becomes one line on stderr and exit 2.
"""

import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import h5py
import numpy as np
import pytest

from wavjepa_nat.errors import InputError
from wavjepa_nat.rir_bank import RIRBank, merge_banks, simulate_bank, verify_bank, writer
from wavjepa_nat.scenes import SceneConfig

CFG = SceneConfig(fs=8000, rt60=(0.2, 0.4), noise_bed_seconds=0.25, noise_sources=(0, 2), scenes_per_room=2)
N = 16
TRIALS = 3

DRIVER = """
import os, sys, time
from pathlib import Path
from wavjepa_nat.errors import InputError
from wavjepa_nat.rir_bank import merge_banks, simulate_bank
from wavjepa_nat.scenes import SceneConfig
go, what, out = Path(sys.argv[1]), sys.argv[2], sys.argv[3]
Path(f"{go}.ready.{os.environ['RACER']}").touch()
while not go.exists():
    time.sleep(0.002)
try:
    if what == "simulate":
        simulate_bank(out, SceneConfig.from_json(sys.argv[4]), int(sys.argv[5]), workers=1, progress=False)
    else:
        merge_banks(sys.argv[4:], out)
except InputError as err:
    print(f"error: {err}", file=sys.stderr)
    sys.exit(2)
"""


def assert_same_bank(a: Path, b: Path) -> None:
    with h5py.File(a, "r") as fa, h5py.File(b, "r") as fb:
        assert dict(fa.attrs) == dict(fb.attrs)
        names_a, names_b = [], []
        fa.visit(names_a.append)
        fb.visit(names_b.append)
        assert sorted(names_a) == sorted(names_b)
        for name in names_a:
            if isinstance(fa[name], h5py.Dataset):
                x, y = fa[name][()], fb[name][()]
                same = np.array_equal(x, y, equal_nan=True) if x.dtype.kind == "f" else np.array_equal(x, y)
                assert x.shape == y.shape and same, name


@pytest.fixture(scope="module")
def ref(tmp_path_factory):
    """A clean one-process bank, and its two shards."""
    root = tmp_path_factory.mktemp("concurrency")
    simulate_bank(root / "ref.h5", CFG, N, progress=False)
    for k in (1, 2):
        simulate_bank(root / f"shard{k}.h5", CFG, N, shard=(k, 2), progress=False)
    return root


def race(tmp_path: Path, *args: str) -> list[tuple[int, str]]:
    """Run two driver processes with the same arguments, started together."""
    go = tmp_path / f"go-{time.monotonic_ns()}"
    procs = [
        subprocess.Popen(
            [sys.executable, "-c", DRIVER, str(go), *args],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            text=True,
            env={**os.environ, "RACER": str(k)},
        )
        for k in range(2)
    ]
    deadline = time.time() + 120
    while len(list(tmp_path.glob(go.name + ".ready.*"))) < 2 and time.time() < deadline:
        time.sleep(0.005)  # until both have imported
    go.touch()
    results = []
    for p in procs:
        _, err = p.communicate(timeout=240)
        results.append((p.returncode, err))
    return results


def assert_outcome(results, out: Path, ref_bank: Path) -> None:
    """Each process either succeeded or refused with one line; the bank equals a clean run."""
    for rc, err in results:
        assert "Traceback" not in err, err
        if rc == 2:
            assert len(err.strip().splitlines()) == 1 and "being written by another process" in err, err
        else:
            assert rc == 0, err
    assert 0 in [rc for rc, _ in results]
    assert_same_bank(ref_bank, out)
    assert verify_bank(out, n_check=0) == []
    leftovers = [p.name for p in out.parent.iterdir() if p.name.startswith(out.name) and p.name != out.name]
    assert leftovers == []  # no lock file, parts folder or temporary file left behind


def test_two_simulate_processes_on_one_out(ref, tmp_path):
    for trial in range(TRIALS):
        out = tmp_path / f"bank{trial}.h5"
        results = race(tmp_path, "simulate", str(out), CFG.to_json(), str(N))
        assert_outcome(results, out, ref / "ref.h5")


def test_two_merge_processes_on_one_out(ref, tmp_path):
    for trial in range(TRIALS):
        out = tmp_path / f"merged{trial}.h5"
        results = race(tmp_path, "merge", str(out), str(ref / "shard2.h5"), str(ref / "shard1.h5"))
        assert_outcome(results, out, ref / "ref.h5")


def test_a_held_lock_refuses_without_touching_anything(ref, tmp_path):
    out = tmp_path / "bank.h5"
    with writer.exclusive_lock(out):
        with pytest.raises(InputError, match="being written by another process .pid"):
            simulate_bank(out, CFG, N, progress=False)
        with pytest.raises(InputError, match="being written by another process"):
            merge_banks([ref / "shard1.h5", ref / "shard2.h5"], out)
        assert sorted(p.name for p in tmp_path.iterdir()) == ["bank.h5.lock"]
    assert list(tmp_path.iterdir()) == []  # the holder removes the lock file
    # A finished bank is reported as such even while another process holds the lock.
    shutil.copy(ref / "ref.h5", out)
    with writer.exclusive_lock(out):
        assert simulate_bank(out, CFG, N, progress=False)["already_complete"]


def test_interrupted_run_resumes_past_damaged_parts(ref, tmp_path, monkeypatch):
    out = tmp_path / "bank.h5"
    parts = tmp_path / "bank.h5.parts"

    def killed(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(writer, "assemble", killed)
    with pytest.raises(KeyboardInterrupt):
        simulate_bank(out, CFG, N, progress=False)
    monkeypatch.undo()
    first, second = sorted(parts.glob("part-*.h5"))
    assert not out.exists() and not (tmp_path / "bank.h5.lock").exists()
    with h5py.File(first, "a") as f:  # a changed sample: caught by the part's checksum
        f["noise_bed"][1, 0, 3] = -f["noise_bed"][1, 0, 3] - 1  # a changed sample, in any stored dtype
    with open(second, "r+b") as fh:  # a truncated part (as a crash on a filesystem without fsync can leave)
        fh.truncate(4096)
    (parts / "part-00000000-00000008.h5.123-dead.tmp").write_bytes(b"half")  # a killed writer's tmp file
    summary = simulate_bank(out, CFG, N, progress=False)
    assert summary["simulated"] == N  # both parts simulated again
    assert_same_bank(ref / "ref.h5", out)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["bank.h5"]


def _flip_byte(path: Path, dataset: str, row: int, byte: int = 1) -> None:
    """Flip one byte of row `row` of a dataset in the file itself (not through HDF5)."""
    with h5py.File(path, "r") as f:
        d = f[dataset]
        if d.chunks is None:
            offset = d.id.get_offset() + row * d.dtype.itemsize * int(np.prod(d.shape[1:]))
        else:
            offset = d.id.get_chunk_info_by_coord((row,) + (0,) * (d.ndim - 1)).byte_offset
    with open(path, "r+b") as fh:
        fh.seek(offset + byte)
        value = fh.read(1)[0]
        fh.seek(offset + byte)
        fh.write(bytes([value ^ 0x01]))


@pytest.mark.parametrize("dataset, row", [("brir", 11), ("noise_bed", 5), ("meta/rt60_target", 9)])
def test_default_verify_catches_a_flipped_byte(ref, tmp_path, dataset, row):
    copy = tmp_path / "bank.h5"
    shutil.copy(ref / "ref.h5", copy)
    assert verify_bank(copy) == []
    _flip_byte(copy, dataset, row)
    RIRBank(copy)  # still opens
    problems = verify_bank(copy)  # the default: a few scenes re-simulated, every byte checksummed
    assert any(f"scene {row}:" in p and "checksum" in p for p in problems), problems


def test_bank_without_checksums_still_verifies_with_a_note(ref, tmp_path):
    old = tmp_path / "old.h5"
    shutil.copy(ref / "ref.h5", old)
    with h5py.File(old, "a") as f:
        del f["checksums"]
    assert len(RIRBank(old)) == N
    notes = []
    assert verify_bank(old, n_check=0, notes=notes) == []
    assert any("checksums: absent" in n for n in notes)
    # Shards without checksums still merge; the merged bank gets them.
    merged = tmp_path / "merged.h5"
    shards = []
    for k in (1, 2):
        shards.append(tmp_path / f"s{k}.h5")
        shutil.copy(ref / f"shard{k}.h5", shards[-1])
        with h5py.File(shards[-1], "a") as f:
            del f["checksums"]
    merge_banks(shards, merged)
    assert_same_bank(ref / "ref.h5", merged)


def test_bad_arguments_are_refused(ref, tmp_path):
    with pytest.raises(InputError, match="--n-check"):
        verify_bank(ref / "ref.h5", n_check=-3)
    with pytest.raises(InputError, match=r"at most 1 shard\(s\)"):
        simulate_bank(tmp_path / "x.h5", CFG, 1, shard=(1, 2), progress=False)
    not_bank = tmp_path / "notbank.h5"
    not_bank.write_text("not hdf5")
    with pytest.raises(InputError, match="not a readable HDF5"):
        merge_banks([not_bank], tmp_path / "m.h5")
    with pytest.raises(InputError, match="not an HDF5 bank"):
        merge_banks([ref / "shard1.h5", ref / "shard2.h5"], not_bank)
    assert not_bank.read_text() == "not hdf5"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["notbank.h5"]
