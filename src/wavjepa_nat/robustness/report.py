"""Robustness reports: results rows + setup -> report.md, report.html, results.json, results.csv, plots/.

One row is one (model, condition, metric) cell of a sweep. The JSON file is the source of truth:
`merge_reports` reads several of them back and writes one comparison report. The HTML page is
self-contained (plots embedded as base64 PNG), so it can be mailed or attached as it is.
"""

from __future__ import annotations

import base64
import csv
import dataclasses
import functools
import json
import math
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import jinja2

from wavjepa_nat.errors import InputError
from wavjepa_nat.robustness.conditions import KINDS, Condition
from wavjepa_nat.robustness.plots import make_plots
from wavjepa_nat.version import package_version

RESULTS_FORMAT = "wavjepa-nat-robustness-results"


@dataclasses.dataclass
class ResultRow:
    model: str
    model_channels: int
    condition: str  # "clean" | "snr" | "rt60" | "snr_rt60"
    snr_db: float | None
    rt60_bin: tuple[float, float] | None  # measured-RT60 bin, seconds
    metric: str  # "accuracy" | "mAP" | ...
    score: float | None
    drop_vs_clean: float | None  # score - clean score of the same model (negative = worse)
    clean_cosine: float | None  # embedding drift: mean cosine similarity to the clean embedding (1 = none)
    loc_error_deg: float | None  # None (N/A) for mono models
    n_clips: int
    task: str = ""  # the probe's data set, when a sweep runs several
    score_ci: tuple[float, float] | None = None  # 95 % interval (Wilson for accuracy, else a bootstrap)
    drift_ci: tuple[float, float] | None = None  # 95 % bootstrap interval of clean_cosine
    loc_ci: tuple[float, float] | None = None  # 95 % bootstrap interval of loc_error_deg
    seconds: float | None = None  # wall time of this model on this condition (embedding + probes)

    def __post_init__(self):
        if self.condition not in KINDS:
            raise ValueError(f"condition must be one of {KINDS}, got {self.condition!r}")
        if self.rt60_bin is not None:
            self.rt60_bin = (float(self.rt60_bin[0]), float(self.rt60_bin[1]))
        for name in ("score_ci", "drift_ci", "loc_ci"):
            ci = getattr(self, name)
            if ci is not None:
                setattr(self, name, None if ci[0] is None or ci[1] is None else (float(ci[0]), float(ci[1])))

    @property
    def cond(self) -> Condition:
        """The sweep condition of this row (its `label` names it in reports)."""
        return Condition(
            self.condition,
            self.snr_db if self.condition in ("snr", "snr_rt60") else None,
            self.rt60_bin if self.condition in ("rt60", "snr_rt60") else None,
        )

    @property
    def sort_key(self) -> tuple:
        snr = -self.snr_db if self.snr_db is not None else 0.0  # high SNR (easy) first
        rt = self.rt60_bin[0] if self.rt60_bin is not None else 0.0
        return (KINDS.index(self.condition), snr, rt)


def _finite(v: Any) -> Any:
    """JSON has no NaN: non-finite floats become null."""
    if isinstance(v, float) and not math.isfinite(v):
        return None
    return v


def _row_dict(row: ResultRow) -> dict:
    return {k: _finite(v) for k, v in dataclasses.asdict(row).items()}


def row_from_dict(d: dict) -> ResultRow:
    fields = {f.name for f in dataclasses.fields(ResultRow)}
    return ResultRow(**{k: v for k, v in d.items() if k in fields})


# ---------------------------------------------------------------- the report model


@dataclasses.dataclass
class Table:
    head: list[str]
    body: list[list[str]]
    id: str = ""


@dataclasses.dataclass
class Section:
    """A titled block: a table, a bullet list (items) or preformatted text (code)."""

    title: str
    table: Table | None = None
    items: list[str] | None = None
    code: str | None = None


@dataclasses.dataclass
class Plot:
    caption: str
    path: str  # relative to the report folder, '/'-separated
    png_base64: str  # the image itself, for the self-contained HTML page


@dataclasses.dataclass
class Report:
    """What report.md and report.html both show, in this order: the answer first, the setup last (folded)."""

    title: str
    summary: list[str]  # one sentence per model (and task): its loss under noise and under reverberation
    comparison: Table  # conditions x models, score [95 % CI]
    significant: list[str]  # the differences between models that a paired test calls significant
    tests: Table | None  # every paired test between models over the same clips
    main_plots: list[Plot]  # score vs SNR, score vs RT60
    models: Table | None  # kind, source, sample rate, embedding size, input, cost
    problems: list[str]  # models that failed during the sweep
    per_model: list[Section]
    plots: list[Plot]  # the other plots (grids, localisation)
    setup: list[Section]  # versions, seeds, notes, configuration, model configs: in <details>
    localisation: list[Section] = dataclasses.field(default_factory=list)  # localisation_report.py


def _fmt(v: Any, digits: int = 3, none: str = "") -> str:
    if v is None or (isinstance(v, float) and not math.isfinite(v)):
        return none
    if isinstance(v, float):
        return f"{v:.{digits}f}"
    return str(v)


def _with_ci(v: Any, ci: tuple[float, float] | None, digits: int = 3, none: str = "") -> str:
    """'0.812 [0.721, 0.880]': the value and its 95 % interval (the value alone when there is none)."""
    text = _fmt(v, digits, none)
    if ci is None or text in ("", none):
        return text
    return f"{text} [{_fmt(ci[0], digits)}, {_fmt(ci[1], digits)}]"


TABLE_HEAD = [
    "condition",
    "metric",
    "score [95% CI]",
    "drop vs clean",
    "drift: cos to clean [95% CI]",
    "lateral error (deg) [95% CI]",
    "clips",
    "seconds",
]


def _table_cells(r: ResultRow) -> list[str]:
    return [
        r.cond.label,
        r.metric,
        _with_ci(r.score, r.score_ci),
        _fmt(r.drop_vs_clean, none="-" if r.condition == "clean" else ""),
        _with_ci(r.clean_cosine, r.drift_ci, 4),
        _with_ci(r.loc_error_deg, r.loc_ci, 1, none="N/A" if r.model_channels == 1 else ""),
        str(r.n_clips),
        _fmt(r.seconds, 2),
    ]


def _groups(rows: Sequence[ResultRow]) -> dict[tuple[str, str], list[ResultRow]]:
    """Rows per (model, task), in order of appearance, each sorted by condition."""
    groups: dict[tuple[str, str], list[ResultRow]] = {}
    for r in rows:
        groups.setdefault((r.model, r.task), []).append(r)
    return {k: sorted(v, key=lambda r: (r.metric, r.sort_key)) for k, v in groups.items()}


def comparison_table(rows: Sequence[ResultRow]) -> tuple[list[str], list[list[str]]]:
    """Conditions x models (score [95 % CI]), the union of all conditions; blank where a model was not run."""
    models = list(dict.fromkeys(r.model for r in rows))
    keys: dict[tuple, ResultRow] = {}
    cells: dict[tuple, str] = {}
    for r in rows:
        k = (r.task, r.metric, r.condition, r.snr_db, r.rt60_bin)
        keys.setdefault(k, r)
        cells[k + (r.model,)] = _with_ci(r.score, r.score_ci)
    head = ["task", "metric", "condition"] + models
    body = []
    for k, r in sorted(keys.items(), key=lambda kv: (kv[0][0], kv[0][1], kv[1].sort_key)):
        body.append([r.task, r.metric, r.cond.label] + [cells.get(k + (m,), "") for m in models])
    if not any(r.task for r in rows):  # one unnamed task: no task column
        head, body = head[1:], [b[1:] for b in body]
    return head, body


def _worst(group: list[ResultRow], kind: str) -> tuple[ResultRow | None, float | None]:
    """The row of `kind` with the largest loss vs clean, and the mean drop over that axis."""
    axis = [
        r
        for r in group
        if r.condition == kind and r.drop_vs_clean is not None and math.isfinite(r.drop_vs_clean)
    ]
    if not axis:
        return None, None
    return min(axis, key=lambda r: r.drop_vs_clean), sum(r.drop_vs_clean for r in axis) / len(axis)


def _loss_text(loss: float, verb: bool = True) -> str:
    """'loses 0.120' / 'gains 0.010' / 'loses nothing' (verb=False: '0.120', 'a gain of 0.010', 'nothing')."""
    if abs(loss) < 5e-4:
        return "loses nothing" if verb else "nothing"
    if loss > 0:
        return f"loses {loss:.3f}" if verb else f"{loss:.3f}"
    return f"gains {-loss:.3f}" if verb else f"a gain of {-loss:.3f}"


def significant_differences(tests: Sequence[dict]) -> list[str]:
    """'SNR 0 dB, accuracy: A > B (McNemar exact, p = 0.003)' for each significant paired test."""
    out = []
    for t in tests:
        if t.get("significant") and t.get("better"):
            worse = t["b"] if t["better"] == t["a"] else t["a"]
            out.append(
                f"{t.get('condition', '')}, {t.get('measure', '')}: {t['better']} better than {worse} "
                f"({t.get('test', '')}, p = {t['p']:.3g})"
            )
    return out


def summary_sentences(rows: Sequence[ResultRow]) -> list[str]:
    """One sentence per model (and task, metric): clean score, its worst and mean loss under noise and
    under reverberation (as score differences, negative = worse)."""
    out = []
    groups: dict[tuple, list[ResultRow]] = {}
    for r in rows:
        groups.setdefault((r.model, r.task, r.metric), []).append(r)
    multi_task = len({r.task for r in rows}) > 1
    for (model, task, metric), group in groups.items():
        clean = next((r for r in group if r.condition == "clean"), None)
        where = f" on {task}" if multi_task and task else ""
        if clean is None or clean.score is None or not math.isfinite(clean.score):
            out.append(f"{model}{where}: no clean {metric} (see the tables).")
            continue
        parts = []
        for kind, axis in (("snr", "noise"), ("rt60", "reverberation")):
            worst, mean = _worst(group, kind)
            if worst is None:
                continue
            parts.append(
                f"under {axis} it {_loss_text(-worst.drop_vs_clean)} at worst ({worst.cond.label}) "
                f"and {_loss_text(-mean, verb=False)} on average"
            )
        tail = "; ".join(parts) if parts else "no noise or reverberation conditions were run"
        out.append(f"{model}{where}: {metric} {_with_ci(clean.score, clean.score_ci)} clean; {tail}.")
    return out


def tests_table(tests: Sequence[dict]) -> Table | None:
    """Paired tests (the sweep's `tests`): one row per pair of models and condition."""
    if not tests:
        return None
    body = []
    for t in tests:
        mark = "yes" if t.get("significant") else "no"
        better = t.get("better") or "-"
        body.append(
            [
                t.get("condition", ""),
                t.get("measure", ""),
                t["a"],
                t["b"],
                better,
                t.get("test", ""),
                _fmt(t.get("p"), 4),
                mark,
            ]
        )
    head = [
        "condition",
        "measure",
        "model A",
        "model B",
        "better",
        "paired test",
        "p",
        "significant (p < 0.05)",
    ]
    return Table(head, body, "tests")


def _notes(setup: dict) -> list[str]:
    notes = setup.get("notes") or []
    if isinstance(notes, str):
        return [notes]
    if isinstance(notes, dict):  # per model
        return [f"{model}: {n}" for model, ns in notes.items() for n in ([ns] if isinstance(ns, str) else ns)]
    return [str(n) for n in notes]


MODELS_HEAD = [
    "model",
    "kind",
    "source",
    "sample rate (Hz)",
    "embedding size",
    "input",
    "seconds per condition",
    "probe training (s)",
    "seconds in all",
]


def models_table(setup: dict, rows: Sequence[ResultRow]) -> Table | None:
    """What each model is and what the sweep cost it (from setup["models"] and the rows' seconds)."""
    models = setup.get("models")
    if not isinstance(models, list) or not models:
        return None
    body = []
    for m in models:
        if not isinstance(m, dict) or "name" not in m:
            continue
        secs = [r.seconds for r in rows if r.model == m["name"] and r.seconds is not None]
        per = sum(secs) / len(secs) if secs else None
        probe = m.get("probe_seconds")
        total = sum(secs) + (probe or 0.0) if secs or probe else None
        body.append(
            [
                m["name"],
                m.get("kind", ""),
                m.get("source", m.get("path", "")),
                _fmt(m.get("sample_rate")),
                _fmt(m.get("embedding_dim")),
                m.get("input", f"{m.get('channels', '')} ch"),
                _fmt(per, 2),
                _fmt(probe, 1),
                _fmt(total, 1),
            ]
        )
    return Table(MODELS_HEAD, body, "models") if body else None


def _setup_sections(setup: dict) -> list[Section]:
    def pairs(title: str, d: dict) -> Section:
        return Section(
            title, table=Table(["name", "value"], [[k, _fmt(v)] for k, v in d.items()], f"setup-{title}")
        )

    def code(title: str, value: Any) -> Section:
        return Section(title, code=json.dumps(value, indent=2, default=str))

    sections = []
    if setup.get("versions"):
        sections.append(pairs("Versions", setup["versions"]))
    seeds = setup.get("seeds")
    if seeds is not None:
        sections.append(
            pairs("Seeds", seeds)
            if isinstance(seeds, dict)
            else Section("Seeds", items=seeds if isinstance(seeds, list) else [seeds])
        )
    notes = _notes(setup)
    if notes:
        sections.append(Section("Notes", items=notes))
    config = setup.get("config")
    if isinstance(config, dict):  # one line per setting reads better than a nested JSON dump
        sections.append(pairs("Configuration", {k: json.dumps(v, default=str) for k, v in config.items()}))
    elif config is not None:
        sections.append(code("Configuration", config))
    for k, v in setup.items():
        if k not in ("versions", "seeds", "notes", "config", "title", "failures"):
            sections.append(code("Model configs" if k == "models" else k.replace("_", " ").capitalize(), v))
    return sections


def _is_main_plot(path: Path) -> bool:
    """Score vs SNR and vs RT60 lead the report; grids and localisation plots follow the tables."""
    return path.stem.endswith(("_vs_snr", "_vs_rt60")) and "localisation" not in path.stem


def build_report(
    rows: Sequence[ResultRow],
    setup: dict,
    plots: Sequence[tuple[str, Path]],
    out_dir: Path,
    title: str,
    tests: Sequence[dict] = (),
) -> Report:
    """The report model of rows + setup + plots (written under out_dir) + paired tests."""
    per_model = [
        Section(
            f"{model}" + (f" — {task}" if task else "") + f" ({group[0].model_channels} ch)",
            table=Table(TABLE_HEAD, [_table_cells(r) for r in group], f"model-{i}"),
        )
        for i, ((model, task), group) in enumerate(_groups(rows).items())
    ]

    def plot(caption: str, path: Path) -> Plot:
        data = base64.b64encode(path.read_bytes()).decode("ascii")
        return Plot(caption, path.relative_to(out_dir).as_posix(), data)

    return Report(
        title=title,
        summary=summary_sentences(rows),
        comparison=Table(*comparison_table(rows), "comparison"),
        significant=significant_differences(tests),
        tests=tests_table(tests),
        main_plots=[plot(c, p) for c, p in plots if _is_main_plot(p)],
        models=models_table(setup, rows),
        problems=[str(f) for f in setup.get("failures") or []],
        per_model=per_model,
        plots=[plot(c, p) for c, p in plots if not _is_main_plot(p)],
        setup=_setup_sections(setup),
    )


@functools.cache
def _templates(fmt: str) -> jinja2.Template:
    env = jinja2.Environment(
        loader=jinja2.PackageLoader("wavjepa_nat.robustness", "templates"),
        autoescape=fmt == "html",
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
        undefined=jinja2.StrictUndefined,
    )
    env.filters["md_cell"] = lambda s: str(s).replace("|", "\\|")
    return env.get_template(f"report.{fmt}.j2")


def render_report(report: Report, fmt: str) -> str:
    """The report as "md" (Markdown, plots linked) or "html" (one self-contained page, plots inlined)."""
    return _templates(fmt).render(r=report)


# ---------------------------------------------------------------- writers


CI_FIELDS = ("score_ci", "drift_ci", "loc_ci")


def _csv(rows, path: Path) -> None:
    fields = [
        f.name for f in dataclasses.fields(ResultRow) if f.name != "rt60_bin" and f.name not in CI_FIELDS
    ]
    with open(path, "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(
            fields[:4]
            + ["rt60_lo", "rt60_hi"]
            + fields[4:]
            + [f"{c}_{e}" for c in CI_FIELDS for e in ("lo", "hi")]
        )
        for r in rows:
            d = _row_dict(r)
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
    localisation: Sequence = (),
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
        "rows": [_row_dict(r) for r in rows],
        "localisation": [_row_dict(r) for r in localisation],
        "tests": list(tests),
    }
    paths["json"].write_text(json.dumps(payload, indent=2, default=str) + "\n")
    _csv(rows, paths["csv"])
    from wavjepa_nat.robustness.localisation_report import localisation_plots, localisation_sections

    localisation = list(localisation)  # LocRows (robustness/localisation.py): their own tables and plots
    plots = make_plots(rows, out_dir / "plots")
    plots += localisation_plots(localisation, out_dir / "plots")
    report = build_report(rows, setup, plots, out_dir, title, tests)
    report.localisation = localisation_sections(localisation)
    paths["md"].write_text(render_report(report, "md"))
    paths["html"].write_text(render_report(report, "html"))
    paths.update({f"plot:{p.stem}": p for _, p in plots})
    return paths


def load_results(path: str | Path) -> tuple[list[ResultRow], dict]:
    """Read a results.json (or the directory holding one) -> (rows, setup)."""
    rows, setup, _, _ = load_results_and_tests(path)
    return rows, setup


def load_results_and_tests(path: str | Path) -> tuple[list[ResultRow], dict, list[dict], list]:
    """Read a results.json (or the directory holding one) -> (rows, setup, tests, localisation rows)."""
    from wavjepa_nat.robustness.localisation import loc_row_from_dict

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
        notes += [n for n in _notes(setup) if n not in notes]
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
