"""From what the user names (`--model`) to embedders: checkpoint and export paths, "hear:MODULE[:WEIGHTS]",
"hf:PATH[@LAYER|@all]" (a Hugging Face transformers model),
loaded encoders and ready embedders; plus the non-learned baselines every sweep runs beside them."""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path

from wavjepa_nat.errors import InputError
from wavjepa_nat.nat_model.inference import Embedder
from wavjepa_nat.nat_model.weights.export import load_model
from wavjepa_nat.robustness.models.hear_module import HearEmbedder, check_hear_spec, hear_name, is_hear_spec
from wavjepa_nat.robustness.models.huggingface import HFEmbedder, check_hf_spec, hf_name, is_hf_spec
from wavjepa_nat.robustness.models.interface import SceneEmbedder
from wavjepa_nat.robustness.models.logmel import LogMelBaseline, LogMelConfig


def model_names(specs: Sequence) -> list[str]:
    """Short unique names: the file stem, else parent/stem, else the whole path
    (hear:MODULE[:weights stem] for HEAR modules); a repeat gets '#k'."""
    paths = [
        Path(s) if isinstance(s, (str, os.PathLike)) and not (is_hear_spec(s) or is_hf_spec(s)) else None
        for s in specs
    ]

    def forms(p: Path) -> tuple[str, str, str]:
        return p.stem, f"{p.parent.name}/{p.stem}", str(p)

    names = []
    for i, (spec, p) in enumerate(zip(specs, paths)):
        if is_hear_spec(spec):
            names.append(hear_name(spec))
            continue
        if is_hf_spec(spec):
            names.append(hf_name(spec))
            continue
        if p is None:
            names.append(str(getattr(spec, "name", None) or f"model{i + 1}"))
            continue
        others = [forms(q)[k] for q in paths if q is not None and q != p for k in range(3)]
        names.append(next((c for c in forms(p) if c not in others), str(p)))
    counts: dict[str, int] = {}
    original = list(names)
    for i, n in enumerate(original):
        if original.count(n) > 1:
            counts[n] = counts.get(n, 0) + 1
            names[i] = f"{n}#{counts[n]}"
    return names


def check_models(models: Sequence, trust_remote_code: bool = False) -> None:
    """Fail fast, before any work: every path given must exist (a file, or a Hugging Face style folder);
    hf: models are checked from their config.json (models/huggingface.py)."""
    if not models:
        raise InputError("no model given (--model)")
    for m in models:
        if is_hear_spec(m):
            check_hear_spec(m)
        elif is_hf_spec(m):
            check_hf_spec(m, trust_remote_code)
        elif isinstance(m, (str, os.PathLike)) and not (
            Path(m).is_file() or (Path(m) / "config.json").is_file()
        ):
            raise InputError(f"checkpoint not found: {m}")


def load_embedder(
    spec, name: str, fs: int, device: str, batch_size: int, trust_remote_code: bool = False
) -> SceneEmbedder:
    """One model as an embedder at the bank's rate fs.

    A model is a checkpoint / export path, "hear:MODULE[:WEIGHTS]" (an installed HEAR 2021 module, checked on
    a short input here: hear_module.py), a loaded encoder (the nat_model Encoder interface), or a ready
    embedder (interface.py). "hf:PATH[@LAYER|@all]" is a Hugging Face transformers model (huggingface.py);
    one with its own code loads only with trust_remote_code.
    """
    if is_hear_spec(spec):
        return HearEmbedder(spec, int(fs), device=device, batch_size=batch_size, name=name)
    if is_hf_spec(spec):
        return HFEmbedder(
            spec,
            int(fs),
            device=device,
            batch_size=batch_size,
            name=name,
            trust_remote_code=trust_remote_code,
        )
    model = load_model(spec) if isinstance(spec, (str, os.PathLike)) else spec
    if int(model.sample_rate) != int(fs):
        raise InputError(f"model {name} runs at {model.sample_rate} Hz but the bank is at {fs} Hz")
    if hasattr(model, "scene_embeddings"):
        return model
    return Embedder(model, device=device, batch_size=batch_size, name=name)


def logmel_baselines(fs: int, mono_too: bool) -> list[LogMelBaseline]:
    """The binaural log-mel statistics baseline, and the mono one as a like-for-like reference for mono
    models when mono_too."""
    mel = LogMelConfig(sample_rate=int(fs), fmax=min(8000.0, fs / 2))
    return [LogMelBaseline(2, mel)] + ([LogMelBaseline(1, mel)] if mono_too else [])
