"""Writing a bank: parallel, resumable, atomic, shardable, safe against a second writer.

Work is cut into blocks of consecutive scenes. Each worker process simulates a block and
writes it as a small part file in `OUT.parts/` (under a name unique to the process, then
renamed). A killed run leaves only whole part files; rerun with the same arguments, it
checks and skips them. The main process copies each part into a temporary file beside OUT as
it arrives (while the workers go on); when every block is there, that file is read back and
checked (every scene present once, non-zero finite BRIRs, every per-scene checksum) before it
is renamed to OUT. Since every scene depends only
on (seed, index), a resumed, sharded or parallel run gives the same arrays as one
uninterrupted single-process run.

A run holds an exclusive lock (`flock` on `OUT.lock`) from before it touches any file until
it ends; a second run (or `bank merge`) on the same OUT meanwhile stops at once with a
one-line error. The kernel drops the lock of a killed process, so it never goes stale.
"""

from __future__ import annotations

import contextlib
import glob
import json
import multiprocessing as mp
import os
import shutil
import time
from pathlib import Path

import h5py
import numpy as np

from wavjepa_nat.checks import check_disk, check_memory, check_output_file, gib
from wavjepa_nat.errors import InputError
from wavjepa_nat.files import (
    atomic_path,
    commit,
    errors_name,
    exclusive_lock,
    unique_tmp,
    write_text_atomic,
)
from wavjepa_nat.progress import progress_bar
from wavjepa_nat.rir_bank import checksums
from wavjepa_nat.rir_bank.schema import (
    META_COLUMNS,
    SCHEMA_VERSION,
    attrs_dict,
    bank_attrs,
    create_datasets,
    encode_scene,
    meta_row,
    schema_version,
)
from wavjepa_nat.scenes import SceneConfig, Simulator

BLOCK = 8  # scenes per part file


def shard_range(n_scenes: int, shard: tuple[int, int]) -> tuple[int, int]:
    k, n = shard
    if not (1 <= k <= n):
        raise InputError(f"--shard must be K/N with 1 <= K <= N, got {k}/{n}")
    if n > n_scenes:
        raise InputError(
            f"--shard {k}/{n}: {n} shards of {n_scenes} scene(s) would leave some empty; "
            f"use at most {n_scenes} shard(s)"
        )
    return (k - 1) * n_scenes // n, k * n_scenes // n


# -- files: one writer per OUT (atomic writes: wavjepa_nat.files) ---------------------------------
def _remove_stale_tmp(out: Path, parts: Path | None = None) -> None:
    """Temporary files left by killed runs (safe to remove: we hold the lock)."""
    stale = glob.glob(glob.escape(str(out)) + ".*.tmp") + [str(out) + ".tmp"]
    if parts is not None and parts.is_dir():
        stale += glob.glob(glob.escape(str(parts)) + "/*.tmp")
    for name in stale:
        if os.path.isfile(name) and not os.path.islink(name):
            with contextlib.suppress(OSError):
                os.unlink(name)


# -- part files ------------------------------------------------------------------------------------
def _part_path(parts: Path, start: int, stop: int) -> Path:
    return parts / f"part-{start:08d}-{stop:08d}.h5"


def write_rows(f: h5py.File, row0: int, scenes, max_noise: int) -> dict[str, np.ndarray]:
    """Write simulated scenes into rows row0.. of an open bank-shaped file of the current format: each scene
    encoded by schema.encode_scene; only the samples up to each response's decay floor are written, so the
    time chunks after it are never allocated. Returns the CRC32 of each row of the arrays as stored
    (checksums.array_crc of the rows as they read back: unwritten samples are zeros), computed from memory
    rather than read back."""
    if schema_version(f) != SCHEMA_VERSION:
        raise ValueError(f"cannot write scenes into a file of bank format {schema_version(f)}")
    rows = []
    crcs = {name: np.zeros(len(scenes), np.uint32) for name in checksums.ARRAYS}
    d = {name: f[name] for name in checksums.ARRAYS}  # h5py looks names up on every access
    shapes = {name: (d[name].shape[1:], d[name].dtype) for name in checksums.ARRAYS}
    for k, scene in enumerate(scenes):
        i = row0 + k
        n = len(scene.noise_brirs)
        arrays, storage = encode_scene(scene)
        d["brir"][i, :, : storage["brir_taps"]] = arrays["brir"]
        if n and storage["noise_brir_taps"]:
            d["noise_brir"][i, :n, :, : storage["noise_brir_taps"]] = arrays["noise_brir"]
        d["noise_bed"][i] = arrays["noise_bed"]
        rows.append(meta_row(scene.meta | storage, max_noise))
        for name, value in arrays.items():
            crcs[name][k] = checksums.array_crc(_full_row(value, *shapes[name]))
    _write_meta(f, row0, rows, [s.index for s in scenes])
    return crcs


def _full_row(value: np.ndarray, shape: tuple, dtype: np.dtype) -> np.ndarray:
    """A row as the dataset holds it: `value` in its leading corner, zeros (the fill value) elsewhere."""
    value = np.asarray(value)
    if value.shape == shape and value.dtype == dtype:
        return value
    row = np.zeros(shape, dtype)
    row[tuple(slice(0, k) for k in value.shape)] = value
    return row


def _write_meta(f: h5py.File, row0: int, rows: list[dict], indices: list[int]) -> None:
    meta = f["meta"]
    for name in META_COLUMNS:
        if name in meta:
            d = meta[name]
            d[row0 : row0 + len(rows)] = np.array(
                [r[name] for r in rows], dtype=object if d.dtype.kind == "O" else None
            )
    f["scene_index"][row0 : row0 + len(rows)] = indices


def _write_part(path: Path, cfg: SceneConfig, scenes) -> None:
    # Atomic: a part file is whole or absent. Not fsynced (a third of its writing time): a resumed run
    # checks every part against its checksums (_part_ok) and redoes any that a crash left damaged.
    with atomic_path(path, durable=False) as tmp, h5py.File(tmp, "w-") as f:
        f.attrs["config"] = cfg.to_json()
        f.create_dataset("scene_index", (len(scenes),), np.int64)
        create_datasets(f, len(scenes), cfg, SCHEMA_VERSION)
        crcs = write_rows(f, 0, scenes, cfg.noise_sources[1])  # of the bytes as stored
        checksums.write(f, crcs | {"meta": checksums.meta_crcs(f)})


def _part_ok(path: Path, start: int, stop: int, cfg: SceneConfig) -> bool:
    """Whether a part file left by an earlier run is whole and this run's (else it is removed)."""
    if not path.is_file():
        return False
    try:
        with h5py.File(path, "r") as f:
            ok = (
                f.attrs.get("config") == cfg.to_json()
                and schema_version(f) == SCHEMA_VERSION
                and np.array_equal(f["scene_index"][()], np.arange(start, stop))
                and checksums.has_checksums(f)
            )
            if ok:
                want, got = checksums.stored(f), checksums.compute(f)
                ok = all(np.array_equal(want.get(name), got[name]) for name in checksums.NAMES)
    # unreadable, truncated: redo it
    except (OSError, KeyError, ValueError, TypeError, RuntimeError, AttributeError):
        ok = False
    if not ok:
        path.unlink()
    return ok


_SIMULATOR: Simulator | None = None


def _init_worker(cfg: SceneConfig) -> None:
    global _SIMULATOR
    _SIMULATOR = Simulator(cfg)


def _run_block(job: tuple[int, int, str]) -> tuple[int, int, float, float, float, float]:
    """Simulate and write one block: (start, stop, seconds of BRIRs, noise beds, measures, encoding and
    writing)."""
    start, stop, parts = job
    scenes = [_SIMULATOR.simulate(i) for i in range(start, stop)]
    t0 = time.perf_counter()
    _write_part(_part_path(Path(parts), start, stop), _SIMULATOR.cfg, scenes)
    write = time.perf_counter() - t0
    return (
        start,
        stop,
        sum(s.timings["brir"] for s in scenes),
        sum(s.timings["noise_bed"] for s in scenes),
        sum(s.timings.get("measure", 0.0) for s in scenes),
        write,
    )


# -- assembling parts or shards into a bank --------------------------------------------------------
def _open_source(path: Path) -> h5py.File:
    try:
        f = h5py.File(path, "r")
    except OSError as err:
        raise InputError(f"{path} is not a readable HDF5 file ({err})") from None
    if "scene_index" not in f or not len(f["scene_index"]):
        f.close()
        raise InputError(f"{path} holds no scenes")
    return f


class Assembler:
    """A bank built from pieces (part files or shard banks) of scenes `expected`, added in any order: each is
    copied into a temporary file beside `out` when it is added (so a run assembles while its workers still
    simulate), then finish() checks the whole and renames it to `out`. A context manager: leaving it without
    finish() removes the temporary file. The caller holds the lock of `out`.

    Rows with stored checksums are copied as they are and checked once, in the assembled file read back
    (_check_assembled); a damaged source row fails there and _find_damage names it. Rows without (banks
    written before checksums) get theirs computed from the source.
    """

    def __init__(self, out: Path, attrs: dict, cfg: SceneConfig, expected: range, version: int):
        self.out, self.attrs, self.cfg, self.expected, self.version = out, attrs, cfg, expected, version
        self.tmp = unique_tmp(out)
        n = len(expected)
        self.filled = np.zeros(n, bool)
        self.crcs = {name: np.zeros(n, np.uint32) for name in checksums.NAMES}
        self.sources: list[Path] = []
        self.dst = h5py.File(self.tmp, "w-")
        self.dst.create_dataset("scene_index", (n,), np.int64)
        create_datasets(self.dst, n, cfg, version)
        self.columns = [name for name in META_COLUMNS if name in self.dst["meta"]]

    def __enter__(self) -> Assembler:
        return self

    def __exit__(self, *exc) -> bool:
        if self.dst.id.valid:  # a file being abandoned: closing it may fail too (a full disk), the first
            with contextlib.suppress(OSError):  # error is the one to report, and the file must go
                self.dst.close()
        with contextlib.suppress(FileNotFoundError):
            self.tmp.unlink()
        if isinstance(exc[1], OSError):  # name the bank asked for, not the temporary file
            with errors_name(self.out, self.tmp):
                raise exc[1]
        return False

    def _uncovered(self) -> InputError:
        return InputError(
            f"the pieces do not cover scenes {self.expected.start}..{self.expected.stop - 1} exactly once"
        )

    def add(self, path: Path) -> None:
        src = _open_source(path)
        try:
            index = src["scene_index"][()]
            n, row = len(index), int(index[0]) - self.expected.start
            if (
                not np.array_equal(index, np.arange(index[0], index[0] + n))
                or row < 0
                or row + n > len(self.filled)
                or self.filled[row : row + n].any()
            ):
                raise self._uncovered()
            if schema_version(src) != self.version:
                raise InputError(
                    f"the pieces are of different bank formats "
                    f"({sorted({self.version, schema_version(src)})}); nothing was written"
                )
            dst, want = self.dst, checksums.stored(src)
            for name in checksums.ARRAYS:
                got = want[name] if want is not None else checksums.array_crcs(src[name])
                _copy_rows(src[name], dst[name], row)
                self.crcs[name][row : row + n] = got
            meta = checksums.meta_crcs(src)
            if want is not None and not np.array_equal(meta, want["meta"]):
                raise InputError(
                    f"{src.filename}: metadata does not match its checksums "
                    f"(the file is damaged); nothing was written"
                )
            self.crcs["meta"][row : row + n] = meta
            columns = dst["meta"]
            for name in self.columns:
                columns[name][row : row + n] = src["meta"][name][()]
            dst["scene_index"][row : row + n] = index
            self.filled[row : row + n] = True
            self.sources.append(Path(path))
        finally:
            src.close()

    def finish(self, pool=None) -> None:
        if not self.filled.all():
            raise self._uncovered()
        checksums.write(self.dst, self.crcs)
        self.dst.attrs.update(self.attrs)
        self.dst.attrs["complete"] = True
        self.dst.close()
        try:
            _check_assembled(self.tmp, self.expected, self.crcs, self.cfg, pool)
        except InputError:
            _find_damage(self.sources)  # a source's bytes that do not match its checksums: say which
            raise
        commit(self.tmp, self.out)


def assemble(
    sources: list[Path],
    out: Path,
    attrs: dict,
    cfg: SceneConfig,
    expected: range,
    assembler: Assembler | None = None,
    pool=None,
) -> None:
    """Concatenate part files or shard banks into a complete bank at `out` (see Assembler). `assembler`: one
    that already holds some of the sources (simulate_bank copies parts as they come); the others are added.
    pool: workers that share the final read-back. The caller holds the lock of `out`."""
    if assembler is not None:
        added = set(assembler.sources)
        for path in sources:
            if Path(path) not in added:
                assembler.add(path)
        assembler.finish(pool)
        return
    versions = set()
    for path in sources:  # every piece readable and of one format before anything is written
        with _open_source(path) as f:
            versions.add(schema_version(f))
    if len(versions) > 1:
        raise InputError(
            f"the pieces are of different bank formats ({sorted(versions)}); nothing was written"
        )
    with Assembler(out, attrs, cfg, expected, versions.pop() if versions else SCHEMA_VERSION) as new:
        for path in sources:
            new.add(path)
        new.finish()


def _find_damage(sources: list[Path]) -> None:
    """InputError naming the first source row whose bytes do not match its stored checksum, if any."""
    for path in sources:
        with h5py.File(path, "r") as src:
            want = checksums.stored(src)
            if want is None:
                continue
            for name in checksums.ARRAYS:
                bad = np.nonzero(checksums.array_crcs(src[name]) != want[name])[0]
                if len(bad):
                    scene = int(src["scene_index"][bad[0]])
                    raise InputError(
                        f"{src.filename}: scene {scene} {name} does not match its checksum "
                        f"(the file is damaged); nothing was written"
                    )


def _copy_rows(src: h5py.Dataset, dst: h5py.Dataset, row0: int) -> None:
    """Copy all rows of src into dst from row row0. Same chunking and dtype (parts and shards of one bank):
    the stored chunks' bytes as they are (raw chunk copies: no decoding, and chunks never written, past a
    format-2 or -3 response's end, stay unwritten); otherwise row by row."""
    n = src.shape[0]
    if n == 0 or src.size == 0:
        return
    if src.chunks is not None and src.chunks == dst.chunks and src.dtype == dst.dtype:
        sid, did = src.id, dst.id
        for k in range(sid.get_num_chunks()):
            offset = sid.get_chunk_info(k).chunk_offset
            mask, data = sid.read_direct_chunk(offset)
            did.write_direct_chunk((offset[0] + row0, *offset[1:]), data, mask)
        return
    for i in range(n):  # memory stays at one scene
        dst[row0 + i] = src[i]


def _row_checks(job: tuple[str, int, int]) -> tuple[int, dict[str, np.ndarray], int | None]:
    """Rows [a, b) of an assembled bank read back: (a, their array checksums, the first row whose BRIR is
    all-zero or non-finite, or None). The BRIRs are read once for both checks."""
    path, a, b = job
    got = {name: np.zeros(b - a, np.uint32) for name in checksums.ARRAYS}
    bad = None
    with h5py.File(path, "r") as f:
        for name in checksums.ARRAYS:
            for k, row in enumerate(f[name][a:b]):
                if name == "brir" and bad is None and (not np.any(row) or not np.all(np.isfinite(row))):
                    bad = a + k
                got[name][k] = checksums.array_crc(row)
    return a, got, bad


def _check_assembled(path: Path, expected: range, crcs: dict, cfg: SceneConfig, pool=None) -> None:
    """Read back an assembled bank: every scene once, complete, non-zero finite BRIRs, checksums as copied.
    pool: a multiprocessing pool whose workers may share the reading."""

    def fail(what: str):
        raise InputError(f"the assembled bank failed its check ({what}); nothing was written")

    with h5py.File(path, "r") as f:
        n = len(expected)
        if not f.attrs.get("complete") or not np.array_equal(
            f["scene_index"][()], np.arange(expected.start, expected.stop)
        ):
            fail("scene index or completeness")
        shapes = {
            "brir": (n, 2, cfg.brir_length),
            "noise_brir": (n, cfg.noise_sources[1], 2, cfg.brir_length),
            "noise_bed": (n, 2, cfg.noise_bed_length),
        }
        if any(f[name].shape != shape for name, shape in shapes.items()):
            fail("array shapes")
        if any(len(f["meta"][name]) != n for name in META_COLUMNS if name in f["meta"]):
            fail("metadata lengths")
        # The rows' checks in the pool's workers when there is one (each opens the file to read), the
        # metadata's here meanwhile.
        jobs = [(str(path), a, min(a + 8, n)) for a in range(0, n, 8)]
        pending = pool.map_async(_row_checks, jobs) if pool is not None else None
        meta = checksums.meta_crcs(f)
        results = pending.get() if pending is not None else [_row_checks(job) for job in jobs]
        bad = [r for _, _, r in results if r is not None]
        if bad:
            fail(f"scene {expected.start + min(bad)} has an all-zero or non-finite BRIR")
        got = {name: np.concatenate([g[name] for _, g, _ in results]) for name in checksums.ARRAYS}
        got["meta"] = meta
        for name in checksums.NAMES:
            if not np.array_equal(got[name], crcs[name]) or not np.array_equal(
                f[checksums.GROUP][name][()], crcs[name]
            ):
                fail(f"{name} checksums")


# -- simulate-rirs ---------------------------------------------------------------------------------
def _check_existing(out: Path, attrs: dict) -> bool:
    """True if `out` is already this bank; InputError if it is a different one."""
    if not out.exists():
        return False
    try:
        with h5py.File(out, "r") as f:
            old = attrs_dict(f)
    except OSError:
        raise InputError(f"{out} exists and is not an HDF5 bank; remove it or choose another --out") from None
    keys = ("config", "shard", "n_scenes_total")
    if any(old.get(k) != attrs[k] for k in keys):
        raise InputError(
            f"{out} exists and was made with a different config; remove it or choose another --out"
        )
    return bool(old.get("complete"))


def check_bank_resources(out: Path, cfg: SceneConfig, n: int, workers: int) -> None:
    """Before any work: `out` can be written, the disk holds the bank (its parts and the assembled file
    exist together for a moment) and memory holds one scene per worker."""
    check_output_file(out, "--out")
    sizes = (
        f"{n} scenes x {gib(cfg.scene_bytes)} (BRIRs of {cfg.brir_length / cfg.fs:.2f} s for up to "
        f"{1 + cfg.noise_sources[1]} sources, a {cfg.noise_bed_seconds:g} s noise bed)"
    )
    parts = out.with_name(out.name + ".parts")
    done = sum(p.stat().st_size for p in parts.glob("*") if p.is_file()) if parts.is_dir() else 0
    check_disk(
        out,
        max(0, 2 * n * cfg.scene_bytes - done),
        f"the bank ({sizes})",
        "use fewer --n-scenes, a shorter --noise-bed-seconds or smaller --rt60 / --noise-sources",
    )
    check_memory(
        workers * cfg.scene_memory_bytes,
        f"simulating {workers} scene(s) at once (--workers)",
        "use a shorter --noise-bed-seconds, smaller --rt60 / --noise-sources or fewer --workers",
    )


def make_parent(out: Path) -> None:
    try:
        out.parent.mkdir(parents=True, exist_ok=True)
    except OSError as err:
        raise InputError(f"cannot create the folder {out.parent} for {out} ({err.strerror})") from None


def simulate_bank(
    out: str | Path,
    cfg: SceneConfig,
    n_scenes: int,
    workers: int = 1,
    shard: tuple[int, int] = (1, 1),
    progress: bool = True,
) -> dict:
    """Simulate scenes [shard range of n_scenes] into `out`. Returns a small summary dict."""
    out = Path(out)
    if n_scenes < 1:
        raise InputError(f"--n-scenes must be at least 1, got {n_scenes}")
    if workers < 1:
        raise InputError(f"--workers must be at least 1, got {workers}")
    lo, hi = shard_range(n_scenes, shard)
    check_bank_resources(out, cfg, hi - lo, workers)
    # Build one simulator here: bad --hrtf / --engine / --noise-dir fail now, in this process,
    # rather than in pool initialisers (which a Pool would restart forever).
    simulator = Simulator(cfg)
    hrtf = simulator.hrtf
    attrs = bank_attrs(cfg, hrtf.name, hrtf.sha256, shard, n_scenes, simulator.diffuse_field)
    done = {"out": str(out), "scenes": hi - lo, "simulated": 0, "already_complete": True}
    if _check_existing(out, attrs):  # read-only: a complete bank only ever appears by an atomic rename
        return done
    make_parent(out)
    with exclusive_lock(out):
        if _check_existing(out, attrs):  # finished by another process since the check above
            return done
        parts = out.with_name(out.name + ".parts")
        _remove_stale_tmp(out, parts)
        stamp = parts / "run.json"
        run = {"config": cfg.to_json(), "shard": attrs["shard"], "n_scenes_total": n_scenes}
        if stamp.exists():
            try:
                old_run = json.loads(stamp.read_text())
            except (OSError, ValueError):
                old_run = None
            if old_run != run:
                raise InputError(
                    f"{parts} holds an interrupted run with a different config; "
                    f"remove it or use its arguments"
                )
        parts.mkdir(exist_ok=True)
        write_text_atomic(stamp, json.dumps(run))

        jobs = [(s, min(s + BLOCK, hi), str(parts)) for s in range(lo, hi, BLOCK)]
        todo = [j for j in jobs if not _part_ok(_part_path(parts, j[0], j[1]), j[0], j[1], cfg)]
        timings = np.zeros(4)
        done_parts = [_part_path(parts, j[0], j[1]) for j in jobs if j not in todo]
        # Parts are copied into the bank as they come, while the workers simulate the next ones.
        if workers > 1:
            os.environ.setdefault("OMP_NUM_THREADS", "1")  # one core per worker
            pool_context = mp.get_context("spawn").Pool(workers, initializer=_init_worker, initargs=(cfg,))
        else:
            global _SIMULATOR
            _SIMULATOR = simulator
            pool_context = contextlib.nullcontext()
        with pool_context as pool, Assembler(out, attrs, cfg, range(lo, hi), SCHEMA_VERSION) as assembler:
            already = hi - lo - sum(j[1] - j[0] for j in todo)
            with progress_bar(hi - lo, "simulating scenes", enabled=progress, completed=already) as advance:
                results = pool.imap_unordered(_run_block, todo) if pool is not None else map(_run_block, todo)
                for path in done_parts:  # an earlier run's, while the workers start on the rest
                    assembler.add(path)
                for start, stop, *times in results:
                    assembler.add(_part_path(parts, start, stop))
                    timings[:] += times
                    advance(stop - start)
            # Every part is in by now; assemble() checks the whole (the workers sharing the reading) and
            # renames it.
            assemble(
                [_part_path(parts, j[0], j[1]) for j in jobs], out, attrs, cfg, range(lo, hi), assembler, pool
            )
        shutil.rmtree(parts)
    return {
        "out": str(out),
        "scenes": hi - lo,
        "simulated": sum(j[1] - j[0] for j in todo),
        "already_complete": False,
        "brir_seconds": timings[0],
        "noise_bed_seconds": timings[1],
        "measure_seconds": timings[2],
        "write_seconds": timings[3],
    }
