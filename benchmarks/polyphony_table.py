"""The README's "Polyphonic scenes" table (issue 20): the tiny model trained with --mix-prob 0 against
--mix-prob 0.5 with the retention target, the same steps and seed, swept on the built-in corpus's polyphony
conditions (2 and 3 sources, TIR 0 and 6 dB): main-class accuracy and all-class mAP with 95 % intervals and
the paired tests between the two.

    wavjepa-nat demo --out demo_out                       # once: the bank and the corpus
    python benchmarks/polyphony_table.py --demo demo_out --out polyphony_out [--steps 280]

CPU-heavy (two tiny trainings and a sweep): not run in this repository's tests.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from wavjepa_nat.robustness.config import SweepConfig
from wavjepa_nat.robustness.sweep import run_sweep
from wavjepa_nat.training.loop import TrainConfig, train


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--demo", required=True, help="a `wavjepa-nat demo` output folder (bank.h5, corpus/)")
    ap.add_argument("--out", required=True)
    ap.add_argument("--steps", type=int, default=280, help="steps of each training (the demo's)")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--clip-seconds", type=float, default=4.0)
    ap.add_argument("--mix-prob", type=float, default=0.5)
    ap.add_argument("--polyphony", default="2..3")
    ap.add_argument("--tir", default="0,6")
    ap.add_argument("--max-clips-per-class", type=int, default=10)
    args = ap.parse_args()
    demo, out = Path(args.demo), Path(args.out)
    corpus = demo / "corpus" / "manifest.csv"
    data = str(corpus if corpus.is_file() else demo / "corpus")

    def run(name: str, **mix) -> Path:
        cfg = TrainConfig(
            data=data,
            bank=str(demo / "bank.h5"),
            out=str(out / "runs" / name),
            preset="tiny",
            channels=2,
            clean_ratio=0.0,
            max_steps=args.steps,
            clip_seconds=args.clip_seconds,
            num_workers=1,
            ckpt_every=max(args.steps // 3, 1),
            seed=args.seed,
            **mix,
        )
        last = Path(cfg.out) / "last.ckpt"
        return last if last.is_file() else train(cfg)

    models = [run("p0"), run(f"p{args.mix_prob:g}-retention", mix_prob=args.mix_prob, mix_target="retention")]
    run_sweep(
        models,
        str(demo / "corpus"),
        str(demo / "bank.h5"),
        SweepConfig(
            snr_db="none",
            rt60_bins="none",
            polyphony=args.polyphony,
            tir_db=args.tir,
            seed=args.seed,
            clip_seconds=args.clip_seconds,
            max_clips_per_class=args.max_clips_per_class,
        ),
        out_dir=out / "report",
        title="Polyphonic scenes (issue 20): mixture training P = 0 vs retention (tiny, same steps and seed)",
    )
    print(f"report: {out / 'report' / 'report.md'}")


if __name__ == "__main__":
    main()
