"""The sweep tests' small bank: 20 scenes in small rooms without noise sources, split 4/2/4 per ten rooms."""

from wavjepa_nat.rir_bank import simulate_bank
from wavjepa_nat.scenes.config import SceneConfig


def simulate_sweep_bank(path, noise_bed_seconds: float):
    cfg = SceneConfig(
        rt60=(0.2, 0.6),
        noise_bed_seconds=noise_bed_seconds,
        noise_sources=(0, 0),
        scenes_per_room=2,
        split_per_ten_rooms=(4, 2, 4),
        room_length=(3.0, 6.0),
        source_distance=(0.5, 2.0),
    )
    simulate_bank(path, cfg, 20, progress=False)
    return path
