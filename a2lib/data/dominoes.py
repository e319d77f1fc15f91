"""MNIST-CIFAR style "dominoes" (Shah et al. 2020, paper Sec. 4.2/Table 1) composed from any two labelled image sets.

An image is a *simple* block stacked on top of a *complex* block (3 x 2H x W, values in [0,1]); class c pairs simple
class c with complex class c, classes balanced. Test variants keep one block informative and blank or randomise the
other (a block from a random *other* class), which measures which block a trained network relies on.

``simple_randomised`` = p shows, on a fraction p of the items, a simple block of a random other class (drawn from its
own generator, so p = 0 composes exactly the items it did before the option): on those items only the complex block
carries the label, a way to train a network off the simple shortcut (notebook 01's escape exercise).
"""
from __future__ import annotations

import warnings
from typing import Callable, Sequence

import numpy as np
import torch
import torch.nn.functional as F
from torch.utils.data import Dataset

from ..checks import check_choice, check_int, check_real
from .arrays import UINT8_MAX
from .identity import DataDigest

VARIANTS = ("both", "simple-only", "complex-only")
FLAVOURS = ("blanked", "randomised")
BLOCK_SIZE = (32, 32)
CHANNELS = 3
BLANK = -1
MIN_CLASSES = 2
ESCAPE_STREAM = 7919
"""Second word of the seed of the generator that picks the items whose simple block ``simple_randomised`` replaces."""


def check_composition(variant: str, flavour: str, seed) -> int:
    """Refuse an unknown ``variant``/``flavour`` or a seed that is not an integer >= 0 (numpy's generators take no
    negative seed), naming the option; returns the seed as an int. Shared by every dominoes loader."""
    check_choice("dominoes variant", variant, VARIANTS)
    check_choice("dominoes flavour", flavour, FLAVOURS)
    return check_int("dominoes seed", seed, 0)


def check_simple_randomised(value) -> float:
    """``simple_randomised`` as a float, or a ValueError naming it unless it is a fraction in [0, 1]."""
    return check_real("dominoes simple_randomised (the fraction of items whose simple block shows another class)",
                      value, 0.0, 1.0)


def _check_block_size(block_size) -> tuple[int, int]:
    if not isinstance(block_size, (tuple, list)) or len(block_size) != 2:
        raise ValueError(f"dominoes block_size must be a pair (height, width) of positive integers, got {block_size!r}")
    return tuple(check_int(f"dominoes block_size[{i}]", v, 1) for i, v in enumerate(block_size))


def _labels_of(dataset) -> np.ndarray:
    labels = getattr(dataset, "labels", None)
    if labels is None:
        labels = [int(dataset[i][1]) for i in range(len(dataset))]
    labels = torch.as_tensor(labels)
    if labels.ndim != 1:
        raise ValueError("dominoes need single-label source datasets (class indices), not multi-hot labels")
    return labels.long().numpy()


def _fit_block(images: torch.Tensor, block_size: tuple[int, int]) -> torch.Tensor:
    """Float (N,C,H,W) in [0,1] -> (N,3,bh,bw): grey replicated to 3 channels, resized when the size differs."""
    if images.shape[1] == 1:
        images = images.expand(-1, CHANNELS, -1, -1)
    if images.shape[1] != CHANNELS:
        raise ValueError(f"block images must have 1 or 3 channels, got {images.shape[1]}")
    if tuple(images.shape[-2:]) != tuple(block_size):
        images = F.interpolate(images, size=block_size, mode="bilinear", align_corners=False, antialias=True)
    return images.clamp(0, 1)


class _CyclicSampler:
    """Draws indices of one class without replacement, reshuffling when the class is used up."""

    def __init__(self, indices: np.ndarray, rng: np.random.Generator):
        self.indices, self.rng, self.order, self.pos = indices, rng, rng.permutation(indices), 0

    def take(self, count: int) -> np.ndarray:
        out = []
        while count > 0:
            if self.pos == len(self.order):
                self.order, self.pos = self.rng.permutation(self.indices), 0
            step = min(count, len(self.order) - self.pos)
            out.append(self.order[self.pos:self.pos + step])
            self.pos += step
            count -= step
        return np.concatenate(out) if out else np.zeros(0, dtype=np.int64)


def _other_class_items(labels: np.ndarray, groups, num_classes: int, rng: np.random.Generator):
    """(source indices, their classes): for each class in ``labels``, a random item of a random other class."""
    other = (labels + rng.integers(1, num_classes, size=len(labels))) % num_classes
    return np.array([groups[o][rng.integers(len(groups[o]))] for o in other], dtype=np.int64), other


def plan_pairs(simple_labels, complex_labels, variant: str, flavour: str, n: int | None,
               num_classes: int, seed: int, simple_randomised: float = 0.0) -> dict[str, np.ndarray]:
    """Choose, per composed item, its class and the simple/complex source indices (``BLANK`` = zeros block);
    ``simple_randomised`` as in the module docstring (the complex-only variants replace every simple block
    already)."""
    rng = np.random.default_rng(seed)
    by_class = {
        name: [np.flatnonzero(labels == c) for c in range(num_classes)]
        for name, labels in (("simple", simple_labels), ("complex", complex_labels))
    }
    for name, groups in by_class.items():
        empty = [c for c, g in enumerate(groups) if len(g) == 0]
        if empty:
            raise ValueError(f"the {name} dataset has no images of class(es) {empty}; every class needs some")
    if n is None:
        n = num_classes * min(min(len(s), len(c)) for s, c in zip(by_class["simple"], by_class["complex"]))
    counts = np.full(num_classes, n // num_classes)
    counts[: n % num_classes] += 1
    labels = rng.permutation(np.repeat(np.arange(num_classes), counts))
    index = {}
    for name in ("simple", "complex"):
        samplers = [_CyclicSampler(g, rng) for g in by_class[name]]
        idx = np.empty(n, dtype=np.int64)
        for c in range(num_classes):
            where = np.flatnonzero(labels == c)
            idx[where] = samplers[c].take(len(where))
        index[name] = idx
    block_labels = {"simple": labels.copy(), "complex": labels.copy()}
    other = {"simple-only": "complex", "complex-only": "simple"}.get(variant)
    if other is not None:
        if flavour == "blanked":
            index[other][:] = BLANK
            block_labels[other][:] = BLANK
        else:
            index[other], block_labels[other] = _other_class_items(labels, by_class[other], num_classes, rng)
    if simple_randomised > 0 and variant != "complex-only":
        swap = np.random.default_rng([seed, ESCAPE_STREAM])
        chosen = np.sort(swap.permutation(n)[:int(round(simple_randomised * n))])
        index["simple"][chosen], block_labels["simple"][chosen] = _other_class_items(
            labels[chosen], by_class["simple"], num_classes, swap)
    return {"labels": labels, "simple_index": index["simple"], "complex_index": index["complex"],
            "simple_labels": block_labels["simple"], "complex_labels": block_labels["complex"]}


class DominoesDataset(Dataset):
    """Composed dominoes; items ``(float 3 x 2H x W image in [0,1] (then transform), class)``.

    ``simple_labels``/``complex_labels`` give the class each block shows (``-1`` = blanked); ``simple_index`` and
    ``complex_index`` the source items used. When both sources hold ``images_uint8`` the images are composed
    once, vectorised, into ``images_uint8``; otherwise each item is composed on access.
    """

    def __init__(self, simple, complex, plan: dict[str, np.ndarray], variant: str, flavour: str,
                 num_classes: int, block_size=BLOCK_SIZE, transform: Callable | None = None,
                 class_names: Sequence[str] | None = None):
        self.simple, self.complex = simple, complex
        self.variant, self.flavour, self.block_size = variant, flavour, tuple(block_size)
        self.transform = transform
        self.labels = torch.from_numpy(plan["labels"]).long()
        self.simple_index = torch.from_numpy(plan["simple_index"])
        self.complex_index = torch.from_numpy(plan["complex_index"])
        self.simple_labels = torch.from_numpy(plan["simple_labels"]).long()
        self.complex_labels = torch.from_numpy(plan["complex_labels"]).long()
        self.num_classes = num_classes
        if class_names is None:
            s_names = getattr(simple, "class_names", None)
            c_names = getattr(complex, "class_names", None)
            if s_names is not None and c_names is not None:
                class_names = [f"{s_names[c]}+{c_names[c]}" for c in range(num_classes)]
            else:
                class_names = [str(c) for c in range(num_classes)]
        self.class_names = list(class_names)
        self._images = None
        if hasattr(simple, "images_uint8") and hasattr(complex, "images_uint8"):
            self._images = self._compose_all()

    def _blocks_uint8(self, source, index: torch.Tensor) -> torch.Tensor:
        bh, bw = self.block_size
        out = torch.zeros((len(index), CHANNELS, bh, bw), dtype=torch.uint8)
        keep = index != BLANK
        if bool(keep.any()):
            used, inverse = torch.unique(index[keep], return_inverse=True)
            blocks = _fit_block(source.images_uint8[used].float() / UINT8_MAX, self.block_size)
            blocks = (blocks * UINT8_MAX).round().to(torch.uint8)
            out[keep] = blocks[inverse]
        return out

    def _compose_all(self) -> torch.Tensor:
        top = self._blocks_uint8(self.simple, self.simple_index)
        bottom = self._blocks_uint8(self.complex, self.complex_index)
        return torch.cat([top, bottom], dim=2).contiguous()

    def _block(self, source, index: int) -> torch.Tensor:
        if index == BLANK:
            return torch.zeros((CHANNELS, *self.block_size))
        image = source[index][0]
        return _fit_block(torch.as_tensor(image).float().unsqueeze(0), self.block_size)[0]

    def compose(self, index: int) -> torch.Tensor:
        """The composed image of item ``index`` as float in [0,1], before the transform."""
        if self._images is not None:
            return self._images[index].float() / UINT8_MAX
        top = self._block(self.simple, int(self.simple_index[index]))
        bottom = self._block(self.complex, int(self.complex_index[index]))
        return torch.cat([top, bottom], dim=1)

    @property
    def images_uint8(self) -> torch.Tensor:
        """All composed images as uint8 (N, 3, 2H, W) (composed on first use for item-wise sources)."""
        if self._images is None:
            composed = torch.stack([self.compose(i) for i in range(len(self))])
            self._images = (composed * UINT8_MAX).round().to(torch.uint8)
        return self._images

    def __len__(self) -> int:
        return len(self.labels)

    def __getitem__(self, index: int):
        image = self.compose(index)
        if self.transform is not None:
            image = self.transform(image)
        return image, int(self.labels[index])

    def fingerprint(self) -> str | None:
        """Hash of the composed images and labels (``a2lib.data.identity``); None with a transform (then every item
        is hashed)."""
        if self.transform is not None:
            return None
        return DataDigest("dominoes").tensor(self.images_uint8).tensor(self.labels).hexdigest()


def _note_default_size(simple_labels, complex_labels, num_classes: int, built: int) -> None:
    """Warn when ``n=None`` built fewer items than a source holds, naming the class that limits the size."""
    held = max(len(simple_labels), len(complex_labels))
    if built >= held:
        return
    counts = {name: np.bincount(labels[labels < num_classes], minlength=num_classes)[:num_classes]
              for name, labels in (("simple", simple_labels), ("complex", complex_labels))}
    name = min(counts, key=lambda k: counts[k].min())
    rarest = int(counts[name].argmin())
    warnings.warn(
        f"dominoes(n=None) built {built} items, fewer than the sources hold ({len(simple_labels)} simple, "
        f"{len(complex_labels)} complex): with balanced classes that is {num_classes} classes x "
        f"{built // num_classes}, the number of images of the rarest class (class {rarest} in the {name} source). "
        "Pass n= to build another number (classes stay balanced, source images are reused).", stacklevel=3)


def dominoes(simple, complex, variant: str = "both", flavour: str = "randomised", n: int | None = None,
             num_classes: int | None = None, block_size=BLOCK_SIZE, seed: int = 0,
             transform: Callable | None = None, class_names: Sequence[str] | None = None,
             simple_randomised: float = 0.0) -> DominoesDataset:
    """Compose two labelled image datasets (items ``(image in [0,1], class)``) into dominoes.

    ``variant``: "both" | "simple-only" | "complex-only"; ``flavour`` (for the *-only variants): "blanked" (the other
    block is zeros) or "randomised" (the other block shows a random other class). ``n``: number of items (default:
    every class as often as its rarer source allows, balanced, with a warning saying how many when that leaves
    source items unused); ``num_classes``: classes 0..K-1 used (default: the smaller of the two sources' counts);
    ``block_size``: (H, W) of each block; sources of another size are resized. ``simple_randomised``: the fraction
    of items (in [0, 1]) whose simple block shows a random other class (module docstring).
    """
    seed = check_composition(variant, flavour, seed)
    simple_randomised = check_simple_randomised(simple_randomised)
    block_size = _check_block_size(block_size)
    if transform is not None and not callable(transform):
        raise ValueError(f"dominoes transform must be a callable (image -> image) or None, got {transform!r}")
    simple_labels, complex_labels = _labels_of(simple), _labels_of(complex)
    if num_classes is None:
        num_classes = int(min(simple_labels.max(), complex_labels.max())) + 1
        if num_classes < MIN_CLASSES:
            raise ValueError(f"dominoes need at least {MIN_CLASSES} classes, but the sources share only "
                             f"{num_classes}; give sources with classes 0..K-1, K >= {MIN_CLASSES}")
    num_classes = check_int("dominoes num_classes", num_classes, MIN_CLASSES)
    if n is not None and check_int("dominoes n", n, 1) < num_classes:
        raise ValueError(f"dominoes n={n} is smaller than the number of classes ({num_classes}); classes must be "
                         f"balanced: use n >= {num_classes}")
    plan = plan_pairs(simple_labels, complex_labels, variant, flavour, n, num_classes, seed, simple_randomised)
    if n is None:
        _note_default_size(simple_labels, complex_labels, num_classes, len(plan["labels"]))
    return DominoesDataset(simple, complex, plan, variant, flavour, num_classes, block_size, transform, class_names)
