"""The one renderer: a dry clip (or several) + a scene of the RIR bank (+ noise at an SNR) -> the clip at the
ears. Training augmentation, the `render` command, the robustness conditions and nat-hear all render here.

    scenes.py  which scenes (pools by split and measured-RT60 bin), the per-clip draws, reading a scene
    mix.py     render(): the numpy arithmetic (sources through BRIRs, direct-path delay, noise at an SNR)
    noise.py   SceneNoise: a scene's noise made per clip (noise-source BRIRs + diffuse part; no bed)
    batch.py   render_torch(): the same arithmetic batched in torch (imported on its own: needs torch)
"""

from wavjepa_nat.data.render.mix import Rendering, Source, mono, render
from wavjepa_nat.data.render.noise import BuiltinNoises, DiffuseField, SceneNoise
from wavjepa_nat.data.render.scenes import (
    RT60_MEASURE,
    SceneDraws,
    SceneInputs,
    ScenePools,
    bin_text,
    brir_taps,
    direct_delay,
    draw_scenes,
    in_rt60_bin,
    load_noise_recordings,
    measured_rt60,
    read_scenes,
    scenes_in,
)

__all__ = [
    "RT60_MEASURE",
    "BuiltinNoises",
    "DiffuseField",
    "SceneNoise",
    "Rendering",
    "SceneDraws",
    "SceneInputs",
    "ScenePools",
    "Source",
    "bin_text",
    "brir_taps",
    "direct_delay",
    "draw_scenes",
    "in_rt60_bin",
    "load_noise_recordings",
    "measured_rt60",
    "mono",
    "read_scenes",
    "render",
    "scenes_in",
]
