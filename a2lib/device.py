"""Choosing the torch device: ``auto`` takes CUDA when present and says so, ``cuda`` without one is an error."""
from __future__ import annotations

import torch

DEVICE_CHOICES = ("auto", "cpu", "cuda")


def select_device(name: str = "auto", verbose: bool = True) -> torch.device:
    """Return the torch device for ``name`` in ``auto|cpu|cuda`` (also ``cuda:N``)."""
    base = str(name).split(":")[0]
    if base not in DEVICE_CHOICES:
        raise ValueError(f"unknown device {name!r}; choose one of {', '.join(DEVICE_CHOICES)}")
    if base == "cpu":
        return torch.device("cpu")
    if base == "cuda":
        if not torch.cuda.is_available():
            raise RuntimeError(
                f"device {name!r} was asked for but torch sees no CUDA GPU "
                f"(torch {torch.__version__}); use --device cpu or --device auto"
            )
        return torch.device(name)
    if torch.cuda.is_available():
        if verbose:
            print(f"device auto: using CUDA ({torch.cuda.get_device_name(0)})")
        return torch.device("cuda")
    return torch.device("cpu")
