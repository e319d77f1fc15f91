"""The workbook floor: the papermill runner and its CLI, profiles, the folder layout, results and SUMMARY.md, and
the figure style and helpers the notebooks share. A notebook's first code cell is
``torch_device = workbook.start(profile, device)``.
"""
from __future__ import annotations

from pathlib import Path

from .errors import WorkbookError
from .paths import activate
from .profiles import PROFILE_DIR, PROFILES, Profile, load_profile
from .runner import (NotebookFailed, NotebookRun, discover_notebooks, ensure_kernel, main, plan_parameters,
                     resolve_device, run, select_notebooks)


def start(profile: str, device: str = "auto"):
    """What a notebook calls first: make the workbook's folders this kernel's (``paths.activate``), apply the figure
    style, and return the torch device for ``device`` (auto | cpu | cuda). ``profile`` names the figures/results
    folders, so it must be a plain folder name."""
    from ..device import select_device
    from .plots import style

    if not isinstance(profile, str) or profile in ("", ".", "..") or Path(profile).name != profile:
        raise ValueError(f"profile {profile!r} must be a plain name such as 'quick' (it names figures/ and results/ "
                         "folders)")
    activate()
    style()
    return select_device(device)


def skipped(section: str, parameter: str, profile: str, notebook: str) -> None:
    """Say that a notebook section is off in this profile (its parameter empty) and which profile runs it."""
    print(f"{section} is not run in profile {profile!r} ({parameter} is empty): it does not fit that profile's time "
          f"budget. `a2lib run --profile extended --only {notebook[:2]}` runs it, or set {parameter} above.")


__all__ = ["NotebookFailed", "NotebookRun", "PROFILES", "PROFILE_DIR", "Profile", "WorkbookError", "activate",
           "discover_notebooks", "ensure_kernel", "load_profile", "main", "plan_parameters", "resolve_device", "run",
           "select_notebooks", "skipped", "start"]
