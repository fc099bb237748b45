"""What the predictor learns to predict at the masked tokens, on the student's token grid (ear-major).

    layer_average_target   a teacher encoder's target (I-JEPA, WavJEPA): the mean of its last K block
                           outputs, each instance-normalised over tokens
    teacher_view           the audio a teacher encodes: the student's crops or their dry sources, with the
                           ears matched to the teacher's channels
    teacher_targets        a teacher encoder's targets for every student token (any channel count)
    LogMelTargets          SALT's stage 1 (--objective reconstruct): each token's log-mel spectrum
    FrozenTeacher          a loaded model held frozen beside (not inside) the trained module

Channels: a mono teacher of a binaural student encodes the ear mean (re-normalised, as a mono crop is) or
the dry mono clip, and both ears' tokens of a frame get its token's target; a binaural teacher of a mono
student hears the mono crop on both ears, and a frame's target is the mean of its two ears' targets.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from wavjepa_nat.dsp import mel_filterbank
from wavjepa_nat.nat_model.encoder import Encoder

# Log-mel bands of the reconstruction targets: the project's log-mel baseline's filterbank.
N_MELS, MEL_FMIN, MEL_FLOOR_DB = 64, 50.0, -100.0


def layer_average_target(layers: list[torch.Tensor], k: int) -> torch.Tensor:
    """Mean of the last k block outputs (B, N, D), each instance-normalised over tokens, in fp32."""
    normed = [F.instance_norm(h.float().transpose(1, 2)).transpose(1, 2) for h in layers[-k:]]
    return torch.stack(normed).mean(0)


def normalise_crops(x: torch.Tensor, eps: float = 1e-12) -> torch.Tensor:
    """Zero mean, unit variance per crop over (channels, time), as the training crops are."""
    var, mean = torch.var_mean(x, dim=(-2, -1), correction=0, keepdim=True)
    return (x - mean) * torch.rsqrt(var.double() + eps).float()


def teacher_view(audio: torch.Tensor, dry: torch.Tensor | None, channels: int) -> torch.Tensor:
    """The crops a teacher of `channels` channels encodes: `dry` (B, 1, S) when given, else the student's
    `audio` (B, C, S); one channel is duplicated to two ears, two ears are averaged to one."""
    x = audio if dry is None else dry
    if x.shape[1] == channels:
        return x
    if channels == 1:
        return normalise_crops(x.float().mean(1, keepdim=True))
    return x.expand(-1, channels, -1)


def teacher_targets(
    encoder: nn.Module, view: torch.Tensor, k: int, channels: int
) -> tuple[torch.Tensor, torch.Tensor]:
    """(targets (B, channels*T, D) fp32 for the student's tokens, the teacher's raw last layer)."""
    _, layers = encoder.encode(view, return_layers=True)
    target = layer_average_target(layers, k)
    c = view.shape[1]
    if c == channels:
        return target, layers[-1]
    b, n, d = target.shape
    if c == 1:  # a mono teacher: each ear's token of a frame gets the frame's target
        return target.repeat(1, channels, 1), layers[-1]
    return target.reshape(b, c, n // c, d).mean(1), layers[-1]  # a binaural teacher of a mono student


class LogMelTargets(nn.Module):
    """Each token's log-mel spectrum: ear c's samples of frame t (the encoder's receptive field of that
    frame, [t*hop, t*hop + field)), Hann-windowed, |rfft|^2 on n_fft points, N_MELS HTK-mel bands
    (dsp.mel_filterbank), 10 log10 floored at MEL_FLOOR_DB; then each band instance-normalised
    over the crop's tokens (both ears jointly, so level differences between the ears stay), as the
    encoder targets are. Log-mel and not the waveform: a frame's waveform is mostly phase, which the context
    cannot predict, so a waveform loss would be dominated by noise the student can never fit."""

    def __init__(self, fs: int, hop: int, field: int) -> None:
        super().__init__()
        self.hop, self.field = int(hop), int(field)
        self.n_fft = 1 << max(0, (2 * self.field - 1).bit_length())  # >= 2 * field: a finer grid
        fbank = mel_filterbank(N_MELS, self.n_fft, int(fs), MEL_FMIN, fs / 2.0)
        self.register_buffer("fbank", torch.from_numpy(fbank), persistent=False)
        self.register_buffer("window", torch.hann_window(self.field, periodic=False), persistent=False)

    @property
    def dim(self) -> int:
        return N_MELS

    @torch.no_grad()
    def forward(self, audio: torch.Tensor, n_time: int) -> torch.Tensor:
        """(B, C, S) -> (B, C*T, N_MELS) fp32 targets, ear-major like the tokens."""
        b, c, _ = audio.shape
        frames = audio.float().unfold(-1, self.field, self.hop)[:, :, :n_time]  # (B, C, T, field)
        power = torch.fft.rfft(frames * self.window, n=self.n_fft).abs().square()
        mel = power @ self.fbank.T  # (B, C, T, N_MELS)
        db = 10.0 * torch.log10(mel.clamp_min(10.0 ** (MEL_FLOOR_DB / 10.0)))
        tokens = db.reshape(b, c * n_time, N_MELS)
        return F.instance_norm(tokens.transpose(1, 2)).transpose(1, 2)


class FrozenTeacher:
    """A loaded encoder as the teacher: frozen (no gradients, eval mode, never updated).

    Deliberately not an nn.Module attribute of the model: it is not in the state_dict (checkpoints record its
    origin, `origin`, instead), not in parameters() (so neither the optimizer, the EMA nor DDP see it), and
    model.train() leaves it in eval mode. It follows the crops to their device on first use.
    """

    def __init__(self, encoder: Encoder, origin: dict | None = None) -> None:
        self.encoder = encoder.eval().requires_grad_(False)
        self.origin = dict(origin or {})
        cfg = encoder.config
        self.top_k = min(int(cfg.top_k_targets), int(cfg.depth))
        self.channels, self.embed_dim = int(encoder.channels), int(encoder.embed_dim)

    def on(self, device: torch.device) -> Encoder:
        first = next(self.encoder.parameters())
        if first.device != device:
            self.encoder.to(device)
        return self.encoder
