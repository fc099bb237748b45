"""Seconds per sweep condition: a Hugging Face transformers model (hf:PATH) beside a checkpoint of ours of
the same size, both with random weights, on the CPU.

    python benchmarks/bench_hf.py                          # base: wav2vec2-base sizes vs our "base" preset
    python benchmarks/bench_hf.py --size tiny --clips-per-class 2 --snr 10   # a quick check that it runs

Both models run in one `robustness` sweep over the same rendered clips (a small procedural corpus, a small
simulated bank; conditions: clean and each --snr): the report's per-condition `seconds` (embedding the
condition's test clips and scoring them) are printed per model, with their mean, beside the seconds each
model takes to embed one clip. Sizes: "base" = Wav2Vec2Config() (12 layers, width 768, 95 M parameters)
and our preset "base" (12 layers, width 768); "tiny" = a 2-layer width-64 wav2vec2 (64-channel convs) and
our preset "tiny" (only to check that the script runs). The log-mel baselines the sweep always runs are
listed too. Nothing is downloaded. Measure on a quiet machine; numbers from a shared one mean little.
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from pathlib import Path

import numpy as np
import torch
import transformers

from wavjepa_nat.data.corpus import CorpusConfig, make_corpus
from wavjepa_nat.nat_model.config import get_preset
from wavjepa_nat.nat_model.jepa import WavJEPA
from wavjepa_nat.nat_model.weights.export import export_weights
from wavjepa_nat.rir_bank import simulate_bank
from wavjepa_nat.robustness.config import SweepConfig
from wavjepa_nat.robustness.models.load import load_embedder
from wavjepa_nat.robustness.sweep import run_sweep
from wavjepa_nat.scenes.config import SceneConfig

FS = 16000


def hf_folder(folder: Path, size: str) -> Path:
    if size == "base":
        config = transformers.Wav2Vec2Config()
    else:
        config = transformers.Wav2Vec2Config(
            hidden_size=64,
            num_hidden_layers=2,
            num_attention_heads=2,
            intermediate_size=128,
            conv_dim=(64,) * 7,
            vocab_size=8,
        )
    torch.manual_seed(0)
    transformers.Wav2Vec2Model(config).save_pretrained(folder)
    transformers.Wav2Vec2FeatureExtractor(sampling_rate=FS).save_pretrained(folder)
    return folder


def n_params(embedder) -> int:
    module = getattr(embedder, "model", None) or getattr(embedder, "encoder", None)
    return sum(p.numel() for p in module.parameters()) if module is not None else 0


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--size", choices=("base", "tiny"), default="base")
    ap.add_argument("--channels", type=int, choices=(1, 2), default=2, help="our checkpoint's ears")
    ap.add_argument("--clips-per-class", type=int, default=4)
    ap.add_argument("--clip-seconds", type=float, default=4.0)
    ap.add_argument("--snr", default="0,10,20")
    ap.add_argument("--threads", type=int, default=torch.get_num_threads())
    args = ap.parse_args()
    torch.set_num_threads(args.threads)

    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        hf = hf_folder(root / "hf", args.size)
        torch.manual_seed(0)
        ours = export_weights(
            WavJEPA(get_preset(args.size, channels=args.channels)), root / "ours.safetensors"
        )
        scenes = SceneConfig(rt60=(0.2, 0.8), noise_bed_seconds=args.clip_seconds, scenes_per_room=2)
        simulate_bank(root / "bank.h5", scenes, 20, progress=False)
        seconds = max(args.clip_seconds, 1.0)
        make_corpus(
            root / "corpus", CorpusConfig(n_per_class=args.clips_per_class * 4, seconds=seconds, speech=False)
        )
        models = [f"hf:{hf}", str(ours)]

        audio = (
            np.random.default_rng(0).standard_normal((4, 2, int(args.clip_seconds * FS))).astype(np.float32)
        )
        per_clip = {}
        for spec, name in zip(models, ("hf", "ours")):
            emb = load_embedder(spec, name, FS, "cpu", 16)
            emb.scene_embeddings(audio[:1])  # warm-up
            start = time.perf_counter()
            emb.scene_embeddings(audio)
            per_clip[name] = ((time.perf_counter() - start) / len(audio), n_params(emb))

        cfg = SweepConfig(
            snr_db=args.snr,
            rt60_bins="none",
            clip_seconds=args.clip_seconds,
            max_clips_per_class=args.clips_per_class,
        )
        rows = run_sweep(models, str(root / "corpus"), root / "bank.h5", cfg, progress=False)

    print(
        f"size {args.size}, {args.clip_seconds:g} s clips, CPU threads {args.threads}, "
        f"torch {torch.__version__}, transformers {transformers.__version__}"
    )
    names = {"hf": f"hf:wav2vec2 ({args.size})", "ours": f"ours ({args.size}, {args.channels} ch)"}
    by_model: dict[str, list] = {}
    for r in rows:
        by_model.setdefault(r.model, []).append(r)
    print(f"{'model':34s} {'params':>10s} {'s/clip':>8s} {'s/condition (mean)':>19s}  per condition")
    for model, rs in by_model.items():
        key = "hf" if model.startswith("hf:") else "ours" if model == "ours" else None
        clip_s, params = per_clip.get(key, (float("nan"), 0))  # nan: a baseline, not timed alone
        label = names.get(key, model)
        cells = ", ".join(f"{r.cond.label} {r.seconds:.2f}" for r in rs)
        mean = statistics.mean(r.seconds for r in rs)
        print(f"{label:34s} {params / 1e6:9.1f}M {clip_s:8.3f} {mean:19.2f}  {cells} ({rs[0].n_clips} clips)")


if __name__ == "__main__":
    main()
