"""`wavjepa-nat simulate-rirs` and `wavjepa-nat bank info|verify|merge`."""

from __future__ import annotations

import json
from pathlib import Path
from typing import List, Optional

import typer

from wavjepa_nat.cli.app import app
from wavjepa_nat.errors import InputError
from wavjepa_nat.ranges import parse_int_interval, parse_interval

bank_app = typer.Typer(help="Inspect, check and join RIR banks.", no_args_is_help=True)
app.add_typer(bank_app, name="bank")


def parse_shard(text: str) -> tuple[int, int]:
    try:
        k, n = (int(part) for part in text.split("/"))
    except ValueError:
        raise InputError(f"--shard must look like K/N (e.g. 3/8), got '{text}'") from None
    if not 1 <= k <= n:
        raise InputError(f"--shard must have 1 <= K <= N, got '{text}'")
    return k, n


@app.command("simulate-rirs")
def simulate_rirs(
    out: Path = typer.Option(..., "--out", help="Output bank (HDF5). Rerunning with the same arguments resumes."),
    n_scenes: int = typer.Option(2000, "--n-scenes", help="Scenes in the whole bank (all shards together)."),
    rt60: str = typer.Option("0.2..1.5", "--rt60", help="Target RT60 range LO..HI in seconds (T_mid: 500 Hz-1 kHz)."),
    fs: int = typer.Option(16000, "--fs", help="Sample rate of the bank (Hz)."),
    hrtf: str = typer.Option("spherical", "--hrtf",
                             help="'spherical' (analytic head, no files), 'kemar' (Debian libmysofa1), or a .sofa path."),
    noise_sources: str = typer.Option("0..5", "--noise-sources", help="Noise sources per scene, LO..HI."),
    distance: str = typer.Option("0.5..5", "--distance", help="Source distance from the head centre, LO..HI metres."),
    noise_dir: Optional[Path] = typer.Option(None, "--noise-dir",
                                             help="Folder of noise recordings; default: built-in noises."),
    noise_bed_seconds: float = typer.Option(10.0, "--noise-bed-seconds", help="Length of each scene's noise bed."),
    engine: str = typer.Option("fast", "--engine",
                               help="'fast' (ours) or 'reference' (pyroomacoustics hybrid + SOFA, slow)."),
    scenes_per_room: int = typer.Option(4, "--scenes-per-room", help="Listener/source placements per room."),
    workers: int = typer.Option(2, "--workers", help="Worker processes."),
    shard: str = typer.Option("1/1", "--shard", help="Write only shard K of N (cluster array jobs); join with `bank merge`."),
    seed: int = typer.Option(0, "--seed", help="Every scene is a function of (seed, scene index)."),
    quiet: bool = typer.Option(False, "--quiet", help="No progress bar."),
) -> None:
    """Simulate binaural room impulse responses and noise beds into an HDF5 RIR bank.

    Each scene is a shoebox room (office to hall) with a target RT60, a listening head at a random
    position and yaw, one target source and several noise sources all around it. The bank stores the
    BRIRs, the noise-source BRIRs, pre-rendered binaural noise beds, and measured acoustics (RT60 per
    ear, DRR, direction, distance). Rooms are split train/val/test, so test rooms are unseen.

    Example: wavjepa-nat simulate-rirs --out bank.h5 --n-scenes 2000 --rt60 0.2..1.5 --workers 2
    """
    from wavjepa_nat.rir_bank import simulate_bank
    from wavjepa_nat.scenes import SceneConfig

    rt60_range = parse_interval(rt60, "--rt60")
    if rt60_range[0] <= 0:
        raise InputError(f"--rt60 must be positive, got '{rt60}'")
    n_noise = parse_int_interval(noise_sources, "--noise-sources")
    if n_noise[0] < 0:
        raise InputError("--noise-sources must be >= 0")
    dist = parse_interval(distance, "--distance")
    if dist[0] < 0.3:
        raise InputError("--distance must start at 0.3 m or more (the head has a radius)")
    if fs < 8000:
        raise InputError("--fs must be at least 8000 Hz")
    if scenes_per_room < 1:
        raise InputError("--scenes-per-room must be at least 1")
    if noise_bed_seconds <= 0:
        raise InputError("--noise-bed-seconds must be positive")
    cfg = SceneConfig(fs=fs, rt60=rt60_range, noise_sources=n_noise, source_distance=dist, hrtf=hrtf, engine=engine,
                      noise_dir=str(noise_dir) if noise_dir else None, noise_bed_seconds=noise_bed_seconds, seed=seed,
                      scenes_per_room=scenes_per_room)
    summary = simulate_bank(out, cfg, n_scenes, workers=workers, shard=parse_shard(shard), progress=not quiet)
    if summary["already_complete"]:
        typer.echo(f"{out} is already complete ({summary['scenes']} scenes); nothing to do.")
    else:
        typer.echo(f"wrote {out}: {summary['scenes']} scenes ({summary['simulated']} simulated now; "
                   f"BRIR synthesis {summary['brir_seconds']:.1f} s, noise beds {summary['noise_bed_seconds']:.1f} s "
                   f"of worker time)")


@bank_app.command("info")
def info(
    path: Path = typer.Argument(..., help="A bank file."),
    plots: Optional[Path] = typer.Option(None, "--plots", help="Write PNG histograms into this folder."),
    as_json: bool = typer.Option(False, "--json", help="Print the summary as JSON."),
) -> None:
    """Summarise a bank: counts per split, RT60 / azimuth / distance / DRR distributions, HRTF, size."""
    from wavjepa_nat.rir_bank import RIRBank
    from wavjepa_nat.rir_bank.info import bank_summary, write_histograms

    bank = RIRBank(path)
    summary = bank_summary(bank)
    if as_json:
        typer.echo(json.dumps(summary, indent=2, default=float))
    else:
        _print_summary(summary)
    if plots:
        for p in write_histograms(bank, plots):
            typer.echo(f"wrote {p}")


def _print_summary(s: dict) -> None:
    from rich.console import Console
    from rich.table import Table

    console = Console()
    console.print(f"[bold]{s['path']}[/]  {s['scenes']} scenes in {s['rooms']} rooms, "
                  f"splits {s['splits']}, {s['fs']} Hz, HRTF {s['hrtf']} ({s['hrtf_sha256']}), engine {s['engine']}, "
                  f"seed {s['seed']}, shard {s['shard']}, v{s['package_version']}, {s['size_mb']:.1f} MB")
    console.print(f"BRIR length {s['brir_seconds']:.2f} s, noise beds {s['noise_bed_seconds']:.1f} s, "
                  f"noise sources per scene {s['noise_sources']}, "
                  f"measured RT60 within 10% of target: {100 * s['rt60_within_10pct']:.1f}%")
    table = Table("quantity", "min", "p10", "median", "p90", "max")
    for key in ("rt60_target_s", "rt60_measured_s", "azimuth_deg", "elevation_deg", "distance_m", "drr_db"):
        q = s[key]
        if q:
            table.add_row(key, *(f"{q[k]:.2f}" for k in ("min", "p10", "median", "p90", "max")))
    console.print(table)


@bank_app.command("verify")
def verify(
    path: Path = typer.Argument(..., help="A bank file."),
    n_check: int = typer.Option(3, "--n-check", help="Scenes to re-simulate and compare (0 = none)."),
    seed: int = typer.Option(0, "--seed", help="Which scenes get re-simulated."),
) -> None:
    """Check the schema, that every value is finite, and that re-simulated scenes match the stored ones."""
    from rich.progress import Progress

    from wavjepa_nat.rir_bank import RIRBank, verify_bank

    n = len(RIRBank(path))
    with Progress(transient=True) as bar:
        task = bar.add_task("checking scenes", total=n)
        problems = verify_bank(path, n_check=n_check, seed=seed, progress=lambda k: bar.advance(task, k))
    if problems:
        for p in problems[:50]:
            typer.echo(f"FAIL {p}", err=True)
        typer.echo(f"{path}: {len(problems)} problem(s)", err=True)
        raise typer.Exit(1)
    typer.echo(f"{path}: OK ({n} scenes: schema, finite values, {min(n_check, n)} re-simulated scenes match)")


@bank_app.command("merge")
def merge(
    shards: List[Path] = typer.Argument(..., help="Shard files written with --shard K/N (all N of them)."),
    out: Path = typer.Option(..., "--out", help="The joined bank."),
) -> None:
    """Join shards into one bank, identical to a bank written by a single process."""
    from wavjepa_nat.rir_bank import merge_banks

    merge_banks(shards, out)
    typer.echo(f"wrote {out} from {len(shards)} shards")
