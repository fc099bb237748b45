"""This project's Lightning checkpoints (.ckpt): the model config they store and their weights by part.

A checkpoint holds `hyper_parameters` (the ModelConfig dict, read back with config.stored_config) and the
WavJEPA's weights under `model.encoder.`, `model.target_encoder.` and `model.predictor.`; names written
before a module rename are read under today's (names.py).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from torch import nn

from wavjepa_nat.errors import InputError
from wavjepa_nat.nat_model.config import ModelConfig, stored_config
from wavjepa_nat.nat_model.weights.names import current_names
from wavjepa_nat.nat_model.weights.torch_file import torch_load

CKPT_PREFIX = "model.encoder."
PARTS = ("encoder", "target_encoder", "predictor")


def config_from_hparams(hparams: dict[str, Any], path: Path | None = None) -> ModelConfig:
    if isinstance(hparams.get("config"), dict):
        hparams = hparams["config"]
    known = set(ModelConfig.__dataclass_fields__)
    return stored_model_config({k: v for k, v in hparams.items() if k in known}, path)


def stored_model_config(values: dict, path: Path | None) -> ModelConfig:
    """ModelConfig from a file's stored values: a damaged or foreign config is one line naming the file."""
    try:
        return stored_config(values)
    except (TypeError, ValueError, KeyError) as err:  # InputError (a ValueError) too: name the file
        if path is None and isinstance(err, InputError):
            raise
        raise InputError(f"{path}: its stored model config is invalid ({_first_line(err)})") from None


def _first_line(err: Exception) -> str:
    lines = str(err).strip().splitlines()
    return lines[0] if lines else type(err).__name__


def load_part_weights(module: nn.Module, state: dict, path: Path, part: str = "encoder") -> None:
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


def read_checkpoint(path: Path) -> dict:
    try:
        ckpt = torch_load(path)  # plain data only (and the activation modules the reference pickles)
    except InputError as err:
        raise InputError(f"cannot read as a Lightning checkpoint: {err}") from None
    if not isinstance(ckpt, dict) or not isinstance(ckpt.get("state_dict"), dict):
        raise InputError(f"{path}: not a Lightning checkpoint (no state_dict)")
    return ckpt


def is_native(ckpt: dict) -> bool:
    """A checkpoint of this project (not the reference's)."""
    return "hyper_parameters" in ckpt and any(k.startswith(CKPT_PREFIX) for k in ckpt["state_dict"])


def checkpoint_parts(path: Path, ckpt: dict) -> tuple[ModelConfig, dict[str, dict]]:
    """(config, {"encoder": ..., "target_encoder": ..., "predictor": ...}) of this project's checkpoint."""
    if not is_native(ckpt):
        raise InputError(
            f"{path}: not a wavjepa-nat Lightning checkpoint (no hyper_parameters / '{CKPT_PREFIX}*' weights)"
        )
    cfg = config_from_hparams(dict(ckpt["hyper_parameters"]), path)
    state = current_names(ckpt["state_dict"])
    parts = {}
    for part in PARTS:
        prefix = f"model.{part}."
        parts[part] = {k[len(prefix) :]: v for k, v in state.items() if k.startswith(prefix)}
    return cfg, parts
