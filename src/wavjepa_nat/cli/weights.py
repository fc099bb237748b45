"""`wavjepa-nat import-weights`: the published WavJEPA / WavJEPA-Nat weights -> this project's export."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from wavjepa_nat.cli.app import app
from wavjepa_nat.errors import InputError


@app.command("import-weights")
def import_weights(
    src: Annotated[
        Path,
        typer.Argument(
            help="A reference Lightning checkpoint (.ckpt with a state_dict, mono or binaural; torch.compile "
            "names accepted), or a Hugging Face style folder (config.json + model.safetensors or "
            "pytorch_model.bin)."
        ),
    ],
    out: Annotated[Path, typer.Option("--out", "-o", help="Output file (.safetensors).")] = Path(
        "model.safetensors"
    ),
    allow_pickle: Annotated[
        bool,
        typer.Option(
            "--allow-pickle",
            help="Unpickle objects other than tensors and plain data found in a .ckpt (runs "
            "code from the file: only for files you trust).",
        ),
    ] = False,
) -> None:
    """Import the reference's published weights (labhamlet/wavjepa) from local files; nothing is downloaded.

    Writes this project's export: encoder weights (plus the teacher and predictor when SRC has them), the full
    model config with the reference's variants (post-norm blocks, its positional layout, ears averaged per
    frame, its HEAR runtime) and where the weights came from. `load_model`, `embed`, `robustness`,
    `wavjepa_nat.hear` and `train --init-from` take the result, and SRC itself too.
    """
    from wavjepa_nat.checks import check_not_an_input
    from wavjepa_nat.nat_model.weights.export import import_weights as run_import
    from wavjepa_nat.nat_model.weights.export import load_model

    if not src.exists():
        raise InputError(f"not found: {src}")
    if out.suffix != ".safetensors":
        raise InputError(f"--out must end in .safetensors, got {out}")
    check_not_an_input(out, [src])
    path = run_import(src, out, allow_pickle=allow_pickle)
    enc = load_model(path)
    source = enc.source.get("imported_from", {})
    n_params = sum(p.numel() for p in enc.parameters())
    typer.echo(
        f"wrote {path}: {source.get('model', 'model')} from {source.get('kind', 'reference')} "
        f"({', '.join(source.get('parts', ['encoder']))}), {n_params / 1e6:.2f} M encoder parameters, "
        f"{enc.output_dim}-d output every {enc.hop_ms:g} ms"
    )
