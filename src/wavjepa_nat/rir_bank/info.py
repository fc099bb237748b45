"""`bank info`: what is in a bank, as numbers and (optionally) histograms."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from wavjepa_nat.files import atomic_path
from wavjepa_nat.rir_bank.reader import BANDS_HZ, RIRBank
from wavjepa_nat.scenes.config import SPLITS


def _quantiles(x: np.ndarray) -> dict:
    x = x[np.isfinite(x)]
    if not len(x):
        return {}
    q = np.percentile(x, [0, 10, 50, 90, 100])
    return {"min": q[0], "p10": q[1], "median": q[2], "p90": q[3], "max": q[4], "mean": float(np.mean(x))}


def bank_summary(bank: RIRBank) -> dict:
    m = bank.meta
    target, measured = m["rt60_target"], bank.rt60()
    rel = np.abs(measured / target - 1)
    return {
        "path": str(bank.path),
        "scenes": len(bank),
        "rooms": len(np.unique(m["room_id"])),
        "splits": {s: int(np.sum(m["split"] == s)) for s in SPLITS},
        "fs": bank.fs,
        "hrtf": bank.attrs["hrtf_name"],
        "hrtf_sha256": bank.attrs["hrtf_sha256"][:16],
        "engine": bank.attrs["engine"],
        "seed": bank.attrs["seed"],
        "shard": bank.attrs["shard"],
        "package_version": bank.attrs["package_version"],
        "brir_seconds": bank.brir_length / bank.fs,
        "noise_bed_seconds": bank.noise_bed_length / bank.fs,
        "noise_beds": bank.has_beds,  # False: made with --beds none (noise made at training time)
        "size_mb": bank.path.stat().st_size / 1e6,
        "rt60_target_s": _quantiles(target),
        "rt60_measured_s": _quantiles(measured),
        "rt60_within_10pct": float(np.mean(rel <= 0.1)),
        "azimuth_deg": _quantiles(m["azimuth_deg"]),
        "elevation_deg": _quantiles(m["elevation_deg"]),
        "distance_m": _quantiles(m["distance_m"]),
        "drr_db": _quantiles(m["drr_db"].mean(axis=1)),
        # Reverberation per measure, mean of the ears (empty for banks written before they were stored).
        "t30_broadband_s": _quantiles(bank.measure("t30")),
        "edt_s": _quantiles(bank.measure("edt")),
        "c50_db": _quantiles(bank.measure("c50")),
        "t30_band_s": {f"{hz} Hz": _quantiles(bank.measure(f"t30_{hz}")) for hz in BANDS_HZ},
        "noise_sources": {int(k): int(np.sum(m["n_noise"] == k)) for k in np.unique(m["n_noise"])},
    }


def write_histograms(bank: RIRBank, out_dir: str | Path) -> list[Path]:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    m = bank.meta
    panels = [
        (
            "rt60",
            "RT60 (s)",
            [(m["rt60_target"], "target"), (bank.rt60(), "measured T_mid"), (bank.measure("edt"), "EDT")],
        ),
        ("azimuth", "source azimuth (deg, +90 = left)", [(m["azimuth_deg"], "target source")]),
        ("distance", "source distance (m)", [(m["distance_m"], "target source")]),
        (
            "drr",
            "DRR and C50 (dB, mean of ears)",
            [(m["drr_db"].mean(axis=1), "DRR"), (bank.measure("c50"), "C50")],
        ),
    ]
    bands = [(hz, bank.measure(f"t30_{hz}")) for hz in BANDS_HZ]
    bands = [(hz, v[np.isfinite(v)]) for hz, v in bands if np.isfinite(v).any()]
    paths = []
    for name, xlabel, series in panels:
        with_bands = name == "rt60" and bands  # the reverberation figure: T30 per octave band beside it
        fig, axes = plt.subplots(1, 2 if with_bands else 1, figsize=(10 if with_bands else 5, 3.2))
        ax = axes[0] if with_bands else axes
        for values, label in series:
            if np.isfinite(values).any():
                ax.hist(values[np.isfinite(values)], bins=30, alpha=0.6, label=label)
        ax.set_xlabel(xlabel)
        ax.set_ylabel("scenes")
        ax.set_title(f"{bank.path.name}: {name}")
        ax.legend()
        if with_bands:
            axes[1].boxplot([v for _, v in bands], showfliers=False)
            axes[1].set_xticks(range(1, len(bands) + 1), [f"{hz}" for hz, _ in bands])
            axes[1].set_xlabel("octave band (Hz)")
            axes[1].set_ylabel("T30 (s, mean of ears)")
            axes[1].set_title("T30 per octave band")
        fig.tight_layout()
        path = out_dir / f"{name}.png"
        with atomic_path(path) as tmp:
            fig.savefig(tmp, dpi=100, format="png")
        plt.close(fig)
        paths.append(path)
    return paths
