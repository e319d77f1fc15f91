"""Image transforms per profile: the paper's for ``full`` (random resized crop 224 + flip for training; resize 256 +
centre crop 224 for queries/database; ImageNet normalisation), light ones for the small embedded sets.

Every transform accepts a PIL image or a tensor and returns the float CxHxW model input. torchvision is imported
when a transform is built, not with the module: importing it takes seconds (it loads ``torch._dynamo``), and the
embedded data sets never need it.
"""
from __future__ import annotations

from typing import TYPE_CHECKING

import torch

from ..checks import check_positive_int

if TYPE_CHECKING:
    from torchvision.transforms import v2

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)
PAPER_SIZE = 224
PAPER_IMAGE = (3, PAPER_SIZE, PAPER_SIZE)
"""The model input of the ``full`` transforms (224 px crops)."""
PAPER_RESIZE = 256
EMBEDDED_SIZE = 64
KINDS = ("smoke", "quick", "full", "embedded", "paper")
PAPER_KINDS = ("full", "paper")


def _v2():
    from torchvision.transforms import v2

    return v2


def _to_float():
    v2 = _v2()
    return [v2.ToImage(), v2.ToDtype(torch.float32, scale=True)]


def paper_transform(train: bool, size: int = PAPER_SIZE) -> v2.Compose:
    """The paper's (and the public code family's) fine-grained transforms, with ImageNet normalisation."""
    v2 = _v2()
    resize = round(size * PAPER_RESIZE / PAPER_SIZE)
    if train:
        steps = [v2.RandomResizedCrop(size, antialias=True), v2.RandomHorizontalFlip()]
    else:
        steps = [v2.Resize(resize, antialias=True), v2.CenterCrop(size)]
    return v2.Compose(steps + _to_float() + [v2.Normalize(IMAGENET_MEAN, IMAGENET_STD)])


def light_transform(train: bool, size: int | None = None) -> v2.Compose:
    """Light transforms for small profiles: optional square resize, horizontal flip when training; values stay in [0,1].

    (Dominoes should not be flipped upside down: only horizontal flips are used, which keep the blocks in place.)
    """
    v2 = _v2()
    steps = _to_float()
    if size is not None:
        steps += [v2.Resize(size, antialias=True), v2.CenterCrop(size)]
    if train:
        steps.append(v2.RandomHorizontalFlip())
    return v2.Compose(steps)


def for_profile(profile_or_kind: str, train: bool, size: int | None = None) -> v2.Compose:
    """Transform for a profile (``smoke``/``quick``/``full``) or kind (``embedded``/``paper``).

    ``full``/``paper``: the paper's transforms at ``size`` (default 224). Otherwise light ones (flip when training,
    resize to ``size`` when given, no normalisation).
    """
    if profile_or_kind not in KINDS:
        raise ValueError(f"unknown transform profile {profile_or_kind!r}; choose one of {', '.join(KINDS)}")
    if size is not None:
        size = check_positive_int("size", size, meaning="the side in pixels images are resized to")
    if profile_or_kind in PAPER_KINDS:
        return paper_transform(train, PAPER_SIZE if size is None else size)
    return light_transform(train, size)
