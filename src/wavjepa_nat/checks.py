"""Checks every command makes before its long work starts: can the output be written, and do the disk and
the memory hold what the inputs ask for. Each failure is an InputError naming the flag and, for sizes, the
GiB it would need.

    check_output_file(out, "--out")          # a file will be written at `out`
    check_output_dir(out, "--out")           # a folder will be made (or filled) at `out`
    check_not_an_input(out, [data, bank])    # `out` is none of the command's inputs (links resolved)
    check_disk(out, n_bytes, "the bank")     # the file system of `out` has room for n_bytes
    check_memory(n_bytes, "one scene")       # this machine's memory holds n_bytes
    check_snr_range((lo, hi), "--snr")       # an SNR range in dB that rendering can use
"""

from __future__ import annotations

import math
import os
import shutil
import tempfile
from pathlib import Path

from wavjepa_nat.errors import InputError

GIB = 1024**3
MAX_SNR_DB = 100.0  # |SNR| beyond any recording's dynamic range (noise below 16-bit resolution, or no signal)


def gib(n_bytes: float) -> str:
    return f"{n_bytes / GIB:,.1f} GiB" if n_bytes >= 0.1 * GIB else f"{n_bytes / 1024**2:,.1f} MiB"


def _nearest_existing(path: Path) -> Path:
    p = path.absolute()
    while not p.exists() and p != p.parent:
        p = p.parent
    return p


def _probe_writable(folder: Path, path: Path, flag: str) -> None:
    """Create and remove a file in `folder`: the only test that holds for root, read-only mounts and /proc."""
    try:
        fd, probe = tempfile.mkstemp(prefix=".wavjepa-nat-probe-", dir=folder)
    except OSError as err:
        raise InputError(f"{flag} {path}: cannot write in {folder} ({err.strerror or err})") from None
    os.close(fd)
    os.unlink(probe)


def _check_parent(path: Path, flag: str) -> None:
    """The folders above `path` exist or can be made, and the nearest existing one is writable."""
    anchor = _nearest_existing(path.parent)
    if not anchor.is_dir():
        raise InputError(f"{flag} {path}: {anchor} is a file, not a folder")
    _probe_writable(anchor, path, flag)


def check_output_file(path: str | Path, flag: str = "--out") -> Path:
    """`path` can be written as a file (its folders are made if needed): not a folder, and writable."""
    path = Path(path)
    if path.is_dir():
        raise InputError(f"{flag} {path} is a folder; give a file name")
    if path.exists() and not os.access(path, os.W_OK):
        raise InputError(f"{flag} {path} exists and is not writable")
    _check_parent(path, flag)
    return path


def check_output_dir(path: str | Path, flag: str = "--out") -> Path:
    """`path` is a folder, or can be made one: not a file, and writable."""
    path = Path(path)
    if path.exists() and not path.is_dir():
        raise InputError(f"{flag} {path} is a file; give a folder")
    if path.is_dir():
        _probe_writable(path, path, flag)
    else:
        _check_parent(path, flag)
    return path


def _same_place(a: Path, b: Path) -> bool:
    try:
        if a.exists() and b.exists():
            return os.path.samefile(a, b)  # hard links and bind mounts too
    except OSError:
        pass
    return a.resolve() == b.resolve()


def check_not_an_input(out: str | Path, inputs, flag: str = "--out") -> None:
    """The output `out` (a file or a folder) is none of `inputs` (paths; None skipped), compared after
    resolving links: a command must never overwrite what it reads."""
    target = Path(out)
    for given in inputs:
        if given is not None and str(given) and _same_place(target, Path(given)):
            raise InputError(f"{flag} {out} is one of the inputs ({given}); choose another {flag}")


def check_disk(path: str | Path, n_bytes: float, what: str, hint: str = "") -> None:
    """The file system that will hold `path` has n_bytes free."""
    anchor = _nearest_existing(Path(path))
    try:
        free = shutil.disk_usage(anchor if anchor.is_dir() else anchor.parent).free
    except OSError:
        return  # no answer (a special file system): the write itself will tell
    if n_bytes > free:
        raise InputError(
            f"{what} would need {gib(n_bytes)} on disk, but {anchor} has {gib(free)} free"
            + (f"; {hint}" if hint else "")
        )


def total_memory() -> int:
    try:
        return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    except (ValueError, OSError, AttributeError):
        return 1 << 62  # unknown: do not refuse


def check_memory(n_bytes: float, what: str, hint: str = "") -> None:
    """This machine's memory holds n_bytes (what a single step of the work keeps in memory at once)."""
    total = total_memory()
    if n_bytes > total:
        raise InputError(
            f"{what} would need {gib(n_bytes)} of memory, but this machine has {gib(total)}"
            + (f"; {hint}" if hint else "")
        )


def check_snr_range(lo_hi, flag: str = "--snr") -> tuple[float, float]:
    """An SNR range (lo, hi) in dB, as floats: finite, lo <= hi (lo == hi: one value), |SNR| <= MAX_SNR_DB
    (10**(SNR/20) leaves float range far beyond)."""
    values = tuple(float(v) for v in lo_hi)
    if len(values) != 2 or not all(math.isfinite(v) for v in values) or values[0] > values[1]:
        raise InputError(f"{flag} must be a finite value or LO..HI with LO <= HI, got {values}")
    if max(abs(v) for v in values) > MAX_SNR_DB:
        raise InputError(
            f"{flag} must lie within -{MAX_SNR_DB:g}..{MAX_SNR_DB:g} dB, got {values[0]:g}..{values[1]:g}"
        )
    return values


def check_torch_device(device: str, flag: str = "--device") -> str:
    """A torch device string that names a device this machine has (cpu, cuda, cuda:K, mps)."""
    import torch

    try:
        dev = torch.device(device)
    except (RuntimeError, ValueError, TypeError):
        raise InputError(f"{flag} {device!r} is not a torch device (e.g. cpu, cuda, cuda:1)") from None
    if dev.type == "cuda":
        if not torch.cuda.is_available():
            raise InputError(f"{flag} {device}: CUDA is not available on this machine")
        if dev.index is not None and dev.index >= torch.cuda.device_count():
            raise InputError(f"{flag} {device}: this machine has {torch.cuda.device_count()} CUDA device(s)")
    elif dev.type == "mps" and not torch.backends.mps.is_available():
        raise InputError(f"{flag} {device}: MPS is not available on this machine")
    elif dev.type not in ("cpu", "cuda", "mps"):
        raise InputError(f"{flag} {device}: use cpu, cuda[:K] or mps")
    return device
