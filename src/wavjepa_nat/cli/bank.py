"""`wavjepa-nat simulate-rirs` and `wavjepa-nat bank info|verify|merge`."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer

from wavjepa_nat.checks import check_not_an_input, check_output_dir, check_output_file
from wavjepa_nat.cli.app import app
from wavjepa_nat.errors import InputError
from wavjepa_nat.progress import progress_bar
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


def beds_options(beds: str, noise_dir: Path | None) -> tuple[str | None, bool]:
    """--beds (and the older --noise-dir) -> SceneConfig's (noise_dir, noise_beds)."""
    text = str(beds).strip()
    if noise_dir is not None and text != "builtin":
        raise InputError(f"--noise-dir and --beds {text} both say what the beds hold; give one of them")
    if text == "none":
        return None, False
    if text == "builtin":
        return (str(noise_dir) if noise_dir else None), True
    if not text or not Path(text).is_dir():
        raise InputError(f"--beds must be 'builtin', 'none' or a folder of noise recordings, got '{beds}'")
    return text, True


@app.command("simulate-rirs")
def simulate_rirs(
    out: Annotated[
        Path, typer.Option("--out", help="Output bank (HDF5). Rerunning with the same arguments resumes.")
    ],
    n_scenes: Annotated[
        int, typer.Option("--n-scenes", help="Scenes in the whole bank (all shards together).")
    ] = 2000,
    rt60: Annotated[
        str, typer.Option("--rt60", help="Target RT60 range LO..HI in seconds (T_mid: 500 Hz-1 kHz).")
    ] = "0.2..1.5",
    fs: Annotated[int, typer.Option("--fs", help="Sample rate of the bank (Hz).")] = 16000,
    hrtf: Annotated[
        str,
        typer.Option(
            "--hrtf",
            help="'spherical' (analytic head, no files), 'kemar' (Debian libmysofa1), or a .sofa path.",
        ),
    ] = "spherical",
    noise_sources: Annotated[
        str, typer.Option("--noise-sources", help="Noise sources per scene, LO..HI.")
    ] = "0..5",
    distance: Annotated[
        str, typer.Option("--distance", help="Source distance from the head centre, LO..HI metres.")
    ] = "0.5..5",
    beds: Annotated[
        str,
        typer.Option(
            "--beds",
            help="Noise beds: 'builtin' (procedural noises through the noise sources), 'none' (no beds: the "
            "bank keeps the noise-source BRIRs and the head's diffuse field, and `train --noise` makes each "
            "clip's noise on the fly; smaller and faster to simulate), or a folder of noise recordings.",
        ),
    ] = "builtin",
    noise_dir: Annotated[
        Path | None, typer.Option("--noise-dir", help="Same as --beds DIR (a folder of noise recordings).")
    ] = None,
    noise_bed_seconds: Annotated[
        float, typer.Option("--noise-bed-seconds", help="Length of each scene's noise bed.")
    ] = 10.0,
    engine: Annotated[
        str,
        typer.Option("--engine", help="'fast' (ours) or 'reference' (pyroomacoustics hybrid + SOFA, slow)."),
    ] = "fast",
    scenes_per_room: Annotated[
        int, typer.Option("--scenes-per-room", help="Listener/source placements per room.")
    ] = 4,
    workers: Annotated[int, typer.Option("--workers", help="Worker processes.")] = 2,
    shard: Annotated[
        str,
        typer.Option("--shard", help="Write only shard K of N (cluster array jobs); join with `bank merge`."),
    ] = "1/1",
    seed: Annotated[
        int, typer.Option("--seed", help="Every scene is a function of (seed, scene index).")
    ] = 0,
    quiet: Annotated[bool, typer.Option("--quiet", help="No progress bar.")] = False,
) -> None:
    """Simulate binaural room impulse responses and noise beds into an HDF5 RIR bank.

    Each scene is a shoebox room (office to hall) with a target RT60, a listening head at a random
    position and yaw, one target source and several noise sources all around it. The bank stores the
    BRIRs, the noise-source BRIRs, pre-rendered binaural noise beds (none with --beds none: `train --noise`
    then makes each clip's noise), and measured acoustics (RT60 per ear, DRR, direction, distance). Rooms
    are split train/val/test, so test rooms are unseen.

    Example: wavjepa-nat simulate-rirs --out bank.h5 --n-scenes 2000 --rt60 0.2..1.5 --workers 2
    """
    from wavjepa_nat.rir_bank import simulate_bank
    from wavjepa_nat.scenes import SceneConfig

    noise_dir, noise_beds = beds_options(beds, noise_dir)
    cfg = SceneConfig(
        fs=fs,
        rt60=parse_interval(rt60, "--rt60"),
        noise_sources=parse_int_interval(noise_sources, "--noise-sources"),
        source_distance=parse_interval(distance, "--distance"),
        # Resolved paths are stored: `bank verify` re-simulates from any working directory.
        hrtf=str(Path(hrtf).resolve()) if hrtf.lower().endswith(".sofa") else hrtf,
        engine=engine,
        noise_dir=str(Path(noise_dir).resolve()) if noise_dir else None,
        noise_beds=noise_beds,
        noise_bed_seconds=noise_bed_seconds,
        seed=seed,
        scenes_per_room=scenes_per_room,
    )
    check_not_an_input(out, [hrtf] if hrtf.lower().endswith(".sofa") else [])
    summary = simulate_bank(out, cfg, n_scenes, workers=workers, shard=parse_shard(shard), progress=not quiet)
    _say_nearer_sources(out, cfg.source_distance)
    if summary["already_complete"]:
        typer.echo(f"{out} is already complete ({summary['scenes']} scenes); nothing to do.")
    else:
        typer.echo(
            f"wrote {out}: {summary['scenes']} scenes ({summary['simulated']} simulated now; "
            f"BRIR synthesis {summary['brir_seconds']:.1f} s, "
            f"noise beds {summary['noise_bed_seconds']:.1f} s, "
            f"measurements {summary.get('measure_seconds', 0.0):.1f} s, "
            f"writing {summary.get('write_seconds', 0.0):.1f} s of worker time)"
        )


def _say_nearer_sources(out: Path, asked: tuple[float, float]) -> None:
    """Rooms too small for --distance get their sources at the farthest distance they hold: say so."""
    import numpy as np

    from wavjepa_nat.errors import warn
    from wavjepa_nat.rir_bank import RIRBank

    distance = RIRBank(out).meta["distance_m"]
    nearer = distance < asked[0] - 1e-6
    if nearer.any():
        warn(
            f"{int(nearer.sum())} of {len(distance)} target sources lie nearer than --distance "
            f"{asked[0]:g}..{asked[1]:g} m "
            f"({np.min(distance[nearer]):.2f}-{np.max(distance[nearer]):.2f} m): "
            "their rooms are too small to hold the distance asked; see `bank info`"
        )


@bank_app.command("info")
def info(
    path: Annotated[Path, typer.Argument(help="A bank file.")],
    plots: Annotated[
        Path | None, typer.Option("--plots", help="Write PNG histograms into this folder.")
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print the summary as JSON.")] = False,
) -> None:
    """Summarise a bank: counts per split, RT60 / azimuth / distance / DRR distributions, HRTF, size."""
    from wavjepa_nat.rir_bank import RIRBank
    from wavjepa_nat.rir_bank.info import bank_summary, write_histograms

    if plots:
        check_output_dir(plots, "--plots")
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
    console.print(
        f"[bold]{s['path']}[/]  {s['scenes']} scenes in {s['rooms']} rooms, "
        f"splits {s['splits']}, {s['fs']} Hz, HRTF {s['hrtf']} ({s['hrtf_sha256']}), "
        f"engine {s['engine']}, "
        f"seed {s['seed']}, shard {s['shard']}, v{s['package_version']}, {s['size_mb']:.1f} MB"
    )
    console.print(
        f"BRIR length {s['brir_seconds']:.2f} s, "
        + (
            f"noise beds {s['noise_bed_seconds']:.1f} s, "
            if s["noise_beds"]
            else "no noise beds (--beds none: noise made at training time), "
        )
        + f"noise sources per scene {s['noise_sources']}, "
        f"measured RT60 within 10% of target: {100 * s['rt60_within_10pct']:.1f}%"
    )
    table = Table("quantity", "min", "p10", "median", "p90", "max")
    rows = [
        (key, s[key])
        for key in (
            "rt60_target_s",
            "rt60_measured_s",
            "t30_broadband_s",
            "edt_s",
            "c50_db",
            "azimuth_deg",
            "elevation_deg",
            "distance_m",
            "drr_db",
        )
    ]
    rows += [(f"t30 {band}", q) for band, q in s.get("t30_band_s", {}).items()]
    for key, q in rows:
        if q:
            table.add_row(key, *(f"{q[k]:.2f}" for k in ("min", "p10", "median", "p90", "max")))
    console.print(table)


@bank_app.command("verify")
def verify(
    path: Annotated[Path, typer.Argument(help="A bank file.")],
    n_check: Annotated[
        int, typer.Option("--n-check", help="Scenes to re-simulate and compare (0 = none).")
    ] = 3,
    seed: Annotated[int, typer.Option("--seed", help="Which scenes get re-simulated.")] = 0,
) -> None:
    """Check the schema, that every value is finite, and that re-simulated scenes match the stored ones."""
    from wavjepa_nat.rir_bank import RIRBank, verify_bank

    if n_check < 0:
        raise InputError(f"--n-check must be 0 or more, got {n_check}")
    if seed < 0:
        raise InputError(f"--seed must be 0 or more, got {seed}")
    n = len(RIRBank(path))
    notes: list[str] = []
    with progress_bar(n, "checking scenes", transient=True) as advance:
        problems = verify_bank(path, n_check=n_check, seed=seed, progress=advance, notes=notes)
    for note in notes:
        typer.echo(f"note: {note}", err=True)
    if problems:
        for p in problems[:50]:
            typer.echo(f"FAIL {p}", err=True)
        typer.echo(f"{path}: {len(problems)} problem(s)", err=True)
        raise typer.Exit(1)
    checked = "finite values" + ("" if notes else ", checksums")
    typer.echo(f"{path}: OK ({n} scenes: schema, {checked}, {min(n_check, n)} re-simulated scenes match)")


@bank_app.command("merge")
def merge(
    shards: Annotated[
        list[Path], typer.Argument(help="Shard files written with --shard K/N (all N of them).")
    ],
    out: Annotated[Path, typer.Option("--out", help="The joined bank.")],
) -> None:
    """Join shards into one bank, identical to a bank written by a single process."""
    from wavjepa_nat.rir_bank import merge_banks

    check_output_file(out, "--out")
    check_not_an_input(out, shards)
    merge_banks(shards, out)
    typer.echo(f"wrote {out} from {len(shards)} shards")
