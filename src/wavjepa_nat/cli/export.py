"""`wavjepa-nat export`: a training checkpoint -> a self-describing safetensors encoder."""

from __future__ import annotations

from pathlib import Path

import typer

from wavjepa_nat.cli.app import app
from wavjepa_nat.errors import InputError


@app.command("export")
def export(
    ckpt: Path = typer.Argument(..., help="Lightning checkpoint (.ckpt) written by `wavjepa-nat train`."),
    out: Path = typer.Option(
        Path("model.safetensors"), "--out", "-o", help="Output file (.safetensors): encoder weights + config."
    ),
) -> None:
    """Export the context encoder of CKPT (weights, model config and package version) to safetensors.

    Load the result with `wavjepa_nat.load_model(path)`; it gives the same outputs as the checkpoint,
    bit for bit.
    """
    from wavjepa_nat.checks import check_not_an_input
    from wavjepa_nat.nat_model.weights.export import export_weights, load_model

    if not ckpt.is_file():
        raise InputError(f"checkpoint not found: {ckpt}")
    if out.suffix != ".safetensors":
        raise InputError(f"--out must end in .safetensors, got {out}")
    check_not_an_input(out, [ckpt])
    path = export_weights(ckpt, out)
    enc = load_model(path)
    n_params = sum(p.numel() for p in enc.parameters())
    typer.echo(
        f"wrote {path}: {n_params / 1e6:.2f} M parameters, {enc.channels} channel(s), "
        f"{enc.output_dim}-d output every {enc.hop_ms:g} ms"
    )
