"""`wavjepa-nat make-corpus`: write the built-in labelled corpus (no download needed)."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Annotated

import typer

from wavjepa_nat.cli.app import app


@app.command("make-corpus")
def make_corpus_cmd(
    out: Annotated[
        Path, typer.Option("--out", help="Output folder (created; must be empty or hold the same corpus).")
    ],
    n_per_class: Annotated[
        int, typer.Option("--n-per-class", help="Clips per class (>= 3: train/val/test).")
    ] = 40,
    seconds: Annotated[
        float, typer.Option("--seconds", help="Length of every clip in seconds (>= 0.1).")
    ] = 4.0,
    fs: Annotated[int, typer.Option("--fs", help="Sample rate in Hz (>= 8000).")] = 16000,
    seed: Annotated[int, typer.Option("--seed", help="Seed: the same seed writes identical files.")] = 0,
    speech: Annotated[
        bool | None,
        typer.Option(
            "--speech/--no-speech", help="Add spoken-word classes via espeak-ng [default: when installed]."
        ),
    ] = None,
) -> None:
    """Write a labelled corpus of procedural sound events (tones, chirps, knocks, bells, noise bursts,
    click trains, AM/FM tones) and, with espeak-ng, spoken words: one folder per class, a manifest.csv
    (path,label,split; stratified 70/15/15 split) and corpus.json. Read it with source 'DIR' or 'builtin'."""
    from rich.console import Console

    from wavjepa_nat.data.corpus import CorpusConfig, make_corpus

    cfg = CorpusConfig(n_per_class, seconds, fs, seed, "auto" if speech is None else speech)
    existed = (out / "corpus.json").is_file()
    start = time.perf_counter()
    info = make_corpus(out, cfg, progress=True)
    what = "already present" if existed else f"written in {time.perf_counter() - start:.1f} s"
    splits = ", ".join(f"{k} {v}" for k, v in info["splits"].items())
    Console().print(
        f"corpus {out}: {len(info['classes'])} classes x {cfg.n_per_class} clips x {cfg.seconds:g} s "
        f"at {cfg.fs} Hz "
        f"({splits}); speech {'on' if cfg.speech else 'off'}; {what}",
        highlight=False,
        soft_wrap=True,
    )
