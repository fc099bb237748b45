"""BRIR synthesis speed and acoustic agreement: our fast engine vs pyroomacoustics' binaural path.

Reference: pyroomacoustics' hybrid simulator (image sources of order 3 + ray tracing) with the
MIT KEMAR SOFA file as microphone directivities, built once per worker and reused (heads face
yaw 0 in every scene so that one directivity build serves all of them, for both engines).
Same scenes, same two worker processes. BRIR synthesis is timed apart from noise-bed rendering.

    python benchmarks/bench_bank.py [--scenes 20] [--workers 2]
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
    _ENGINE = ReferenceEngine(cfg) if cfg.engine == "reference" else FastEngine(cfg, load_hrtf(cfg.hrtf, cfg.fs))
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
    return {"brirs": {i: b for i, b, _ in results}, "n_brirs": n_brirs, "wall": wall, "setup": setup,
            "per_brir_median": float(np.median(per_brir)), "bed_wall": bed_wall}


def acoustics(cfg, brirs):
    from wavjepa_nat.scenes.acoustics import ild_db, itd_seconds, measure_rt60_mid, measure_t30

    rows = []
    for index, b in sorted(brirs.items()):
        spec = _scene_spec(cfg, index)
        h = b[0].astype(np.float64)
        peak = np.argmax(np.abs(h).sum(axis=0)) / cfg.fs  # direct sound, wherever each engine puts it
        rows.append({
            "rt60_target": spec.room.rt60_target,
            "t_mid": float(np.mean(measure_rt60_mid(h, cfg.fs))),
            "t30_broadband": float(np.mean(measure_t30(h, cfg.fs))),
            "itd_ms": 1e3 * itd_seconds(h, cfg.fs, peak),
            "ild_db": ild_db(h, cfg.fs, peak),
        })
    return rows


def _scene_spec(cfg, index):
    global _CFG
    _CFG = cfg
    return _scene(index)


def main():
    from wavjepa_nat.scenes import SceneConfig

    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--scenes", type=int, default=20)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--noise-sources", default="0..2")
    args = parser.parse_args()
    lo, hi = (int(x) for x in args.noise_sources.split(".."))
    base = SceneConfig(rt60=(0.2, 1.5), noise_sources=(lo, hi), scenes_per_room=1)
    scenes = list(range(args.scenes))
    print(f"{args.scenes} scenes (one room each, RT60 0.2..1.5 s, {lo}..{hi} noise sources), "
          f"{args.workers} workers, {os.cpu_count()} cores\n")

    runs = {}
    for name, cfg, beds in [
        ("fast + spherical head", dataclasses.replace(base, hrtf="spherical"), True),
        ("fast + KEMAR", dataclasses.replace(base, hrtf="kemar"), False),
        ("reference: pra hybrid + KEMAR", dataclasses.replace(base, hrtf="kemar", engine="reference"), False),
    ]:
        result = run_engine(cfg, scenes, args.workers, noise_beds=beds)
        result["acoustics"] = acoustics(cfg, result["brirs"])
        runs[name] = result
        print(f"  done: {name}: {result['n_brirs'] / result['wall']:.1f} BRIRs/s", flush=True)

    ref = runs["reference: pra hybrid + KEMAR"]
    ref_rate = ref["n_brirs"] / ref["wall"]
    print(f"\n{'engine':32s} {'BRIRs/s':>8s} {'x ref':>6s} {'ms/BRIR (median, 1 core)':>25s} "
          f"{'T_mid within 10%':>17s} {'broadband T30 within 10%':>25s} {'setup s':>8s}")
    for name, r in runs.items():
        ac = r["acoustics"]
        tmid = np.mean([abs(a["t_mid"] / a["rt60_target"] - 1) <= 0.1 for a in ac])
        bb = np.mean([abs(a["t30_broadband"] / a["rt60_target"] - 1) <= 0.1 for a in ac])
        rate = r["n_brirs"] / r["wall"]
        print(f"{name:32s} {rate:8.1f} {rate / ref_rate:6.1f} {1e3 * r['per_brir_median']:25.1f} "
              f"{100 * tmid:16.0f}% {100 * bb:24.0f}% {r['setup']:8.1f}")

    print("\nBinaural cues of the target source, difference to the reference on the same scenes "
          "(median |difference|):")
    for name in ("fast + spherical head", "fast + KEMAR"):
        a, b = runs[name]["acoustics"], ref["acoustics"]
        ditd = np.median([abs(x["itd_ms"] - y["itd_ms"]) for x, y in zip(a, b)])
        dild = np.median([abs(x["ild_db"] - y["ild_db"]) for x, y in zip(a, b)])
        print(f"  {name:24s} ITD {1e3 * ditd:6.0f} us   ILD (3-7 kHz) {dild:5.1f} dB")

    fast = runs["fast + spherical head"]
    n_scenes = len(scenes)
    print(f"\nNoise beds ({base.noise_bed_seconds:.0f} s, binaural, separately from BRIRs): "
          f"{n_scenes / fast['bed_wall']:.1f} beds/s with {args.workers} workers")
    print(f"Goal: >= 50 BRIRs/s with 2 workers and >= 12x the reference: fast+spherical "
          f"{fast['n_brirs'] / fast['wall']:.1f} BRIRs/s, {fast['n_brirs'] / fast['wall'] / ref_rate:.1f}x")


if __name__ == "__main__":
    main()
