"""The model: waveform encoder, transformer, masks, JEPA objective, inference; weights/ saves and loads it."""

from wavjepa_nat.nat_model.config import PRESETS, ModelConfig, get_preset
from wavjepa_nat.nat_model.encoder import Encoder, WaveformEncoder, check_channels, n_frames, receptive_field
from wavjepa_nat.nat_model.masks import MaskCollator

__all__ = [
    "PRESETS",
    "Encoder",
    "MaskCollator",
    "ModelConfig",
    "WaveformEncoder",
    "check_channels",
    "get_preset",
    "n_frames",
    "receptive_field",
]
