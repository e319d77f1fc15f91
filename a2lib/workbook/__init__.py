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


__all__ = ["NotebookFailed", "NotebookRun", "PROFILES", "PROFILE_DIR", "Profile", "WorkbookError", "activate",
           "discover_notebooks", "ensure_kernel", "load_profile", "main", "plan_parameters", "resolve_device", "run",
           "select_notebooks", "start"]
