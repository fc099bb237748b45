"""Export the context encoder to safetensors (weights + config JSON + version) and load any weights back.

`load_model(path)` takes a Lightning .ckpt or a .safetensors export of this project, or the published
reference weights directly (a reference .ckpt or Hugging Face folder, weights/reference.py), and returns
the `Encoder` in eval mode with `.source`, a dict naming where its weights came from.
Both paths load the same fp32 tensors into the same module, so outputs are bitwise equal.

An export may also carry the target encoder and the predictor (names under `target_encoder.` and
`predictor.`; an imported reference model does), for `train --init-from`; load_model ignores them.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import torch
from torch import nn

from wavjepa_nat.errors import InputError
from wavjepa_nat.files import atomic_path
from wavjepa_nat.nat_model.config import ModelConfig
from wavjepa_nat.nat_model.encoder import Encoder
from wavjepa_nat.nat_model.weights.checkpoint import (
    checkpoint_parts,
    is_native,
    load_part_weights,
    read_checkpoint,
    stored_model_config,
)
from wavjepa_nat.nat_model.weights.names import current_names
from wavjepa_nat.nat_model.weights.reference import import_reference, load_reference_encoder
from wavjepa_nat.nat_model.weights.reference_files import (
    ReferenceWeights,
    looks_like_reference,
    read_huggingface,
    read_lightning,
)
from wavjepa_nat.version import package_version

FORMAT = "wavjepa-nat-encoder"
FORMAT_VERSION = "1"
EXTRA_PREFIXES = ("target_encoder.", "predictor.")  # training parts an export may carry beside the encoder


def _encoder_from_ckpt(path: Path) -> Encoder:
    ckpt = read_checkpoint(path)
    if not is_native(ckpt) and looks_like_reference(ckpt["state_dict"]):
        return _reference_encoder(read_lightning(path, ckpt))
    cfg, parts = checkpoint_parts(path, ckpt)
    enc = Encoder(cfg)
    load_part_weights(enc, parts["encoder"], path)
    enc.source = {"kind": "wavjepa-nat checkpoint", "path": str(path.resolve())}
    if ckpt.get("wavjepa_nat_teacher"):  # trained against a frozen teacher (train --teacher frozen:SRC)
        enc.source.update(teacher=ckpt["wavjepa_nat_teacher"], recipe=ckpt.get("wavjepa_nat_recipe"))
    return enc


def _reference_encoder(ref: ReferenceWeights) -> Encoder:
    return load_reference_encoder(ref.path, ref=ref)


def read_export(path: Path) -> tuple[dict, dict[str, torch.Tensor]]:
    from safetensors import safe_open
    from safetensors.torch import load_file

    try:
        with safe_open(str(path), framework="pt") as f:
            meta = f.metadata() or {}
        state = load_file(str(path), device="cpu")
    except Exception as err:
        raise InputError(f"{path}: cannot read as safetensors ({type(err).__name__}: {err})") from err
    return meta, state


def export_parts(path: Path, meta: dict, state: dict) -> tuple[ModelConfig, dict[str, dict], dict]:
    """(config, {"encoder", "target_encoder", "predictor": state dicts, empty when absent}, source) of an
    export read by read_export."""
    if meta.get("format") != FORMAT or "config" not in meta:
        raise InputError(f"{path}: not a wavjepa-nat export (metadata format={meta.get('format')!r})")
    try:
        stored = json.loads(meta["config"])
    except json.JSONDecodeError as err:
        raise InputError(f"{path}: its stored model config is not JSON ({err.msg})") from None
    cfg = stored_model_config(stored, path)
    parts: dict[str, dict] = {"encoder": {}, "target_encoder": {}, "predictor": {}}
    for k, v in current_names(state).items():
        prefix = next((p for p in EXTRA_PREFIXES if k.startswith(p)), None)
        if prefix is None:
            parts["encoder"][k] = v
        else:
            parts[prefix[:-1]][k[len(prefix) :]] = v
    source = {"kind": "wavjepa-nat export", "path": str(path.resolve())}
    if "origin" in meta:
        try:
            source["imported_from"] = json.loads(meta["origin"])
        except json.JSONDecodeError:
            source["imported_from"] = meta["origin"]
    return cfg, parts, source


def _encoder_from_safetensors(path: Path) -> Encoder:
    meta, state = read_export(path)
    if meta.get("format") != FORMAT and looks_like_reference(state):  # model.safetensors of a HF folder
        return _reference_encoder(read_huggingface(path))
    cfg, parts, source = export_parts(path, meta, state)
    enc = Encoder(cfg)
    load_part_weights(enc, parts["encoder"], path)
    enc.source = source
    return enc


def _as_encoder(obj: Any) -> Encoder:
    if isinstance(obj, (str, os.PathLike)):
        return _load_encoder(Path(obj))
    if isinstance(obj, Encoder):
        return obj
    model = getattr(obj, "model", obj)  # WavJEPAModule -> WavJEPA
    if isinstance(getattr(model, "encoder", None), Encoder):
        return model.encoder
    raise InputError(
        f"cannot export {type(obj).__name__}: expected a checkpoint path, WavJEPAModule or WavJEPA"
    )


def _load_encoder(path: Path) -> Encoder:
    if path.is_dir():  # a Hugging Face style folder of the reference
        return _reference_encoder(read_huggingface(path))
    if not path.is_file():
        raise InputError(f"model file not found: {path}")
    if path.suffix == ".safetensors":
        return _encoder_from_safetensors(path)
    if path.name == "pytorch_model.bin":
        return _reference_encoder(read_huggingface(path))
    return _encoder_from_ckpt(path)


def import_weights(src: str | os.PathLike, out_path: str | os.PathLike, allow_pickle: bool = False) -> Path:
    """A reference checkpoint or Hugging Face folder -> this project's export (with the teacher and the
    predictor when the source has them, and the source's description in the metadata)."""
    imported = import_reference(src, allow_pickle=allow_pickle)
    enc = Encoder(imported.config)
    enc.load_state_dict(imported.encoder, strict=True)
    extras = {f"target_encoder.{k}": v for k, v in (imported.target_encoder or {}).items()}
    extras.update({f"predictor.{k}": v for k, v in (imported.predictor or {}).items()})
    return export_weights(enc, out_path, extras=extras, origin=imported.source)


def export_weights(
    ckpt_or_module: Any,
    out_path: str | os.PathLike,
    extras: dict[str, torch.Tensor] | None = None,
    origin: dict | None = None,
) -> Path:
    """Write the context encoder's weights, with config JSON and package version as metadata.

    extras: more tensors, named under EXTRA_PREFIXES (the target encoder and predictor of an import);
    origin: where the weights came from (metadata "origin", JSON), for imported models.
    """
    from safetensors.torch import save_file

    from wavjepa_nat.checks import check_output_file

    out = check_output_file(out_path, "--out")  # before the (possibly large) model is read
    enc = _as_encoder(ckpt_or_module)
    if origin is None and "teacher" in (getattr(enc, "source", None) or {}):
        origin = enc.source  # the export keeps where its training targets came from
    out.parent.mkdir(parents=True, exist_ok=True)
    state = {k: v.detach().to("cpu").contiguous() for k, v in enc.state_dict().items()}
    for k, v in (extras or {}).items():
        if not k.startswith(EXTRA_PREFIXES):
            raise ValueError(f"extra tensor {k!r} must be named under one of {EXTRA_PREFIXES}")
        state[k] = v.detach().to("cpu").contiguous()
    meta = {
        "format": FORMAT,
        "format_version": FORMAT_VERSION,
        "config": json.dumps(enc.config.to_dict()),
        "wavjepa_nat_version": package_version(),
        "source": "context_encoder",
    }
    if origin is not None:
        meta["origin"] = json.dumps(origin)
    with atomic_path(out) as tmp:  # a reader never sees a half-written export
        save_file(state, str(tmp), metadata=meta)
    return out


def load_model(path: str | os.PathLike) -> nn.Module:
    """Encoder (eval mode) from a Lightning .ckpt or a .safetensors export, or from the reference's published
    weights (a reference .ckpt, a Hugging Face folder or its model.safetensors / pytorch_model.bin).

    forward(audio (B, C, S)) -> (B, T, channels * embed_dim); attributes sample_rate, channels, embed_dim,
    output_dim, hop_ms, crop_samples, config, source (a dict: kind, path, and for imports the reference file).
    """
    return _load_encoder(Path(path)).eval()
