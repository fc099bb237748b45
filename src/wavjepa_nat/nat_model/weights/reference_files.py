"""Reading the published WavJEPA / WavJEPA-Nat weights (labhamlet/wavjepa) from local files (nothing is
downloaded): a reference Lightning checkpoint (`.ckpt` with a `state_dict`), or a Hugging Face style folder
(`config.json` + `model.safetensors` or `pytorch_model.bin`, the same names under `model.`), or the weights
file inside such a folder. Runs trained with torch.compile carry `_orig_mod.` inside the names, which is
dropped. The result is the tensors under normalised names (reference.py maps them onto this project's).
"""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path
from typing import Any

import torch

from wavjepa_nat.errors import InputError
from wavjepa_nat.nat_model.weights.torch_file import torch_load

REFERENCE = "labhamlet/wavjepa"
HF_WEIGHTS = ("model.safetensors", "pytorch_model.bin")
# A block of the reference's conv stack is an nn.Sequential, so its parts are named by position:
# (Conv1d, Dropout, GroupNorm, GELU) in the first block, (Conv1d, Dropout, GELU) in the others.
REF_CONV = "0"
REF_GROUP_NORM = "2"


@dataclasses.dataclass
class ReferenceWeights:
    """The tensors of a reference source under normalised names (no `model.`, no `_orig_mod.`)."""

    state: dict[str, torch.Tensor]
    original: dict[str, str]  # normalised name -> the name in the file (for messages)
    hparams: dict[str, Any]  # Lightning hyper_parameters or the Hugging Face config.json
    kind: str  # "lightning" | "huggingface"
    path: Path  # what the user gave
    weights_file: Path


def _normalise(name: str, hf: bool) -> str:
    name = name.replace("_orig_mod.", "")
    if hf and name.startswith("model."):
        name = name[len("model.") :]
    return name


def looks_like_reference(state: dict) -> bool:
    return any(_normalise(k, True).startswith("extract_audio.") for k in state)


def _from_state(raw: dict, hparams: dict, kind: str, path: Path, weights_file: Path) -> ReferenceWeights:
    hf = kind == "huggingface"
    state, original = {}, {}
    for key, value in raw.items():
        if not isinstance(value, torch.Tensor):
            continue
        name = _normalise(str(key), hf)
        if name in state:
            raise InputError(f"{path}: tensor '{key}' appears twice (also as '{original[name]}')")
        state[name], original[name] = value, str(key)
    if not any(n.startswith("extract_audio.") for n in state):
        raise InputError(f"{path}: not a {REFERENCE} WavJEPA model: no 'extract_audio.*' tensors")
    return ReferenceWeights(state, original, dict(hparams or {}), kind, path, weights_file)


def read_lightning(path: Path, ckpt: dict | None = None, allow_pickle: bool = False) -> ReferenceWeights:
    ckpt = torch_load(path, allow_pickle) if ckpt is None else ckpt
    if not isinstance(ckpt, dict) or not isinstance(ckpt.get("state_dict"), dict):
        raise InputError(f"{path}: not a Lightning checkpoint (no 'state_dict')")
    hparams = ckpt.get("hyper_parameters") or {}
    return _from_state(
        ckpt["state_dict"], dict(hparams) if isinstance(hparams, dict) else {}, "lightning", path, path
    )


def read_huggingface(path: Path, allow_pickle: bool = False) -> ReferenceWeights:
    """A folder with config.json and model.safetensors / pytorch_model.bin, or one of those files."""
    folder = path if path.is_dir() else path.parent
    if path.is_dir():
        found = [folder / f for f in HF_WEIGHTS if (folder / f).is_file()]
        if not found:
            raise InputError(f"{path}: no {' or '.join(HF_WEIGHTS)} in this folder")
        weights = found[0]
    else:
        weights = path
    config: dict = {}
    if (folder / "config.json").is_file():
        try:
            config = json.loads((folder / "config.json").read_text())
        except json.JSONDecodeError as err:
            raise InputError(f"{folder / 'config.json'}: not valid JSON ({err})") from None
    elif path.is_dir():
        raise InputError(f"{path}: no config.json in this folder")
    if weights.suffix == ".safetensors":
        from safetensors.torch import load_file

        try:
            raw = load_file(str(weights), device="cpu")
        except Exception as err:
            raise InputError(f"{weights}: cannot read as safetensors ({type(err).__name__}: {err})") from None
    else:
        raw = torch_load(weights, allow_pickle)
        if isinstance(raw, dict) and isinstance(raw.get("state_dict"), dict):
            raw = raw["state_dict"]
        if not isinstance(raw, dict):
            raise InputError(f"{weights}: not a state dict")
    return _from_state(raw, config, "huggingface", path, weights)


def read_reference(path: str | Path, allow_pickle: bool = False) -> ReferenceWeights:
    path = Path(path)
    if not path.exists():
        raise InputError(f"model not found: {path}")
    if path.is_dir() or path.suffix == ".safetensors" or path.name in HF_WEIGHTS:
        return read_huggingface(path, allow_pickle)
    return read_lightning(path, allow_pickle=allow_pickle)
