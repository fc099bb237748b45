"""The robustness sweep: models x conditions -> probe score, drop vs clean, embedding drift, localisation.

    cfg = SweepConfig(snr_db="-5..20", rt60_bins="0.2..1.6")
    rows = run_sweep(["runs/nat/last.ckpt", "runs/clean/last.ckpt"], "builtin", "bank.h5", cfg,
                     out_dir="reports/r1")

The run reads top to bottom: set-up (prepare.py), the classification pass (classify.py), the localisation
pass (localise.py), the paired tests (metrics/stats.py), the setup record (record.py) and the report
(report/results.py). For every condition (conditions.py) the test clips are rendered once, and the same
arrays are embedded by every model and by the log-mel baseline. Per model and condition:

- score: a linear probe (accuracy, or mAP for multi-label tasks) trained on clean training clips
  (probe_train="clean") or on training clips rendered under the same condition through train/val-split
  scenes ("matched"), scored on the test clips of the condition;
- drop_vs_clean: score - clean score of the same model (negative = worse), as ResultRow defines it;
- clean_cosine (the embedding drift): mean cosine similarity of the clean and corrupted embeddings of the
  same test clip (1 = no drift),
  in the coordinates the clean probe sees (standardised with the clean training embeddings' statistics);
- loc_error_deg (two-channel models): the lateral-angle error (degrees) of the linear direction probe of
  localise.py, which also scores the MLP probe, front-back confusions, the full azimuth and
  the GCC-PHAT + ILD baseline (the report's Localisation section). None (N/A) for mono models.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from pathlib import Path

from wavjepa_nat.rir_bank import RIRBank
from wavjepa_nat.robustness.classify import ClassificationPass, add_lateral_errors
from wavjepa_nat.robustness.config import SweepConfig
from wavjepa_nat.robustness.failures import ModelFailures
from wavjepa_nat.robustness.localise import localisation_sweep
from wavjepa_nat.robustness.metrics.probes import ProbeConfig
from wavjepa_nat.robustness.metrics.stats import paired_tests
from wavjepa_nat.robustness.prepare import prepare_sweep
from wavjepa_nat.robustness.record import sweep_setup
from wavjepa_nat.robustness.report.results import write_report
from wavjepa_nat.robustness.report.rows import ResultRow
from wavjepa_nat.robustness.rooms import room_probe_pass


def run_sweep(
    models: Sequence[str | Path | object],
    task: str | Path,
    bank: str | Path | RIRBank,
    config: SweepConfig | None = None,
    *,
    out_dir: str | Path | None = None,
    title: str | None = None,
    progress: bool = True,
) -> list[ResultRow]:
    """Run the sweep; write the report into out_dir when given. Returns the result rows.

    models: checkpoint / export paths, "hear:MODULE[:WEIGHTS]", loaded encoders (the nat_model Encoder
    interface) or embedders (models/interface.py). task: the labelled data (tasks/task.py). bank: an RIR bank
    path or RIRBank. A HEAR module that breaks mid-sweep: the report is written without it, then
    SweepIncomplete (failures.py).
    """
    start = time.perf_counter()
    inputs = prepare_sweep(models, task, bank, config or SweepConfig(), out_dir)
    seed = inputs.cfg.seed
    failures = ModelFailures()
    scored = ClassificationPass(inputs, failures).run(progress)
    loc_rows = []
    if inputs.binaural:  # lateral angle, front-back and azimuth, linear and MLP probes, + GCC-PHAT baseline
        loc_rows, lateral = localisation_sweep(
            inputs.embedders,
            inputs.conditions,
            inputs.task,
            inputs.train_pools,
            inputs.test_pools,
            seed,
            inputs.cfg.probe_train,
            ProbeConfig(seed=seed),
            progress=progress,
            skip=failures.broken,
            on_error=failures.record,
        )
        add_lateral_errors(scored, lateral, seed)
    room_rows = room_probe_pass(inputs, failures.broken) if inputs.cfg.room_probes else []
    tests = paired_tests(scored.outcomes, task=inputs.task.name, seed=seed)
    setup = sweep_setup(inputs, scored, failures, str(task), title, time.perf_counter() - start)
    if out_dir is not None:
        write_report(
            scored.rows, setup, out_dir, setup["title"], tests, localisation=loc_rows, room_probes=room_rows
        )
    failures.raise_if_any(scored.rows, out_dir)
    return scored.rows
