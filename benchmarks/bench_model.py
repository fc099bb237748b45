"""Model benchmark: parameters, training FLOPs per 2.01 s crop (FlopCounterMode vs an analytic count),
CPU fp32 step time, and on CUDA bf16 step time, crops/s and MFU against a configurable peak.

    python benchmarks/bench_model.py                       # tiny and base
    python benchmarks/bench_model.py --presets base --cuda-batch 64 --peak-tflops 989

One "step" = what WavJEPAModule does per batch: teacher forward, student + predictor forward/backward,
clip, AdamW, EMA update. FLOPs count matmuls, convolutions and attention (not element-wise ops).
"""

from __future__ import annotations

import argparse
import statistics

import numpy as np
import torch
from timing import print_row, print_table, train_step_times
from torch.utils.flop_counter import FlopCounterMode

from wavjepa_nat.nat_model.config import ModelConfig, get_preset
from wavjepa_nat.nat_model.encoder import n_frames
from wavjepa_nat.nat_model.jepa import WavJEPA
from wavjepa_nat.nat_model.masks import MaskCollator
from wavjepa_nat.training.module import WavJEPAModule


def n_params(m: torch.nn.Module) -> int:
    return sum(p.numel() for p in m.parameters())


def transformer_flops(n: int, d: int, depth: int, mlp_ratio: float) -> float:
    """Forward FLOPs of `depth` pre-norm blocks on n tokens: qkv+proj+MLP matmuls and QK^T, AV."""
    linear = 2 * n * d * d * (4 + 2 * mlp_ratio)
    attn = 4 * n * n * d
    return depth * (linear + attn)


def analytic_step_flops(cfg: ModelConfig, n_samples: int, n_ctx: int, n_tgt: int) -> float:
    """Training FLOPs per crop. Backward = 2x forward for trained parts, except the first conv layer
    (its input is audio, so only the weight gradient: 1x); the teacher runs forward only."""
    C, D, G = cfg.channels, cfg.embed_dim, cfg.target_groups
    T = n_frames(n_samples, cfg.conv_spec)
    conv, first, length, cin = 0.0, 0.0, n_samples, 1
    for i, (k, s) in enumerate(cfg.conv_spec):
        length = (length - k) // s + 1
        f = 2 * k * cin * cfg.conv_dim * length * C
        first, conv = (f, conv) if i == 0 else (first, conv + f)
        cin = cfg.conv_dim
    proj = 2 * cfg.conv_dim * D * C * T
    frontend = first + conv + proj
    teacher = frontend + transformer_flops(C * T, D, cfg.depth, cfg.mlp_ratio)
    student = frontend + transformer_flops(n_ctx, D, cfg.depth, cfg.mlp_ratio)
    pred = (
        2 * n_ctx * D * cfg.pred_dim
        + G * transformer_flops(n_ctx + n_tgt, cfg.pred_dim, cfg.pred_depth, cfg.mlp_ratio)
        + 2 * G * n_tgt * cfg.pred_dim * D
    )
    return teacher + 3 * (student + pred) - 2 * first


def make_batch(cfg: ModelConfig, batch: int, seed: int = 0) -> dict[str, torch.Tensor]:
    rng = np.random.default_rng(seed)
    crops = [rng.standard_normal((cfg.channels, cfg.crop_samples)).astype(np.float32) for _ in range(batch)]
    return MaskCollator(cfg, seed=seed)(crops)


def counted_step_flops(cfg: ModelConfig, batch: dict[str, torch.Tensor]) -> float:
    """FlopCounterMode over one forward+backward, on the meta device (no real compute), per crop."""
    with torch.device("meta"):
        model = WavJEPA(cfg)
    meta_batch = {
        k: torch.empty_like(v, device="meta") if v.is_floating_point() else v.to("meta")
        for k, v in batch.items()
    }
    counter = FlopCounterMode(display=False)
    with counter:
        loss, _ = model(meta_batch)
        loss.backward()
    return counter.get_total_flops() / batch["audio"].shape[0]


def time_steps(cfg: ModelConfig, batch_size: int, steps: int, device: str, bf16: bool) -> list[float]:
    """Wall time of full training steps (first step is warm-up and not reported)."""
    torch.manual_seed(0)
    module = WavJEPAModule(cfg).to(device)
    batch = {k: v.to(device) for k, v in make_batch(cfg, batch_size).items()}
    return train_step_times(module, batch, steps, device, bf16)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--presets", nargs="+", default=["tiny", "base"])
    ap.add_argument("--channels", type=int, default=2)
    ap.add_argument(
        "--cpu-batch", type=int, nargs="+", default=None, help="per preset; default tiny 8, base 2"
    )
    ap.add_argument(
        "--cpu-steps", type=int, nargs="+", default=None, help="per preset; default tiny 5, base 1"
    )
    ap.add_argument("--cuda-batch", type=int, default=64)
    ap.add_argument("--cuda-steps", type=int, default=10)
    ap.add_argument("--peak-tflops", type=float, default=989.0, help="dense bf16 peak (H100 SXM: 989)")
    ap.add_argument("--threads", type=int, default=None, help="torch CPU threads (default: torch's choice)")
    ap.add_argument("--no-cpu", action="store_true", help="skip CPU timing")
    args = ap.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    defaults = {"tiny": (8, 5), "small": (4, 2), "base": (2, 1), "large": (1, 1)}

    rows = []
    for i, name in enumerate(args.presets):
        cfg = get_preset(name, channels=args.channels)
        with torch.device("meta"):
            m = WavJEPA(cfg)
        probe = make_batch(cfg, 16)
        # Padded (computed) sizes: every crop runs the batch-maximum context / target counts.
        n_ctx, n_tgt = probe["context_idx"].shape[1], probe["target_idx"].shape[2]
        valid_ctx = probe["context_valid"].sum(1).float().mean().item()
        valid_tgt = probe["target_valid"].sum(2).float().mean().item()
        counted = counted_step_flops(cfg, probe)
        analytic = analytic_step_flops(cfg, cfg.crop_samples, n_ctx, n_tgt)
        row = {
            "preset": name,
            "ctx_enc_M": n_params(m.encoder) / 1e6,
            "pred_M": n_params(m.predictor) / 1e6,
            "total_M": n_params(m) / 1e6,
            "tokens": f"{n_frames(cfg.crop_samples, cfg.conv_spec) * cfg.channels}/{n_ctx}/{n_tgt}",
            "valid": f"{valid_ctx:.0f}/{valid_tgt:.0f}",
            "GFLOP_crop": counted / 1e9,
            "analytic/counted": analytic / counted,
        }
        if not args.no_cpu:
            bs = args.cpu_batch[i] if args.cpu_batch else defaults.get(name, (2, 1))[0]
            st = args.cpu_steps[i] if args.cpu_steps else defaults.get(name, (2, 1))[1]
            t = statistics.median(time_steps(cfg, bs, st, "cpu", bf16=False))
            row.update({"cpu_batch": bs, "cpu_step_s": t, "cpu_crops_s": bs / t})
        if torch.cuda.is_available():
            t = statistics.median(time_steps(cfg, args.cuda_batch, args.cuda_steps, "cuda", bf16=True))
            crops = args.cuda_batch / t
            row.update(
                {
                    "gpu_batch": args.cuda_batch,
                    "gpu_step_s": t,
                    "gpu_crops_s": crops,
                    "MFU": counted * crops / (args.peak_tflops * 1e12),
                }
            )
        rows.append(row)
        print_row(row)

    print_table(rows)
    print(
        f"\ntokens = all/context/target-per-group for a {get_preset('base').crop_samples}-sample crop, "
        "padded to the maximum of a 16-crop batch (what is computed); valid = mean real context/target "
        "tokens per crop (the rest is masked padding); analytic/counted = hand count / FlopCounterMode "
        "(1.00 = agree)"
    )
    if not torch.cuda.is_available():
        print("CUDA not available: GPU rows skipped.")


if __name__ == "__main__":
    main()
