"""The training benchmarks' shared harness (bench_model.py, bench_teachers.py, bench_mixtures.py): the wall
time of full training steps, peak memory, each measurement in its own process, and the printed rows."""

from __future__ import annotations

import multiprocessing as mp
import resource
import statistics
import time

import torch

from wavjepa_nat.training.module import WavJEPAModule, ema_momentum_at


def train_step_times(module: WavJEPAModule, data: dict, steps: int, device: str, bf16: bool) -> list[float]:
    """Wall time of `steps` full training steps, what WavJEPAModule does per batch: targets, student +
    predictor forward/backward, clip, AdamW, EMA update. A first step warms up and is not reported."""
    opt = module.configure_optimizers()["optimizer"]
    times = []
    for i in range(steps + 1):
        if device == "cuda":
            torch.cuda.synchronize()
        t0 = time.perf_counter()
        with torch.autocast(device, dtype=torch.bfloat16, enabled=bf16):
            loss, _ = module.model(data)
        loss.backward()
        module.configure_gradient_clipping(opt)
        opt.step()
        opt.zero_grad(set_to_none=True)
        module.model.ema_update(ema_momentum_at(i, module.cfg))
        if device == "cuda":
            torch.cuda.synchronize()
        if i > 0:
            times.append(time.perf_counter() - t0)
    return times


class PeakMemory:
    """Peak memory (MiB) from its creation on: CUDA max_memory_allocated, or on CPU the process's peak RSS
    minus its peak RSS at creation (so each measurement runs in a process of its own: in_own_process)."""

    def __init__(self, device: str):
        self.device = device
        self.rss_before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
        if device == "cuda":
            torch.cuda.reset_peak_memory_stats()

    def mib(self) -> float:
        if self.device == "cuda":
            return torch.cuda.max_memory_allocated() / 2**20
        return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024 - self.rss_before


def devices(no_cpu: bool) -> list[str]:
    """cpu (unless no_cpu), then cuda where there is one."""
    return ([] if no_cpu else ["cpu"]) + (["cuda"] if torch.cuda.is_available() else [])


def against(step: float, peak: float, base: tuple[float, float] | None) -> tuple[float, float]:
    """Step time and peak memory over the baseline's (step, peak); nan without one (or a zero peak)."""
    return (
        step / base[0] if base else float("nan"),
        peak / base[1] if base and base[1] > 0 else float("nan"),
    )


def in_own_process(target, *args):
    """target(*args, queue) in a spawned process; what it puts on the queue."""
    ctx = mp.get_context("spawn")
    queue = ctx.Queue()
    proc = ctx.Process(target=target, args=(*args, queue))
    proc.start()
    result = queue.get()
    proc.join()
    return result


def median_seconds(job, repeats: int) -> float:
    """Median wall time of job() over `repeats` calls."""
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        job()
        times.append(time.perf_counter() - t0)
    return statistics.median(times)


def print_row(row: dict) -> None:
    print({k: (round(v, 4) if isinstance(v, float) else v) for k, v in row.items()}, flush=True)


def print_table(rows: list[dict]) -> None:
    """The rows as a ' | ' table, floats to 4 significant digits, '-' where a row lacks a column."""
    keys = list(dict.fromkeys(k for r in rows for k in r))
    print("\n" + " | ".join(keys))
    for r in rows:
        print(" | ".join(f"{r[k]:.4g}" if isinstance(r.get(k), float) else str(r.get(k, "-")) for k in keys))
