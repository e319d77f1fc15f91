"""Files that many processes may write at once, and files found damaged: one way to do each, for every cache.

Every file or folder is written under a temporary name no other process or thread picks (``unique_temporary``) in
its own folder and renamed into place (``os.replace``), so a kill never leaves half a file and two writers never share
a temporary file. A file that cannot be read back is moved aside with a warning naming it (``move_aside``), so it
never blocks a later run. Used by the embedded data caches, checkpoints, the model cache and ``Fitted.save``.

``publish_folder`` replaces a folder so that the path always holds a complete one, the old or the new, whenever the
process is killed: on Linux the two are swapped in one step (``renameat2`` with ``RENAME_EXCHANGE``); where the system
or the file system cannot swap, the old folder is renamed aside to ``<name>.replaced.<hex>.tmp`` and the new one in,
and a kill between the two renames is undone by the next reader or writer (``restore``), which renames the old one
back. Each publication then removes the temporary folders of that path that a killed writer left, those last
changed before the published folder was written (a writer still writing keeps its own).
"""
from __future__ import annotations

import ctypes
import errno
import os
import re
import shutil
import time
import uuid
import warnings
from pathlib import Path
from typing import Any, Callable

TMP_SUFFIX = ".tmp"
CORRUPT_SUFFIX = ".corrupt-"
REPLACED_SUFFIX = ".replaced"
AT_FDCWD, RENAME_EXCHANGE = -100, 2
"""Linux's ``renameat2`` arguments: paths relative to the working directory, swap the two names atomically."""
NO_EXCHANGE = {errno.EINVAL, errno.ENOSYS, errno.ENOTSUP, errno.EOPNOTSUPP}
"""``renameat2`` errors meaning this system or file system cannot swap (fall back to two renames)."""
PUBLISH_STEPS = ("restored", "moved aside", "published", "old removed", "stale removed")
"""The points of ``publish_folder`` after which a kill is tested (``_step``; "moved aside" only without a swap)."""


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
    import torch

    write_atomic(path, lambda handle: torch.save(obj, handle))


def _step(name: str) -> None:
    """A point of ``publish_folder`` (``PUBLISH_STEPS``): tests/test_atomic.py replaces this to kill the process
    there and check that the path still holds a complete folder."""


def _libc_renameat2():
    try:
        return getattr(ctypes.CDLL(None, use_errno=True), "renameat2", None)
    except (OSError, TypeError):  # no C library to open by name (Windows)
        return None


_RENAMEAT2 = _libc_renameat2()


def _exchange(a: Path, b: Path) -> bool:
    """Swap the names ``a`` and ``b`` in one atomic step; False where the system or file system cannot."""
    if _RENAMEAT2 is None:
        return False
    if _RENAMEAT2(AT_FDCWD, os.fsencode(a), AT_FDCWD, os.fsencode(b), RENAME_EXCHANGE) == 0:
        return True
    code = ctypes.get_errno()
    if code in NO_EXCHANGE:
        return False
    raise OSError(code, os.strerror(code), str(a), None, str(b))


def _temporaries(path: Path) -> list[Path]:
    """The temporary folders of ``path``: ``<name>.<hex>.tmp`` (being written, or left by a killed writer) and
    ``<name>.replaced.<hex>.tmp`` (an old copy renamed aside)."""
    pattern = re.compile(re.escape(path.name) + rf"(?:{re.escape(REPLACED_SUFFIX)})?\.[0-9a-f]{{32}}"
                         + re.escape(TMP_SUFFIX))
    return [p for p in path.parent.iterdir() if pattern.fullmatch(p.name)] if path.parent.is_dir() else []


def _last_change(folder: Path) -> float:
    """The latest modification time of ``folder`` and the files directly in it."""
    try:
        return max([folder.stat().st_mtime] + [p.stat().st_mtime for p in folder.iterdir()])
    except FileNotFoundError:
        return float("inf")


def restore(path: Path) -> None:
    """When no folder is at ``path`` but a publication killed between its two renames left the old one aside, rename
    the newest such copy back (another process may do it first)."""
    path = Path(path)
    if path.exists():
        return
    aside = [p for p in _temporaries(path) if p.name.startswith(path.name + REPLACED_SUFFIX)]
    for copy in sorted(aside, key=_last_change, reverse=True):
        try:
            os.rename(copy, path)
            return
        except FileNotFoundError:
            continue
        except OSError:
            if path.exists():
                return
            raise


def _remove_stale(path: Path) -> None:
    """Delete the temporary folders of ``path`` last changed before the folder now published there."""
    published = _last_change(path)
    for folder in _temporaries(path):
        if _last_change(folder) < published:
            shutil.rmtree(folder, ignore_errors=True)


def _replace_in_two_steps(folder: Path, path: Path) -> Path | None:
    """Rename the folder at ``path`` aside and ``folder`` in (``restore`` undoes a kill between the two); returns
    what is left to delete: the old copy, or ``folder`` when another process published first."""
    aside = unique_temporary(path.with_name(path.name + REPLACED_SUFFIX))
    try:
        os.rename(path, aside)
    except FileNotFoundError:
        aside = None
    _step("moved aside")
    dropped = _rename_in(folder, path)
    if dropped is not None and aside is not None:
        shutil.rmtree(aside, ignore_errors=True)
    return dropped or aside


def _rename_in(folder: Path, path: Path) -> Path | None:
    """Rename ``folder`` onto the free ``path``; returns ``folder`` when another process published there first (its
    copy is kept), else None."""
    try:
        os.rename(folder, path)
    except OSError:
        if not path.is_dir():
            raise
        return folder
    return None


def publish_folder(folder: Path, path: Path) -> None:
    """Put the fully written ``folder`` at ``path``, replacing what is there, so that ``path`` holds the old or the
    new folder at every moment (module docstring); when another process publishes at the same moment, one copy is
    kept and the other dropped."""
    folder, path = Path(folder), Path(path)
    restore(path)
    _step("restored")
    if not path.exists():
        leftover = _rename_in(folder, path)
    elif _exchange(folder, path):
        leftover = folder
    else:
        leftover = _replace_in_two_steps(folder, path)
    _step("published")
    if leftover is not None:
        shutil.rmtree(leftover, ignore_errors=True)
    _step("old removed")
    _remove_stale(path)
    _step("stale removed")


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


__all__ = ["PUBLISH_STEPS", "move_aside", "publish_folder", "restore", "save_atomic", "unique_temporary",
           "write_atomic"]
