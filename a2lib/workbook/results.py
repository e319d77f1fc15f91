"""Notebook numbers as JSON under ``results/<profile>/``, each stamped with the run that wrote it, and the one
summary table (SUMMARY.md) the runner prints at the end of a batch.

The summary separates this run's numbers from the rest: a results file counts for this run when the runner's run
id (``$A2LIB_RUN``, set for the kernels it starts) is the one stamped in it and its notebook did not fail. Every
other file (written by an earlier run, outside the runner, or by a notebook that failed in this run) is listed in
a second table, each row marked with the run that wrote it and why it is not this run's.
"""
from __future__ import annotations

import json
import math
import os
import secrets
import time
from pathlib import Path
from typing import Any, Iterator, Mapping

from .paths import results_dir

SUMMARY_NAME = "SUMMARY.md"
RUN_ENV = "A2LIB_RUN"
"""The id of the runner's batch; the kernels inherit it and ``save_results`` stamps it into every results file."""
RESERVED_KEYS = ("profile", "run")
"""Keys ``save_results`` writes itself: the profile, and the run id (``None`` outside the runner)."""
OUTSIDE_RUNNER = "outside the runner"
OK, FAILED = "ok", "FAILED"


def new_run_id() -> str:
    """A fresh run id: the local start time and a random suffix (``20240131-154501-3fa2c1``)."""
    return f"{time.strftime('%Y%m%d-%H%M%S')}-{secrets.token_hex(3)}"


def current_run() -> str | None:
    """The runner's run id of this process, or ``None`` (a notebook run by hand)."""
    return os.environ.get(RUN_ENV) or None


def save_results(name: str, profile: str, results: dict[str, Any]) -> Path:
    """Write ``results`` (nested dicts/lists of numbers and strings) to ``results/<profile>/<name>.json``, with the
    profile and the id of the run that wrote it."""
    clash = sorted(set(results) & set(RESERVED_KEYS))
    if clash:
        raise ValueError(f"save_results writes the keys {', '.join(RESERVED_KEYS)} itself; rename {', '.join(clash)}")
    path = results_dir(profile) / f"{name}.json"
    tree = {"profile": profile, "run": current_run(), **results}
    path.write_text(json.dumps(tree, indent=2, sort_keys=True, default=_jsonable))
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


def _read(path: Path) -> dict:
    try:
        tree = json.loads(path.read_text())
    except json.JSONDecodeError as err:
        raise ValueError(f"{path} is not valid JSON ({err}); delete it and re-run its notebook") from err
    if not isinstance(tree, dict):
        raise ValueError(f"{path} holds a {type(tree).__name__}, not a results mapping; delete it and re-run its "
                         "notebook")
    return tree


def _stale_reason(name: str, written_by: str | None, run: str, statuses: Mapping[str, str]) -> str | None:
    """Why the results file ``name`` does not count for ``run`` (``None``: it does)."""
    status = statuses.get(name)
    if status == FAILED:
        return "notebook FAILED in this run"
    if written_by == run:
        return None
    if status == OK:
        return "notebook ran in this run but did not rewrite this file"
    return "notebook not run in this run"


def summary_table(profile: str, run: str, statuses: Mapping[str, str]) -> str:
    """Markdown for ``results/<profile>/*.json``: this run's numbers (notebook | quantity | value), then every other
    file's numbers marked with the run that wrote them and why they are stale. ``statuses``: notebook -> ok/FAILED
    for the notebooks this run attempted."""
    current, stale = [], []
    for path in sorted(results_dir(profile, create=False).glob("*.json")):
        tree = _read(path)
        numbers = {key: value for key, value in tree.items() if key not in RESERVED_KEYS}
        rows = [(key, _fmt(value)) for key, value in flatten_numbers(numbers)]
        written_by = tree.get("run")
        reason = _stale_reason(path.stem, written_by, run, statuses)
        if reason is None:
            current += [f"| {path.stem} | {key} | {value} |" for key, value in rows]
        else:
            origin = f"run {written_by}" if written_by else OUTSIDE_RUNNER
            stale += [f"| {path.stem} | {origin} | {reason} | {key} | {value} |" for key, value in rows or [("", "")]]
    attempted = ", ".join(f"{name} {status}" for name, status in statuses.items()) or "none"
    lines = [f"# Results, profile `{profile}`", "", f"Run `{run}`; notebooks: {attempted}.", "",
             "| notebook | quantity | value |", "|---|---|---|"]
    lines += current or ["| (no results from this run) | | |"]
    if stale:
        lines += ["", "## Not from this run", "",
                  "Written by an earlier run, outside the runner, or by a notebook that failed in this run: "
                  "check before quoting.", "",
                  "| notebook | written by | why stale | quantity | value |", "|---|---|---|---|---|", *stale]
    return "\n".join(lines) + "\n"


def write_summary(profile: str, run: str, statuses: Mapping[str, str]) -> tuple[str, Path]:
    """Build the summary table and write it to ``results/<profile>/SUMMARY.md``."""
    table = summary_table(profile, run, statuses)
    path = results_dir(profile) / SUMMARY_NAME
    path.write_text(table)
    return table, path


__all__ = ["RUN_ENV", "SUMMARY_NAME", "current_run", "flatten_numbers", "new_run_id", "save_results",
           "summary_table", "write_summary"]
