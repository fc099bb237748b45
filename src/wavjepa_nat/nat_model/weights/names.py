"""State dicts saved under earlier module names load under today's.

Earlier, a WaveformEncoder kept its layers in one nn.Sequential, named by position: `cnn.layers.0` the first
conv, `cnn.layers.1` its GroupNorm, then a GELU and (conv, GELU) pairs, so conv i (i >= 1) was
`cnn.layers.{2i+1}`; a transformer block's MLP was Sequential(Linear, GELU, Linear): `mlp.0`, `mlp.2`. They
are now named: `cnn.convs.{i}`, `cnn.first_norm`, `mlp.fc1`, `mlp.fc2`. Checkpoints and exports written
before the rename are read through `current_names`.
"""

from __future__ import annotations

import re

_OLD_CNN = re.compile(r"(^|\.)cnn\.layers\.(\d+)\.")
_OLD_MLP = {"0": "fc1", "2": "fc2"}
_OLD_MLP_NAME = re.compile(r"(^|\.)mlp\.([02])\.")


def _cnn_part(position: int) -> str:
    if position == 1:
        return "first_norm"
    return f"convs.{0 if position == 0 else (position - 1) // 2}"


def current_name(key: str) -> str:
    """A tensor's name under today's module names (names already current are returned as they are)."""
    key = _OLD_CNN.sub(lambda m: f"{m.group(1)}cnn.{_cnn_part(int(m.group(2)))}.", key)
    return _OLD_MLP_NAME.sub(lambda m: f"{m.group(1)}mlp.{_OLD_MLP[m.group(2)]}.", key)


def current_names(state: dict) -> dict:
    """The state dict with every tensor under its current name (the same tensors, in the same order)."""
    return {current_name(k): v for k, v in state.items()}
