"""`wavjepa-nat make-corpus`: write the built-in labelled corpus (no download needed)."""

from __future__ import annotations

import time
from pathlib import Path

import typer

from wavjepa_nat.cli.app import app


@app.command("make-corpus")
def make_corpus_cmd(
    out: Path = typer.Option(
        ..., "--out", help="Output folder (created; must be empty or hold the same corpus)."
    ),
    n_per_class: int = typer.Option(
        40, "--n-per-class", min=3, help="Clips per class (>= 3: train/val/test)."
    ),
    seconds: float = typer.Option(4.0, "--seconds", min=0.1, help="Length of every clip in seconds."),
    fs: int = typer.Option(16000, "--fs", min=8000, help="Sample rate in Hz."),
    seed: int = typer.Option(0, "--seed", help="Seed: the same seed writes identical files."),
    speech: bool | None = typer.Option(
        None, "--speech/--no-speech", help="Add spoken-word classes via espeak-ng [default: when installed]."
    ),
) -> None:
    """Write a labelled corpus of procedural sound events (tones, chirps, knocks, bells, noise bursts,
    click trains, AM/FM tones) and, with espeak-ng, spoken words: one folder per class, a manifest.csv
    (path,label,split; stratified 70/15/15 split) and corpus.json. Read it with source 'DIR' or 'builtin'."""
    from rich.console import Console
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

    from wavjepa_nat.data.corpus import CorpusConfig, corpus_classes, make_corpus, resolve_speech

    speech_on = resolve_speech("auto" if speech is None else speech)
    classes = corpus_classes(CorpusConfig(n_per_class, seconds, fs, seed, speech_on))
    existed = (out / "corpus.json").is_file()
    start = time.perf_counter()
    columns = (TextColumn("making corpus"), BarColumn(), MofNCompleteColumn(), TimeRemainingColumn())
    with Progress(*columns, transient=True) as bar:
        task = bar.add_task("clips", total=len(classes) * n_per_class)
        info = make_corpus(
            out,
            n_per_class,
            seconds,
            fs,
            seed,
            speech_on,
            progress=lambda done, total: bar.update(task, completed=done),
        )
    what = "already present" if existed else f"written in {time.perf_counter() - start:.1f} s"
    splits = ", ".join(f"{k} {v}" for k, v in info["splits"].items())
    Console().print(
        f"corpus {out}: {len(info['classes'])} classes x {n_per_class} clips x {seconds:g} s at {fs} Hz "
        f"({splits}); speech {'on' if speech_on else 'off'}; {what}",
        highlight=False,
        soft_wrap=True,
    )
