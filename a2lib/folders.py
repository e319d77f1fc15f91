"""Where the library keeps data and trained models when the caller does not say: explicit, never found from the cwd.

``data_root()`` is ``$A2LIB_DATA``, else ``<user cache>/a2lib/data``; ``cache_root()`` is ``$A2LIB_CACHE``, else
``<user cache>/a2lib/models``, where the user cache is ``$XDG_CACHE_HOME`` or ``~/.cache``. The workbook's runner
(``a2lib.workbook``) points both at the workbook's own ``data/`` and ``cache/`` folders; a library user passes
``root=``/``cache_dir=`` or sets the variables.
"""
from __future__ import annotations

import os
from pathlib import Path

DATA_ENV = "A2LIB_DATA"
CACHE_ENV = "A2LIB_CACHE"


def user_cache() -> Path:
    """``$XDG_CACHE_HOME/a2lib`` or ``~/.cache/a2lib``."""
    base = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(base) / "a2lib"


def data_root() -> Path:
    """Datasets and embedded-data caches: ``$A2LIB_DATA`` or ``<user cache>/a2lib/data``."""
    return Path(os.environ.get(DATA_ENV) or user_cache() / "data")


def cache_root() -> Path:
    """The content-addressed cache of trained models: ``$A2LIB_CACHE`` or ``<user cache>/a2lib/models``."""
    return Path(os.environ.get(CACHE_ENV) or user_cache() / "models")


__all__ = ["CACHE_ENV", "DATA_ENV", "cache_root", "data_root", "user_cache"]
