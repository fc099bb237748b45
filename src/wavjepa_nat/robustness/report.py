"""Robustness reports: results rows + setup -> report.md, report.html, results.json, results.csv, plots/.

One row is one (model, condition, metric) cell of a sweep. The JSON file is the source of truth:
`merge_reports` reads several of them back and writes one comparison report. The HTML page is
self-contained (plots embedded as base64 PNG), so it can be mailed or attached as it is.
"""

from __future__ import annotations

import base64
import csv
import dataclasses
import html
import json
import math
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from wavjepa_nat.errors import InputError
from wavjepa_nat.robustness.plots import bin_label, make_plots

CONDITIONS = ("clean", "snr", "rt60", "snr_rt60")
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

    def __post_init__(self):
        if self.condition not in CONDITIONS:
            raise ValueError(f"condition must be one of {CONDITIONS}, got {self.condition!r}")
        if self.rt60_bin is not None:
            self.rt60_bin = (float(self.rt60_bin[0]), float(self.rt60_bin[1]))

    @property
    def condition_label(self) -> str:
        parts = []
        if self.snr_db is not None and self.condition in ("snr", "snr_rt60"):
            parts.append(f"SNR {self.snr_db:g} dB")
        if self.rt60_bin is not None and self.condition in ("rt60", "snr_rt60"):
            parts.append(f"RT60 {bin_label(self.rt60_bin)}")
        return ", ".join(parts) or "clean"

    @property
    def sort_key(self) -> tuple:
        snr = -self.snr_db if self.snr_db is not None else 0.0  # high SNR (easy) first
        rt = self.rt60_bin[0] if self.rt60_bin is not None else 0.0
        return (CONDITIONS.index(self.condition), snr, rt)


def _finite(v: Any) -> Any:
    """JSON has no NaN: non-finite floats become null."""
    if isinstance(v, float) and not math.isfinite(v):
        return None
    return v


def row_to_dict(row: ResultRow) -> dict:
    d = {k: _finite(v) for k, v in dataclasses.asdict(row).items()}
    d["rt60_bin"] = list(row.rt60_bin) if row.rt60_bin is not None else None
    return d


def row_from_dict(d: dict) -> ResultRow:
    fields = {f.name for f in dataclasses.fields(ResultRow)}
    d = {k: v for k, v in d.items() if k in fields}
    if d.get("rt60_bin") is not None:
        d["rt60_bin"] = tuple(d["rt60_bin"])
    return ResultRow(**d)


# ---------------------------------------------------------------- formatting


def _fmt(v: Any, digits: int = 3, none: str = "") -> str:
    if v is None or (isinstance(v, float) and not math.isfinite(v)):
        return none
    if isinstance(v, float):
        return f"{v:.{digits}f}"
    return str(v)


TABLE_HEAD = ["condition", "metric", "score", "drop vs clean", "drift: cos to clean", "loc. error (deg)", "clips"]


def _table_cells(r: ResultRow) -> list[str]:
    return [
        r.condition_label,
        r.metric,
        _fmt(r.score),
        _fmt(r.drop_vs_clean, none="-" if r.condition == "clean" else ""),
        _fmt(r.clean_cosine, 4),
        _fmt(r.loc_error_deg, 1, none="N/A" if r.model_channels == 1 else ""),
        str(r.n_clips),
    ]


def _groups(rows: Sequence[ResultRow]) -> dict[tuple[str, str], list[ResultRow]]:
    """Rows per (model, task), in order of appearance, each sorted by condition."""
    groups: dict[tuple[str, str], list[ResultRow]] = {}
    for r in rows:
        groups.setdefault((r.model, r.task), []).append(r)
    return {k: sorted(v, key=lambda r: (r.metric, r.sort_key)) for k, v in groups.items()}


def comparison_table(rows: Sequence[ResultRow]) -> tuple[list[str], list[list[str]]]:
    """Conditions x models (score), the union of all conditions; blank where a model was not run."""
    models = list(dict.fromkeys(r.model for r in rows))
    keys: dict[tuple, ResultRow] = {}
    cells: dict[tuple, str] = {}
    for r in rows:
        k = (r.task, r.metric, r.condition, r.snr_db, r.rt60_bin)
        keys.setdefault(k, r)
        cells[k + (r.model,)] = _fmt(r.score)
    head = ["task", "metric", "condition"] + models
    body = []
    for k, r in sorted(keys.items(), key=lambda kv: (kv[0][0], kv[0][1], kv[1].sort_key)):
        body.append([r.task, r.metric, r.condition_label] + [cells.get(k + (m,), "") for m in models])
    if not any(r.task for r in rows):  # one unnamed task: no task column
        head, body = head[1:], [b[1:] for b in body]
    return head, body


def _md_table(head: list[str], body: list[list[str]]) -> str:
    esc = lambda s: str(s).replace("|", "\\|")
    lines = ["| " + " | ".join(map(esc, head)) + " |", "|" + "---|" * len(head)]
    lines += ["| " + " | ".join(map(esc, row)) + " |" for row in body]
    return "\n".join(lines)


def _html_table(head: list[str], body: list[list[str]], table_id: str) -> str:
    th = "".join(f"<th>{html.escape(h)}</th>" for h in head)
    trs = "".join("<tr>" + "".join(f"<td>{html.escape(str(c))}</td>" for c in row) + "</tr>" for row in body)
    return f'<table id="{html.escape(table_id)}"><thead><tr>{th}</tr></thead><tbody>{trs}</tbody></table>'


def _notes(setup: dict) -> list[str]:
    notes = setup.get("notes") or []
    if isinstance(notes, str):
        return [notes]
    if isinstance(notes, dict):  # per model
        return [f"{model}: {n}" for model, ns in notes.items() for n in ([ns] if isinstance(ns, str) else ns)]
    return [str(n) for n in notes]


def _setup_sections(setup: dict) -> list[tuple[str, str, Any]]:
    """(title, kind, value) of the setup: kind "table" (key/value pairs), "list" or "json"."""
    sections = []
    if setup.get("versions"):
        sections.append(("Versions", "table", setup["versions"]))
    if setup.get("seeds") is not None:
        seeds = setup["seeds"]
        sections.append(("Seeds", "table" if isinstance(seeds, dict) else "list", seeds))
    notes = _notes(setup)
    if notes:
        sections.append(("Notes", "list", notes))
    config = setup.get("config")
    if isinstance(config, dict):  # one line per setting reads better than a nested JSON dump
        sections.append(("Configuration", "table", {k: json.dumps(v, default=str) for k, v in config.items()}))
    elif config is not None:
        sections.append(("Configuration", "json", config))
    for k, v in setup.items():
        if k not in ("versions", "seeds", "notes", "config", "title"):
            sections.append((k.replace("_", " ").capitalize(), "json", v))
    return sections


# ---------------------------------------------------------------- writers


def _markdown(rows, setup, plots, out_dir: Path, title: str) -> str:
    md = [f"# {title}", "", "## Setup", ""]
    for name, kind, value in _setup_sections(setup):
        md += [f"### {name}", ""]
        if kind == "table":
            md += [_md_table(["name", "value"], [[k, _fmt(v)] for k, v in value.items()]), ""]
        elif kind == "list":
            md += [f"- {v}" for v in (value if isinstance(value, list) else [value])] + [""]
        else:
            md += ["```json", json.dumps(value, indent=2, default=str), "```", ""]
    md += ["## Comparison", "", _md_table(*comparison_table(rows)), ""]
    md += ["## Results per model", ""]
    for (model, task), group in _groups(rows).items():
        md += [f"### {model}" + (f" — {task}" if task else "") + f" ({group[0].model_channels} ch)", ""]
        md += [_md_table(TABLE_HEAD, [_table_cells(r) for r in group]), ""]
    if plots:
        md += ["## Plots", ""]
        md += [f"![{caption}]({path.relative_to(out_dir).as_posix()})\n" for caption, path in plots]
    return "\n".join(md) + "\n"


CSS = """body{font-family:system-ui,sans-serif;max-width:70em;margin:2em auto;padding:0 1em;color:#222}
table{border-collapse:collapse;margin:0.5em 0 1.5em}th,td{border:1px solid #ccc;padding:0.25em 0.6em;text-align:right}
th{background:#f0f0f0}td:first-child,th:first-child{text-align:left}pre{background:#f6f6f6;padding:0.6em;overflow:auto}
figure{display:inline-block;margin:0.5em}figcaption{font-size:0.9em;color:#555}"""


def _html(rows, setup, plots, title: str) -> str:
    h = [f"<!DOCTYPE html><html><head><meta charset='utf-8'><title>{html.escape(title)}</title>",
         f"<style>{CSS}</style></head><body>", f"<h1>{html.escape(title)}</h1>", "<h2>Setup</h2>"]
    for name, kind, value in _setup_sections(setup):
        h.append(f"<h3>{html.escape(name)}</h3>")
        if kind == "table":
            h.append(_html_table(["name", "value"], [[k, _fmt(v)] for k, v in value.items()], f"setup-{name}"))
        elif kind == "list":
            items = value if isinstance(value, list) else [value]
            h.append("<ul>" + "".join(f"<li>{html.escape(str(v))}</li>" for v in items) + "</ul>")
        else:
            h.append(f"<pre>{html.escape(json.dumps(value, indent=2, default=str))}</pre>")
    h += ["<h2>Comparison</h2>", _html_table(*comparison_table(rows), "comparison"), "<h2>Results per model</h2>"]
    for i, ((model, task), group) in enumerate(_groups(rows).items()):
        h.append(f"<h3>{html.escape(model)}{' — ' + html.escape(task) if task else ''} "
                 f"({group[0].model_channels} ch)</h3>")
        h.append(_html_table(TABLE_HEAD, [_table_cells(r) for r in group], f"model-{i}"))
    if plots:
        h.append("<h2>Plots</h2>")
        for caption, path in plots:
            data = base64.b64encode(path.read_bytes()).decode("ascii")
            h.append(f"<figure><img alt='{html.escape(caption)}' src='data:image/png;base64,{data}'>"
                     f"<figcaption>{html.escape(caption)}</figcaption></figure>")
    h.append("</body></html>")
    return "\n".join(h) + "\n"


def _csv(rows, path: Path) -> None:
    fields = [f.name for f in dataclasses.fields(ResultRow) if f.name != "rt60_bin"]
    with open(path, "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(fields[:4] + ["rt60_lo", "rt60_hi"] + fields[4:])
        for r in rows:
            d = row_to_dict(r)
            lo, hi = r.rt60_bin if r.rt60_bin is not None else ("", "")
            vals = ["" if d[k] is None else d[k] for k in fields]
            w.writerow(vals[:4] + [lo, hi] + vals[4:])


def write_report(
    rows: Sequence[ResultRow], setup: dict, out_dir: str | Path, title: str | None = None
) -> dict[str, Path]:
    """Write report.md, report.html, results.json, results.csv and plots/*.png into out_dir."""
    from wavjepa_nat import __version__

    rows = list(rows)
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    title = title or setup.get("title") or "wavjepa-nat robustness report"
    paths = {k: out_dir / n for k, n in [("json", "results.json"), ("csv", "results.csv"),
                                          ("md", "report.md"), ("html", "report.html")]}
    payload = {"format": RESULTS_FORMAT, "version": __version__, "title": title,
               "setup": setup, "rows": [row_to_dict(r) for r in rows]}
    paths["json"].write_text(json.dumps(payload, indent=2, default=str) + "\n")
    _csv(rows, paths["csv"])
    plots = make_plots(rows, out_dir / "plots")
    paths["md"].write_text(_markdown(rows, setup, plots, out_dir, title))
    paths["html"].write_text(_html(rows, setup, plots, title))
    paths.update({f"plot:{p.stem}": p for _, p in plots})
    return paths


def load_results(path: str | Path) -> tuple[list[ResultRow], dict]:
    """Read a results.json (or the directory holding one) -> (rows, setup)."""
    path = Path(path)
    file = path / "results.json" if path.is_dir() else path
    if not file.is_file():
        raise InputError(f"{path} is not a results directory (no results.json)")
    try:
        payload = json.loads(file.read_text())
        if payload.get("format") != RESULTS_FORMAT:
            raise ValueError("not a wavjepa-nat results file")
        rows = [row_from_dict(d) for d in payload["rows"]]
    except (ValueError, KeyError, TypeError, AttributeError) as err:
        raise InputError(f"{file} is not a valid results file: {err}") from None
    return rows, payload.get("setup", {})


def merge_reports(dirs: Sequence[str | Path], out: str | Path, title: str | None = None) -> dict[str, Path]:
    """Merge several runs' results.json into one comparison report.

    All models of all runs appear; the conditions are the union (blank where a model was not run).
    A model name that appears in more than one run is suffixed with its run's directory name.
    """
    if not dirs:
        raise InputError("no results directories given")
    runs = [(Path(d), *load_results(d)) for d in dirs]
    owners: dict[str, set[int]] = {}
    for i, (_, rows, _) in enumerate(runs):
        for r in rows:
            owners.setdefault(r.model, set()).add(i)
    labels = [d.resolve().name or str(i) for i, (d, _, _) in enumerate(runs)]
    if len(set(labels)) < len(labels):
        labels = [f"{lab}#{i}" for i, lab in enumerate(labels)]
    merged, notes = [], []
    for i, (d, rows, setup) in enumerate(runs):
        for r in rows:
            name = f"{r.model} [{labels[i]}]" if len(owners[r.model]) > 1 else r.model
            merged.append(dataclasses.replace(r, model=name))
        notes += [n for n in _notes(setup) if n not in notes]
    setup = {"notes": notes, "runs": [{"dir": str(d), "setup": s} for d, _, s in runs]}
    if len(runs) == 1:  # re-rendering one run keeps its setup as it was
        setup = runs[0][2]
    return write_report(merged, setup, out, title or "wavjepa-nat robustness comparison")
