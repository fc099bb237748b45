"""Format-1 banks (float32 at full length; no storage columns, measures or checksums), as banks were
before format 2. Its own module because it reads with the reader, which builds on schema.py."""

from __future__ import annotations

import h5py

from wavjepa_nat.rir_bank.reader import RIRBank
from wavjepa_nat.rir_bank.schema import create_datasets, read_config


def write_format_1(src, dst) -> None:
    """The scenes of bank `src` rewritten at `dst` in format 1 (float32 at full length, no storage columns,
    measures or checksums): what banks were before format 2, for benchmarks/bench_bank.py's bytes and read
    comparison and the test that old banks still open. One scene in memory at a time."""
    bank = RIRBank(src)
    with h5py.File(src, "r") as f, h5py.File(dst, "w") as g:
        g.attrs.update(dict(f.attrs))
        g.create_dataset("scene_index", data=f["scene_index"][()])
        create_datasets(g, len(bank), read_config(f), version=1)  # sets schema_version 1
        for i in range(len(bank)):
            g["brir"][i] = bank[i].brir
            k = int(bank.meta["n_noise"][i])
            if k:
                g["noise_brir"][i, :k] = bank.noise_brirs(i)
            g["noise_bed"][i] = bank.noise_bed(i)
        for name in g["meta"]:
            g["meta"][name][...] = f["meta"][name][()]
