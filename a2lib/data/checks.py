"""Range checks for data-set and generator options: a value outside its valid range is refused, never capped.

Every error names the option (as the caller spells it, e.g. ``digits.jitter``), its valid range and the value given,
so a typo in a profile or a notebook's ``dataset_options`` stops at once with the fix in the message.
"""
from __future__ import annotations

import dataclasses
import math
import numbers
from typing import Sequence


def _is_integer(value) -> bool:
    return not isinstance(value, bool) and isinstance(value, numbers.Integral)


def _is_real(value) -> bool:
    return not isinstance(value, bool) and isinstance(value, numbers.Real) and math.isfinite(value)


def _range_text(low, high, low_open: bool = False, high_open: bool = False) -> str:
    """``in [low, high]`` (brackets open as asked), or ``>= low`` without an upper bound."""
    if high is None:
        return f"{'>' if low_open else '>='} {low}"
    return f"in {'(' if low_open else '['}{low}, {high}{')' if high_open else ']'}"


def check_int(name: str, value, low: int, high: int | None = None) -> int:
    """``value`` as an int, or a ValueError naming ``name`` unless it is an integer in [low, high] (no upper bound
    when ``high`` is None)."""
    if not _is_integer(value) or value < low or (high is not None and value > high):
        raise ValueError(f"{name} must be an integer {_range_text(low, high)}, got {value!r}")
    return int(value)


def check_real(name: str, value, low: float, high: float | None = None, low_open: bool = False,
               high_open: bool = False) -> float:
    """``value`` as a float, or a ValueError naming ``name`` unless it is a finite number in the given range
    (``low_open``/``high_open`` exclude the bound)."""
    inside = _is_real(value) and (value > low if low_open else value >= low)
    if inside and high is not None:
        inside = value < high if high_open else value <= high
    if not inside:
        raise ValueError(f"{name} must be a number {_range_text(low, high, low_open, high_open)}, got {value!r}")
    return float(value)


def check_interval(name: str, value, low: float, high: float, low_open: bool = False) -> tuple[float, float]:
    """``value`` as a (lo, hi) tuple of floats, or a ValueError naming ``name`` unless it is a pair with
    low <= lo <= hi <= high (``low_open``: low < lo)."""
    pair_ok = isinstance(value, (tuple, list)) and len(value) == 2 and all(_is_real(v) for v in value)
    if pair_ok:
        lo, hi = value
        pair_ok = (lo > low if low_open else lo >= low) and lo <= hi <= high
    if not pair_ok:
        bounds = _range_text(low, high, low_open)
        raise ValueError(f"{name} must be a pair (low, high) with low <= high, both {bounds}, got {value!r}")
    return float(value[0]), float(value[1])


def check_bool(name: str, value) -> bool:
    """``value``, or a ValueError naming ``name`` unless it is True or False."""
    if not isinstance(value, bool):
        raise ValueError(f"{name} must be True or False, got {value!r}")
    return value


def check_choice(name: str, value, choices: Sequence[str]) -> str:
    """``value``, or a ValueError naming ``name`` and the valid choices unless it is one of them."""
    if value not in choices:
        raise ValueError(f"unknown {name} {value!r}; choose one of {', '.join(repr(c) for c in choices)}")
    return value


def options_of(cls, given, name: str):
    """An instance of the options dataclass ``cls`` from ``given`` (an instance, a dict of its fields, or None for
    the defaults); unknown keys are a ValueError naming ``name`` and the valid keys."""
    if given is None:
        return cls()
    if isinstance(given, cls):
        return given
    if not isinstance(given, dict):
        raise ValueError(f"{name} must be a dict of options or a {cls.__name__}, got {type(given).__name__}")
    valid = [f.name for f in dataclasses.fields(cls)]
    unknown = sorted(set(given) - set(valid))
    if unknown:
        raise ValueError(f"unknown {name} option(s) {unknown}; valid options: {', '.join(valid)}")
    return cls(**given)


__all__ = ["check_bool", "check_choice", "check_int", "check_interval", "check_real", "options_of"]
