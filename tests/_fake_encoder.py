"""A tiny deterministic stand-in for the Encoder interface (nat_model/encoder.py), for tests.

Same attributes and call as the real encoder, and the real conv-stack geometry (kernels/strides
(10,5), 4 x (3,2), (2,2): 160-sample hop, 240-sample receptive field). It is purely convolutional,
so embedding a long clip window by window must equal running it on the whole clip at once.
"""

import torch
from torch import nn

LAYERS = [(10, 5), (3, 2), (3, 2), (3, 2), (3, 2), (2, 2)]


class FakeEncoder(nn.Module):
    def __init__(self, channels: int = 1, embed_dim: int = 8, width: int = 8, seed: int = 0):
        super().__init__()
        torch.manual_seed(seed)
        self.sample_rate, self.channels, self.embed_dim = 16000, channels, embed_dim
        self.output_dim = channels * embed_dim
        self.hop_ms, self.crop_samples, self.receptive_field = 10.0, 32160, 240
        self.config = {"name": "fake", "channels": channels, "embed_dim": embed_dim}
        self.ears = nn.ModuleList()
        for _ in range(channels):
            layers, c_in = [], 1
            for k, s in LAYERS:
                layers += [nn.Conv1d(c_in, width, k, s, bias=False), nn.GELU()]
                c_in = width
            self.ears.append(nn.Sequential(*layers, nn.Conv1d(width, embed_dim, 1)))
        self.eval()

    def forward(self, audio: torch.Tensor) -> torch.Tensor:
        assert audio.ndim == 3 and audio.shape[1] == self.channels, audio.shape
        outs = [ear(audio[:, i : i + 1]).transpose(1, 2) for i, ear in enumerate(self.ears)]
        return torch.cat(outs, dim=-1)


def export_tiny(path, channels: int = 2):
    """A real (untrained) tiny WavJEPA context encoder, exported to safetensors at `path`."""
    from wavjepa_nat.nat_model.config import get_preset
    from wavjepa_nat.nat_model.jepa import WavJEPA
    from wavjepa_nat.nat_model.weights.export import export_weights

    torch.manual_seed(0)
    return export_weights(WavJEPA(get_preset("tiny", channels=channels)), path)


def cli(*args):
    """Run the installed `wavjepa-nat` command; (returncode, stdout, stderr)."""
    import subprocess
    import sys
    from pathlib import Path

    exe = Path(sys.executable).parent / "wavjepa-nat"
    p = subprocess.run([str(exe), *map(str, args)], capture_output=True, text=True, timeout=300, check=False)
    return p.returncode, p.stdout, p.stderr


def cli_inprocess(*args):
    """Run a `wavjepa-nat` command in this process (typer's CliRunner);
    InputError propagates as result.exception."""
    from typer.testing import CliRunner

    from wavjepa_nat.cli import app

    return CliRunner().invoke(app, [str(a) for a in args])
