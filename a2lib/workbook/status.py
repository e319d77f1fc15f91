"""The runner's status line under the notebook bar: what the notebook's kernel is training now.

While papermill executes a notebook, a background thread reads the progress file the kernel rewrites
(``a2lib.train.progress``, named by ``$A2LIB_PROGRESS``) every ``POLL_S`` seconds and shows its record as one line,
prefixed by the notebook: model, bits, seed, data, outer iteration of n, elapsed and estimated time left, or that a
model was loaded from the cache. Before the first record, and when the file cannot be read, the line says so or keeps
the last record it read; training never waits for it.
"""
from __future__ import annotations

import threading
import time
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator

from ..train import progress

POLL_S = 0.5
"""Seconds between two reads of the progress file."""
STATUS_POSITION = 2
"""tqdm position of the status line: under the profile's bar (0) and papermill's cell bar (1)."""


def status_text(notebook: str, record: dict | None, now: float | None = None) -> str:
    """The status line of ``notebook`` for the progress ``record`` (None: nothing trained or loaded yet)."""
    if record is None:
        return f"{notebook}: no model trained or loaded yet"
    return f"{notebook}: {progress.describe(record, now)}"


@contextmanager
def training_status(notebook: str, path: Path, position: int = STATUS_POSITION) -> Iterator[None]:
    """Show the status line of ``notebook`` (or of a training worker) from the progress file ``path`` for the block,
    at tqdm ``position``; removed afterwards."""
    from tqdm.auto import tqdm

    line = tqdm(total=0, bar_format="{desc}", position=position, leave=False,
                desc=status_text(notebook, None))
    stop = threading.Event()

    def poll() -> None:
        record = None
        while not stop.wait(POLL_S):
            record = progress.read(path) or record
            text = status_text(notebook, record, time.time())
            if text != line.desc:
                line.set_description_str(text)

    thread = threading.Thread(target=poll, name=f"a2lib status {notebook}", daemon=True)
    thread.start()
    try:
        yield
    finally:
        stop.set()
        thread.join()
        line.close()


__all__ = ["POLL_S", "STATUS_POSITION", "status_text", "training_status"]
