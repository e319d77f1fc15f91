"""Zero-shot protocol (paper Table 4): classes split into seen and unseen; train on seen, query and database from
unseen."""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from .arrays import LabelledSubset

DEFAULT_UNSEEN_FRACTION = 0.25


@dataclass
class ZeroShotSplit:
    """Seen/unseen class ids and the item indices of each side. A multi-label item is unseen when any label is."""
    seen_classes: list[int]
    unseen_classes: list[int]
    seen_indices: np.ndarray
    unseen_indices: np.ndarray

    def subsets(self, dataset) -> tuple[LabelledSubset, LabelledSubset]:
        """(seen, unseen) subsets of ``dataset`` (same item order as the indices)."""
        return LabelledSubset(dataset, self.seen_indices), LabelledSubset(dataset, self.unseen_indices)


def zero_shot_split(dataset_or_labels, unseen_fraction: float = DEFAULT_UNSEEN_FRACTION,
                    unseen_classes=None, num_classes: int | None = None, seed: int = 0) -> ZeroShotSplit:
    """Split classes into seen/unseen (``unseen_classes`` given, or a random ``unseen_fraction`` of them)."""
    labels = getattr(dataset_or_labels, "labels", dataset_or_labels)
    labels = torch.as_tensor(labels)
    if num_classes is None:
        num_classes = getattr(dataset_or_labels, "num_classes", None)
    if num_classes is None:
        num_classes = labels.shape[1] if labels.ndim == 2 else int(labels.max()) + 1
    if unseen_classes is None:
        if not 0 < unseen_fraction < 1:
            raise ValueError(f"unseen_fraction must be between 0 and 1 (exclusive), got {unseen_fraction}")
        count = min(num_classes - 1, max(1, round(num_classes * unseen_fraction)))
        unseen_classes = np.random.default_rng(seed).choice(num_classes, size=count, replace=False)
    unseen = sorted(int(c) for c in unseen_classes)
    bad = [c for c in unseen if not 0 <= c < num_classes]
    if bad or not unseen or len(unseen) == num_classes:
        raise ValueError(f"unseen classes must be a non-empty proper subset of 0..{num_classes - 1}, got {unseen}")
    is_unseen_class = torch.zeros(num_classes, dtype=torch.bool)
    is_unseen_class[unseen] = True
    if labels.ndim == 2:
        item_unseen = (labels.bool() & is_unseen_class[None]).any(dim=1)
    else:
        item_unseen = is_unseen_class[labels.long()]
    seen = [c for c in range(num_classes) if c not in set(unseen)]
    return ZeroShotSplit(seen, unseen, np.flatnonzero(~item_unseen.numpy()), np.flatnonzero(item_unseen.numpy()))
