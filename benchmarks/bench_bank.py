"""The RIR bank at scale: the whole `simulate-rirs` command, BRIR synthesis against pyroomacoustics,
bytes per scene (format 1 vs 2) and read speed.

1. End to end: `wavjepa-nat simulate-rirs` (BRIRs, noise beds, measurements, writing, assembly) run as a
   subprocess with 2 workers at the defaults (RT60 0.2..1.5 s, 10 s beds), with --noise-sources 0..0 (the
   issue's command) and the default 0..5, with the default beds and with --beds none (no beds: the bank
   keeps the noise-source BRIRs, training makes the noise; bytes per scene beside). Scenes/s once
   started = (N - W) / (t(N) - t(W)) from W-scene
   and N-scene runs (medians of 3 each, alternating); the start-up cost (processes, imports, HRTF, assembly
   overhead) = t(W) - W / rate.
2. BRIR synthesis alone: our fast engine (spherical head, KEMAR) and pyroomacoustics' hybrid simulator
   (image sources of order 3 + ray tracing) with the MIT KEMAR SOFA file as microphone directivities,
   built once per worker and reused (heads face yaw 0 in every scene so that one directivity build
   serves all of them, for both engines). Same scenes, same two worker processes; the end-to-end
   scenes/s of step 1 is divided by the reference's BRIRs/s of this run.
3. Bytes per scene: the same scenes in format 1 (float32, full length) and the current format (the bank
   written: float16 responses cut at their decay floor, int16 beds).
4. Read speed: per clip, a BRIR head to its cut and a 10 s noise segment as float32 (RIRBank.brir_head,
   noise_bed), and the whole augmentation (bench_augment's numpy path: draw, gather, augment_batch), format 1
   vs the current format of the same scenes; `benchmarks/bench_augment.py --bank <bank>` gives the
   augmentation against audiomentations. The reader checks each stored row the first time a process reads
   it (checksum, finite, a BRIR not all zeros): the cost of a scene's first read is printed apart from later
   reads, and the augmentation both on banks opened afresh (a worker's first pass: rows checked as drawn) and
   on banks whose rows were all checked before.

    python benchmarks/bench_bank.py [--scenes 440 --warm 40] [--ref-scenes 20] [--workers 2]
    python benchmarks/bench_bank.py --only read --scenes 120 --noise-sources 0..5   # step 4 alone
"""

from __future__ import annotations

import argparse
import dataclasses
import multiprocessing as mp
import os
import time

import numpy as np

os.environ.setdefault("OMP_NUM_THREADS", "1")

_ENGINE = None
_CFG = None


def _init(cfg):
    global _ENGINE, _CFG
    from wavjepa_nat.scenes.brir import FastEngine
    from wavjepa_nat.scenes.hrtf import load_hrtf
    from wavjepa_nat.scenes.reference import ReferenceEngine

    _CFG = cfg
    _ENGINE = (
        ReferenceEngine(cfg) if cfg.engine == "reference" else FastEngine(cfg, load_hrtf(cfg.hrtf, cfg.fs))
    )
    if cfg.engine == "reference":
        _ENGINE.ears(0.0)  # the SOFA directivities, built once per worker


def _ready(_):
    return os.getpid()


def _scene(index):
    from wavjepa_nat.scenes.sampler import sample_scene

    spec = dataclasses.replace(sample_scene(_CFG, index), yaw_deg=0.0)
    # Same world positions relative to a head facing +x: recompute the head-frame azimuths.
    vec = spec.sources - spec.listener
    az = np.degrees(np.arctan2(vec[:, 1], vec[:, 0]))
    return dataclasses.replace(spec, azimuth_deg=az)


def _render(index):
    spec = _scene(index)
    t0 = time.perf_counter()
    brirs, _ = _ENGINE.render(spec, np.random.default_rng(index))
    return index, brirs, time.perf_counter() - t0


def _noise_bed(args):
    from wavjepa_nat.scenes.diffuse import stft_freqs
    from wavjepa_nat.scenes.noise import NoiseMaker

    index, noise_brirs = args
    power, coherence = _ENGINE.hrtf.diffuse_field(np.maximum(stft_freqs(_CFG.fs), 1.0))
    maker = NoiseMaker(_CFG.fs, _CFG.noise_bed_length, _CFG.noise_bed_rms_db, None, power, coherence)
    t0 = time.perf_counter()
    maker.bed(noise_brirs, np.random.default_rng(index))
    return time.perf_counter() - t0


def run_engine(cfg, scenes, workers, noise_beds=False):
    ctx = mp.get_context("spawn")
    t_setup = time.perf_counter()
    with ctx.Pool(workers, initializer=_init, initargs=(cfg,)) as pool:
        pool.map(_ready, range(workers * 4))
        setup = time.perf_counter() - t_setup
        t0 = time.perf_counter()
        results = pool.map(_render, scenes, chunksize=1)
        wall = time.perf_counter() - t0
        bed_wall = None
        if noise_beds:
            t1 = time.perf_counter()
            pool.map(_noise_bed, [(i, b[1:]) for i, b, _ in results], chunksize=1)
            bed_wall = time.perf_counter() - t1
    n_brirs = sum(len(b) for _, b, _ in results)
    per_brir = [t / len(b) for _, b, t in results]
    return {
        "brirs": {i: b for i, b, _ in results},
        "n_brirs": n_brirs,
        "wall": wall,
        "setup": setup,
        "per_brir_median": float(np.median(per_brir)),
        "bed_wall": bed_wall,
    }


def acoustics(cfg, brirs):
    from wavjepa_nat.scenes.acoustics import ild_db, itd_seconds, measure_rt60_mid, measure_t30

    rows = []
    for index, b in sorted(brirs.items()):
        spec = _scene_spec(cfg, index)
        h = b[0].astype(np.float64)
        peak = np.argmax(np.abs(h).sum(axis=0)) / cfg.fs  # direct sound, wherever each engine puts it
        rows.append(
            {
                "rt60_target": spec.room.rt60_target,
                "t_mid": float(np.mean(measure_rt60_mid(h, cfg.fs))),
                "t30_broadband": float(np.mean(measure_t30(h, cfg.fs))),
                "itd_ms": 1e3 * itd_seconds(h, cfg.fs, peak),
                "ild_db": ild_db(h, cfg.fs, peak),
            }
        )
    return rows


def _scene_spec(cfg, index):
    global _CFG
    _CFG = cfg
    return _scene(index)


def end_to_end(
    noise: str, n: int, warm: int, workers: int, out_dir: str, repeats: int = 3, beds: str = "builtin"
) -> dict:
    """The whole command, W and N scenes, alternating, `repeats` times each: scenes/s once started (from the
    median times), start-up seconds, bytes per scene. beds: simulate-rirs --beds (builtin or none)."""
    import subprocess
    import sys

    runs = {warm: [], n: []}
    for _ in range(repeats):
        for k in (warm, n):
            out = os.path.join(out_dir, f"e2e-{noise}-{beds}-{k}.h5")
            if os.path.exists(out):
                os.remove(out)
            cmd = [
                sys.executable,
                "-m",
                "wavjepa_nat.cli",
                "simulate-rirs",
                "--out",
                out,
                "--n-scenes",
                str(k),
                "--rt60",
                "0.2..1.5",
                "--noise-sources",
                noise,
                "--workers",
                str(workers),
                "--seed",
                "5",
                "--beds",
                beds,
                "--quiet",
            ]
            t0 = time.perf_counter()
            subprocess.run(cmd, check=True, capture_output=True)
            runs[k].append(time.perf_counter() - t0)
    times = {k: float(np.median(v)) for k, v in runs.items()}
    rate = (n - warm) / (times[n] - times[warm])
    bank = os.path.join(out_dir, f"e2e-{noise}-{beds}-{n}.h5")
    return {
        "rate": rate,
        "startup": times[warm] - warm / rate,
        "t_small": times[warm],
        "t_big": times[n],
        "bank": bank,
        "bytes": os.path.getsize(bank) / n,
    }


def read_speed(path: str, clips: int = 2000, repeats: int = 5) -> float:
    """Median microseconds per clip of what gather_scenes reads for a wet clip (cut cache warm)."""
    from wavjepa_nat.data.render import brir_taps
    from wavjepa_nat.dsp import loop_segment
    from wavjepa_nat.rir_bank import RIRBank

    bank = RIRBank(path)
    rng = np.random.default_rng(0)
    scenes = rng.integers(0, len(bank), clips)
    us = rng.random(clips)
    cut = {}
    for s in range(len(bank)):
        brir, taps = brir_taps(bank.brirs([s])[0], -60.0)
        cut[s] = brir.shape[-1]
    runs = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        for s, u in zip(scenes.tolist(), us.tolist()):
            brir = bank.brir_head(s, cut[s])
            noise = np.asarray(loop_segment(bank.noise_bed(s), u, 160000), np.float32)
        runs.append((time.perf_counter() - t0) / clips * 1e6)
    del brir, noise
    return float(np.median(runs))


def first_read_speed(path: str) -> tuple[float, float]:
    """Median microseconds per scene of a wet clip's reads (BRIR head to its cut, whole noise bed as float32)
    the first time a process reads the scene (its rows checked: checksum, finite, non-zero) and later."""
    from wavjepa_nat.data.render import brir_taps
    from wavjepa_nat.rir_bank import RIRBank

    cuts = RIRBank(path)  # a bank object of its own: its reads check nothing for `bank`
    cut = [brir_taps(cuts.brirs([s])[0], -60.0)[0].shape[-1] for s in range(len(cuts))]
    bank = RIRBank(path)
    runs = []
    for _ in range(2):  # first reads, then the same reads again
        times = []
        for s in range(len(bank)):
            t0 = time.perf_counter()
            bank.brir_head(s, cut[s]), bank.noise_bed(s)
            times.append((time.perf_counter() - t0) * 1e6)
        runs.append(float(np.median(times)))
    return runs[0], runs[1]


def augmentation_speed(
    paths: dict, n_clips: int = 48, repeats: int = 10, torch_loaded: bool = False, checked: bool = False
) -> dict:
    """The numpy augmentation of benchmarks/bench_augment.py (draw, gather from the bank, augment_batch; one
    process), crops/s per bank, the banks alternating within each repeat (each round a fresh augmenter: cut
    caches cold, as in a worker's first pass over a bank): medians, and the median of the paired ratios to the
    first bank. checked=False: each bank opened afresh every round (its rows checked as they are first read);
    True: each bank opened once and every row read (so checked) before the rounds: reading alone."""
    import bench_augment as ba

    from wavjepa_nat.data.augment import AugmentConfig, Augmenter, keep_freed_memory
    from wavjepa_nat.rir_bank import RIRBank

    if torch_loaded:
        import torch  # noqa: F401  (as in a training process: the reader then converts float16 with it)
    cfg_kw = {
        "clean_ratio": 0.0,
        "snr_db": (5.0, 40.0),
        "n_crops": 8,
        "crop_samples": 32160,
        "split": "train",
    }
    ba._STATE["clips"] = [ba.make_clips(n_clips)]
    rates = {name: [] for name in paths}
    banks = {name: RIRBank(path) for name, path in paths.items()} if checked else {}
    for bank in banks.values():
        for s in range(len(bank)):
            bank.brir_head(s, 1), bank.noise_bed_samples(s)
    for r in range(repeats + 1):
        for name, path in paths.items():
            if checked:
                keep_freed_memory()  # as ba._ours_init
                ba._STATE["aug"] = Augmenter(banks[name], AugmentConfig(**cfg_kw), ba.FS)
            else:
                ba._ours_init(path, cfg_kw)
            t0 = time.perf_counter()
            n = ba._ours_run((0, 100 + r))
            if r:  # the first round warms the page cache
                rates[name].append(n / (time.perf_counter() - t0))
    first = np.asarray(next(iter(rates.values())))
    out = {name: float(np.median(v)) for name, v in rates.items()}
    out["ratio"] = {name: float(np.median(np.asarray(v) / first)) for name, v in rates.items()}
    return out


def main():
    import tempfile

    from wavjepa_nat.rir_bank.format_1 import write_format_1
    from wavjepa_nat.rir_bank.schema import SCHEMA_VERSION
    from wavjepa_nat.scenes import SceneConfig

    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--scenes", type=int, default=440, help="scenes of the long end-to-end run")
    parser.add_argument("--warm", type=int, default=40, help="scenes of the short run (start-up subtracted)")
    parser.add_argument("--ref-scenes", type=int, default=20, help="scenes of the BRIR-only comparison")
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--noise-sources", default="0..0,0..5", help="settings for the end-to-end runs")
    parser.add_argument(
        "--beds",
        default="builtin,none",
        help="simulate-rirs --beds settings of the end-to-end runs (none: no beds, noise made at training)",
    )
    parser.add_argument(
        "--only",
        choices=("all", "read"),
        default="all",
        help="read: step 4 alone, on banks of --scenes scenes per --noise-sources setting",
    )
    args = parser.parse_args()
    print(
        f"{os.cpu_count()} cores, {args.workers} workers; load average {os.getloadavg()[0]:.1f} at the "
        f"start\n"
    )
    if args.only == "read":
        reading_only(args.scenes, args.noise_sources, args.workers)
        return

    with tempfile.TemporaryDirectory() as tmp:
        e2e, no_beds = {}, {}
        for beds in args.beds.split(","):
            for noise in args.noise_sources.split(","):
                r = end_to_end(noise, args.scenes, args.warm, args.workers, tmp, beds=beds)
                (e2e if beds == "builtin" else no_beds)[noise] = r
                print(
                    f"  done: simulate-rirs --noise-sources {noise} --beds {beds}: {r['rate']:.1f} scenes/s",
                    flush=True,
                )

        base = SceneConfig(rt60=(0.2, 1.5), noise_sources=(0, 0), scenes_per_room=1)
        scenes = list(range(args.ref_scenes))
        runs = {}
        for name, cfg in [
            ("fast + spherical head", dataclasses.replace(base, hrtf="spherical")),
            ("fast + KEMAR", dataclasses.replace(base, hrtf="kemar")),
            ("reference: pra hybrid + KEMAR", dataclasses.replace(base, hrtf="kemar", engine="reference")),
        ]:
            result = run_engine(cfg, scenes, args.workers)
            result["acoustics"] = acoustics(cfg, result["brirs"])
            runs[name] = result
            print(f"  done: {name}: {result['n_brirs'] / result['wall']:.1f} BRIRs/s", flush=True)
        ref = runs["reference: pra hybrid + KEMAR"]
        ref_rate = ref["n_brirs"] / ref["wall"]

        print(
            f"\n1. The whole command, {args.workers} workers, RT60 0.2..1.5 s, 10 s beds "
            f"({args.warm} and {args.scenes} scenes):"
        )
        print(
            f"{'--noise-sources':16s} {'--beds':8s} {'scenes/s':>9s} {'x pra BRIRs/s':>14s} "
            f"{'start-up s':>11s} {'t(W) s':>7s} {'t(N) s':>7s} {'MB/scene':>9s}"
        )
        rows = [(noise, "builtin", r) for noise, r in e2e.items()]
        rows += [(noise, "none", r) for noise, r in no_beds.items()]
        for noise, beds, r in rows:
            print(
                f"{noise:16s} {beds:8s} {r['rate']:9.1f} {r['rate'] / ref_rate:14.1f} {r['startup']:11.1f} "
                f"{r['t_small']:7.1f} {r['t_big']:7.1f} {r['bytes'] / 1e6:9.3f}"
            )
        print("Goal: >= 100 scenes/s and >= 40x pyroomacoustics hybrid + KEMAR (BRIRs/s, same run)")

        print(f"\n2. BRIR synthesis alone ({args.ref_scenes} scenes, one BRIR each):")
        print(
            f"{'engine':32s} {'BRIRs/s':>8s} {'x ref':>6s} {'ms/BRIR (median, 1 core)':>25s} "
            f"{'T_mid within 10%':>17s} {'broadband T30 within 10%':>25s} {'setup s':>8s}"
        )
        for name, r in runs.items():
            ac = r["acoustics"]
            tmid = np.mean([abs(a["t_mid"] / a["rt60_target"] - 1) <= 0.1 for a in ac])
            bb = np.mean([abs(a["t30_broadband"] / a["rt60_target"] - 1) <= 0.1 for a in ac])
            rate = r["n_brirs"] / r["wall"]
            print(
                f"{name:32s} {rate:8.1f} {rate / ref_rate:6.1f} {1e3 * r['per_brir_median']:25.1f} "
                f"{100 * tmid:16.0f}% {100 * bb:24.0f}% {r['setup']:8.1f}"
            )
        print(
            "Binaural cues of the target source, difference to the reference on the same scenes "
            "(median |difference|):"
        )
        for name in ("fast + spherical head", "fast + KEMAR"):
            a, b = runs[name]["acoustics"], ref["acoustics"]
            ditd = np.median([abs(x["itd_ms"] - y["itd_ms"]) for x, y in zip(a, b)])
            dild = np.median([abs(x["ild_db"] - y["ild_db"]) for x, y in zip(a, b)])
            print(f"  {name:24s} ITD {1e3 * ditd:6.0f} us   ILD (3-7 kHz) {dild:5.1f} dB")

        fmt = f"format {SCHEMA_VERSION}"
        print(f"\n3. Bytes per scene (same scenes), format 1 (float32, full length) -> {fmt} (this bank):")
        for noise, r in e2e.items():
            old = os.path.join(tmp, f"format1-{noise}.h5")
            write_format_1(r["bank"], old)
            r["old"] = old
            before = os.path.getsize(old) / args.scenes
            print(
                f"  --noise-sources {noise:6s} {before / 1e6:6.3f} MB -> {r['bytes'] / 1e6:6.3f} MB "
                f"({100 * r['bytes'] / before:.0f}%)"
            )

        reading({noise: (r["old"], r["bank"]) for noise, r in e2e.items()})


def reading(banks: dict) -> None:
    """Step 4 for {--noise-sources setting: (format-1 bank, current bank)} (same scenes)."""
    from wavjepa_nat.rir_bank.schema import SCHEMA_VERSION

    fmt = f"format {SCHEMA_VERSION}"
    # Every numpy-only run first: once imported, torch stays imported (and the reader then uses it).
    speeds = {
        (noise, torch_loaded, checked): augmentation_speed(
            {"format 1": old, fmt: new}, torch_loaded=torch_loaded, checked=checked
        )
        for torch_loaded in (False, True)
        for noise, (old, new) in banks.items()
        for checked in (False, True)
    }
    for noise, (old, new) in banks.items():
        t_old, t_new = read_speed(old), read_speed(new)
        first_old, later_old = first_read_speed(old)
        first_new, later_new = first_read_speed(new)
        print(f"\n4. Reading, --noise-sources {noise}, the same scenes in format 1 and {SCHEMA_VERSION}:")
        print(
            f"  per wet clip, BRIR head + 10 s noise segment (format 1: views of the mapped file; "
            f"{fmt}: decoded to float32): format 1 {t_old:.0f} us, {fmt} {t_new:.0f} us"
        )
        print(
            f"  per scene, BRIR head + whole noise bed as float32, first read in a process (rows checked: "
            f"checksum, finite, non-zero) / later reads: format 1 {first_old:.0f} / {later_old:.0f} us, "
            f"{fmt} {first_new:.0f} / {later_new:.0f} us"
        )
        for torch_loaded in (False, True):
            what = "torch imported, as in training workers" if torch_loaded else "numpy only"
            for checked in (False, True):
                when = "rows checked before" if checked else "banks opened afresh, rows checked as read"
                speed = speeds[(noise, torch_loaded, checked)]
                print(
                    f"  augmentation (bench_augment's numpy path, 1 process, {what}; {when}), crops/s: "
                    f"format 1 {speed['format 1']:.0f}, {fmt} {speed[fmt]:.0f} (paired median ratio "
                    f"{100 * speed['ratio'][fmt]:.0f}%)"
                )
    print("Goal: reading within 10% of format 1")


def reading_only(scenes: int, noise_sources: str, workers: int) -> None:
    """Step 4 alone, on banks made with `simulate-rirs` (--scenes scenes per --noise-sources setting)."""
    import subprocess
    import sys
    import tempfile

    from wavjepa_nat.rir_bank.format_1 import write_format_1

    with tempfile.TemporaryDirectory() as tmp:
        banks = {}
        for noise in noise_sources.split(","):
            new, old = os.path.join(tmp, f"bank-{noise}.h5"), os.path.join(tmp, f"format1-{noise}.h5")
            cmd = [sys.executable, "-m", "wavjepa_nat.cli", "simulate-rirs", "--out", new, "--n-scenes",
                   str(scenes), "--rt60", "0.2..1.5", "--noise-sources", noise, "--workers", str(workers),
                   "--seed", "5", "--quiet"]  # fmt: skip
            subprocess.run(cmd, check=True, capture_output=True)
            write_format_1(new, old)
            banks[noise] = (old, new)
        reading(banks)


if __name__ == "__main__":
    main()
