"""SceneConfig checks its own values (the CLI side, one line and exit 2, is in test_rir_bank.py)."""

import numpy as np
import pytest

from wavjepa_nat.errors import InputError
from wavjepa_nat.scenes import SceneConfig
from wavjepa_nat.scenes.sampler import sample_scene


@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({"fs": 4000}, "--fs"),
        ({"rt60": (0.0, 1.0)}, "--rt60"),
        ({"rt60": (1.5, 0.2)}, "LO <= HI"),
        ({"rt60": (0.2, float("nan"))}, "finite"),
        ({"room_length": (-1.0, 5.0)}, "room_length"),
        ({"noise_sources": (-1, 3)}, "--noise-sources"),
        ({"noise_sources": (0.5, 3)}, "whole"),
        ({"source_distance": (0.1, 2.0)}, "--distance"),
        ({"source_elevation": (-100.0, 0.0)}, "source_elevation"),
        ({"listener_height": (0.0, 1.0)}, "listener_height"),
        ({"hrtf": "nonsense"}, "--hrtf"),
        ({"engine": "magic"}, "--engine"),
        ({"scenes_per_room": 0}, "--scenes-per-room"),
        ({"split_per_ten_rooms": (8, 1, 2)}, "split_per_ten_rooms"),
        ({"noise_bed_seconds": 0.0}, "--noise-bed-seconds"),
        ({"noise_bed_rms_db": 3.0}, "noise_bed_rms_db"),
        ({"noise_dir": ""}, "--noise-dir"),
        ({"early_images": 0}, "early_images"),
        ({"seed": -1}, "--seed"),
    ],
)
def test_bad_value_raises_one_line_input_error(kwargs, message):
    with pytest.raises(InputError, match=message) as err:
        SceneConfig(**kwargs)
    assert "\n" not in str(err.value)


def test_good_values_and_json_round_trip():
    cfg = SceneConfig(rt60=[0.3, 0.9], noise_sources=(0, 0), source_elevation=(-90.0, 90.0), seed=3)
    assert cfg.rt60 == (0.3, 0.9)  # lists are stored as tuples, as the CLI gives them
    assert SceneConfig.from_json(cfg.to_json()) == cfg
    SceneConfig(hrtf="/elsewhere/subject.SOFA", noise_dir="/not/here")  # files are checked where opened


# --distance 0.5..10000 was once silently clamped while the BRIR length followed 10 km.
def test_distance_beyond_any_room_is_an_error_and_brir_lengths_follow_a_reachable_bound():
    with pytest.raises(InputError, match=r"--distance .* must end at 37\.3 m or less.*0\.5\.\.10000 m"):
        SceneConfig(source_distance=(0.5, 10000.0))
    with pytest.raises(InputError, match=r"--distance .* 13\.2 m or less"):
        SceneConfig(room_length=(3.0, 4.0), source_distance=(0.5, 14.0))
    cfg = SceneConfig(source_distance=(0.5, 37.0), rt60=(0.2, 0.3), room_length=(20.0, 25.0))
    assert cfg.brir_length == int(np.ceil(cfg.fs * (1.1 * 0.3 + 37.0 / 343.0 + 0.02)))
    longest = max(sample_scene(cfg, i).distance_m.max() for i in range(20))
    assert longest <= cfg.source_distance[1]
