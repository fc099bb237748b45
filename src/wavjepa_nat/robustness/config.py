"""What a robustness sweep runs (SweepConfig), checked on construction; stored, resolved, in results.json."""

from __future__ import annotations

import dataclasses
import math

from wavjepa_nat.checks import MAX_SNR_DB
from wavjepa_nat.errors import InputError
from wavjepa_nat.ranges import parse_values
from wavjepa_nat.robustness.conditions import check_probe_train, parse_polyphony, parse_rt60_bins, parse_snr

PROBES = ("linear", "hear-mlp")


@dataclasses.dataclass
class SweepConfig:
    """What a sweep runs; checks itself on construction (InputError naming the CLI flag).

    snr_db and rt60_bins take lists or the CLI syntax ("-5..20", "0.2..1.6", "0.2,0.5,1.0", "none");
    rt60_bins "auto" = the standard bins over the bank's test-split range (resolved by prepare_sweep,
    empty ones left out). The config, resolved, is stored in the report's results.json.
    """

    snr_db: list[float] | str = "-5..20"
    rt60_bins: list[tuple[float, float]] | str = "auto"
    grid: bool = False  # also every SNR x RT60 pair
    probe_train: str = "clean"  # "clean" | "matched"
    seed: int = 0  # seeds the renderings, the task split and the probes
    clip_seconds: float = 4.0
    max_clips_per_class: int | None = None
    device: str = "cpu"
    batch_size: int = 16
    test_fold: int | None = None  # k-fold HEAR tasks: the test fold (default: the last)
    noise: str | None = None  # a noise corpus: its test split scored, its train split for probes; None: beds
    trust_remote_code: bool = False  # hf: model folders with their own code (auto_map) may run it
    probe: str = "linear"  # "linear" | "hear-mlp" (metrics/hear_mlp.py)
    hear_grid_points: int | None = None  # hear-mlp: grid points tried (None: all 16, as the kit)
    room_probes: bool = False  # ridge probes for T_mid, DRR, distance, log room volume (rooms.py)
    export_embeddings: str | None = None  # a folder: every condition's embeddings, hear-eval-kit layout
    polyphony: list[int] | str = "none"  # source counts K of the polyphony conditions ("2..3", "none")
    tir_db: list[float] | str = "0,6,12"  # the polyphony conditions' TIRs (dB)

    def __post_init__(self):
        self.snr_db = (
            parse_snr(self.snr_db) if isinstance(self.snr_db, str) else [float(s) for s in self.snr_db]
        )
        if not all(math.isfinite(s) for s in self.snr_db):
            raise InputError(f"--snr: SNRs must be finite numbers, got {self.snr_db}")
        if any(abs(s) > MAX_SNR_DB for s in self.snr_db):
            raise InputError(
                f"--snr: SNRs must lie within -{MAX_SNR_DB:g}..{MAX_SNR_DB:g} dB, got {self.snr_db}"
            )
        if isinstance(self.rt60_bins, str):
            auto = self.rt60_bins.strip().lower() == "auto"
            self.rt60_bins = "auto" if auto else parse_rt60_bins(self.rt60_bins)
        else:
            self.rt60_bins = [(float(lo), float(hi)) for lo, hi in self.rt60_bins]
            if any(not 0 <= lo < hi for lo, hi in self.rt60_bins):
                raise InputError(f"--rt60: each bin needs 0 <= LO < HI, got {self.rt60_bins}")
        check_probe_train(self.probe_train)
        self.polyphony = (
            parse_polyphony(self.polyphony)
            if isinstance(self.polyphony, str)
            else [int(k) for k in self.polyphony]
        )
        if any(k < 2 for k in self.polyphony):
            raise InputError(f"--polyphony: source counts must be >= 2, got {self.polyphony}")
        self.tir_db = (
            parse_values(self.tir_db, "--tir")
            if isinstance(self.tir_db, str)
            else [float(t) for t in self.tir_db]
        )
        if not all(math.isfinite(t) and abs(t) <= MAX_SNR_DB for t in self.tir_db) or not self.tir_db:
            raise InputError(f"--tir: TIRs must be finite numbers within -{MAX_SNR_DB:g}..{MAX_SNR_DB:g} dB")
        if not (math.isfinite(self.clip_seconds) and self.clip_seconds > 0):
            raise InputError(f"--clip-seconds must be a positive number, got {self.clip_seconds}")
        if self.seed < 0:
            raise InputError(f"--seed must be 0 or more, got {self.seed}")
        if self.max_clips_per_class is not None and self.max_clips_per_class < 1:
            raise InputError(f"--max-clips-per-class must be at least 1, got {self.max_clips_per_class}")
        if self.batch_size < 1:
            raise InputError(f"--batch-size must be at least 1, got {self.batch_size}")
        if self.probe not in PROBES:
            raise InputError(f"--probe must be one of {', '.join(PROBES)}, got '{self.probe}'")
        if self.hear_grid_points is not None and self.hear_grid_points < 1:
            raise InputError(f"--hear-grid-points must be at least 1, got {self.hear_grid_points}")
        if self.test_fold is not None and self.test_fold < 0:
            raise InputError(f"--test-fold must be 0 or more, got {self.test_fold}")
        if self.noise is not None and not str(self.noise).strip():
            raise InputError("--noise must be a noise corpus (a folder or manifest), got an empty value")
