"""A config as plain data, the one form in which every artifact stores it (config.yaml, checkpoints,
exports, corpus and report JSON): a dataclass becomes a dict, tuples become lists, recursively."""

from __future__ import annotations

import dataclasses
from typing import Any


def config_dict(config: Any) -> dict:
    """A dataclass config (or a dict read back from an artifact) as plain dicts and lists."""
    if dataclasses.is_dataclass(config) and not isinstance(config, type):
        config = dataclasses.asdict(config)
    return _plain(config)


def _plain(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    return value
