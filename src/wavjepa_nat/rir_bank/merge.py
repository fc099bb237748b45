"""Joining shards (`simulate-rirs --shard K/N`) into one bank, identical to a one-process run.

Like simulate-rirs, a merge holds the exclusive lock of OUT (OUT.lock) while it writes, and
writes under a temporary name that is checked, then renamed: a second merge (or simulate-rirs)
into the same OUT stops with a one-line error instead of damaging it.
"""

from __future__ import annotations

from pathlib import Path

import h5py

from wavjepa_nat.errors import InputError
from wavjepa_nat.rir_bank.schema import FORMAT, attrs_dict, read_config
from wavjepa_nat.rir_bank.writer import assemble, exclusive_lock, make_parent


def _read_shard(p: Path):
    if not p.is_file():
        raise InputError(f"shard not found: {p}")
    try:
        with h5py.File(p, "r") as f:
            attrs = attrs_dict(f)
            if attrs.get("format") != FORMAT or not attrs.get("complete"):
                raise InputError(f"{p} is not a complete RIR bank shard")
            return attrs, read_config(f)
    except InputError:
        raise
    except OSError as err:
        raise InputError(f"{p} is not a readable HDF5 file ({err})") from None
    except (KeyError, ValueError, TypeError) as err:
        raise InputError(f"{p} is not a readable RIR bank shard ({err})") from None


def _check_out(out: Path, paths: list[Path], attrs: dict) -> None:
    """OUT may be new or an earlier merge of these shards (rewritten); anything else is refused."""
    if not out.exists():
        return
    if any(p.exists() and out.samefile(p) for p in paths):
        raise InputError(f"--out {out} is one of the shards; choose another --out")
    try:
        with h5py.File(out, "r") as f:
            old = attrs_dict(f)
    except OSError:
        raise InputError(f"{out} exists and is not an HDF5 bank; remove it or choose another --out") from None
    if old.get("format") != FORMAT or any(
        old.get(k) != attrs[k] for k in ("config", "n_scenes_total", "shard")
    ):
        raise InputError(f"{out} exists and is another bank; remove it or choose another --out")


def merge_banks(paths: list[str | Path], out: str | Path) -> Path:
    paths, out = [Path(p) for p in paths], Path(out)
    if not paths:
        raise InputError("bank merge needs at least one shard")
    infos = [_read_shard(p) for p in paths]
    first, cfg = infos[0]
    for (attrs, _), p in zip(infos[1:], paths[1:]):
        for key in ("config", "n_scenes_total", "hrtf_sha256"):
            if attrs.get(key) != first.get(key):
                raise InputError(f"{p} differs from {paths[0]} in '{key}': shards of different banks")
    try:
        shards = [tuple(int(x) for x in str(a["shard"]).split("/")) for a, _ in infos]
    except (KeyError, ValueError):
        raise InputError("a shard has no valid 'shard' attribute (K/N)") from None
    n_shards = {n for _, n in shards}
    ks = sorted(k for k, _ in shards)
    if len(n_shards) != 1 or ks != list(range(1, n_shards.pop() + 1)):
        raise InputError(f"shards {ks} of {first['shard'].split('/')[1]} do not form a complete set")
    attrs = dict(first)
    attrs.pop("complete", None)
    attrs["shard"] = "1/1"
    _check_out(out, paths, attrs)
    make_parent(out)
    with exclusive_lock(out):
        _check_out(out, paths, attrs)  # again, under the lock
        assemble(paths, out, attrs, cfg, range(int(first["n_scenes_total"])))
    return out
