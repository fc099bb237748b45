"""The one interface a sweep embeds through. Everything under models/ answers it: our checkpoints and exports
(nat_model.inference.Embedder), HEAR 2021 modules (hear_module.py), the log-mel statistics baseline
(logmel.py) and the GCC-PHAT + ILD baseline (gcc_ild.py); so can any user object."""

from __future__ import annotations

from typing import Protocol, runtime_checkable

import numpy as np


@runtime_checkable
class SceneEmbedder(Protocol):
    channels: int  # 1: gets the mean of the two ears; 2: both ears, row 0 = left
    output_dim: int
    sample_rate: int
    notes: list[str]  # what the embedder had to adapt (e.g. channels averaged), for the report

    def scene_embeddings(self, audio: np.ndarray) -> np.ndarray:
        """audio (n, C, S) at sample_rate -> (n, output_dim) float32, one vector per clip."""
        ...


def recognition_embeddings(emb: SceneEmbedder, audio: np.ndarray) -> np.ndarray:
    """What recognition probes and the drift read: the leading `semantic_dim` dims of an embedder that
    declares them (its later dims are spatial cues, e.g. the "apart" layout's; the direction probes read the
    whole embedding), else the whole embedding.

    Why: cues that are constant on a dry clip and move with every room would let a clean-trained probe
    fail on any room through dims that say nothing about what is heard.
    """
    x = emb.scene_embeddings(audio)
    dims = getattr(emb, "semantic_dim", None)
    return x if dims is None or dims >= x.shape[1] else x[:, :dims]
