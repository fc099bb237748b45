"""Joining shards (`simulate-rirs --shard K/N`) into one bank, identical to a one-process run."""

from __future__ import annotations

from pathlib import Path

import h5py

from wavjepa_nat.errors import InputError
from wavjepa_nat.rir_bank.schema import FORMAT, attrs_dict, read_config
from wavjepa_nat.rir_bank.writer import assemble


def merge_banks(paths: list[str | Path], out: str | Path) -> Path:
    paths, out = [Path(p) for p in paths], Path(out)
    if not paths:
        raise InputError("bank merge needs at least one shard")
    infos = []
    for p in paths:
        if not p.is_file():
            raise InputError(f"shard not found: {p}")
        with h5py.File(p, "r") as f:
            attrs = attrs_dict(f)
            if attrs.get("format") != FORMAT or not attrs.get("complete"):
                raise InputError(f"{p} is not a complete RIR bank shard")
            infos.append((attrs, read_config(f)))
    first, cfg = infos[0]
    for (attrs, _), p in zip(infos[1:], paths[1:]):
        for key in ("config", "n_scenes_total", "hrtf_sha256"):
            if attrs[key] != first[key]:
                raise InputError(f"{p} differs from {paths[0]} in '{key}': shards of different banks")
    n_shards = {int(a["shard"].split("/")[1]) for a, _ in infos}
    ks = sorted(int(a["shard"].split("/")[0]) for a, _ in infos)
    if len(n_shards) != 1 or ks != list(range(1, n_shards.pop() + 1)):
        raise InputError(f"shards {ks} of {first['shard'].split('/')[1]} do not form a complete set")
    attrs = dict(first)
    attrs.pop("complete", None)
    attrs["shard"] = "1/1"
    assemble(paths, out, attrs, cfg, range(0, int(first["n_scenes_total"])))
    return out
