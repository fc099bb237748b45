"""Export the context encoder to safetensors (weights + config JSON + version) and load it back.

`load_model(path)` takes a Lightning .ckpt or a .safetensors export and returns the `Encoder` in eval mode.
Both paths load the same fp32 tensors into the same module, so outputs are bitwise equal.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import torch
from torch import nn

from wavjepa_nat.version import package_version
from wavjepa_nat.errors import InputError
from wavjepa_nat.nat_model.config import ModelConfig
from wavjepa_nat.nat_model.encoder import Encoder

FORMAT = "wavjepa-nat-encoder"
FORMAT_VERSION = "1"
_CKPT_PREFIX = "model.encoder."


def _config_from_hparams(hparams: dict[str, Any]) -> ModelConfig:
    if isinstance(hparams.get("config"), dict):
        hparams = hparams["config"]
    known = set(ModelConfig.__dataclass_fields__)
    return ModelConfig.from_dict({k: v for k, v in hparams.items() if k in known})


def _encoder_from_ckpt(path: Path) -> Encoder:
    try:
        ckpt = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as err:  # not a torch file, or not a plain-data checkpoint
        raise InputError(
            f"{path}: cannot read as a Lightning checkpoint ({type(err).__name__}: {err})"
        ) from err
    if not isinstance(ckpt, dict) or "state_dict" not in ckpt or "hyper_parameters" not in ckpt:
        raise InputError(f"{path}: not a wavjepa-nat Lightning checkpoint (no state_dict / hyper_parameters)")
    cfg = _config_from_hparams(dict(ckpt["hyper_parameters"]))
    state = {k[len(_CKPT_PREFIX) :]: v for k, v in ckpt["state_dict"].items() if k.startswith(_CKPT_PREFIX)}
    if not state:
        raise InputError(f"{path}: checkpoint holds no '{_CKPT_PREFIX}*' weights")
    enc = Encoder(cfg)
    enc.load_state_dict(state, strict=True)
    return enc


def _encoder_from_safetensors(path: Path) -> Encoder:
    from safetensors import safe_open
    from safetensors.torch import load_file

    try:
        with safe_open(str(path), framework="pt") as f:
            meta = f.metadata() or {}
        state = load_file(str(path), device="cpu")
    except Exception as err:
        raise InputError(f"{path}: cannot read as safetensors ({type(err).__name__}: {err})") from err
    if meta.get("format") != FORMAT or "config" not in meta:
        raise InputError(f"{path}: not a wavjepa-nat export (metadata format={meta.get('format')!r})")
    enc = Encoder(ModelConfig.from_dict(json.loads(meta["config"])))
    enc.load_state_dict(state, strict=True)
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
    if not path.is_file():
        raise InputError(f"model file not found: {path}")
    if path.suffix == ".safetensors":
        return _encoder_from_safetensors(path)
    return _encoder_from_ckpt(path)


def export_weights(ckpt_or_module: Any, out_path: str | os.PathLike) -> Path:
    """Write the context encoder's weights, with config JSON and package version as metadata."""
    from safetensors.torch import save_file

    enc = _as_encoder(ckpt_or_module)
    out = Path(out_path)
    out.parent.mkdir(parents=True, exist_ok=True)
    state = {k: v.detach().to("cpu").contiguous() for k, v in enc.state_dict().items()}
    meta = {
        "format": FORMAT,
        "format_version": FORMAT_VERSION,
        "config": json.dumps(enc.config.to_dict()),
        "wavjepa_nat_version": package_version(),
        "source": "context_encoder",
    }
    tmp = out.with_name(out.name + ".tmp")
    save_file(state, str(tmp), metadata=meta)
    os.replace(tmp, out)  # atomic: a reader never sees a half-written export
    return out


def load_model(path: str | os.PathLike) -> nn.Module:
    """Encoder (eval mode) from a Lightning .ckpt or a .safetensors export.

    forward(audio (B, C, S)) -> (B, T, channels * embed_dim); attributes sample_rate, channels, embed_dim,
    output_dim, hop_ms, crop_samples, config.
    """
    return _load_encoder(Path(path)).eval()
