"""The demo's pieces end to end at a reduced size (the full demo is not a unit test)."""

import dataclasses
import json
import re

import pytest
import torch

from wavjepa_nat.demo import DemoConfig, run_demo
from wavjepa_nat.errors import InputError


@pytest.mark.slow
def test_demo_pipeline_at_reduced_size(tmp_path):
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        cfg = DemoConfig(
            out=str(tmp_path / "demo"),
            n_scenes=40,
            n_per_class=4,
            clip_seconds=2.5,
            steps=3,
            batch_clips=1,
            n_crops=2,
            snr="0,20",
            max_clips_per_class=2,
            workers=1,
        )
        lines: list[str] = []
        report = run_demo(cfg, log=lines.append)
        _assert_stage_timings(lines, tmp_path / "demo" / "timings.json")
        results = json.loads((report / "results.json").read_text())
        models = {row["model"] for row in results["rows"]}
        assert len(models) == 3  # WavJEPA-Nat, the clean twin, the log-mel baseline
        conditions = {(row["condition"], row["snr_db"]) for row in results["rows"]}
        assert ("clean", None) in conditions and ("snr", 0.0) in conditions and ("snr", 20.0) in conditions
        assert any(row["condition"] == "rt60" for row in results["rows"])
        assert (report / "report.html").stat().st_size > 1000 and list((report / "plots").glob("*.png"))
        for name in ("nat", "clean"):
            assert (tmp_path / "demo" / "runs" / name / "last.ckpt").is_file()
        # A rerun (the folder spelled another way) finds every artifact and only redoes the sweep.
        artifacts = [tmp_path / "demo" / "runs" / name / "last.ckpt" for name in ("nat", "clean")]
        artifacts += sorted((tmp_path / "demo").glob("*.h5"))
        before = {p: p.stat().st_mtime_ns for p in artifacts}
        run_demo(dataclasses.replace(cfg, out=str(tmp_path / "demo" / ".." / "demo")), log=lambda *a: None)
        assert {p: p.stat().st_mtime_ns for p in artifacts} == before  # nothing retrained or re-simulated
        # ... but never passes off models trained with other settings as this configuration's.
        with pytest.raises(InputError, match="other settings"):
            run_demo(dataclasses.replace(cfg, ear_norm="joint"), log=lambda *a: None)
        # --compare-layouts: the naturalistic model also in the other two layouts, swept beside the rest
        # (the clean condition only: the sweep's conditions are tested above)
        compare = dataclasses.replace(cfg, compare_layouts=True, snr="none", rt60_bins="none")
        report = run_demo(compare, log=lambda *a: None)
        results = json.loads((report / "results.json").read_text())
        assert {row["model"].split("/")[0] for row in results["rows"]} >= {
            "nat",
            "clean",
            "nat-spatial",
            "nat-reference",
        }
        for name, layout in (("nat-spatial", "spatial"), ("nat-reference", "reference")):
            assert f"layout: {layout}" in (tmp_path / "demo" / "runs" / name / "config.yaml").read_text()
    finally:
        torch.set_num_threads(threads)


STAGES = ("bank", "corpus", "training nat", "training clean", "sweep")


def _assert_stage_timings(lines: list[str], timings_json) -> None:
    """Each stage's seconds as it ends (in pipeline order), then a summary of every stage and the total."""
    text = "\n".join(lines)
    ends = [m.group(1) for m in re.finditer(r"^   ([a-z ]+): \d+ s$", text, re.MULTILINE)]
    assert ends == list(STAGES)
    summary = text[text.index("== time per stage") :]
    seconds = {m.group(1): int(m.group(2)) for m in re.finditer(r"^   ([a-z ]+?) +(\d+) s$", summary, re.M)}
    assert list(seconds) == [*STAGES, "total"]
    assert sum(seconds[s] for s in STAGES) <= seconds["total"] + len(STAGES)  # each rounded to a second
    saved = json.loads(timings_json.read_text())
    assert list(saved) == [*STAGES, "total"] and all(v >= 0 for v in saved.values())


def test_stage_clock_prints_each_stage_as_it_ends_and_a_summary(tmp_path):
    from wavjepa_nat.demo import StageClock

    lines: list[str] = []
    clock = StageClock(lines.append)
    for name in ("bank", "sweep"):
        with clock.stage(name, f"doing the {name}"):
            lines.append(f"   work of the {name}")
    clock.summary(tmp_path / "timings.json")
    first = ["== [     0 s] doing the bank", "work of the bank", "bank: 0 s"]
    assert [line.strip() for line in lines[:3]] == first
    assert lines[3].endswith("doing the sweep") and lines[5] == "   sweep: 0 s"
    assert lines[6:] == ["\n== time per stage", "   bank       0 s", "   sweep      0 s", "   total      0 s"]
    assert list(json.loads((tmp_path / "timings.json").read_text())) == ["bank", "sweep", "total"]
