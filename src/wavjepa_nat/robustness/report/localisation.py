"""The localisation tables of a robustness report (Sections) from LocRows; the plots are in
localisation_plots.py.

Tables, one per measure (lateral-angle error, front-back confusion rate, azimuth error): a row per condition,
the chance level of the condition's test distribution, then per model and baseline "linear / MLP".
"""

from __future__ import annotations

from collections.abc import Sequence

from wavjepa_nat.robustness.metrics.direction import PROBE_TEXT
from wavjepa_nat.robustness.report.document import Section, Table, fmt
from wavjepa_nat.robustness.report.rows import LocRow

# Below this many distinct test directions a condition's errors mostly reflect which few directions
# happened to be drawn (a bank with few test scenes per RT60 bin): marked in the tables.
MIN_DIRECTIONS = 8

MEASURES = [  # (field, chance field, title, digits)
    ("lateral_error_deg", "lateral_chance_deg", "Lateral-angle error (deg)", 1),
    ("front_back_rate", "front_back_chance", "Front-back confusion rate", 2),
    ("azimuth_error_deg", "azimuth_chance_deg", "Azimuth error (deg)", 1),
]


def localisation_sections(rows: Sequence[LocRow]) -> list[Section]:
    """[Section] for the report: what the measures are, then one table per measure."""
    rows = list(rows)
    if not rows:
        return []
    models = list(dict.fromkeys(r.model for r in rows))
    # the label names every axis of a condition (SNR, RT60 bin, sources, TIR)
    one_per_condition = {(r.task, r.cond.label): r for r in rows}
    conds = sorted(one_per_condition.values(), key=lambda r: r.sort_key)
    cell = {(r.task, r.cond.label, r.model, r.probe): r for r in rows}
    n = max(r.n_clips for r in rows)
    about = [
        "Probes: "
        + "; ".join(f"{k}: {t}" for k, t in PROBE_TEXT.items())
        + ". Each cell reads 'linear / MLP'.",
        "Lateral angle = asin(sin az cos el), the angle from the median plane that ITD and ILD determine; "
        "front-back: the hemisphere (scored for sources at least 10 deg from the frontal plane; a spherical "
        "head cannot resolve it, a measured head partly can); azimuth error: the full-circle error, which "
        "front-back guessing dominates for a spherical head.",
        "Chance = the error of the best input-independent guess on the condition's test sources (the median "
        "lateral angle, the best constant azimuth, the majority hemisphere), with the number of distinct "
        "source directions (test scenes) in brackets. Sources within 30 deg of the horizontal plane; up to "
        f"{n} test clips per condition. A condition with fewer than {MIN_DIRECTIONS} directions is marked *: "
        "its errors depend mostly on which directions were drawn (simulate more test rooms).",
        "gccphat-itd+ild: a non-learned binaural front end (GCC-PHAT ITD curve and peak, ILD in 32 bands), "
        "read out with the same probes: how hard each condition is for localisation.",
    ]
    sections = [Section("Localisation: how it is measured", items=about)]
    for field, chance, title, digits in MEASURES:
        body = []
        for c in conds:
            k = (c.task, c.cond.label)
            few = c.n_directions is not None and c.n_directions < MIN_DIRECTIONS
            dirs = "" if c.n_directions is None else f" ({c.n_directions})"
            line = [c.cond.label + (" *" if few else ""), fmt(getattr(c, chance), digits) + dirs]
            for m in models:
                vals = [cell.get(k + (m, p)) for p in ("linear", "mlp")]
                line.append(" / ".join(fmt(getattr(v, field), digits) if v else "" for v in vals))
            body.append(line)
        head = ["condition", "chance (directions)"] + [f"{m} (linear / MLP)" for m in models]
        sections.append(Section(title, table=Table(head, body, "loc-" + field.split("_")[0])))
    return sections
