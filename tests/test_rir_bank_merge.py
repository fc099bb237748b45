"""rir_bank/merge.py (through the writer's Assembler): assembly copies rows that carry stored checksums
without checking them first and checks the assembled file once: a damaged source row must still stop it,
name the scene and leave nothing behind."""

import h5py
import pytest

from wavjepa_nat.errors import InputError
from wavjepa_nat.rir_bank import merge_banks, simulate_bank
from wavjepa_nat.scenes import SceneConfig

CFG = SceneConfig(fs=8000, rt60=(0.2, 0.4), noise_bed_seconds=0.25, noise_sources=(1, 2), scenes_per_room=2)


@pytest.mark.parametrize("name", ["brir", "noise_brir", "noise_bed"])
def test_merge_of_a_damaged_shard_names_the_scene_and_writes_nothing(tmp_path, name):
    shards = [tmp_path / f"s{k}.h5" for k in (1, 2)]
    for k, path in enumerate(shards, 1):
        simulate_bank(path, CFG, 8, shard=(k, 2), progress=False)
    with h5py.File(shards[1], "a") as f:  # one changed sample of its third scene (scene 6)
        index = (2, 0, 0, 3) if name == "noise_brir" else (2, 0, 3)
        f[name][index] = f[name][index] + 1  # one step of an int16 bed, a large change of a float16 response
    out = tmp_path / "merged.h5"
    with pytest.raises(InputError, match=rf"scene 6 {name} does not match its checksum"):
        merge_banks(shards, out)
    assert not out.exists()
    assert not list(tmp_path.glob("merged.h5.*.tmp"))
