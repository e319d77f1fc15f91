"""What a killed run needs to resume exactly: every random number generator's state, written atomically.

A checkpoint (``CHECKPOINT_NAME``) holds the model, optimiser, database codes, history, best state and the states of
Python's, numpy's and torch's global generators plus the trainer's own sampler and shuffle generators; restoring
all of them makes the resumed run draw the same samples and batches as an uninterrupted one. Files are written under
a uniquely named temporary file in their own folder and renamed into place (``os.replace``), so a kill never leaves
half a file and processes writing the same file at once never share a temporary file. A file that cannot be read
back is reported with its path and moved aside (``move_aside``) so it never blocks later runs.
"""
from __future__ import annotations

import json
import os
import random
import time
import uuid
import warnings
from pathlib import Path
from typing import Any, Callable

import numpy as np
import torch

CHECKPOINT_NAME = "checkpoint.pt"
HISTORY_NAME = "history.json"
TMP_SUFFIX = ".tmp"
CORRUPT_SUFFIX = ".corrupt-"


def rng_state(sampler: np.random.Generator, shuffle: torch.Generator) -> dict:
    """The states of the global generators (Python, numpy, torch, CUDA when present) and of ``sampler``/``shuffle``."""
    state = {"python": random.getstate(), "numpy": np.random.get_state(), "torch": torch.get_rng_state(),
             "sampler": sampler.bit_generator.state, "shuffle": shuffle.get_state()}
    if torch.cuda.is_available():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def restore_rng(state: dict, sampler: np.random.Generator, shuffle: torch.Generator) -> None:
    """Put every generator of ``rng_state`` back in the state it recorded."""
    random.setstate(state["python"])
    np.random.set_state(state["numpy"])
    torch.set_rng_state(state["torch"])
    sampler.bit_generator.state = state["sampler"]
    shuffle.set_state(state["shuffle"])
    if "cuda" in state and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])


def cpu_state(model: torch.nn.Module) -> dict:
    """A detached CPU copy of the model's state dict (a snapshot later training does not change)."""
    return {k: v.detach().cpu().clone() for k, v in model.state_dict().items()}


def unique_temporary(path: Path) -> Path:
    """``<name>.<random hex>.tmp`` next to ``path``: a name no other process or thread picks."""
    return path.with_name(f"{path.name}.{uuid.uuid4().hex}{TMP_SUFFIX}")


def _write_atomic(path: Path, write: Callable[[Any], None]) -> None:
    """``write(handle)`` into a ``unique_temporary`` file next to ``path``, then ``os.replace`` it onto ``path``."""
    path = Path(path)
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
    _write_atomic(path, lambda handle: torch.save(obj, handle))


def write_history(history: list[dict], path: Path) -> None:
    """The per-iteration records as JSON at ``path``, through a uniquely named temporary file and a rename."""
    _write_atomic(path, lambda handle: handle.write(json.dumps(history, indent=1).encode()))


def move_aside(path: Path, problem: str, action: str) -> Path:
    """Rename a damaged file or folder to ``<name>.corrupt-<timestamp>-<pid>`` and warn naming ``problem`` (which
    names the damaged file), where it went and ``action`` (what happens instead)."""
    path = Path(path)
    aside = path.with_name(f"{path.name}{CORRUPT_SUFFIX}{time.strftime('%Y%m%d-%H%M%S')}-{os.getpid()}")
    try:
        os.replace(path, aside)
    except FileNotFoundError:  # another process moved it first
        pass
    warnings.warn(f"{problem}; moved {path} to {aside} and {action}. Delete {aside} once you no longer need it.",
                  stacklevel=3)
    return aside


__all__ = ["CHECKPOINT_NAME", "HISTORY_NAME", "cpu_state", "move_aside", "restore_rng", "rng_state", "save_atomic",
           "unique_temporary", "write_history"]
