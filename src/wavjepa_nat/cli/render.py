"""`wavjepa-nat render`: listen to the naturalistic augmentation, i.e. one clip rendered in bank scenes."""

from __future__ import annotations

import math
from pathlib import Path

import typer

from wavjepa_nat.cli.app import app
from wavjepa_nat.errors import InputError
from wavjepa_nat.ranges import parse_interval


def _fmt(value, spec: str) -> str:
    try:
        return format(float(value), spec)
    except (TypeError, ValueError):
        return "-"


@app.command("render")
def render_cmd(
    bank_path: Path = typer.Option(..., "--bank", help="HDF5 RIR bank (from `wavjepa-nat bank build`)."),
    input_path: Path = typer.Option(..., "--input", help="Dry audio clip (any soundfile format; mixed to mono)."),
    out: Path = typer.Option(
        Path("render.wav"), "--out", help="Output .wav (several: NAME_000.wav ...), or a folder (render_000.wav ...)."
    ),
    scene: int | None = typer.Option(None, "--scene", help="Scene index in the bank [default: random scenes]."),
    n: int = typer.Option(1, "--n", min=1, help="Number of random renderings (without --scene)."),
    snr: str = typer.Option("5..40", "--snr", help="SNR in dB: a value (5) or a range drawn uniformly (5..40)."),
    split: str | None = typer.Option(None, "--split", help="Draw random scenes from this split only."),
    noise_files: list[Path] = typer.Option(
        [], "--noise-file", help="Noise recording(s) rendered through the scene's noise sources [default: noise bed]."
    ),
    compensate_delay: bool = typer.Option(
        True, "--compensate-delay/--keep-delay", help="Remove the direct-path delay, as in training."
    ),
    seconds: float | None = typer.Option(None, "--seconds", min=0.01, help="Keep only the first SECONDS of input."),
    seed: int = typer.Option(0, "--seed", help="Seed of the random scenes and SNRs."),
) -> None:
    """Render a dry clip binaurally through scenes of an RIR bank: the source BRIR, the direct-path delay
    removed, and the scene's noise at the given SNR. Writes 2-channel 16-bit wavs at the bank's rate, scaled
    only to stay below full scale (not instance-normalised), and prints each scene's parameters."""
    if not bank_path.is_file():
        raise InputError(f"RIR bank not found: {bank_path}")
    if not input_path.is_file():
        raise InputError(f"input audio not found: {input_path}")
    if scene is not None and n > 1:
        raise InputError("give either --scene (one rendering) or --n (random scenes), not both")
    snr_range = parse_interval(snr, "--snr")
    import numpy as np
    import soundfile as sf
    from rich.console import Console
    from rich.table import Table

    from wavjepa_nat.audio import read_audio, set_rms_db
    from wavjepa_nat.data.augment import AugmentConfig, load_noise_recordings
    from wavjepa_nat.data.render import LEVEL_DB, output_paths, render_clips
    from wavjepa_nat.rir_bank import RIRBank

    bank = RIRBank(bank_path)
    if scene is not None and not 0 <= scene < len(bank):
        raise InputError(f"--scene {scene} is out of range: the bank holds scenes 0..{len(bank) - 1}")
    try:
        x, _ = read_audio(input_path, fs=int(bank.fs), mono=True)
    except (RuntimeError, OSError, ValueError) as err:  # libsndfile names the problem; one line is enough
        raise InputError(f"cannot read {input_path}: {err}") from None
    dry = x[0]
    if seconds is not None:
        dry = dry[: round(seconds * bank.fs)]
    if dry.size == 0 or not np.isfinite(dry).all():
        raise InputError(f"{input_path} holds no usable audio")
    dry = set_rms_db(dry, LEVEL_DB) if np.max(np.abs(dry)) > 0 else dry
    cfg = AugmentConfig(
        snr_db=snr_range,
        compensate_direct_delay=compensate_delay,
        n_crops=1,
        crop_samples=1,
        split=None if scene is not None else split,
        noise="sources" if noise_files else "bed",
        noise_paths=tuple(str(p) for p in noise_files),
        seed=seed,
    )
    noise = load_noise_recordings(cfg.noise_paths, int(bank.fs)) if noise_files else None
    renders = render_clips(bank, dry, n, scene, cfg, seed, noise)
    paths = output_paths(out, n)
    paths[0].parent.mkdir(parents=True, exist_ok=True)
    table = Table(title=f"{input_path.name} rendered in {n} scene(s) of {bank_path.name}")
    for col in ("file", "scene", "azimuth °", "distance m", "RT60 s", "SNR dB", "delay ms"):
        table.add_column(col, justify="left" if col == "file" else "right")
    for path, (wet, info) in zip(paths, renders):
        sf.write(str(path), wet.T, int(bank.fs), subtype="PCM_16")
        rt60 = np.mean(info.get("rt60_measured", info.get("rt60_target", np.nan)))  # per ear -> mean
        delay_ms = 1000.0 * float(info.get("direct_delay_s", math.nan))
        table.add_row(
            str(path), str(info["scene"]), _fmt(info.get("azimuth_deg"), ".0f"), _fmt(info.get("distance_m"), ".2f"),
            _fmt(rt60, ".2f"), f"{info['snr_db']:.1f}", _fmt(delay_ms, ".2f"),
        )
    Console().print(table)
