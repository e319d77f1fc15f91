"""Where the workbook lives and writes: ``notebooks/``, ``figures/<profile>/``, ``results/<profile>/``,
``runs/<profile>/``, and the ``data/`` and ``cache/`` folders the library reads through ``a2lib.folders``.

The root is ``$A2LIB_ROOT``, else the checkout that holds the installed package (an editable install: ``a2lib/..``
with ``notebooks/`` and ``pyproject.toml``). It is never searched for from the working directory, so a notebook
opened in JupyterLab and a papermill batch write to the same place whatever their cwd.
"""
from __future__ import annotations

import os
from pathlib import Path

from ..folders import CACHE_ENV, DATA_ENV
from .errors import WorkbookError

ROOT_ENV = "A2LIB_ROOT"
CHECKOUT = Path(__file__).resolve().parents[2]
"""The folder above the installed ``a2lib`` package: the workbook's checkout for an editable install."""
NOTEBOOKS, FIGURES, RESULTS, RUNS, DATA, CACHE = "notebooks", "figures", "results", "runs", "data", "cache"


def workbook_root() -> Path:
    """``$A2LIB_ROOT``, else the checkout holding the package; an error saying to set ``A2LIB_ROOT`` otherwise."""
    if os.environ.get(ROOT_ENV):
        return Path(os.environ[ROOT_ENV]).expanduser().resolve()
    if (CHECKOUT / NOTEBOOKS).is_dir() and (CHECKOUT / "pyproject.toml").is_file():
        return CHECKOUT
    raise WorkbookError(
        f"cannot tell where the workbook lives: {ROOT_ENV} is unset and the installed a2lib is not inside a "
        f"checkout with notebooks/ and pyproject.toml (it is under {CHECKOUT}); set {ROOT_ENV}=/path/to/workbook"
    )


def notebooks_dir() -> Path:
    """``notebooks/``: the workbook's notebooks, run in order by the runner."""
    return workbook_root() / NOTEBOOKS


def _profile_dir(kind: str, profile: str, create: bool) -> Path:
    path = workbook_root() / kind / profile
    if create:
        path.mkdir(parents=True, exist_ok=True)
    return path


def figures_dir(profile: str, create: bool = True) -> Path:
    """``figures/<profile>/``: every figure a notebook saves."""
    return _profile_dir(FIGURES, profile, create)


def results_dir(profile: str, create: bool = True) -> Path:
    """``results/<profile>/``: every notebook's numbers as JSON, and SUMMARY.md."""
    return _profile_dir(RESULTS, profile, create)


def runs_dir(profile: str, create: bool = True) -> Path:
    """``runs/<profile>/``: the executed copies of the notebooks and their timings."""
    return _profile_dir(RUNS, profile, create)


def activate(root: str | Path | None = None) -> Path:
    """Make ``root`` (default ``workbook_root()``) this process's workbook: set ``A2LIB_ROOT``, and point
    ``A2LIB_DATA`` / ``A2LIB_CACHE`` at ``<root>/data`` / ``<root>/cache`` unless they are already set.

    The runner calls it before starting kernels (which inherit the variables); a notebook calls it through
    ``a2lib.workbook.start``. Returns the root."""
    root = Path(root).expanduser().resolve() if root is not None else workbook_root()
    os.environ[ROOT_ENV] = str(root)
    for name, folder in ((DATA_ENV, DATA), (CACHE_ENV, CACHE)):
        if not os.environ.get(name):
            os.environ[name] = str(root / folder)
    return root


__all__ = ["ROOT_ENV", "activate", "figures_dir", "notebooks_dir", "results_dir", "runs_dir", "workbook_root"]
