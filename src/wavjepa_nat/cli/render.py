"""`wavjepa-nat render`: listen to the naturalistic augmentation, i.e. one clip rendered in bank scenes."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Annotated

import typer

from wavjepa_nat.cli.app import app
from wavjepa_nat.ranges import parse_interval


def _fmt(value, spec: str) -> str:
    try:
        return format(float(value), spec)
    except (TypeError, ValueError):
        return "-"


@app.command("render")
def render_cmd(
    bank_path: Annotated[
        Path, typer.Option("--bank", help="HDF5 RIR bank (from `wavjepa-nat simulate-rirs`).")
    ],
    input_path: Annotated[
        Path, typer.Option("--input", help="Dry audio clip (any soundfile format; mixed to mono).")
    ],
    out: Annotated[
        Path,
        typer.Option(
            "--out", help="Output .wav (several: NAME_000.wav ...), or a folder (render_000.wav ...)."
        ),
    ] = Path("render.wav"),
    scene: Annotated[
        int | None, typer.Option("--scene", help="Scene index in the bank [default: random scenes].")
    ] = None,
    n: Annotated[int, typer.Option("--n", help="Number of random renderings (without --scene).")] = 1,
    snr: Annotated[
        str, typer.Option("--snr", help="SNR in dB: a value (5) or a range drawn uniformly (5..40).")
    ] = "5..40",
    split: Annotated[
        str | None, typer.Option("--split", help="Draw random scenes from this split only.")
    ] = None,
    noise_files: Annotated[
        list[Path] | None,
        typer.Option(
            "--noise-file",
            help="Noise recording(s) rendered through the scene's noise sources [default: noise bed].",
        ),
    ] = None,
    compensate_delay: Annotated[
        bool,
        typer.Option("--compensate-delay/--keep-delay", help="Remove the direct-path delay, as in training."),
    ] = True,
    seconds: Annotated[
        float | None, typer.Option("--seconds", help="Keep only the first SECONDS of input.")
    ] = None,
    seed: Annotated[int, typer.Option("--seed", help="Seed of the random scenes and SNRs.")] = 0,
) -> None:
    """Render a dry clip binaurally through scenes of an RIR bank: the source BRIR, the direct-path delay
    removed, and the scene's noise at the given SNR. Writes 2-channel 16-bit wavs at the bank's rate, scaled
    only to stay below full scale (not instance-normalised), and prints each scene's parameters."""
    import numpy as np
    from rich.console import Console
    from rich.table import Table

    from wavjepa_nat.checks import check_not_an_input
    from wavjepa_nat.data.scene_clips import (
        SceneClipConfig,
        check_outputs,
        existing_outputs,
        read_dry_clip,
        render_scene_clips,
        write_scene_clips,
    )
    from wavjepa_nat.rir_bank import RIRBank

    cfg = SceneClipConfig(
        scene=scene,
        n=n,
        snr_db=parse_interval(snr, "--snr"),
        split=split,
        noise_files=tuple(noise_files or ()),
        compensate_delay=compensate_delay,
        seconds=seconds,
        seed=seed,
    )
    check_outputs(out, cfg.n)
    for path in existing_outputs(out, cfg.n):
        check_not_an_input(path, [input_path, bank_path, *cfg.noise_files])
    bank = RIRBank(bank_path)
    clips = render_scene_clips(bank, read_dry_clip(input_path, bank.fs, cfg.seconds), cfg)
    paths = write_scene_clips(clips, out, bank.fs)
    table = Table(title=f"{input_path.name} rendered in {len(clips)} scene(s) of {bank_path.name}")
    for col in ("file", "scene", "azimuth °", "distance m", "RT60 s", "SNR dB", "delay ms"):
        table.add_column(col, justify="left" if col == "file" else "right")
    for path, clip in zip(paths, clips):
        meta = clip.meta
        rt60 = np.mean(meta.get("rt60_measured", meta.get("rt60_target", np.nan)))  # per ear -> mean
        delay_ms = 1000.0 * float(meta.get("direct_delay_s", math.nan))
        table.add_row(
            str(path),
            str(clip.scene),
            _fmt(meta.get("azimuth_deg"), ".0f"),
            _fmt(meta.get("distance_m"), ".2f"),
            _fmt(rt60, ".2f"),
            f"{clip.snr_db:.1f}",
            _fmt(delay_ms, ".2f"),
        )
    Console().print(table)
