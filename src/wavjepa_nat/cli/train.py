"""`wavjepa-nat train`: its flags are made from TrainConfig's fields (name, type, help), so that each
option and its default live in one place (wavjepa_nat/training/config.py)."""

from __future__ import annotations

import inspect
import os
import typing
from dataclasses import MISSING, fields
from pathlib import Path

import typer

from wavjepa_nat.cli.app import app
from wavjepa_nat.ranges import parse_interval
from wavjepa_nat.training.config import TrainConfig

_HELP = """Train WavJEPA-Nat (binaural, naturalistic scenes) or WavJEPA (mono, --channels 1).

Each clip is rendered on the fly: with probability --clean-ratio it stays dry, otherwise it is convolved with
a random train-split BRIR of the bank and mixed with that scene's binaural noise at an SNR from --snr; then
--n-crops random 2.01 s crops are instance-normalised over (ears, time) and masked for the JEPA objective.
Options come from the defaults, then --config YAML, then the flags given here.

Examples:

  wavjepa-nat train --data corpus/ --bank bank.h5 --clean-ratio 0.0 --channels 2 --preset tiny \
--max-steps 300 --out runs/nat

  wavjepa-nat train --data corpus/ --channels 1 --clean-ratio 1.0 --preset tiny --out runs/clean   (no bank)

SALT (a frozen teacher): stage 1 reconstructs log-mel spectra, stage 2 predicts its frozen latents; with
--teacher-input dry the teacher hears the dry source of the student's reverberant, noisy crops:

  wavjepa-nat train --data corpus/ --bank bank.h5 --objective reconstruct --max-steps 50 --out runs/stage1

  wavjepa-nat train --data corpus/ --bank bank.h5 --teacher frozen:runs/stage1/last.ckpt --teacher-input dry \
--loss l1 --max-steps 250 --out runs/salt
"""


def _default_text(f) -> str:
    default = f.default if f.default is not MISSING else None
    if f.metadata.get("range"):
        return f"{default[0]:g}..{default[1]:g}"
    return "" if default in (None, "") else str(default)


def _parameter(f, kind) -> inspect.Parameter:
    """A flag for one TrainConfig field; None (not given) keeps the YAML's value or the default."""
    name, shown = f.name.replace("_", "-"), _default_text(f)
    help_text = f.metadata["help"] + (f" Default {shown}." if shown and kind is not bool else "")
    if f.metadata.get("range"):
        kind = str  # LO..HI, parsed below
    decls = (f"--{name}/--no-{name}",) if kind is bool else (f"--{name}",)
    kind = next((a for a in typing.get_args(kind) if a is not type(None)), kind)  # float | None -> float
    return inspect.Parameter(
        f.name,
        inspect.Parameter.KEYWORD_ONLY,
        annotation=kind | None,
        default=typer.Option(None, *decls, help=help_text),
    )


def _train(config: Path | None = None, **flags) -> None:
    from wavjepa_nat.training.loop import train

    for f in fields(TrainConfig):  # LO..HI options: --snr, --mix-sources, --mix-tir
        if f.metadata.get("range") and flags.get(f.name) is not None:
            flags[f.name] = parse_interval(flags[f.name], f"--{f.name.replace('_', '-')}")
    cfg = TrainConfig.from_sources(str(config) if config else None, flags)
    last = train(cfg)
    if os.environ.get("LOCAL_RANK", "0") == "0" and os.environ.get("NODE_RANK", "0") == "0":  # once per run
        typer.echo(f"done: {last}")


def _build_command():
    hints = typing.get_type_hints(TrainConfig)
    params = [
        inspect.Parameter(
            "config",
            inspect.Parameter.KEYWORD_ONLY,
            annotation=Path | None,
            default=typer.Option(
                None,
                "--config",
                help="YAML file of options (keys as the flags, with _); flags given here override it.",
            ),
        )
    ]
    params += [_parameter(f, hints[f.name]) for f in fields(TrainConfig) if f.metadata.get("cli", True)]

    def train_command(**kwargs) -> None:
        _train(**kwargs)

    train_command.__signature__ = inspect.Signature(params)
    train_command.__doc__ = _HELP
    return train_command


app.command("train")(_build_command())
