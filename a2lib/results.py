"""Notebook numbers as JSON under ``results/<profile>/`` and the one summary table the runner prints."""
from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any, Iterator

from .paths import results_dir

SUMMARY_NAME = "SUMMARY.md"


def save_results(name: str, profile: str, results: dict[str, Any]) -> Path:
    """Write ``results`` (nested dicts/lists of numbers and strings) to ``results/<profile>/<name>.json``."""
    path = results_dir(profile) / f"{name}.json"
    path.write_text(json.dumps({"profile": profile, **results}, indent=2, sort_keys=True, default=_jsonable))
    return path


def _jsonable(value: Any) -> Any:
    if hasattr(value, "tolist"):
        return value.tolist()
    raise TypeError(f"cannot write {type(value).__name__} to a results JSON; convert it to numbers or strings")


def flatten_numbers(tree: Any, prefix: str = "") -> Iterator[tuple[str, float]]:
    """Yield ``(dotted.key, number)`` for every numeric leaf of a nested dict/list (booleans excluded)."""
    if isinstance(tree, dict):
        for key in sorted(tree, key=str):
            yield from flatten_numbers(tree[key], f"{prefix}.{key}" if prefix else str(key))
    elif isinstance(tree, (list, tuple)):
        for i, item in enumerate(tree):
            yield from flatten_numbers(item, f"{prefix}[{i}]")
    elif isinstance(tree, (int, float)) and not isinstance(tree, bool):
        yield prefix, float(tree)


def _fmt(value: float) -> str:
    if math.isnan(value):
        return "nan"
    return f"{value:.0f}" if value.is_integer() and abs(value) < 1e9 else f"{value:.4g}"


def summary_table(profile: str) -> str:
    """One markdown table (notebook | quantity | value) of every number in ``results/<profile>/*.json``."""
    rows = []
    for path in sorted(results_dir(profile, create=False).glob("*.json")):
        try:
            tree = json.loads(path.read_text())
        except json.JSONDecodeError as err:
            raise ValueError(f"{path} is not valid JSON ({err}); delete it and re-run its notebook") from err
        rows += [(path.stem, key, _fmt(value)) for key, value in flatten_numbers(tree)]
    lines = [f"# Results, profile `{profile}`", "", "| notebook | quantity | value |", "|---|---|---|"]
    lines += [f"| {nb} | {key} | {value} |" for nb, key, value in rows]
    if not rows:
        lines.append("| (no results yet) | | |")
    return "\n".join(lines) + "\n"


def write_summary(profile: str) -> tuple[str, Path]:
    """Build the summary table and write it to ``results/<profile>/SUMMARY.md``."""
    table = summary_table(profile)
    path = results_dir(profile) / SUMMARY_NAME
    path.write_text(table)
    return table, path
