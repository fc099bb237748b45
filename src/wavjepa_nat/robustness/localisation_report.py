"""The localisation part of a robustness report: tables (report.Section) and plots from LocRows.

Tables, one per measure (lateral-angle error, front-back confusion rate, azimuth error): a row per condition,
the chance level of the condition's test distribution, then per model and baseline "linear / MLP".
Plots: lateral-angle error against SNR and against the RT60 bin (a line per model and baseline: linear
probe solid, MLP dotted; chance grey dashed), and a polar plot of predicted against true azimuth of the
clean condition (linear probe), one panel per model.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from wavjepa_nat.robustness.conditions import KINDS, Condition, bin_text
from wavjepa_nat.robustness.localisation import PROBE_TEXT, LocRow

# Below this many distinct test directions a condition's errors mostly reflect which few directions
# happened to be drawn (a bank with few test scenes per RT60 bin): marked in the tables.
MIN_DIRECTIONS = 8

MEASURES = [  # (field, chance field, title, digits)
    ("lateral_error_deg", "lateral_chance_deg", "Lateral-angle error (deg)", 1),
    ("front_back_rate", "front_back_chance", "Front-back confusion rate", 2),
    ("azimuth_error_deg", "azimuth_chance_deg", "Azimuth error (deg)", 1),
]


def _cond(r: LocRow) -> Condition:
    return Condition(
        r.condition,
        r.snr_db if r.condition in ("snr", "snr_rt60") else None,
        r.rt60_bin if r.condition in ("rt60", "snr_rt60") else None,
    )


def _sort_key(r: LocRow) -> tuple:
    return (KINDS.index(r.condition), -(r.snr_db or 0.0), r.rt60_bin[0] if r.rt60_bin else 0.0)


def _fmt(v, digits: int) -> str:
    return "" if v is None or (isinstance(v, float) and not math.isfinite(v)) else f"{v:.{digits}f}"


def localisation_sections(rows: Sequence[LocRow]):
    """[Section] for the report: what the measures are, then one table per measure."""
    from wavjepa_nat.robustness.report import Section, Table

    rows = list(rows)
    if not rows:
        return []
    models = list(dict.fromkeys(r.model for r in rows))
    conds = sorted({(r.task, r.condition, r.snr_db, r.rt60_bin): r for r in rows}.values(), key=_sort_key)
    cell = {(r.task, r.condition, r.snr_db, r.rt60_bin, r.model, r.probe): r for r in rows}
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
            k = (c.task, c.condition, c.snr_db, c.rt60_bin)
            few = c.n_directions is not None and c.n_directions < MIN_DIRECTIONS
            dirs = "" if c.n_directions is None else f" ({c.n_directions})"
            line = [_cond(c).label + (" *" if few else ""), _fmt(getattr(c, chance), digits) + dirs]
            for m in models:
                vals = [cell.get(k + (m, p)) for p in ("linear", "mlp")]
                line.append(" / ".join(_fmt(getattr(v, field), digits) if v else "" for v in vals))
            body.append(line)
        head = ["condition", "chance (directions)"] + [f"{m} (linear / MLP)" for m in models]
        sections.append(Section(title, table=Table(head, body, "loc-" + field.split("_")[0])))
    return sections


def _lines(rows, path: Path, kind: str, xlabel: str, key, tick=None) -> Path | None:
    import matplotlib.pyplot as plt

    sel = [r for r in rows if r.condition == kind]
    if not sel:
        return None
    keys = sorted({key(r) for r in sel})
    x_of = (lambda k: keys.index(k)) if tick else (lambda k: k)
    models = list(dict.fromkeys(r.model for r in rows))
    fig, ax = plt.subplots(figsize=(6.5, 4))
    try:
        for i, m in enumerate(models):
            for probe, style in (("linear", "-"), ("mlp", ":")):
                pts = sorted(
                    (x_of(key(r)), r.lateral_error_deg) for r in sel if r.model == m and r.probe == probe
                )
                if pts:
                    ax.plot(*zip(*pts), style, marker="o", color=f"C{i}", label=f"{m} ({probe})")
        chance = sorted({(x_of(key(r)), r.lateral_chance_deg) for r in sel})
        ax.plot(*zip(*chance), "--", color="grey", label="chance")
        if tick:
            ax.set_xticks(range(len(keys)), [tick(k) for k in keys])
        ax.set_xlabel(xlabel)
        ax.set_ylabel("lateral-angle error (deg)")
        ax.set_ylim(bottom=0)
        ax.set_title(f"Localisation: lateral-angle error vs {xlabel.split(' (')[0]}")
        ax.grid(alpha=0.3)
        ax.legend(fontsize=7, ncol=2)
        path.parent.mkdir(parents=True, exist_ok=True)
        fig.savefig(path, dpi=110, bbox_inches="tight")
    finally:
        plt.close(fig)
    return path


def polar_plot(rows, path: Path, probe: str = "linear") -> Path | None:
    """Predicted vs true azimuth of the clean condition, one polar panel per model (0 = front, +90 = left)."""
    import matplotlib.pyplot as plt

    sel = [r for r in rows if r.condition == "clean" and r.probe == probe and r.true_az]
    if not sel:
        return None
    fig, axes = plt.subplots(1, len(sel), subplot_kw={"projection": "polar"}, figsize=(3.2 * len(sel), 3.6))
    axes = np.atleast_1d(axes)
    try:
        for ax, r in zip(axes, sel):
            t, p = np.deg2rad(np.asarray(r.true_az)), np.deg2rad(np.asarray(r.pred_az))
            for a, b in zip(t, p):
                ax.plot([a, b], [1.0, 0.7], color="0.75", linewidth=0.6)
            ax.scatter(t, np.ones_like(t), s=10, color="k", label="true")
            ax.scatter(p, np.full_like(p, 0.7), s=10, color="C3", label="predicted")
            ax.set_theta_zero_location("N")  # 0 deg = front, at the top
            ax.set_theta_direction(1)  # counter-clockwise: +90 = left
            ax.set_rticks([])
            ax.set_ylim(0, 1.1)
            ax.set_title(f"{r.model}\nlateral error {r.lateral_error_deg:.1f} deg", fontsize=8)
        axes[0].legend(fontsize=7, loc="lower left", bbox_to_anchor=(-0.2, -0.2))
        fig.suptitle(f"Clean condition, {probe} probe: predicted (inner) vs true (outer) azimuth", fontsize=9)
        path.parent.mkdir(parents=True, exist_ok=True)
        fig.savefig(path, dpi=110, bbox_inches="tight")
    finally:
        plt.close(fig)
    return path


def localisation_plots(rows: Sequence[LocRow], out_dir: Path) -> list[tuple[str, Path]]:
    """(caption, path) of every localisation plot the rows support, written under out_dir."""
    import matplotlib

    matplotlib.use("Agg")
    rows, out_dir = list(rows), Path(out_dir)
    made = [
        (
            "localisation: lateral-angle error vs SNR",
            _lines(rows, out_dir / "localisation-lateral_vs_snr.png", "snr", "SNR (dB)", lambda r: r.snr_db),
        ),
        (
            "localisation: lateral-angle error vs RT60",
            _lines(
                rows,
                out_dir / "localisation-lateral_vs_rt60.png",
                "rt60",
                "measured RT60 bin",
                lambda r: tuple(r.rt60_bin),
                tick=bin_text,
            ),
        ),
        (
            "localisation: predicted vs true direction (clean, linear probe)",
            polar_plot(rows, out_dir / "localisation-polar_clean.png"),
        ),
    ]
    return [(c, p) for c, p in made if p is not None]
