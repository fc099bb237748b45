"""A non-learned baseline: log-mel statistics, with interaural level differences for two channels.

Per channel: the mean and the standard deviation over time of the log-mel spectrogram (64 HTK-mel
bands, 25 ms Hann window, 10 ms hop, 16 kHz). For two channels also the mean interaural level
difference per band (left minus right, dB), the cue a trained binaural model should beat.
It answers the same call as the learned models in a sweep: `scene_embeddings(audio (n, C, S))`.
"""

from __future__ import annotations

import dataclasses

import numpy as np
import torch

from wavjepa_nat.dsp import mel_filterbank
from wavjepa_nat.nat_model.inference import match_channels


@dataclasses.dataclass
class LogMelConfig:
    sample_rate: int = 16000
    n_mels: int = 64
    win_ms: float = 25.0
    hop_ms: float = 10.0
    n_fft: int = 512
    fmin: float = 50.0
    fmax: float = 8000.0
    floor_db: float = -100.0  # log of silence stays finite


class LogMelBaseline:
    """Log-mel statistics features; `channels` is 1 (mono) or 2 (binaural, adds ILD per band)."""

    def __init__(self, channels: int = 2, config: LogMelConfig | None = None, name: str | None = None):
        if channels not in (1, 2):
            raise ValueError("channels must be 1 or 2")
        self.cfg = config or LogMelConfig()
        self.channels = channels
        self.name = name or f"logmel-stats-{'binaural' if channels == 2 else 'mono'}"
        self.sample_rate = self.cfg.sample_rate
        self.win = round(self.cfg.win_ms * self.cfg.sample_rate / 1000)
        self.hop = round(self.cfg.hop_ms * self.cfg.sample_rate / 1000)
        self.fbank = torch.from_numpy(
            mel_filterbank(
                self.cfg.n_mels, self.cfg.n_fft, self.cfg.sample_rate, self.cfg.fmin, self.cfg.fmax
            )
        )
        self.output_dim = channels * 2 * self.cfg.n_mels + (self.cfg.n_mels if channels == 2 else 0)
        self.notes: list[str] = []

    def log_mel(self, audio: np.ndarray) -> torch.Tensor:
        """(n, C, S) -> log-mel power in dB, (n, C, n_mels, frames)."""
        x = torch.from_numpy(np.ascontiguousarray(audio, dtype=np.float32))
        n, c, s = x.shape
        if s < self.win:
            x = torch.nn.functional.pad(x, (0, self.win - s))
        spec = torch.stft(
            x.reshape(n * c, -1),
            n_fft=self.cfg.n_fft,
            hop_length=self.hop,
            win_length=self.win,
            window=torch.hann_window(self.win),
            center=False,
            return_complex=True,
        )
        power = spec.real**2 + spec.imag**2  # (n*c, bins, frames)
        mel = torch.einsum("mf,bft->bmt", self.fbank, power)
        db = 10.0 * torch.log10(mel.clamp_min(10.0 ** (self.cfg.floor_db / 10.0)))
        return db.reshape(n, c, self.cfg.n_mels, -1)

    def scene_embeddings(self, audio: np.ndarray) -> np.ndarray:
        """audio (n, S) or (n, C, S) -> (n, output_dim) float32."""
        audio, note = match_channels(audio, self.channels)
        if note and note not in self.notes:
            self.notes.append(note)
        db = self.log_mel(audio)
        n = db.shape[0]
        feats = [db.mean(dim=-1).reshape(n, -1), db.std(dim=-1, unbiased=False).reshape(n, -1)]
        if self.channels == 2:
            feats.append((db[:, 0] - db[:, 1]).mean(dim=-1))  # ILD per band, dB
        return torch.cat(feats, dim=1).numpy().astype(np.float32)
