"""Model inference: clips of any length -> frame embeddings on a regular 10 ms grid, and clip embeddings.

The encoder sees fixed windows of `crop_samples` (2.01 s, the training crop). A window of
Tw frames advances by exactly Tw frame hops, so frames of consecutive windows continue one
regular grid (a 32160-sample window yields 200 frames = 32000 samples of hop; stepping by
the window length itself would leave a gap of one hop between windows). The last window is
aligned so that it ends at the clip's last frame: it holds real audio, not mostly zeros.
Only clips shorter than one window are zero-padded, and frames whose receptive field
reaches into that padding are dropped, so a clip yields exactly the frames the conv stack
would produce on the clip alone (at least one, however short the clip).

Channels: a mono clip given to a two-channel model is duplicated to both ears (no
interaural cues, as in the reference's clean clips); a binaural clip given to a mono model
is averaged to one channel, and `Embedder.notes` says so, for the report.

A model whose config says runtime="wavjepa" (an imported reference model, nat_model/weights/reference.py) is
run the way the reference's HEAR runtime runs it (hear_api/runtime.py, runtime_natjepa.py of
labhamlet/wavjepa): each clip scaled to an RMS of -14 dBFS; cut into 2.01 s windows back to back (window w
starts at sample w * 32160), the last one zero-padded; each window instance-normalised over (channels, time)
with the unbiased std, (x - mean) / (std + 1e-5), padding included; the frames the reference counts as
padding (pad seconds x its 100 frames/s, rounded down) masked out as attention keys and dropped; timestamps
i * clip duration / frames. Clips shorter than ~10 ms, where the reference keeps no frame, keep one.
"""

from __future__ import annotations

import dataclasses

import numpy as np
import torch

from wavjepa_nat.errors import InputError

MONO_FOR_BINAURAL = "mono input duplicated to both ears for a 2-channel model"
REFERENCE_DBFS = -14.0  # the reference runtime's input level
REFERENCE_NORM_EPS = 1e-5  # added to the std of each window
BINAURAL_FOR_MONO = "binaural input averaged to mono for a 1-channel model"


def match_channels(audio: np.ndarray, channels: int) -> tuple[np.ndarray, str | None]:
    """(n, S) or (n, C, S) -> (n, channels, S) float32, and a note when the input was adapted."""
    audio = np.asarray(audio, dtype=np.float32)
    if audio.ndim == 2:
        audio = audio[:, None, :]
    if audio.ndim != 3:
        raise InputError(f"audio must have shape (n, samples) or (n, channels, samples), got {audio.shape}")
    have = audio.shape[1]
    if have == channels:
        return audio, None
    if have == 1 and channels == 2:
        return np.repeat(audio, 2, axis=1), MONO_FOR_BINAURAL
    if have == 2 and channels == 1:
        return audio.mean(axis=1, keepdims=True), BINAURAL_FOR_MONO
    raise InputError(f"cannot feed {have}-channel audio to a {channels}-channel model")


def level_rms(audio: np.ndarray, dbfs: float) -> np.ndarray:
    """Each clip (first axis) scaled to an RMS of `dbfs` over all its samples and channels; silence stays."""
    audio = np.asarray(audio, dtype=np.float32)
    flat = audio.reshape(len(audio), -1).astype(np.float64)
    rms = np.sqrt(np.mean(flat**2, axis=1)) if flat.shape[1] else np.zeros(len(audio))
    gain = np.where(rms > 0, 10.0 ** (dbfs / 20.0) / np.where(rms > 0, rms, 1.0), 1.0)
    return (audio * gain.reshape((-1,) + (1,) * (audio.ndim - 1))).astype(np.float32)


@dataclasses.dataclass(frozen=True)
class FrameGeometry:
    """Where the encoder's frames lie: frame t covers samples [t*hop, t*hop + receptive_field)."""

    hop: int  # samples between frames
    receptive_field: int  # samples seen by one frame of the conv stack
    window: int  # samples per encoder call
    window_frames: int  # frames per window

    def n_frames(self, n_samples: int) -> int:
        """Frames the conv stack yields on n_samples (at least one)."""
        if n_samples < self.receptive_field:
            return 1
        return (n_samples - self.receptive_field) // self.hop + 1

    def window_starts(self, n_samples: int) -> list[int]:
        """Start sample of each window; every start is on the frame grid."""
        total = self.n_frames(n_samples)
        if total <= self.window_frames:
            return [0]
        starts = list(range(0, total - self.window_frames, self.window_frames))
        starts.append(total - self.window_frames)  # the last window ends at the last frame
        return [s * self.hop for s in starts]

    def timestamps_ms(self, n_samples: int, sample_rate: int) -> np.ndarray:
        """Frame centres in ms, clamped so that no timestamp lies past the clip's end."""
        t = np.arange(self.n_frames(n_samples)) * self.hop + self.receptive_field / 2.0
        return np.minimum(t, n_samples) * (1000.0 / sample_rate)


def _count_frames(encoder: torch.nn.Module, n_samples: int, device: torch.device) -> int:
    """Frames the encoder returns for n_samples, or 0 when the input is too short for it."""
    x = torch.zeros(1, encoder.channels, n_samples, device=device)
    try:
        with torch.inference_mode():
            return int(encoder(x).shape[1])
    except (RuntimeError, ValueError):  # conv kernel larger than its input (InputError is a ValueError)
        return 0


def frame_geometry(encoder: torch.nn.Module, device: torch.device | str = "cpu") -> FrameGeometry:
    """The frame layout the encoder declares (hop_ms, receptive_field, crop_samples), checked by running it
    once on a window."""
    device = torch.device(device)
    hop = round(encoder.hop_ms * encoder.sample_rate / 1000.0)
    window = int(encoder.crop_samples)
    rf = getattr(encoder, "receptive_field", None)
    if rf is None:
        raise InputError(f"{type(encoder).__name__} has no receptive_field: not a nat_model Encoder")
    geometry = FrameGeometry(hop=hop, receptive_field=int(rf), window=window, window_frames=0)
    frames = _count_frames(encoder, window, device)
    if frames != geometry.n_frames(window):
        raise InputError(
            f"encoder frames ({frames} for {window} samples) do not follow hop {hop} and receptive field {rf}"
        )
    return dataclasses.replace(geometry, window_frames=frames)


class Embedder:
    """Frame and clip embeddings from an Encoder (nat_model/encoder.py), for clips of any length."""

    def __init__(
        self,
        encoder: torch.nn.Module,
        device: str | torch.device = "cpu",
        batch_size: int = 16,
        name: str | None = None,
    ):
        self.device = torch.device(device)
        self.encoder = encoder.to(self.device).eval()
        self.batch_size = int(batch_size)
        self.sample_rate = int(encoder.sample_rate)
        self.channels = int(encoder.channels)
        self.output_dim = int(encoder.output_dim)
        self.semantic_dim = int(getattr(encoder, "semantic_dim", self.output_dim))
        self.name = name or f"wavjepa-{'nat' if self.channels == 2 else 'mono'}"
        self.geometry = frame_geometry(self.encoder, self.device)
        self.notes: list[str] = []
        if self.semantic_dim < self.output_dim:
            self.note(
                f"recognition probes read the first {self.semantic_dim} of its {self.output_dim} dims; the "
                f"last {self.output_dim - self.semantic_dim} (interaural cues) only the direction probes"
            )
        self.runtime = str(getattr(getattr(encoder, "config", None), "runtime", "native"))

    def note(self, note: str | None) -> None:
        if note and note not in self.notes:
            self.notes.append(note)

    @torch.inference_mode()
    def _encode_windows(self, windows: np.ndarray, frame_valid: np.ndarray | None = None) -> np.ndarray:
        """(m, C, window) -> (m, window_frames, D) float32, in batches. frame_valid (window_frames,) bool:
        frames masked out as attention keys in every window (the reference runtime's padding)."""
        out = []
        use_bf16 = self.device.type == "cuda"  # bf16 on GPU; fp32 on CPU where bf16 is slow
        for i in range(0, len(windows), self.batch_size):
            x = torch.from_numpy(windows[i : i + self.batch_size]).to(self.device)
            with torch.autocast(self.device.type, dtype=torch.bfloat16, enabled=use_bf16):
                if frame_valid is None:
                    y = self.encoder(x)
                else:
                    valid = torch.from_numpy(frame_valid).to(self.device).expand(x.shape[0], -1)
                    y = self.encoder(x, frame_valid=valid)
            out.append(y.float().cpu().numpy())
        return np.concatenate(out, axis=0)

    def _reference_frame_count(self, n_samples: int) -> tuple[int, int]:
        """(windows, frames kept) as the reference runtime counts them: it pads a whole window when the clip
        fills its windows exactly, and drops int(pad / fs * rate) frames, rate = frames // (window // fs)."""
        g = self.geometry
        n_win = n_samples // g.window + 1
        pad = n_win * g.window - n_samples
        rate = int(g.window_frames / (g.window // self.sample_rate))
        kept = n_win * g.window_frames - int((pad / self.sample_rate) * rate)
        return n_win, max(1, kept)

    def _frames_reference(self, audio: np.ndarray) -> np.ndarray:
        """(n, C, S), already levelled -> (n, T, D) frames, computed as the reference's HEAR runtime does."""
        n, c, s = audio.shape
        g = self.geometry
        n_win, kept = self._reference_frame_count(s)
        used = -(-kept // g.window_frames)  # windows holding a kept frame (the others are all padding)
        audio = np.pad(audio, ((0, 0), (0, 0), (0, n_win * g.window - s)))[:, :, : used * g.window]
        windows = audio.reshape(n, c, used, g.window).transpose(0, 2, 1, 3).astype(np.float64)
        mean = windows.mean(axis=(2, 3), keepdims=True)
        std = windows.std(axis=(2, 3), ddof=1, keepdims=True)
        windows = ((windows - mean) / (std + REFERENCE_NORM_EPS)).astype(np.float32)
        last_valid = kept - (used - 1) * g.window_frames
        parts = []
        if used > 1:
            full = windows[:, : used - 1].reshape(n * (used - 1), c, g.window)
            parts.append(self._encode_windows(full).reshape(n, (used - 1) * g.window_frames, -1))
        mask = None if last_valid == g.window_frames else np.arange(g.window_frames) < last_valid
        parts.append(self._encode_windows(np.ascontiguousarray(windows[:, -1]), mask)[:, :last_valid])
        return np.concatenate(parts, axis=1)

    def _timestamps(self, n_samples: int, n_frames: int) -> np.ndarray:
        if self.runtime == "wavjepa":  # the reference's: i * duration / frames, in ms
            return np.arange(n_frames) * (n_samples / self.sample_rate / n_frames * 1000.0)
        return self.geometry.timestamps_ms(n_samples, self.sample_rate)

    def _frames(self, audio: np.ndarray) -> np.ndarray:
        """(n, C, S) with the model's channel count -> (n, T, D) frames on the clip's grid."""
        if self.runtime == "wavjepa":
            return self._frames_reference(audio)
        n, c, s = audio.shape
        g = self.geometry
        total = g.n_frames(s)
        starts = g.window_starts(s)
        need = starts[-1] + g.window
        if need > s:  # zeros only beyond the clip; no kept frame's receptive field reaches them
            audio = np.pad(audio, ((0, 0), (0, 0), (0, need - s)))
        windows = np.stack([audio[:, :, a : a + g.window] for a in starts], axis=1)  # (n, W, C, window)
        frames = self._encode_windows(windows.reshape(n * len(starts), c, g.window))
        frames = frames.reshape(n, len(starts), g.window_frames, -1)
        emb = np.empty((n, total, frames.shape[-1]), dtype=np.float32)
        for w, a in enumerate(starts):
            first = a // g.hop
            count = min(g.window_frames, total - first)
            emb[:, first : first + count] = frames[:, w, :count]
        return emb

    def _chunks(self, audio: np.ndarray):
        """Adapted audio in chunks of clips, so that memory stays bounded for many long clips."""
        if self.runtime == "wavjepa":  # the reference levels each clip before it adapts the channels
            audio = level_rms(audio, REFERENCE_DBFS)
        audio, note = match_channels(audio, self.channels)
        self.note(note)
        per_clip = len(self.geometry.window_starts(audio.shape[-1]))
        step = max(1, (4 * self.batch_size) // per_clip)
        for i in range(0, len(audio), step):
            yield audio[i : i + step]

    def timestamp_embeddings(self, audio: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """audio (n, S) or (n, C, S) -> (embeddings (n, T, D) float32, timestamps_ms (n, T) float64)."""
        emb = np.concatenate([self._frames(chunk) for chunk in self._chunks(audio)], axis=0)
        s = np.shape(audio)[-1]
        ts = np.broadcast_to(self._timestamps(s, emb.shape[1]), emb.shape[:2]).copy()
        return emb, ts

    def scene_embeddings(self, audio: np.ndarray) -> np.ndarray:
        """audio (n, S) or (n, C, S) -> (n, D) float32: the mean over the clip's frames."""
        return np.concatenate([self._frames(chunk).mean(axis=1) for chunk in self._chunks(audio)], axis=0)
