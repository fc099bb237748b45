"""Every command that writes a file, on a disk that fills while it writes (issue 23): one `error:` line that
says the disk is full, exit 2, no traceback, nothing under the output's final name (an older output there
unchanged) and no temporary file left.

Nothing is mounted: `FullDisk` gives the test's folder a budget of free bytes and makes the lowest write
point each command uses fail with ENOSPC once the budget is spent, after writing what still fitted (so a
file written in place would be left short): Python's open() for writing (text, CSV, JSON, plots, copies),
and the libraries that write from C (soundfile, h5py, torch.save, safetensors), whose files are measured
when they are closed and cut to what fitted. soundfile and torch.save raise what they raise on a real full
disk (a RuntimeError without the errno), and from then on the folder's disk reads as full (os.statvfs).
"""

from __future__ import annotations

import builtins
import errno
import io
import os
from pathlib import Path

import h5py
import pytest
import soundfile as sf
import torch
from _cli import run_main
from _cli_inputs import make_inputs


def older_output(final: Path, root: Path) -> bytes:
    """What an earlier run left at `final`: a bank for a bank, an HDF5 file for embeddings, else text."""
    if final.suffix == ".h5":
        return (root / ("s1.h5" if final.name == "m.h5" else "older.h5")).read_bytes()
    return b"an older output, which a failed run must leave as it was\n"


class FullDisk:
    """The folder `root` lies on a disk with `free` bytes left (files outside it are not counted)."""

    def __init__(self, root: Path, free: int):
        self.root, self.free = str(root.resolve()), free
        self.cut: list[Path] = []  # the files a write failed on, left short

    def counts(self, path) -> bool:
        try:
            return os.path.abspath(os.fspath(path)).startswith(self.root)
        except TypeError:  # a file object or descriptor: not a path this test chose
            return False

    def take(self, path, n_bytes: int) -> int:
        """Reserve n_bytes for `path`: how many fit; ENOSPC (naming the file, as the kernel's caller would
        report it) once the disk is full."""
        fits = max(0, min(n_bytes, self.free))
        self.free -= fits
        return fits

    def full(self, path):
        self.cut.append(Path(path))
        return OSError(errno.ENOSPC, os.strerror(errno.ENOSPC), os.fspath(path))

    def after_close(self, path, error: Exception | None = None) -> None:
        """A file a C library wrote whole: keep what fitted, then fail (with the library's own `error`)."""
        size = os.path.getsize(path)
        fits = self.take(path, size)
        if fits < size:
            os.truncate(path, fits)
            full = self.full(path)
            raise error or full

    def install(self, monkeypatch) -> None:
        disk, real_open = self, builtins.open

        def budgeted_open(file, mode="r", *args, **kwargs):
            f = real_open(file, mode, *args, **kwargs)
            if not any(c in mode for c in "wax+") or not disk.counts(file):
                return f
            return BudgetedFile(f, disk, file)

        monkeypatch.setattr(builtins, "open", budgeted_open)
        monkeypatch.setattr(io, "open", budgeted_open)  # pathlib's write_text / write_bytes

        def after(write, path_arg, error=None):
            def written(*args, **kwargs):
                result = write(*args, **kwargs)
                path = path_arg(*args, **kwargs)
                if disk.counts(path):
                    disk.after_close(path, error)
                return result

            return written

        # soundfile and torch.save do not say which error stopped them: their messages on a full disk
        sf_write = after(sf.write, lambda file, *a, **k: file, sf.LibsndfileError(2, "Error writing: "))
        monkeypatch.setattr(sf, "write", sf_write)
        save = after(
            torch.save, lambda obj, f, *a, **k: f, RuntimeError("[enforce fail] unexpected pos 704 vs 598")
        )
        monkeypatch.setattr(torch, "save", save)
        import safetensors.torch

        save_file = after(safetensors.torch.save_file, lambda tensors, filename, *a, **k: filename)
        monkeypatch.setattr(safetensors.torch, "save_file", save_file)

        class BudgetedH5(h5py.File):
            def close(self):
                path = self.filename if self.id.valid and self.mode == "r+" else None
                super().close()
                if path is not None and disk.counts(path):
                    disk.after_close(path)

        monkeypatch.setattr(h5py, "File", BudgetedH5)

        statvfs = os.statvfs

        def free_space(path):  # the folder's disk reads as full once a write failed there
            st = statvfs(path)
            if not (disk.cut and disk.counts(path)):
                return st
            return os.statvfs_result((*st[:3], 0, 0, *st[5:]))

        monkeypatch.setattr(os, "statvfs", free_space)


class BudgetedFile:
    """A file opened for writing whose writes draw on the disk's budget (what fits is written)."""

    def __init__(self, f, disk: FullDisk, path):
        self._f, self._disk, self._path, self._counted = f, disk, path, 0

    def write(self, data):
        n = len(data.encode() if isinstance(data, str) else data)
        fits = self._disk.take(self._path, n)
        self._counted += fits
        if fits < n:
            if fits:
                self._f.write(data[:fits])
            raise self._disk.full(self._path)
        return self._f.write(data)

    def writelines(self, lines):
        for line in lines:
            self.write(line)

    def close(self):
        self._f.close()
        if os.path.isfile(self._path):  # bytes written past write(): os.sendfile in shutil.copyfile
            extra = os.path.getsize(self._path) - self._counted
            if extra > 0 and self._disk.take(self._path, extra) < extra:
                raise self._disk.full(self._path)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def __iter__(self):
        return iter(self._f)

    def __getattr__(self, name):
        return getattr(self._f, name)


# ---------------------------------------------------------------- the inputs: tiny, made once


@pytest.fixture(scope="module")
def inputs(tmp_path_factory, corpus_and_bank):
    return make_inputs(tmp_path_factory.mktemp("inputs"), *corpus_and_bank)


# command -> (its command line, its output under the test's folder, free bytes, whether an older output may
# lie there: a bank is never replaced, and a run folder or a copy resumes)
CASES = {
    "simulate-rirs": (
        "simulate-rirs --out {out}/bank.h5 --n-scenes 2 --workers 1 --noise-bed-seconds 0.5 "
        "--noise-sources 0..0 --quiet",
        "bank.h5", 20_000, False,
    ),
    "bank merge": ("bank merge {root}/s1.h5 {root}/s2.h5 --out {out}/m.h5", "m.h5", 20_000, False),
    "bank info --plots": ("bank info {bank} --plots {out}/plots", "plots/rt60.png", 20_000, True),
    "make-corpus": (
        "make-corpus --out {out}/corpus --n-per-class 3 --seconds 0.2 --no-speech", "corpus", 30_000, False
    ),
    "render": ("render --bank {bank} --input {wav} --out {out}/r.wav", "r.wav", 10_000, True),
    "train": (
        "train --data {corpus} --bank {bank} --out {out}/run --preset tiny --channels 1 --n-crops 1 "
        "--batch-clips 1 --clip-seconds 2.5 --num-workers 0 --max-steps 2 --ckpt-every 1",
        "run/last.ckpt", 100_000, False,
    ),
    "export": ("export {root}/m.ckpt --out {out}/m.safetensors", "m.safetensors", 50_000, True),
    "import-weights": ("import-weights {ref} --out {out}/r.safetensors", "r.safetensors", 50_000, True),
    "embed": ("embed --model {root}/mono.safetensors --input {wav} --out {out}/e.h5", "e.h5", 2_000, True),
    "robustness": (
        "robustness --model {root}/mono.safetensors --task {root}/task --bank {bank} --out {out}/sweep "
        "--snr 10 --rt60 none",
        "sweep/report.md", 30_000, True,
    ),
    "nat-hear": (
        "nat-hear --task-dir {hear} --bank {bank} --out {out}/copy --snr none",
        "copy/labelvocabulary.csv", 40_000, False,
    ),
    "report": ("report {root}/results --out {out}/merged", "merged/report.md", 30_000, True),
}  # fmt: skip


@pytest.mark.parametrize("command", list(CASES))
def test_a_disk_that_fills_ends_every_command_with_one_line_and_nothing_half_written(
    inputs, tmp_path, monkeypatch, capsys, command
):
    argv, output, free, has_older = CASES[command]
    names = {k: v for k, v in inputs.items()} | {"out": tmp_path}
    argv = argv.format(**names).split()
    final = tmp_path / output
    if has_older:  # an output of the same kind (a command may refuse to replace something else)
        final.parent.mkdir(parents=True, exist_ok=True)
        final.write_bytes(older_output(final, inputs["root"]))
    before = {p: p.read_bytes() for p in tmp_path.rglob("*") if p.is_file()}
    disk = FullDisk(tmp_path, free)
    disk.install(monkeypatch)
    rc, out, err = run_main(monkeypatch, capsys, argv)
    monkeypatch.undo()
    lines = err.strip().splitlines()
    assert rc == 2 and len(lines) == 1 and "Traceback" not in err, (rc, out, err)
    assert lines[0].startswith("error: no space left on the device") and ".tmp" not in lines[0], lines[0]
    assert disk.cut and not [p for p in disk.cut if p.exists()]  # the disk filled; no short file is left
    if has_older:
        assert final.read_bytes() == older_output(final, inputs["root"])
    else:
        assert not final.exists()
    assert not [p for p in tmp_path.rglob("*") if ".tmp" in p.name], list(tmp_path.rglob("*"))
    assert not [p for p in tmp_path.rglob("*.lock")]
    for p, data in before.items():
        assert p.read_bytes() == data, p


@pytest.mark.parametrize("command", ["train", "render"])
def test_a_disk_too_small_for_the_output_is_refused_before_the_work(
    inputs, tmp_path, monkeypatch, capsys, command
):
    """train (two checkpoints, known from the parameter count) and render (samples x 2 ears x 2 bytes) check
    the free space first: one line naming what would not fit, exit 2, nothing written."""
    import shutil

    from wavjepa_nat.nat_model.config import get_preset
    from wavjepa_nat.nat_model.jepa import WavJEPA

    argv, output, _, _ = CASES[command]
    argv = argv.format(**inputs, out=tmp_path).split()
    if command == "train":  # float32 weights + Adam's two moments of the trainable ones, twice; counted here
        model = WavJEPA(get_preset("tiny", channels=1))  # by hand: the student, its EMA copy, the predictor
        trainable = sum(p.numel() for p in model.parameters() if p.requires_grad)
        need = 2 * 4 * (sum(t.numel() for t in model.state_dict().values()) + 2 * trainable)
    else:  # 0.5 s at 16 kHz, 2 ears, 16 bits
        need = 8000 * 2 * 2 + 44
    real = shutil.disk_usage
    for free, refused in ((need // 2, True), (need * 11 // 10, False)):
        usage = real(tmp_path)._replace(free=free)
        monkeypatch.setattr(shutil, "disk_usage", lambda path, usage=usage: usage)
        if refused:
            rc, _, err = run_main(monkeypatch, capsys, argv)
            assert rc == 2 and len(err.strip().splitlines()) == 1 and "would need" in err, err
            assert not list(tmp_path.iterdir())
        else:
            rc, _, err = run_main(
                monkeypatch, capsys, argv + (["--max-steps", "1"] if command == "train" else [])
            )
            assert rc == 0, err
