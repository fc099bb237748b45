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
import os
import secrets
from collections.abc import Iterator
from pathlib import Path


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


@contextlib.contextmanager
def atomic_path(path: str | Path, durable: bool = True) -> Iterator[Path]:
    """Yields a temporary path beside `path` to write (and close) the file at; on leaving without an error
    the file takes the name `path`. On an error the temporary file is removed."""
    path = Path(path)
    tmp = unique_tmp(path)
    try:
        yield tmp
        commit(tmp, path, durable)
    finally:
        with contextlib.suppress(FileNotFoundError):
            tmp.unlink()


def write_text_atomic(path: str | Path, text: str, durable: bool = True) -> None:
    with atomic_path(path, durable) as tmp:
        tmp.write_text(text)
