"""Robustness report files: results rows + setup -> report.md, report.html, results.json, results.csv, plots/.

The JSON file is the source of truth: `merge_reports` reads several of them back and writes one comparison
report. The HTML page is self-contained (plots embedded as base64 PNG), so it can be mailed or attached as
it is.
"""

from __future__ import annotations

import csv
import dataclasses
import json
from collections.abc import Sequence
from pathlib import Path

from wavjepa_nat.errors import InputError
from wavjepa_nat.files import atomic_path, write_text_atomic
from wavjepa_nat.robustness.report.document import render_report
from wavjepa_nat.robustness.report.localisation import localisation_sections
from wavjepa_nat.robustness.report.localisation_plots import localisation_plots
from wavjepa_nat.robustness.report.plots import make_plots
from wavjepa_nat.robustness.report.room_probes import room_rows_dicts, room_sections
from wavjepa_nat.robustness.report.rows import LocRow, ResultRow, loc_row_from_dict, row_dict, row_from_dict
from wavjepa_nat.robustness.report.sections import build_report, setup_notes
from wavjepa_nat.version import package_version

RESULTS_FORMAT = "wavjepa-nat-robustness-results"


CI_FIELDS = ("score_ci", "drift_ci", "loc_ci")


def _csv(rows, path: Path) -> None:
    fields = [
        f.name for f in dataclasses.fields(ResultRow) if f.name != "rt60_bin" and f.name not in CI_FIELDS
    ]
    with atomic_path(path) as tmp, open(tmp, "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(
            fields[:4]
            + ["rt60_lo", "rt60_hi"]
            + fields[4:]
            + [f"{c}_{e}" for c in CI_FIELDS for e in ("lo", "hi")]
        )
        for r in rows:
            d = row_dict(r)
            lo, hi = r.rt60_bin if r.rt60_bin is not None else ("", "")
            vals = ["" if d[k] is None else d[k] for k in fields]
            cis = [v for c in CI_FIELDS for v in (getattr(r, c) or ("", ""))]
            w.writerow(vals[:4] + [lo, hi] + vals[4:] + cis)


def write_report(
    rows: Sequence[ResultRow],
    setup: dict,
    out_dir: str | Path,
    title: str | None = None,
    tests: Sequence[dict] = (),
    localisation: Sequence[LocRow] = (),
    room_probes: Sequence = (),
) -> dict[str, Path]:
    """Write report.md, report.html, results.json, results.csv and plots/*.png into out_dir.

    tests: paired tests between models over the same clips (dicts: condition, measure, a, b, better,
    test, p, significant), as the sweep computes them; stored in results.json and shown in the summary.
    """
    rows = list(rows)
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    title = title or setup.get("title") or "wavjepa-nat robustness report"
    paths = {
        k: out_dir / n
        for k, n in [
            ("json", "results.json"),
            ("csv", "results.csv"),
            ("md", "report.md"),
            ("html", "report.html"),
        ]
    }
    payload = {
        "format": RESULTS_FORMAT,
        "version": package_version(),
        "title": title,
        "setup": setup,
        "rows": [row_dict(r) for r in rows],
        "localisation": [row_dict(r) for r in localisation],
        "tests": list(tests),
        "room_probes": room_rows_dicts(room_probes),
    }
    write_text_atomic(paths["json"], json.dumps(payload, indent=2, default=str) + "\n")
    _csv(rows, paths["csv"])
    localisation = list(localisation)  # LocRows: their own tables and plots
    plots = make_plots(rows, out_dir / "plots")
    plots += localisation_plots(localisation, out_dir / "plots")
    report = build_report(rows, setup, plots, out_dir, title, tests)
    report.localisation = localisation_sections(localisation)
    report.room = room_sections(payload["room_probes"])
    write_text_atomic(paths["md"], render_report(report, "md"))
    write_text_atomic(paths["html"], render_report(report, "html"))
    paths.update({f"plot:{p.stem}": p for _, p in plots})
    return paths


def load_results(path: str | Path) -> tuple[list[ResultRow], dict]:
    """Read a results.json (or the directory holding one) -> (rows, setup)."""
    rows, setup, _, _ = load_results_and_tests(path)
    return rows, setup


def load_results_and_tests(path: str | Path) -> tuple[list[ResultRow], dict, list[dict], list]:
    """Read a results.json (or the directory holding one) -> (rows, setup, tests, localisation rows)."""
    path = Path(path)
    file = path / "results.json" if path.is_dir() else path
    if not file.is_file():
        raise InputError(f"{path} is not a results directory (no results.json)")
    try:
        payload = json.loads(file.read_text())
        if payload.get("format") != RESULTS_FORMAT:
            raise ValueError("not a wavjepa-nat results file")
        rows = [row_from_dict(d) for d in payload["rows"]]
        tests = [dict(t) for t in payload.get("tests") or []]
        loc = [loc_row_from_dict(d) for d in payload.get("localisation") or []]
    except (ValueError, KeyError, TypeError, AttributeError) as err:
        raise InputError(f"{file} is not a valid results file: {err}") from None
    return rows, payload.get("setup", {}), tests, loc


def merge_reports(dirs: Sequence[str | Path], out: str | Path, title: str | None = None) -> dict[str, Path]:
    """Merge several runs' results.json into one comparison report.

    All models of all runs appear; the conditions are the union (blank where a model was not run).
    A model name that appears in more than one run is suffixed with its run's directory name.
    """
    if not dirs:
        raise InputError("no results directories given")
    loaded = [(Path(d), *load_results_and_tests(d)) for d in dirs]
    runs = [(d, rows, setup) for d, rows, setup, _, _ in loaded]
    owners: dict[str, set[int]] = {}
    for i, (_, rows, _, _, run_loc) in enumerate(loaded):
        for r in [*rows, *run_loc]:  # a model or baseline in several runs is named with its run
            owners.setdefault(r.model, set()).add(i)
    labels = [d.resolve().name or str(i) for i, (d, _, _) in enumerate(runs)]
    if len(set(labels)) < len(labels):
        labels = [f"{lab}#{i}" for i, lab in enumerate(labels)]
    merged, notes, models, tests, failures, loc = [], [], [], [], [], []
    for i, (_, rows, setup, run_tests, run_loc) in enumerate(loaded):

        def rename(model: str, i: int = i) -> str:
            return f"{model} [{labels[i]}]" if len(owners.get(model, ())) > 1 else model

        for r in rows:
            merged.append(dataclasses.replace(r, model=rename(r.model)))
        loc += [dataclasses.replace(r, model=rename(r.model)) for r in run_loc]
        notes += [n for n in setup_notes(setup) if n not in notes]
        models += [
            dict(m, name=rename(m["name"]))
            for m in setup.get("models") or []
            if isinstance(m, dict) and "name" in m
        ]
        tests += [
            dict(
                t,
                a=rename(t["a"]),
                b=rename(t["b"]),
                better=rename(t["better"]) if t.get("better") else t.get("better"),
            )
            for t in run_tests
            if "a" in t and "b" in t
        ]
        failures += [f for f in setup.get("failures") or [] if f not in failures]
    setup = {
        "notes": notes,
        "models": models,
        "failures": failures,
        "runs": [{"dir": str(d), "setup": s} for d, _, s in runs],
    }
    if len(runs) == 1:  # re-rendering one run keeps its setup as it was
        setup = runs[0][2]
    return write_report(
        merged, setup, out, title or "wavjepa-nat robustness comparison", tests, localisation=loc
    )
