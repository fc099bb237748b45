"""Embedding audio files into one HDF5 file (`wavjepa-nat embed`); the inference itself is
nat_model/inference.py."""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np
import torch

from wavjepa_nat.audio import probe_audio, read_audio
from wavjepa_nat.checks import check_output_file
from wavjepa_nat.errors import InputError
from wavjepa_nat.files import atomic_path
from wavjepa_nat.nat_model.inference import Embedder
from wavjepa_nat.serialise import config_dict
from wavjepa_nat.version import package_version


def _config_json(encoder: torch.nn.Module) -> str:
    config = getattr(encoder, "config", None)
    if dataclasses.is_dataclass(config):
        config = config_dict(config)
    return json.dumps(config, default=str, sort_keys=True)


def check_embeddings_out(out_h5: str | Path) -> None:
    """Before any work: --out can be written, and an existing file there is an HDF5 file (embeddings
    written before), not something else that replacing it would destroy."""
    import h5py

    out = check_output_file(out_h5, "--out")
    if out.is_file() and out.stat().st_size and not h5py.is_hdf5(out):
        raise InputError(f"--out {out} exists and is not an HDF5 file; choose another --out (it is kept)")


def embed_files(
    encoder,
    paths: Sequence[str | Path],
    out_h5: str | Path,
    device: str = "cpu",
    batch_size: int = 16,
    keys: Sequence[str] | None = None,
    on_file: Callable[[int], None] | None = None,
) -> Path:
    """Embed audio files into one HDF5 file.

    Layout: `scene` (N, D); `frames` (sum T_i, D) with `timestamps_ms` (sum T_i,) and
    `offsets` (N+1,): file i owns rows offsets[i]:offsets[i+1]; `keys` (N,) strings.
    Attrs: model_config (JSON), version, sample_rate, hop_ms, notes (JSON list).
    encoder: a loaded encoder, or an embedder with timestamp_embeddings (an hf: model, huggingface.py;
    hop_ms is then NaN: its tokens are stamped evenly over each file).
    """
    import h5py

    check_embeddings_out(out_h5)
    ready = hasattr(encoder, "timestamp_embeddings")
    embedder = encoder if ready else Embedder(encoder, device=device, batch_size=batch_size)
    paths = [probe_audio(p) for p in paths]  # every header, before the first file is embedded
    keys = list(keys) if keys is not None else [str(p) for p in paths]
    scene, frames, stamps, offsets = [], [], [], [0]
    for i, path in enumerate(paths):
        # InputError naming the file when it is unreadable, cut short or holds NaN / inf samples.
        audio, _ = read_audio(path, fs=embedder.sample_rate, mono=False)
        if audio.shape[0] > 2:
            audio = audio.mean(axis=0, keepdims=True)
            note = "inputs with more than 2 channels averaged to mono"
            if note not in embedder.notes:
                embedder.notes.append(note)
        emb, ts = embedder.timestamp_embeddings(audio[None])
        if not np.isfinite(emb).all():
            raise InputError(f"the model gives non-finite embeddings for {path}; nothing was written")
        scene.append(emb[0].mean(axis=0))
        frames.append(emb[0])
        stamps.append(ts[0])
        offsets.append(offsets[-1] + emb.shape[1])
        if on_file is not None:
            on_file(i)

    out_h5 = Path(out_h5)
    out_h5.parent.mkdir(parents=True, exist_ok=True)
    # atomic: a crash never leaves a half-written file under the final name
    with atomic_path(out_h5) as tmp, h5py.File(tmp, "w") as f:
        d = embedder.output_dim
        empty = np.zeros((0, d), np.float32)
        f.create_dataset("scene", data=np.stack(scene).astype(np.float32) if scene else empty)
        f.create_dataset("frames", data=np.concatenate(frames) if frames else np.zeros((0, d), np.float32))
        f.create_dataset("timestamps_ms", data=np.concatenate(stamps) if stamps else np.zeros(0))
        f.create_dataset("offsets", data=np.asarray(offsets, dtype=np.int64))
        f.create_dataset("keys", data=np.asarray(keys, dtype=object), dtype=h5py.string_dtype())
        f.attrs["model_config"] = (
            json.dumps(encoder.describe()["config"], default=str, sort_keys=True)
            if ready
            else _config_json(encoder)
        )
        f.attrs["version"] = package_version()
        f.attrs["sample_rate"] = embedder.sample_rate
        f.attrs["hop_ms"] = float(getattr(encoder, "hop_ms", float("nan")))
        f.attrs["channels"] = embedder.channels
        f.attrs["notes"] = json.dumps(embedder.notes)
    return out_h5
