"""`robustness --room-probes`: what each model's embedding knows about the room it was rendered in.

Every task clip is rendered once through a scene of the bank: training clips (train and validation) through
train/val-split scenes, test clips through test-split scenes, whose rooms the training never saw (the bank
splits by room). Each rendering is seeded per clip (seed, role, clip id), like the sweep's, and goes
through the BRIR only (no noise), instance-normalised. Per model and baseline, a ridge probe
(metrics/room_probes.py) predicts each target from the clip embedding:

    T_mid      measured mid-frequency reverberation time of the scene (s; RIRBank.measure("t_mid"))
    DRR        measured direct-to-reverberant ratio (dB; RIRBank.measure("drr"))
    distance   source distance (m; meta distance_m)
    log volume natural log of the room volume (m^3), from the room's dimensions (meta room_dims)

scored on the test clips (error, R^2, chance, 95 % intervals).
"""

from __future__ import annotations

import dataclasses

import numpy as np

from wavjepa_nat.data.render import render
from wavjepa_nat.dsp import clip_rng, instance_norm
from wavjepa_nat.errors import InputError
from wavjepa_nat.rir_bank import RIRBank
from wavjepa_nat.robustness.conditions import stream_id
from wavjepa_nat.robustness.degrade import ScenePools
from wavjepa_nat.robustness.metrics.room_probes import RoomProbeResult, room_probe

TARGETS = {  # name -> unit
    "T_mid": "s",
    "DRR": "dB",
    "distance": "m",
    "log volume": "ln m^3",
}


def room_targets(bank: RIRBank) -> dict[str, np.ndarray]:
    """Per scene of the bank: each target's value (NaN where the bank does not store it)."""
    dims = np.asarray(bank.meta["room_dims"], np.float64)
    return {
        "T_mid": bank.measure("t_mid"),
        "DRR": bank.measure("drr"),
        "distance": np.asarray(bank.meta["distance_m"], np.float64),
        "log volume": np.log(np.prod(dims, axis=1)),
    }


def check_room_measures(bank: RIRBank) -> None:
    """--room-probes needs every target for every train/val/test scene: else one line naming the measure."""
    scenes = np.concatenate([bank.select(split=s) for s in ("train", "val", "test")])
    for name, values in room_targets(bank).items():
        bad = ~np.isfinite(values[scenes])
        if bad.any():
            raise InputError(
                f"--room-probes: the RIR bank {bank.path} does not store {name} for {int(bad.sum())} of its "
                f"{len(scenes)} scenes (an older bank format?); resimulate it or drop --room-probes"
            )


@dataclasses.dataclass
class RoomRow:
    model: str
    target: str
    unit: str
    result: RoomProbeResult


def render_in_rooms(dry: np.ndarray, pools: ScenePools, seed: int, role: str, clip_ids) -> tuple:
    """Dry clips -> (instance-normalised audio (n, 2, S), the scene of each clip (n,))."""
    out = np.empty((len(dry), 2, np.shape(dry)[-1]), np.float32)
    scenes = np.empty(len(dry), np.int64)
    for i, (x, cid) in enumerate(zip(dry, clip_ids)):
        rng = clip_rng(seed, stream_id("room-probes"), stream_id(role), int(cid))
        scenes[i] = int(pools.all[rng.integers(len(pools.all))])
        brir, delay = pools.brir(int(scenes[i]))
        out[i] = render([(np.asarray(x, np.float32), brir)], delay=delay).audio
    return instance_norm(out), scenes


def room_probe_pass(inputs, skip=()) -> list[RoomRow]:
    """Every model's (and baseline's) room probes on one rendering of the task's clips."""
    check_room_measures(inputs.bank)
    task, seed = inputs.task, inputs.cfg.seed
    targets = room_targets(inputs.bank)
    parts = []
    for split, pools in (("train", inputs.train_pools), ("val", inputs.train_pools)):
        if len(task.keys[split]):
            parts.append(
                render_in_rooms(task.clips[split], pools, seed, f"rooms-{split}", task.clip_ids(split))
            )
    train_audio = np.concatenate([a for a, _ in parts])
    train_scenes = np.concatenate([s for _, s in parts])
    test_audio, test_scenes = render_in_rooms(
        task.clips["test"], inputs.test_pools, seed, "rooms-test", task.clip_ids("test")
    )
    rows = []
    for name, emb, _ in inputs.embedders:
        if name in skip:
            continue
        x_train, x_test = emb.scene_embeddings(train_audio), emb.scene_embeddings(test_audio)
        for target, unit in TARGETS.items():
            values = targets[target]
            result = room_probe(x_train, values[train_scenes], x_test, values[test_scenes], seed=seed)
            rows.append(RoomRow(name, target, unit, result))
    return rows
