"""`wavjepa-nat robustness`: sweep models over SNR and measured-RT60 conditions and write a report."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from wavjepa_nat.cli.app import app
from wavjepa_nat.errors import InputError


@app.command("robustness")
def robustness(
    models: Annotated[
        list[str],
        typer.Option(
            "--model",
            "-m",
            help="Checkpoint (.ckpt) or export (.safetensors), or hear:MODULE[:WEIGHTS] for an "
            "installed HEAR 2021 module (mono, or two-channel when its model has n_channels = 2), or "
            "hf:PATH[@LAYER|@all] for a Hugging Face transformers model (a local folder or a model id in the "
            "local cache; the mean over time of its last layer, hidden state LAYER, or all layers' mean; "
            "needs the hf extra); repeat to compare models.",
        ),
    ],
    bank: Annotated[
        Path, typer.Option("--bank", help="HDF5 RIR bank; its test split supplies BRIRs and noise.")
    ],
    out: Annotated[Path, typer.Option("--out", "-o", help="Report folder (created if needed).")],
    task: Annotated[
        str,
        typer.Option(
            "--task",
            help="Labelled data: a HEAR task folder (task_metadata.json, labelvocabulary.csv, "
            "split json files, audio in <rate>/<split>/; also a nat-hear copy), a folder with one subfolder "
            "per class, a .csv/.jsonl manifest with labels (and optionally a split column), a corpus folder, "
            "or 'builtin'.",
        ),
    ] = "builtin",
    test_fold: Annotated[
        int | None,
        typer.Option(
            "--test-fold",
            min=0,
            help="k-fold HEAR tasks: the test fold (default: the last; the one before it is validation).",
        ),
    ] = None,
    folds: Annotated[
        str,
        typer.Option(
            "--folds",
            help="k-fold HEAR tasks: 'one' (the --test-fold, fast) or 'all': every fold tested once (the "
            "fold before it validates), a report per fold in OUT/foldNN/ and OUT/folds.md with each fold's "
            "score and the mean +- std over folds.",
        ),
    ] = "one",
    probe: Annotated[
        str,
        typer.Option(
            "--probe",
            help="'linear' (logistic regression) or 'hear-mlp' (the hear-eval-kit's MLP predictor: its grid, "
            "early stopping and model selection on the validation split).",
        ),
    ] = "linear",
    hear_grid_points: Annotated[
        int | None,
        typer.Option("--hear-grid-points", help="--probe hear-mlp: grid points tried (default: all 16)."),
    ] = None,
    room_probes: Annotated[
        bool,
        typer.Option(
            "--room-probes",
            help="Add a section: per model and baseline, ridge probes predicting T_mid, DRR, source distance "
            "and log room volume from the embeddings (trained on train-split scenes, scored on unseen test "
            "rooms), with error, R^2 and chance, each with a 95% interval.",
        ),
    ] = False,
    export_embeddings: Annotated[
        Path | None,
        typer.Option(
            "--export-embeddings",
            help="Also write every condition's embeddings in the hear-eval-kit layout, one task folder per "
            "model and condition (DIR/MODEL/TASK-CONDITION/), for heareval's own predictions runner.",
        ),
    ] = None,
    snr: Annotated[
        str, typer.Option("--snr", help="SNRs in dB: LO..HI (5 dB steps), LO..HI:STEP, A,B,C, or 'none'.")
    ] = "-5..20",
    rt60: Annotated[
        str,
        typer.Option(
            "--rt60",
            help="Measured-RT60 bins in s: LO..HI (standard edges 0.1/0.3/0.6/1.0/1.5/2.0 inside it), "
            "LO..HI:STEP, explicit edges A,B,C, 'auto' (the bank's test-split range), or 'none'.",
        ),
    ] = "auto",
    grid: Annotated[
        bool, typer.Option("--grid/--no-grid", help="Also run every SNR x RT60 combination.")
    ] = False,
    polyphony: Annotated[
        str,
        typer.Option(
            "--polyphony",
            help="Polyphonic scenes: source counts K (2..3, 2,3 or 'none'): the test clip plus K-1 test "
            "clips of other classes, each at its own position (a noise-source position) of one room.",
        ),
    ] = "none",
    tir: Annotated[
        str, typer.Option("--tir", help="The polyphonic scenes' target-to-interferer ratios in dB: A,B,C.")
    ] = "0,6,12",
    probe_train: Annotated[
        str,
        typer.Option(
            "--probe-train",
            help="Train the probes on 'clean' training clips, or 'matched': under the same condition.",
        ),
    ] = "clean",
    seed: Annotated[
        int, typer.Option("--seed", help="Seeds the renderings, the task split and the probes.")
    ] = 0,
    max_clips_per_class: Annotated[
        int | None,
        typer.Option("--max-clips-per-class", min=1, help="At most this many clips per class in each split."),
    ] = None,
    clip_seconds: Annotated[
        float, typer.Option("--clip-seconds", help="Seconds of each clip used (from its start).")
    ] = 4.0,
    device: Annotated[
        str, typer.Option("--device", help="torch device for the models, e.g. cpu or cuda.")
    ] = "cpu",
    batch_size: Annotated[
        int, typer.Option("--batch-size", min=1, help="2.01 s windows per forward pass.")
    ] = 16,
    title: Annotated[str | None, typer.Option("--title", help="Report title.")] = None,
    noise: Annotated[
        str | None,
        typer.Option(
            "--noise",
            help="A noise corpus (folder or manifest, e.g. WHAM!) for the SNR conditions: its test split, "
            "through each scene's noise sources plus a diffuse part, fresh per clip (probes: its train "
            "split); default: the scenes' noise beds.",
        ),
    ] = None,
    trust_remote_code: Annotated[
        bool,
        typer.Option(
            "--trust-remote-code",
            help="Let hf: model folders with their own code (auto_map in config.json) run it; read it "
            "first. The report records it.",
        ),
    ] = False,
) -> None:
    """Measure how each model degrades under noise and reverberation.

    Conditions: clean; each SNR (the dry clip plus binaural noise from test-split noise beds); each RT60 bin
    (the clip through test-split BRIRs whose *measured* RT60 lies in the bin); with --grid every SNR x RT60
    pair. Renderings are seeded, so every model sees exactly the same audio. Per model and condition: linear
    probe score (accuracy, or mAP for multi-label tasks), its change from clean, the embedding drift
    (cosine similarity to the clean embedding, 1 = none) and, for two-channel models, localisation: the
    lateral-angle error, front-back confusions and azimuth error of linear and MLP direction probes, each
    beside its chance level, with a GCC-PHAT + ILD baseline. A log-mel statistics baseline is always
    included. Every score has a 95% interval; paired tests over the same clips say which differences between
    models are significant.

    HEAR modules (--model hear:MODULE[:WEIGHTS]) are imported, loaded and checked on a short input before any
    work; one that is missing or breaks the API is a one-line error. One that breaks later is recorded in the
    report, the other models' results are written, and the command exits 2 naming it.

    Hugging Face models (--model hf:PATH[@LAYER|@all]) are read from a local folder or the local cache only,
    checked from their config.json before any work. --probe hear-mlp replaces the linear probe by HEAR's MLP
    predictor; --folds all scores every fold of a k-fold HEAR task; --room-probes adds the room section;
    --export-embeddings writes the embeddings for heareval.

    Writes report.md, report.html (self-contained), results.json, results.csv and plots/*.png to --out.
    """
    # The config checks the arguments first, before torch and the models are imported / read.
    from wavjepa_nat.checks import check_not_an_input, check_output_dir
    from wavjepa_nat.files import exclusive_lock
    from wavjepa_nat.rir_bank import RIRBank
    from wavjepa_nat.robustness.config import SweepConfig
    from wavjepa_nat.robustness.folds import kfold_count, run_folds
    from wavjepa_nat.robustness.models.load import check_models
    from wavjepa_nat.robustness.rooms import check_room_measures
    from wavjepa_nat.robustness.sweep import run_sweep

    cfg = SweepConfig(
        snr_db=snr,
        rt60_bins=rt60,
        grid=grid,
        probe_train=probe_train,
        seed=seed,
        clip_seconds=clip_seconds,
        max_clips_per_class=max_clips_per_class,
        device=device,
        batch_size=batch_size,
        test_fold=test_fold,
        noise=noise,
        trust_remote_code=trust_remote_code,
        probe=probe,
        hear_grid_points=hear_grid_points,
        export_embeddings=str(export_embeddings) if export_embeddings is not None else None,
        room_probes=room_probes,
        polyphony=polyphony,
        tir_db=tir,
    )
    check_models(models, trust_remote_code)
    check_not_an_input(out, [bank, task, *models])
    if export_embeddings is not None:
        check_output_dir(export_embeddings, "--export-embeddings")
    if room_probes:
        check_room_measures(RIRBank(bank))
    if folds not in ("one", "all"):
        raise InputError(f"--folds must be 'one' or 'all', got '{folds}'")
    if folds == "all":
        kfold_count(task, test_fold)  # before --out is checked: the task is what is wrong
        check_output_dir(out, "--out")
        with exclusive_lock(out):  # one sweep per --out: two would overwrite each other's report
            summary, n_folds = run_folds(models, task, bank, cfg, out, title)
        typer.echo(f"wrote {summary} and {n_folds} fold reports under {out}")
        return
    with exclusive_lock(out):  # one sweep per --out: two would overwrite each other's report
        rows = run_sweep(models, task, bank, cfg, out_dir=out, title=title, progress=True)
    n_models = len({r.model for r in rows})
    n_conds = len({r.cond.label for r in rows})
    typer.echo(
        f"wrote {out / 'report.md'} and report.html, results.json, results.csv, plots/ "
        f"({n_models} models incl. baseline x {n_conds} conditions)"
    )
