"""wavjepa-nat: naturalistic binaural scenes, WavJEPA(-Nat) training and robustness sweeps."""

from wavjepa_nat.version import package_version

__version__ = package_version()


def load_model(path):
    """Load a trained encoder (Lightning checkpoint or safetensors export), in eval mode."""
    from wavjepa_nat.nat_model.weights.export import load_model as _load

    return _load(path)
