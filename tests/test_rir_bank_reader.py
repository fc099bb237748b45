"""rir_bank/reader.py: RIRBank reads what was simulated. The stored measures select scenes; format 3 (float16
responses cut at their decay floor, int16 noise beds) loses nothing measurable; banks of formats 1 and 2
still open; rows read through the memory map equal HDF5 reads."""

import h5py
import numpy as np
import pytest

from wavjepa_nat.errors import InputError
from wavjepa_nat.rir_bank import RIRBank, checksums, simulate_bank, verify_bank
from wavjepa_nat.rir_bank.format_1 import write_format_1
from wavjepa_nat.rir_bank.schema import to_float16
from wavjepa_nat.scenes import SceneConfig, Simulator
from wavjepa_nat.scenes.acoustics import ild_db, itd_seconds, measure_response

CFG = SceneConfig(rt60=(0.2, 1.4), noise_bed_seconds=0.5, noise_sources=(0, 2), scenes_per_room=1)
N = 12


@pytest.fixture(scope="module")
def scenes():
    sim = Simulator(CFG)
    return [sim.simulate(i) for i in range(N)]


@pytest.fixture(scope="module")
def bank_path(tmp_path_factory):
    path = tmp_path_factory.mktemp("measures") / "bank.h5"
    simulate_bank(path, CFG, N, workers=1, progress=False)
    return path


def test_select_filters_on_every_measure(bank_path):
    bank = RIRBank(bank_path)
    for name, column, band in [
        ("t_mid", "rt60_measured", None),
        ("t30", "rt60_broadband", None),
        ("edt", "edt", None),
        ("c50", "c50_db", None),
        ("drr", "drr_db", None),
        ("t30_125", "t30_band", 0),
        ("t30_1000", "t30_band", 3),
        ("t30_4000", "t30_band", 5),
    ]:
        values = bank.meta[column] if band is None else bank.meta[column][:, :, band]
        values = values.mean(axis=1)
        lo, hi = np.percentile(values, [25, 75])
        want = np.nonzero((values >= lo) & (values < hi))[0]
        assert np.array_equal(bank.select(**{name: (lo, hi)}), want), name
        assert 0 < len(want) < len(bank)
    both = bank.select("train", t30_500=(0.0, 0.8), c50=(-100.0, 100.0))
    assert all(bank.meta["split"][i] == "train" and bank.measure("t30_500")[i] < 0.8 for i in both)
    assert np.array_equal(bank.select(rt60=(0.3, 0.9)), bank.select(t_mid=(0.3, 0.9)))
    with pytest.raises(InputError, match="unknown measure"):
        bank.select(t30_3000=(0, 1))


def test_stored_responses_lose_nothing_measurable(bank_path, scenes):
    """Format 3 stores float16 responses up to the decay floor and int16 beds: against the float32 untruncated
    responses and beds as simulated."""
    bank = RIRBank(bank_path)
    assert bank.version == 3
    with h5py.File(bank_path, "r") as f:
        assert f["brir"].dtype == np.float16 and f["noise_bed"].dtype == np.int16
    fs = bank.fs
    for i, fresh in enumerate(scenes):
        stored = bank[i]
        delay = fresh.meta["direct_delay_s"]
        assert stored.brir.dtype == np.float32 and stored.brir.shape == fresh.brir.shape
        assert bank.meta["brir_taps"][i] <= bank.brir_length
        a, b = measure_response(stored.brir, fs, delay), measure_response(fresh.brir, fs, delay)
        for key in ("rt60_measured", "rt60_broadband", "edt"):
            assert np.allclose(a[key], b[key], rtol=0.01), key
        finite = np.isfinite(b["t30_band"])
        assert np.array_equal(np.isfinite(a["t30_band"]), finite)
        assert np.allclose(a["t30_band"][finite], b["t30_band"][finite], rtol=0.01)
        for key in ("drr_db", "c50_db"):
            assert np.allclose(a[key], b[key], atol=0.1), key
        assert abs(itd_seconds(stored.brir, fs, delay) - itd_seconds(fresh.brir, fs, delay)) <= 10e-6
        assert abs(ild_db(stored.brir, fs, delay) - ild_db(fresh.brir, fs, delay)) <= 0.1
        for h_stored, h_fresh in zip(stored.noise_brirs, fresh.noise_brirs):
            assert np.allclose(
                measure_response(h_stored, fs, 0.0)["rt60_measured"],
                measure_response(h_fresh, fs, 0.0)["rt60_measured"],
                rtol=0.01,
            )
        # Noise beds: the level is the configured one, exactly as simulated.
        level = 10 * np.log10(np.mean(stored.noise_bed.astype(np.float64) ** 2))
        fresh_level = 10 * np.log10(np.mean(fresh.noise_bed.astype(np.float64) ** 2))
        assert level == pytest.approx(CFG.noise_bed_rms_db, abs=1e-3)
        assert level == pytest.approx(fresh_level, abs=1e-4)
        # Quantisation: at least 80 dB under the bed, over the whole bed and in every 50 ms.
        error = stored.noise_bed.astype(np.float64) - fresh.noise_bed
        assert 10 * np.log10(np.mean(fresh.noise_bed.astype(np.float64) ** 2) / np.mean(error**2)) > 80.0
        step = np.max(np.abs(fresh.noise_bed)) / 32767  # half a step, and float32 rounding near full scale
        assert np.max(np.abs(error)) <= (0.5 + 0.01) * step


def test_a_bank_at_another_bed_level_reads_back_at_that_level(tmp_path):
    cfg = SceneConfig(rt60=(0.2, 0.4), noise_bed_seconds=0.2, noise_sources=(0, 1), noise_bed_rms_db=-62.0)
    path = tmp_path / "quiet.h5"
    simulate_bank(path, cfg, 2, workers=1, progress=False)
    bank = RIRBank(path)
    for i in range(2):
        bed = bank.noise_bed(i)
        assert bed.dtype == np.float32
        assert 10 * np.log10(np.mean(bed.astype(np.float64) ** 2)) == pytest.approx(-62.0, abs=1e-3)


def test_old_format_banks_still_open(bank_path, tmp_path):
    old_path = tmp_path / "old.h5"
    write_format_1(bank_path, old_path)
    new, old = RIRBank(bank_path), RIRBank(old_path)
    assert old.version == 1 and len(old) == len(new)
    for i in range(len(new)):
        assert np.array_equal(old[i].brir, new[i].brir)
        assert np.array_equal(old.noise_brirs(i), new.noise_brirs(i))
        assert np.array_equal(old.noise_bed(i), new.noise_bed(i))
        assert old.noise_bed(i).dtype == np.float32
        assert np.array_equal(old.brir_head(i, 500), new.brir_head(i, 500))
    assert np.array_equal(old.rt60(), new.rt60())
    assert np.all(np.isnan(old.measure("t30_500"))) and np.all(np.isnan(old.measure("edt")))
    assert np.array_equal(old.select("train", rt60=(0.2, 0.8)), new.select("train", rt60=(0.2, 0.8)))
    assert len(old.select(t30_500=(0.0, 10.0))) == 0  # not measured in an old bank: nothing matches
    notes = []  # (not re-simulated: this old bank's samples came through float16)
    assert verify_bank(old_path, n_check=0, notes=notes) == []
    assert any("checksums" in n for n in notes)


def _rewrite_as_format_2(src, dst, scenes) -> None:
    """A copy of a bank in format 2, as this package wrote it before format 3: the simulated (float32) noise
    beds in float16 over a power-of-two scale that puts their RMS near 2^-5 (scale 1 at -30 dBFS), checksums
    of the new bytes."""
    import shutil

    shutil.copy(src, dst)
    with h5py.File(dst, "a") as f:
        assert list(f["scene_index"][()]) == [s.index for s in scenes]
        beds = [s.noise_bed for s in scenes]
        del f["noise_bed"]
        d = f.create_dataset("noise_bed", (len(beds), *beds[0].shape), np.float16, chunks=(1, *beds[0].shape))
        crcs = checksums.stored(f)
        for i, bed in enumerate(beds):
            scale = 2.0 ** (np.round(np.log2(np.sqrt(np.mean(bed.astype(np.float64) ** 2)))) + 5)
            d[i] = to_float16(bed / np.float32(scale))
            f["meta"]["noise_bed_scale"][i] = scale
            crcs["noise_bed"][i] = checksums.array_crc(d[i])
        f.attrs["schema_version"] = 2
        checksums.write(f, crcs | {"meta": checksums.meta_crcs(f)})


def test_format_2_banks_still_open_and_verify(bank_path, scenes, tmp_path):
    old_path = tmp_path / "format2.h5"
    _rewrite_as_format_2(bank_path, old_path, scenes)
    new, old = RIRBank(bank_path), RIRBank(old_path)
    assert old.version == 2
    for i in range(len(new)):
        assert old.noise_bed(i).dtype == np.float32
        assert np.allclose(old.noise_bed(i), new.noise_bed(i), rtol=0, atol=1e-3 * np.max(new.noise_bed(i)))
        assert np.array_equal(old.brir_head(i, 700), new.brir_head(i, 700))
    # Re-simulated scenes are stored as format 2 stores them: they match the float16 beds.
    assert verify_bank(old_path, n_check=2) == []


def test_mapped_rows_equal_hdf5_reads(bank_path, tmp_path):
    """noise_bed / brir_head read raw chunks through a memory map: the same samples as HDF5 reads, read-only;
    a bank whose rows are compressed chunks falls back to HDF5 reads."""
    import shutil

    import h5py

    bank = RIRBank(bank_path)
    with h5py.File(bank_path, "r") as f:
        stored_beds = f["noise_bed"][()]
    for i in range(len(bank)):
        bed, head = bank.noise_bed(i), bank.brir_head(i, 777)
        np.testing.assert_array_equal(bed, bank[i].noise_bed)
        np.testing.assert_array_equal(head, bank[i].brir[:, :777])
        row = bank._mapped_row("noise_bed", i)  # the stored samples, as a view of the mapped file
        assert row is not None and not row.flags.writeable and row.base is not None
        np.testing.assert_array_equal(row, stored_beds[i])
    packed = tmp_path / "packed.h5"
    shutil.copy(bank_path, packed)
    with h5py.File(packed, "r+") as f:
        for name in ("brir", "noise_bed"):
            data = f[name][()]
            del f[name]
            f.create_dataset(name, data=data, chunks=(1, *data.shape[1:]), compression="gzip")
    other = RIRBank(packed)
    np.testing.assert_array_equal(other.noise_bed(2), bank[2].noise_bed)
    np.testing.assert_array_equal(other.brir_head(2, 300), bank[2].brir[:, :300])
    assert other._mapped_row("noise_bed", 2) is None  # read through HDF5


def test_brir_heads_read_right_whatever_the_order_of_chunks_in_the_file(bank_path, tmp_path):
    """brir_head maps a scene's time chunks from the chunk index: chunks written in reverse order (so no
    scene's chunks lie one after another in the file) read as HDF5 reads them."""
    import shutil

    import h5py

    shuffled = tmp_path / "reversed.h5"
    shutil.copy(bank_path, shuffled)
    with h5py.File(shuffled, "r+") as f:
        old = f["brir"]
        chunks = [
            (info.chunk_offset, old.id.read_direct_chunk(info.chunk_offset))
            for info in (old.id.get_chunk_info(k) for k in range(old.id.get_num_chunks()))
        ]
        new = f.create_dataset("brir_new", old.shape, old.dtype, chunks=old.chunks, fillvalue=0)
        for offset, (mask, data) in reversed(chunks):
            new.id.write_direct_chunk(offset, data, mask)
        del f["brir"]
        f.move("brir_new", "brir")
    bank, other = RIRBank(bank_path), RIRBank(shuffled)
    table = other._brir_chunk_table()
    assert table is not None and np.all(np.diff(table[0][table[0] >= 0]) < 0)  # mapped, in reverse
    for i in range(len(bank)):
        for n in (300, 2048, 5000, bank.brir_length):
            np.testing.assert_array_equal(other.brir_head(i, n), bank.brirs([i])[0][:, :n])


def _damage(path, how):
    import h5py
    import numpy as np

    with h5py.File(path, "r+") as f:
        if how.startswith("delete "):
            del f[how.removeprefix("delete ")]
        elif how == "short brir":
            short = f["brir"][:, :, :100]
            del f["brir"]
            f.create_dataset("brir", data=short)
        elif how == "NaN measure":
            f["meta/rt60_measured"][3, 0] = np.nan
        elif how == "zero brir_scale":
            f["meta/brir_scale"][2] = 0.0


@pytest.mark.parametrize(
    "how",
    ["delete noise_bed", "delete brir", "delete meta/split", "short brir", "NaN measure", "zero brir_scale"],
)
@pytest.mark.parametrize("command", ["bank info", "render"])
def test_a_damaged_bank_is_one_line_in_every_command(
    ten_scene_bank, tmp_path, monkeypatch, capsys, how, command
):
    """Every command opens a bank through RIRBank's one structural check; `bank info` does not summarise a
    damaged bank as normal."""
    import shutil

    import numpy as np
    import soundfile as sf

    from tests._cli import run_main

    bank = tmp_path / "bank.h5"
    shutil.copy(ten_scene_bank, bank)
    _damage(bank, how)
    dry = tmp_path / "dry.wav"
    sf.write(dry, 0.1 * np.ones(4000), 16000)
    argv = ["bank", "info", bank] if command == "bank info" else ["render", "--bank", bank, "--input", dry,
                                                                  "--out", tmp_path / "o.wav"]  # fmt: skip
    rc, out, err = run_main(monkeypatch, capsys, argv)
    assert rc == 2 and err.count("\n") == 1 and "damaged" in err, (how, out, err)
    assert not (tmp_path / "o.wav").exists()


@pytest.mark.parametrize("how", ["NaN in a BRIR", "a changed BRIR sample", "a zeroed BRIR", "a changed bed"])
def test_damaged_stored_data_is_refused_on_first_read(ten_scene_bank, tmp_path, monkeypatch, capsys, how):
    """Scene data is checked against its stored checksum (and for finite, non-silent responses) the first
    time a process reads the scene: render refuses it instead of writing a changed clip or silence."""
    import shutil

    import soundfile as sf

    from tests._cli import run_main

    bank = tmp_path / "bank.h5"
    shutil.copy(ten_scene_bank, bank)
    with h5py.File(bank, "r+") as f:
        if how == "NaN in a BRIR":
            f["brir"][4, 0, 10] = np.nan
        elif how == "a changed BRIR sample":
            f["brir"][4, 1, 20] = f["brir"][4, 1, 20] + 0.25
        elif how == "a zeroed BRIR":
            f["brir"][4] = 0
        else:
            f["noise_bed"][4, 0, :50] = 0
    assert RIRBank(bank).brirs([3]).shape[0] == 1  # the other scenes still read
    dry = tmp_path / "dry.wav"
    sf.write(dry, 0.1 * np.ones(4000), 16000)
    argv = ["render", "--bank", bank, "--input", dry, "--scene", "4", "--out", tmp_path / "o.wav"]
    rc, _, err = run_main(monkeypatch, capsys, argv)
    assert rc == 2 and err.count("\n") == 1 and "scene 4" in err and "bank verify" in err, err
    assert not (tmp_path / "o.wav").exists()


@pytest.mark.parametrize(
    "how",
    ["a sample past the BRIR's stored end", "NaN in a noise-source BRIR", "NaN in a format-1 bed"],
)
def test_each_stored_row_is_checked_when_first_read(bank_path, tmp_path, how):
    """Rows are checked as they are read from the mapped file or through HDF5: a change in a BRIR chunk that
    was never written (past the response's stored end), in a noise-source BRIR, or a NaN in a format-1
    (float32, mapped) bed is refused by the read that first returns that row."""
    import shutil

    bank = tmp_path / "bank.h5"
    if how == "NaN in a format-1 bed":
        write_format_1(bank_path, bank)
    else:
        shutil.copy(bank_path, bank)
    with h5py.File(bank_path, "r") as f:
        taps, n_noise, chunk = f["meta/brir_taps"][()], f["meta/n_noise"][()], f["brir"].chunks[-1]
    i = int(np.argmin(taps)) if how == "a sample past the BRIR's stored end" else int(np.argmax(n_noise))
    with h5py.File(bank, "r+") as f:
        if how == "a sample past the BRIR's stored end":
            assert taps[i] < f["brir"].shape[-1] - chunk  # its last chunk was never written
            f["brir"][i, 1, -1] = 0.5
        elif how == "NaN in a noise-source BRIR":
            assert n_noise[i] > 0
            f["noise_brir"][i, 0, 0, 10] = np.nan
        else:
            f["noise_bed"][i, 1, 7] = np.nan
    read = {
        "a sample past the BRIR's stored end": lambda b: b.brir_head(i, 100),
        "NaN in a noise-source BRIR": lambda b: b.noise_brirs(i),
        "NaN in a format-1 bed": lambda b: b.noise_bed(i),
    }[how]
    why = "checksum" if how == "a sample past the BRIR's stored end" else "non-finite"
    with pytest.raises(InputError, match=rf"scene {i}: .*{why}.*bank verify"):
        read(RIRBank(bank))
    other = (i + 1) % N
    assert RIRBank(bank)[other].brir.shape[0] == 2  # the other scenes still read
