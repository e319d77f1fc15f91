"""How a value is written as JSON: one conversion for every config and results file.

``json_default`` is the conversion of what JSON cannot hold itself: paths become strings, numpy arrays and scalars
and tensors their ``tolist()``; any other object is a TypeError naming its type (never silently its ``str``).
``jsonable(value)`` is the value as such a file gives it back (tuples become lists, dict keys strings), so a value
compared before writing equals what a later read returns.
"""
from __future__ import annotations

import json
from pathlib import PurePath
from typing import Any


def json_default(value: Any) -> Any:
    """What ``json.dumps(..., default=json_default)`` writes for ``value``, an object JSON cannot hold itself."""
    if isinstance(value, PurePath):
        return str(value)
    if hasattr(value, "tolist"):
        return value.tolist()
    raise TypeError(f"cannot write {type(value).__name__} as JSON; convert it to numbers, strings, lists or dicts")


def jsonable(value: Any) -> Any:
    """``value`` as written to JSON and read back."""
    return json.loads(json.dumps(value, default=json_default))


__all__ = ["json_default", "jsonable"]
