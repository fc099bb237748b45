"""`wavjepa-nat nat-hear`: a naturalistic copy of a HEAR task, every clip rendered through a bank scene."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from wavjepa_nat.cli.app import app


@app.command("nat-hear")
def nat_hear(
    task_dir: Annotated[
        Path,
        typer.Option(
            "--task-dir",
            help="HEAR task folder (task_metadata.json, "
            "labelvocabulary.csv, split json files, <rate>/<split>/ audio).",
        ),
    ],
    bank: Annotated[
        Path,
        typer.Option(
            "--bank",
            help="HDF5 RIR bank: test-split scenes for the task's test "
            "split, train-split scenes for its other splits.",
        ),
    ],
    out: Annotated[Path, typer.Option("--out", "-o", help="Folder for the copy (created; a rerun resumes).")],
    snr: Annotated[
        str,
        typer.Option(
            "--snr",
            help="SNR of the scene's binaural noise in dB: a fixed value (0), a range LO..HI drawn "
            "uniformly per clip, or 'none' (reverberation only).",
        ),
    ] = "5..40",
    rt60: Annotated[
        str,
        typer.Option(
            "--rt60",
            help="Only scenes whose measured RT60 (s) lies in LO..HI, e.g. 1.0..1.5; 'none': any "
            "scene of the split.",
        ),
    ] = "none",
    seed: Annotated[int, typer.Option("--seed", help="Seeds every draw (scene, SNR, noise segment).")] = 0,
    test_fold: Annotated[
        int | None,
        typer.Option(
            "--test-fold",
            min=0,
            help="k-fold tasks: the fold that gets test-split scenes (default: the last).",
        ),
    ] = None,
    polyphony: Annotated[
        int,
        typer.Option(
            "--polyphony",
            help="Sources per clip: the clip plus K-1 files of its split of other classes, each at one of "
            "the scene's noise-source positions (1: the clip alone).",
        ),
    ] = 1,
    tir: Annotated[
        float, typer.Option("--tir", help="Each interferer's level below the clip at the ears, in dB.")
    ] = 0.0,
) -> None:
    """Write a naturalistic copy of a HEAR task in the same layout, for any HEAR tooling.

    Each clip goes through a scene's BRIR (direct-path delay compensated) plus that scene's binaural noise at
    the SNR, and is written as a two-channel WAV at the bank's sample rate (OUT/<rate>/<split>/, same file
    names), at the dry file's RMS level. OUT/nat_hear_clips.csv lists per clip the scene, source azimuth,
    elevation, distance, measured RT60 and SNR; task_metadata.json records the bank (path, sha256, config),
    the seed and the options. Deterministic; an interrupted run resumes (complete clips are kept). For a
    ladder, run once per rung (e.g. --snr 20, --snr 10, --snr 0) into separate folders.
    """
    from wavjepa_nat.checks import check_not_an_input
    from wavjepa_nat.files import exclusive_lock
    from wavjepa_nat.robustness.tasks.nat_hear import NatHearConfig, make_nat_hear

    cfg = NatHearConfig(snr=snr, rt60=rt60, seed=seed, test_fold=test_fold, polyphony=polyphony, tir=tir)
    check_not_an_input(out, [task_dir, bank])
    with exclusive_lock(out):  # one writer per copy: two would interleave their clips and recipe
        summary = make_nat_hear(task_dir, bank, out, cfg, progress=True)
    extra = f", {summary['gain_limited']} scaled down to avoid clipping" if summary["gain_limited"] else ""
    typer.echo(
        f"wrote {summary['clips']} clips to {out / str(summary['sample_rate'])} ({summary['written']} "
        f"rendered, {summary['skipped']} already complete{extra}); {summary['clips_csv'].name} and "
        f"{summary['metadata'].name} describe them"
    )
