"""Value checks: a value outside what it may be is refused with a ValueError naming it, never capped.

Every check takes ``(name, value, ...)`` and returns the value (as an int or float where it says so); every message
reads ``<name> must be <what it may be>, got <value>``, with ``name`` spelled as the caller knows it
(``digits.jitter``, ``TrainConfig.bits``), so a typo in a profile, a notebook or a call stops at once with the fix
in the message. A ``Constraint`` is such a rule as a value, what config dataclass fields declare (``a2lib.fields``).
Name look-ups (a data set variant, a split) say ``unknown <name> ...; choose one of ...`` (``check_choice``).
"""
from __future__ import annotations

import dataclasses
import math
import numbers
from dataclasses import dataclass
from typing import Any, Callable, Sequence


def is_integer(value) -> bool:
    """An integral number that is not a bool (numpy integers included)."""
    return not isinstance(value, bool) and isinstance(value, numbers.Integral)


def is_real(value) -> bool:
    """A finite real number that is not a bool."""
    return not isinstance(value, bool) and isinstance(value, numbers.Real) and math.isfinite(value)


@dataclass(frozen=True)
class Constraint:
    """What a value may be: ``accepts(value)`` says whether it is, ``text`` completes "must be ..." in the message."""

    text: str
    accepts: Callable[[Any], bool]

    def check(self, name: str, value):
        """``value``, or a ValueError ``<name> must be <text>, got <value>``."""
        if not self.accepts(value):
            raise ValueError(f"{name} must be {self.text}, got {value!r}")
        return value

    def or_none(self) -> "Constraint":
        """This constraint, or None (a value derived later)."""
        return Constraint(f"{self.text} or None", lambda value: value is None or self.accepts(value))


def _range_text(low, high, low_open: bool = False, high_open: bool = False) -> str:
    """`` in [low, high]`` (brackets open as asked), `` >= low`` or `` <= high`` with one bound, nothing without."""
    if low is None:
        return "" if high is None else f" {'<' if high_open else '<='} {high}"
    if high is None:
        return f" {'>' if low_open else '>='} {low}"
    return f" in {'(' if low_open else '['}{low}, {high}{')' if high_open else ']'}"


def _within(value, low, high, low_open: bool = False, high_open: bool = False) -> bool:
    if low is not None and not (value > low if low_open else value >= low):
        return False
    return high is None or (value < high if high_open else value <= high)


def integer(low: int | None = None, high: int | None = None) -> Constraint:
    """An integer in [low, high] (no bound where None)."""
    return Constraint(f"an integer{_range_text(low, high)}", lambda v: is_integer(v) and _within(v, low, high))


def real(low: float | None = None, high: float | None = None, low_open: bool = False,
         high_open: bool = False) -> Constraint:
    """A finite number in the range (``low_open``/``high_open`` exclude the bound; no bound where None)."""
    return Constraint(f"a number{_range_text(low, high, low_open, high_open)}",
                      lambda v: is_real(v) and _within(v, low, high, low_open, high_open))


def one_of(choices: Sequence[str]) -> Constraint:
    """One of ``choices`` (a config field's value; a name look-up is ``check_choice``)."""
    return Constraint(f"one of {', '.join(map(str, choices))}", lambda v: isinstance(v, str) and v in choices)


POSITIVE_INT = Constraint("a positive integer", lambda v: is_integer(v) and v > 0)
NON_NEGATIVE_INT = integer(0)
POSITIVE_NUMBER = Constraint("a finite number > 0", lambda v: is_real(v) and v > 0)
NON_NEGATIVE_NUMBER = Constraint("a finite number >= 0", lambda v: is_real(v) and v >= 0)
BOOL = Constraint("True or False", lambda v: isinstance(v, bool))
TEXT = Constraint("a non-empty string", lambda v: isinstance(v, str) and bool(v))
DICT = Constraint("a dict", lambda v: isinstance(v, dict))


def check_int(name: str, value, low: int | None = None, high: int | None = None) -> int:
    """``value`` as an int, unless it is not an integer in [low, high] (no bound where None)."""
    return int(integer(low, high).check(name, value))


def check_positive_int(name: str, value, maximum: int | None = None, meaning: str | None = None) -> int:
    """``value`` as an int, unless it is not a positive integer (``meaning``, e.g. "number of images to generate",
    is said in the message) or exceeds a model's ``maximum``."""
    rule = POSITIVE_INT if meaning is None else Constraint(f"{POSITIVE_INT.text} ({meaning})", POSITIVE_INT.accepts)
    rule.check(name, value)
    if maximum is not None and value > maximum:
        raise ValueError(f"{name}={value} is beyond what this model supports; use at most {maximum}")
    return int(value)


def check_real(name: str, value, low: float | None = None, high: float | None = None, low_open: bool = False,
               high_open: bool = False) -> float:
    """``value`` as a float, unless it is not a finite number in the range."""
    return float(real(low, high, low_open, high_open).check(name, value))


def check_number(name: str, value, positive: bool = False) -> float:
    """``value`` as a float, unless it is not a finite number >= 0 (> 0 with ``positive``): a weight, a rate."""
    return float((POSITIVE_NUMBER if positive else NON_NEGATIVE_NUMBER).check(name, value))


def check_interval(name: str, value, low: float, high: float, low_open: bool = False) -> tuple[float, float]:
    """``value`` as a (lo, hi) tuple of floats, unless it is not a pair with low <= lo <= hi <= high
    (``low_open``: low < lo)."""
    pair_ok = isinstance(value, (tuple, list)) and len(value) == 2 and all(is_real(v) for v in value)
    if pair_ok:
        lo, hi = value
        pair_ok = _within(lo, low, None, low_open) and lo <= hi <= high
    if not pair_ok:
        raise ValueError(f"{name} must be a pair (low, high) with low <= high, both{_range_text(low, high, low_open)}, "
                         f"got {value!r}")
    return float(value[0]), float(value[1])


def check_bool(name: str, value) -> bool:
    """``value``, unless it is not True or False."""
    return BOOL.check(name, value)


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


__all__ = [
    "BOOL", "Constraint", "DICT", "NON_NEGATIVE_INT", "NON_NEGATIVE_NUMBER", "POSITIVE_INT", "POSITIVE_NUMBER", "TEXT",
    "check_bool", "check_choice", "check_int", "check_interval", "check_number", "check_positive_int", "check_real",
    "integer", "is_integer", "is_real", "one_of", "options_of", "real",
]
