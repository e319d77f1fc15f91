"""The switch of the CPU fast paths: ways to compute the same training step in less time (same losses, schedule
and parameters; only rounding differs).

On (the default): φ_local's first convolution over the M attention-weighted maps is computed once per image, and
its batch norm and ReLU run on the result as rows of channels (``a2lib.models.weighted_conv``); the image decoder Ψ
runs its convolutions in channels_last memory format on a CPU (oneDNN's 3-output-channel convolution is several
times faster there) and the optimiser uses torch's fused kernel where the device has one (``fused_optimizer_options``). ``reference_paths()`` turns them off for a block, to compare against
the plain code (``benchmarks/bench_speed.py``, ``tests/test_speed.py``).
"""
from __future__ import annotations

from contextlib import contextmanager

import torch

_state = {"fast": True}


def fast() -> bool:
    """Whether the fast paths are on."""
    return _state["fast"]


@contextmanager
def reference_paths():
    """Within the block, every fast path is off (the plain code path), restored after."""
    previous = _state["fast"]
    _state["fast"] = False
    try:
        yield
    finally:
        _state["fast"] = previous


def fused_optimizer_options(optimizer: str, device: torch.device) -> dict:
    """Keyword arguments of ``torch.optim.<optimizer>`` for its fused kernel on ``device`` ({} when the fast paths
    are off or torch has no fused kernel there): one pass over all parameters instead of one small op per tensor."""
    if not fast():
        return {}
    try:
        from torch.optim.optimizer import _get_fused_kernels_supported_devices
        devices = _get_fused_kernels_supported_devices()
    except ImportError:
        return {}
    return {"fused": True} if torch.device(device).type in devices and optimizer in ("sgd", "adam") else {}


__all__ = ["fast", "fused_optimizer_options", "reference_paths"]
