"""torch.load without running pickled code: checkpoints of this project and of the reference alike."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import torch
from torch import nn

from wavjepa_nat.errors import InputError


def _unsupported_global(err: Exception) -> str:
    m = re.search(r"Unsupported global: GLOBAL ([\w.]+)", str(err))
    return m.group(1) if m else type(err).__name__


def torch_load(path: Path, allow_pickle: bool = False) -> Any:
    """torch.load without running pickled code: tensors, plain data and the few torch classes the reference
    pickles into its hyper-parameters (activation modules). allow_pickle=True: a full unpickle (trusted
    files only)."""
    if Path(path).is_file() and Path(path).stat().st_size == 0:
        raise InputError(f"{path} is empty (0 bytes): not a checkpoint (a copy or a save cut short?)")
    if allow_pickle:
        return torch.load(path, map_location="cpu", weights_only=False)
    safe = [nn.GELU, nn.ReLU, nn.SiLU, nn.Tanh, nn.MSELoss, nn.L1Loss, nn.SmoothL1Loss]
    for mod, name in (
        ("lightning.fabric.utilities.data", "AttributeDict"),
        ("pytorch_lightning.utilities.parsing", "AttributeDict"),
    ):
        try:
            safe.append(getattr(__import__(mod, fromlist=[name]), name))
        except (ImportError, AttributeError):
            pass
    try:
        with torch.serialization.safe_globals(safe):
            return torch.load(path, map_location="cpu", weights_only=True)
    except Exception as err:
        if "Weights only load failed" in str(err) or "Unsupported global" in str(err):
            raise InputError(
                f"{path}: holds pickled objects that are not plain data ({_unsupported_global(err)}); "
                "if you trust the file, import it with `wavjepa-nat import-weights SRC --allow-pickle`"
            ) from None
        said = (str(err).strip().splitlines() or ["no message"])[0][:200]  # an empty file: EOFError('')
        raise InputError(
            f"{path}: cannot read as a torch checkpoint ({type(err).__name__}: {said})"
        ) from None
