"""What the report says about each model: where its weights came from, its kind, input and configuration."""

from __future__ import annotations

import dataclasses
import os

from wavjepa_nat.serialise import config_dict


def source_text(source: dict | None) -> str:
    """One line naming where a model's weights came from (the `source` dict load_model sets)."""
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


def describe_model(name: str, spec, embedder) -> dict:
    """The report's description of one embedder: name, path, kind, source, sample rate, embedding size,
    input and config. spec: what the user gave (a path, a HEAR spec, an object), None for a baseline."""
    if spec is None:
        path = "non-learned baseline"
    else:
        path = str(spec) if isinstance(spec, (str, os.PathLike)) else type(spec).__name__
    config = getattr(embedder, "cfg", None) or getattr(getattr(embedder, "encoder", None), "config", None)
    desc = {
        "name": name,
        "path": path,
        "channels": embedder.channels,
        "embedding_dim": int(embedder.output_dim),
        "config": config_dict(config) if dataclasses.is_dataclass(config) else config,
    }
    source = getattr(getattr(embedder, "encoder", None), "source", None)  # set by load_model
    if isinstance(source, dict):
        desc.update(source=source_text(source), source_info=source)
    if hasattr(embedder, "describe"):  # a HEAR module: kind, source, its own sample rate, input, config
        desc.update(embedder.describe())
    if spec is None:
        kind = "non-learned baseline"
    elif isinstance(source, dict):
        kind = source.get("kind", "wavjepa-nat model")
    else:
        kind = "embedder"
    desc.setdefault("kind", getattr(embedder, "kind", None) or kind)
    desc.setdefault("source", path)
    desc.setdefault("sample_rate", int(embedder.sample_rate))
    desc.setdefault(
        "input", "binaural (both ears)" if embedder.channels == 2 else "mono mixdown (mean of the two ears)"
    )
    return desc
