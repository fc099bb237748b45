"""The README's "Polyphonic scenes" table (issue 20): the tiny model trained with --mix-prob 0 against
--mix-prob 0.5 with the retention target, the same steps and seed, swept on the built-in corpus's polyphony
conditions (2 and 3 sources, TIR 0 and 6 dB): main-class accuracy and all-class mAP with 95 % intervals and
the paired tests between the two.

    wavjepa-nat demo --out demo_out                       # once: the bank and the corpus
    python benchmarks/polyphony_table.py --demo demo_out --out polyphony_out [--steps 200]

CPU-heavy (two tiny trainings and a sweep): not run in this repository's tests.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from demo_recipe import DEMO, demo_sweep, demo_train_config, train_once


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--demo", required=True, help="a `wavjepa-nat demo` output folder (bank.h5, corpus/)")
    ap.add_argument("--out", required=True)
    ap.add_argument("--steps", type=int, default=DEMO.steps, help="steps of each training (the demo's)")
    ap.add_argument("--mix-prob", type=float, default=0.5)
    ap.add_argument("--polyphony", default="2..3")
    ap.add_argument("--tir", default="0,6")
    ap.add_argument("--max-clips-per-class", type=int, default=DEMO.max_clips_per_class)
    args = ap.parse_args()
    demo, out = Path(args.demo), Path(args.out)

    def run(name: str, **mix) -> Path:
        return train_once(demo_train_config(demo, out / "runs" / name, max_steps=args.steps, **mix))

    models = [run("p0"), run(f"p{args.mix_prob:g}-retention", mix_prob=args.mix_prob, mix_target="retention")]
    demo_sweep(
        models,
        demo / "corpus",
        demo,
        out / "report",
        "Polyphonic scenes (issue 20): mixture training P = 0 vs retention (tiny, one recipe)",
        snr_db="none",
        rt60_bins="none",
        polyphony=args.polyphony,
        tir_db=args.tir,
        max_clips_per_class=args.max_clips_per_class,
    )
    print(f"report: {out / 'report' / 'report.md'}")


if __name__ == "__main__":
    main()
