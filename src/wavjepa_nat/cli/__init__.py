"""The `wavjepa-nat` command line. Each sub-command lives in its own module and stays thin."""

from __future__ import annotations

import importlib
import sys

from wavjepa_nat.cli.app import app
from wavjepa_nat.errors import InputError

# Importing a command module registers its commands on `app`, in pipeline order (as --help lists them).
for _module in ("bank", "corpus", "render", "train", "export", "embed", "robustness", "report", "demo"):
    importlib.import_module(f"wavjepa_nat.cli.{_module}")


def main() -> None:
    try:
        app(standalone_mode=True)
    except InputError as err:
        print(f"error: {err}", file=sys.stderr)
        sys.exit(2)
