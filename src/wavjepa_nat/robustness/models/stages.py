"""Where does the spatial information go? Clip embeddings at every stage of a binaural encoder.

    feats = stage_embeddings(encoder, audio)   # audio (n, 2, S) -> {stage: (n, D) float32}

Stages, in the order the encoder computes them (nat_model/encoder.py):

    conv/ear0, conv/ear1   each ear's conv stack output (the frames before LayerNorm + projection)
    conv/both              the two side by side
    tokens                 the projected tokens plus the ear/time positional embedding (both ears), and the
                           interaural path's per-frame cues when the model has one (ModelConfig.interaural)
    block1 .. blockN       the residual stream after each transformer block (both ears)
    output                 after the final LayerNorm: what the Embedder returns (ear_pool="concat")

Each stage is pooled to one vector per clip: the mean over time, per ear, ears concatenated. A crop
longer than the model's training crop is cut to it (one encoder window, as in training).
Every stage comes from the encoder's own computation (Encoder.frames_and_tokens, its transformer), so this
file cannot drift from the model.
"""

from __future__ import annotations

import numpy as np
import torch


@torch.inference_mode()
def stage_tensors(encoder, audio: torch.Tensor) -> dict[str, torch.Tensor]:
    """(B, C, S) -> {stage: (B, C, T, D)} for every stage named in the module docstring."""
    encoder.eval()
    B, C, S = audio.shape
    conv, tokens = encoder.frames_and_tokens(audio)
    T = conv.shape[2]
    out, layers = encoder.transformer(tokens, return_layers=True)
    stages = {f"conv/ear{c}": conv[:, c : c + 1] for c in range(C)}
    stages["conv/both"] = conv
    stages["tokens"] = tokens.reshape(B, C, T, -1)
    for i, layer in enumerate(layers):
        stages[f"block{i + 1}"] = layer.reshape(B, C, T, -1)
    stages["output"] = out.reshape(B, C, T, -1)
    return stages


def stage_embeddings(encoder, audio: np.ndarray, batch_size: int = 16) -> dict[str, np.ndarray]:
    """audio (n, C, S) -> {stage: (n, C_stage * D) float32}: each stage's time-mean per ear, concatenated."""
    audio = np.asarray(audio, dtype=np.float32)[..., : int(encoder.crop_samples)]
    out: dict[str, list[np.ndarray]] = {}
    for i in range(0, len(audio), batch_size):
        x = torch.from_numpy(np.ascontiguousarray(audio[i : i + batch_size]))
        for name, t in stage_tensors(encoder, x).items():
            out.setdefault(name, []).append(t.mean(dim=2).reshape(t.shape[0], -1).float().numpy())
    return {k: np.concatenate(v) for k, v in out.items()}
