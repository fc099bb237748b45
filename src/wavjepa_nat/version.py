"""The package version, read from the installed metadata: pyproject.toml holds the one copy."""

from __future__ import annotations

from functools import cache
from importlib.metadata import PackageNotFoundError, version


@cache
def package_version() -> str:
    try:
        return version("wavjepa-nat")
    except PackageNotFoundError:  # running from a source tree that was never installed
        return "0+unknown"
