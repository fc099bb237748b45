"""`wavjepa-nat embed`: audio files -> scene and frame embeddings in one HDF5 file."""

from __future__ import annotations

from pathlib import Path

import typer

from wavjepa_nat.audio import AUDIO_EXTENSIONS
from wavjepa_nat.cli.app import app
from wavjepa_nat.errors import InputError


def find_audio(path: Path) -> list[Path]:
    if path.is_file():
        return [path]
    if path.is_dir():
        return sorted(p for p in path.rglob("*") if p.suffix.lower() in AUDIO_EXTENSIONS and p.is_file())
    raise InputError(f"input not found: {path}")


@app.command("embed")
def embed(
    model: str = typer.Option(
        ...,
        "--model",
        "-m",
        help="Checkpoint (.ckpt), exported encoder "
        "(.safetensors), or the reference's published weights (.ckpt or Hugging Face "
        "folder); or hf:PATH[@LAYER|@all] for a Hugging Face transformers model (needs the hf extra).",
    ),
    input: Path = typer.Option(
        ...,
        "--input",
        "-i",
        help=f"An audio file, or a folder searched recursively for {', '.join(sorted(AUDIO_EXTENSIONS))}.",
    ),
    out: Path = typer.Option(Path("embeddings.h5"), "--out", "-o", help="Output HDF5 file."),
    device: str = typer.Option("cpu", "--device", help="torch device, e.g. cpu or cuda."),
    batch_size: int = typer.Option(8, "--batch-size", min=1, help="2.01 s windows per forward pass."),
    trust_remote_code: bool = typer.Option(
        False, "--trust-remote-code", help="Let an hf: folder with its own code (auto_map) run it."
    ),
) -> None:
    """Embed audio files with a trained encoder.

    Files are resampled to the model's rate. The output holds `scene` (N, D): one vector per file, the mean
    of its frames; `frames` (sum of T_i, D) with `timestamps_ms` and `offsets` (file i owns rows
    offsets[i]:offsets[i+1], one frame every 10 ms); `keys` (the file paths relative to --input); and the
    model config and package version as attributes. Mono files given to a binaural model are duplicated
    to both ears; binaural files given to a mono model are averaged. An hf: model writes its chosen
    layer's tokens as frames, stamped evenly over each file, and their mean as the scene vector.
    """
    from wavjepa_nat import load_model
    from wavjepa_nat.checks import check_not_an_input, check_torch_device
    from wavjepa_nat.progress import progress_bar
    from wavjepa_nat.robustness.models.embed_files import check_embeddings_out, embed_files
    from wavjepa_nat.robustness.models.huggingface import HFEmbedder, check_hf_spec, is_hf_spec

    if is_hf_spec(model):
        check_hf_spec(model, trust_remote_code)
    elif not Path(model).exists():
        raise InputError(f"checkpoint not found: {model}")
    paths = find_audio(input)
    if not paths:
        raise InputError(f"no audio files ({', '.join(sorted(AUDIO_EXTENSIONS))}) under {input}")
    check_torch_device(device, "--device")
    check_embeddings_out(out)  # before the model is read
    check_not_an_input(out, [model, *paths])
    keys = [p.name if input.is_file() else p.relative_to(input).as_posix() for p in paths]
    if is_hf_spec(model):
        encoder = HFEmbedder(
            model, None, device=device, batch_size=batch_size, trust_remote_code=trust_remote_code
        )
    else:
        encoder = load_model(model)
    with progress_bar(total=len(paths), description="embedding") as advance:
        path = embed_files(
            encoder, paths, out, device=device, batch_size=batch_size, keys=keys, on_file=lambda i: advance()
        )
    typer.echo(f"wrote {path}: {len(paths)} file(s), {encoder.output_dim}-d embeddings")
