"""The `wavjepa-nat` command line. Each sub-command lives in its own module and stays thin."""

from __future__ import annotations

import sys

from wavjepa_nat.cli.app import app
from wavjepa_nat.errors import InputError

# Importing a module registers its commands on `app`.
from wavjepa_nat.cli import bank as _bank  # noqa: F401,E402
from wavjepa_nat.cli import corpus as _corpus  # noqa: F401,E402
from wavjepa_nat.cli import export as _export  # noqa: F401,E402
from wavjepa_nat.cli import render as _render  # noqa: F401,E402
from wavjepa_nat.cli import train as _train  # noqa: F401,E402
from wavjepa_nat.cli import demo as _demo  # noqa: F401,E402
from wavjepa_nat.cli import report as _report, embed as _embed  # noqa: F401,E402
from wavjepa_nat.cli import robustness as _robustness  # noqa: F401,E402


def main() -> None:
    try:
        app(standalone_mode=True)
    except InputError as err:
        print(f"error: {err}", file=sys.stderr)
        sys.exit(2)
