"""Atomic file writes: a file appears under its final name whole, or not at all.

    with atomic_path(out) as tmp:       # any writer that takes a path (h5py, soundfile, safetensors)
        save(tmp)
    write_text_atomic(out / "run.json", text)

The temporary file lies beside the destination (so the rename stays on one filesystem) under a name
unique to the process (so no other writer can truncate it): `NAME.<pid>-<random>.tmp`. Before the rename
the file is fsynced, and after it the folder, so a crash leaves the old file or the new one, never a part.
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import os
import secrets
import shutil
import socket
import time
from collections.abc import Iterator
from pathlib import Path

from wavjepa_nat.errors import InputError


def user_umask() -> int:
    """The process's umask, read without changing it (os.umask alone would, for a moment, in every thread)."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("Umask:"):
                return int(line.split()[1], 8)
    except (OSError, ValueError):
        pass
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


def as_user_made(path: Path, folder: bool = False) -> None:
    """Give `path` the mode an ordinary file (or folder) of this user gets: some writers (safetensors,
    tempfile) create theirs private (0600 / 0700), which would hide a shared output from the group."""
    os.chmod(path, (0o777 if folder else 0o666) & ~user_umask())


def unique_tmp(path: Path) -> Path:
    """A temporary name beside `path`, unique to this process (so no other writer can truncate it)."""
    return path.with_name(f"{path.name}.{os.getpid()}-{secrets.token_hex(4)}.tmp")


def _fsync(path: Path, directory: bool = False) -> None:
    try:
        fd = os.open(path, os.O_RDONLY | (os.O_DIRECTORY if directory else 0))
    except OSError:
        if directory:
            return  # some filesystems cannot open directories: the rename is still atomic
        raise
    try:
        os.fsync(fd)
    except OSError:
        if not directory:
            raise
    finally:
        os.close(fd)


def commit(tmp: Path, path: Path, durable: bool = True) -> None:
    """Atomically give the finished file `tmp` the name `path`, made durable first (durable=False: only the
    rename, for files that are checked before use, such as a bank's part files)."""
    if durable:
        _fsync(tmp)
    os.replace(tmp, path)
    if durable:
        _fsync(path.parent, directory=True)


FULL_BELOW = 1 << 20  # free bytes under which a failed write is put down to a full disk


def disk_is_full(path: Path) -> bool:
    """The file system holding `path` has (almost) no room left for this user."""
    try:
        st = os.statvfs(_nearest_folder(path))
    except OSError:
        return False
    return st.f_bavail * st.f_frsize < FULL_BELOW


def _nearest_folder(path: Path) -> Path:
    p = Path(path).absolute()
    while not p.is_dir() and p != p.parent:
        p = p.parent
    return p


@contextlib.contextmanager
def errors_name(final: Path, tmp: Path) -> Iterator[None]:
    """Errors while writing `tmp` (a file or a folder) read as what they are: an OSError about `tmp` (or a
    file in it) names `final`, the output the user asked for; and a writer's own error on a full disk
    (soundfile, torch.save and h5py's close say "System error." or "unexpected pos", without the errno)
    becomes the ENOSPC it is."""
    try:
        yield
    except Exception as err:
        if (not isinstance(err, OSError) or err.errno is None) and disk_is_full(Path(tmp)):
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC), str(final)) from err
        if not isinstance(err, OSError):
            raise
        name = None if err.filename is None else os.fspath(err.filename)
        if name is None or name == str(tmp) or name.startswith(str(tmp) + os.sep):
            raise OSError(err.errno, err.strerror or str(err), str(final)) from err
        raise


@contextlib.contextmanager
def atomic_path(path: str | Path, durable: bool = True) -> Iterator[Path]:
    """Yields a temporary path beside `path` to write (and close) the file at; on leaving without an error
    the file takes the name `path`. On an error the temporary file is removed."""
    path = Path(path)
    tmp = unique_tmp(path)
    try:
        with errors_name(path, tmp):
            yield tmp
            if tmp.is_file():
                as_user_made(tmp)
            commit(tmp, path, durable)
    finally:
        with contextlib.suppress(FileNotFoundError):
            tmp.unlink()


def write_text_atomic(path: str | Path, text: str, durable: bool = True) -> None:
    with atomic_path(path, durable) as tmp:
        tmp.write_text(text)


def copy_atomic(src: str | Path, dst: str | Path) -> None:
    """Copy the file `src` to `dst`, which appears whole or not at all."""
    with atomic_path(dst) as tmp:
        shutil.copyfile(src, tmp)


# -- one writer per output: simulate-rirs, bank merge, nat-hear, train and robustness take this lock --
def lock_path(out: Path) -> Path:
    return out.with_name(out.name + ".lock")


@contextlib.contextmanager
def exclusive_lock(out: Path):
    """Hold the exclusive lock of output `out` (a bank, a run folder, a report folder: flock on OUT.lock)
    for the duration of the block.

    The lock file is opened without truncating anything, so a process that does not get the
    lock has changed nothing. InputError (one line) if another process holds it.
    """
    path = lock_path(out)
    with contextlib.suppress(OSError):  # a fresh --out a/b/c: its lock lies in a/b (an error says below)
        path.parent.mkdir(parents=True, exist_ok=True)
    for _ in range(100):
        try:
            fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o666)
        except OSError as err:
            raise InputError(
                f"cannot create the lock file {path} ({err.strerror}); is {out.parent} writable?"
            ) from None
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = _lock_holder(fd)
            os.close(fd)
            raise InputError(
                f"{out} is being written by another process{holder}; wait for it to finish "
                f"or choose another --out"
            ) from None
        except OSError as err:
            os.close(fd)
            raise InputError(f"cannot lock {path} ({err.strerror})") from None
        # A finishing holder unlinks the lock file: the file locked must still be the one named `path`.
        try:
            same = os.path.samestat(os.fstat(fd), os.stat(path))
        except FileNotFoundError:
            same = False
        if same:
            break
        os.close(fd)
    else:  # pragma: no cover - only under a storm of writers
        raise InputError(f"could not take the lock {path}; try again")
    try:
        os.ftruncate(fd, 0)
        os.write(
            fd,
            (
                f"pid {os.getpid()} on {socket.gethostname()} since {time.strftime('%Y-%m-%d %H:%M:%S')}\n"
            ).encode(),
        )
        yield path
    finally:
        with contextlib.suppress(OSError):
            os.unlink(path)  # while still holding it: see the samestat check above
        os.close(fd)


def _lock_holder(fd: int) -> str:
    try:
        text = os.pread(fd, 200, 0).decode(errors="replace").strip()
    except OSError:
        text = ""
    return f" ({text})" if text else ""
