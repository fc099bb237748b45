"""The report model: what report.md and report.html both show, and its rendering through the Jinja templates
(templates/report.md.j2, templates/report.html.j2)."""

from __future__ import annotations

import dataclasses
import functools
import math
from typing import Any

import jinja2


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
    localisation: list[Section] = dataclasses.field(default_factory=list)  # report/localisation.py
    room: list[Section] = dataclasses.field(default_factory=list)  # report/room_probes.py (--room-probes)


def fmt(v: Any, digits: int = 3, none: str = "") -> str:
    """A table cell: floats to `digits` decimals, None and non-finite values as `none`."""
    if v is None or (isinstance(v, float) and not math.isfinite(v)):
        return none
    if isinstance(v, float):
        return f"{v:.{digits}f}"
    return str(v)


def with_ci(v: Any, ci: tuple[float, float] | None, digits: int = 3, none: str = "") -> str:
    """'0.812 [0.721, 0.880]': the value and its 95 % interval (the value alone when there is none)."""
    text = fmt(v, digits, none)
    if ci is None or text in ("", none):
        return text
    return f"{text} [{fmt(ci[0], digits)}, {fmt(ci[1], digits)}]"


@functools.cache
def _templates(form: str) -> jinja2.Template:
    env = jinja2.Environment(
        loader=jinja2.PackageLoader("wavjepa_nat.robustness.report", "templates"),
        autoescape=form == "html",
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
        undefined=jinja2.StrictUndefined,
    )
    env.filters["md_cell"] = lambda s: str(s).replace("|", "\\|")
    return env.get_template(f"report.{form}.j2")


def render_report(report: Report, form: str) -> str:
    """The report as "md" (Markdown, plots linked) or "html" (one self-contained page, plots inlined)."""
    return _templates(form).render(r=report)
