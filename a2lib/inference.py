"""Running a trained model over data, and the one sign convention every binary code in a2lib uses.

A binary hash code is ``sign(u)`` with **zero mapped to +1** (bit 1): ``binary`` is the only place that decides it,
and metrics (``a2lib.evaluate``), packing (``a2lib.search``), explanations and shallow hashing all call it, so a code
with exact zeros has the same Hamming distances everywhere. ``evaluating(model)`` puts a model in eval mode and
restores its mode afterwards, also when the body raises.
"""
from __future__ import annotations

from contextlib import contextmanager
from typing import Callable, Iterator

import numpy as np
import torch
from torch import Tensor
from torch.utils.data import DataLoader, Dataset

DEFAULT_BATCH = 64
"""Images per forward pass when mapping a model over a dataset (the result does not depend on it)."""


def _as_tensor(codes, name: str) -> Tensor:
    if isinstance(codes, Tensor):
        return codes.detach().cpu()
    if isinstance(codes, (str, bytes)):
        raise TypeError(f"{name} must be a numeric (n, bits) tensor or array, got a {type(codes).__name__}")
    try:
        return torch.as_tensor(np.asarray(codes))
    except (TypeError, ValueError) as error:
        raise TypeError(f"{name} must be a numeric (n, bits) tensor or array, got {type(codes).__name__}") from error


def check_codes(codes, name: str = "codes") -> Tensor:
    """``codes`` as a CPU tensor after refusing what would be silently misread: booleans and {0, 1} bit matrices
    (both values present; their zeros would all become +1), NaN or infinite values (a diverged model), non-numeric
    input. All zeros is a real-valued code exactly at 0 (all +1), not bits: a point at ITQ's training mean, say."""
    x = _as_tensor(codes, name)
    if x.dtype == torch.bool:
        raise ValueError(f"{name} is boolean; hash codes are +-1 or real-valued: convert bits with 2 * bits - 1")
    if not (x.is_floating_point() or x.dtype in (torch.int8, torch.int16, torch.int32, torch.int64, torch.uint8)):
        raise TypeError(f"{name} must hold real numbers (tanh outputs or +-1), got dtype {x.dtype}")
    if x.is_floating_point() and not torch.isfinite(x).all():
        bad = int((~torch.isfinite(x)).any(dim=-1).sum()) if x.dim() > 1 else 1
        raise ValueError(f"{name} contains NaN or infinite values ({bad} code(s)); check the images and the model "
                         "that produced them (a NaN input or a diverged model)")
    if bool(((x == 0) | (x == 1)).all()) and bool((x == 0).any()) and bool((x == 1).any()):
        raise ValueError(f"{name} holds only 0 and 1: these look like {{0, 1}} bits, which sign() would read as all "
                         "+1; convert them with 2 * bits - 1 (a2lib codes are +-1, zero mapped to +1)")
    return x


def binary(codes, name: str = "codes") -> Tensor:
    """float32 +-1 codes: ``+1 where u >= 0, else -1`` (the convention of every binary code in a2lib)."""
    x = check_codes(codes, name)
    return torch.where(x >= 0, 1.0, -1.0).float()


@contextmanager
def evaluating(model: torch.nn.Module) -> Iterator[torch.nn.Module]:
    """Eval mode for the body, the model's previous mode restored afterwards (also when the body raises)."""
    was_training = model.training
    model.eval()
    try:
        yield model
    finally:
        model.train(was_training)


class _Images(Dataset):
    """The images of ``dataset[indices[p]]`` (item 0 of each), in order."""

    def __init__(self, dataset: Dataset, indices: Tensor):
        self.dataset, self.indices = dataset, indices

    def __len__(self) -> int:
        return len(self.indices)

    def __getitem__(self, position: int):
        return self.dataset[int(self.indices[position])][0]


def model_device(model: torch.nn.Module) -> torch.device:
    """The device of the model's first parameter (CPU for a model without parameters)."""
    parameter = next(model.parameters(), None)
    return parameter.device if parameter is not None else torch.device("cpu")


@torch.no_grad()
def map_dataset(model: torch.nn.Module, dataset: Dataset, fn: Callable[[torch.nn.Module, Tensor], Tensor],
                batch_size: int = DEFAULT_BATCH, device: str | torch.device | None = None,
                indices=None) -> list[Tensor]:
    """``fn(model, images)`` for each batch of ``dataset`` (or its ``indices``) in order, as float32 CPU tensors;
    in eval mode and without gradients (``evaluating``)."""
    device = torch.device(device) if device is not None else model_device(model)
    indices = torch.arange(len(dataset)) if indices is None else torch.as_tensor(indices).long()
    loader = DataLoader(_Images(dataset, indices), batch_size=batch_size, shuffle=False)
    with evaluating(model):
        return [fn(model, images.to(device)).float().cpu() for images in loader]


def encode_dataset(model: torch.nn.Module, dataset: Dataset, batch_size: int = DEFAULT_BATCH,
                   device: str | torch.device | None = None, indices=None) -> Tensor:
    """Real-valued codes (n, k) on the CPU for ``dataset`` (or its ``indices``); ``binary`` gives the hash codes."""
    codes = map_dataset(model, dataset, lambda net, images: net.encode(images), batch_size, device, indices)
    return torch.cat(codes) if codes else torch.zeros(0, model.bits)


__all__ = ["DEFAULT_BATCH", "binary", "check_codes", "encode_dataset", "evaluating", "map_dataset", "model_device"]
