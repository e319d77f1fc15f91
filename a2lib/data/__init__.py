"""Datasets for a2lib: embedded synthetic sets, MNIST-CIFAR style dominoes, real fine-grained loaders, arrays.

``load(name, split, root=None, **options)`` returns a torch Dataset whose items are ``(float CxHxW image, label)``
and which exposes ``labels``, ``num_classes`` and ``class_names`` (attribute sets also ``attributes`` and
``attribute_names``). Embedded sets are generated deterministically from ``seed`` and cached under ``<root>/<name>/``;
real sets are read from ``<root>/<name>/`` (``folder``: from ``root`` itself), see ``data/README.md``. Each loader is
registered in ``DATASETS`` where it is defined, with its facts and the paper's name for it (``registry``).
``fingerprint(dataset)`` identifies what a dataset holds (``identity``; the data part of the model cache's key).
"""
from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from ..folders import data_root
from .arrays import ArrayDataset, LabelledSubset
from .dominoes import FLAVOURS, VARIANTS, DominoesDataset, dominoes
from .identity import fingerprint
from .registry import DATASETS, DataFacts, register_dataset
from .splits import ZeroShotSplit, zero_shot_split
# the loaders register in import order, the order DATASETS lists them in
from .synth_dominoes import synth_dominoes
from .synth_birds import SynthBirds, synth_birds
from .mnist_cifar import mnist_cifar
from .finegrained import aircraft, cub200, folder, food101, nabirds, vegfru
from .transforms import for_profile


def load(name: str, split: str, root=None, classes=None, **options):
    """Build dataset ``name``'s ``split`` ("train" or "test"); ``options`` go to the dataset's builder.

    ``root`` defaults to ``a2lib.folders.data_root()`` (``$A2LIB_DATA``, else ``~/.cache/a2lib/data``; never the cwd).
    ``classes``: keep only the items of these class indices (labels unchanged; a multi-label item is kept when all
    its labels are among them), e.g. one side of ``zero_shot_split`` for the zero-shot protocol (paper Table 4).

    Names: those of ``DATASETS`` (synth-dominoes, synth-birds, mnist-cifar, cub200, aircraft, food101, nabirds,
    vegfru, folder). Real sets are read from ``<root>/<name>/``; ``folder`` reads ``root`` itself
    (``root/<class>/<image>``).
    """
    entry = DATASETS.lookup(name)
    root = data_root() if root is None else root
    dataset = entry.loader(root=Path(root) / name if entry.in_subfolder else root, split=split, **options)
    return dataset if classes is None else _keep_classes(dataset, classes)


def _keep_classes(dataset, classes) -> LabelledSubset:
    """The items of ``dataset`` whose label (every label, for multi-hot) is in ``classes``: class indices, or the
    dataset's class names (``dataset.class_names``, e.g. a folder's class folder names)."""
    names = list(getattr(dataset, "class_names", None) or [])
    given = [classes] if isinstance(classes, (str, int)) else list(classes)
    unknown = [c for c in given if not (isinstance(c, str) and c in names)
               and not (isinstance(c, (int, np.integer)) and not isinstance(c, bool) and 0 <= c < dataset.num_classes)]
    if not given or unknown:
        listed = f"; its class names: {', '.join(names[:10])}{' …' if len(names) > 10 else ''}" if names else ""
        raise ValueError(f"classes must be a non-empty list of class indices 0..{dataset.num_classes - 1} or class "
                         f"names of the dataset, got {given}{f' (unknown: {unknown})' if unknown else ''}{listed}")
    wanted = sorted({names.index(c) if isinstance(c, str) else int(c) for c in given})
    keep = torch.zeros(dataset.num_classes, dtype=torch.bool)
    keep[wanted] = True
    labels = torch.as_tensor(dataset.labels)
    inside = (labels.bool() <= keep[None]).all(dim=1) if labels.ndim == 2 else keep[labels.long()]
    return LabelledSubset(dataset, torch.nonzero(inside).flatten())


__all__ = [
    "ArrayDataset", "DATASETS", "DataFacts", "DominoesDataset", "FLAVOURS", "LabelledSubset", "SynthBirds", "VARIANTS",
    "ZeroShotSplit", "aircraft", "cub200", "dominoes", "fingerprint", "folder", "food101", "for_profile", "load",
    "mnist_cifar", "nabirds", "register_dataset", "synth_birds", "synth_dominoes", "vegfru", "zero_shot_split",
]
