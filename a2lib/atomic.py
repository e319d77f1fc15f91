"""Files that many processes may write at once, and files found damaged: one way to do each, for every cache.

Every file or folder is written under a temporary name no other process or thread picks (``unique_temporary``) in
its own folder and renamed into place (``os.replace``), so a kill never leaves half a file and two writers never share
a temporary file. A file that cannot be read back is moved aside with a warning naming it (``move_aside``), so it
never blocks a later run. Used by the embedded data caches, checkpoints, the model cache and ``Fitted.save``.
"""
from __future__ import annotations

import os
import shutil
import time
import uuid
import warnings
from pathlib import Path
from typing import Any, Callable

import torch

TMP_SUFFIX = ".tmp"
CORRUPT_SUFFIX = ".corrupt-"
REPLACED_SUFFIX = ".replaced"


def unique_temporary(path: Path) -> Path:
    """``<name>.<random hex>.tmp`` next to ``path``: a name no other process or thread picks."""
    path = Path(path)
    return path.with_name(f"{path.name}.{uuid.uuid4().hex}{TMP_SUFFIX}")


def write_atomic(path: Path, write: Callable[[Any], None]) -> None:
    """``write(handle)`` into a ``unique_temporary`` file next to ``path``, then ``os.replace`` it onto ``path``."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = unique_temporary(path)
    try:
        with open(tmp, "xb") as handle:
            write(handle)
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def save_atomic(obj: Any, path: Path) -> None:
    """``torch.save(obj, path)`` through a uniquely named temporary file and a rename."""
    write_atomic(path, lambda handle: torch.save(obj, handle))


def publish_folder(folder: Path, path: Path) -> None:
    """Rename the fully written ``folder`` onto ``path``, replacing what is there; when another process publishes
    the same folder in between, its copy is kept and ``folder`` dropped."""
    replaced = None
    if path.exists():
        replaced = unique_temporary(path.with_name(path.name + REPLACED_SUFFIX))
        try:
            os.replace(path, replaced)
        except FileNotFoundError:
            replaced = None
    try:
        os.replace(folder, path)
    except OSError:
        if not path.is_dir():
            raise
    finally:
        for leftover in (folder, replaced):
            if leftover is not None:
                shutil.rmtree(leftover, ignore_errors=True)


def move_aside(path: Path, problem: str, action: str) -> Path:
    """Rename a damaged file or folder to ``<name>.corrupt-<timestamp>-<pid>`` and warn with ``problem`` (which
    names the damaged file), where it went and ``action`` (what happens instead)."""
    path = Path(path)
    aside = path.with_name(f"{path.name}{CORRUPT_SUFFIX}{time.strftime('%Y%m%d-%H%M%S')}-{os.getpid()}")
    try:
        os.replace(path, aside)
    except FileNotFoundError:  # another process moved it first
        pass
    warnings.warn(f"{problem}; moved it to {aside} and {action}. Delete {aside} once you no longer need it.",
                  stacklevel=3)
    return aside


__all__ = ["move_aside", "publish_folder", "save_atomic", "unique_temporary", "write_atomic"]
