"""Mixture training benchmark (issue 20): teacher forward passes per step, step time and peak memory of
`train --mix-prob P` with each --mix-target, against P = 0 (today's training) in the same run, per preset.

    python benchmarks/bench_mixtures.py                                  # tiny and small, CPU (+ CUDA)
    python benchmarks/bench_mixtures.py --presets small --cuda-batch 64 --cuda-steps 20 --mix-prob 0.5

Variants: p0 (no mixtures), mixture (the teacher encodes the mixture: one pass, as p0), retention (the
teacher encodes each source alone: 1 + P * (mean K - 1) crops per crop on average). Which clips are
mixtures and their K come from data.mixtures.draw_mixtures, as in training. One step = what
WavJEPAModule does per batch (targets, student + predictor forward/backward, clip, AdamW, EMA update). Each
variant runs in its own process: CPU peak = peak RSS minus the RSS before the model was built; CUDA peak =
max_memory_allocated. The data side (a 10 s clip's 8 crops, with K sources and the retention views, against
one source) is timed separately per clip. Random weights and audio: the costs, not the quality.
"""

from __future__ import annotations

import argparse
import statistics

import numpy as np
import torch
from timing import (
    PeakMemory,
    against,
    devices,
    in_own_process,
    median_seconds,
    print_row,
    print_table,
    train_step_times,
)

from wavjepa_nat.data.augment import AugmentConfig, augment_clip
from wavjepa_nat.data.mixtures import MixConfig, MixInputs, draw_mixtures, mixture_crops
from wavjepa_nat.nat_model.config import ModelConfig, get_preset
from wavjepa_nat.nat_model.masks import MaskCollator
from wavjepa_nat.training.module import WavJEPAModule

VARIANTS = ("p0", "mixture", "retention")


def make_batch(cfg: ModelConfig, clips: int, n_crops: int, variant: str, mix: MixConfig, seed: int = 0):
    """(batch, teacher crops encoded per student crop)."""
    gen = torch.Generator().manual_seed(seed)
    batch = clips * n_crops
    data = {
        "audio": torch.randn(batch, cfg.channels, cfg.crop_samples, generator=gen),
        **MaskCollator(cfg, seed=seed).masks(batch, cfg.crop_samples, gen),
    }
    if variant != "retention":
        return data, 1.0
    draws = draw_mixtures(np.random.default_rng(seed), clips, mix)
    k = np.where(draws.is_mix, draws.n_sources, 1)
    slots = mix.sources[1]
    weight = (np.arange(slots)[None] < k[:, None]) / k[:, None]
    weight = torch.from_numpy(np.repeat(weight, n_crops, axis=0).astype(np.float32))
    data["source_audio"] = torch.randn(batch, slots, cfg.channels, cfg.crop_samples, generator=gen)
    data["source_weight"] = weight
    return data, float((weight > 0).sum()) / batch


def run_variant(preset, variant, channels, clips, n_crops, steps, device, mix, out) -> None:
    """In a child process: (median step s, peak MiB, teacher passes per step) -> out queue."""
    cfg = get_preset(preset, channels=channels)
    torch.manual_seed(0)
    memory = PeakMemory(device)
    module = WavJEPAModule(cfg).to(device)
    batch, passes = make_batch(cfg, clips, n_crops, variant, mix)
    data = {k: v.to(device) for k, v in batch.items()}
    times = train_step_times(module, data, steps, device, bf16=device == "cuda")
    out.put((statistics.median(times), memory.mib(), passes))


def data_cost(channels: int, k: int, repeats: int = 3) -> tuple[float, float]:
    """Median seconds per 10 s clip (8 crops): one source (augment_clip), and K sources with the retention
    views (mixture_crops)."""
    rng = np.random.default_rng(0)
    n, cfg, length = 160_000, AugmentConfig(channels=channels), 8000
    decay = np.exp(-np.arange(length) / 1600.0)
    dry = rng.standard_normal(n).astype(np.float32)
    brir = (rng.standard_normal((2, length)) * decay).astype(np.float32)
    noise = rng.standard_normal((2, n)).astype(np.float32)
    offsets = rng.integers(0, n - cfg.crop_samples, cfg.n_crops)
    mix = MixInputs(
        dry=rng.standard_normal((k - 1, n)).astype(np.float32),
        brir=(rng.standard_normal((k - 1, 2, length)) * decay).astype(np.float32),
        taps=np.full(k - 1, length, np.int64),
        on=np.ones(k - 1, bool),
        tir_db=np.full(k - 1, 6.0),
    )
    one = median_seconds(lambda: augment_clip(dry, False, brir, noise, 10.0, 40, offsets, cfg), repeats)
    many = median_seconds(
        lambda: mixture_crops(dry, False, brir, noise, 10.0, 40, offsets, cfg, length, mix, "same"), repeats
    )
    return one, many


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--presets", nargs="+", default=["tiny", "small"])
    ap.add_argument("--variants", nargs="+", default=list(VARIANTS), choices=VARIANTS)
    ap.add_argument("--mix-prob", type=float, default=0.5)
    ap.add_argument("--mix-sources", type=int, nargs=2, default=(2, 3))
    ap.add_argument("--channels", type=int, default=2)
    ap.add_argument("--n-crops", type=int, default=8)
    ap.add_argument("--cpu-clips", type=int, default=1)
    ap.add_argument("--cpu-steps", type=int, default=3)
    ap.add_argument("--cuda-clips", type=int, default=8)
    ap.add_argument("--cuda-steps", type=int, default=10)
    ap.add_argument("--no-cpu", action="store_true", help="skip the CPU rows")
    args = ap.parse_args()
    mix = MixConfig(prob=args.mix_prob, sources=tuple(args.mix_sources))
    rows = []
    for device in devices(args.no_cpu):
        clips, steps = (
            (args.cpu_clips, args.cpu_steps) if device == "cpu" else (args.cuda_clips, args.cuda_steps)
        )
        for preset in args.presets:
            base = None
            for variant in args.variants:
                step, peak, passes = in_own_process(
                    run_variant, preset, variant, args.channels, clips, args.n_crops, steps, device, mix
                )
                if variant == "p0":
                    base = (step, peak)
                row = {
                    "device": device,
                    "preset": preset,
                    "variant": variant,
                    "crops": clips * args.n_crops,
                    "teacher_passes": passes,
                    "step_s": step,
                    "peak_MiB": peak,
                }
                row["step/p0"], row["peak/p0"] = against(step, peak, base)
                rows.append(row)
                print_row(row)
    print_table(rows)
    one, many = data_cost(args.channels, args.mix_sources[1])
    print(
        f"\ndata side: one source {one * 1e3:.1f} ms per 10 s clip; {args.mix_sources[1]} sources with the "
        f"retention views {many * 1e3:.1f} ms ({many / one:.2f}x)"
    )
    print(
        f"teacher_passes: teacher crops encoded per student crop (P = {args.mix_prob}, K drawn in "
        f"{args.mix_sources[0]}..{args.mix_sources[1]}, the batch's own draws)"
    )
    if not torch.cuda.is_available():
        print("CUDA not available: GPU rows skipped.")


if __name__ == "__main__":
    main()
