"""The README's "Recipes" table (issue 19): four training recipes on the demo's data, all tiny, the same
total steps and seed, swept by the robustness sweep (accuracy clean / by SNR / by RT60 bin with 95 %
intervals, the paired tests between models, the clean lateral-angle error).

    wavjepa-nat demo --out demo_out                       # once: the bank, the corpus (and today's models)
    python benchmarks/recipes_table.py --demo demo_out --out recipes_out [--steps 200]

    (a) ema-same   EMA teacher on the student's crops (today's recipe)
    (b) ema-dry    EMA teacher on the dry source of the crops
    (c) salt-same  SALT: --objective reconstruct for steps/6, then that checkpoint as the frozen teacher
                   for the remaining steps (the whole recipe spends the same steps as (a))
    (d) salt-dry   as (c), the frozen teacher on the dry crops
SALT's stages use --loss l1 (the paper's); (a) and (b) keep today's MSE (--salt-loss mse to compare at one
loss). CPU-heavy (five tiny trainings and a sweep of four models): not run in this repository's tests.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from demo_recipe import DEMO, demo_sweep, demo_train_config, train_once


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--demo", required=True, help="a `wavjepa-nat demo` output folder (bank.h5, corpus/)")
    ap.add_argument("--out", required=True)
    ap.add_argument("--steps", type=int, default=DEMO.steps, help="steps of every recipe (the demo's)")
    ap.add_argument("--salt-loss", default="l1", choices=("l1", "mse"))
    ap.add_argument("--snr", default="0,10,20")
    args = ap.parse_args()
    demo, out = Path(args.demo), Path(args.out)
    stage1_steps = max(1, args.steps // 6)

    def run(name: str, steps: int, **recipe) -> Path:
        return train_once(demo_train_config(demo, out / "runs" / name, max_steps=steps, **recipe))

    stage1 = run("salt-stage1", stage1_steps, objective="reconstruct", loss=args.salt_loss)
    rest = args.steps - stage1_steps
    teacher = f"frozen:{stage1}"
    models = [
        run("ema-same", args.steps),
        run("ema-dry", args.steps, teacher_input="dry"),
        run("salt-same", rest, teacher=teacher, loss=args.salt_loss),
        run("salt-dry", rest, teacher=teacher, teacher_input="dry", loss=args.salt_loss),
    ]
    demo_sweep(
        models,
        demo / "corpus",
        demo,
        out / "report",
        "Recipes (issue 19): EMA / SALT, same / dry teacher input (tiny, same steps and seed)",
        snr_db=args.snr,
    )
    print(f"report: {out / 'report' / 'report.md'}")


if __name__ == "__main__":
    main()
