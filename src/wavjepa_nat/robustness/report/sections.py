"""The sections of a robustness report built from result rows, the sweep's setup and its paired tests: the
summary sentences, the comparison table, the paired tests, the models, one table per model, and the setup."""

from __future__ import annotations

import base64
import json
import math
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from wavjepa_nat.robustness.report.document import Plot, Report, Section, Table, fmt, with_ci
from wavjepa_nat.robustness.report.rows import ResultRow

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
        r.metric
        if r.all_class_map is None
        else f"{r.metric}; all-class mAP {with_ci(r.all_class_map, r.all_class_map_ci)}",
        with_ci(r.score, r.score_ci),
        fmt(r.drop_vs_clean, none="-" if r.condition == "clean" else ""),
        with_ci(r.clean_cosine, r.drift_ci, 4),
        with_ci(r.loc_error_deg, r.loc_ci, 1, none="N/A" if r.model_channels == 1 else ""),
        str(r.n_clips),
        fmt(r.seconds, 2),
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
        k = (r.task, r.metric, r.cond.label)  # the label names every axis (SNR, RT60 bin, sources, TIR)
        keys.setdefault(k, r)
        cells[k + (r.model,)] = with_ci(r.score, r.score_ci)
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
        for kind, axis in (("polyphony", "overlapping sources"), ("snr", "noise"), ("rt60", "reverberation")):
            worst, mean = _worst(group, kind)
            if worst is None:
                continue
            parts.append(
                f"under {axis} it {_loss_text(-worst.drop_vs_clean)} at worst ({worst.cond.label}) "
                f"and {_loss_text(-mean, verb=False)} on average"
                + (
                    f", keeping an all-class mAP of {worst.all_class_map:.3f} there"
                    if kind == "polyphony" and worst.all_class_map is not None
                    else ""
                )
            )
        tail = "; ".join(parts) if parts else "no noise or reverberation conditions were run"
        out.append(f"{model}{where}: {metric} {with_ci(clean.score, clean.score_ci)} clean; {tail}.")
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
                fmt(t.get("p"), 4),
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


def setup_notes(setup: dict) -> list[str]:
    """The setup's notes as a list of lines (a single note, a list, or a dict per model)."""
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
                fmt(m.get("sample_rate")),
                fmt(m.get("embedding_dim")),
                m.get("input", f"{m.get('channels', '')} ch"),
                fmt(per, 2),
                fmt(probe, 1),
                fmt(total, 1),
            ]
        )
    return Table(MODELS_HEAD, body, "models") if body else None


def _setup_sections(setup: dict) -> list[Section]:
    def pairs(title: str, d: dict) -> Section:
        return Section(
            title, table=Table(["name", "value"], [[k, fmt(v)] for k, v in d.items()], f"setup-{title}")
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
    notes = setup_notes(setup)
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
    return path.stem.endswith(("_vs_snr", "_vs_rt60", "_vs_polyphony")) and "localisation" not in path.stem


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
