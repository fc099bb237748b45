"""Throughput of the naturalistic augmentation, in 2.01 s crops per second after decoding.

Same 10 s clips, same BRIRs, same noise, same number of crops for every contender:
- ours, numpy path (data.augment), in 1 and 2 worker processes, as a DataLoader worker runs it (draw, gather
  from the HDF5 bank, augment_batch; glibc told to keep freed memory, as data.dataset does in its workers);
- audiomentations (ApplyImpulseResponse + AddBackgroundNoise) given the same BRIRs and noise beds as wav
  files in a temp dir, in 1 and 2 processes. AddBackgroundNoise is mono-only, so it runs once per ear with
  frozen parameters (same offset and SNR on both ears of the scene's noise bed). Its IR files stay in its
  own LRU cache (128 files), so with this 16-scene bank it never rereads a BRIR, while ours reads every
  BRIR and noise bed from the bank file, as training does (rows of the memory-mapped HDF5 file; the
  BRIR cut point of a scene is remembered after its first read); audiomentations reads each noise
  segment from its wav file (soundfile). Both read from the OS page cache;
- "audiomentations, same allocator": the same, with the glibc setting that our workers use, so that the
  ratio shows what is algorithmic (it renders the whole clip; we render only the samples the crops cover);
- ours, batched torch path (data.augment_torch) on the CPU, and on CUDA when available
  (torch-audiomentations is compared on CUDA when importable).
Both sides then cut the same crops and instance-normalise them, so the crop count is equal.
--profile adds the per-clip time of each step of ours (one process, medians).
- ours with `train --noise DIR` (noise made per clip: a corpus recording through the scene's noise sources
  plus the diffuse part) beside ours with the bank's beds, numpy in 1 and 2 workers and torch (the convolution
  on the device, as --augment-on gpu): --noise-corpus DIR, or a synthetic WHAM!-layout corpus (10 s files).

    python benchmarks/bench_augment.py                  # simulates a 16-scene bank into a temp dir
    python benchmarks/bench_augment.py --bank bank.h5   # scenes read from an RIR bank (HDF5)
"""

from __future__ import annotations

import argparse
import importlib.util
import multiprocessing as mp
import os
import random
import statistics
import tempfile
import time
from pathlib import Path

import numpy as np
import soundfile as sf

FS = 16000
CLIP_S = 10 * FS


# ---------------------------------------------------------------- shared inputs


def make_clips(n, seed=1):
    """Dry 10 s clips at -14 dBFS RMS: noise bursts and tones, as after prepare_clip."""
    rng = np.random.default_rng(seed)
    t = np.arange(CLIP_S) / FS
    clips = []
    for _ in range(n):
        x = np.sin(2 * np.pi * rng.uniform(100, 2000) * t) * (rng.random(CLIP_S) < 0.7)
        x = x + 0.3 * rng.standard_normal(CLIP_S)
        clips.append((x / np.sqrt(np.mean(x**2)) * 10 ** (-14 / 20)).astype(np.float32))
    return np.stack(clips)


def open_bank(path):
    from wavjepa_nat.rir_bank import RIRBank

    return RIRBank(path)


def make_bank(path: Path, n_scenes: int) -> Path:
    """A small bank with the default scene distribution (RT60 0.2-1.5 s, up to 5 noise sources)."""
    from wavjepa_nat.rir_bank import simulate_bank
    from wavjepa_nat.scenes import SceneConfig

    simulate_bank(path, SceneConfig(scenes_per_room=1), n_scenes, workers=1, progress=False)
    return path


# ---------------------------------------------------------------- contenders (one process each)

_STATE: dict = {}


def _ours_init(bank_path, cfg_kw):
    from wavjepa_nat.data.augment import AugmentConfig, Augmenter, keep_freed_memory

    keep_freed_memory()  # as NaturalisticCrops does in every DataLoader worker
    bank = open_bank(bank_path)
    _STATE["aug"] = Augmenter(bank, AugmentConfig(**cfg_kw), FS)


def make_noise_corpus(root: Path, n_files: int = 8) -> Path:
    """A WHAM!-layout corpus of two-channel 10 s noise files (tr/ only: training reads its train split)."""
    (root / "tr").mkdir(parents=True)
    rng = np.random.default_rng(4)
    for i in range(n_files):
        sf.write(root / "tr" / f"n{i}.wav", 0.1 * rng.standard_normal((CLIP_S, 2)).astype(np.float32), FS)
    return root


def _ours_run(args):
    from wavjepa_nat.data.augment import augment_batch
    from wavjepa_nat.dsp import clip_rng

    idx, seed = args
    clips = _STATE["clips"][idx]  # decoded clips live in the worker (inherited at fork), as after decoding
    aug = _STATE["aug"]
    n = 0
    for k, dry in enumerate(clips):
        rng = clip_rng(seed, k)
        draws = aug.draw(rng, 1, CLIP_S)
        n += len(augment_batch(dry[None], draws, aug.gather(draws, CLIP_S), aug.cfg))
    return n


def _am_init(ir_dir, noise_dir, cfg_kw):
    from audiomentations import AddBackgroundNoise, ApplyImpulseResponse

    _STATE["ir"] = ApplyImpulseResponse(ir_path=ir_dir, p=1.0, leave_length_unchanged=True)
    lo, hi = cfg_kw["snr_db"]
    _STATE["noise"] = AddBackgroundNoise(sounds_path=noise_dir, min_snr_db=lo, max_snr_db=hi, p=1.0)
    _STATE["cfg"] = cfg_kw


def _am_alloc_init(ir_dir, noise_dir, cfg_kw):
    from wavjepa_nat.data.augment import keep_freed_memory

    keep_freed_memory()
    _am_init(ir_dir, noise_dir, cfg_kw)


def _am_run(args):
    from wavjepa_nat.data.crops import take_crops
    from wavjepa_nat.dsp import instance_norm

    idx, seed = args
    clips = _STATE["clips"][idx]
    random.seed(seed)
    rng = np.random.default_rng(seed)
    ir, bn, cfg = _STATE["ir"], _STATE["noise"], _STATE["cfg"]
    left_files = [p for p in bn.sound_file_paths if p.endswith("_L.wav")]
    n = 0
    for dry in clips:
        wet = ir(np.stack([dry, dry]), FS)  # one stereo BRIR file, channel-wise convolution
        bn.randomize_parameters(wet[0], FS)
        left = random.choice(left_files)
        out = np.empty_like(wet)
        for ear, path in enumerate((left, left.replace("_L.wav", "_R.wav"))):
            bn.parameters["noise_file_path"] = path  # same scene, offset and SNR on both ears
            bn.freeze_parameters()
            out[ear] = bn(wet[ear], FS)
            bn.unfreeze_parameters()
        offsets = rng.integers(0, CLIP_S - cfg["crop_samples"] + 1, size=cfg["n_crops"])
        n += len(instance_norm(take_crops(out, offsets, cfg["crop_samples"])))
    return n


def _pools_time(contenders, clips, workers, repeats):
    """Median crops/s per contender. Contenders alternate within every repeat, so that the load of other
    processes on this shared machine hits them alike; each repeat splits the clips over `workers`
    processes."""
    _STATE["clips"] = clips  # forked workers inherit them: only indices cross the pipe
    chunks = [np.arange(i, len(clips), workers) for i in range(workers)]
    ctx = mp.get_context("fork")
    pools = {
        name: ctx.Pool(workers, initializer=init, initargs=initargs)
        for name, (init, initargs, _) in contenders.items()
    }
    rates = {name: [] for name in contenders}
    try:
        for name, (_, _, run) in contenders.items():
            pools[name].map(run, [(c[:1], 99) for c in chunks])  # warm-up: imports, caches, FFT plans
        for r in range(repeats):
            for name, (_, _, run) in contenders.items():
                start = time.perf_counter()
                n = sum(pools[name].map(run, [(c, 1000 * r + w) for w, c in enumerate(chunks)]))
                rates[name].append(n / (time.perf_counter() - start))
    finally:
        for pool in pools.values():
            pool.terminate()
    return {name: statistics.median(v) for name, v in rates.items()}, rates


def _torch_time(bank, clips, cfg_kw, device, batch, repeats):
    """Median crops/s of the torch arithmetic (inputs read beforehand; per-clip noise in parts, made on the
    device, as --augment-on gpu does)."""
    import torch

    from wavjepa_nat.data.augment import AugmentConfig, Augmenter
    from wavjepa_nat.data.augment_torch import NaturalisticAugment, to_torch_batch

    cfg = AugmentConfig(**cfg_kw)
    aug = Augmenter(bank, cfg, FS)
    module = NaturalisticAugment(cfg)
    rng = np.random.default_rng(0)
    batch = min(batch, len(clips))
    batches = []
    for i in range(0, len(clips) - batch + 1, batch):
        draws = aug.draw(rng, batch, CLIP_S)
        inputs = aug.gather(draws, CLIP_S, noise_parts=True)  # parts only where noise is made per clip
        batches.append(to_torch_batch(clips[i : i + batch], draws, inputs))
    # Inputs are moved to the device outside the timing: in training they arrive with the batch.
    batches = [{k: v.to(device) for k, v in b.items()} for b in batches]
    sync = torch.cuda.synchronize if device == "cuda" else (lambda: None)
    module(batches[0])
    sync()
    rates = []
    for _ in range(repeats):
        start = time.perf_counter()
        n = sum(module(b).shape[0] for b in batches)
        sync()
        rates.append(n / (time.perf_counter() - start))
    return statistics.median(rates), rates


def _torch_audiomentations_time(clips, bank, cfg_kw, batch, repeats):
    import torch
    import torch_audiomentations as ta

    from wavjepa_nat.data.augment_torch import instance_norm_torch, take_crops_torch

    with tempfile.TemporaryDirectory() as tmp:
        ir_dir, noise_dir = _write_files(bank, Path(tmp))
        lo, hi = cfg_kw["snr_db"]
        tf = ta.Compose(
            [
                ta.ApplyImpulseResponse(ir_paths=str(ir_dir), p=1.0, compensate_for_propagation_delay=True),
                ta.AddBackgroundNoise(
                    background_paths=str(noise_dir), min_snr_in_db=lo, max_snr_in_db=hi, p=1.0
                ),
            ],
            output_type="tensor",
        ).cuda()
        x = torch.from_numpy(clips[:batch]).cuda()[:, None].expand(-1, 2, -1).contiguous()
        offsets = torch.randint(
            0, CLIP_S - cfg_kw["crop_samples"] + 1, (batch, cfg_kw["n_crops"]), device="cuda"
        )
        tf(x, sample_rate=FS)
        torch.cuda.synchronize()
        rates = []
        for _ in range(repeats):
            start = time.perf_counter()
            n = 0
            for _ in range(len(clips) // batch):
                y = tf(x, sample_rate=FS)
                n += instance_norm_torch(take_crops_torch(y, offsets, cfg_kw["crop_samples"])).shape[0]
            torch.cuda.synchronize()
            rates.append(n / (time.perf_counter() - start))
    return statistics.median(rates), rates


def _write_files(bank, root: Path):
    """Every scene's BRIR as a stereo wav and its noise bed as two mono wavs (AddBackgroundNoise is mono)."""
    ir_dir, noise_dir = root / "ir", root / "noise"
    ir_dir.mkdir()
    noise_dir.mkdir()
    for i in bank.select(split="train"):
        scene = bank[int(i)]
        sf.write(ir_dir / f"scene{i:04d}.wav", np.asarray(scene.brir).T, FS, subtype="FLOAT")
        bed = np.asarray(scene.noise_bed)
        sf.write(noise_dir / f"scene{i:04d}_L.wav", bed[0], FS, subtype="FLOAT")
        sf.write(noise_dir / f"scene{i:04d}_R.wav", bed[1], FS, subtype="FLOAT")
    return ir_dir, noise_dir


def _profile(bank_path, clips, cfg_kw, repeats):
    """Median ms per clip of each step of ours, in this process, as augment_clip runs them (wet clips)."""
    from wavjepa_nat.data.augment import (
        AugmentConfig,
        Augmenter,
        augment_batch,
        crop_spans,
        keep_freed_memory,
    )
    from wavjepa_nat.data.crops import take_crops
    from wavjepa_nat.dsp import clip_rng, convolve_spans, instance_norm, mix_at_snr

    keep_freed_memory()
    cfg = AugmentConfig(**cfg_kw)
    aug = Augmenter(open_bank(bank_path), cfg, FS)
    steps = {
        k: [] for k in ("draw", "gather", "convolution", "noise+mix", "crops+norm", "all (augment_batch)")
    }
    t = time.perf_counter
    for r in range(repeats + 2):
        for k, dry in enumerate(clips):
            t0 = t()
            draws = aug.draw(clip_rng(r, k), 1, CLIP_S)
            t1 = t()
            inputs = aug.gather(draws, CLIP_S)
            t2 = t()
            spans = crop_spans(draws.crop_offsets[0], cfg.crop_samples)
            h = inputs.brir[0][:, : int(inputs.taps[0])]
            wet = convolve_spans(dry, h, spans, int(inputs.delay[0]), trim=False)
            t3 = t()
            noise = np.concatenate([inputs.noise[0][:, a:b] for a, b in spans.tolist()], axis=-1)
            audio = mix_at_snr(wet, noise, float(draws.snr_db[0]))
            t4 = t()
            base = np.concatenate([[0], np.cumsum(spans[:, 1] - spans[:, 0])[:-1]])
            which = np.searchsorted(spans[:, 0], draws.crop_offsets[0], side="right") - 1
            crops = take_crops(audio, draws.crop_offsets[0] - spans[which, 0] + base[which], cfg.crop_samples)
            instance_norm(crops, cfg.norm_eps, out=crops)
            t5 = t()
            augment_batch(dry[None], draws, inputs, cfg)
            t6 = t()
            if r >= 2:  # the first passes fill the BRIR cut cache and warm the page cache
                for name, dt in zip(steps, (t1 - t0, t2 - t1, t3 - t2, t4 - t3, t5 - t4, t6 - t5 + t2 - t0)):
                    steps[name].append(1e3 * dt)
    return {name: statistics.median(v) for name, v in steps.items()}


# ---------------------------------------------------------------- main


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument(
        "--bank", default=None, help="RIR bank (HDF5); default: simulate 16 scenes into a temp dir"
    )
    ap.add_argument(
        "--clips",
        type=int,
        default=48,
        help="10 s clips per repeat (with few, the 2-worker figure is mostly pool overhead)",
    )
    ap.add_argument("--repeats", type=int, default=9)
    ap.add_argument("--workers", default="1,2")
    ap.add_argument("--batch", type=int, default=8, help="clips per batch for the torch path")
    ap.add_argument(
        "--profile", action="store_true", help="also print the per-clip time of each step of ours"
    )
    ap.add_argument(
        "--noise-corpus",
        default="synthetic",
        help="noise corpus for the --noise DIR rows (its train split); 'synthetic': 8 files made here; "
        "'none': skip those rows",
    )
    args = ap.parse_args()
    if importlib.util.find_spec("audiomentations") is None:  # else its pool workers die and respawn for ever
        raise SystemExit("bench_augment needs audiomentations, its reference: pip install -e '.[bench]'")
    os.environ.setdefault("OMP_NUM_THREADS", "1")  # one thread per worker process, as in DataLoader workers

    cfg_kw = {
        "clean_ratio": 0.0,
        "snr_db": (5.0, 40.0),
        "n_crops": 8,
        "crop_samples": 32160,
        "split": "train",
    }
    clips = make_clips(args.clips)
    with tempfile.TemporaryDirectory() as tmp:
        bank_path = args.bank or str(make_bank(Path(tmp) / "bank.h5", 16))
        bank = open_bank(bank_path)
        print(
            f"{args.clips} clips x 10 s -> {args.clips * 8} crops of 2.01 s per repeat; "
            f"{len(bank)} scenes, "
            f"BRIR {bank.brir_length / FS:.2f} s, noise bed {bank.noise_bed_length / FS:.1f} s; "
            f"median of {args.repeats} repeats; {os.cpu_count()} CPUs (shared)"
        )
        ir_dir, noise_dir = _write_files(bank, Path(tmp))
        if args.profile:
            prof = _profile(bank_path, clips, cfg_kw, args.repeats * 3)
            print("  ours, ms per clip: " + ", ".join(f"{k} {v:.2f}" for k, v in prof.items()))
        corpus_kw = None
        if args.noise_corpus != "none":
            corpus = args.noise_corpus
            if corpus == "synthetic":
                corpus = str(make_noise_corpus(Path(tmp) / "wham_noise"))
            corpus_kw = dict(cfg_kw, noise="corpus", noise_corpus=corpus)
        contenders = {
            "ours": (_ours_init, (bank_path, cfg_kw), _ours_run),
            "audiomentations": (_am_init, (str(ir_dir), str(noise_dir), cfg_kw), _am_run),
            "am_alloc": (_am_alloc_init, (str(ir_dir), str(noise_dir), cfg_kw), _am_run),
        }
        if corpus_kw is not None:
            contenders["ours_noise_dir"] = (_ours_init, (bank_path, corpus_kw), _ours_run)
        results = {}
        for w in [int(v) for v in args.workers.split(",")]:
            med, rates = _pools_time(contenders, clips, w, args.repeats)
            paired = {
                k: statistics.median(o / a for o, a in zip(rates["ours"], rates[k]))
                for k in ("audiomentations", "am_alloc")
            }
            results[w] = paired
            print(
                f"  {w} worker(s): ours numpy {med['ours']:7.1f} crops/s | audiomentations "
                f"{med['audiomentations']:7.1f} crops/s, ratio {paired['audiomentations']:5.2f}x | "
                f"audiomentations, same allocator {med['am_alloc']:7.1f} crops/s, ratio "
                f"{paired['am_alloc']:5.2f}x (medians of paired repeats)"
            )
            if corpus_kw is not None:
                ratio = statistics.median(o / a for o, a in zip(rates["ours_noise_dir"], rates["ours"]))
                print(
                    f"  {w} worker(s): ours numpy --noise DIR {med['ours_noise_dir']:7.1f} crops/s vs "
                    f"--noise bank {med['ours']:7.1f} crops/s: {100 * ratio:.0f}% (median of paired repeats)"
                )

        import torch

        torch.set_num_threads(min(2, os.cpu_count() or 1))
        t_cpu, _ = _torch_time(bank, clips, cfg_kw, "cpu", args.batch, args.repeats)
        print(
            f"  torch path, CPU ({torch.get_num_threads()} threads, batch {min(args.batch, len(clips))}): "
            f"{t_cpu:7.1f} crops/s"
        )
        if corpus_kw is not None:
            t_dir, _ = _torch_time(bank, clips, corpus_kw, "cpu", args.batch, args.repeats)
            print(f"  torch path, CPU, --noise DIR (noise convolved in torch): {t_dir:7.1f} crops/s")
        if torch.cuda.is_available():
            big = make_clips(64, seed=2)
            t_gpu, _ = _torch_time(bank, big, cfg_kw, "cuda", 16, args.repeats)
            print(f"  torch path, CUDA ({torch.cuda.get_device_name()}, batch 16): {t_gpu:8.1f} crops/s")
            if corpus_kw is not None:
                t_dir, _ = _torch_time(bank, big, corpus_kw, "cuda", 16, args.repeats)
                print(f"  torch path, CUDA, --noise DIR: {t_dir:8.1f} crops/s")
            try:
                import torch_audiomentations  # noqa: F401

                t_ta, _ = _torch_audiomentations_time(big, bank, cfg_kw, 16, args.repeats)
                print(
                    f"  torch-audiomentations, CUDA (batch 16): {t_ta:8.1f} crops/s | "
                    f"ratio {t_gpu / t_ta:5.2f}x"
                )
            except ImportError:
                print("  torch-audiomentations is not installed: CUDA comparison skipped")
        else:
            print("  CUDA not available: GPU timings skipped")
    for w, ratio in results.items():
        print(
            f"ratio ours / audiomentations, {w} worker(s): {ratio['audiomentations']:.2f}x "
            f"(same allocator: {ratio['am_alloc']:.2f}x; goal >= 3x)"
        )


if __name__ == "__main__":
    main()
