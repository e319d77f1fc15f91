"""What a killed run needs to resume exactly: every random number generator's state, written atomically.

A checkpoint (``CHECKPOINT_NAME``) holds the model, optimiser, the training scheme's state (learned codes B or a
memory, ``a2lib.train.schemes``), history, best state and the states of Python's, numpy's and torch's global
generators plus the trainer's own sampler and shuffle generators; restoring all of them makes the resumed run draw
the same samples and batches as an uninterrupted one. Every state is stored as tensors, numbers, strings and plain
lists and dicts (numpy's legacy state as its key list), so a checkpoint is read with ``weights_only=True``
(``a2lib.safe_load``) and none can run code when loaded. Files are written under
a uniquely named temporary file in their own folder and renamed into place (``os.replace``), so a kill never leaves
half a file and processes writing the same file at once never share a temporary file (``a2lib.atomic``).
"""
from __future__ import annotations

import json
import random
from pathlib import Path

import numpy as np
import torch

from ..atomic import write_atomic

CHECKPOINT_NAME = "checkpoint.pt"
HISTORY_NAME = "history.json"


def _numpy_global_state() -> dict:
    """numpy's legacy global state as plain values: the generator's name, key list, position and Gaussian cache."""
    name, keys, position, has_gauss, cached_gaussian = np.random.get_state()
    return {"name": name, "keys": keys.tolist(), "position": int(position), "has_gauss": int(has_gauss),
            "cached_gaussian": float(cached_gaussian)}


def _set_numpy_global_state(state: dict) -> None:
    np.random.set_state((state["name"], np.asarray(state["keys"], dtype=np.uint32), state["position"],
                         state["has_gauss"], state["cached_gaussian"]))


def rng_state(sampler: np.random.Generator, shuffle: torch.Generator) -> dict:
    """The states of the global generators (Python, numpy, torch, CUDA when present) and of ``sampler``/``shuffle``,
    as plain values and tensors (module docstring)."""
    version, internal, gauss_next = random.getstate()
    state = {"python": [version, list(internal), gauss_next], "numpy": _numpy_global_state(),
             "torch": torch.get_rng_state(), "sampler": sampler.bit_generator.state, "shuffle": shuffle.get_state()}
    if torch.cuda.is_available():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def restore_rng(state: dict, sampler: np.random.Generator, shuffle: torch.Generator) -> None:
    """Put every generator of ``rng_state`` back in the state it recorded."""
    version, internal, gauss_next = state["python"]
    random.setstate((version, tuple(internal), gauss_next))
    _set_numpy_global_state(state["numpy"])
    torch.set_rng_state(state["torch"])
    sampler.bit_generator.state = state["sampler"]
    shuffle.set_state(state["shuffle"])
    if "cuda" in state and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])


def cpu_state(model: torch.nn.Module) -> dict:
    """A detached CPU copy of the model's state dict (a snapshot later training does not change)."""
    return {k: v.detach().cpu().clone() for k, v in model.state_dict().items()}


def write_history(history: list[dict], path: Path) -> None:
    """The per-iteration records as JSON at ``path``, through a uniquely named temporary file and a rename."""
    write_atomic(path, lambda handle: handle.write(json.dumps(history, indent=1).encode()))


__all__ = ["CHECKPOINT_NAME", "HISTORY_NAME", "cpu_state", "restore_rng", "rng_state", "write_history"]
