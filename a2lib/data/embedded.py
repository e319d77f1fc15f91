"""What the generated (embedded) sets share: their on-disk cache and what their size options mean.

A cache file is written under a unique temporary name in its own folder and moved into place by an atomic rename
(``a2lib.atomic``), so processes generating the same data at once never collide and a reader never sees half a file.
A file that cannot be read back (truncated, damaged, or not the expected dictionary) is reported with its path,
moved aside and regenerated, so one bad file never blocks later runs; files are read with ``weights_only=True``
(``a2lib.safe_load``), so a planted file cannot run code.
"""
from __future__ import annotations

from pathlib import Path
from typing import Callable, Collection

from ..atomic import move_aside, save_atomic
from ..folders import data_root
from ..safe_load import UnreadableFile, load_tensors

IMAGE_COUNT = "number of images to generate"
"""What a generated set's size option (``n``, ``n_train``, ``n_test``) means; said when it is not a positive integer
(``a2lib.checks.check_positive_int``)."""


def resolve_root(root) -> Path:
    """``root`` as a Path, or ``a2lib.folders.data_root()`` when None (never the cwd)."""
    return data_root() if root is None else Path(root)


def _damaged(path: Path, reason: str) -> None:
    move_aside(path, f"data cache file {path} is damaged ({reason})", "regenerating the data")


def _read(path: Path, keys: Collection[str]) -> dict | None:
    """The cached dictionary, or None after moving a damaged file aside."""
    try:
        data = load_tensors(path)
    except FileNotFoundError:
        return None
    except UnreadableFile as error:
        _damaged(path, f"it {error.problem}")
        return None
    missing = sorted(set(keys) - set(data)) if isinstance(data, dict) else sorted(keys)
    if missing:
        _damaged(path, f"missing entries {', '.join(missing)}")
        return None
    return data


def load_or_generate(path: Path, generate: Callable[[], dict], keys: Collection[str]) -> dict:
    """The dictionary cached at ``path`` (which must hold ``keys``), else ``generate()`` saved there atomically."""
    data = _read(path, keys) if path.exists() else None
    if data is None:
        data = generate()
        save_atomic(data, path)
    return data
