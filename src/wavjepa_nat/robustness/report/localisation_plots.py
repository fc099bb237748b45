"""The localisation plots of a robustness report from LocRows: lateral-angle error against SNR and against the
RT60 bin (a line per model and baseline: linear probe solid, MLP dotted; chance grey dashed), and a polar
plot of predicted against true azimuth of the clean condition (linear probe), one panel per model."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt
import numpy as np

from wavjepa_nat.data.render.scenes import bin_text
from wavjepa_nat.files import atomic_path
from wavjepa_nat.robustness.report.rows import LocRow


def _lines(rows, path: Path, kind: str, xlabel: str, key, tick=None) -> Path | None:
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
        with atomic_path(path) as tmp:
            fig.savefig(tmp, dpi=110, bbox_inches="tight", format="png")
    finally:
        plt.close(fig)
    return path


def polar_plot(rows, path: Path, probe: str = "linear") -> Path | None:
    """Predicted vs true azimuth of the clean condition, one polar panel per model (0 = front, +90 = left)."""
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
        with atomic_path(path) as tmp:
            fig.savefig(tmp, dpi=110, bbox_inches="tight", format="png")
    finally:
        plt.close(fig)
    return path


def localisation_plots(rows: Sequence[LocRow], out_dir: Path) -> list[tuple[str, Path]]:
    """(caption, path) of every localisation plot the rows support, written under out_dir."""
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
