"""Real MNIST-CIFAR dominoes (Shah et al. 2020; paper Table 1): MNIST padded 28->32 (grey, replicated to 3 channels
when composed) on top of CIFAR-10 32x32 below, 3x64x32 in [0,1], through torchvision.

Files live under ``<root>/mnist-cifar/`` (``MNIST/raw/`` and ``cifar-10-batches-py/``); ``download=True`` fetches them
when online. Missing files with no download raise FileNotFoundError naming the root, the files and the source.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from .arrays import ArrayDataset
from .dominoes import dominoes
from .embedded import resolve_root

MNIST_PAD = 2
MNIST_FILES = ("MNIST/raw/train-images-idx3-ubyte", "MNIST/raw/train-labels-idx1-ubyte",
               "MNIST/raw/t10k-images-idx3-ubyte", "MNIST/raw/t10k-labels-idx1-ubyte")
CIFAR_FILES = tuple(f"cifar-10-batches-py/data_batch_{i}" for i in range(1, 6)) + (
    "cifar-10-batches-py/test_batch", "cifar-10-batches-py/batches.meta")
MNIST_URL = "https://ossci-datasets.s3.amazonaws.com/mnist/ (torchvision mirrors)"
CIFAR_URL = "https://www.cs.toronto.edu/~kriz/cifar-10-python.tar.gz"
SPLITS = ("train", "test")


def _torchvision_set(cls, name: str, folder: Path, train: bool, download: bool, files, url: str):
    try:
        return cls(str(folder), train=train, download=False)
    except RuntimeError:
        pass
    hint = f"Expected under {folder}: {', '.join(files)}."
    if download:
        try:
            return cls(str(folder), train=train, download=True)
        except Exception as error:  # offline: URLError, RuntimeError, ...
            raise FileNotFoundError(
                f"{name} is not at {folder} and downloading it from {url} failed ({error}). {hint} "
                "Download it on a machine with internet access and copy it there (see data/README.md)."
            ) from error
    raise FileNotFoundError(f"{name} not found at {folder} (download=False). {hint} "
                            f"Pass download=True or get it from {url} (see data/README.md).")


def mnist_blocks(root, split: str, download: bool = True) -> ArrayDataset:
    """MNIST padded to 32x32, uint8 (N,1,32,32)."""
    from torchvision.datasets import MNIST
    base = _torchvision_set(MNIST, "MNIST", Path(root), split == "train", download, MNIST_FILES, MNIST_URL)
    images = F.pad(base.data, (MNIST_PAD,) * 4)
    return ArrayDataset(images.unsqueeze(1), base.targets, class_names=[str(c) for c in range(10)])


def cifar_blocks(root, split: str, download: bool = True) -> ArrayDataset:
    """CIFAR-10 as uint8 (N,3,32,32)."""
    from torchvision.datasets import CIFAR10
    base = _torchvision_set(CIFAR10, "CIFAR-10", Path(root), split == "train", download, CIFAR_FILES, CIFAR_URL)
    return ArrayDataset(np.asarray(base.data), torch.as_tensor(base.targets), class_names=list(base.classes))


def mnist_cifar(split: str = "train", root=None, variant: str = "both", flavour: str = "randomised",
                n: int | None = None, seed: int = 0, download: bool = True, transform=None):
    """MNIST-CIFAR dominoes of a split; default size: each class as often as its rarer source allows, balanced
    (50,000 train, 8,920 test: MNIST has 892 test fives; ``dominoes`` warns how many it built). ``root`` defaults to
    ``a2lib.folders.data_root()``."""
    if split not in SPLITS:
        raise ValueError(f"unknown split {split!r} for mnist-cifar; choose one of {', '.join(SPLITS)}")
    folder = resolve_root(root) / "mnist-cifar"
    simple = mnist_blocks(folder, split, download)
    complex_ = cifar_blocks(folder, split, download)
    return dominoes(simple, complex_, variant=variant, flavour=flavour, n=n, num_classes=10,
                    seed=seed + (0 if split == "train" else 1), transform=transform)
