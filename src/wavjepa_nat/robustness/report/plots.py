"""Robustness plots (matplotlib, Agg): score vs SNR, score vs RT60 bin, score and all-class mAP vs the
polyphony conditions (sources, TIR), SNR x RT60 heat maps.

Each function takes the report's rows (ResultRow, report/rows.py), draws one figure, writes a
PNG and returns its path, or None when the rows hold nothing to draw.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import numpy as np

from wavjepa_nat.data.render.scenes import bin_text
from wavjepa_nat.files import atomic_path
from wavjepa_nat.robustness.conditions import rt60_axis_label

VALUE_LABELS = {
    "score": None,
    "loc_error_deg": "lateral-angle error (deg)",
    "all_class_map": "mAP of every present class",
}
CI_OF = {  # rows' 95 % intervals
    "score": "score_ci",
    "loc_error_deg": "loc_ci",
    "clean_cosine": "drift_ci",
    "all_class_map": "all_class_map_ci",
}


def slug(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9]+", "-", text).strip("-").lower() or "x"


def _models(rows) -> list[str]:
    return list(dict.fromkeys(r.model for r in rows))


def _value(row, value: str) -> float | None:
    v = getattr(row, value)
    return None if v is None or not np.isfinite(v) else float(v)


def _ci(row, value: str) -> tuple[float, float] | None:
    ci = getattr(row, CI_OF.get(value, ""), None)
    return None if ci is None or not all(np.isfinite(ci)) else (float(ci[0]), float(ci[1]))


def _ylabel(rows, value: str) -> str:
    return VALUE_LABELS[value] or rows[0].metric


@contextmanager
def _figure(path: Path, title: str, xlabel: str, ylabel: str, size=(6, 4), legend: bool = True) -> Iterator:
    """Yields (fig, ax); then sets the title and axis labels (grid and legend for line plots) and saves."""
    fig, ax = plt.subplots(figsize=size)
    try:
        yield fig, ax
        ax.set_title(title)
        ax.set_xlabel(xlabel)
        ax.set_ylabel(ylabel)
        if legend:
            ax.grid(alpha=0.3)
            ax.legend(fontsize=8)
        path.parent.mkdir(parents=True, exist_ok=True)
        with atomic_path(path) as tmp:
            fig.savefig(tmp, dpi=110, bbox_inches="tight", format="png")
    finally:
        plt.close(fig)


def _line_plot(
    rows,
    path: Path,
    title: str,
    value: str,
    condition: str,
    key: Callable,
    xlabel: str,
    tick: Callable | None = None,
) -> Path | None:
    """A line per model over key(row) of the rows of one condition; the clean score dashed in the same colour.
    95 % intervals: error bars on the points, a shaded band around the clean line.

    With tick, the keys are placed at equal spacing and labelled tick(key); else key is the x value.
    """
    cond_rows = [r for r in rows if r.condition == condition and _value(r, value) is not None]
    if not cond_rows:
        return None
    keys = sorted({key(r) for r in cond_rows})
    x_of = (lambda k: keys.index(k)) if tick else (lambda k: k)
    colors = {m: f"C{i}" for i, m in enumerate(_models(rows))}
    models = _models(cond_rows)
    shift = 0.03 * (max(keys) - min(keys) if not tick and len(keys) > 1 else 1.0)  # bars side by side
    with _figure(path, f"{title} (dashed: clean; bars: 95% CI)", xlabel, _ylabel(rows, value)) as (_, ax):
        for j, model in enumerate(models):
            pts = sorted(
                (x_of(key(r)), _value(r, value), _ci(r, value)) for r in cond_rows if r.model == model
            )
            xs = np.array([p[0] for p in pts], np.float64) + (j - (len(models) - 1) / 2) * shift
            ys = np.array([p[1] for p in pts])
            err = np.array([[y - ci[0], ci[1] - y] if ci else [0.0, 0.0] for _, y, ci in pts]).T.clip(min=0)
            ax.errorbar(
                xs,
                ys,
                yerr=err if np.any(err) else None,
                marker="o",
                color=colors[model],
                label=model,
                capsize=3,
                elinewidth=1,
            )
        for r in rows:
            v = _value(r, value)
            if r.condition == "clean" and v is not None:
                ax.axhline(v, color=colors[r.model], linestyle="--", linewidth=1, alpha=0.8)
                ci = _ci(r, value)
                if ci is not None:
                    ax.axhspan(ci[0], ci[1], color=colors[r.model], alpha=0.04, linewidth=0)
        if tick:
            ax.set_xticks(range(len(keys)), [tick(k) for k in keys])
    return path


def plot_vs_snr(rows, path: Path, title: str, value: str = "score") -> Path | None:
    """A line per model over SNR; the clean score dashed in the same colour."""
    return _line_plot(rows, path, title, value, "snr", lambda r: r.snr_db, "SNR (dB)")


def plot_vs_rt60(rows, path: Path, title: str, value: str = "score") -> Path | None:
    """A line per model over the measured-RT60 bins; the clean score dashed."""
    return _line_plot(
        rows, path, title, value, "rt60", lambda r: tuple(r.rt60_bin), rt60_axis_label(), tick=bin_text
    )


def polyphony_tick(key: tuple[int, float]) -> str:
    return f"{key[0]} src, {-key[1]:g} dB"


def plot_vs_polyphony(rows, path: Path, title: str, value: str = "score") -> Path | None:
    """A line per model over the polyphony conditions (fewer sources and higher TIR first); clean dashed."""
    return _line_plot(
        rows,
        path,
        title,
        value,
        "polyphony",
        lambda r: (int(r.sources), -float(r.tir_db)),
        "sources, target-to-interferer ratio",
        tick=polyphony_tick,
    )


def plot_heatmap(rows, model: str, path: Path, title: str, value: str = "score") -> Path | None:
    """SNR (rows) x RT60 bin (columns) grid of one model; blank cells where not run."""
    grid_rows = [
        r for r in rows if r.condition == "snr_rt60" and r.model == model and _value(r, value) is not None
    ]
    if not grid_rows:
        return None
    snrs = sorted({r.snr_db for r in grid_rows}, reverse=True)
    bins = sorted({tuple(r.rt60_bin) for r in grid_rows})
    grid = np.full((len(snrs), len(bins)), np.nan)
    for r in grid_rows:
        grid[snrs.index(r.snr_db), bins.index(tuple(r.rt60_bin))] = _value(r, value)
    size = (1.3 * len(bins) + 2.5, 0.5 * len(snrs) + 2)
    with _figure(path, f"{model}: {title}", rt60_axis_label(), "SNR", size, legend=False) as (fig, ax):
        im = ax.imshow(grid, cmap="viridis_r" if value == "loc_error_deg" else "viridis", aspect="auto")
        for i, j in zip(*np.nonzero(np.isfinite(grid))):
            light = im.cmap(im.norm(grid[i, j]))[:3]  # dark text on light cells
            color = "k" if np.dot(light, [0.299, 0.587, 0.114]) > 0.5 else "w"
            ax.text(j, i, f"{grid[i, j]:.3g}", ha="center", va="center", color=color, fontsize=8)
        ax.set_xticks(range(len(bins)), [bin_text(b) for b in bins])
        ax.set_yticks(range(len(snrs)), [f"{s:g} dB" for s in snrs])
        fig.colorbar(im, ax=ax, label=_ylabel(rows, value))
    return path


def make_plots(rows, out_dir: Path) -> list[tuple[str, Path]]:
    """Every plot the rows support, as (caption, path), written under out_dir."""
    out_dir = Path(out_dir)
    plots: list[tuple[str, Path]] = []

    def lines(group, name: str, value: str) -> None:
        for what, plot in (("SNR", plot_vs_snr), ("RT60", plot_vs_rt60)):
            path = plot(group, out_dir / f"{slug(name)}_vs_{what.lower()}.png", name, value)
            if path is not None:
                plots.append((f"{name} vs {what}", path))
        path = plot_vs_polyphony(group, out_dir / f"{slug(name)}_vs_polyphony.png", name, value)
        if path is not None:
            plots.append((f"{name} vs overlapping sources", path))
        every = f"{name}: every present class"
        path = plot_vs_polyphony(
            group, out_dir / f"{slug(name)}_all_classes_vs_polyphony.png", every, "all_class_map"
        )
        if path is not None:
            plots.append((f"{name}: mAP of every present class vs overlapping sources", path))

    groups = {}
    for r in rows:
        groups.setdefault((r.task, r.metric), []).append(r)
    for (task, metric), group in groups.items():
        name = f"{task} {metric}".strip()
        lines(group, name, "score")
        for m in _models(group):
            path = plot_heatmap(group, m, out_dir / f"{slug(name)}_grid_{slug(m)}.png", name)
            if path is not None:
                plots.append((f"{name}: SNR x RT60, {m}", path))
    # Localisation has its own plots (localisation_plots.py), with the baselines and both probes.
    return plots
