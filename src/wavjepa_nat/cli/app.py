"""The Typer application object, shared by the command modules."""

import typer

app = typer.Typer(
    name="wavjepa-nat",
    help="Simulate naturalistic binaural rooms, train WavJEPA(-Nat) and measure robustness to noise "
    "and reverb.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    rich_markup_mode=None,
)
