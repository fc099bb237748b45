"""Teacher recipes benchmark (issue 19): step time and peak memory of each recipe of `train`, against the
EMA recipe (today's) in the same run, per preset.

    python benchmarks/bench_teachers.py                                   # tiny and small, CPU (+ CUDA)
    python benchmarks/bench_teachers.py --presets small --cuda-batch 64 --cuda-steps 20

Recipes (nat_model.jepa.Recipe): ema (the reference), ema-dry (the teacher encodes the dry crops),
frozen-same (a frozen teacher of the student's size), frozen-small (a smaller frozen teacher: the preset
below, or tiny halved), frozen-dry, reconstruct (SALT's stage 1: log-mel targets, no teacher encoder).
One step = what WavJEPAModule does per batch: targets, student + predictor forward/backward, clip, AdamW,
EMA update (EMA only). Each recipe runs in its own process, so its peak memory is its own: CPU peak = the
process's peak RSS minus its RSS before the model was built; CUDA peak = max_memory_allocated. The
data side of --teacher-input dry (the dry crops cut and normalised beside the wet ones) is timed
separately per clip (augment_clip with and without return_dry). Random weights and audio: the costs, not
the quality, of each recipe.
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
from wavjepa_nat.nat_model.config import ModelConfig, get_preset
from wavjepa_nat.nat_model.jepa import Recipe, WavJEPA
from wavjepa_nat.nat_model.masks import MaskCollator
from wavjepa_nat.nat_model.targets import FrozenTeacher
from wavjepa_nat.training.module import WavJEPAModule

RECIPES = {
    "ema": ("ema", "same", "jepa", "same"),
    "ema-dry": ("ema", "dry", "jepa", "same"),
    "frozen-same": ("frozen", "same", "jepa", "same"),
    "frozen-small": ("frozen", "same", "jepa", "smaller"),
    "frozen-dry": ("frozen", "dry", "jepa", "same"),
    "reconstruct": ("ema", "same", "reconstruct", "same"),
}
SMALLER = {"small": "tiny", "base": "small", "large": "base"}


def teacher_config(preset: str, student: ModelConfig, size: str) -> ModelConfig:
    """The frozen teacher's config: the student's, or the preset below it (tiny: tiny halved), on the
    student's frame grid and channels."""
    if size == "same":
        return student
    keep = {
        "channels": student.channels,
        "crop_samples": student.crop_samples,
        "conv_spec": student.conv_spec,
    }
    if preset in SMALLER:
        return get_preset(SMALLER[preset], **keep)
    return get_preset(preset, conv_dim=32, embed_dim=64, depth=2, heads=4, top_k_targets=2, **keep)


def make_batch(cfg: ModelConfig, batch: int, seed: int = 0) -> dict[str, torch.Tensor]:
    gen = torch.Generator().manual_seed(seed)
    audio = torch.randn(batch, cfg.channels, cfg.crop_samples, generator=gen)
    dry = torch.randn(batch, 1, cfg.crop_samples, generator=gen)
    return {
        "audio": audio,
        "dry_audio": dry,
        **MaskCollator(cfg, seed=seed).masks(batch, cfg.crop_samples, gen),
    }


def run_recipe(
    preset: str, recipe_name: str, channels: int, batch: int, steps: int, device: str, out
) -> None:
    """In a child process: median step time (s) and peak memory (MiB) of one recipe -> out queue."""
    kind, teacher_input, objective, size = RECIPES[recipe_name]
    cfg = get_preset(preset, channels=channels)
    torch.manual_seed(0)
    memory = PeakMemory(device)
    teacher = None
    if kind == "frozen":
        teacher = FrozenTeacher(WavJEPA(teacher_config(preset, cfg, size)).encoder.to(device))
    recipe = Recipe(objective=objective, teacher=kind, teacher_input=teacher_input)
    module = WavJEPAModule(cfg, recipe=recipe, teacher=teacher).to(device)
    data = {k: v.to(device) for k, v in make_batch(cfg, batch).items()}
    times = train_step_times(module, data, steps, device, bf16=device == "cuda")
    trained = sum(p.numel() for p in module.parameters() if p.requires_grad) / 1e6
    out.put((statistics.median(times), memory.mib(), trained))


def dry_crop_cost(channels: int, repeats: int = 5) -> tuple[float, float]:
    """Median seconds per 10 s clip (8 crops) of augment_clip without and with the dry reference's crops."""
    rng = np.random.default_rng(0)
    n, cfg = 160_000, AugmentConfig(channels=channels)
    dry = rng.standard_normal(n).astype(np.float32)
    brir = (rng.standard_normal((2, 8000)) * np.exp(-np.arange(8000) / 1600.0)).astype(np.float32)
    noise = rng.standard_normal((2, n)).astype(np.float32)
    offsets = rng.integers(0, n - cfg.crop_samples, cfg.n_crops)

    def cut(return_dry: bool) -> None:
        augment_clip(dry, False, brir, noise, 10.0, 40, offsets, cfg, return_dry=return_dry)

    return median_seconds(lambda: cut(False), repeats), median_seconds(lambda: cut(True), repeats)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--presets", nargs="+", default=["tiny", "small"])
    ap.add_argument("--recipes", nargs="+", default=list(RECIPES), choices=list(RECIPES))
    ap.add_argument("--channels", type=int, default=2)
    ap.add_argument("--cpu-batch", type=int, default=4)
    ap.add_argument("--cpu-steps", type=int, default=3)
    ap.add_argument("--cuda-batch", type=int, default=64)
    ap.add_argument("--cuda-steps", type=int, default=10)
    ap.add_argument("--no-cpu", action="store_true", help="skip the CPU rows")
    args = ap.parse_args()
    rows = []
    for device in devices(args.no_cpu):
        batch, steps = (
            (args.cpu_batch, args.cpu_steps) if device == "cpu" else (args.cuda_batch, args.cuda_steps)
        )
        for preset in args.presets:
            base = None
            for recipe in args.recipes:
                step, peak, trained = in_own_process(
                    run_recipe, preset, recipe, args.channels, batch, steps, device
                )
                if recipe == "ema":
                    base = (step, peak)
                row = {
                    "device": device,
                    "preset": preset,
                    "recipe": recipe,
                    "batch": batch,
                    "step_s": step,
                    "peak_MiB": peak,
                    "trained_M": trained,
                }
                row["step/ema"], row["peak/ema"] = against(step, peak, base)
                rows.append(row)
                print_row(row)
    print_table(rows)
    plain, with_dry = dry_crop_cost(args.channels)
    print(
        f"\ndata side of --teacher-input dry: augment_clip {plain * 1e3:.1f} ms per 10 s clip, "
        f"{with_dry * 1e3:.1f} ms with the dry crops ({with_dry / plain:.2f}x)"
    )
    print("step/ema, peak/ema: against the EMA recipe of the same preset and device ('ema' in --recipes)")
    if not torch.cuda.is_available():
        print("CUDA not available: GPU rows skipped.")


if __name__ == "__main__":
    main()
