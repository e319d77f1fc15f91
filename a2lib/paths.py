"""Where the workbook reads and writes: notebooks/, figures/<profile>/, results/<profile>/, runs/<profile>/.

All paths hang off the project root, found by walking up from the working directory to the folder that holds
``notebooks/`` and ``pyproject.toml`` (so a notebook opened in JupyterLab, whose working directory is
``notebooks/``, writes to the same place as a papermill batch). ``A2LIB_ROOT`` overrides the search.
"""
from __future__ import annotations

import os
from pathlib import Path

ROOT_ENV = "A2LIB_ROOT"
_PACKAGE_ROOT = Path(__file__).resolve().parent.parent


def project_root() -> Path:
    """The workbook's root folder (``$A2LIB_ROOT``, else the nearest parent of the cwd with notebooks/)."""
    if os.environ.get(ROOT_ENV):
        return Path(os.environ[ROOT_ENV]).resolve()
    here = Path.cwd().resolve()
    for folder in (here, *here.parents):
        if (folder / "notebooks").is_dir() and (folder / "pyproject.toml").is_file():
            return folder
    if (_PACKAGE_ROOT / "notebooks").is_dir():
        return _PACKAGE_ROOT
    return here


def _profile_dir(kind: str, profile: str, create: bool) -> Path:
    path = project_root() / kind / profile
    if create:
        path.mkdir(parents=True, exist_ok=True)
    return path


def figures_dir(profile: str, create: bool = True) -> Path:
    """``figures/<profile>/``: every figure a notebook saves."""
    return _profile_dir("figures", profile, create)


def results_dir(profile: str, create: bool = True) -> Path:
    """``results/<profile>/``: every notebook's numbers as JSON."""
    return _profile_dir("results", profile, create)


def runs_dir(profile: str, create: bool = True) -> Path:
    """``runs/<profile>/``: the executed copies of the notebooks."""
    return _profile_dir("runs", profile, create)


def data_root() -> Path:
    """``data/``: embedded-data caches and the real datasets (``$A2LIB_DATA`` overrides)."""
    return Path(os.environ.get("A2LIB_DATA", project_root() / "data"))
