"""The HEAR 2021 API over a trained checkpoint (https://hearbenchmark.com/hear-api.html).

    model = load_model("wavjepa-nat.ckpt")
    emb, ts = get_timestamp_embeddings(audio, model)   # audio: (n, samples) at 16 kHz
    scene = get_scene_embeddings(audio, model)         # (n, D)

Timestamps lie on the encoder's own regular 10 ms grid (frame centres); the last one is never past
the clip's end. Clips of any length work: long clips are cut into 2.01 s windows that continue the
grid, short ones are zero-padded and only frames fully inside the clip are kept (see
nat_model/inference.py). A two-channel (WavJEPA-Nat) model receives the mono HEAR audio on both ears.
Scene embeddings are the mean of the timestamp embeddings over the clip.

`load_model("hf:PATH[@LAYER|@all]")` wraps a Hugging Face transformers model instead
(robustness/models/huggingface.py): the HEAR audio at the extractor's rate, its chosen layer's tokens as
timestamp embeddings (stamped evenly over the clip), their mean as the scene embedding.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from wavjepa_nat.errors import InputError
from wavjepa_nat.nat_model.inference import Embedder
from wavjepa_nat.robustness.models.huggingface import HFEmbedder, is_hf_spec


class HearModel(torch.nn.Module):
    """An Encoder with the attributes the HEAR API asks for."""

    def __init__(self, encoder: torch.nn.Module, batch_size: int = 16):
        super().__init__()
        self.encoder = encoder.eval()
        self.sample_rate = int(encoder.sample_rate)
        self.scene_embedding_size = int(encoder.output_dim)
        self.timestamp_embedding_size = int(encoder.output_dim)
        self.batch_size = batch_size
        self._embedder: Embedder | None = None

    def embedder(self) -> Embedder:
        """The Embedder on the device the module currently lives on (the caller may .to() it)."""
        device = next(self.encoder.parameters()).device
        if self._embedder is None or self._embedder.device != device:
            self._embedder = Embedder(self.encoder, device=device, batch_size=self.batch_size)
        return self._embedder

    def forward(self, audio: torch.Tensor) -> torch.Tensor:
        return get_scene_embeddings(audio, self)


class HFHearModel(torch.nn.Module):
    """An hf: model (HFEmbedder) with the attributes the HEAR API asks for."""

    def __init__(self, embedder: HFEmbedder):
        super().__init__()
        self.hf = embedder
        self.model = embedder.model  # registered, so .to() and .eval() reach it
        self.sample_rate = int(embedder.model_rate)
        self.scene_embedding_size = self.timestamp_embedding_size = int(embedder.output_dim)

    def embedder(self) -> HFEmbedder:
        self.hf.device = next(self.model.parameters()).device
        return self.hf

    def forward(self, audio: torch.Tensor) -> torch.Tensor:
        return get_scene_embeddings(audio, self)


def load_model(model_file_path: str = "", trust_remote_code: bool = False) -> HearModel | HFHearModel:
    """Load a checkpoint (Lightning .ckpt or safetensors export), or "hf:PATH[@LAYER|@all]", as a HEAR
    model; trust_remote_code lets an hf: folder with its own code run it."""
    if is_hf_spec(model_file_path):
        return HFHearModel(HFEmbedder(model_file_path, None, trust_remote_code=trust_remote_code))
    if not model_file_path:
        raise InputError("load_model needs the path of a trained checkpoint; none was given")
    if not Path(model_file_path).exists():
        raise InputError(f"checkpoint not found: {model_file_path}")
    from wavjepa_nat import load_model as load_encoder

    return HearModel(load_encoder(model_file_path))


def _as_numpy(audio: torch.Tensor) -> np.ndarray:
    if audio.ndim != 2:
        raise InputError(f"HEAR audio must have shape (n_sounds, n_samples), got {tuple(audio.shape)}")
    return audio.detach().float().cpu().numpy()


def get_timestamp_embeddings(
    audio: torch.Tensor, model: HearModel | HFHearModel
) -> tuple[torch.Tensor, torch.Tensor]:
    """audio (n, samples) -> (embeddings (n, T, D) float32, timestamps (n, T) float32 ms)."""
    emb, ts = model.embedder().timestamp_embeddings(_as_numpy(audio))
    return (
        torch.from_numpy(emb).to(audio.device),
        torch.from_numpy(ts.astype(np.float32)).to(audio.device),
    )


def get_scene_embeddings(audio: torch.Tensor, model: HearModel | HFHearModel) -> torch.Tensor:
    """audio (n, samples) -> (n, D) float32."""
    return torch.from_numpy(model.embedder().scene_embeddings(_as_numpy(audio))).to(audio.device)
