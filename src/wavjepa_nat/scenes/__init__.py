"""Scenes: rooms, a listening head, sources; HRTFs; BRIR and noise-bed synthesis.

from wavjepa_nat.scenes import SceneConfig, Simulator
scene = Simulator(SceneConfig(hrtf="kemar")).simulate(0)
scene.brir.shape  # (2, L)
"""

from wavjepa_nat.scenes.config import SPLITS, SceneConfig
from wavjepa_nat.scenes.hrtf import load_hrtf
from wavjepa_nat.scenes.sampler import sample_scene
from wavjepa_nat.scenes.simulate import SimulatedScene, Simulator

__all__ = ["SPLITS", "SceneConfig", "SimulatedScene", "Simulator", "load_hrtf", "sample_scene"]
