"""Writing a bank: parallel, resumable, atomic, shardable.

Work is cut into blocks of consecutive scenes. Each worker process simulates a block and
writes it as a small part file (under a temporary name, then renamed), in `OUT.parts/`.
A killed run leaves only whole part files; rerun with the same arguments, it skips them.
When every block is there, the parts are assembled into `OUT.tmp`, which is renamed to
OUT. Since every scene depends only on (seed, index), a resumed, sharded or parallel run
gives the same arrays as one uninterrupted single-process run.
"""

from __future__ import annotations

import json
import multiprocessing as mp
import os
import shutil
from pathlib import Path

import h5py
import numpy as np

from wavjepa_nat.errors import InputError
from wavjepa_nat.rir_bank.schema import META_COLUMNS, attrs_dict, bank_attrs, create_datasets, meta_row
from wavjepa_nat.scenes import SceneConfig, Simulator

BLOCK = 8  # scenes per part file


def shard_range(n_scenes: int, shard: tuple[int, int]) -> tuple[int, int]:
    k, n = shard
    if not (1 <= k <= n):
        raise InputError(f"--shard must be K/N with 1 <= K <= N, got {k}/{n}")
    return (k - 1) * n_scenes // n, k * n_scenes // n


def _part_path(parts: Path, start: int, stop: int) -> Path:
    return parts / f"part-{start:08d}-{stop:08d}.h5"


def write_rows(f: h5py.File, row0: int, scenes, max_noise: int) -> None:
    """Write simulated scenes into rows row0.. of an open bank-shaped file."""
    for k, scene in enumerate(scenes):
        i = row0 + k
        f["brir"][i] = scene.brir
        if len(scene.noise_brirs):
            f["noise_brir"][i, : len(scene.noise_brirs)] = scene.noise_brirs
        f["noise_bed"][i] = scene.noise_bed
    rows = [meta_row(s.meta, max_noise) for s in scenes]
    for name in META_COLUMNS:
        f["meta"][name][row0: row0 + len(scenes)] = np.array([r[name] for r in rows], dtype=object if
                                                            f["meta"][name].dtype.kind == "O" else None)
    f["scene_index"][row0: row0 + len(scenes)] = [s.index for s in scenes]


def _write_part(path: Path, cfg: SceneConfig, scenes) -> None:
    tmp = path.with_suffix(".tmp")
    with h5py.File(tmp, "w") as f:
        f.attrs["config"] = cfg.to_json()
        f.create_dataset("scene_index", (len(scenes),), np.int64)
        create_datasets(f, len(scenes), cfg)
        write_rows(f, 0, scenes, cfg.noise_sources[1])
    os.replace(tmp, path)  # atomic: a part file is whole or absent


_SIMULATOR: Simulator | None = None


def _init_worker(cfg: SceneConfig) -> None:
    global _SIMULATOR
    _SIMULATOR = Simulator(cfg)


def _run_block(job: tuple[int, int, str]) -> tuple[int, float, float]:
    start, stop, parts = job
    scenes = [_SIMULATOR.simulate(i) for i in range(start, stop)]
    _write_part(_part_path(Path(parts), start, stop), _SIMULATOR.cfg, scenes)
    return stop - start, sum(s.timings["brir"] for s in scenes), sum(s.timings["noise_bed"] for s in scenes)


def assemble(sources: list[Path], out: Path, attrs: dict, cfg: SceneConfig, expected: range) -> None:
    """Concatenate part files or shard banks (in scene order) into a complete bank at `out`."""
    handles = sorted((h5py.File(p, "r") for p in sources), key=lambda f: int(f["scene_index"][0]))
    try:
        order = np.concatenate([f["scene_index"][()] for f in handles])
        if not np.array_equal(order, np.arange(expected.start, expected.stop)):
            raise InputError(f"the pieces do not cover scenes {expected.start}..{expected.stop - 1} exactly once")
        tmp = out.with_name(out.name + ".tmp")
        with h5py.File(tmp, "w") as dst:
            dst.create_dataset("scene_index", data=order)
            create_datasets(dst, len(order), cfg)
            row = 0
            for src in handles:
                n = len(src["scene_index"])
                for name in ("brir", "noise_brir", "noise_bed"):
                    for i in range(n):  # chunk by chunk: memory stays at one scene
                        dst[name][row + i] = src[name][i]
                for name in META_COLUMNS:
                    dst["meta"][name][row: row + n] = src["meta"][name][()]
                row += n
            dst.attrs.update(attrs)
            dst.attrs["complete"] = True
    finally:
        for f in handles:
            f.close()
    os.replace(tmp, out)


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
        raise InputError(f"{out} exists and was made with a different config; remove it or choose another --out")
    return bool(old.get("complete"))


def simulate_bank(out: str | Path, cfg: SceneConfig, n_scenes: int, workers: int = 1,
                  shard: tuple[int, int] = (1, 1), progress: bool = True) -> dict:
    """Simulate scenes [shard range of n_scenes] into `out`. Returns a small summary dict."""
    out = Path(out)
    if n_scenes < 1:
        raise InputError("--n-scenes must be at least 1")
    lo, hi = shard_range(n_scenes, shard)
    # Build one simulator here: bad --hrtf / --engine / --noise-dir fail now, in this process,
    # rather than in pool initialisers (which a Pool would restart forever).
    simulator = Simulator(cfg)
    attrs = bank_attrs(cfg, simulator.hrtf.name, simulator.hrtf.sha256, shard, n_scenes)
    if _check_existing(out, attrs):
        return {"out": str(out), "scenes": hi - lo, "simulated": 0, "already_complete": True}

    parts = out.with_name(out.name + ".parts")
    stamp = parts / "run.json"
    run = {"config": cfg.to_json(), "shard": attrs["shard"], "n_scenes_total": n_scenes}
    if parts.exists() and stamp.exists() and json.loads(stamp.read_text()) != run:
        raise InputError(f"{parts} holds an interrupted run with a different config; remove it or use its arguments")
    parts.mkdir(parents=True, exist_ok=True)
    stamp.write_text(json.dumps(run))

    jobs = [(s, min(s + BLOCK, hi), str(parts)) for s in range(lo, hi, BLOCK)]
    todo = [j for j in jobs if not _part_path(parts, j[0], j[1]).exists()]
    timings = np.zeros(2)
    with _progress(progress, hi - lo, hi - lo - sum(j[1] - j[0] for j in todo)) as advance:
        if workers <= 1:
            global _SIMULATOR
            _SIMULATOR = simulator
            results = map(_run_block, todo)
            for n, t_brir, t_bed in results:
                timings += (t_brir, t_bed)
                advance(n)
        else:
            os.environ.setdefault("OMP_NUM_THREADS", "1")  # one core per worker
            with mp.get_context("spawn").Pool(workers, initializer=_init_worker, initargs=(cfg,)) as pool:
                for n, t_brir, t_bed in pool.imap_unordered(_run_block, todo):
                    timings += (t_brir, t_bed)
                    advance(n)
    assemble([_part_path(parts, j[0], j[1]) for j in jobs], out, attrs, cfg, range(lo, hi))
    shutil.rmtree(parts)
    return {"out": str(out), "scenes": hi - lo, "simulated": sum(j[1] - j[0] for j in todo),
            "already_complete": False, "brir_seconds": timings[0], "noise_bed_seconds": timings[1]}


class _progress:
    """A rich progress bar over scenes (or nothing), as a context manager yielding `advance(n)`."""

    def __init__(self, enabled: bool, total: int, done: int):
        self.enabled, self.total, self.done = enabled, total, done

    def __enter__(self):
        if not self.enabled:
            return lambda n: None
        from rich.progress import BarColumn, MofNCompleteColumn, Progress, TimeRemainingColumn

        self.bar = Progress("[progress.description]{task.description}", BarColumn(), MofNCompleteColumn(),
                            TimeRemainingColumn(), transient=False)
        self.bar.start()
        task = self.bar.add_task("simulating scenes", total=self.total, completed=self.done)
        return lambda n: self.bar.advance(task, n)

    def __exit__(self, *exc):
        if self.enabled:
            self.bar.stop()
        return False
