"""Export the context encoder to safetensors (weights + config JSON + version) and load it back.

`load_model(path)` takes a Lightning .ckpt or a .safetensors export of this project, or the published
reference weights directly (a reference .ckpt or Hugging Face folder, nat_model/reference.py), and returns
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
from wavjepa_nat.version import package_version

FORMAT = "wavjepa-nat-encoder"
FORMAT_VERSION = "1"
_CKPT_PREFIX = "model.encoder."
EXTRA_PREFIXES = ("target_encoder.", "predictor.")  # training parts an export may carry beside the encoder


def _config_from_hparams(hparams: dict[str, Any], path: Path | None = None) -> ModelConfig:
    if isinstance(hparams.get("config"), dict):
        hparams = hparams["config"]
    known = set(ModelConfig.__dataclass_fields__)
    return _stored_config({k: v for k, v in hparams.items() if k in known}, path)


def _stored_config(values: dict, path: Path | None) -> ModelConfig:
    """ModelConfig from a file's stored values: a damaged or foreign config is one line naming the file."""
    try:
        return ModelConfig.from_dict(values)
    except (TypeError, ValueError, KeyError) as err:  # InputError (a ValueError) too: name the file
        if path is None and isinstance(err, InputError):
            raise
        raise InputError(f"{path}: its stored model config is invalid ({_first_line(err)})") from None


def _first_line(err: Exception) -> str:
    lines = str(err).strip().splitlines()
    return lines[0] if lines else type(err).__name__


def _load_weights(module: nn.Module, state: dict, path: Path, part: str = "encoder") -> None:
    """load_state_dict(strict=True), its multi-line error turned into one line naming the tensors."""
    want = module.state_dict()
    missing = [k for k in want if k not in state]
    unexpected = [k for k in state if k not in want]
    shapes = [k for k in want if k in state and tuple(state[k].shape) != tuple(want[k].shape)]
    if missing or unexpected or shapes:
        found = [
            f"{len(missing)} missing (e.g. {missing[0]})" if missing else "",
            f"{len(unexpected)} unexpected (e.g. {unexpected[0]})" if unexpected else "",
            f"{len(shapes)} of another shape (e.g. {shapes[0]}: {tuple(state[shapes[0]].shape)} vs "
            f"{tuple(want[shapes[0]].shape)})"
            if shapes
            else "",
        ]
        raise InputError(
            f"{path}: the {part} weights do not match its model config: "
            + ", ".join(f for f in found if f)
            + " (a damaged or partial file?)"
        )
    module.load_state_dict(state, strict=True)


def _read_ckpt(path: Path) -> dict:
    from wavjepa_nat.nat_model.reference import torch_load

    try:
        ckpt = torch_load(path)  # plain data only (and the activation modules the reference pickles)
    except InputError as err:
        raise InputError(f"cannot read as a Lightning checkpoint: {err}") from None
    if not isinstance(ckpt, dict) or not isinstance(ckpt.get("state_dict"), dict):
        raise InputError(f"{path}: not a Lightning checkpoint (no state_dict)")
    return ckpt


def _is_native(ckpt: dict) -> bool:
    return "hyper_parameters" in ckpt and any(k.startswith(_CKPT_PREFIX) for k in ckpt["state_dict"])


def _parts_from_ckpt(path: Path, ckpt: dict) -> tuple[ModelConfig, dict[str, dict]]:
    """(config, {"encoder": ..., "target_encoder": ..., "predictor": ...}) of this project's checkpoint."""
    if not _is_native(ckpt):
        raise InputError(
            f"{path}: not a wavjepa-nat Lightning checkpoint (no hyper_parameters / "
            f"'{_CKPT_PREFIX}*' weights)"
        )
    cfg = _config_from_hparams(dict(ckpt["hyper_parameters"]), path)
    parts = {}
    for part in ("encoder", "target_encoder", "predictor"):
        prefix = f"model.{part}."
        parts[part] = {k[len(prefix) :]: v for k, v in ckpt["state_dict"].items() if k.startswith(prefix)}
    return cfg, parts


def _encoder_from_ckpt(path: Path) -> Encoder:
    ckpt = _read_ckpt(path)
    if not _is_native(ckpt):
        from wavjepa_nat.nat_model.reference import looks_like_reference, read_lightning

        if looks_like_reference(ckpt["state_dict"]):
            return _reference_encoder(read_lightning(path, ckpt))
    cfg, parts = _parts_from_ckpt(path, ckpt)
    enc = Encoder(cfg)
    _load_weights(enc, parts["encoder"], path)
    enc.source = {"kind": "wavjepa-nat checkpoint", "path": str(path.resolve())}
    return enc


def _reference_encoder(ref) -> Encoder:
    from wavjepa_nat.nat_model.reference import load_reference_encoder

    return load_reference_encoder(ref.path, ref=ref)


def _read_export(path: Path) -> tuple[dict, dict[str, torch.Tensor]]:
    from safetensors import safe_open
    from safetensors.torch import load_file

    try:
        with safe_open(str(path), framework="pt") as f:
            meta = f.metadata() or {}
        state = load_file(str(path), device="cpu")
    except Exception as err:
        raise InputError(f"{path}: cannot read as safetensors ({type(err).__name__}: {err})") from err
    return meta, state


def _split_export(path: Path, meta: dict, state: dict) -> tuple[ModelConfig, dict[str, dict], dict]:
    if meta.get("format") != FORMAT or "config" not in meta:
        raise InputError(f"{path}: not a wavjepa-nat export (metadata format={meta.get('format')!r})")
    try:
        stored = json.loads(meta["config"])
    except json.JSONDecodeError as err:
        raise InputError(f"{path}: its stored model config is not JSON ({err.msg})") from None
    cfg = _stored_config(stored, path)
    parts: dict[str, dict] = {"encoder": {}, "target_encoder": {}, "predictor": {}}
    for k, v in state.items():
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
    meta, state = _read_export(path)
    if meta.get("format") != FORMAT:
        from wavjepa_nat.nat_model.reference import looks_like_reference, read_huggingface

        if looks_like_reference(state):  # model.safetensors of a Hugging Face folder
            return _reference_encoder(read_huggingface(path))
    cfg, parts, source = _split_export(path, meta, state)
    enc = Encoder(cfg)
    _load_weights(enc, parts["encoder"], path)
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
        from wavjepa_nat.nat_model.reference import read_huggingface

        return _reference_encoder(read_huggingface(path))
    if not path.is_file():
        raise InputError(f"model file not found: {path}")
    if path.suffix == ".safetensors":
        return _encoder_from_safetensors(path)
    if path.name == "pytorch_model.bin":
        from wavjepa_nat.nat_model.reference import read_huggingface

        return _reference_encoder(read_huggingface(path))
    return _encoder_from_ckpt(path)


def load_training_weights(path: str | os.PathLike) -> tuple[ModelConfig, dict[str, dict], dict]:
    """(model config, {"encoder", "target_encoder", "predictor": state dicts, empty when absent}, source)
    from an export, a wavjepa-nat checkpoint or a reference source: what `train --init-from` starts from."""
    from wavjepa_nat.nat_model import reference

    path = Path(path)
    if not path.exists():
        raise InputError(f"--init-from: not found: {path}")
    if path.is_file() and path.suffix == ".safetensors":
        meta, state = _read_export(path)
        if meta.get("format") == FORMAT:
            return _split_export(path, meta, state)
    elif path.is_file() and path.name != "pytorch_model.bin":
        ckpt = _read_ckpt(path)
        if _is_native(ckpt):
            cfg, parts = _parts_from_ckpt(path, ckpt)
            return cfg, parts, {"kind": "wavjepa-nat checkpoint", "path": str(path.resolve())}
        imported = reference.convert(reference.read_lightning(path, ckpt))
        return imported.config, _imported_parts(imported), imported.source
    imported = reference.import_reference(path)
    return imported.config, _imported_parts(imported), imported.source


def init_model_config(
    src: str | os.PathLike, run_cfg: ModelConfig, channels: int
) -> tuple[ModelConfig, dict]:
    """For `train --init-from SRC`: the run's config with the architecture of SRC's weights (the fields in
    config.ARCHITECTURE_FIELDS), and the state dicts to load (init_from_weights)."""
    from wavjepa_nat.nat_model.config import ARCHITECTURE_FIELDS

    weights_cfg, parts, source = load_training_weights(src)
    if weights_cfg.channels != int(channels):
        raise InputError(
            f"--init-from {src} is a {weights_cfg.channels}-channel model but --channels is {channels}"
        )
    values = run_cfg.to_dict()
    values.update({f: getattr(weights_cfg, f) for f in ARCHITECTURE_FIELDS})
    values["conv_spec"] = [list(p) for p in weights_cfg.conv_spec]
    values["top_k_targets"] = min(values["top_k_targets"], weights_cfg.depth)
    return ModelConfig.from_dict(values), {"parts": parts, "source": source}


def init_from_weights(model: nn.Module, init: dict) -> None:
    """Load init_model_config's weights into a WavJEPA: context encoder, target encoder (the source's teacher,
    else a copy of its encoder) and the predictor when the source has one (else it stays as initialised)."""
    parts = init["parts"]
    model.encoder.load_state_dict(parts["encoder"], strict=True)
    model.target_encoder.load_state_dict(parts["target_encoder"] or parts["encoder"], strict=True)
    if parts["predictor"]:
        model.predictor.load_state_dict(parts["predictor"], strict=True)


def _imported_parts(imported) -> dict[str, dict]:
    return {
        "encoder": imported.encoder,
        "target_encoder": imported.target_encoder or {},
        "predictor": imported.predictor or {},
    }


def import_weights(src: str | os.PathLike, out_path: str | os.PathLike, allow_pickle: bool = False) -> Path:
    """A reference checkpoint or Hugging Face folder -> this project's export (with the teacher and the
    predictor when the source has them, and the source's description in the metadata)."""
    from wavjepa_nat.nat_model.reference import import_reference

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


def source_text(source: dict | None) -> str:
    """One line naming where a model's weights came from (for reports)."""
    if not source:
        return "unknown"
    text = f"{source.get('kind', 'model')}: {source.get('path', '?')}"
    inner = source.get("imported_from")
    if isinstance(inner, dict):
        text += f", imported from {source_text(inner)}"
    if source.get("reference"):
        sha = str(source.get("sha256", ""))[:12]
        text += f" ({source['reference']}, {source.get('model', '')}, sha256 {sha})"
    return text


def load_model(path: str | os.PathLike) -> nn.Module:
    """Encoder (eval mode) from a Lightning .ckpt or a .safetensors export, or from the reference's published
    weights (a reference .ckpt, a Hugging Face folder or its model.safetensors / pytorch_model.bin).

    forward(audio (B, C, S)) -> (B, T, channels * embed_dim); attributes sample_rate, channels, embed_dim,
    output_dim, hop_ms, crop_samples, config, source (a dict: kind, path, and for imports the reference file).
    """
    return _load_encoder(Path(path)).eval()
