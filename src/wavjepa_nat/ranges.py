"""Parsing of the CLI's range syntax.

    "0.2..1.5"      -> a closed interval (lo, hi)
    "-5..20"        -> a list of values stepped by a default step: -5, 0, 5, ..., 20
    "-5..20:2.5"    -> the same with an explicit step
    "0,5,10"        -> an explicit list
    "3"             -> a single value (an interval of zero width)

Every malformed string raises InputError with a message that names the argument.
"""

from __future__ import annotations

import math

from wavjepa_nat.errors import InputError

MAX_VALUES = 200  # a sweep runs every value (and a grid every pair): a tiny step would run for ever


def _check_count(n: int, text: str, name: str) -> None:
    if n > MAX_VALUES:
        raise InputError(f"{name}: '{text}' gives {n:,} values; at most {MAX_VALUES} (use a larger step)")


def _number(text: str, name: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise InputError(f"{name}: '{text}' is not a number") from None
    if not math.isfinite(value):
        raise InputError(f"{name}: '{text}' is not a finite number")
    return value


def parse_interval(text: str, name: str = "range") -> tuple[float, float]:
    """'LO..HI' (or a single number) -> (lo, hi) with lo <= hi."""
    text = str(text).strip()
    if ".." not in text:
        value = _number(text, name)
        return value, value
    parts = text.split("..")
    if len(parts) != 2 or not parts[0] or not parts[1]:
        raise InputError(f"{name}: '{text}' is not of the form LO..HI")
    lo, hi = _number(parts[0], name), _number(parts[1], name)
    if lo > hi:
        raise InputError(f"{name}: '{text}' has LO > HI; write it as {parts[1]}..{parts[0]}")
    return lo, hi


def parse_int_interval(text: str, name: str = "range") -> tuple[int, int]:
    lo, hi = parse_interval(text, name)
    if lo != int(lo) or hi != int(hi):
        raise InputError(f"{name}: '{text}' must hold whole numbers")
    return int(lo), int(hi)


def parse_values(text: str, name: str = "values", default_step: float = 5.0) -> list[float]:
    """'LO..HI[:STEP]' or 'A,B,C' or 'X' -> a sorted list of values."""
    text = str(text).strip()
    if "," in text:
        values = [_number(part.strip(), name) for part in text.split(",") if part.strip()]
        if not values:
            raise InputError(f"{name}: '{text}' holds no values")
        _check_count(len(set(values)), text, name)
        return sorted(set(values))
    step, given = default_step, text
    if ":" in text:
        text, step_text = text.rsplit(":", 1)
        step = _number(step_text, name)
        if step <= 0:
            raise InputError(f"{name}: the step must be positive, got {step_text}")
    lo, hi = parse_interval(text, name)
    if lo == hi:
        return [lo]
    n = int(math.floor((hi - lo) / step + 1e-9))
    _check_count(n + 1, given, name)
    values = [round(lo + k * step, 10) for k in range(n + 1)]
    if values[-1] < hi - 1e-9:
        values.append(hi)
    return values
