"""What a killed run needs to resume exactly: every random number generator's state, written atomically.

A checkpoint (``CHECKPOINT_NAME``) holds the model, optimiser, database codes, history, best state and the states of
Python's, numpy's and torch's global generators plus the trainer's own sampler and shuffle generators; restoring
all of them makes the resumed run draw the same samples and batches as an uninterrupted one. Files are written to a
temporary name and renamed, so a kill never leaves half a file.
"""
from __future__ import annotations

import json
import os
import random
from pathlib import Path
from typing import Any

import numpy as np
import torch

CHECKPOINT_NAME = "checkpoint.pt"
HISTORY_NAME = "history.json"
TMP_SUFFIX = ".tmp"


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


def save_atomic(obj: Any, path: Path) -> None:
    """``torch.save(obj, path)`` through a temporary file and a rename."""
    tmp = path.with_name(path.name + TMP_SUFFIX)
    torch.save(obj, tmp)
    os.replace(tmp, path)


def write_history(history: list[dict], path: Path) -> None:
    """The per-iteration records as JSON at ``path``, through a temporary file and a rename."""
    tmp = path.with_name(path.name + TMP_SUFFIX)
    tmp.write_text(json.dumps(history, indent=1))
    os.replace(tmp, path)


__all__ = ["CHECKPOINT_NAME", "HISTORY_NAME", "cpu_state", "restore_rng", "rng_state", "save_atomic",
           "write_history"]
