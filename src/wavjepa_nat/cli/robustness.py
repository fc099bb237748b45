"""`wavjepa-nat robustness`: sweep models over SNR and measured-RT60 conditions and write a report."""

from __future__ import annotations

from pathlib import Path

import typer

from wavjepa_nat.cli.app import app


@app.command("robustness")
def robustness(
    models: list[str] = typer.Option(
        ..., "--model", "-m", help="Checkpoint (.ckpt) or export (.safetensors); repeat to compare models."),
    task: str = typer.Option(
        "builtin", "--task", help="Labelled data: a folder with one subfolder per class, a .csv/.jsonl manifest "
        "with labels (and optionally a split column), a corpus folder, or 'builtin'."),
    bank: Path = typer.Option(..., "--bank", help="HDF5 RIR bank; its test split supplies BRIRs and noise."),
    out: Path = typer.Option(..., "--out", "-o", help="Report folder (created if needed)."),
    snr: str = typer.Option(
        "-5..20", "--snr", help="SNRs in dB: LO..HI (5 dB steps), LO..HI:STEP, A,B,C, or 'none'."),
    rt60: str = typer.Option(
        "auto", "--rt60", help="Measured-RT60 bins in s: LO..HI (standard edges 0.1/0.3/0.6/1.0/1.5/2.0 inside "
        "it), LO..HI:STEP, explicit edges A,B,C, 'auto' (the bank's test-split range), or 'none'."),
    grid: bool = typer.Option(False, "--grid/--no-grid", help="Also run every SNR x RT60 combination."),
    probe_train: str = typer.Option(
        "clean", "--probe-train", help="Train the probes on 'clean' training clips, or 'matched': under the "
        "same condition."),
    seed: int = typer.Option(0, "--seed", help="Seeds the renderings, the task split and the probes."),
    max_clips_per_class: int = typer.Option(
        None, "--max-clips-per-class", min=1, help="At most this many clips per class in each split."),
    clip_seconds: float = typer.Option(4.0, "--clip-seconds", help="Seconds of each clip used (from its start)."),
    device: str = typer.Option("cpu", "--device", help="torch device for the models, e.g. cpu or cuda."),
    batch_size: int = typer.Option(16, "--batch-size", min=1, help="2.01 s windows per forward pass."),
    title: str = typer.Option(None, "--title", help="Report title."),
) -> None:
    """Measure how each model degrades under noise and reverberation.

    Conditions: clean; each SNR (the dry clip plus binaural noise from test-split noise beds); each RT60 bin
    (the clip through test-split BRIRs whose *measured* RT60 lies in the bin); with --grid every SNR x RT60
    pair. Renderings are seeded, so every model sees exactly the same audio. Per model and condition: linear
    probe score (accuracy, or mAP for multi-label tasks), its change from clean, the embedding drift
    (cosine similarity to the clean embedding, 1 = none) and, for two-channel models, the localisation error of an
    azimuth probe. A log-mel statistics baseline is always included.

    Writes report.md, report.html (self-contained), results.json, results.csv and plots/*.png to --out.
    """
    from wavjepa_nat.errors import InputError
    from wavjepa_nat.robustness.conditions import check_probe_train, parse_rt60_bins, parse_snr

    # Argument errors first, before torch and the models are imported / read.
    snr_values = parse_snr(snr)
    bins = rt60 if rt60.strip().lower() == "auto" else parse_rt60_bins(rt60)
    check_probe_train(probe_train)
    for m in models:
        if not Path(m).is_file():
            raise InputError(f"checkpoint not found: {m}")

    from wavjepa_nat.robustness.sweep import run_sweep

    rows = run_sweep(models, task, bank, snr_values, bins, grid=grid, probe_train=probe_train, out_dir=out,
                     seed=seed, max_clips_per_class=max_clips_per_class, device=device, progress=True,
                     clip_seconds=clip_seconds, batch_size=batch_size, title=title)
    n_models = len({r.model for r in rows})
    n_conds = len({(r.condition, r.snr_db, r.rt60_bin) for r in rows})
    typer.echo(f"wrote {out / 'report.md'} and report.html, results.json, results.csv, plots/ "
               f"({n_models} models incl. baseline x {n_conds} conditions)")
