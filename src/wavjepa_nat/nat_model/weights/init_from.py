"""`train --init-from SRC`: start a run from saved weights (an export, a wavjepa-nat checkpoint, or the
reference's published weights), with the architecture of the weights and the run's own schedule."""

from __future__ import annotations

import os
from pathlib import Path

from torch import nn

from wavjepa_nat.errors import InputError
from wavjepa_nat.nat_model.config import ARCHITECTURE_FIELDS, ModelConfig
from wavjepa_nat.nat_model.weights.checkpoint import checkpoint_parts, is_native, read_checkpoint
from wavjepa_nat.nat_model.weights.export import FORMAT, export_parts, read_export
from wavjepa_nat.nat_model.weights.reference import ImportedModel, convert, import_reference
from wavjepa_nat.nat_model.weights.reference_files import read_lightning


def load_training_weights(path: str | os.PathLike) -> tuple[ModelConfig, dict[str, dict], dict]:
    """(model config, {"encoder", "target_encoder", "predictor": state dicts, empty when absent}, source)
    from an export, a wavjepa-nat checkpoint or a reference source: what `train --init-from` starts from."""
    path = Path(path)
    if not path.exists():
        raise InputError(f"--init-from: not found: {path}")
    if path.is_file() and path.suffix == ".safetensors":
        meta, state = read_export(path)
        if meta.get("format") == FORMAT:
            return export_parts(path, meta, state)
    elif path.is_file() and path.name != "pytorch_model.bin":
        ckpt = read_checkpoint(path)
        if is_native(ckpt):
            cfg, parts = checkpoint_parts(path, ckpt)
            return cfg, parts, {"kind": "wavjepa-nat checkpoint", "path": str(path.resolve())}
        imported = convert(read_lightning(path, ckpt))
        return imported.config, _imported_parts(imported), imported.source
    imported = import_reference(path)
    return imported.config, _imported_parts(imported), imported.source


def init_model_config(
    src: str | os.PathLike, run_cfg: ModelConfig, channels: int
) -> tuple[ModelConfig, dict]:
    """For `train --init-from SRC`: the run's config with the architecture of SRC's weights (the fields in
    config.ARCHITECTURE_FIELDS), and the state dicts to load (init_from_weights)."""
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
    if model.target_encoder is not None:  # None: a frozen teacher or log-mel targets (nat_model.jepa.Recipe)
        model.target_encoder.load_state_dict(parts["target_encoder"] or parts["encoder"], strict=True)
    out = parts["predictor"].get("out.weight")
    other_targets = out is not None and tuple(out.shape) != tuple(model.predictor.out.weight.shape)
    if parts["predictor"] and not other_targets:  # a predictor of other targets stays as initialised
        model.predictor.load_state_dict(parts["predictor"], strict=True)


def _imported_parts(imported: ImportedModel) -> dict[str, dict]:
    return {
        "encoder": imported.encoder,
        "target_encoder": imported.target_encoder or {},
        "predictor": imported.predictor or {},
    }
