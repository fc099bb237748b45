"""`wavjepa-nat report`: one or more robustness result folders -> one (comparison) report."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from wavjepa_nat.cli.app import app


@app.command("report")
def report(
    dirs: Annotated[
        list[Path],
        typer.Argument(help="Result folders (each holds results.json, as written by a robustness sweep)."),
    ],
    out: Annotated[
        Path, typer.Option("--out", "-o", help="Folder for the merged report (created if needed).")
    ],
    title: Annotated[str | None, typer.Option("--title", help="Report title.")] = None,
) -> None:
    """Merge the results of one or more sweeps into one report: report.md, report.html (self-contained,
    plots embedded), results.json, results.csv and plots/*.png.

    All models of all runs appear side by side; conditions not run for a model stay blank. A model name
    that occurs in several runs is suffixed with its run's folder name.
    """
    from wavjepa_nat.checks import check_not_an_input
    from wavjepa_nat.robustness.report.results import merge_reports

    check_not_an_input(out, dirs)
    paths = merge_reports(dirs, out, title)
    typer.echo(
        f"wrote {paths['md']}, {paths['html'].name}, {paths['json'].name}, {paths['csv'].name} "
        f"and {sum(k.startswith('plot:') for k in paths)} plots"
    )
