"""Robustness plots (matplotlib, Agg): score vs SNR, score vs RT60 bin, SNR x RT60 heat maps.

Each function takes the report's rows (robustness/report.py ResultRow), draws one figure, writes a
PNG and returns its path, or None when the rows hold nothing to draw.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import numpy as np

VALUE_LABELS = {"score": None, "loc_error_deg": "localisation error (deg)"}


def slug(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9]+", "-", text).strip("-").lower() or "x"


def bin_label(rt60_bin: Sequence[float]) -> str:
    return f"{rt60_bin[0]:g}-{rt60_bin[1]:g} s"


def _models(rows) -> list[str]:
    return list(dict.fromkeys(r.model for r in rows))


def _value(row, value: str) -> float | None:
    v = getattr(row, value)
    return None if v is None or not np.isfinite(v) else float(v)


def _ylabel(rows, value: str) -> str:
    return VALUE_LABELS[value] or rows[0].metric


def _save(fig, path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110, bbox_inches="tight")
    plt.close(fig)
    return path


def _clean_lines(ax, rows, value: str, colors: dict) -> None:
    """The clean score of each model as a dashed horizontal reference."""
    for r in rows:
        v = _value(r, value)
        if r.condition == "clean" and v is not None:
            ax.axhline(v, color=colors[r.model], linestyle="--", linewidth=1, alpha=0.8)


def plot_vs_snr(rows, path: Path, title: str, value: str = "score") -> Path | None:
    """A line per model over SNR; the clean score dashed in the same colour."""
    snr_rows = [r for r in rows if r.condition == "snr" and _value(r, value) is not None]
    if not snr_rows:
        return None
    fig, ax = plt.subplots(figsize=(6, 4))
    colors = {m: f"C{i}" for i, m in enumerate(_models(rows))}
    for model in _models(snr_rows):
        pts = sorted((r.snr_db, _value(r, value)) for r in snr_rows if r.model == model)
        ax.plot(*zip(*pts), marker="o", color=colors[model], label=model)
    _clean_lines(ax, rows, value, colors)
    ax.set_xlabel("SNR (dB)")
    ax.set_ylabel(_ylabel(rows, value))
    ax.set_title(f"{title} (dashed: clean)")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    return _save(fig, path)


def plot_vs_rt60(rows, path: Path, title: str, value: str = "score") -> Path | None:
    """A line per model over the measured-RT60 bins; the clean score dashed."""
    rt_rows = [r for r in rows if r.condition == "rt60" and _value(r, value) is not None]
    if not rt_rows:
        return None
    bins = sorted({tuple(r.rt60_bin) for r in rt_rows})
    fig, ax = plt.subplots(figsize=(6, 4))
    colors = {m: f"C{i}" for i, m in enumerate(_models(rows))}
    for model in _models(rt_rows):
        by_bin = {tuple(r.rt60_bin): _value(r, value) for r in rt_rows if r.model == model}
        xs = [i for i, b in enumerate(bins) if b in by_bin]
        ax.plot(xs, [by_bin[bins[i]] for i in xs], marker="o", color=colors[model], label=model)
    _clean_lines(ax, rows, value, colors)
    ax.set_xticks(range(len(bins)), [bin_label(b) for b in bins])
    ax.set_xlabel("measured RT60 bin")
    ax.set_ylabel(_ylabel(rows, value))
    ax.set_title(f"{title} (dashed: clean)")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    return _save(fig, path)


def plot_heatmap(rows, model: str, path: Path, title: str, value: str = "score") -> Path | None:
    """SNR (rows) x RT60 bin (columns) grid of one model; blank cells where not run."""
    grid_rows = [r for r in rows if r.condition == "snr_rt60" and r.model == model and _value(r, value) is not None]
    if not grid_rows:
        return None
    snrs = sorted({r.snr_db for r in grid_rows}, reverse=True)
    bins = sorted({tuple(r.rt60_bin) for r in grid_rows})
    grid = np.full((len(snrs), len(bins)), np.nan)
    for r in grid_rows:
        grid[snrs.index(r.snr_db), bins.index(tuple(r.rt60_bin))] = _value(r, value)
    fig, ax = plt.subplots(figsize=(1.3 * len(bins) + 2.5, 0.5 * len(snrs) + 2))
    im = ax.imshow(grid, cmap="viridis_r" if value == "loc_error_deg" else "viridis", aspect="auto")
    for i in range(len(snrs)):
        for j in range(len(bins)):
            if np.isfinite(grid[i, j]):
                light = im.cmap(im.norm(grid[i, j]))[:3]  # dark text on light cells
                color = "k" if np.dot(light, [0.299, 0.587, 0.114]) > 0.5 else "w"
                ax.text(j, i, f"{grid[i, j]:.3g}", ha="center", va="center", color=color, fontsize=8)
    ax.set_xticks(range(len(bins)), [bin_label(b) for b in bins])
    ax.set_yticks(range(len(snrs)), [f"{s:g} dB" for s in snrs])
    ax.set_xlabel("measured RT60 bin")
    ax.set_ylabel("SNR")
    ax.set_title(f"{model}: {title}")
    fig.colorbar(im, ax=ax, label=_ylabel(rows, value))
    return _save(fig, path)


def make_plots(rows, out_dir: Path) -> list[tuple[str, Path]]:
    """Every plot the rows support, as (caption, path), written under out_dir."""
    out_dir = Path(out_dir)
    plots: list[tuple[str, Path]] = []
    groups = {}
    for r in rows:
        groups.setdefault((r.task, r.metric), []).append(r)
    for (task, metric), group in groups.items():
        name = f"{task} {metric}".strip()
        stem = slug(name)
        for caption, path in [
            (f"{name} vs SNR", plot_vs_snr(group, out_dir / f"{stem}_vs_snr.png", name)),
            (f"{name} vs RT60", plot_vs_rt60(group, out_dir / f"{stem}_vs_rt60.png", name)),
        ] + [
            (f"{name}: SNR x RT60, {m}", plot_heatmap(group, m, out_dir / f"{stem}_grid_{slug(m)}.png", name))
            for m in _models(group)
        ]:
            if path is not None:
                plots.append((caption, path))
    # Localisation error (binaural models only), once per task: the same for every metric row.
    loc = {}
    for r in rows:
        if r.loc_error_deg is not None:
            loc.setdefault(r.task, {}).setdefault((r.model, r.condition, r.snr_db, r.rt60_bin), r)
    for task, unique in loc.items():
        group = list(unique.values())
        name = f"{task} localisation error".strip()
        stem = slug(name)
        for caption, path in [
            (f"{name} vs SNR", plot_vs_snr(group, out_dir / f"{stem}_vs_snr.png", name, "loc_error_deg")),
            (f"{name} vs RT60", plot_vs_rt60(group, out_dir / f"{stem}_vs_rt60.png", name, "loc_error_deg")),
        ]:
            if path is not None:
                plots.append((caption, path))
    return plots
